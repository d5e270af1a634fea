//! One room's slot, and the room rules as operations on it. Every store runs these same
//! operations: the embedded store on the record it keeps in memory, the DynamoDB store on a
//! record it has just read, writing back the difference in one conditional transaction. So the
//! rules cannot differ between stores.
//!
//! Every operation first [`settle`](RoomRecord::settle)s the slot (applies time), then acts,
//! and records its events with the next sequence numbers.

use std::collections::{BTreeMap, VecDeque};

use super::{
    AudienceOutcome, CreateOutcome, DestroyOutcome, JoinOutcome, JoinRequest, LeaveOutcome,
    Message, MessageOutcome, StreamReport, SweepReport,
};
use crate::model::{
    Audience, DissolveReason, Event, EventKind, INACTIVE_ROOM_RECLAIM_MS, LeaveReason, Member,
    RoomKey, RoomType, RoomView, room_is_present,
};

/// A room's slot: the room while it exists, and its event numbering (and, in memory, its event
/// log), which outlive it so that clients can still read how it ended and numbering continues
/// if the id is reused.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RoomRecord {
    state: Option<RoomState>,
    last_seq: u64,
    /// Events recorded; the DynamoDB store loads none and writes the new ones.
    events: VecDeque<Event>,
    /// A member event was recorded and no `PusherChange` has followed it yet (not stored).
    pusher_change_pending: bool,
    /// About how many bytes `events` holds (not stored): what the embedded store bounds.
    event_bytes: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomState {
    room_info: String,
    /// `None` while the room is inactive (created, nobody joined yet).
    creator: Option<String>,
    created_at_ms: u64,
    custom: BTreeMap<String, i64>,
    /// In join order. May hold expired members that a capped settle left for later; every rule
    /// counts live members only.
    members: Vec<Member>,
    audiences: Vec<Audience>,
    /// `create_room` asked for it to be recorded (where the room type records on request).
    record: bool,
}

impl RoomState {
    fn new(room_info: String, creator: Option<String>, now_ms: u64) -> Self {
        Self {
            room_info,
            creator,
            created_at_ms: now_ms,
            custom: BTreeMap::new(),
            members: Vec::new(),
            audiences: Vec::new(),
            record: false,
        }
    }

    fn live_members(&self, now_ms: u64) -> impl Iterator<Item = &Member> {
        self.members.iter().filter(move |m| m.is_alive(now_ms))
    }
}

impl RoomRecord {
    /// Whether `user_id` has a member or viewer entry (live or not yet evicted).
    pub fn has_participant(&self, user_id: &str) -> bool {
        self.state.as_ref().is_some_and(|s| {
            s.members.iter().any(|m| m.user_id == user_id)
                || s.audiences.iter().any(|a| a.user_id == user_id)
        })
    }

    /// The streams its members publish.
    pub fn streams(&self) -> Vec<String> {
        self.state.as_ref().map_or_else(Vec::new, |s| {
            s.members.iter().map(|m| m.stream_id.clone()).collect()
        })
    }

    /// Every write, in every store: apply time ([`settle`](Self::settle), evicting at most
    /// `max_evictions` expired members and viewers of each kind), run `rule`, and end with one
    /// `PusherChange` after its member events.
    pub fn write<R>(
        &mut self,
        room_type: RoomType,
        now_ms: u64,
        max_evictions: usize,
        report: &mut SweepReport,
        rule: impl FnOnce(&mut Self) -> R,
    ) -> R {
        self.settle(room_type, now_ms, max_evictions, report);
        let result = rule(self);
        self.flush_pusher_change(now_ms);
        result
    }

    /// Ends a write: one `PusherChange` after its member events, unless the room ended (then
    /// `RoomDissolved` is its last event).
    fn flush_pusher_change(&mut self, now_ms: u64) {
        if std::mem::take(&mut self.pusher_change_pending) && self.state.is_some() {
            self.record(now_ms, EventKind::PusherChange);
        }
    }

    /// The creation time, when the room is active (and so belongs in the room list).
    pub fn listed_at(&self) -> Option<u64> {
        self.state
            .as_ref()
            .filter(|s| s.creator.is_some())
            .map(|s| s.created_at_ms)
    }

