//! WebSocket connections of the cloud's API Gateway WebSocket API, in the room table:
//!
//! ```text
//! item        pk                        sk                  notes
//! by room     WSROOM#{type}#{roomID}    CONN#{connId}       user, session?, ttl   (the notifier's Query)
//! by id       WSCONN#{connId}           META                user, room?, session?, pend?, pendUntil?, ttl
//! pending     WSPEND#{roomID}           {userID}#{connId}   user, until, ttl      (a join waiting, EV-12)
//! ```
//!
//! A room connection (EV-4) names its room at connect and has both of the first two items
//! from then on. A session connection (EV-11) starts with the by-id item only; `follow` adds
//! the by-room item when it joins a room, `unfollow` removes it. A join that waits for the
//! membership has a pending item, which the notifier looks up when the user joins a room with
//! that roomID, and which exactly one party claims (a conditional delete). `ttl` is garbage
//! collection for connections whose `$disconnect` never came: API Gateway ends every
//! connection within 2 hours.

use std::sync::atomic::Ordering;

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{Delete, Put, TransactWriteItem, Update};

use super::items::{Item, get_n, get_s, key_of_room_pk, n, room_pk, s};
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

fn pending_pk(room_id: &str) -> String {
    format!("WSPEND#{room_id}")
}

fn pending_sk(user_id: &str, connection_id: &str) -> String {
    format!("{user_id}#{connection_id}")
}

/// A registered connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub id: String,
    pub user_id: String,
    /// The room it follows: a room connection's from connect, a session connection's once
    /// joined.
    pub key: Option<RoomKey>,
    /// A session connection (EV-11): it outlives the rooms it follows.
    pub session: bool,
    /// A session connection's join waiting for the membership.
    pub pending: Option<PendingJoin>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingJoin {
    pub room_id: String,
    /// Not admitted after this (epoch ms).
    pub until_ms: u64,
}

/// A pending join found for a user's new membership.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    pub connection_id: String,
    pub until_ms: u64,
}

impl DynamoStore {
    /// Registers a connection (`$connect`): a room connection with its room, a session
    /// connection on its own.
    pub async fn add_connection(&self, connection: &Connection, now_ms: u64) -> StoreResult<()> {
        let ttl = n(now_ms / 1000 + CONNECTION_TTL_SECS);
        let mut by_id = Item::from([
            ("pk".into(), s(by_id_pk(&connection.id))),
            ("sk".into(), s("META")),
            ("user".into(), s(&connection.user_id)),
            ("ttl".into(), ttl.clone()),
        ]);
        if connection.session {
            by_id.insert("session".into(), n(1));
        }
        let mut writes = Vec::new();
        if let Some(key) = &connection.key {
            by_id.insert("room".into(), s(room_pk(key)));
            writes.push(self.put(self.by_room_item(connection, key, now_ms)));
        }
        writes.push(self.put(by_id));
        self.transact(writes).await.map(|_| ())
    }

    /// The registered connection with this id, if any.
    pub async fn connection(&self, connection_id: &str) -> StoreResult<Option<Connection>> {
        let Some(item) = self.get_consistent(by_id_pk(connection_id), "META").await? else {
            return Ok(None);
        };
        let key = match item.get("room") {
            Some(_) => Some(
                key_of_room_pk(get_s(&item, "room")?)
                    .ok_or_else(|| StoreError::Corrupt("connection room".into()))?,
            ),
            None => None,
        };
        let pending = match item.get("pend") {
            Some(_) => Some(PendingJoin {
                room_id: get_s(&item, "pend")?.to_owned(),
                until_ms: get_n(&item, "pendUntil")?,
            }),
            None => None,
        };
        Ok(Some(Connection {
            id: connection_id.to_owned(),
            user_id: get_s(&item, "user")?.to_owned(),
            key,
            session: item.contains_key("session"),
            pending,
        }))
    }

    /// Forgets a connection and whatever it followed or waited for (`$disconnect`, or a post
    /// answered 410 Gone); what it was.
    pub async fn remove_connection(&self, connection_id: &str) -> StoreResult<Option<Connection>> {
        let Some(connection) = self.connection(connection_id).await? else {
            return Ok(None);
        };
        let mut writes = self.unfollow_writes(&connection);
        writes.push(self.delete(by_id_pk(&connection.id), "META".into()));
        self.transact(writes).await?;
        Ok(Some(connection))
    }

