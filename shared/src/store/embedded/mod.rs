//! The one-machine store: every room's [`RoomRecord`] in memory behind one lock.
//!
//! One lock makes every operation trivially atomic. It is held for well under a microsecond
//! per call (a hash lookup and a few field writes), so it is not what limits throughput; see
//! BENCHMARKS.md. State does not survive a restart (presence would be stale after one anyway).
//!
//! Its memory is the process's, so it bounds what clients can make it hold
//! ([`StoreLimits`]): rooms in all, rooms per user (as member or viewer, or created and not
//! yet joined), and event bytes per room; an ended room is freed once its last events had time
//! to reach their readers. Time is applied by a sweeper that visits only the rooms something
//! is due in (a deadline index), a few hundred per hold of the lock, never by a scan.

mod recordings;
mod state;

use std::collections::{BTreeSet, HashMap};

use async_trait::async_trait;
use parking_lot::Mutex;

use super::record::RoomRecord;
use super::{
    AudienceOutcome, ChangeListener, CreateOutcome, CustomOutcome, DestroyOutcome, JoinOutcome,
    JoinRequest, LeaveOutcome, Limit, Message, MessageOutcome, RoomStore, StoreLimits, StoreResult,
    StreamReport, SweepReport,
};
use state::Inner;

use super::recordings::{RecordedStream, Recording};
use crate::model::{Audience, CustomOp, Event, RoomKey, RoomType, RoomView};

/// Rooms the sweeper visits per hold of the lock.
const SWEEP_BATCH: usize = 256;

#[derive(Debug, Default)]
pub struct EmbeddedStore {
    inner: Mutex<Inner>,
    limits: StoreLimits,
    /// Rooms the sweeper has visited, in all.
    visits: std::sync::atomic::AtomicU64,
    /// Logged-out sessions, under their own lock: every authenticated call reads them.
    revoked: Mutex<Revocations>,
    /// Recording segments by room, and recorded streams' rooms, under their own lock.
    recordings: Mutex<recordings::RecordingIndex>,
}

/// Per user, the issue time its tokens are revoked through and until when that matters;
/// the same users by that second time, for the sweeper.
#[derive(Debug, Default)]
struct Revocations {
    of_user: HashMap<String, (u64, u64)>,
    by_expiry: BTreeSet<(u64, String)>,
}

impl EmbeddedStore {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_limits(limits: StoreLimits) -> Self {
        Self {
            inner: Mutex::default(),
            limits,
            visits: Default::default(),
            revoked: Mutex::default(),
            recordings: Mutex::default(),
        }
    }

    /// Rooms the sweeper has visited since the store was made.
    pub fn sweep_visits(&self) -> u64 {
        self.visits.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// What the store holds now (for tests and operators).
    pub fn holdings(&self) -> Holdings {
        let inner = self.inner.lock();
        Holdings {
            records: inner.rooms.len(),
            rooms: inner.live_rooms,
            due: inner.due.len(),
            users: inner.rooms_of_user.len(),
            streams: inner.streams.len(),
            tombstones: inner.tombstones.len(),
        }
    }
}

/// Counts of what an [`EmbeddedStore`] holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Holdings {
    /// Room slots, ended rooms kept for their readers included.
    pub records: usize,
    /// Rooms that exist (inactive or active).
    pub rooms: usize,
    /// Entries of the sweeper's deadline index.
    pub due: usize,
    /// Users in some room.
    pub users: usize,
    /// Streams the relay's reports may name.
    pub streams: usize,
    /// Freed slots' last event numbers.
    pub tombstones: usize,
}

impl EmbeddedStore {
    fn write_now<R>(
        &self,
        inner: &mut Inner,
        key: &RoomKey,
        now_ms: u64,
        apply: impl FnOnce(&mut RoomRecord) -> R,
    ) -> R {
        inner.write(
            &self.limits,
            key,
            now_ms,
            &mut SweepReport::default(),
            apply,
        )
    }

