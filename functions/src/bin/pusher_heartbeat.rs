//! AWS Lambda serving `/weapp/{double_room|multi_room|live_room}/pusher_heartbeat`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    rtcroom_functions::lambda::run(rtcroom_functions::api::Endpoint::PusherHeartbeat).await
}
