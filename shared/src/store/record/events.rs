//! A room's event log in memory: numbering, and the bounds on what it keeps (count, age and,
//! in the embedded store, bytes).

use super::RoomRecord;
use crate::model::{EVENT_RETENTION_MS, Event, EventKind, MAX_EVENTS_PER_ROOM};

/// About what an event costs in memory: its strings and a fixed part.
fn event_size(event: &Event) -> usize {
    let strings = match &event.kind {
        EventKind::MemberJoined {
            user_id,
            user_name,
            user_avatar,
        }
        | EventKind::MemberUpdated {
            user_id,
            user_name,
            user_avatar,
        } => user_id.len() + user_name.len() + user_avatar.len(),
        EventKind::MemberLeft { user_id, .. }
        | EventKind::AudienceJoined { user_id }
        | EventKind::AudienceLeft { user_id, .. } => user_id.len(),
        EventKind::RoomDissolved { .. } | EventKind::PusherChange => 0,
        EventKind::RecordingReady {
            user_id, format, ..
        } => user_id.len() + format.len(),
        EventKind::CustomChanged { field, .. } => field.len(),
        EventKind::ChatText {
            user_id,
            nick_name,
            head_pic,
            msg,
        } => user_id.len() + nick_name.len() + head_pic.len() + msg.len(),
        EventKind::ChatCmd {
            user_id,
            user_name,
            user_avatar,
            cmd,
            msg,
        } => user_id.len() + user_name.len() + user_avatar.len() + cmd.len() + msg.len(),
        EventKind::LinkMic { from, to, data } => from.len() + to.len() + data.len(),
        EventKind::C2CCustom {
            from,
            to,
            cmd,
            data,
        } => from.len() + to.len() + cmd.len() + data.len(),
        EventKind::StreamUp { user_id, stream } | EventKind::StreamDown { user_id, stream } => {
            user_id.len() + stream.len()
        }
    };
    strings + std::mem::size_of::<Event>()
}

impl RoomRecord {
    pub(super) fn record(&mut self, at_ms: u64, kind: EventKind) {
        self.pusher_change_pending |= kind.changes_pushers();
        self.last_seq += 1;
        let event = Event {
            seq: self.last_seq,
            at_ms,
            kind,
        };
        self.event_bytes += event_size(&event);
        self.events.push_back(event);
        if self.events.len() > MAX_EVENTS_PER_ROOM {
            self.pop_event();
        }
    }

    fn pop_event(&mut self) {
        if let Some(event) = self.events.pop_front() {
            self.event_bytes -= event_size(&event);
        }
    }

    /// Drops the oldest events until they take at most `max_bytes` (the newest always stays).
    pub fn trim_events(&mut self, max_bytes: usize) {
        while self.event_bytes > max_bytes && self.events.len() > 1 {
            self.pop_event();
        }
    }

    pub fn drop_old_events(&mut self, now_ms: u64) {
        while self
            .events
            .front()
            .is_some_and(|e| e.at_ms + EVENT_RETENTION_MS < now_ms)
        {
            self.pop_event();
        }
    }
}
