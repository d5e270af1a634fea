//! The local gateway's HTTP server: every endpoint on one port, from the same [`api::handle`]
//! the Lambdas use. HTTP/1.1 with keep-alive, a connection limit, a body limit, a header read
//! timeout (slow clients cannot hold connections open) and permissive CORS.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::api::{self, ApiError, ApiRequest, ApiResponse, BodyTooLarge, Reply};
use crate::app::App;
use crate::{relay_event, ws};

const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// An oversized body is read and discarded up to this size, so its sender gets the answer.
const DRAIN_MAX_BYTES: usize = 16 << 20;
/// How long reading a body may take.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves until the listener fails; each connection on its own task.
pub async fn serve(listener: TcpListener, app: Arc<App>) {
    let connections = Arc::new(Semaphore::new(app.config.max_connections));
    let hub = ws::EventHub::start(app.clone());
    loop {
        // At the limit, stop accepting: new clients wait in the kernel's backlog.
        let permit = connections
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let hub = hub.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| respond(app.clone(), hub.clone(), request));
            // A WebSocket leaves this connection (and its permit) when it upgrades; /ws counts
            // its own connections.
            let _ = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades()
                .await;
            drop(permit);
        });
    }
}

async fn respond(
    app: Arc<App>,
    hub: Arc<ws::EventHub>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = request.uri().path().to_owned();
    if path == ws::PATH {
        return Ok(ws::handle(hub, request).await);
    }
    if request.method() == Method::OPTIONS {
        return Ok(preflight(
            Response::builder().status(StatusCode::NO_CONTENT),
            Bytes::new(),
        ));
    }
    if path == "/healthz" {
        return Ok(preflight(Response::builder(), Bytes::from_static(b"ok")));
    }
    let query = request.uri().query().map(str::to_owned);
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let signature = request
        .headers()
        .get(rtcroom_shared::relay_events::SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let (body, complete) = match read_body(request.into_body(), app.config.max_body_bytes).await {
        BodyRead::Complete(bytes) => (Ok(bytes), true),
        BodyRead::TooLarge { drained } => (Err(BodyTooLarge(app.config.max_body_bytes)), drained),
        BodyRead::Incomplete => {
            // A client that stalled or broke off mid-body: nothing to execute.
            let error = ApiError::Malformed("request body incomplete".into());
            let answer = ApiResponse {
                status: 200,
                body: Reply::error_body(&error),
            };
            return Ok(answer
                .head()
                .header(header::CONNECTION, "close")
                .body(Full::new(Bytes::from(answer.body)))
                .expect("static headers are valid"));
        }
    };
    let body = body.as_deref().map_err(|e| *e);
    let answer = if relay_event::is_relay_event(&path) {
        relay_event::handle(&app, signature.as_deref(), body).await
    } else {
        api::handle(
            &app,
            None,
            ApiRequest {
                path: &path,
                query: query.as_deref(),
                content_type: content_type.as_deref(),
                body,
            },
        )
        .await
    };
    let mut head = answer.head();
    if !complete {
        // The unread rest of the body would otherwise be taken for the next request.
        head = head.header(header::CONNECTION, "close");
    }
    Ok(head
        .body(Full::new(Bytes::from(answer.body)))
        .expect("static headers are valid"))
}

enum BodyRead {
    Complete(Bytes),
    /// Over the limit; `drained` when it was read to its end nonetheless.
    TooLarge {
        drained: bool,
    },
    Incomplete,
}

/// Reads a body of at most `limit` bytes. A longer one is read on and thrown away, up to
/// [`DRAIN_MAX_BYTES`] within [`DRAIN_TIMEOUT`], so that the client, still sending, receives
/// the answer instead of a connection reset.
async fn read_body(mut body: Incoming, limit: usize) -> BodyRead {
    let mut kept = Vec::new();
    let mut seen = 0usize;
    let complete = tokio::time::timeout(DRAIN_TIMEOUT, async {
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame else { return false };
            let Ok(data) = frame.into_data() else {
                continue;
            };
            seen += data.len();
            if seen <= limit {
                kept.extend_from_slice(&data);
            } else if seen > DRAIN_MAX_BYTES {
                return false;
            }
        }
        true
    })
    .await
    .unwrap_or(false);
    match (seen > limit, complete) {
        (true, drained) => BodyRead::TooLarge { drained },
        (false, true) => BodyRead::Complete(Bytes::from(kept)),
        (false, false) => BodyRead::Incomplete,
    }
}

/// CORS preflight answers (the cloud's HTTP API gives these from its CORS configuration).
fn preflight(builder: http::response::Builder, body: Bytes) -> Response<Full<Bytes>> {
    builder
        .header(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")
        .header(header::ACCESS_CONTROL_ALLOW_METHODS, "GET, POST, OPTIONS")
        .header(header::ACCESS_CONTROL_ALLOW_HEADERS, "Content-Type")
        .header(header::ACCESS_CONTROL_MAX_AGE, "86400")
        .body(Full::new(body))
        .expect("static headers are valid")
}
