//! The cloud's event delivery: the `notifier` Lambda reads the room table's DynamoDB Stream
//! and posts each new room event to the WebSocket connections of its room through the API
//! Gateway Management API (`POST @connections/{id}`), forgetting connections that answer 410
//! Gone. Events reach clients in the same shapes as on the local gateway's `/ws`.
//!
//! It also keeps connections' following in step with the room (EV-5, EV-12, EV-13): a join
//! waiting for its user's membership is admitted when that membership's event streams by,
//! and a connection whose room closed or whose user left it stops following (a room
//! connection is closed, a session connection told).
//!
//! Stream records are read as plain JSON (only `eventName`, the new image's `pk` and `body`
//! matter), so any change to the table's other items passes through untouched.

use std::collections::HashMap;

use aws_sdk_apigatewaymanagement::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use bytes::Bytes;
use futures_util::future::BoxFuture;
use rtcroom_shared::model::{Event, EventKind, RoomKey, RoomType};
use rtcroom_shared::room_events;
use rtcroom_shared::store::DynamoStore;
use rtcroom_shared::store::StoreResult;
use rtcroom_shared::store::dynamo::connections::Connection;
use serde_json::Value;

use crate::app::App;
use crate::ws::protocol::{self, Unfollow};

/// Why a post did not reach its connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PostError {
    /// 410: the connection is gone; forget it.
    Gone,
    Failed(String),
}

/// Where events are posted: the Management API, or a stand-in in tests.
pub trait Poster: Send + Sync {
    fn post<'a>(
        &'a self,
        connection_id: &'a str,
        data: Bytes,
    ) -> BoxFuture<'a, Result<(), PostError>>;

    /// Closes a connection from the server's side.
    fn disconnect<'a>(&'a self, connection_id: &'a str) -> BoxFuture<'a, Result<(), PostError>>;
}

/// The AWS SDK's HTTP client: rustls with ring (no C toolchain), HTTP and HTTPS.
pub fn http_client() -> aws_sdk_apigatewaymanagement::config::SharedHttpClient {
    use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// The API Gateway Management API of one WebSocket API stage.
pub struct ManagementApi {
    client: aws_sdk_apigatewaymanagement::Client,
}

impl ManagementApi {
    /// `endpoint`: `https://{api-id}.execute-api.{region}.amazonaws.com/{stage}`.
    pub async fn new(endpoint: &str) -> Self {
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .http_client(http_client())
            .load()
            .await;
        let config = aws_sdk_apigatewaymanagement::config::Builder::from(&sdk)
            .endpoint_url(endpoint)
            .build();
        Self::with_client(aws_sdk_apigatewaymanagement::Client::from_conf(config))
    }

    /// Over a client configured elsewhere (tests: fixed credentials, a local endpoint).
    pub fn with_client(client: aws_sdk_apigatewaymanagement::Client) -> Self {
        Self { client }
    }
}

impl Poster for ManagementApi {
    fn post<'a>(
        &'a self,
        connection_id: &'a str,
        data: Bytes,
    ) -> BoxFuture<'a, Result<(), PostError>> {
        Box::pin(async move {
            let sent = self
                .client
                .post_to_connection()
                .connection_id(connection_id)
                .data(aws_sdk_apigatewaymanagement::primitives::Blob::new(
                    data.to_vec(),
                ))
                .send()
                .await;
            outcome(sent)
        })
    }

    fn disconnect<'a>(&'a self, connection_id: &'a str) -> BoxFuture<'a, Result<(), PostError>> {
        Box::pin(async move {
            let deleted = self
                .client
                .delete_connection()
                .connection_id(connection_id)
                .send()
                .await;
            outcome(deleted)
        })
    }
}

/// A Management API call's result: 410 Gone is an answer of its own.
fn outcome<T, E, R>(result: Result<T, SdkError<E, R>>) -> Result<(), PostError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    match result {
        Ok(_) => Ok(()),
        Err(e) if e.as_service_error().and_then(|e| e.code()) == Some("GoneException") => {
            Err(PostError::Gone)
        }
        Err(e) => Err(PostError::Failed(DisplayErrorContext(&e).to_string())),
    }
}

/// What one stream batch did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    /// Room events found in the batch.
    pub events: u32,
    pub posted: u32,
    /// Connections that answered 410 and were forgotten.
    pub gone: u32,
    pub failed: u32,
    /// Pending joins admitted (EV-12).
    pub admitted: u32,
    /// Connections that stopped following a room: it closed, or their user left it (EV-5,
    /// EV-13).
    pub unfollowed: u32,
}

/// A room event inserted into the table, from one stream record.
fn room_event(record: &Value) -> Option<(RoomKey, Event)> {
    if record["eventName"] != "INSERT" {
        return None;
    }
    let image = &record["dynamodb"]["NewImage"];
    let pk = image["pk"]["S"].as_str()?;
    let (room_type, room_id) = pk.strip_prefix("EVENTS#")?.split_once('#')?;
    let key = RoomKey::new(RoomType::from_path(room_type)?, room_id);
    let event = serde_json::from_str(image["body"]["S"].as_str()?).ok()?;
    Some((key, event))
}

