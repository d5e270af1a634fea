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

mod commit;
pub mod connections;
mod counters;
pub mod items;
mod load;
mod locks;
mod recordings;
mod sessions;
mod single;
mod table;
#[cfg(any(test, feature = "test-suite"))]
pub mod testing;

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
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

use self::counters::Counters;
pub use self::counters::RequestCounts;
use self::items::*;
use super::record::RoomRecord;
use super::recordings::{RecordedStream, Recording};
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

pub struct DynamoStore {
    client: Client,
    table: String,
    counters: Counters,
    /// Writes to one room from this process take turns here (`locks.rs`).
    room_locks: locks::RoomLocks,
    listeners: Listeners,
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

    /// Every page of a Query (each page is one request, counted).
    /// One item by key, read consistently (counted as one GetItem).
    pub(super) async fn get_consistent(&self, pk: String, sk: &str) -> StoreResult<Option<Item>> {
        self.counters.get_item.fetch_add(1, Ordering::Relaxed);
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(output.item)
    }

    /// Every item of the partition `pk` (all pages), read consistently when `consistent`.
    pub(super) async fn query_partition(
        &self,
        pk: String,
        consistent: bool,
    ) -> StoreResult<Vec<Item>> {
        self.query_all(
            self.client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", s(pk))
                .consistent_read(consistent),
        )
        .await
    }

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
            let result = record.write(
                key.room_type,
                now_ms,
                MAX_EVICTIONS,
                &mut report,
                &mut apply,
            );
            match self.commit(key, &loaded, &record, now_ms).await {
                Ok(()) => {
                    if record.last_seq() != loaded.record.last_seq() {
                        self.listeners.notify(key, record.last_seq());
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
        record: bool,
        now_ms: u64,
    ) -> StoreResult<CreateOutcome> {
        self.apply(key, now_ms, |r| r.create(room_info, record, now_ms))
            .await
    }

    async fn join(&self, request: JoinRequest) -> StoreResult<JoinOutcome> {
        let key = request.key.clone();
        let now_ms = request.now_ms;
        self.apply(&key, now_ms, |r| r.join(request.clone())).await
    }

    /// One conditional UpdateItem on the member's own entry (`single.rs`).
    async fn heartbeat(
        &self,
        key: &RoomKey,
        user_id: &str,
        alive_until_ms: u64,
        now_ms: u64,
    ) -> StoreResult<bool> {
        self.heartbeat_member(key, user_id, alive_until_ms, now_ms)
            .await
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

    /// One consistent GetItem of the room item (not the partition: a live room's may hold
    /// thousands of viewers).
    async fn room_recorded(&self, key: &RoomKey, now_ms: u64) -> StoreResult<Option<bool>> {
        let Some(item) = self.get_consistent(room_pk(key), META).await? else {
            return Ok(None);
        };
        let meta = MetaItem::decode(&item)?;
        Ok(match meta.state {
            MetaState::Active => Some(meta.record),
            MetaState::Inactive
                if now_ms < meta.created_at_ms + crate::model::INACTIVE_ROOM_RECLAIM_MS =>
            {
                Some(meta.record)
            }
            _ => None,
        })
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

    async fn bind_recorded_stream(
        &self,
        stream: &str,
        bound: &RecordedStream,
        keep_until_ms: u64,
        _now_ms: u64,
    ) -> StoreResult<()> {
        self.put_recorded_stream(stream, bound, keep_until_ms).await
    }

    async fn recorded_stream(
        &self,
        stream: &str,
        now_ms: u64,
    ) -> StoreResult<Option<RecordedStream>> {
        self.get_recorded_stream(stream, now_ms).await
    }

    async fn add_recording(
        &self,
        key: &RoomKey,
        recording: &Recording,
        keep_until_ms: u64,
        _now_ms: u64,
    ) -> StoreResult<bool> {
        self.put_recording(key, recording, keep_until_ms).await
    }

    async fn recordings(&self, key: &RoomKey, now_ms: u64) -> StoreResult<Vec<Recording>> {
        self.query_recordings(key, now_ms).await
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