    fn end(&mut self, now_ms: u64, reason: DissolveReason) {
        self.state = None;
        self.record(now_ms, EventKind::RoomDissolved { reason });
    }

    /// The present room as readers see it, without changing anything.
    pub fn view(&self, key: &RoomKey, now_ms: u64) -> Option<RoomView> {
        let state = self.state.as_ref()?;
        let creator = state.creator.as_deref()?;
        let live: Vec<&Member> = state.live_members(now_ms).collect();
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

    /// Live viewers of the present room.
    pub fn live_audiences(&self, key: &RoomKey, now_ms: u64) -> Option<Vec<Audience>> {
        self.view(key, now_ms)?;
        let state = self.state.as_ref()?;
        Some(
            state
                .audiences
                .iter()
                .filter(|a| a.is_alive(now_ms))
                .cloned()
                .collect(),
        )
    }

    /// The room's state when it is active (after `settle`, active means present).
    fn active(&mut self) -> Option<&mut RoomState> {
        self.state.as_mut().filter(|s| s.creator.is_some())
    }

    /// `create_room`: an inactive room, to be recorded when `record`.
    pub fn create(&mut self, room_info: &str, record: bool, now_ms: u64) -> CreateOutcome {
        if self.state.is_some() {
            return CreateOutcome::Exists;
        }
        let mut state = RoomState::new(room_info.to_owned(), None, now_ms);
        state.record = record;
        self.state = Some(state);
        CreateOutcome::Created
    }

    /// Whether the room, present or created and not yet reclaimed, asked to be recorded;
    /// `None`: there is no such room.
    pub fn recorded(&self, key: &RoomKey, now_ms: u64) -> Option<bool> {
        let state = self.state.as_ref()?;
        let here = match state.creator {
            None => now_ms < state.created_at_ms + INACTIVE_ROOM_RECLAIM_MS,
            Some(_) => self.view(key, now_ms).is_some(),
        };
        here.then_some(state.record)
    }

    pub fn join(&mut self, request: JoinRequest) -> JoinOutcome {
        let JoinRequest {
            member,
            capacity,
            create_with_info,
            room_info,
            now_ms,
            record,
            ..
        } = request;
        let room_recorded = self.state.as_ref().is_some_and(|s| s.record);
        if record.is_some_and(|stream_recorded| stream_recorded != room_recorded) {
            return JoinOutcome::RecordMismatch { room_recorded };
        }
        let joined = EventKind::MemberJoined {
            user_id: member.user_id.clone(),
            user_name: member.user_name.clone(),
            user_avatar: member.user_avatar.clone(),
        };
        let Some(state) = self.state.as_mut() else {
            let Some(info) = create_with_info else {
                return JoinOutcome::NoRoom;
            };
            let mut state = RoomState::new(info, Some(member.user_id.clone()), now_ms);
            state.members.push(member);
            self.state = Some(state);
            self.record(now_ms, joined);
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
        if let Some(pos) = state
            .members
            .iter()
            .position(|m| m.user_id == member.user_id)
        {
            if state.members[pos].is_alive(now_ms) {
                let existing = &mut state.members[pos];
                // The relay's report on the stream holds while the stream stays the same.
                let stream_live_until_ms = if existing.stream_id == member.stream_id {
                    existing.stream_live_until_ms
                } else {
                    0
                };
                *existing = Member {
                    joined_at_ms: existing.joined_at_ms,
                    stream_live_until_ms,
                    ..member
                };
                let updated = EventKind::MemberUpdated {
                    user_id: existing.user_id.clone(),
                    user_name: existing.user_name.clone(),
                    user_avatar: existing.user_avatar.clone(),
                };
                self.record(now_ms, updated);
                return JoinOutcome::Joined {
                    created: false,
                    updated: true,
                };
            }
            // An expired entry a capped settle left behind: it leaves now, then joins anew.
            let expired = state.members.remove(pos);
            self.record(
                now_ms,
                EventKind::MemberLeft {
                    user_id: expired.user_id,
                    reason: LeaveReason::Timeout,
                },
            );
        }
        let state = self.state.as_mut().expect("checked above");
        if state.live_members(now_ms).count() >= capacity as usize {
            return JoinOutcome::Full;
        }
        state.members.push(member);
        self.record(now_ms, joined);
        JoinOutcome::Joined {
            created: false,
            updated: false,
        }
    }

    /// A member's heartbeat: see [`heartbeat_deadline`]. Whether the user is (still) a live
    /// member of the active room.
    pub fn heartbeat(&mut self, user_id: &str, alive_until_ms: u64, now_ms: u64) -> bool {
        let member = self
            .active()
            .and_then(|s| s.members.iter_mut().find(|m| m.user_id == user_id));
        let Some(member) = member else {
            return false;
        };
        match heartbeat_deadline(member.alive_until_ms, alive_until_ms, now_ms) {
            Some(until) => {
                member.alive_until_ms = until;
                true
            }
            None => false,
        }
    }

    pub fn leave(&mut self, room_type: RoomType, user_id: &str, now_ms: u64) -> LeaveOutcome {
        let Some(state) = self.active() else {
            return LeaveOutcome::NotMember;
        };
        let Some(pos) = state
            .members
            .iter()
            .position(|m| m.user_id == user_id && m.is_alive(now_ms))
        else {
            return LeaveOutcome::NotMember;
        };
        state.members.remove(pos);
        let creator_left = state.creator.as_deref() == Some(user_id);
        let empty = state.live_members(now_ms).next().is_none();
        self.record(
            now_ms,
            EventKind::MemberLeft {
                user_id: user_id.to_owned(),
                reason: LeaveReason::Left,
            },
        );
        let reason = if room_type.creator_leave_dissolves() && creator_left {
            Some(DissolveReason::CreatorLeft)
        } else if empty {
            Some(DissolveReason::Empty)
        } else {
            None
        };
        if let Some(reason) = reason {
            self.end(now_ms, reason);
        }
        LeaveOutcome::Left {
            dissolved: reason.is_some(),
        }
    }

    pub fn destroy(&mut self, user_id: &str, now_ms: u64) -> DestroyOutcome {
        let Some(state) = self.active() else {
            return DestroyOutcome::NoRoom;
        };
        if state.creator.as_deref() != Some(user_id) {
            return DestroyOutcome::NotCreator;
        }
        self.end(now_ms, DissolveReason::Destroyed);
        DestroyOutcome::Destroyed
    }

    pub fn add_audience(
        &mut self,
        audience: Audience,
        capacity: u32,
        now_ms: u64,
    ) -> AudienceOutcome {
        let Some(state) = self.active() else {
            return AudienceOutcome::NoRoom;
        };
        if let Some(existing) = state
            .audiences
            .iter_mut()
            .find(|a| a.user_id == audience.user_id && a.is_alive(now_ms))
        {
            existing.user_info = audience.user_info;
            existing.alive_until_ms = audience.alive_until_ms;
            return AudienceOutcome::Added;
        }
        state.audiences.retain(|a| a.user_id != audience.user_id);
        if state
            .audiences
            .iter()
            .filter(|a| a.is_alive(now_ms))
            .count()
            >= capacity as usize
        {
            return AudienceOutcome::Full;
        }
        let user_id = audience.user_id.clone();
        state.audiences.push(audience);
        self.record(now_ms, EventKind::AudienceJoined { user_id });
        AudienceOutcome::Added
    }

    pub fn remove_audience(&mut self, user_id: &str, now_ms: u64) -> bool {
        let Some(state) = self.active() else {
            return false;
        };
        let Some(pos) = state
            .audiences
            .iter()
            .position(|a| a.user_id == user_id && a.is_alive(now_ms))
        else {
            return false;
        };
        state.audiences.remove(pos);
        self.record(
            now_ms,
            EventKind::AudienceLeft {
                user_id: user_id.to_owned(),
                reason: LeaveReason::Left,
            },
        );
        true
    }

    /// Records a message from a live member or viewer: chat (to the room) or link-mic (to one
    /// live member or viewer). A creator's link-mic `kickout` of a live member also removes it.
    pub fn send(&mut self, message: Message, now_ms: u64) -> MessageOutcome {
        let Some(state) = self.active() else {
            return MessageOutcome::NoRoom;
        };
        let present = |state: &RoomState, user: &str| {
            state.live_members(now_ms).any(|m| m.user_id == user)
                || state
                    .audiences
                    .iter()
                    .any(|a| a.user_id == user && a.is_alive(now_ms))
        };
        // The relay's news of a recording is from nobody in the room.
        let from_relay = matches!(message.kind, EventKind::RecordingReady { .. });
        if !from_relay && !present(state, &message.from) {
            return MessageOutcome::NotPresent;
        }
        let kick = match message.kind.addressee() {
            Some(to) if !present(state, to) => return MessageOutcome::NoRecipient,
            Some(to) => {
                let is_creator = state.creator.as_deref() == Some(message.from.as_str());
                let position = state
                    .members
                    .iter()
                    .position(|m| m.user_id == to && m.is_alive(now_ms));
                match position {
                    Some(pos) if message.kickout && is_creator && to != message.from => {
                        Some(state.members.remove(pos).user_id)
                    }
                    _ => None,
                }
            }
            None => None,
        };
        self.record(now_ms, message.kind);
        let seq = self.last_seq;
        if let Some(user_id) = kick {
            self.record(
                now_ms,
                EventKind::MemberLeft {
                    user_id,
                    reason: LeaveReason::Kicked,
                },
            );
        }
        MessageOutcome::Sent { seq }
    }

    /// Applies a relay report to the live members of an active room publishing `stream_id`;
    /// returns how many there were.
    pub fn report_stream(
        &mut self,
        room_type: RoomType,
        stream_id: &str,
        report: StreamReport,
        now_ms: u64,
    ) -> u32 {
        let Some(state) = self.active() else {
            return 0;
        };
        let mut touched = 0;
        let mut changes = Vec::new();
        for m in state
            .members
            .iter_mut()
            .filter(|m| m.stream_id == stream_id && m.is_alive(now_ms))
        {
            let was_live = m.stream_live(now_ms);
            match report {
                StreamReport::Live { keep_alive_ms } => {
                    let until = now_ms + keep_alive_ms[room_type.index()];
                    if let Some(alive) = heartbeat_deadline(m.alive_until_ms, until, now_ms) {
                        m.alive_until_ms = alive;
                    }
                    m.stream_live_until_ms = until;
                }
                StreamReport::Stopped => m.stream_live_until_ms = 0,
            }
            if was_live != m.stream_live(now_ms) {
                changes.push((m.user_id.clone(), !was_live));
            }
            touched += 1;
        }
        for (user_id, up) in changes {
            self.record_stream_change(user_id, stream_id, up, now_ms);
        }
        touched
    }

    /// Records that a member's stream went live (`up`) or stopped, when the member is still
    /// present with that stream (the DynamoDB store calls this after its own update).
    pub fn stream_changed(&mut self, user_id: &str, stream_id: &str, up: bool, now_ms: u64) {
        let present = self.active().is_some_and(|s| {
            s.live_members(now_ms)
                .any(|m| m.user_id == user_id && m.stream_id == stream_id)
        });
        if present {
            self.record_stream_change(user_id.to_owned(), stream_id, up, now_ms);
        }
    }

    fn record_stream_change(&mut self, user_id: String, stream_id: &str, up: bool, now_ms: u64) {
        let stream = stream_id.to_owned();
        let kind = if up {
            EventKind::StreamUp { user_id, stream }
        } else {
            EventKind::StreamDown { user_id, stream }
        };
        self.record(now_ms, kind);
    }

    /// Whether the room has a member (live or not yet evicted) publishing `stream_id`.
    pub fn has_stream(&self, stream_id: &str) -> bool {
        self.state
            .as_ref()
            .is_some_and(|s| s.members.iter().any(|m| m.stream_id == stream_id))
    }
}

mod custom;
mod events;
mod parts;
mod time;

pub use time::heartbeat_deadline;
#[cfg(test)]
mod tests;
