//! From Lambda's events to ours and back: API Gateway HTTP requests into [`service::handle`]
//! (or another HTTP answer), raw JSON events into a handler.

use std::future::Future;

use lambda_http::lambda_runtime::{self, LambdaEvent};
use lambda_http::{Body, Request, Response, service_fn};
use serde_json::Value;

use crate::api::{ApiRequest, ApiResponse, BodyTooLarge};
use crate::app::App;
use crate::endpoints::Endpoint;
use crate::service;

/// Serves API Gateway HTTP requests with `answer`.
pub async fn serve_http<S, F, Fut>(state: S, answer: F) -> Result<(), lambda_http::Error>
where
    S: Clone + Send + Sync + 'static,
    F: Fn(S, Request) -> Fut + Copy + Send + Sync + 'static,
    Fut: Future<Output = Response<Body>> + Send,
{
    lambda_http::run(service_fn(move |request: Request| {
        let state = state.clone();
        async move { Ok::<_, std::convert::Infallible>(answer(state, request).await) }
    }))
    .await
}

/// Serves raw JSON events (a schedule, API Gateway's WebSocket events, a DynamoDB Stream)
/// with `answer`; an error fails the invocation (and the event source retries it).
pub async fn serve_events<S, F, Fut>(state: S, answer: F) -> Result<(), lambda_http::Error>
where
    S: Clone + Send + Sync + 'static,
    F: Fn(S, Value) -> Fut + Copy + Send + Sync + 'static,
    Fut: Future<Output = Result<Value, lambda_http::Error>> + Send,
{
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let state = state.clone();
        async move { answer(state, event.payload).await }
    }))
    .await
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
    let answer = service::handle(
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
