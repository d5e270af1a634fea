//! AWS Lambda serving `/weapp/utils/get_login_info`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    rtcroom_functions::lambda::run(rtcroom_functions::api::Endpoint::GetLoginInfo).await
}
