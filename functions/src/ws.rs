//! `/ws` on the local gateway: room events over WebSocket (`spec/events.md`, EV-4 to EV-8).
//!
//! The store tells an [`EventHub`] of every write that recorded events (an in-process change
//! channel); the hub's one dispatcher task reads the new events of rooms that have listeners,
//! once per change, and broadcasts them to those rooms' connections. A connection subscribes
//! first, then reads what it missed from the store (`since`), then takes the broadcast,
//! skipping what it has sent: so every event goes out exactly once and in order. A connection
//! that falls a whole broadcast buffer behind reads the gap from the store.
//!
//! Writes made by other processes (another gateway on the same DynamoDB table) are not seen
//! here; the cloud delivers through the table's stream instead.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::{Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_tungstenite::tungstenite::protocol::WebSocketConfig;
use hyper_tungstenite::tungstenite::protocol::frame::CloseFrame;
use hyper_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use hyper_tungstenite::tungstenite::{Error as WsError, Message, Utf8Bytes};
use hyper_tungstenite::{HyperWebsocketStream, is_upgrade_request, upgrade};
use parking_lot::Mutex;
use rtcroom_shared::events;
use rtcroom_shared::model::{Event, EventKind, RoomKey, RoomType};
use rtcroom_shared::rooms::{MAX_EVENTS_PAGE, MAX_MESSAGE_BYTES, MessageInput, RoomError};
use rtcroom_shared::token::Session;
use serde_json::{Value, json};
use tokio::sync::{Semaphore, broadcast, mpsc};

use crate::api::Params;
use crate::app::App;

/// The path of the WebSocket endpoint.
pub const PATH: &str = "/ws";
/// Events a room's broadcast holds for slow connections before they must read the store.
const BUFFER: usize = 1024;
/// Client frames allowed per connection in any one second.
pub(crate) const MAX_MESSAGES_PER_SEC: u32 = 20;
/// An idle connection is pinged this often and closed when it stays silent for two periods.
const PING_EVERY: Duration = Duration::from_secs(30);
/// Close codes of our own (4000-4999 are the application's).
const CLOSE_FLOODING: u16 = 4008;

/// An event as it goes out: serialised once, shared by every connection of the room.
struct Outgoing {
    event: Event,
    text: Utf8Bytes,
}

struct Feed {
    tx: broadcast::Sender<Arc<Outgoing>>,
    /// The last event broadcast.
    cursor: u64,
}

/// Room events from the store to the WebSocket connections of this process.
pub struct EventHub {
    app: Arc<App>,
    feeds: Mutex<HashMap<RoomKey, Feed>>,
    connections: Arc<Semaphore>,
}

impl EventHub {
    /// Listens to the app's store and starts the dispatcher (call inside a tokio runtime).
    pub fn start(app: Arc<App>) -> Arc<Self> {
        let (tx, rx) = mpsc::unbounded_channel();
        app.rooms.store().on_change(Arc::new(move |key, seq| {
            let _ = tx.send((key.clone(), seq));
        }));
        let hub = Arc::new(Self {
            connections: Arc::new(Semaphore::new(app.config.max_connections)),
            app,
            feeds: Mutex::new(HashMap::new()),
        });
        tokio::spawn(dispatch(hub.clone(), rx));
        hub
    }

    /// The room's broadcast, creating it at `last_seq` (the room's last event, just read) if
    /// needed.
    fn subscribe(&self, key: &RoomKey, last_seq: u64) -> broadcast::Receiver<Arc<Outgoing>> {
        let mut feeds = self.feeds.lock();
        let feed = feeds.entry(key.clone()).or_insert_with(|| Feed {
            tx: broadcast::channel(BUFFER).0,
            cursor: last_seq,
        });
        feed.tx.subscribe()
    }

