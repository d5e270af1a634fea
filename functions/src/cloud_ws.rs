//! The cloud's WebSocket API (API Gateway, `spec/events.md`): the `ws_connect`,
//! `ws_disconnect` and `ws_message` Lambdas, and the `notifier` that delivers events
//! ([`crate::notifier`]). Events are read as API Gateway's WebSocket proxy events (plain
//! JSON); answers are `{"statusCode": ..}` (on `$connect`, anything but 2xx refuses).
//!
//! Same checks and messages as the local `/ws` (both parse frames with [`crate::ws::protocol`]):
//! the token (and, for a room connection, the caller's presence) at connect, the frame size,
//! the per-connection message rate (a counter on the connection's item), the room's rules per
//! message, and session connections' `join`/`leave`. Differences, recorded in events.md: API
//! Gateway cannot send before the connection is established, so a room connection's `since`
//! is not replayed at connect (a client resumes with `get_room_events`, or joins with `since`
//! on a session connection); a pending join is admitted by the notifier when the membership's
//! event streams by, and its time-out is answered at the connection's next message.

use std::sync::Arc;

use bytes::Bytes;
use rtcroom_shared::config::Config;
use rtcroom_shared::model::RoomKey;
use rtcroom_shared::room_events;
use rtcroom_shared::rooms::{MAX_EVENTS_PAGE, validate_room_id};
use rtcroom_shared::store::DynamoStore;
use rtcroom_shared::store::dynamo::connections::Connection;
use rtcroom_shared::token::Session;
use serde_json::{Value, json};

use crate::api::Params;
use crate::app::App;
use crate::notifier::{ManagementApi, Poster};
use crate::ws::protocol::{
    self, Frame, MAX_FRAME_BYTES, MAX_MESSAGES_PER_SEC, Request, Unfollow, authorise,
};

fn status(code: u16, body: &str) -> Value {
    json!({"statusCode": code, "body": body})
}

fn connection_id(event: &Value) -> Option<&str> {
    event["requestContext"]["connectionId"].as_str()
}

/// `$connect`: checks the token (and the room, for a room connection), and registers the
/// connection.
pub async fn on_connect(app: &App, store: &DynamoStore, event: &Value) -> Value {
    let Some(id) = connection_id(event) else {
        return status(400, "no connectionId");
    };
    let query: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(
            event["queryStringParameters"]
                .as_object()
                .into_iter()
                .flatten()
                .filter_map(|(k, v)| Some((k, v.as_str()?))),
        )
        .finish();
    let query = match Params::from_query(query.as_bytes()) {
        Ok(query) => query,
        Err(e) => return status(400, &e.to_string()),
    };
    let target = match authorise(app, &query).await {
        Ok(target) => target,
        Err((code, message)) => return status(code.as_u16(), &message),
    };
    let connection = Connection {
        id: id.to_owned(),
        user_id: target.session.user_id,
        session: target.room.is_none(),
        key: target.room.map(|(key, _)| key),
        pending: None,
    };
    match store
        .add_connection(&connection, app.rooms.clock().now_ms())
        .await
    {
        Ok(()) => status(200, "connected"),
        Err(e) => status(503, &e.to_string()),
    }
}

/// `$disconnect`: forgets the connection (and its pending join).
pub async fn on_disconnect(store: &DynamoStore, event: &Value) -> Value {
    let Some(id) = connection_id(event) else {
        return status(400, "no connectionId");
    };
    match store.remove_connection(id).await {
        Ok(_) => status(200, "disconnected"),
        Err(e) => status(503, &e.to_string()),
    }
}

async fn post(poster: &dyn Poster, id: &str, value: &Value) -> Result<(), String> {
    poster
        .post(id, Bytes::from(value.to_string()))
        .await
        .map_err(|e| format!("{e:?}"))
}

