//! AWS Lambda: the WebSocket API's `notifier` (see `rtcroom_functions::cloud_ws`).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    rtcroom_functions::cloud_ws::run(rtcroom_functions::cloud_ws::Handler::Notifier).await
}