    /// Forgets a room's broadcast once nobody listens.
    fn release(&self, key: &RoomKey) {
        let mut feeds = self.feeds.lock();
        if feeds.get(key).is_some_and(|f| f.tx.receiver_count() == 0) {
            feeds.remove(key);
        }
    }
}

/// Reads each changed room's new events once and broadcasts them.
async fn dispatch(hub: Arc<EventHub>, mut changes: mpsc::UnboundedReceiver<(RoomKey, u64)>) {
    while let Some((key, last_seq)) = changes.recv().await {
        let Some(mut cursor) = hub.feeds.lock().get(&key).map(|f| f.cursor) else {
            continue;
        };
        while cursor < last_seq {
            let events = match hub
                .app
                .rooms
                .store()
                .events_since(&key, cursor, MAX_EVENTS_PAGE)
                .await
            {
                Ok(events) if !events.is_empty() => events,
                Ok(_) => break,
                Err(e) => {
                    // The connections read the gap themselves when they next hear of the room.
                    tracing::warn!(error = %e, room = %key.room_id, "events not read for /ws");
                    break;
                }
            };
            let mut feeds = hub.feeds.lock();
            let Some(feed) = feeds.get_mut(&key) else {
                break;
            };
            for event in events {
                cursor = event.seq;
                feed.cursor = feed.cursor.max(event.seq);
                let text = events::wire(&key.room_id, &event).to_string().into();
                let _ = feed.tx.send(Arc::new(Outgoing { event, text }));
            }
        }
    }
}

/// Answers `GET /ws?...`: checks the token and the caller's presence, then upgrades.
pub async fn handle(hub: Arc<EventHub>, mut request: Request<Incoming>) -> Response<Full<Bytes>> {
    let query = Params::from_query(request.uri().query().unwrap_or("").as_bytes());
    let target = match authorise(&hub.app, &query).await {
        Ok(target) => target,
        Err((status, message)) => return refuse(status, &message),
    };
    if !is_upgrade_request(&request) {
        return refuse(StatusCode::BAD_REQUEST, "a WebSocket upgrade is required");
    }
    let Ok(permit) = hub.connections.clone().try_acquire_owned() else {
        return refuse(StatusCode::SERVICE_UNAVAILABLE, "too many connections");
    };
    // Where the connection starts is settled before the client hears it is connected: a
    // change it makes right after (a join over HTTP) must reach it.
    let start = match subscribe_from(&hub, &target).await {
        Ok(start) => start,
        Err(e) => return refuse(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
    };
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_FRAME_BYTES))
        .max_frame_size(Some(MAX_FRAME_BYTES));
    let (response, websocket) = match upgrade(&mut request, Some(config)) {
        Ok(upgraded) => upgraded,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    tokio::spawn(async move {
        let key = target.key.clone();
        match websocket.await {
            Ok(ws) => {
                if let Err(e) = serve(&hub, ws, target, start).await {
                    tracing::debug!(error = %e, "websocket ended");
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, "websocket upgrade failed");
                drop(start);
            }
        }
        hub.release(&key);
        drop(permit);
    });
    response
}

/// A client frame's size limit (EV-8).
const MAX_FRAME_BYTES: usize = MAX_MESSAGE_BYTES;

/// Who connects to which room, from where.
pub(crate) struct Target {
    pub session: Session,
    pub key: RoomKey,
    pub since: Option<u64>,
}