/// `$default`: a client message (EV-7, EV-12 to EV-14), answered on the connection; a frame
/// over 8 KiB closes it (EV-8).
pub async fn on_message(
    app: &App,
    store: &DynamoStore,
    poster: &dyn Poster,
    event: &Value,
) -> Value {
    let Some(id) = connection_id(event) else {
        return status(400, "no connectionId");
    };
    let mut connection = match store.connection(id).await {
        Ok(Some(connection)) => connection,
        Ok(None) => return status(403, "unknown connection"),
        Err(e) => return status(503, &e.to_string()),
    };
    let text = event["body"].as_str().unwrap_or_default();
    if text.len() > MAX_FRAME_BYTES {
        let _ = post(poster, id, &protocol::error("frame over 8 KiB")).await;
        let _ = poster.disconnect(id).await;
        return status(200, "closed: frame over 8 KiB");
    }
    let now = app.rooms.clock().now_ms();
    // A message counts in the second it reached API Gateway, not the one its invocation got to
    // the table in: a burst handled slowly (cold starts, throttled writes) is still a burst.
    let arrived = event["requestContext"]["requestTimeEpoch"]
        .as_u64()
        .map_or(now, |at| at.min(now));
    match store.admit_message(id, MAX_MESSAGES_PER_SEC, arrived).await {
        Ok(true) => {}
        Ok(false) => {
            let _ = post(poster, id, &protocol::error("too many messages")).await;
            let _ = poster.disconnect(id).await;
            return status(200, "closed: too many messages");
        }
        Err(e) => return status(503, &e.to_string()),
    }
    // A join that waited past its bound is answered at the connection's next message (the
    // cloud has no timer per connection; the notifier never admits it after the bound).
    if let Some(pending) = connection.pending.clone().filter(|p| p.until_ms <= now) {
        match store
            .claim_pending(&pending.room_id, &connection.user_id, id)
            .await
        {
            Ok(true) => {
                let _ = post(
                    poster,
                    id,
                    &protocol::join_failed(&pending.room_id, "timeout"),
                )
                .await;
            }
            Ok(false) => {}
            Err(e) => return status(503, &e.to_string()),
        }
        if let Err(e) = store.unfollow(&connection).await {
            return status(503, &e.to_string());
        }
        connection.pending = None;
        connection.key = None;
    }
    // The token was checked at connect; the connection's user acts now.
    let session = Session {
        user_id: connection.user_id.clone(),
        sdkappid: app.config.sdkappid,
        expires_at: u64::MAX,
        issued_ms: 0,
        grant: None,
    };
    let request = Request::parse(text);
    let answer = match &request.frame {
        Err(e) => protocol::error(e),
        Ok(Frame::Ping) => protocol::pong(),
        Ok(Frame::Join { .. } | Frame::Leave) if !connection.session => {
            protocol::error("join and leave are for session connections (EV-11)")
        }
        Ok(Frame::Join { room_id, since }) => {
            return match join(app, store, poster, &connection, &request, room_id, *since).await {
                Ok(()) => status(200, "answered"),
                Err(e) => status(503, &e),
            };
        }
        Ok(Frame::Leave) => {
            if let Err(e) = store.unfollow(&connection).await {
                return status(503, &e.to_string());
            }
            let room = connection
                .key
                .as_ref()
                .map(|k| k.room_id.clone())
                .or(connection.pending.as_ref().map(|p| p.room_id.clone()));
            protocol::left(room.as_deref(), Unfollow::Left)
        }
        Ok(Frame::Room(input)) => match &connection.key {
            Some(key) => protocol::room_message(app, &session, key, input.clone()).await,
            None => protocol::error("not in a room yet: join one first (EV-12)"),
        },
    };
    match post(poster, id, &request.answer(answer)).await {
        Ok(()) => status(200, "answered"),
        Err(e) => status(200, &format!("answer not delivered: {e}")),
    }
}

