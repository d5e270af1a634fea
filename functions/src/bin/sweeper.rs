//! AWS Lambda run on a schedule (EventBridge `rate(1 minute)`): one sweep per invocation.

use std::sync::Arc;

use lambda_http::lambda_runtime::{self, LambdaEvent, service_fn};
use rtcroom_functions::app::App;
use rtcroom_functions::{logging, sweeper};
use rtcroom_shared::config::{Config, Profile};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    logging::init_json();
    let config =
        Config::from_env(Profile::Cloud).map_err(|e| format!("configuration error: {e}"))?;
    let app = Arc::new(App::connect(config).await?);
    lambda_runtime::run(service_fn(move |_: LambdaEvent<serde_json::Value>| {
        let app = app.clone();
        async move {
            sweeper::sweep_once(&app).await;
            Ok::<_, lambda_runtime::Error>(())
        }
    }))
    .await
}
