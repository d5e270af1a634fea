//! What the embedded store holds behind its lock: the rooms and the indexes kept in step with
//! them (the room list's order, the streams relay reports name, the sweeper's deadline queue,
//! who is in which room, the numbering of freed slots).

use std::collections::{BTreeSet, HashMap, HashSet};

use super::super::record::RoomRecord;
use super::super::{Listeners, StoreLimits, SweepReport};
use crate::model::{EVENT_RETENTION_MS, EventKind, RoomKey};

/// Event bytes an ended room keeps for its readers (at least its last event, `roomClosed`).
pub(super) const CLOSED_ROOM_EVENT_BYTES: usize = 4 * 1024;

#[derive(Debug, Default)]
pub(super) struct Inner {
    /// Told of each write that recorded events.
    pub(super) listeners: Listeners,
    pub(super) rooms: HashMap<RoomKey, RoomRecord>,
    /// Active rooms of each type by (creation time, roomID): the room list's order.
    pub(super) listing: [BTreeSet<(u64, String)>; 3],
    /// Rooms with a member publishing each stream: where relay reports look.
    pub(super) streams: HashMap<String, BTreeSet<RoomKey>>,
    /// Rooms by when time next changes them: the sweeper's queue. A heartbeat moves a
    /// deadline later without touching this, so an entry may come early; the visit then finds
    /// nothing to do and files the room again.
    pub(super) due: BTreeSet<(u64, RoomKey)>,
    pub(super) due_at: HashMap<RoomKey, u64>,
    /// Who has a member or viewer entry where, both ways.
    pub(super) rooms_of_user: HashMap<String, HashSet<RoomKey>>,
    pub(super) users_of_room: HashMap<RoomKey, HashSet<String>>,
    /// Inactive rooms by who created them (held against their room limit).
    pub(super) pending_owner: HashMap<RoomKey, String>,
    pub(super) pending_of_user: HashMap<String, usize>,
    /// Rooms that exist (inactive or active).
    pub(super) live_rooms: usize,
    /// The last event number of a freed slot, kept for the event retention so that a reused
    /// roomID numbers on (EV-1): a few dozen bytes where the slot held the room and its events.
    pub(super) tombstones: HashMap<RoomKey, u64>,
}

impl Inner {
    /// Rooms `user_id` holds against its limit.
    pub(super) fn held_by(&self, user_id: &str) -> usize {
        self.rooms_of_user.get(user_id).map_or(0, HashSet::len)
            + self.pending_of_user.get(user_id).copied().unwrap_or(0)
    }

    pub(super) fn exists(&self, key: &RoomKey) -> bool {
        self.rooms.get(key).is_some_and(|r| r.state().is_some())
    }

    pub(super) fn participates(&self, user_id: &str, key: &RoomKey) -> bool {
        self.rooms_of_user
            .get(user_id)
            .is_some_and(|rooms| rooms.contains(key))
    }