/// Checks a connection's query: the token, the room, and that the user is in it.
pub(crate) async fn authorise(app: &App, query: &Params) -> Result<Target, (StatusCode, String)> {
    let session = app
        .authenticate(query, &Params::from_query(b""))
        .map_err(|e| (StatusCode::UNAUTHORIZED, e.to_string()))?;
    let bad = |m: String| (StatusCode::BAD_REQUEST, m);
    let room_type = query
        .opt_text("roomType")
        .and_then(|t| RoomType::from_path(&t))
        .ok_or_else(|| bad("roomType is double_room, multi_room or live_room".into()))?;
    let room_id = query
        .opt_text("roomID")
        .filter(|r| !r.is_empty())
        .ok_or_else(|| bad("roomID missing".into()))?
        .into_owned();
    let since = query.opt_u64("since").map_err(|e| bad(e.to_string()))?;
    let key = RoomKey::new(room_type, room_id);
    match app.rooms.is_present(&key, &session.user_id).await {
        Ok(true) => Ok(Target {
            session,
            key,
            since,
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

fn refuse(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    let body = json!({"code": status.as_u16(), "message": message}).to_string();
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
        .header(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")
        .body(Full::new(Bytes::from(body)))
        .expect("static headers are valid")
}

/// A connection's start: the room's broadcast, subscribed to, and the last event it has
/// (`since`, or the room's last event when it asks for new events only).
struct Start {
    live: broadcast::Receiver<Arc<Outgoing>>,
    sent: u64,
}

/// One read of the room's last event serves both the broadcast (when this connection creates
/// it) and the start of a connection that asks for new events only. An event committed after
/// the read reaches the connection either way: through the broadcast, or through the catch-up
/// from the store that follows.
async fn subscribe_from(hub: &EventHub, target: &Target) -> Result<Start, RoomError> {
    let last_seq = hub.app.rooms.store().last_seq(&target.key).await?;
    let live = hub.subscribe(&target.key, last_seq);
    Ok(Start {
        live,
        sent: target.since.unwrap_or(last_seq),
    })
}

/// Why a connection ended.
#[derive(Debug, thiserror::Error)]
enum End {
    #[error(transparent)]
    Socket(#[from] WsError),
    #[error(transparent)]
    Store(#[from] RoomError),
}

/// One connection: what it missed, then every new event, and its messages into the room.
async fn serve(
    hub: &EventHub,
    mut ws: HyperWebsocketStream,
    target: Target,
    start: Start,
) -> Result<(), End> {
    let Target { session, key, .. } = target;
    let user = session.user_id.clone();
    let Start { mut live, mut sent } = start;
    let mut first = true;
    if catch_up(hub, &mut ws, &key, &user, &mut sent, &mut first).await? {
        return close(&mut ws, CloseCode::Normal, "the room closed").await;
    }
    let mut pings = tokio::time::interval(PING_EVERY);
    pings.tick().await;
    let mut last_heard = Instant::now();
    let mut window = (Instant::now(), 0u32);
    loop {
        tokio::select! {
            event = live.recv() => match event {
                Ok(out) if out.event.seq > sent => {
                    sent = out.event.seq;
                    if events::visible_to(&out.event, &user) {
                        ws.send(Message::Text(out.text.clone())).await?;
                    }
                    if ends(&out.event.kind, &user) {
                        return close(&mut ws, CloseCode::Normal, "left the room").await;
                    }
                }
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    if catch_up(hub, &mut ws, &key, &user, &mut sent, &mut first).await? {
                        return close(&mut ws, CloseCode::Normal, "the room closed").await;
                    }
                }
                Err(broadcast::error::RecvError::Closed) => return Ok(()),
            },
            frame = ws.next() => {
                last_heard = Instant::now();
                let message = match frame {
                    None => return Ok(()),
                    Some(Err(WsError::Capacity(_))) => {
                        return close(&mut ws, CloseCode::Size, "frame over 8 KiB").await;
                    }
                    Some(Err(e)) => return Err(e.into()),
                    Some(Ok(message)) => message,
                };
                if window.0.elapsed() >= Duration::from_secs(1) {
                    window = (Instant::now(), 0);
                }
                window.1 += 1;
                if window.1 > MAX_MESSAGES_PER_SEC {
                    return close(&mut ws, CloseCode::from(CLOSE_FLOODING), "too many messages").await;
                }
                match message {
                    Message::Text(text) => {
                        let reply = client_message(&hub.app, &session, &key, text.as_str()).await;
                        send(&mut ws, &reply).await?;
                    }
                    Message::Binary(_) => {
                        send(&mut ws, &error("frames are JSON text")).await?;
                    }
                    Message::Close(_) => return Ok(()),
                    Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
                }
            }
            _ = pings.tick() => {
                if last_heard.elapsed() > 2 * PING_EVERY {
                    return close(&mut ws, CloseCode::Away, "no answer to pings").await;
                }
                ws.send(Message::Ping(Bytes::new())).await?;
            }
        }
    }
}

/// Sends the stored events after `sent` (with a `resync` first when some are gone); whether
/// the room closed or the reader left it.
async fn catch_up(
    hub: &EventHub,
    ws: &mut HyperWebsocketStream,
    key: &RoomKey,
    user: &str,
    sent: &mut u64,
    first: &mut bool,
) -> Result<bool, End> {
    loop {
        let page = hub
            .app
            .rooms
            .events_after(key, user, Some(*sent), MAX_EVENTS_PAGE)
            .await?;
        if page.resync && std::mem::take(first) {
            let now = hub.app.rooms.clock().now_ms();
            send(ws, &events::resync(&key.room_id, page.last_seq, now)).await?;
        }
        *first = false;
        let Some(last) = page.events.last().map(|e| e.seq) else {
            // Only events for others (or nothing) after `sent`: move past them.
            *sent = (*sent).max(page.last_seq);
            return Ok(false);
        };
        for event in &page.events {
            send(ws, &events::wire(&key.room_id, event)).await?;
            if ends(&event.kind, user) {
                return Ok(true);
            }
        }
        *sent = last;
        if last >= page.last_seq {
            return Ok(false);
        }
    }
}

/// Whether the connection ends after this event: the room closed, or the reader left it.
fn ends(kind: &EventKind, user: &str) -> bool {
    match kind {
        EventKind::RoomDissolved { .. } => true,
        EventKind::MemberLeft { user_id, .. } | EventKind::AudienceLeft { user_id, .. } => {
            user_id == user
        }
        _ => false,
    }
}

async fn send(ws: &mut HyperWebsocketStream, value: &Value) -> Result<(), WsError> {
    ws.send(Message::text(value.to_string())).await
}

async fn close(ws: &mut HyperWebsocketStream, code: CloseCode, reason: &str) -> Result<(), End> {
    let frame = CloseFrame {
        code,
        reason: reason.to_owned().into(),
    };
    ws.send(Message::Close(Some(frame))).await?;
    Ok(())
}

pub(crate) fn error(message: &str) -> Value {
    json!({"type": "error", "message": message})
}

/// A client's message (EV-7): the answer to send back.
pub(crate) async fn client_message(
    app: &App,
    session: &Session,
    key: &RoomKey,
    text: &str,
) -> Value {
    let Ok(message) = serde_json::from_str::<Value>(text) else {
        return error("not JSON");
    };
    let field = |name: &str| {
        message
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let input = match message.get("type").and_then(Value::as_str) {
        Some("ping") => return json!({"type": "pong"}),
        Some("CustomTextMsg") => MessageInput::Text {
            msg: field("msg"),
            nick_name: field("nickName"),
            head_pic: field("headPic"),
        },
        Some("CustomCmdMsg") => MessageInput::Cmd {
            cmd: field("cmd"),
            msg: field("msg"),
            user_name: field("userName"),
            user_avatar: field("userAvatar"),
        },
        Some("linkmic") => MessageInput::LinkMic {
            to: field("to"),
            data: message
                .get("data")
                .map(Value::to_string)
                .unwrap_or_default(),
        },
        _ => return error("type is ping, CustomTextMsg, CustomCmdMsg or linkmic"),
    };
    match app.rooms.send_message(session, key, input).await {
        Ok(seq) => json!({"type": "ack", "seq": seq}),
        Err(e) => error(&e.to_string()),
    }
}
