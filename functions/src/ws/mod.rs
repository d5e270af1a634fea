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
use rtcroom_shared::model::{RoomKey, RoomType};
use rtcroom_shared::rooms::{MAX_MESSAGE_BYTES, RoomError};
use rtcroom_shared::token::Session;
use serde_json::json;

use crate::api::Params;
use crate::app::App;
use crate::metrics::Refusal;
pub use hub::EventHub;

/// The path of the WebSocket endpoint.
pub const PATH: &str = "/ws";
/// Client frames allowed per connection in any one second (EV-8).
pub const MAX_MESSAGES_PER_SEC: u32 = 20;
/// A client frame's size limit (EV-8).
pub const MAX_FRAME_BYTES: usize = MAX_MESSAGE_BYTES;
/// An idle connection is pinged this often and closed when it stays silent for two periods.
const PING_EVERY: Duration = Duration::from_secs(30);

/// Who connects, and to which room when it names one at connect.
pub struct Target {
    pub session: Session,
    /// A room connection's room and `since`; `None` for a session connection (EV-11).
    pub room: Option<(RoomKey, Option<u64>)>,
}

/// Checks a connection's query: the token and, for a room connection, the room and that the
/// user is in it. Refusals carry the HTTP status to answer (EV-4).
pub async fn authorise(app: &App, query: &Params) -> Result<Target, (StatusCode, String)> {
    let session = app
        .authenticate(query, &Params::default())
        .await
        .map_err(|e| (StatusCode::UNAUTHORIZED, e.to_string()))?;
    let bad = |m: String| (StatusCode::BAD_REQUEST, m);
    let room_type = query.opt_text("roomType").filter(|t| !t.is_empty());
    let room_id = query.opt_text("roomID").filter(|r| !r.is_empty());
    if room_type.is_none() && room_id.is_none() {
        return Ok(Target {
            session,
            room: None,
        });
    }
    let room_type = room_type
        .and_then(|t| RoomType::from_path(&t))
        .ok_or_else(|| bad("roomType is double_room, multi_room or live_room".into()))?;
    let room_id = room_id
        .ok_or_else(|| bad("roomID missing".into()))?
        .into_owned();
    let since = query.opt_u64("since").map_err(|e| bad(e.to_string()))?;
    let key = RoomKey::new(room_type, room_id);
    match app.rooms.is_present(&key, &session.user_id).await {
        Ok(true) => Ok(Target {
            session,
            room: Some((key, since)),
        }),
        Ok(false) | Err(RoomError::NoSuchRoom) => Err((
            StatusCode::FORBIDDEN,
            "not a present member or viewer of this room".into(),
        )),
        Err(RoomError::Invalid(m)) => Err(bad(m)),
        Err(e @ RoomError::TooLong { .. }) => Err(bad(e.to_string())),
        Err(e) => Err((StatusCode::SERVICE_UNAVAILABLE, e.to_string())),
    }
}

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