/// A session connection's `join` (EV-12): admitted at once when the user is in a room with
/// that roomID (then the events after `since` are replayed), else recorded as pending for the
/// notifier to admit.
async fn join(
    app: &App,
    store: &DynamoStore,
    poster: &dyn Poster,
    connection: &Connection,
    request: &Request,
    room_id: &str,
    since: Option<u64>,
) -> Result<(), String> {
    let id = connection.id.as_str();
    store
        .unfollow(connection)
        .await
        .map_err(|e| e.to_string())?;
    let connection = Connection {
        key: None,
        pending: None,
        ..connection.clone()
    };
    if let Err(e) = validate_room_id(room_id) {
        return post(poster, id, &request.answer(protocol::error(&e.to_string()))).await;
    }
    let user = connection.user_id.as_str();
    let now = app.rooms.clock().now_ms();
    match app.rooms.room_of(room_id, user).await {
        Ok(Some(key)) => {
            // Where the events this connection hears begin: `since`, or the room's last one.
            let after = match since {
                Some(since) => since,
                None => last_seq(app, &key).await?,
            };
            if !store
                .follow(&connection, &key, now)
                .await
                .map_err(|e| e.to_string())?
            {
                return Ok(());
            }
            post(poster, id, &request.answer(protocol::admitted(&key, after))).await?;
            if since.is_some() {
                replay(app, poster, &connection, &key, since).await?;
            }
            Ok(())
        }
        Ok(None) => {
            post(poster, id, &request.answer(protocol::pending(room_id))).await?;
            let until = now + app.config.join_wait.as_millis() as u64;
            let recorded = store
                .add_pending(&connection, room_id, until)
                .await
                .map_err(|e| e.to_string())?;
            if !recorded {
                return Ok(());
            }
            // A membership that began while the pending item was being written may have
            // passed the notifier by: look once more.
            if let Ok(Some(key)) = app.rooms.room_of(room_id, user).await
                && store
                    .claim_pending(room_id, user, id)
                    .await
                    .map_err(|e| e.to_string())?
            {
                let after = last_seq(app, &key).await?;
                if store
                    .follow(&connection, &key, now)
                    .await
                    .map_err(|e| e.to_string())?
                {
                    post(poster, id, &protocol::admitted(&key, after)).await?;
                }
            }
            Ok(())
        }
        Err(e) => post(poster, id, &request.answer(protocol::error(&e.to_string()))).await,
    }
}

async fn last_seq(app: &App, key: &RoomKey) -> Result<u64, String> {
    app.rooms
        .store()
        .last_seq(key)
        .await
        .map_err(|e| e.to_string())
}

/// Posts the room's events after `since` that the connection's user may see (one page). In
/// the cloud these may interleave with new events the notifier posts meanwhile; clients drop
/// a `seq` they have seen (events.md, "In the cloud").
async fn replay(
    app: &App,
    poster: &dyn Poster,
    connection: &Connection,
    key: &RoomKey,
    since: Option<u64>,
) -> Result<(), String> {
    let page = app
        .rooms
        .events_after(key, &connection.user_id, since, MAX_EVENTS_PAGE)
        .await
        .map_err(|e| e.to_string())?;
    if page.resync {
        let now = app.rooms.clock().now_ms();
        post(
            poster,
            &connection.id,
            &room_events::resync(&key.room_id, page.last_seq, now),
        )
        .await?;
    }
    for event in &page.events {
        post(
            poster,
            &connection.id,
            &room_events::wire(&key.room_id, event),
        )
        .await?;
    }
    Ok(())
}

/// Which of the cloud's WebSocket Lambdas a binary runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handler {
    Connect,
    Disconnect,
    Message,
    Notifier,
}

/// Runs one of the Lambdas: the app, the table and (where needed) the Management API at
/// `RTCROOM_WS_ENDPOINT` are set up once per instance.
pub async fn run(config: Config, handler: Handler) -> Result<(), lambda_http::Error> {
    // Only the functions that send to connections talk to the Management API.
    let poster: Option<Arc<dyn Poster>> = match (handler, &config.ws_endpoint) {
        (Handler::Message | Handler::Notifier, Some(endpoint)) => {
            Some(Arc::new(ManagementApi::new(endpoint).await))
        }
        (Handler::Message | Handler::Notifier, None) => {
            return Err("RTCROOM_WS_ENDPOINT is required".into());
        }
        (Handler::Connect | Handler::Disconnect, _) => None,
    };
    let (app, store) = App::connect_dynamo(config).await?;
    let state = (Arc::new(app), store, poster);
    crate::lambda::adapter::serve_events(state, move |(app, store, poster), payload| async move {
        let poster = || poster.as_deref().expect("built for this handler");
        Ok(match handler {
            Handler::Connect => on_connect(&app, &store, &payload).await,
            Handler::Disconnect => on_disconnect(&store, &payload).await,
            Handler::Message => on_message(&app, &store, poster(), &payload).await,
            Handler::Notifier => {
                // A failed batch is retried by the event source mapping.
                let delivery = crate::notifier::notify(&app, &store, poster(), &payload)
                    .await
                    .map_err(|e| e.to_string())?;
                json!({"events": delivery.events, "posted": delivery.posted,
                       "gone": delivery.gone, "failed": delivery.failed,
                       "admitted": delivery.admitted, "unfollowed": delivery.unfollowed})
            }
        })
    })
    .await
}
