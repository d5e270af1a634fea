//! The one-machine store: every room in memory behind one lock.
//!
//! One lock makes every operation trivially atomic. It is held for well under a microsecond
//! per call (a hash lookup and a few field writes), so it is not what limits throughput; see
//! BENCHMARKS.md. State does not survive a restart (presence would be stale after one anyway).

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use async_trait::async_trait;
use parking_lot::Mutex;

use super::{
    AudienceOutcome, CreateOutcome, DestroyOutcome, JoinOutcome, JoinRequest, LeaveOutcome,
    RoomStore, StoreResult, SweepReport,
};
use crate::model::{
    Audience, CustomOp, DissolveReason, EVENT_RETENTION_MS, Event, EventKind,
    INACTIVE_ROOM_RECLAIM_MS, LeaveReason, MAX_EVENTS_PER_ROOM, Member, RoomKey, RoomType,
    RoomView, room_is_present,
};

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
    rooms: HashMap<RoomKey, RoomRecord>,
    /// Active rooms of each type by (creation time, roomID): the room list's order.
    listing: [BTreeSet<(u64, String)>; 3],
}

/// A room's slot: the room while it exists, and its event log, which outlives it so that
/// clients can still read how it ended, and whose numbering continues if the id is reused.
#[derive(Debug, Default)]
struct RoomRecord {
    state: Option<RoomState>,
    last_seq: u64,
    events: VecDeque<Event>,
}

#[derive(Debug)]
struct RoomState {
    room_info: String,
    /// `None` while the room is inactive (created, nobody joined yet).
    creator: Option<String>,
    created_at_ms: u64,
    custom: BTreeMap<String, i64>,
    members: Vec<Member>,
    audiences: Vec<Audience>,
}

impl RoomRecord {
    fn record(&mut self, at_ms: u64, kind: EventKind) {
        self.last_seq += 1;
        self.events.push_back(Event {
            seq: self.last_seq,
            at_ms,
            kind,
        });
        if self.events.len() > MAX_EVENTS_PER_ROOM {
            self.events.pop_front();
        }
    }

    /// The creation time, when the room is active (and so belongs in the room list).
    fn listed_at(&self) -> Option<u64> {
        self.state
            .as_ref()
            .filter(|s| s.creator.is_some())
            .map(|s| s.created_at_ms)
    }

    fn end(&mut self, now_ms: u64, reason: DissolveReason) {
        self.state = None;
        self.record(now_ms, EventKind::RoomDissolved { reason });
    }

    /// Applies time: reclaims a stale inactive room, evicts expired members and viewers, and
    /// ends the room when the presence rule says it is gone.
    fn settle(&mut self, room_type: RoomType, now_ms: u64, report: &mut SweepReport) {
        let Some(state) = self.state.as_mut() else {
            return;
        };
        let Some(creator) = state.creator.clone() else {
            if now_ms >= state.created_at_ms + INACTIVE_ROOM_RECLAIM_MS {
                self.state = None;
                report.reclaimed_rooms += 1;
            }
            return;
        };
        let (live, mut expired): (Vec<_>, Vec<_>) = std::mem::take(&mut state.members)
            .into_iter()
            .partition(|m| m.is_alive(now_ms));
        state.members = live;
        // Departures are recorded in the order they happened.
        expired.sort_by_key(|m| m.alive_until_ms);
        let (live, expired_viewers): (Vec<_>, Vec<_>) = std::mem::take(&mut state.audiences)
            .into_iter()
            .partition(|a| a.is_alive(now_ms));
        state.audiences = live;
        let present = room_is_present(
            room_type,
            &creator,
            &state.members.iter().collect::<Vec<_>>(),
        );
        for m in expired {
            report.evicted_members += 1;
            self.record(
                now_ms,
                EventKind::MemberLeft {
                    user_id: m.user_id,
                    reason: LeaveReason::Timeout,
                },
            );
        }
        for a in expired_viewers {
            report.evicted_audiences += 1;
            self.record(
                now_ms,
                EventKind::AudienceLeft {
                    user_id: a.user_id,
                    reason: LeaveReason::Timeout,
                },
            );
        }
        if !present {
            report.dissolved_rooms += 1;
            let reason = if room_type.creator_leave_dissolves() {
                DissolveReason::CreatorTimeout
            } else {
                DissolveReason::Empty
            };
            self.end(now_ms, reason);
        }
    }