    /// Runs one write on a room's slot after settling it, keeping every index in step.
    pub(super) fn write<R>(
        &mut self,
        limits: &StoreLimits,
        key: &RoomKey,
        now_ms: u64,
        report: &mut SweepReport,
        apply: impl FnOnce(&mut RoomRecord) -> R,
    ) -> R {
        let tombstone = self.tombstones.remove(key);
        let record = self
            .rooms
            .entry(key.clone())
            .or_insert_with(|| RoomRecord::loaded(None, tombstone.unwrap_or(0)));
        let listed_before = record.listed_at();
        let existed = record.state().is_some();
        let streams_before = record.streams();
        let seq_before = record.last_seq();
        let result = record.write(key.room_type, now_ms, usize::MAX, report, apply);
        record.trim_events(limits.max_event_bytes_per_room);
        let last_seq = (record.last_seq() != seq_before).then_some(record.last_seq());
        let listed_after = record.listed_at();
        let exists = record.state().is_some();
        if existed && !exists {
            // An ended room is kept a while only so that its readers hear it end: its last
            // few events do that (one further behind gets `resync`). Keeping all of them let
            // one user pin gigabytes by opening, filling and leaving rooms in a loop.
            record.trim_events(CLOSED_ROOM_EVENT_BYTES);
            record.compact();
        }
        let still_inactive = record.state().is_some_and(|s| s.creator().is_none());
        let deadline = record.next_deadline(limits.closed_room_keep_ms);
        let forget = !exists && deadline.is_none_or(|d| d <= now_ms);
        // Who came and went, from the events this write recorded.
        let mut arrived = Vec::new();
        let mut departed = Vec::new();
        for event in record.events().iter().filter(|e| e.seq > seq_before) {
            match &event.kind {
                EventKind::MemberJoined { user_id, .. } | EventKind::AudienceJoined { user_id } => {
                    arrived.push(user_id.clone())
                }
                EventKind::MemberLeft { user_id, .. } | EventKind::AudienceLeft { user_id, .. }
                    if !record.has_participant(user_id) =>
                {
                    departed.push(user_id.clone())
                }
                _ => {}
            }
        }
        let streams_after: HashSet<String> = record.streams().into_iter().collect();
        let mut due = deadline;
        if forget {
            let last = record.last_seq();
            self.rooms.remove(key);
            due = None;
            if last > 0 && self.tombstones.len() < limits.max_rooms {
                self.tombstones.insert(key.clone(), last);
                due = Some(now_ms + EVENT_RETENTION_MS);
            }
        }
        for stream in streams_before {
            if !streams_after.contains(&stream)
                && let Some(keys) = self.streams.get_mut(&stream)
            {
                keys.remove(key);
                if keys.is_empty() {
                    self.streams.remove(&stream);
                }
            }
        }
        for user in arrived {
            self.rooms_of_user
                .entry(user.clone())
                .or_default()
                .insert(key.clone());
            self.users_of_room
                .entry(key.clone())
                .or_default()
                .insert(user);
        }
        for user in departed {
            self.leave_index(&user, key);
        }
        if !exists && let Some(users) = self.users_of_room.remove(key) {
            for user in users {
                self.leave_index(&user, key);
            }
        }
        if !still_inactive && let Some(owner) = self.pending_owner.remove(key) {
            self.unpend(&owner);
        }
        match (existed, exists) {
            (false, true) => self.live_rooms += 1,
            (true, false) => self.live_rooms -= 1,
            _ => {}
        }
        if listed_before != listed_after {
            let listing = &mut self.listing[key.room_type.index()];
            if let Some(t) = listed_before {
                listing.remove(&(t, key.room_id.clone()));
            }
            if let Some(t) = listed_after {
                listing.insert((t, key.room_id.clone()));
            }
        }
        self.file_due(key, due);
        if let Some(last_seq) = last_seq {
            self.listeners.notify(key, last_seq);
        }
        result
    }

    pub(super) fn leave_index(&mut self, user: &str, key: &RoomKey) {
        if let Some(rooms) = self.rooms_of_user.get_mut(user) {
            rooms.remove(key);
            if rooms.is_empty() {
                self.rooms_of_user.remove(user);
            }
        }
        if let Some(users) = self.users_of_room.get_mut(key) {
            users.remove(user);
            if users.is_empty() {
                self.users_of_room.remove(key);
            }
        }
    }

    pub(super) fn unpend(&mut self, owner: &str) {
        if let Some(n) = self.pending_of_user.get_mut(owner) {
            *n -= 1;
            if *n == 0 {
                self.pending_of_user.remove(owner);
            }
        }
    }

    /// Files the room in the sweeper's queue at `deadline` (or takes it out).
    pub(super) fn file_due(&mut self, key: &RoomKey, deadline: Option<u64>) {
        let before = self.due_at.get(key).copied();
        if before == deadline {
            return;
        }
        if let Some(t) = before {
            self.due.remove(&(t, key.clone()));
            self.due_at.remove(key);
        }
        if let Some(t) = deadline {
            self.due.insert((t, key.clone()));
            self.due_at.insert(key.clone(), t);
        }
    }

    /// Gives back the room of maps that emptied (a hash map keeps its largest size): after a
    /// wave of rooms has ended, the memory returns to what the remaining ones need.
    pub(super) fn compact(&mut self) {
        fn shrink<K: std::hash::Hash + Eq, V>(map: &mut HashMap<K, V>) {
            if map.capacity() > 64 && map.len() * 4 < map.capacity() {
                map.shrink_to(map.len() * 2);
            }
        }
        shrink(&mut self.rooms);
        shrink(&mut self.streams);
        shrink(&mut self.due_at);
        shrink(&mut self.rooms_of_user);
        shrink(&mut self.users_of_room);
        shrink(&mut self.pending_owner);
        shrink(&mut self.pending_of_user);
        shrink(&mut self.tombstones);
    }

    /// The rooms due by `now_ms`, at most `n`.
    pub(super) fn take_due(&mut self, now_ms: u64, n: usize) -> Vec<RoomKey> {
        let keys: Vec<RoomKey> = self
            .due
            .iter()
            .take_while(|(t, _)| *t <= now_ms)
            .take(n)
            .map(|(_, k)| k.clone())
            .collect();
        for key in &keys {
            if let Some(t) = self.due_at.remove(key) {
                self.due.remove(&(t, key.clone()));
            }
        }
        keys
    }
}