    /// Whether one more room may come into being.
    fn room_allowed(&self, inner: &Inner, key: &RoomKey) -> bool {
        inner.exists(key) || inner.live_rooms < self.limits.max_rooms
    }

    /// Whether `user_id` may come into `key` (it counts against its limit unless already in).
    fn user_allowed(&self, inner: &Inner, user_id: &str, key: &RoomKey) -> bool {
        inner.participates(user_id, key) || inner.held_by(user_id) < self.limits.max_rooms_per_user
    }
}

#[async_trait]
impl RoomStore for EmbeddedStore {
    async fn create_room(
        &self,
        key: &RoomKey,
        owner: &str,
        room_info: &str,
        record: bool,
        now_ms: u64,
    ) -> StoreResult<CreateOutcome> {
        let mut inner = self.inner.lock();
        if !inner.exists(key) {
            if !self.room_allowed(&inner, key) {
                return Ok(CreateOutcome::LimitReached(Limit::Rooms));
            }
            if inner.held_by(owner) >= self.limits.max_rooms_per_user {
                return Ok(CreateOutcome::LimitReached(Limit::RoomsPerUser));
            }
        }
        let outcome = self.write_now(&mut inner, key, now_ms, |r| {
            r.create(room_info, record, now_ms)
        });
        if outcome == CreateOutcome::Created {
            inner.pending_owner.insert(key.clone(), owner.to_owned());
            *inner.pending_of_user.entry(owner.to_owned()).or_default() += 1;
        }
        Ok(outcome)
    }

    async fn join(&self, request: JoinRequest) -> StoreResult<JoinOutcome> {
        let (key, now_ms) = (request.key.clone(), request.now_ms);
        let stream = request.member.stream_id.clone();
        let user = request.member.user_id.clone();
        let mut inner = self.inner.lock();
        if request.create_with_info.is_some() && !self.room_allowed(&inner, &key) {
            return Ok(JoinOutcome::LimitReached(Limit::Rooms));
        }
        if !self.user_allowed(&inner, &user, &key) {
            return Ok(JoinOutcome::LimitReached(Limit::RoomsPerUser));
        }
        let outcome = self.write_now(&mut inner, &key, now_ms, |r| r.join(request));
        if matches!(outcome, JoinOutcome::Joined { .. }) {
            inner.streams.entry(stream).or_default().insert(key);
        }
        Ok(outcome)
    }

    /// Refreshes the member's own deadline only: whether its room is still present is decided
    /// by readers (and the DynamoDB store can check no more in its single write).
    async fn heartbeat(
        &self,
        key: &RoomKey,
        user_id: &str,
        alive_until_ms: u64,
        now_ms: u64,
    ) -> StoreResult<bool> {
        let mut inner = self.inner.lock();
        Ok(inner
            .rooms
            .get_mut(key)
            .is_some_and(|r| r.heartbeat(user_id, alive_until_ms, now_ms)))
    }

    async fn leave(&self, key: &RoomKey, user_id: &str, now_ms: u64) -> StoreResult<LeaveOutcome> {
        let mut inner = self.inner.lock();
        if !inner.rooms.contains_key(key) {
            return Ok(LeaveOutcome::NotMember);
        }
        Ok(self.write_now(&mut inner, key, now_ms, |r| {
            r.leave(key.room_type, user_id, now_ms)
        }))
    }

    async fn destroy_room(
        &self,
        key: &RoomKey,
        user_id: &str,
        now_ms: u64,
    ) -> StoreResult<DestroyOutcome> {
        let mut inner = self.inner.lock();
        if !inner.rooms.contains_key(key) {
            return Ok(DestroyOutcome::NoRoom);
        }
        Ok(self.write_now(&mut inner, key, now_ms, |r| r.destroy(user_id, now_ms)))
    }

    async fn room(&self, key: &RoomKey, now_ms: u64) -> StoreResult<Option<RoomView>> {
        Ok(self
            .inner
            .lock()
            .rooms
            .get(key)
            .and_then(|r| r.view(key, now_ms)))
    }

