//! `/ws` on the local gateway: room events over WebSocket (`spec/events.md`).
//!
//! Two kinds of connection share one loop ([`connection`]):
//! - a **room connection** (`?roomType=&roomID=`, EV-4 to EV-8) follows one room from the
//!   start and closes when the room ends or its user leaves it;
//! - a **session connection** (neither, EV-11 to EV-14) follows whichever room its user joins
//!   with a `join` message, by roomID alone, and may wait for the membership: what the drop-in
//!   IM file of 2018 mini-programs (`clients/miniprogram/webim_wx.js`) uses for its groups.
//!
//! [`hub`] carries events from the store to the connections; [`protocol`] parses client frames
//! and shapes answers, shared with the cloud's `ws_message`.

mod connection;
pub mod hub;
pub mod protocol;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_tungstenite::tungstenite::protocol::WebSocketConfig;
use hyper_tungstenite::{is_upgrade_request, upgrade};
use serde_json::json;

use crate::api::Params;
use crate::metrics::Refusal;
pub use hub::EventHub;
pub use protocol::{MAX_FRAME_BYTES, MAX_MESSAGES_PER_SEC, Target, authorise};

/// The path of the WebSocket endpoint.
pub const PATH: &str = "/ws";
/// An idle connection is pinged this often and closed when it stays silent for two periods.
const PING_EVERY: Duration = Duration::from_secs(30);

/// Answers `GET /ws?...`: checks the token (and the room), then upgrades.
pub async fn handle(hub: Arc<EventHub>, mut request: Request<Incoming>) -> Response<Full<Bytes>> {
    let query = match Params::from_query(request.uri().query().unwrap_or("").as_bytes()) {
        Ok(query) => query,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let target = match authorise(&hub.app, &query).await {
        Ok(target) => target,
        Err((status, message)) => return refuse(status, &message),
    };
    if !is_upgrade_request(&request) {
        return refuse(StatusCode::BAD_REQUEST, "a WebSocket upgrade is required");
    }
    let Some(slot) = hub.user_slot(&target.session.user_id) else {
        hub.app.metrics.refused(Refusal::WsPerUser);
        let max = hub.app.config.server_limits.ws_max_per_user;
        return refuse(
            StatusCode::TOO_MANY_REQUESTS,
            &format!("this user holds its most connections ({max}); close one first"),
        );
    };
    let Ok(permit) = hub.connections.clone().try_acquire_owned() else {
        hub.app.metrics.refused(Refusal::WsAtCapacity);
        return refuse(StatusCode::SERVICE_UNAVAILABLE, "too many connections");
    };
    // Where a room connection starts is settled before the client hears it is connected: a
    // change it makes right after (a join over HTTP) must reach it.
    let start = match &target.room {
        Some((key, since)) => match hub.listen(key).await {
            Ok(subscription) => {
                let sent = since.unwrap_or(subscription.last_seq);
                Some(connection::Following::new(subscription, sent))
            }
            Err(e) => return refuse(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
        },
        None => None,
    };
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_FRAME_BYTES))
        .max_frame_size(Some(MAX_FRAME_BYTES));
    let (response, websocket) = match upgrade(&mut request, Some(config)) {
        Ok(upgraded) => upgraded,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    tokio::spawn(async move {
        hub.app.metrics.ws_connections.inc();
        match websocket.await {
            Ok(ws) => connection::serve(hub.clone(), ws, target.session, start).await,
            Err(e) => tracing::debug!(error = %e, "websocket upgrade failed"),
        }
        hub.app.metrics.ws_connections.dec();
        drop((permit, slot));
    });
    response
}

fn refuse(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    let body = json!({"code": status.as_u16(), "message": message}).to_string();
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
        .header(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")
        .body(Full::new(Bytes::from(body)))
        .expect("static headers are valid")
}
