//! AWS Lambda: the WebSocket API's `ws_connect` (see `rtcroom_functions::cloud_ws`).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    rtcroom_functions::cloud_ws::run(rtcroom_functions::cloud_ws::Handler::Connect).await
}
