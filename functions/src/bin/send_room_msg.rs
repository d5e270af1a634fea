//! AWS Lambda serving `/weapp/{double_room|multi_room|live_room}/send_room_msg`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    rtcroom_functions::lambda::run(rtcroom_functions::api::Endpoint::SendRoomMsg).await
}
