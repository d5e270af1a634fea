//! WebSocket connections of the cloud's API Gateway WebSocket API, in the room table:
//!
//! ```text
//! item        pk                        sk               notes
//! by room     WSROOM#{type}#{roomID}    CONN#{connId}    user, ttl    (the notifier's Query)
//! by id       WSCONN#{connId}           META             room, user, ttl (disconnect, messages)
//! ```
//!
//! Both are written and deleted together. `ttl` is garbage collection for connections whose
//! `$disconnect` never came: API Gateway ends every connection within 2 hours.

use std::sync::atomic::Ordering;

use aws_sdk_dynamodb::types::{Delete, Put, TransactWriteItem};

use super::items::{Item, get_s, key_of_room_pk, n, room_pk, s};
use super::{DynamoStore, unavailable};
use crate::model::RoomKey;
use crate::store::{StoreError, StoreResult};

/// API Gateway's longest connection, plus a margin.
const CONNECTION_TTL_SECS: u64 = 3 * 3600;

fn by_room_pk(key: &RoomKey) -> String {
    format!("WS{}", room_pk(key))
}

fn by_id_pk(connection_id: &str) -> String {
    format!("WSCONN#{connection_id}")
}

fn conn_sk(connection_id: &str) -> String {
    format!("CONN#{connection_id}")
}

/// A connection as registered: its room and user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub id: String,
    pub key: RoomKey,
    pub user_id: String,
}

impl DynamoStore {
    /// Registers a connection to a room (`$connect`).
    pub async fn add_connection(&self, connection: &Connection, now_ms: u64) -> StoreResult<()> {
        let ttl = n(now_ms / 1000 + CONNECTION_TTL_SECS);
        let put = |item: Item| {
            let put = Put::builder()
                .table_name(self.table())
                .set_item(Some(item))
                .build()
                .expect("table and item are set");
            TransactWriteItem::builder().put(put).build()
        };
        let by_room = Item::from([
            ("pk".into(), s(by_room_pk(&connection.key))),
            ("sk".into(), s(conn_sk(&connection.id))),
            ("user".into(), s(&connection.user_id)),
            ("ttl".into(), ttl.clone()),
        ]);
        let by_id = Item::from([
            ("pk".into(), s(by_id_pk(&connection.id))),
            ("sk".into(), s("META")),
            ("room".into(), s(room_pk(&connection.key))),
            ("user".into(), s(&connection.user_id)),
            ("ttl".into(), ttl),
        ]);
        self.counters.transact_write.fetch_add(1, Ordering::Relaxed);
        self.client()
            .transact_write_items()
            .transact_items(put(by_room))
            .transact_items(put(by_id))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// The registered connection with this id, if any.
    pub async fn connection(&self, connection_id: &str) -> StoreResult<Option<Connection>> {
        self.counters.get_item.fetch_add(1, Ordering::Relaxed);
        let found = self
            .client()
            .get_item()
            .table_name(self.table())
            .key("pk", s(by_id_pk(connection_id)))
            .key("sk", s("META"))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        let Some(item) = found.item else {
            return Ok(None);
        };
        let key = key_of_room_pk(get_s(&item, "room")?)
            .ok_or_else(|| StoreError::Corrupt("connection room".into()))?;
        Ok(Some(Connection {
            id: connection_id.to_owned(),
            key,
            user_id: get_s(&item, "user")?.to_owned(),
        }))
    }

    /// Forgets a connection (`$disconnect`, or a post answered 410 Gone); what it was.
    pub async fn remove_connection(&self, connection_id: &str) -> StoreResult<Option<Connection>> {
        let Some(connection) = self.connection(connection_id).await? else {
            return Ok(None);
        };
        let delete = |pk: String, sk: String| {
            let delete = Delete::builder()
                .table_name(self.table())
                .key("pk", s(pk))
                .key("sk", s(sk))
                .build()
                .expect("table and key are set");
            TransactWriteItem::builder().delete(delete).build()
        };
        self.counters.transact_write.fetch_add(1, Ordering::Relaxed);
        self.client()
            .transact_write_items()
            .transact_items(delete(by_room_pk(&connection.key), conn_sk(&connection.id)))
            .transact_items(delete(by_id_pk(&connection.id), "META".into()))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(Some(connection))
    }

    /// Counts a message on a connection against `max_per_sec`: `false` once it sends more than
    /// that within one second (one or two conditional UpdateItems on its by-id item).
    pub async fn admit_message(
        &self,
        connection_id: &str,
        max_per_sec: u32,
        now_ms: u64,
    ) -> StoreResult<bool> {
        let second = n(now_ms / 1000);
        let update = |expression: &str, condition: &str| {
            self.counters.update_item.fetch_add(1, Ordering::Relaxed);
            self.client()
                .update_item()
                .table_name(self.table())
                .key("pk", s(by_id_pk(connection_id)))
                .key("sk", s("META"))
                .update_expression(expression)
                .condition_expression(condition)
                .expression_attribute_values(":now", second.clone())
                .expression_attribute_values(":one", n(1))
        };
        let condition_failed = |e: &aws_sdk_dynamodb::error::SdkError<_, _>| {
            e.as_service_error().is_some_and(
                aws_sdk_dynamodb::operation::update_item::UpdateItemError::is_conditional_check_failed_exception,
            )
        };
        // Within the current second: one more, while under the limit.
        let counted = update(
            "SET cnt = cnt + :one",
            "attribute_exists(pk) AND win = :now AND cnt < :max",
        )
        .expression_attribute_values(":max", n(max_per_sec))
        .send()
        .await;
        match counted {
            Ok(_) => return Ok(true),
            Err(e) if condition_failed(&e) => {}
            Err(e) => return Err(unavailable(e)),
        }
        // A new second starts a new count; the same second means the limit was reached.
        let restarted = update(
            "SET win = :now, cnt = :one",
            "attribute_exists(pk) AND (attribute_not_exists(win) OR win <> :now)",
        )
        .send()
        .await;
        match restarted {
            Ok(_) => Ok(true),
            Err(e) if condition_failed(&e) => Ok(false),
            Err(e) => Err(unavailable(e)),
        }
    }

    /// A room's connections: one Query of its partition, never a scan.
    pub async fn room_connections(&self, key: &RoomKey) -> StoreResult<Vec<Connection>> {
        let items = self
            .query_all(
                self.client()
                    .query()
                    .table_name(self.table())
                    .key_condition_expression("pk = :pk")
                    .expression_attribute_values(":pk", s(by_room_pk(key))),
            )
            .await?;
        items
            .iter()
            .map(|item| {
                let id = get_s(item, "sk")?
                    .strip_prefix("CONN#")
                    .ok_or_else(|| StoreError::Corrupt("connection sk".into()))?;
                Ok(Connection {
                    id: id.to_owned(),
                    key: key.clone(),
                    user_id: get_s(item, "user")?.to_owned(),
                })
            })
            .collect()
    }
}