    fn drop_old_events(&mut self, now_ms: u64) {
        while self
            .events
            .front()
            .is_some_and(|e| e.at_ms + EVENT_RETENTION_MS < now_ms)
        {
            self.events.pop_front();
        }
    }

    /// The present room as readers see it, without changing anything.
    fn view(&self, key: &RoomKey, now_ms: u64) -> Option<RoomView> {
        let state = self.state.as_ref()?;
        let creator = state.creator.as_deref()?;
        let live: Vec<&Member> = state
            .members
            .iter()
            .filter(|m| m.is_alive(now_ms))
            .collect();
        if !room_is_present(key.room_type, creator, &live) {
            return None;
        }
        Some(RoomView {
            key: key.clone(),
            room_info: state.room_info.clone(),
            creator: creator.to_owned(),
            created_at_ms: state.created_at_ms,
            custom: state.custom.clone(),
            members: live.into_iter().cloned().collect(),
            audience_count: state
                .audiences
                .iter()
                .filter(|a| a.is_alive(now_ms))
                .count() as u32,
        })
    }

    /// The room's state when it is active (after `settle`, active means present).
    fn active(&mut self) -> Option<&mut RoomState> {
        self.state.as_mut().filter(|s| s.creator.is_some())
    }
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
        record.settle(key.room_type, now_ms, report);
        let result = apply(record);
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
        Ok(self.inner.lock().write_now(key, now_ms, |record| {
            if record.state.is_some() {
                return CreateOutcome::Exists;
            }
            record.state = Some(RoomState {
                room_info: room_info.to_owned(),
                creator: None,
                created_at_ms: now_ms,
                custom: BTreeMap::new(),
                members: Vec::new(),
                audiences: Vec::new(),
            });
            CreateOutcome::Created
        }))
    }

    async fn join(&self, request: JoinRequest) -> StoreResult<JoinOutcome> {
        let JoinRequest {
            key,
            member,
            capacity,
            create_with_info,
            room_info,
            now_ms,
        } = request;
        Ok(self.inner.lock().write_now(&key, now_ms, move |record| {
            let joined = EventKind::MemberJoined {
                user_id: member.user_id.clone(),
                user_name: member.user_name.clone(),
                user_avatar: member.user_avatar.clone(),
            };
            let Some(state) = record.state.as_mut() else {
                let Some(info) = create_with_info else {
                    return JoinOutcome::NoRoom;
                };
                record.state = Some(RoomState {
                    room_info: info,
                    creator: Some(member.user_id.clone()),
                    created_at_ms: now_ms,
                    custom: BTreeMap::new(),
                    members: vec![member],
                    audiences: Vec::new(),
                });
                record.record(now_ms, joined);
                return JoinOutcome::Joined {
                    created: true,
                    updated: false,
                };
            };
            if state.creator.is_none() {
                state.creator = Some(member.user_id.clone());
                if let Some(info) = room_info {
                    state.room_info = info;
                }
            }
            if let Some(existing) = state
                .members
                .iter_mut()
                .find(|m| m.user_id == member.user_id)
            {
                *existing = Member {
                    joined_at_ms: existing.joined_at_ms,
                    ..member
                };
                let updated = EventKind::MemberUpdated {
                    user_id: existing.user_id.clone(),
                    user_name: existing.user_name.clone(),
                    user_avatar: existing.user_avatar.clone(),
                };
                record.record(now_ms, updated);
                return JoinOutcome::Joined {
                    created: false,
                    updated: true,
                };
            }
            if state.members.len() >= capacity as usize {
                return JoinOutcome::Full;
            }
            state.members.push(member);
            record.record(now_ms, joined);
            JoinOutcome::Joined {
                created: false,
                updated: false,
            }
        }))
    }

    async fn heartbeat(
        &self,
        key: &RoomKey,
        user_id: &str,
        alive_until_ms: u64,
        now_ms: u64,
    ) -> StoreResult<bool> {
        let mut inner = self.inner.lock();
        let Some(state) = inner.rooms.get_mut(key).and_then(|r| r.state.as_mut()) else {
            return Ok(false);
        };
        let Some(creator) = state.creator.as_deref() else {
            return Ok(false);
        };
        if key.room_type.creator_leave_dissolves()
            && !state
                .members
                .iter()
                .any(|m| m.user_id == creator && m.is_alive(now_ms))
        {
            return Ok(false);
        }
        match state.members.iter_mut().find(|m| m.user_id == user_id) {
            Some(m) if m.is_alive(now_ms) => {
                m.alive_until_ms = m.alive_until_ms.max(alive_until_ms);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn leave(&self, key: &RoomKey, user_id: &str, now_ms: u64) -> StoreResult<LeaveOutcome> {
        Ok(self.inner.lock().write_now(key, now_ms, |record| {
            let Some(state) = record.active() else {
                return LeaveOutcome::NotMember;
            };
            let Some(pos) = state.members.iter().position(|m| m.user_id == user_id) else {
                return LeaveOutcome::NotMember;
            };
            state.members.remove(pos);
            let creator_left = state.creator.as_deref() == Some(user_id);
            let empty = state.members.is_empty();
            record.record(
                now_ms,
                EventKind::MemberLeft {
                    user_id: user_id.to_owned(),
                    reason: LeaveReason::Left,
                },
            );
            let reason = if key.room_type.creator_leave_dissolves() && creator_left {
                Some(DissolveReason::CreatorLeft)
            } else if empty {
                Some(DissolveReason::Empty)
            } else {
                None
            };
            if let Some(reason) = reason {
                record.end(now_ms, reason);
            }
            LeaveOutcome::Left {
                dissolved: reason.is_some(),
            }
        }))
    }

    async fn destroy_room(
        &self,
        key: &RoomKey,
        user_id: &str,
        now_ms: u64,
    ) -> StoreResult<DestroyOutcome> {
        Ok(self.inner.lock().write_now(key, now_ms, |record| {
            let Some(state) = record.active() else {
                return DestroyOutcome::NoRoom;
            };
            if state.creator.as_deref() != Some(user_id) {
                return DestroyOutcome::NotCreator;
            }
            record.end(now_ms, DissolveReason::Destroyed);
            DestroyOutcome::Destroyed
        }))
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
        Ok(self.inner.lock().write_now(key, now_ms, |record| {
            let Some(state) = record.active() else {
                return AudienceOutcome::NoRoom;
            };
            if let Some(existing) = state
                .audiences
                .iter_mut()
                .find(|a| a.user_id == audience.user_id)
            {
                existing.user_info = audience.user_info;
                existing.alive_until_ms = audience.alive_until_ms;
                return AudienceOutcome::Added;
            }
            if state.audiences.len() >= capacity as usize {
                return AudienceOutcome::Full;
            }
            let user_id = audience.user_id.clone();
            state.audiences.push(audience);
            record.record(now_ms, EventKind::AudienceJoined { user_id });
            AudienceOutcome::Added
        }))
    }

    async fn remove_audience(
        &self,
        key: &RoomKey,
        user_id: &str,
        now_ms: u64,
    ) -> StoreResult<bool> {
        Ok(self.inner.lock().write_now(key, now_ms, |record| {
            let Some(state) = record.active() else {
                return false;
            };
            let Some(pos) = state.audiences.iter().position(|a| a.user_id == user_id) else {
                return false;
            };
            state.audiences.remove(pos);
            record.record(
                now_ms,
                EventKind::AudienceLeft {
                    user_id: user_id.to_owned(),
                    reason: LeaveReason::Left,
                },
            );
            true
        }))
    }

    async fn audiences(&self, key: &RoomKey, now_ms: u64) -> StoreResult<Option<Vec<Audience>>> {
        let inner = self.inner.lock();
        let Some(record) = inner.rooms.get(key) else {
            return Ok(None);
        };
        if record.view(key, now_ms).is_none() {
            return Ok(None);
        }
        Ok(record.state.as_ref().map(|s| {
            s.audiences
                .iter()
                .filter(|a| a.is_alive(now_ms))
                .cloned()
                .collect()
        }))
    }

    async fn update_custom(
        &self,
        key: &RoomKey,
        field: &str,
        op: CustomOp,
        now_ms: u64,
    ) -> StoreResult<Option<BTreeMap<String, i64>>> {
        Ok(self.inner.lock().write_now(key, now_ms, |record| {
            let state = record.active()?;
            let value = state.custom.entry(field.to_owned()).or_insert(0);
            *value = op.apply(*value);
            let value = *value;
            let custom = state.custom.clone();
            record.record(
                now_ms,
                EventKind::CustomChanged {
                    field: field.to_owned(),
                    value,
                },
            );
            Some(custom)
        }))
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
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    crate::room_store_suite!(|| async { Arc::new(EmbeddedStore::new()) as Arc<dyn RoomStore> });
}
