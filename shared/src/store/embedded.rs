//! The one-machine store: every room's [`RoomRecord`] in memory behind one lock.
//!
//! One lock makes every operation trivially atomic. It is held for well under a microsecond
//! per call (a hash lookup and a few field writes), so it is not what limits throughput; see
//! BENCHMARKS.md. State does not survive a restart (presence would be stale after one anyway).

use std::collections::{BTreeSet, HashMap};

use async_trait::async_trait;
use parking_lot::Mutex;

use super::record::RoomRecord;
use super::{
    AudienceOutcome, ChangeListener, CreateOutcome, CustomOutcome, DestroyOutcome, JoinOutcome,
    JoinRequest, LeaveOutcome, Listeners, Message, MessageOutcome, RoomStore, StoreResult,
    StreamReport, SweepReport,
};
use crate::model::{Audience, CustomOp, Event, RoomKey, RoomType, RoomView};

#[derive(Debug, Default)]
pub struct EmbeddedStore {
    inner: Mutex<Inner>,
}

impl EmbeddedStore {
    pub fn new() -> Self {
        Self::default()
    }
}

#[derive(Debug, Default)]
struct Inner {
    /// Told of each write that recorded events.
    listeners: Listeners,
    rooms: HashMap<RoomKey, RoomRecord>,
    /// Active rooms of each type by (creation time, roomID): the room list's order.
    listing: [BTreeSet<(u64, String)>; 3],
    /// Rooms that had a member publishing each stream: where relay reports look. Entries are
    /// checked on use and pruned by the sweep.
    streams: HashMap<String, BTreeSet<RoomKey>>,
}

impl Inner {
    /// Runs one write on a room's slot after settling it, keeping the room list in step.
    fn write<R>(
        &mut self,
        key: &RoomKey,
        now_ms: u64,
        report: &mut SweepReport,
        apply: impl FnOnce(&mut RoomRecord) -> R,
    ) -> R {
        let record = self.rooms.entry(key.clone()).or_default();
        let listed_before = record.listed_at();
        let seq_before = record.last_seq;
        record.settle(key.room_type, now_ms, usize::MAX, report);
        let result = apply(record);
        record.flush_pusher_change(now_ms);
        let last_seq = (record.last_seq != seq_before).then_some(record.last_seq);
        let listed_after = record.listed_at();
        let forget = record.state.is_none() && record.events.is_empty();
        if listed_before != listed_after {
            let listing = &mut self.listing[key.room_type.index()];
            if let Some(t) = listed_before {
                listing.remove(&(t, key.room_id.clone()));
            }
            if let Some(t) = listed_after {
                listing.insert((t, key.room_id.clone()));
            }
        }
        if forget {
            self.rooms.remove(key);
        }
        if let Some(last_seq) = last_seq {
            self.listeners.notify(key, last_seq);
        }
        result
    }

    fn write_now<R>(
        &mut self,
        key: &RoomKey,
        now_ms: u64,
        apply: impl FnOnce(&mut RoomRecord) -> R,
    ) -> R {
        self.write(key, now_ms, &mut SweepReport::default(), apply)
    }
}

#[async_trait]
impl RoomStore for EmbeddedStore {
    async fn create_room(
        &self,
        key: &RoomKey,
        room_info: &str,
        now_ms: u64,
    ) -> StoreResult<CreateOutcome> {
        Ok(self
            .inner
            .lock()
            .write_now(key, now_ms, |r| r.create(room_info, now_ms)))
    }

    async fn join(&self, request: JoinRequest) -> StoreResult<JoinOutcome> {
        let (key, now_ms) = (request.key.clone(), request.now_ms);
        let stream = request.member.stream_id.clone();
        let mut inner = self.inner.lock();
        let outcome = inner.write_now(&key, now_ms, |r| r.join(request));
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
        let member = inner
            .rooms
            .get_mut(key)
            .and_then(|r| r.state.as_mut())
            .filter(|s| s.creator.is_some())
            .and_then(|s| s.members.iter_mut().find(|m| m.user_id == user_id));
        match member {
            Some(m) if m.is_alive(now_ms) => {
                m.alive_until_ms = m.alive_until_ms.max(alive_until_ms);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn leave(&self, key: &RoomKey, user_id: &str, now_ms: u64) -> StoreResult<LeaveOutcome> {
        Ok(self
            .inner
            .lock()
            .write_now(key, now_ms, |r| r.leave(key.room_type, user_id, now_ms)))
    }

    async fn destroy_room(
        &self,
        key: &RoomKey,
        user_id: &str,
        now_ms: u64,
    ) -> StoreResult<DestroyOutcome> {
        Ok(self
            .inner
            .lock()
            .write_now(key, now_ms, |r| r.destroy(user_id, now_ms)))
    }

    async fn room(&self, key: &RoomKey, now_ms: u64) -> StoreResult<Option<RoomView>> {
        Ok(self
            .inner
            .lock()
            .rooms
            .get(key)
            .and_then(|r| r.view(key, now_ms)))
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
        Ok(self
            .inner
            .lock()
            .write_now(key, now_ms, |r| r.add_audience(audience, capacity, now_ms)))
    }

    async fn remove_audience(
        &self,
        key: &RoomKey,
        user_id: &str,
        now_ms: u64,
    ) -> StoreResult<bool> {
        Ok(self
            .inner
            .lock()
            .write_now(key, now_ms, |r| r.remove_audience(user_id, now_ms)))
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
        field: &str,
        op: CustomOp,
        now_ms: u64,
    ) -> StoreResult<CustomOutcome> {
        Ok(self
            .inner
            .lock()
            .write_now(key, now_ms, |r| r.update_custom(field, op, now_ms)))
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
        let mut still_there = BTreeSet::new();
        for key in keys {
            let (n, has_stream) = inner.write_now(&key, now_ms, |record| {
                let n = record.report_stream(key.room_type, stream_id, report, now_ms);
                (n, record.has_stream(stream_id))
            });
            touched += n;
            if has_stream {
                still_there.insert(key);
            }
        }
        if still_there.is_empty() {
            inner.streams.remove(stream_id);
        } else {
            inner.streams.insert(stream_id.to_owned(), still_there);
        }
        Ok(touched)
    }

    async fn send(
        &self,
        key: &RoomKey,
        message: Message,
        now_ms: u64,
    ) -> StoreResult<MessageOutcome> {
        Ok(self
            .inner
            .lock()
            .write_now(key, now_ms, |r| r.send(message, now_ms)))
    }

    async fn last_seq(&self, key: &RoomKey) -> StoreResult<u64> {
        Ok(self.inner.lock().rooms.get(key).map_or(0, |r| r.last_seq))
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
                r.events
                    .iter()
                    .filter(|e| e.seq > after_seq)
                    .take(limit as usize)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn sweep(&self, now_ms: u64) -> StoreResult<SweepReport> {
        let mut inner = self.inner.lock();
        let keys: Vec<RoomKey> = inner.rooms.keys().cloned().collect();
        let mut report = SweepReport::default();
        for key in keys {
            inner.write(&key, now_ms, &mut report, |record| {
                record.drop_old_events(now_ms)
            });
        }
        let Inner { rooms, streams, .. } = &mut *inner;
        streams.retain(|stream, keys| {
            keys.retain(|key| rooms.get(key).is_some_and(|r| r.has_stream(stream)));
            !keys.is_empty()
        });
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    crate::room_store_suite!(|| async { Arc::new(EmbeddedStore::new()) as Arc<dyn RoomStore> });
}
