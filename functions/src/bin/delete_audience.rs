//! AWS Lambda serving `/weapp/live_room/delete_audience`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    rtcroom_functions::lambda::run(rtcroom_functions::api::Endpoint::DeleteAudience).await
}
