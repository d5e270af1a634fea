//! The local gateway's HTTP server: every endpoint on one port, from the same [`service::handle`]
//! the Lambdas use, plus `/metrics` (Prometheus) and `/healthz`. HTTP/1.1 with keep-alive, a
//! connection limit (at which the longest-open idle connection is closed to make room), a
//! per-address connection limit, a body limit, a header read timeout (slow clients cannot
//! hold connections open) and permissive CORS.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore};

use crate::api::{ApiError, ApiRequest, ApiResponse, BodyTooLarge, Reply};
use crate::app::App;
use crate::metrics::Refusal;
use crate::service;
use crate::{stream_events, ws};

const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// An oversized body is read and discarded up to this size, so its sender gets the answer.
const DRAIN_MAX_BYTES: usize = 16 << 20;
/// How long reading a body may take.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves until the listener fails; each connection on its own task.
pub async fn serve(listener: TcpListener, app: Arc<App>) {
    let connections = Arc::new(Semaphore::new(app.config.max_connections));
    let open = Arc::new(OpenConnections::default());
    let hub = ws::EventHub::start(app.clone());
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some(entry) = open.admit(peer.ip(), app.config.server_limits.max_connections_per_ip)
        else {
            // One address holds its share already: closed at once, costing it the handshake.
            app.metrics.refused(Refusal::ConnectionsPerIp);
            drop(stream);
            continue;
        };
        let permit = match connections.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                // At the limit, an idle keep-alive connection makes room for this one; with
                // none idle, it waits for a connection to end (and new clients wait in the
                // kernel's backlog meanwhile).
                if open.close_longest_idle(entry.id) {
                    app.metrics.refused(Refusal::IdleConnectionClosed);
                }
                connections
                    .clone()
                    .acquire_owned()
                    .await
                    .expect("the semaphore is never closed")
            }
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let hub = hub.clone();
        tokio::spawn(async move {
            let counted = app.clone();
            counted.metrics.http_connections.inc();
            let busy = entry.busy.clone();
            let service = service_fn(move |request| {
                let (app, hub, busy) = (app.clone(), hub.clone(), busy.clone());
                async move {
                    busy.fetch_add(1, Ordering::Relaxed);
                    let response = respond(app, hub, request).await;
                    busy.fetch_sub(1, Ordering::Relaxed);
                    response
                }
            });
            // A WebSocket leaves this connection (and its permit) when it upgrades; /ws counts
            // its own connections.
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            tokio::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                _ = entry.close.notified() => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
            counted.metrics.http_connections.dec();
            drop((entry, permit));
        });
    }
}

/// The gateway's open HTTP connections: per address (against
/// `RTCROOM_MAX_CONNECTIONS_PER_IP`), and which are idle, so that the longest idle one can be
/// closed when the limit is reached.
#[derive(Default)]
struct OpenConnections {
    inner: parking_lot::Mutex<Open>,
}

#[derive(Default)]
struct Open {
    next_id: u64,
    per_ip: HashMap<IpAddr, usize>,
    all: HashMap<u64, (Instant, Arc<AtomicUsize>, Arc<Notify>)>,
}

/// One open connection's registration; removed when dropped.
struct Entry {
    open: Arc<OpenConnections>,
    id: u64,
    ip: IpAddr,
    /// Requests in progress on the connection (0: idle between requests, or before its first).
    busy: Arc<AtomicUsize>,
    close: Arc<Notify>,
}

impl OpenConnections {
    fn admit(self: &Arc<Self>, ip: IpAddr, per_ip: usize) -> Option<Entry> {
        let mut open = self.inner.lock();
        let n = open.per_ip.entry(ip).or_insert(0);
        if *n >= per_ip {
            return None;
        }
        *n += 1;
        open.next_id += 1;
        let id = open.next_id;
        let busy = Arc::new(AtomicUsize::new(0));
        let close = Arc::new(Notify::new());
        open.all
            .insert(id, (Instant::now(), busy.clone(), close.clone()));
        Some(Entry {
            open: self.clone(),
            id,
            ip,
            busy,
            close,
        })
    }

    /// Asks the oldest connection with no request in progress, other than the newcomer
    /// `making_room_for`, to close (at once if idle: hyper's graceful shutdown); whether
    /// there was one.
    fn close_longest_idle(&self, making_room_for: u64) -> bool {
        let mut open = self.inner.lock();
        let oldest = open
            .all
            .iter()
            .filter(|(id, (_, busy, _))| {
                **id != making_room_for && busy.load(Ordering::Relaxed) == 0
            })
            .min_by_key(|(_, (since, _, _))| *since)
            .map(|(id, (_, _, close))| (*id, close.clone()));
        match oldest {
            Some((id, close)) => {
                // Asked once: it leaves the list of candidates.
                open.all.remove(&id);
                close.notify_one();
                true
            }
            None => false,
        }
    }
}

impl Drop for Entry {
    fn drop(&mut self) {
        let mut open = self.open.inner.lock();
        open.all.remove(&self.id);
        if let Some(n) = open.per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.per_ip.remove(&self.ip);
            }
        }
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
    if path == "/metrics" {
        return Ok(Response::builder()
            .header(header::CONTENT_TYPE, "text/plain; version=0.0.4")
            .body(Full::new(Bytes::from(app.metrics.render())))
            .expect("static headers are valid"));
    }
    let query = request.uri().query().map(str::to_owned);
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let signature = request
        .headers()
        .get(rtcroom_shared::stream_events::SIGNATURE_HEADER)
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
    let answer = if stream_events::is_relay_event(&path) {
        stream_events::handle(&app, signature.as_deref(), body).await
    } else {
        service::handle(
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
