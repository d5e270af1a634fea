//! Rooms, members, audiences and room events, and the pure rules that decide from them who is
//! present. Every store applies these same rules, at read and at write time.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// An inactive room (created, nobody joined yet) is reclaimed this long after its creation.
pub const INACTIVE_ROOM_RECLAIM_MS: u64 = 30_000;
/// Events stay readable (for clients resuming after a reconnect) this long.
pub const EVENT_RETENTION_MS: u64 = 60 * 60 * 1000;
/// Custom counters a room may hold.
pub const MAX_CUSTOM_FIELDS: usize = 32;
/// Events kept per room at most, whatever their age.
pub const MAX_EVENTS_PER_ROOM: usize = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoomType {
    #[serde(rename = "double_room")]
    Double,
    #[serde(rename = "multi_room")]
    Multi,
    #[serde(rename = "live_room")]
    Live,
}

impl RoomType {
    pub const ALL: [RoomType; 3] = [RoomType::Double, RoomType::Multi, RoomType::Live];

    /// The path segment: `double_room`, `multi_room`, `live_room`.
    pub fn as_path(self) -> &'static str {
        match self {
            RoomType::Double => "double_room",
            RoomType::Multi => "multi_room",
            RoomType::Live => "live_room",
        }
    }

    pub fn from_path(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_path() == s)
    }

    pub fn index(self) -> usize {
        self as usize
    }

    /// live_room: the anchor (creator) leaving ends the room. double/multi: the room lives
    /// while anyone is in it.
    pub fn creator_leave_dissolves(self) -> bool {
        matches!(self, RoomType::Live)
    }
}

impl fmt::Display for RoomType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_path())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoomKey {
    pub room_type: RoomType,
    pub room_id: String,
}

impl RoomKey {
    pub fn new(room_type: RoomType, room_id: impl Into<String>) -> Self {
        Self {
            room_type,
            room_id: room_id.into(),
        }
    }
}

/// A pusher: a member who publishes a stream into the room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub user_id: String,
    pub user_name: String,
    pub user_avatar: String,
    /// Stream name, taken from `push_url`.
    pub stream_id: String,
    pub push_url: String,
    pub joined_at_ms: u64,
    /// Present while `now < alive_until_ms`; each heartbeat, and each report from the media
    /// relay that the member's stream is live, moves it forward.
    pub alive_until_ms: u64,
    /// The relay last reported the stream live, good until then (0: not reported live, or
    /// reported stopped).
    #[serde(default)]
    pub stream_live_until_ms: u64,
}

impl Member {
    pub fn is_alive(&self, now_ms: u64) -> bool {
        now_ms < self.alive_until_ms
    }

    /// Whether the relay reports the member's stream live.
    pub fn stream_live(&self, now_ms: u64) -> bool {
        now_ms < self.stream_live_until_ms
    }
}

/// A live_room viewer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Audience {
    pub user_id: String,
    pub user_info: String,
    pub joined_at_ms: u64,
    pub alive_until_ms: u64,
}

impl Audience {
    pub fn is_alive(&self, now_ms: u64) -> bool {
        now_ms < self.alive_until_ms
    }
}

/// The room as readers see it: an active, present room with its live members only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomView {
    pub key: RoomKey,
    pub room_info: String,
    pub creator: String,
    pub created_at_ms: u64,
    pub custom: BTreeMap<String, i64>,
    /// Live members in join order.
    pub members: Vec<Member>,
    pub audience_count: u32,
}

/// Whether an active room is still present, given its live members: a live_room exists while
/// its creator does; a double/multi room while anyone is in it.
pub fn room_is_present(room_type: RoomType, creator: &str, live_members: &[&Member]) -> bool {
    if room_type.creator_leave_dissolves() {
        live_members.iter().any(|m| m.user_id == creator)
    } else {
        !live_members.is_empty()
    }
}

/// Why a member left.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum LeaveReason {
    /// `delete_pusher` / `delete_audience`.
    Left,
    /// No heartbeat within the timeout.
    Timeout,
    /// The room's creator sent it a linkmic `kickout`.
    Kicked,
}

/// Why a room ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum DissolveReason {
    /// live_room: the creator called `delete_pusher`.
    CreatorLeft,
    /// live_room: the creator's heartbeats stopped.
    CreatorTimeout,
    /// `destroy_room`.
    Destroyed,
    /// double/multi: the last member left or timed out.
    Empty,
}

