//! The Lambda adapter: an API Gateway (HTTP API payload v2, or REST) event in, the same
//! [`api::handle`] as the local gateway, the envelope out. Each endpoint binary is
//! `lambda::run(Endpoint::X)`.

use std::future::Future;
use std::sync::Arc;

use lambda_http::{Body, Request, Response, service_fn};

use crate::api::{self, ApiRequest, ApiResponse, BodyTooLarge, Endpoint};
use crate::app::App;
use crate::logging;
use rtcroom_shared::config::{Config, Profile};

/// Runs one endpoint's Lambda: configuration and clients are built once per instance.
pub async fn run(endpoint: Endpoint) -> Result<(), lambda_http::Error> {
    run_with(move |app, request| async move { respond(&app, Some(endpoint), request).await }).await
}

/// Runs a Lambda answering each request with `answer`, over an `App` built once per instance.
pub async fn run_with<F, Fut>(answer: F) -> Result<(), lambda_http::Error>
where
    F: Fn(Arc<App>, Request) -> Fut + Copy + Send + Sync + 'static,
    Fut: Future<Output = Response<Body>> + Send,
{
    let app = Arc::new(App::connect(start()?).await?);
    lambda_http::run(service_fn(move |request: Request| {
        let app = app.clone();
        async move { Ok::<_, std::convert::Infallible>(answer(app, request).await) }
    }))
    .await
}

/// What every Lambda does first: JSON logs, and the cloud configuration from the environment.
pub fn start() -> Result<Config, lambda_http::Error> {
    logging::init_json();
    Ok(Config::from_env(Profile::Cloud).map_err(|e| format!("configuration error: {e}"))?)
}

/// Answers one API Gateway request; `only` is the endpoint this function serves.
pub async fn respond(app: &App, only: Option<Endpoint>, request: Request) -> Response<Body> {
    let path = request.uri().path().to_owned();
    let query = request.uri().query().map(str::to_owned);
    let content_type = request
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let answer = api::handle(
        app,
        only,
        ApiRequest {
            path: &path,
            query: query.as_deref(),
            content_type: content_type.as_deref(),
            body: body_within(&request, app.config.max_body_bytes),
        },
    )
    .await;
    to_response(answer)
}

/// The request's body, or the limit it exceeds.
pub fn body_within(request: &Request, limit: usize) -> Result<&[u8], BodyTooLarge> {
    let bytes: &[u8] = match request.body() {
        Body::Text(text) => text.as_bytes(),
        Body::Binary(bytes) => bytes,
        _ => &[],
    };
    if bytes.len() > limit {
        Err(BodyTooLarge(limit))
    } else {
        Ok(bytes)
    }
}

pub fn to_response(answer: ApiResponse) -> Response<Body> {
    answer
        .head()
        .body(Body::Text(
            String::from_utf8(answer.body).expect("serde_json writes UTF-8"),
        ))
        .expect("static headers are valid")
}
