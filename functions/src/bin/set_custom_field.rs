//! AWS Lambda serving `/weapp/live_room/set_custom_field`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    rtcroom_functions::lambda::run(rtcroom_functions::api::Endpoint::SetCustomField).await
}