/// Declares [`EventKind`] with each kind's wire name beside its domain name: the name is its
/// serde tag, [`EventKind::wire_type`] and [`EventKind::WIRE_TYPES`]. Nowhere else in the code
/// is a kind's name written. Kinds after the `;` are renamed on the wire and still stored under
/// their former name (`stored`), which every release reads, so that code of the release before
/// (a function not yet updated during a deploy, or after a rollback) reads what this one
/// writes; a later release may store the wire name.
macro_rules! event_kinds {
    (
        $(
            $(#[$attr:meta])*
            $variant:ident = $wire:tt $({ $($(#[$field_attr:meta])* $field:ident : $ty:ty),* $(,)? })?,
        )*
        ;
        $(
            $(#[$r_attr:meta])*
            $r_variant:ident = $r_wire:tt stored $r_stored:tt
                $({ $($(#[$r_field_attr:meta])* $r_field:ident : $r_ty:ty),* $(,)? })?,
        )*
    ) => {
        /// What happened in a room. Stored with the change, numbered per room.
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(tag = "type")]
        pub enum EventKind {
            $(
                $(#[$attr])*
                #[serde(rename = $wire)]
                $variant $({ $($(#[$field_attr])* $field: $ty),* })?,
            )*
            $(
                $(#[$r_attr])*
                #[serde(rename(serialize = $r_stored, deserialize = $r_wire), alias = $r_stored)]
                $r_variant $({ $($(#[$r_field_attr])* $r_field: $r_ty),* })?,
            )*
        }

        impl EventKind {
            /// Every kind's wire name (`spec/asyncapi.yaml` lists the same).
            pub const WIRE_TYPES: &'static [&'static str] = &[$($wire,)* $($r_wire,)*];

            /// The kind's name on the wire (`type` of a room event).
            pub fn wire_type(&self) -> &'static str {
                match self {
                    $(EventKind::$variant { .. } => $wire,)*
                    $(EventKind::$r_variant { .. } => $r_wire,)*
                }
            }

            /// The name it is stored under (its serde tag when written).
            pub fn stored_type(&self) -> &'static str {
                match self {
                    $(EventKind::$variant { .. } => $wire,)*
                    $(EventKind::$r_variant { .. } => $r_stored,)*
                }
            }
        }
    };
}

event_kinds! {
    /// The pusher list changed (recorded once after the member events of one write): the 2018
    /// clients' cue to call `get_pushers`.
    PusherChange = "notifyPusherChange",
    #[serde(rename_all = "camelCase")]
    MemberJoined = "memberJoined" {
        #[serde(rename = "userID")]
        user_id: String,
        user_name: String,
        user_avatar: String,
    },
    #[serde(rename_all = "camelCase")]
    MemberUpdated = "memberUpdated" {
        #[serde(rename = "userID")]
        user_id: String,
        user_name: String,
        user_avatar: String,
    },
    MemberLeft = "memberLeft" {
        #[serde(rename = "userID")]
        user_id: String,
        reason: LeaveReason,
    },
    AudienceJoined = "audienceJoined" {
        #[serde(rename = "userID")]
        user_id: String,
    },
    AudienceLeft = "audienceLeft" {
        #[serde(rename = "userID")]
        user_id: String,
        reason: LeaveReason,
    },
    CustomChanged = "customChanged" {
        field: String,
        value: i64,
    },
    /// A member's or viewer's chat text.
    #[serde(rename_all = "camelCase")]
    ChatText = "CustomTextMsg" {
        #[serde(rename = "userID")]
        user_id: String,
        nick_name: String,
        head_pic: String,
        msg: String,
    },
    /// A member's or viewer's custom command.
    #[serde(rename_all = "camelCase")]
    ChatCmd = "CustomCmdMsg" {
        #[serde(rename = "userID")]
        user_id: String,
        user_name: String,
        user_avatar: String,
        cmd: String,
        msg: String,
    },
    /// A one-to-one link-mic message; only `to` receives it. `data` is the JSON object the
    /// sender gave (`{"type":"request"|"response"|"kickout",...}`), as text.
    LinkMic = "linkmic" {
        from: String,
        to: String,
        data: String,
    },
    /// A one-to-one custom message of any other `cmd` (the 2018 live room's `sketchpad`, an
    /// app's own); only `to` receives it. `data` is the JSON value the sender gave, as text.
    C2CCustom = "C2CCustomMsg" {
        from: String,
        to: String,
        cmd: String,
        data: String,
    },
    /// The media relay reports a member's stream started.
    #[serde(rename_all = "camelCase")]
    StreamUp = "streamUp" {
        #[serde(rename = "userID")]
        user_id: String,
        stream: String,
    },
    /// The media relay reports a member's stream stopped.
    #[serde(rename_all = "camelCase")]
    StreamDown = "streamDown" {
        #[serde(rename = "userID")]
        user_id: String,
        stream: String,
    },
    /// A recording segment of a member's stream was closed (`get_recordings` lists it with
    /// its download URL). From the relay, not from a member: no presence is required.
    #[serde(rename_all = "camelCase")]
    RecordingReady = "recordingReady" {
        #[serde(rename = "userID")]
        user_id: String,
        index: u32,
        start: u64,
        duration: u64,
        format: String,
    },
    ;
    /// The room ended.
    RoomDissolved = "roomClosed" stored "roomDissolved" {
        reason: DissolveReason,
    },
}

impl EventKind {
    /// Whether the event changes the pusher list (and so is followed by a `PusherChange`).
    pub fn changes_pushers(&self) -> bool {
        matches!(
            self,
            EventKind::MemberJoined { .. }
                | EventKind::MemberUpdated { .. }
                | EventKind::MemberLeft { .. }
        )
    }

    /// The one user an event is for, when it is not for the whole room.
    pub fn addressee(&self) -> Option<&str> {
        match self {
            EventKind::LinkMic { to, .. } | EventKind::C2CCustom { to, .. } => Some(to),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub seq: u64,
    #[serde(rename = "at")]
    pub at_ms: u64,
    #[serde(flatten)]
    pub kind: EventKind,
}

/// How a live_room custom counter changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CustomOp {
    Inc(i64),
    Dec(i64),
    Set(i64),
}

impl CustomOp {
    pub fn apply(self, current: i64) -> i64 {
        match self {
            CustomOp::Inc(n) => current.saturating_add(n),
            CustomOp::Dec(n) => current.saturating_sub(n),
            CustomOp::Set(n) => n,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(user: &str, alive_until_ms: u64) -> Member {
        Member {
            user_id: user.into(),
            user_name: user.into(),
            user_avatar: String::new(),
            stream_id: format!("s_{user}"),
            push_url: String::new(),
            joined_at_ms: 0,
            alive_until_ms,
            stream_live_until_ms: 0,
        }
    }

    #[test]
    fn member_is_absent_from_the_moment_its_timeout_passes() {
        let m = member("a", 20_000);
        assert!(m.is_alive(19_999));
        assert!(!m.is_alive(20_000));
    }

    #[test]
    fn live_room_needs_its_creator_and_others_need_anyone() {
        let a = member("a", 1);
        let b = member("b", 1);
        assert!(!room_is_present(RoomType::Live, "a", &[&b]));
        assert!(room_is_present(RoomType::Live, "a", &[&a, &b]));
        assert!(room_is_present(RoomType::Multi, "a", &[&b]));
        assert!(!room_is_present(RoomType::Double, "a", &[]));
    }

    #[test]
    fn event_serialises_with_wire_names() {
        let e = Event {
            seq: 7,
            at_ms: 1,
            kind: EventKind::MemberLeft {
                user_id: "u".into(),
                reason: LeaveReason::Timeout,
            },
        };
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"seq":7,"at":1,"type":"memberLeft","userID":"u","reason":"timeout"}"#
        );
        assert_eq!(
            serde_json::from_str::<Event>(&serde_json::to_string(&e).unwrap()).unwrap(),
            e
        );
        assert!(e.kind.changes_pushers());
    }

    #[test]
    fn custom_counters_saturate() {
        assert_eq!(CustomOp::Inc(1).apply(i64::MAX), i64::MAX);
        assert_eq!(CustomOp::Dec(2).apply(1), -1);
        assert_eq!(CustomOp::Set(5).apply(1), 5);
    }
}
