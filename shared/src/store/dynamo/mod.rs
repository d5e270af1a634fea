//! The DynamoDB store: every room in one table (layout in [`items`]).
//!
//! Every write but the heartbeat is optimistic: read the room's partition in one consistent
//! Query, run the shared room rules ([`RoomRecord`]) on it, and write the difference in one
//! `TransactWriteItems` whose room-item put is conditioned on the version read. A concurrent
//! change to the room makes the condition fail, and the write is retried on a fresh read with
//! jittered backoff. Capacity, first-join activation, creator rules and event numbering are
//! therefore exact across any number of processes.
//!
//! Costs: `pusher_heartbeat` = 1 UpdateItem; `get_pushers` = 1 Query; a join = 1 Query + 1
//! transaction; the sweeper = one Query per due-index shard + work per expired entry.

pub mod connections;
pub mod items;
mod locks;
mod sessions;
#[cfg(any(test, feature = "test-suite"))]
pub mod testing;

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, Delete, DeleteRequest, GlobalSecondaryIndex,
    KeySchemaElement, KeyType, Projection, ProjectionType, Put, ReturnValue, ScalarAttributeType,
    StreamSpecification, StreamViewType, TimeToLiveSpecification, TransactWriteItem, WriteRequest,
};

use self::items::*;
use super::record::{RoomRecord, RoomState};
use super::{
    AudienceOutcome, ChangeListener, CreateOutcome, CustomOutcome, DestroyOutcome, JoinOutcome,
    JoinRequest, LeaveOutcome, Listeners, Message, MessageOutcome, RoomStore, StoreError,
    StoreResult, StreamReport, SweepReport,
};
use crate::model::{Audience, CustomOp, Event, RoomKey, RoomType, RoomView};

/// Entries evicted per transaction (members and viewers each), so that a transaction never
/// exceeds DynamoDB's 100 items: 1 room item + ≤ 2×20 deletes + ≤ 2×20+3 events + 1 put.
const MAX_EVICTIONS: usize = 20;
const MAX_TRANSACTION_ITEMS: usize = 100;
/// How long a write keeps retrying against concurrent writers before answering "retry later".
const CONTENTION_BUDGET: Duration = Duration::from_secs(20);

/// DynamoDB requests made, by operation, for the cost assertions and for operators.
#[derive(Debug, Default)]
struct Counters {
    get_item: AtomicU64,
    query: AtomicU64,
    update_item: AtomicU64,
    transact_write: AtomicU64,
    batch_write: AtomicU64,
    delete_item: AtomicU64,
}

/// A snapshot of [`DynamoStore::requests`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RequestCounts {
    pub get_item: u64,
    pub query: u64,
    pub update_item: u64,
    pub transact_write: u64,
    pub batch_write: u64,
    pub delete_item: u64,
}

impl RequestCounts {
    pub fn since(self, before: RequestCounts) -> RequestCounts {
        RequestCounts {
            get_item: self.get_item - before.get_item,
            query: self.query - before.query,
            update_item: self.update_item - before.update_item,
            transact_write: self.transact_write - before.transact_write,
            batch_write: self.batch_write - before.batch_write,
            delete_item: self.delete_item - before.delete_item,
        }
    }
}

pub struct DynamoStore {
    client: Client,
    table: String,
    counters: Counters,
    /// Writes to one room from this process queue here instead of racing each other through
    /// DynamoDB: optimistic retries cost O(n²) requests among n contenders, and only writers
    /// in *other* processes (or Lambda instances) need the table to arbitrate.
    /// One lock per room being written, dropped with its last user: unrelated rooms never
    /// queue behind each other, and a hung store holds up only the callers of its room (whose
    /// wait the request deadline bounds).
    room_locks: locks::RoomLocks,
    listeners: Listeners,
}

/// A room partition as read.
struct Loaded {
    record: RoomRecord,
    meta: Option<MetaItem>,
    /// Join order of the entries read, by user.
    member_ord: HashMap<String, u64>,
    audience_ord: HashMap<String, u64>,
    /// Entries of another epoch (leftovers of an earlier room with the same id).
    stale: Vec<String>,
}

