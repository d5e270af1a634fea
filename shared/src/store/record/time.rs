//! What time does to a room: members and viewers whose deadlines pass are evicted, a room
//! whose presence rule fails ends, an inactive room is reclaimed; and when that next happens.

use super::{RoomRecord, SweepReport};
use crate::model::{
    DissolveReason, EVENT_RETENTION_MS, EventKind, INACTIVE_ROOM_RECLAIM_MS, LeaveReason, RoomType,
    room_is_present,
};

impl RoomRecord {
    /// When time next changes this slot, for a sweeper that visits only what is due: a
    /// deadline of a member or viewer, an inactive room's reclaim, the oldest event's
    /// retention, or (for an ended room, kept `closed_keep_ms` so that its last events reach
    /// their readers) the moment it may be forgotten. `None`: nothing will ever be due.
    pub fn next_deadline(&self, closed_keep_ms: u64) -> Option<u64> {
        let oldest_event = self.events.front().map(|e| e.at_ms + EVENT_RETENTION_MS);
        let Some(state) = &self.state else {
            let last = self.events.back().map_or(0, |e| e.at_ms);
            return Some(last + closed_keep_ms);
        };
        if state.creator.is_none() {
            return Some(state.created_at_ms + INACTIVE_ROOM_RECLAIM_MS);
        }
        let people = state
            .members
            .iter()
            .map(|m| m.alive_until_ms)
            .chain(state.audiences.iter().map(|a| a.alive_until_ms))
            .min();
        [people, oldest_event].into_iter().flatten().min()
    }

    /// Applies time: reclaims a stale inactive room, evicts expired members and viewers (at
    /// most `max_evictions` of each, oldest deadline first; the rest wait for the next write or
    /// sweep and are ignored by every rule meanwhile), and ends the room when the presence rule
    /// says it is gone.
    pub(super) fn settle(
        &mut self,
        room_type: RoomType,
        now_ms: u64,
        max_evictions: usize,
        report: &mut SweepReport,
    ) {
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
        let present = room_is_present(
            room_type,
            &creator,
            &state.live_members(now_ms).collect::<Vec<_>>(),
        );
        let evicted_members = take_expired(&mut state.members, now_ms, max_evictions, |m| {
            m.alive_until_ms
        });
        let evicted_viewers = take_expired(&mut state.audiences, now_ms, max_evictions, |a| {
            a.alive_until_ms
        });
        for m in evicted_members {
            report.evicted_members += 1;
            self.record(
                now_ms,
                EventKind::MemberLeft {
                    user_id: m.user_id,
                    reason: LeaveReason::Timeout,
                },
            );
        }
        for a in evicted_viewers {
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
}

/// What keeping a member alive until `requested` (a heartbeat, or a relay report that its
/// stream is live) makes of its deadline `current`: the later of the two, so that a heartbeat
/// never shortens what a relay report promised; `None` when the member's deadline has passed
/// (it is gone, and only a new join brings it back). The DynamoDB store's single-item writes
/// state this as a condition and ask it again of the item when the condition fails.
pub fn heartbeat_deadline(current: u64, requested: u64, now_ms: u64) -> Option<u64> {
    (now_ms < current).then_some(current.max(requested))
}

/// Removes up to `max` expired entries, oldest deadline first, and returns them in that order.
fn take_expired<T>(
    items: &mut Vec<T>,
    now_ms: u64,
    max: usize,
    deadline: impl Fn(&T) -> u64,
) -> Vec<T> {
    let mut expired: Vec<u64> = items
        .iter()
        .map(&deadline)
        .filter(|d| now_ms >= *d)
        .collect();
    if expired.is_empty() {
        return Vec::new();
    }
    expired.sort_unstable();
    let cutoff = expired[expired.len().min(max) - 1];
    let mut taken = Vec::new();
    let mut kept = Vec::with_capacity(items.len());
    for item in items.drain(..) {
        if deadline(&item) <= cutoff && now_ms >= deadline(&item) && taken.len() < max {
            taken.push(item);
        } else {
            kept.push(item);
        }
    }
    *items = kept;
    taken.sort_by_key(|t| deadline(t));
    taken
}
