//! AWS Lambda serving `/weapp/live_room/add_audience`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    rtcroom_functions::lambda::run(rtcroom_functions::api::Endpoint::AddAudience).await
}