    async fn room_recorded(&self, key: &RoomKey, now_ms: u64) -> StoreResult<Option<bool>> {
        Ok(self
            .inner
            .lock()
            .rooms
            .get(key)
            .and_then(|r| r.recorded(key, now_ms)))
    }

    async fn list_rooms(
        &self,
        room_type: RoomType,
        index: u32,
        count: u32,
        now_ms: u64,
    ) -> StoreResult<Vec<RoomView>> {
        let inner = self.inner.lock();
        Ok(inner.listing[room_type.index()]
            .iter()
            .filter_map(|(_, room_id)| {
                let key = RoomKey::new(room_type, room_id.clone());
                inner.rooms.get(&key)?.view(&key, now_ms)
            })
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
        let mut inner = self.inner.lock();
        if !inner.exists(key) {
            return Ok(AudienceOutcome::NoRoom);
        }
        if !self.user_allowed(&inner, &audience.user_id, key) {
            return Ok(AudienceOutcome::LimitReached(Limit::RoomsPerUser));
        }
        Ok(self.write_now(&mut inner, key, now_ms, |r| {
            r.add_audience(audience, capacity, now_ms)
        }))
    }

    async fn remove_audience(
        &self,
        key: &RoomKey,
        user_id: &str,
        now_ms: u64,
    ) -> StoreResult<bool> {
        let mut inner = self.inner.lock();
        if !inner.rooms.contains_key(key) {
            return Ok(false);
        }
        Ok(self.write_now(&mut inner, key, now_ms, |r| {
            r.remove_audience(user_id, now_ms)
        }))
    }

    async fn audiences(&self, key: &RoomKey, now_ms: u64) -> StoreResult<Option<Vec<Audience>>> {
        Ok(self
            .inner
            .lock()
            .rooms
            .get(key)
            .and_then(|r| r.live_audiences(key, now_ms)))
    }

    async fn update_custom(
        &self,
        key: &RoomKey,
        user_id: &str,
        field: &str,
        op: CustomOp,
        now_ms: u64,
    ) -> StoreResult<CustomOutcome> {
        let mut inner = self.inner.lock();
        if !inner.rooms.contains_key(key) {
            return Ok(CustomOutcome::NoRoom);
        }
        Ok(self.write_now(&mut inner, key, now_ms, |r| {
            r.update_custom(user_id, field, op, now_ms)
        }))
    }

    async fn stream_report(
        &self,
        stream_id: &str,
        report: StreamReport,
        now_ms: u64,
    ) -> StoreResult<u32> {
        // Each room through the same write as every other change (settle, record, notify).
        let mut inner = self.inner.lock();
        let Some(keys) = inner.streams.get(stream_id).cloned() else {
            return Ok(0);
        };
        let mut touched = 0;
        for key in keys {
            touched += self.write_now(&mut inner, &key, now_ms, |record| {
                record.report_stream(key.room_type, stream_id, report, now_ms)
            });
        }
        Ok(touched)
    }

    async fn send(
        &self,
        key: &RoomKey,
        message: Message,
        now_ms: u64,
    ) -> StoreResult<MessageOutcome> {
        let mut inner = self.inner.lock();
        if !inner.rooms.contains_key(key) {
            return Ok(MessageOutcome::NoRoom);
        }
        Ok(self.write_now(&mut inner, key, now_ms, |r| r.send(message, now_ms)))
    }

    async fn last_seq(&self, key: &RoomKey) -> StoreResult<u64> {
        Ok(self.inner.lock().rooms.get(key).map_or(0, |r| r.last_seq()))
    }

    fn on_change(&self, listener: ChangeListener) {
        self.inner.lock().listeners.add(listener);
    }

    async fn events_since(
        &self,
        key: &RoomKey,
        after_seq: u64,
        limit: u32,
    ) -> StoreResult<Vec<Event>> {
        let inner = self.inner.lock();
        Ok(inner
            .rooms
            .get(key)
            .map(|r| {
                r.events()
                    .iter()
                    .filter(|e| e.seq > after_seq)
                    .take(limit as usize)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn revoke_sessions(
        &self,
        user_id: &str,
        issued_through_ms: u64,
        keep_until_secs: u64,
    ) -> StoreResult<bool> {
        let mut revoked = self.revoked.lock();
        let Revocations { of_user, by_expiry } = &mut *revoked;
        let (through, keep) = match of_user.get(user_id) {
            Some(&(t, k)) => {
                by_expiry.remove(&(k, user_id.to_owned()));
                (t.max(issued_through_ms), k.max(keep_until_secs))
            }
            None if of_user.len() >= self.limits.max_revoked_users => return Ok(false),
            None => (issued_through_ms, keep_until_secs),
        };
        of_user.insert(user_id.to_owned(), (through, keep));
        by_expiry.insert((keep, user_id.to_owned()));
        Ok(true)
    }

    async fn sessions_revoked_through(&self, user_id: &str, now_ms: u64) -> StoreResult<u64> {
        let revoked = self.revoked.lock();
        Ok(match revoked.of_user.get(user_id) {
            Some(&(through, keep)) if keep.saturating_mul(1000) >= now_ms => through,
            _ => 0,
        })
    }

    async fn bind_recorded_stream(
        &self,
        stream: &str,
        bound: &RecordedStream,
        keep_until_ms: u64,
        now_ms: u64,
    ) -> StoreResult<()> {
        self.recordings
            .lock()
            .bind(stream, bound, keep_until_ms, now_ms);
        Ok(())
    }

    async fn recorded_stream(
        &self,
        stream: &str,
        now_ms: u64,
    ) -> StoreResult<Option<RecordedStream>> {
        Ok(self.recordings.lock().stream(stream, now_ms))
    }

    async fn add_recording(
        &self,
        key: &RoomKey,
        recording: &Recording,
        keep_until_ms: u64,
        now_ms: u64,
    ) -> StoreResult<bool> {
        Ok(self
            .recordings
            .lock()
            .add(key, recording, keep_until_ms, now_ms))
    }

    async fn recordings(&self, key: &RoomKey, now_ms: u64) -> StoreResult<Vec<Recording>> {
        Ok(self.recordings.lock().list(key, now_ms))
    }

    /// Visits the rooms something is due in, a batch per hold of the lock, yielding between
    /// batches so that calls are served meanwhile.
    async fn sweep(&self, now_ms: u64) -> StoreResult<SweepReport> {
        let mut report = SweepReport::default();
        loop {
            let more = {
                let mut inner = self.inner.lock();
                let keys = inner.take_due(now_ms, SWEEP_BATCH);
                self.visits
                    .fetch_add(keys.len() as u64, std::sync::atomic::Ordering::Relaxed);
                for key in &keys {
                    if inner.rooms.contains_key(key) {
                        inner.write(&self.limits, key, now_ms, &mut report, |record| {
                            record.drop_old_events(now_ms)
                        });
                    } else {
                        inner.tombstones.remove(key);
                    }
                }
                keys.len() == SWEEP_BATCH
            };
            if !more {
                self.inner.lock().compact();
                self.forget_lapsed_revocations(now_ms);
                return Ok(report);
            }
            tokio::task::yield_now().await;
        }
    }
}

impl EmbeddedStore {
    /// Revocations whose tokens have all expired protect nothing any more.
    fn forget_lapsed_revocations(&self, now_ms: u64) {
        let mut revoked = self.revoked.lock();
        while let Some((t, user)) = revoked.by_expiry.first().cloned() {
            if t.saturating_mul(1000) >= now_ms {
                break;
            }
            revoked.by_expiry.pop_first();
            revoked.of_user.remove(&user);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    crate::room_store_suite!(|| async { Arc::new(EmbeddedStore::new()) as Arc<dyn RoomStore> });
}
