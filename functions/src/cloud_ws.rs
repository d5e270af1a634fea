//! The cloud's WebSocket API (API Gateway, `spec/events.md`): the `ws_connect`,
//! `ws_disconnect` and `ws_message` Lambdas, and the `notifier` that delivers events
//! ([`crate::notifier`]). Events are read as API Gateway's WebSocket proxy events (plain
//! JSON); answers are `{"statusCode": ..}` (on `$connect`, anything but 2xx refuses).
//!
//! Same checks as the local `/ws`: the token and the caller's presence at connect, the frame
//! size, the per-connection message rate (a counter on the connection's item) and the room's
//! rules per message. One difference, recorded in events.md: API Gateway cannot send before
//! the connection is established, so `since` is not replayed at connect (a client resumes
//! with `get_room_events`).

use std::sync::Arc;

use bytes::Bytes;
use rtcroom_shared::store::DynamoStore;
use rtcroom_shared::store::dynamo::connections::Connection;
use rtcroom_shared::token::Session;
use serde_json::{Value, json};

use crate::api::Params;
use crate::app::App;
use crate::notifier::{ManagementApi, Poster};
use crate::ws;

fn status(code: u16, body: &str) -> Value {
    json!({"statusCode": code, "body": body})
}

fn connection_id(event: &Value) -> Option<&str> {
    event["requestContext"]["connectionId"].as_str()
}

/// `$connect`: checks the token and the room, and registers the connection.
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
    let target = match ws::authorise(app, &Params::from_query(query.as_bytes())).await {
        Ok(target) => target,
        Err((code, message)) => return status(code.as_u16(), &message),
    };
    let connection = Connection {
        id: id.to_owned(),
        key: target.key,
        user_id: target.session.user_id,
    };
    match store
        .add_connection(&connection, app.rooms.clock().now_ms())
        .await
    {
        Ok(()) => status(200, "connected"),
        Err(e) => status(503, &e.to_string()),
    }
}

/// `$disconnect`: forgets the connection.
pub async fn on_disconnect(store: &DynamoStore, event: &Value) -> Value {
    let Some(id) = connection_id(event) else {
        return status(400, "no connectionId");
    };
    match store.remove_connection(id).await {
        Ok(_) => status(200, "disconnected"),
        Err(e) => status(503, &e.to_string()),
    }
}

/// `$default`: a client message (EV-7), answered on the connection; a frame over 8 KiB
/// closes it (EV-8).
pub async fn on_message(
    app: &App,
    store: &DynamoStore,
    poster: &dyn Poster,
    event: &Value,
) -> Value {
    let Some(id) = connection_id(event) else {
        return status(400, "no connectionId");
    };
    let connection = match store.connection(id).await {
        Ok(Some(connection)) => connection,
        Ok(None) => return status(403, "unknown connection"),
        Err(e) => return status(503, &e.to_string()),
    };
    let text = event["body"].as_str().unwrap_or_default();
    if text.len() > rtcroom_shared::rooms::MAX_MESSAGE_BYTES {
        let _ = poster
            .post(id, Bytes::from(ws::error("frame over 8 KiB").to_string()))
            .await;
        let _ = poster.disconnect(id).await;
        return status(200, "closed: frame over 8 KiB");
    }
    match store
        .admit_message(id, ws::MAX_MESSAGES_PER_SEC, app.rooms.clock().now_ms())
        .await
    {
        Ok(true) => {}
        Ok(false) => {
            let _ = poster
                .post(id, Bytes::from(ws::error("too many messages").to_string()))
                .await;
            let _ = poster.disconnect(id).await;
            return status(200, "closed: too many messages");
        }
        Err(e) => return status(503, &e.to_string()),
    }
    // The token was checked at connect; the connection's user acts now.
    let session = Session {
        user_id: connection.user_id.clone(),
        sdkappid: app.config.sdkappid,
        expires_at: u64::MAX,
        grant: None,
    };
    let reply = ws::client_message(app, &session, &connection.key, text).await;
    match poster.post(id, Bytes::from(reply.to_string())).await {
        Ok(()) => status(200, "answered"),
        Err(e) => status(200, &format!("answer not delivered: {e:?}")),
    }
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
pub async fn run(handler: Handler) -> Result<(), lambda_http::Error> {
    use lambda_http::lambda_runtime::{self, LambdaEvent, service_fn};
    let config = crate::lambda::start()?;
    let table = match &config.store {
        rtcroom_shared::config::StoreKind::DynamoDb { table, .. } => table.clone(),
        rtcroom_shared::config::StoreKind::Embedded => {
            return Err("the WebSocket functions need RTCROOM_STORE=dynamodb".into());
        }
    };
    let store = Arc::new(DynamoStore::connect(table).await);
    let app = Arc::new(App::new(
        config,
        store.clone(),
        Arc::new(rtcroom_shared::clock::SystemClock),
    ));
    // Only the functions that send to connections talk to the Management API.
    let poster: Option<Arc<dyn Poster>> = match handler {
        Handler::Message | Handler::Notifier => {
            let endpoint = std::env::var("RTCROOM_WS_ENDPOINT")
                .map_err(|_| "RTCROOM_WS_ENDPOINT is required")?;
            Some(Arc::new(ManagementApi::new(&endpoint).await))
        }
        Handler::Connect | Handler::Disconnect => None,
    };
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let (app, store, poster) = (app.clone(), store.clone(), poster.clone());
        async move {
            let payload = event.payload;
            let poster = || poster.as_deref().expect("built for this handler");
            let answer = match handler {
                Handler::Connect => on_connect(&app, &store, &payload).await,
                Handler::Disconnect => on_disconnect(&store, &payload).await,
                Handler::Message => on_message(&app, &store, poster(), &payload).await,
                Handler::Notifier => {
                    // A failed batch is retried by the event source mapping.
                    let delivery = crate::notifier::notify(&store, poster(), &payload)
                        .await
                        .map_err(|e| e.to_string())?;
                    json!({"events": delivery.events, "posted": delivery.posted,
                           "gone": delivery.gone, "failed": delivery.failed})
                }
            };
            Ok::<_, lambda_http::Error>(answer)
        }
    }))
    .await
}