/// Why a transaction did not commit.
enum WriteError {
    /// Someone else changed the room first: read again and retry.
    Conflict,
    Failed(StoreError),
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            counters: Counters::default(),
            room_locks: locks::RoomLocks::default(),
            listeners: Listeners::default(),
        }
    }

    /// A client configured from the environment (`AWS_REGION`, credentials,
    /// `AWS_ENDPOINT_URL_DYNAMODB`), over rustls/ring, with few retries and timeouts within
    /// `deadline` (a call's whole time, `RTCROOM_REQUEST_TIMEOUT_SECS`; each attempt half of
    /// it), so that a store outage becomes a prompt "retry later" (code 100).
    pub async fn connect(table: impl Into<String>, deadline: Duration) -> Self {
        use aws_config::retry::RetryConfig;
        use aws_config::timeout::TimeoutConfig;
        use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
            .build_https();
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .http_client(http)
            .retry_config(RetryConfig::standard().with_max_attempts(3))
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_attempt_timeout((deadline / 2).max(Duration::from_secs(1)))
                    .operation_timeout(deadline)
                    .build(),
            )
            .load()
            .await;
        Self::new(Client::new(&sdk), table)
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    pub fn requests(&self) -> RequestCounts {
        let c = &self.counters;
        RequestCounts {
            get_item: c.get_item.load(Ordering::Relaxed),
            query: c.query.load(Ordering::Relaxed),
            update_item: c.update_item.load(Ordering::Relaxed),
            transact_write: c.transact_write.load(Ordering::Relaxed),
            batch_write: c.batch_write.load(Ordering::Relaxed),
            delete_item: c.delete_item.load(Ordering::Relaxed),
        }
    }

    /// Creates the table with its indexes, TTL and stream, as `template.yaml` declares it.
    /// For local use and tests; an existing table is left as it is.
    pub async fn create_table(&self) -> StoreResult<()> {
        let attr = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("name and type are set")
        };
        let key = |name: &str, kind: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
                .expect("name and type are set")
        };
        let index = |name: &str, pk: &str, sk: Option<&str>| {
            GlobalSecondaryIndex::builder()
                .index_name(name)
                .set_key_schema(Some(
                    std::iter::once(key(pk, KeyType::Hash))
                        .chain(sk.map(|sk| key(sk, KeyType::Range)))
                        .collect(),
                ))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::KeysOnly)
                        .build(),
                )
                .build()
                .expect("name, keys and projection are set")
        };
        let created = self
            .client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .set_attribute_definitions(Some(
                ["pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk", "gsi3pk"]
                    .map(attr)
                    .to_vec(),
            ))
            .key_schema(key("pk", KeyType::Hash))
            .key_schema(key("sk", KeyType::Range))
            .global_secondary_indexes(index(GSI_LIST, "gsi1pk", Some("gsi1sk")))
            .global_secondary_indexes(index(GSI_DUE, "gsi2pk", Some("gsi2sk")))
            .global_secondary_indexes(index(GSI_STREAM, "gsi3pk", None))
            .stream_specification(
                StreamSpecification::builder()
                    .stream_enabled(true)
                    .stream_view_type(StreamViewType::NewAndOldImages)
                    .build()
                    .expect("enabled is set"),
            )
            .send()
            .await;
        match created {
            Ok(_) => {}
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_resource_in_use_exception()) =>
            {
                return Ok(());
            }
            Err(e) => return Err(unavailable(e)),
        }
        self.client
            .update_time_to_live()
            .table_name(&self.table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name("ttl")
                    .enabled(true)
                    .build()
                    .expect("name and flag are set"),
            )
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// Every page of a Query (each page is one request, counted).
    async fn query_all(&self, query: QueryFluentBuilder) -> StoreResult<Vec<Item>> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            self.counters.query.fetch_add(1, Ordering::Relaxed);
            let page = query
                .clone()
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(unavailable)?;
            items.extend(page.items.unwrap_or_default());
            start = page.last_evaluated_key;
            if start.is_none() {
                return Ok(items);
            }
        }
    }

    /// Reads a room's partition (room item, members, viewers) in one consistent Query.
    async fn load(&self, key: &RoomKey) -> StoreResult<Loaded> {
        let pk = room_pk(key);
        let items = self
            .query_all(
                self.client
                    .query()
                    .table_name(&self.table)
                    .key_condition_expression("pk = :pk")
                    .expression_attribute_values(":pk", s(&pk))
                    .consistent_read(true),
            )
            .await?;
        let meta = items
            .iter()
            .find(|i| matches!(i.get("sk"), Some(v) if v.as_s().is_ok_and(|s| s == META)))
            .map(MetaItem::decode)
            .transpose()?;
        let epoch = meta.as_ref().map_or(0, |m| m.epoch);
        let mut state = meta.as_ref().and_then(|m| match m.state {
            MetaState::Closed => None,
            MetaState::Inactive | MetaState::Active => Some(RoomState {
                room_info: m.room_info.clone(),
                creator: (m.state == MetaState::Active)
                    .then(|| m.creator.clone())
                    .flatten(),
                created_at_ms: m.created_at_ms,
                custom: m.custom.clone(),
                members: Vec::new(),
                audiences: Vec::new(),
            }),
        });
        let mut members = Vec::new();
        let mut audiences = Vec::new();
        let mut stale = Vec::new();
        for item in &items {
            let sk = get_s(item, "sk")?;
            if sk.starts_with(MEMBER_PREFIX) {
                let (member, item_epoch, ord) = decode_member(item)?;
                if state.is_some() && item_epoch == epoch {
                    members.push((ord, member));
                } else {
                    stale.push(sk.to_owned());
                }
            } else if sk.starts_with(AUDIENCE_PREFIX) {
                let (audience, item_epoch, ord) = decode_audience(item)?;
                if state.is_some() && item_epoch == epoch {
                    audiences.push((ord, audience));
                } else {
                    stale.push(sk.to_owned());
                }
            }
        }
        members.sort_by(|a, b| (a.0, &a.1.user_id).cmp(&(b.0, &b.1.user_id)));
        audiences.sort_by(|a, b| (a.0, &a.1.user_id).cmp(&(b.0, &b.1.user_id)));
        let member_ord = members
            .iter()
            .map(|(o, m)| (m.user_id.clone(), *o))
            .collect();
        let audience_ord = audiences
            .iter()
            .map(|(o, a)| (a.user_id.clone(), *o))
            .collect();
        if let Some(state) = state.as_mut() {
            state.members = members.into_iter().map(|(_, m)| m).collect();
            state.audiences = audiences.into_iter().map(|(_, a)| a).collect();
        }
        Ok(Loaded {
            record: RoomRecord {
                state,
                last_seq: meta.as_ref().map_or(0, |m| m.last_seq),
                ..RoomRecord::default()
            },
            meta,
            member_ord,
            audience_ord,
            stale,
        })
    }

    /// Runs a room rule as one atomic write: read, settle, apply, write the difference under
    /// the version read; retried on conflict.
    async fn write_room<R>(
        &self,
        key: &RoomKey,
        now_ms: u64,
        mut apply: impl FnMut(&mut RoomRecord) -> R,
    ) -> StoreResult<(R, SweepReport)> {
        let _queued = self.room_locks.lock(key).await;
        let started = Instant::now();
        for attempt in 0u32.. {
            let loaded = self.load(key).await?;
            let mut record = loaded.record.clone();
            let mut report = SweepReport::default();
            record.settle(key.room_type, now_ms, MAX_EVICTIONS, &mut report);
            let result = apply(&mut record);
            record.flush_pusher_change(now_ms);
            match self.commit(key, &loaded, &record, now_ms).await {
                Ok(()) => {
                    if record.last_seq != loaded.record.last_seq {
                        self.listeners.notify(key, record.last_seq);
                    }
                    return Ok((result, report));
                }
                Err(WriteError::Failed(e)) => return Err(e),
                Err(WriteError::Conflict) if started.elapsed() > CONTENTION_BUDGET => {
                    return Err(StoreError::Contention(format!(
                        "room {} kept changing for {CONTENTION_BUDGET:?}",
                        key.room_id
                    )));
                }
                Err(WriteError::Conflict) => backoff(attempt).await,
            }
        }
        unreachable!("the loop only ends by returning")
    }

    /// A room rule's answer, when the caller needs nothing else from the write.
    async fn apply<R>(
        &self,
        key: &RoomKey,
        now_ms: u64,
        rule: impl FnMut(&mut RoomRecord) -> R,
    ) -> StoreResult<R> {
        Ok(self.write_room(key, now_ms, rule).await?.0)
    }

    /// Writes what changed between `loaded` and `record`, conditioned on the version read.
    async fn commit(
        &self,
        key: &RoomKey,
        loaded: &Loaded,
        record: &RoomRecord,
        now_ms: u64,
    ) -> Result<(), WriteError> {
        let before = &loaded.record;
        if record.state == before.state
            && record.last_seq == before.last_seq
            && loaded.stale.is_empty()
        {
            return Ok(());
        }
        let old_epoch = loaded.meta.as_ref().map_or(0, |m| m.epoch);
        let epoch = if before.state.is_none() && record.state.is_some() {
            old_epoch + 1
        } else {
            old_epoch
        };
        let meta = match &record.state {
            Some(state) => MetaItem {
                state: if state.creator.is_some() {
                    MetaState::Active
                } else {
                    MetaState::Inactive
                },
                room_info: state.room_info.clone(),
                creator: state.creator.clone(),
                created_at_ms: state.created_at_ms,
                custom: state.custom.clone(),
                last_seq: record.last_seq,
                version: loaded.meta.as_ref().map_or(0, |m| m.version) + 1,
                epoch,
            },
            None => MetaItem {
                state: MetaState::Closed,
                room_info: String::new(),
                creator: None,
                created_at_ms: loaded.meta.as_ref().map_or(now_ms, |m| m.created_at_ms),
                custom: Default::default(),
                last_seq: record.last_seq,
                version: loaded.meta.as_ref().map_or(0, |m| m.version) + 1,
                epoch,
            },
        };
        let mut required = Vec::new();
        let mut movable_deletes = Vec::new();
        let meta_put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(meta.encode(key, now_ms)));
        let meta_put = match &loaded.meta {
            Some(m) => meta_put
                .condition_expression("ver = :ver")
                .expression_attribute_values(":ver", n(m.version)),
            None => meta_put.condition_expression("attribute_not_exists(pk)"),
        };
        required.push(
            TransactWriteItem::builder()
                .put(meta_put.build().expect("table and item are set"))
                .build(),
        );
        for event in &record.events {
            required.push(self.put_item(encode_event(key, event)));
        }
        let same_room = epoch == old_epoch && before.state.is_some();
        let (old_members, old_audiences) = match (&before.state, same_room) {
            (Some(s), true) => (s.members.as_slice(), s.audiences.as_slice()),
            _ => (&[][..], &[][..]),
        };
        if let Some(state) = &record.state {
            let order = |ords: &HashMap<String, u64>, user: &str| {
                ords.get(user)
                    .copied()
                    .filter(|_| same_room)
                    .unwrap_or(record.last_seq)
            };
            for m in changed(&state.members, old_members) {
                let ord = order(&loaded.member_ord, &m.user_id);
                required.push(self.put_item(encode_member(key, m, epoch, ord)));
            }
            for a in changed(&state.audiences, old_audiences) {
                let ord = order(&loaded.audience_ord, &a.user_id);
                required.push(self.put_item(encode_audience(key, a, epoch, ord)));
            }
        }
        // Entries gone from the room. While the room lives these deletes are part of the
        // change (an eviction must not be evicted twice); once it is closed they are
        // leftovers of a closed epoch that nobody reads, and may follow the transaction.
        let kept = |prefix: &str, user: &str| match &record.state {
            Some(s) if prefix == MEMBER_PREFIX => s.members.iter().any(|m| m.user_id == user),
            Some(s) => s.audiences.iter().any(|a| a.user_id == user),
            None => false,
        };
        let gone = before
            .state
            .iter()
            .flat_map(|s| {
                s.members
                    .iter()
                    .map(|m| (MEMBER_PREFIX, &m.user_id))
                    .chain(s.audiences.iter().map(|a| (AUDIENCE_PREFIX, &a.user_id)))
            })
            .filter(|(prefix, user)| !kept(prefix, user))
            .map(|(prefix, user)| format!("{prefix}{user}"));
        for sk in gone {
            if record.state.is_some() {
                required.push(self.delete_item(&room_pk(key), &sk));
            } else {
                movable_deletes.push(sk);
            }
        }
        movable_deletes.extend(loaded.stale.iter().cloned());
        if required.len() > MAX_TRANSACTION_ITEMS {
            return Err(WriteError::Failed(StoreError::Corrupt(format!(
                "a change to room {} needs {} items in one transaction",
                key.room_id,
                required.len()
            ))));
        }
        let room = MAX_TRANSACTION_ITEMS - required.len();
        let overflow = movable_deletes.split_off(movable_deletes.len().min(room));
        for sk in &movable_deletes {
            required.push(self.delete_item(&room_pk(key), sk));
        }
        self.counters.transact_write.fetch_add(1, Ordering::Relaxed);
        let sent = self
            .client
            .transact_write_items()
            .set_transact_items(Some(required))
            .send()
            .await;
        if let Err(e) = sent {
            let conflict = match e.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => {
                    cancelled.cancellation_reasons().iter().any(|r| {
                        matches!(
                            r.code(),
                            Some("ConditionalCheckFailed" | "TransactionConflict")
                        )
                    })
                }
                Some(TransactWriteItemsError::TransactionInProgressException(_)) => true,
                _ => false,
            };
            return Err(if conflict {
                WriteError::Conflict
            } else {
                WriteError::Failed(unavailable(e))
            });
        }
        if !overflow.is_empty() {
            self.delete_leftovers(key, overflow).await;
        }
        Ok(())
    }

    /// Best effort: leftovers of a closed room are invisible to every reader (their epoch is
    /// not the room's), so a failure here only leaves garbage for TTL and the next write.
    async fn delete_leftovers(&self, key: &RoomKey, sks: Vec<String>) {
        for chunk in sks.chunks(25) {
            let requests = chunk
                .iter()
                .map(|sk| {
                    let delete = DeleteRequest::builder()
                        .key("pk", s(room_pk(key)))
                        .key("sk", s(sk))
                        .build()
                        .expect("key is set");
                    WriteRequest::builder().delete_request(delete).build()
                })
                .collect();
            self.counters.batch_write.fetch_add(1, Ordering::Relaxed);
            if let Err(e) = self
                .client
                .batch_write_item()
                .request_items(&self.table, requests)
                .send()
                .await
            {
                tracing::warn!(room = %key.room_id, error = %DisplayErrorContext(&e), "leftover entries not deleted");
            }
        }
    }

    fn put_item(&self, item: Item) -> TransactWriteItem {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .build()
            .expect("table and item are set");
        TransactWriteItem::builder().put(put).build()
    }

    fn delete_item(&self, pk: &str, sk: &str) -> TransactWriteItem {
        let delete = Delete::builder()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .build()
            .expect("table and key are set");
        TransactWriteItem::builder().delete(delete).build()
    }

    /// One conditional UpdateItem on a member's own item: `None` when the condition failed,
    /// else the updated attributes' old values when `old` asks for them (the heartbeat, the
    /// hottest write, does not). `#until`, `#ttl` and `#stream` name those attributes.
    async fn update_member<const N: usize>(
        &self,
        pk: &str,
        sk: &str,
        update: &str,
        condition: &str,
        values: [(&str, AttributeValue); N],
        old: bool,
    ) -> StoreResult<Option<Item>> {
        self.counters.update_item.fetch_add(1, Ordering::Relaxed);
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .update_expression(update)
            .condition_expression(condition);
        if old {
            request = request.return_values(ReturnValue::UpdatedOld);
        }
        for name in ["until", "ttl", "stream"] {
            if update.contains(&format!("#{name}")) || condition.contains(&format!("#{name}")) {
                request = request.expression_attribute_names(format!("#{name}"), name);
            }
        }
        for (name, value) in values {
            request = request.expression_attribute_values(name, value);
        }
        match request.send().await {
            Ok(output) => Ok(Some(output.attributes.unwrap_or_default())),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    /// Applies a relay report to one member item found through the stream index: `None` when
    /// it applied to no live member, else whether the stream's live state changed.
    async fn report_member(
        &self,
        key: &RoomKey,
        pk: &str,
        sk: &str,
        stream_id: &str,
        report: StreamReport,
        now_ms: u64,
    ) -> StoreResult<Option<bool>> {
        let was_live = |old: Item| get_n(&old, "slive").is_ok_and(|until| now_ms < until);
        let StreamReport::Live { keep_alive_ms } = report else {
            return Ok(self
                .update_member(
                    pk,
                    sk,
                    "SET slive = :zero",
                    "attribute_exists(pk) AND #until > :now AND #stream = :stream",
                    [
                        (":zero", n(0)),
                        (":now", n(now_ms)),
                        (":stream", s(stream_id)),
                    ],
                    true,
                )
                .await?
                .map(was_live));
        };
        let until = now_ms + keep_alive_ms[key.room_type.index()];
        let (due, ttl) = deadline_attributes(until);
        let live = "attribute_exists(pk) AND #until > :now AND #stream = :stream";
        // Extends the deadline like a heartbeat, unless a heartbeat already set a later one;
        // then only the stream's state changes.
        if let Some(old) = self
            .update_member(
                pk,
                sk,
                "SET #until = :until, slive = :until, gsi2sk = :due, #ttl = :ttl",
                &format!("{live} AND #until <= :until"),
                [
                    (":until", n(until)),
                    (":due", due),
                    (":ttl", ttl),
                    (":now", n(now_ms)),
                    (":stream", s(stream_id)),
                ],
                true,
            )
            .await?
        {
            return Ok(Some(!was_live(old)));
        }
        Ok(self
            .update_member(
                pk,
                sk,
                "SET slive = :until",
                live,
                [
                    (":until", n(until)),
                    (":now", n(now_ms)),
                    (":stream", s(stream_id)),
                ],
                true,
            )
            .await?
            .map(|old| !was_live(old)))
    }

    /// Room keys with an entry whose deadline has passed, from every shard of the due index.
    async fn due_rooms(&self, now_ms: u64) -> StoreResult<BTreeSet<String>> {
        let mut rooms = BTreeSet::new();
        for shard in due_shard_pks() {
            let due = self
                .query_all(
                    self.client
                        .query()
                        .table_name(&self.table)
                        .index_name(GSI_DUE)
                        .key_condition_expression("gsi2pk = :shard AND gsi2sk <= :now")
                        .expression_attribute_values(":shard", s(&shard))
                        .expression_attribute_values(":now", s(deadline_sk(now_ms))),
                )
                .await?;
            for item in due {
                rooms.insert(get_s(&item, "pk")?.to_owned());
            }
        }
        Ok(rooms)
    }
}

/// Entries of `now` that `before` does not hold as they are (new or changed).
fn changed<'a, T: PartialEq>(now: &'a [T], before: &'a [T]) -> impl Iterator<Item = &'a T> {
    now.iter().filter(move |entry| !before.contains(entry))
}

/// Full jitter: a random wait up to 5 ms × 2^attempt, at most 250 ms.
async fn backoff(attempt: u32) {
    let cap_ms = (5u64 << attempt.min(6)).min(250);
    tokio::time::sleep(Duration::from_millis(rand::random_range(1..=cap_ms))).await;
}

fn unavailable<E, R>(e: SdkError<E, R>) -> StoreError
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    StoreError::Unavailable(DisplayErrorContext(&e).to_string())
}

