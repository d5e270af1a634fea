//! Every AWS Lambda of `template.yaml`: the function its `RTCROOM_FUNCTION` names (see
//! `rtcroom_functions::lambda`).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    rtcroom_functions::lambda::main().await
}