/// Delivers the room events of one DynamoDB Stream batch (`{"Records":[...]}`), in order; then,
/// per event, admits the joins waiting for the membership it records and ends the following
/// of connections whose room closed or whose user left it.
pub async fn notify(
    app: &App,
    store: &DynamoStore,
    poster: &dyn Poster,
    batch: &Value,
) -> StoreResult<Delivery> {
    let mut delivery = Delivery::default();
    let mut rooms: HashMap<RoomKey, Vec<Connection>> = HashMap::new();
    let records = batch["Records"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    for (key, event) in records.iter().filter_map(room_event) {
        delivery.events += 1;
        if !rooms.contains_key(&key) {
            let connections = store.room_connections(&key).await?;
            rooms.insert(key.clone(), connections);
        }
        let text = Bytes::from(room_events::wire(&key.room_id, &event).to_string());
        let connections = rooms.get_mut(&key).expect("inserted above");
        let mut gone = Vec::new();
        for connection in connections.iter() {
            if !room_events::visible_to(&event, &connection.user_id) {
                continue;
            }
            match poster.post(&connection.id, text.clone()).await {
                Ok(()) => delivery.posted += 1,
                Err(PostError::Gone) => gone.push(connection.id.clone()),
                Err(PostError::Failed(e)) => {
                    tracing::warn!(connection = %connection.id, error = %e, "post failed");
                    delivery.failed += 1;
                }
            }
        }
        for id in gone {
            store.remove_connection(&id).await?;
            connections.retain(|c| c.id != id);
            delivery.gone += 1;
        }
        match &event.kind {
            EventKind::MemberJoined { user_id, .. } | EventKind::AudienceJoined { user_id } => {
                let admitted = admit_waiting(app, store, poster, &key, user_id, event.seq).await?;
                delivery.admitted += admitted.len() as u32;
                connections.extend(admitted);
            }
            EventKind::RoomDissolved { .. } => {
                for connection in std::mem::take(connections) {
                    end_following(store, poster, &connection, Unfollow::RoomClosed).await?;
                    delivery.unfollowed += 1;
                }
            }
            EventKind::MemberLeft { user_id, .. } | EventKind::AudienceLeft { user_id, .. }
                if connections.iter().any(|c| c.user_id == *user_id)
                    && !app.rooms.is_present(&key, user_id).await.unwrap_or(false) =>
            {
                let (leaving, staying) = std::mem::take(connections)
                    .into_iter()
                    .partition(|c| c.user_id == *user_id);
                *connections = staying;
                for connection in leaving {
                    end_following(store, poster, &connection, Unfollow::NotPresent).await?;
                    delivery.unfollowed += 1;
                }
            }
            _ => {}
        }
    }
    Ok(delivery)
}

/// Admits the session connections whose join waits for `user` in a room with this roomID
/// (EV-12): they follow `key` from the event after the one that made the user present. A
/// join past its bound is told it failed instead.
async fn admit_waiting(
    app: &App,
    store: &DynamoStore,
    poster: &dyn Poster,
    key: &RoomKey,
    user: &str,
    joined_at: u64,
) -> StoreResult<Vec<Connection>> {
    let mut admitted = Vec::new();
    let now = app.rooms.clock().now_ms();
    for waiting in store.pending_joins(&key.room_id, user).await? {
        let id = waiting.connection_id;
        if !store.claim_pending(&key.room_id, user, &id).await? {
            continue;
        }
        let answer = if waiting.until_ms <= now {
            protocol::join_failed(&key.room_id, "timeout")
        } else {
            let connection = Connection {
                id: id.clone(),
                user_id: user.to_owned(),
                key: None,
                session: true,
                pending: None,
            };
            if !store.follow(&connection, key, now).await? {
                continue;
            }
            admitted.push(Connection {
                key: Some(key.clone()),
                ..connection
            });
            protocol::admitted(key, joined_at)
        };
        let _ = poster.post(&id, Bytes::from(answer.to_string())).await;
    }
    Ok(admitted)
}

/// A connection stops following its room: a session connection is told (`left`) and stays; a
/// room connection is closed (EV-5).
async fn end_following(
    store: &DynamoStore,
    poster: &dyn Poster,
    connection: &Connection,
    why: Unfollow,
) -> StoreResult<()> {
    let room = connection.key.as_ref().map(|k| k.room_id.as_str());
    if connection.session {
        store.unfollow(connection).await?;
        let left = protocol::left(room, why);
        let _ = poster
            .post(&connection.id, Bytes::from(left.to_string()))
            .await;
    } else {
        let _ = poster.disconnect(&connection.id).await;
        store.remove_connection(&connection.id).await?;
    }
    Ok(())
}