#[async_trait]
impl RoomStore for DynamoStore {
    /// The per-user and global room limits are the embedded store's (whose memory is the
    /// process's); a table grows with what it is billed for.
    async fn create_room(
        &self,
        key: &RoomKey,
        _owner: &str,
        room_info: &str,
        now_ms: u64,
    ) -> StoreResult<CreateOutcome> {
        self.apply(key, now_ms, |r| r.create(room_info, now_ms))
            .await
    }

    async fn join(&self, request: JoinRequest) -> StoreResult<JoinOutcome> {
        let key = request.key.clone();
        let now_ms = request.now_ms;
        self.apply(&key, now_ms, |r| r.join(request.clone())).await
    }

    /// One conditional UpdateItem: the member's own entry, while it is alive.
    async fn heartbeat(
        &self,
        key: &RoomKey,
        user_id: &str,
        alive_until_ms: u64,
        now_ms: u64,
    ) -> StoreResult<bool> {
        let (due, ttl) = deadline_attributes(alive_until_ms);
        self.update_member(
            &room_pk(key),
            &format!("{MEMBER_PREFIX}{user_id}"),
            "SET #until = :until, gsi2sk = :due, #ttl = :ttl",
            "attribute_exists(pk) AND #until > :now",
            [
                (":until", n(alive_until_ms)),
                (":due", due),
                (":ttl", ttl),
                (":now", n(now_ms)),
            ],
            false,
        )
        .await
        .map(|old| old.is_some())
    }

