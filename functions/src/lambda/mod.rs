//! Every Lambda, one start path. The cloud runs one binary (`rtcroom-lambda`) as every
//! function of the template; each function's `RTCROOM_FUNCTION` names what it runs: an
//! endpoint of the registry ([`Endpoint`]) served from an API Gateway event with the same
//! [`service::handle`] as the local gateway, the relay's `relay_event`, the scheduled
//! `sweeper`, or one of the WebSocket API's functions ([`cloud_ws::Handler`]).

pub mod adapter;

use std::sync::Arc;

use serde_json::Value;

pub use self::adapter::respond;
use self::adapter::{serve_events, serve_http};
use crate::app::App;
use crate::cloud_ws::{self, Handler};
use crate::endpoints::Endpoint;
use crate::{logging, stream_events, sweeper};
use rtcroom_shared::config::{Config, Profile};

/// What one Lambda function runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    Api(Endpoint),
    RelayEvent,
    Sweeper,
    WebSocket(Handler),
}

impl Function {
    /// The functions that are not endpoints, by `RTCROOM_FUNCTION`.
    const OTHERS: [(&'static str, Function); 6] = [
        ("relay_event", Function::RelayEvent),
        ("sweeper", Function::Sweeper),
        ("ws_connect", Function::WebSocket(Handler::Connect)),
        ("ws_disconnect", Function::WebSocket(Handler::Disconnect)),
        ("ws_message", Function::WebSocket(Handler::Message)),
        ("notifier", Function::WebSocket(Handler::Notifier)),
    ];

    /// Every function, each once.
    pub fn all() -> impl Iterator<Item = Function> {
        Endpoint::ALL
            .iter()
            .map(|e| Function::Api(*e))
            .chain(Self::OTHERS.map(|(_, f)| f))
    }

    pub fn name(self) -> &'static str {
        match self {
            Function::Api(endpoint) => endpoint.name(),
            other => Self::OTHERS
                .iter()
                .find(|(_, f)| *f == other)
                .map_or("?", |(name, _)| name),
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::all().find(|f| f.name() == name)
    }
}

/// The Lambda binary's `main`: JSON logs, the cloud configuration, and the function that
/// `RTCROOM_FUNCTION` names, with its clients built once per instance.
pub async fn main() -> Result<(), lambda_http::Error> {
    logging::init_json();
    let config =
        Config::from_env(Profile::Cloud).map_err(|e| format!("configuration error: {e}"))?;
    let name = config.function.clone().unwrap_or_default();
    let function = Function::from_name(&name).ok_or_else(|| {
        let known: Vec<&str> = Function::all().map(Function::name).collect();
        format!(
            "RTCROOM_FUNCTION={name:?} names no function; one of: {}",
            known.join(", ")
        )
    })?;
    match function {
        Function::Api(endpoint) => {
            let app = Arc::new(App::connect(config).await?);
            serve_http(app, move |app, request| async move {
                respond(&app, Some(endpoint), request).await
            })
            .await
        }
        Function::RelayEvent => {
            let app = Arc::new(App::connect(config).await?);
            serve_http(app, |app, request| async move {
                stream_events::respond(&app, request).await
            })
            .await
        }
        Function::Sweeper => {
            let app = Arc::new(App::connect(config).await?);
            serve_events(app, |app, _| async move {
                sweeper::sweep_once(&app).await;
                Ok(Value::Null)
            })
            .await
        }
        Function::WebSocket(handler) => cloud_ws::run(config, handler).await,
    }
}