    /// A session connection follows `key` from now on (EV-12); `false` when the connection is
    /// gone. The caller has unfollowed what it followed before and claimed its pending join.
    pub async fn follow(
        &self,
        connection: &Connection,
        key: &RoomKey,
        now_ms: u64,
    ) -> StoreResult<bool> {
        let by_room = self.put(self.by_room_item(connection, key, now_ms));
        let by_id = Update::builder()
            .table_name(self.table())
            .key("pk", s(by_id_pk(&connection.id)))
            .key("sk", s("META"))
            .update_expression("SET room = :room REMOVE pend, pendUntil")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":room", s(room_pk(key)))
            .build()
            .expect("table, key and expression are set");
        self.transact(vec![
            by_room,
            TransactWriteItem::builder().update(by_id).build(),
        ])
        .await
    }

    /// The connection stops following its room and waiting for its pending join.
    pub async fn unfollow(&self, connection: &Connection) -> StoreResult<()> {
        let mut writes = self.unfollow_writes(connection);
        if writes.is_empty() {
            return Ok(());
        }
        let by_id = Update::builder()
            .table_name(self.table())
            .key("pk", s(by_id_pk(&connection.id)))
            .key("sk", s("META"))
            .update_expression("REMOVE room, pend, pendUntil")
            .condition_expression("attribute_exists(pk)")
            .build()
            .expect("table, key and expression are set");
        writes.push(TransactWriteItem::builder().update(by_id).build());
        self.transact(writes).await.map(|_| ())
    }

    /// Records a session connection's join as waiting until `until_ms` for `user` to become
    /// present in a room with this roomID; `false` when the connection is gone.
    pub async fn add_pending(
        &self,
        connection: &Connection,
        room_id: &str,
        until_ms: u64,
    ) -> StoreResult<bool> {
        let pending = Item::from([
            ("pk".into(), s(pending_pk(room_id))),
            (
                "sk".into(),
                s(pending_sk(&connection.user_id, &connection.id)),
            ),
            ("user".into(), s(&connection.user_id)),
            ("until".into(), n(until_ms)),
            ("ttl".into(), n(until_ms / 1000 + 3600)),
        ]);
        let by_id = Update::builder()
            .table_name(self.table())
            .key("pk", s(by_id_pk(&connection.id)))
            .key("sk", s("META"))
            .update_expression("SET pend = :room, pendUntil = :until")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":room", s(room_id))
            .expression_attribute_values(":until", n(until_ms))
            .build()
            .expect("table, key and expression are set");
        self.transact(vec![
            self.put(pending),
            TransactWriteItem::builder().update(by_id).build(),
        ])
        .await
    }

    /// The joins waiting for `user_id` to join a room with this roomID: one Query.
    pub async fn pending_joins(&self, room_id: &str, user_id: &str) -> StoreResult<Vec<Waiting>> {
        let items = self
            .query_all(
                self.client()
                    .query()
                    .table_name(self.table())
                    .key_condition_expression("pk = :pk AND begins_with(sk, :user)")
                    .expression_attribute_values(":pk", s(pending_pk(room_id)))
                    .expression_attribute_values(":user", s(format!("{user_id}#")))
                    .consistent_read(true),
            )
            .await?;
        let mut waiting = Vec::new();
        for item in &items {
            // A userID may contain '#': the prefix alone could match another user's.
            if get_s(item, "user")? != user_id {
                continue;
            }
            let sk = get_s(item, "sk")?;
            waiting.push(Waiting {
                connection_id: sk[user_id.len() + 1..].to_owned(),
                until_ms: get_n(item, "until")?,
            });
        }
        Ok(waiting)
    }

    /// Takes a pending join for its admission (or its failure): `true` for the one caller that
    /// deleted it, so that a join is answered once.
    pub async fn claim_pending(
        &self,
        room_id: &str,
        user_id: &str,
        connection_id: &str,
    ) -> StoreResult<bool> {
        self.counters.delete_item.fetch_add(1, Ordering::Relaxed);
        let deleted = self
            .client()
            .delete_item()
            .table_name(self.table())
            .key("pk", s(pending_pk(room_id)))
            .key("sk", s(pending_sk(user_id, connection_id)))
            .condition_expression("attribute_exists(pk)")
            .send()
            .await;
        match deleted {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error().is_some_and(
                    aws_sdk_dynamodb::operation::delete_item::DeleteItemError::is_conditional_check_failed_exception,
                ) =>
            {
                Ok(false)
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    /// Counts a message on a connection against `max_per_sec`: `false` once it sends more than
    /// that within one second (one to four conditional UpdateItems on its by-id item; API
    /// Gateway may run one connection's messages at once, so the count must hold under races).
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
        // Within the newest second counted: one more, while under the limit (a message from an
        // earlier second, handled late, counts there too). A later second starts a new count.
        // Two messages that both open a second race on the restart; the loser counts again in
        // the second the winner opened (so a refusal means the limit was reached).
        for _ in 0..2 {
            let counted = update(
                "SET cnt = cnt + :one",
                "attribute_exists(pk) AND win >= :now AND cnt < :max",
            )
            .expression_attribute_values(":max", n(max_per_sec))
            .send()
            .await;
            match counted {
                Ok(_) => return Ok(true),
                Err(e) if condition_failed(&e) => {}
                Err(e) => return Err(unavailable(e)),
            }
            let restarted = update(
                "SET win = :now, cnt = :one",
                "attribute_exists(pk) AND (attribute_not_exists(win) OR win < :now)",
            )
            .send()
            .await;
            match restarted {
                Ok(_) => return Ok(true),
                Err(e) if condition_failed(&e) => {}
                Err(e) => return Err(unavailable(e)),
            }
        }
        // This second is open and full (or the connection is gone).
        Ok(false)
    }

    /// A room's connections: one Query of its partition, never a scan.
    pub async fn room_connections(&self, key: &RoomKey) -> StoreResult<Vec<Connection>> {
        let items = self.query_partition(by_room_pk(key), false).await?;
        items
            .iter()
            .map(|item| {
                let id = get_s(item, "sk")?
                    .strip_prefix("CONN#")
                    .ok_or_else(|| StoreError::Corrupt("connection sk".into()))?;
                Ok(Connection {
                    id: id.to_owned(),
                    user_id: get_s(item, "user")?.to_owned(),
                    key: Some(key.clone()),
                    session: item.contains_key("session"),
                    pending: None,
                })
            })
            .collect()
    }

    fn by_room_item(&self, connection: &Connection, key: &RoomKey, now_ms: u64) -> Item {
        let mut item = Item::from([
            ("pk".into(), s(by_room_pk(key))),
            ("sk".into(), s(conn_sk(&connection.id))),
            ("user".into(), s(&connection.user_id)),
            ("ttl".into(), n(now_ms / 1000 + CONNECTION_TTL_SECS)),
        ]);
        if connection.session {
            item.insert("session".into(), n(1));
        }
        item
    }

    /// Deletes of the by-room item and the pending item a connection has.
    fn unfollow_writes(&self, connection: &Connection) -> Vec<TransactWriteItem> {
        let mut writes = Vec::new();
        if let Some(key) = &connection.key {
            writes.push(self.delete(by_room_pk(key), conn_sk(&connection.id)));
        }
        if let Some(pending) = &connection.pending {
            writes.push(self.delete(
                pending_pk(&pending.room_id),
                pending_sk(&connection.user_id, &connection.id),
            ));
        }
        writes
    }

    fn put(&self, item: Item) -> TransactWriteItem {
        let put = Put::builder()
            .table_name(self.table())
            .set_item(Some(item))
            .build()
            .expect("table and item are set");
        TransactWriteItem::builder().put(put).build()
    }

    fn delete(&self, pk: String, sk: String) -> TransactWriteItem {
        let delete = Delete::builder()
            .table_name(self.table())
            .key("pk", s(pk))
            .key("sk", s(sk))
            .build()
            .expect("table and key are set");
        TransactWriteItem::builder().delete(delete).build()
    }

    /// One transaction; `false` when a condition failed (the connection is gone).
    async fn transact(&self, writes: Vec<TransactWriteItem>) -> StoreResult<bool> {
        self.counters.transact_write.fetch_add(1, Ordering::Relaxed);
        let sent = self
            .client()
            .transact_write_items()
            .set_transact_items(Some(writes))
            .send()
            .await;
        match sent {
            Ok(_) => Ok(true),
            Err(SdkError::ServiceError(e))
                if matches!(
                    e.err(),
                    TransactWriteItemsError::TransactionCanceledException(_)
                ) =>
            {
                Ok(false)
            }
            Err(e) => Err(unavailable(e)),
        }
    }
}