    async fn leave(&self, key: &RoomKey, user_id: &str, now_ms: u64) -> StoreResult<LeaveOutcome> {
        self.apply(key, now_ms, |r| r.leave(key.room_type, user_id, now_ms))
            .await
    }

    async fn destroy_room(
        &self,
        key: &RoomKey,
        user_id: &str,
        now_ms: u64,
    ) -> StoreResult<DestroyOutcome> {
        self.apply(key, now_ms, |r| r.destroy(user_id, now_ms))
            .await
    }

    async fn room(&self, key: &RoomKey, now_ms: u64) -> StoreResult<Option<RoomView>> {
        Ok(self.load(key).await?.record.view(key, now_ms))
    }

    async fn list_rooms(
        &self,
        room_type: RoomType,
        index: u32,
        count: u32,
        now_ms: u64,
    ) -> StoreResult<Vec<RoomView>> {
        let wanted = index as usize + count as usize;
        let mut present = Vec::new();
        let mut start = None;
        while present.len() < wanted {
            self.counters.query.fetch_add(1, Ordering::Relaxed);
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(GSI_LIST)
                .key_condition_expression("gsi1pk = :list")
                .expression_attribute_values(":list", s(list_pk(room_type)))
                .limit((wanted - present.len()).clamp(1, 100) as i32)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(unavailable)?;
            let keys: Vec<RoomKey> = page
                .items
                .unwrap_or_default()
                .iter()
                .filter_map(|item| get_s(item, "pk").ok().and_then(key_of_room_pk))
                .collect();
            let loaded = futures_util::future::join_all(keys.iter().map(|k| self.load(k))).await;
            for (key, room) in keys.iter().zip(loaded) {
                if let Some(view) = room?.record.view(key, now_ms) {
                    present.push(view);
                }
            }
            start = page.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        Ok(present
            .into_iter()
            .skip(index as usize)
            .take(count as usize)
            .collect())
    }

    async fn add_audience(
        &self,
        key: &RoomKey,
        audience: Audience,
        capacity: u32,
        now_ms: u64,
    ) -> StoreResult<AudienceOutcome> {
        self.apply(key, now_ms, |r| {
            r.add_audience(audience.clone(), capacity, now_ms)
        })
        .await
    }

    async fn remove_audience(
        &self,
        key: &RoomKey,
        user_id: &str,
        now_ms: u64,
    ) -> StoreResult<bool> {
        self.apply(key, now_ms, |r| r.remove_audience(user_id, now_ms))
            .await
    }

    async fn audiences(&self, key: &RoomKey, now_ms: u64) -> StoreResult<Option<Vec<Audience>>> {
        Ok(self.load(key).await?.record.live_audiences(key, now_ms))
    }

    async fn update_custom(
        &self,
        key: &RoomKey,
        user_id: &str,
        field: &str,
        op: CustomOp,
        now_ms: u64,
    ) -> StoreResult<CustomOutcome> {
        self.apply(key, now_ms, |r| r.update_custom(user_id, field, op, now_ms))
            .await
    }

    /// One Query on the stream index (eventually consistent: a member who joined a moment
    /// ago is found by the relay's next report), then one or two UpdateItems per member.
    async fn stream_report(
        &self,
        stream_id: &str,
        report: StreamReport,
        now_ms: u64,
    ) -> StoreResult<u32> {
        let entries = self
            .query_all(
                self.client
                    .query()
                    .table_name(&self.table)
                    .index_name(GSI_STREAM)
                    .key_condition_expression("gsi3pk = :stream")
                    .expression_attribute_values(":stream", s(stream_pk(stream_id))),
            )
            .await?;
        let mut touched = 0;
        for entry in entries {
            let (pk, sk) = (get_s(&entry, "pk")?, get_s(&entry, "sk")?);
            let (Some(key), Some(user)) = (key_of_room_pk(pk), sk.strip_prefix(MEMBER_PREFIX))
            else {
                continue;
            };
            match self
                .report_member(&key, pk, sk, stream_id, report, now_ms)
                .await?
            {
                None => {}
                Some(changed) => {
                    touched += 1;
                    if changed {
                        // A stream going up or down is a room event: one transaction, rare.
                        let up = matches!(report, StreamReport::Live { .. });
                        self.apply(&key, now_ms, |r| {
                            r.stream_changed(user, stream_id, up, now_ms)
                        })
                        .await?;
                    }
                }
            }
        }
        Ok(touched)
    }

    async fn send(
        &self,
        key: &RoomKey,
        message: Message,
        now_ms: u64,
    ) -> StoreResult<MessageOutcome> {
        self.apply(key, now_ms, |r| r.send(message.clone(), now_ms))
            .await
    }

    /// One GetItem of the room item (0 when there is none).
    async fn last_seq(&self, key: &RoomKey) -> StoreResult<u64> {
        self.counters.get_item.fetch_add(1, Ordering::Relaxed);
        let item = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(room_pk(key)))
            .key("sk", s(META))
            .projection_expression("seq")
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        match item.item {
            Some(item) => get_n(&item, "seq"),
            None => Ok(0),
        }
    }

