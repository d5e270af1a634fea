//! One request in, the envelope out: routing, parsing, the call's deadline, the refusal
//! metrics and the request log line. The local gateway and every Lambda call [`handle`] with
//! the same [`ApiRequest`].

use std::time::Instant;

use rtcroom_shared::rooms::RoomError;
use rtcroom_shared::store::StoreError;

use crate::api::{ApiError, ApiRequest, ApiResponse, BodyTooLarge, Params, Reply};
use crate::app::App;
use crate::endpoints::{Endpoint, Request, route};
use crate::metrics::Refusal;

/// Serves one request. `only` restricts it to one endpoint (a Lambda serves one).
pub async fn handle(app: &App, only: Option<Endpoint>, request: ApiRequest<'_>) -> ApiResponse {
    let started = Instant::now();
    let routed = route(request.path).filter(|(_, e)| only.is_none_or(|o| o == *e));
    let mut timed_out = false;
    let (result, user) = match routed {
        None => (Err(ApiError::UnknownApi), None),
        Some((scope, endpoint)) => {
            let query = Params::from_query(request.query.unwrap_or("").as_bytes());
            let user = query
                .as_ref()
                .ok()
                .and_then(|q| q.opt_text("userID"))
                .map(|u| u.into_owned());
            let body = match request.body {
                Ok(bytes) => Params::from_body(request.content_type, bytes),
                Err(BodyTooLarge(limit)) => Err(ApiError::Malformed(format!(
                    "request body is larger than {limit} bytes"
                ))),
            };
            let result = match (query, body) {
                // One deadline for the whole call, queueing for the room's lock included: a
                // store that hangs answers every waiting caller 100 in time, not one per
                // store timeout in turn (FAIL-1).
                (Ok(query), Ok(body)) => {
                    let deadline = app.config.server_limits.request_timeout;
                    let request = Request {
                        app,
                        scope,
                        query: &query,
                        body: &body,
                    };
                    let call = endpoint.serve(&request);
                    match tokio::time::timeout(deadline, call).await {
                        Ok(result) => result,
                        Err(_) => {
                            timed_out = true;
                            Err(ApiError::Room(RoomError::Store(StoreError::Unavailable(
                                format!("the call took longer than {deadline:?}"),
                            ))))
                        }
                    }
                }
                (Err(e), _) | (_, Err(e)) => Err(e),
            };
            (result, user)
        }
    };
    let (status, code, body) = match &result {
        Ok(reply) => (200, 0, reply.to_body()),
        Err(e) => (
            if matches!(e, ApiError::UnknownApi) {
                404
            } else {
                200
            },
            e.code(),
            Reply::error_body(e),
        ),
    };
    app.metrics.requests.inc();
    if timed_out {
        app.metrics.refused(Refusal::RequestTimeout);
    } else if let Err(e) = &result
        && let Some(why) = e.refusal()
    {
        app.metrics.refused(why);
    }
    let latency_us = started.elapsed().as_micros() as u64;
    let (scope, endpoint) = routed.map_or(("-", "-"), |(s, e)| (s.name(), e.name()));
    match &result {
        Err(e) if e.code() == 6 || e.code() == 100 => tracing::error!(
            target: "rtcroom::request", endpoint, scope, code, latency_us, user = user.as_deref(), cause = %e,
            "request failed"
        ),
        _ => tracing::info!(
            target: "rtcroom::request", endpoint, scope, code, latency_us, user = user.as_deref(),
            "request"
        ),
    }
    ApiResponse { status, body }
}
