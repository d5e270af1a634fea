//! AWS Lambda serving `POST /relay/event`: stream events from the media relay.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    rtcroom_functions::relay_event::run_lambda().await
}