    fn on_change(&self, listener: ChangeListener) {
        self.listeners.add(listener);
    }

    async fn events_since(
        &self,
        key: &RoomKey,
        after_seq: u64,
        limit: u32,
    ) -> StoreResult<Vec<Event>> {
        self.counters.query.fetch_add(1, Ordering::Relaxed);
        let page = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND sk > :after")
            .expression_attribute_values(":pk", s(events_pk(key)))
            .expression_attribute_values(":after", s(seq_sk(after_seq)))
            .limit(limit.clamp(1, 1000) as i32)
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        page.items
            .unwrap_or_default()
            .iter()
            .map(decode_event)
            .collect()
    }

    async fn revoke_sessions(
        &self,
        user_id: &str,
        issued_through_ms: u64,
        keep_until_secs: u64,
    ) -> StoreResult<bool> {
        self.revoke(user_id, issued_through_ms, keep_until_secs)
            .await
    }

    async fn sessions_revoked_through(&self, user_id: &str, now_ms: u64) -> StoreResult<u64> {
        self.revoked_through(user_id, now_ms).await
    }

    async fn sweep(&self, now_ms: u64) -> StoreResult<SweepReport> {
        let mut total = SweepReport::default();
        for pk in self.due_rooms(now_ms).await? {
            let Some(key) = key_of_room_pk(&pk) else {
                continue;
            };
            // A room with more expired entries than one transaction holds takes several.
            loop {
                let ((), report) = self.write_room(&key, now_ms, |_| ()).await?;
                total.evicted_members += report.evicted_members;
                total.evicted_audiences += report.evicted_audiences;
                total.dissolved_rooms += report.dissolved_rooms;
                total.reclaimed_rooms += report.reclaimed_rooms;
                if (report.evicted_members as usize) < MAX_EVICTIONS
                    && (report.evicted_audiences as usize) < MAX_EVICTIONS
                {
                    break;
                }
            }
        }
        Ok(total)
    }
}
