//! Where rooms live. Each operation is one atomic step: it applies the room rules, evicts
//! whatever has expired in the room it touches (recording the leave events), and records the
//! change's own events with per-room sequence numbers, all at once.
//!
//! Every implementation must pass the behaviour suite in [`suite`] (feature `test-suite`).

use std::collections::BTreeMap;

use async_trait::async_trait;

use crate::model::{Audience, CustomOp, Event, EventKind, Member, RoomKey, RoomType, RoomView};
use recordings::{RecordedStream, Recording};

#[cfg(feature = "dynamodb")]
pub mod dynamo;
mod embedded;
pub mod record;
pub mod recordings;
#[cfg(any(test, feature = "test-suite"))]
pub mod suite;

#[cfg(feature = "dynamodb")]
pub use dynamo::DynamoStore;
pub use embedded::EmbeddedStore;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The store could not be reached or kept failing; the caller may retry later.
    #[error("room store unavailable: {0}")]
    Unavailable(String),
    /// Concurrent writers kept winning; the caller may retry.
    #[error("room store contention: {0}")]
    Contention(String),
    /// The store holds something we cannot read.
    #[error("room store data is corrupt: {0}")]
    Corrupt(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A bound on what the store holds, reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// Rooms in all (`RTCROOM_MAX_ROOMS`).
    Rooms,
    /// Rooms one user is in, as member or viewer, or has created and nobody joined yet
    /// (`RTCROOM_MAX_ROOMS_PER_USER`).
    RoomsPerUser,
    /// Users whose logged-out sessions are remembered (`RTCROOM_MAX_REVOKED_USERS`).
    RevokedUsers,
}

impl Limit {
    /// What the client is told.
    pub fn message(self) -> &'static str {
        match self {
            Limit::Rooms => "the server holds its maximum of rooms; try again later",
            Limit::RoomsPerUser => "this user is in (or has created) its maximum of rooms",
            Limit::RevokedUsers => {
                "the server remembers its maximum of logged-out sessions; this token stays valid \
                 until it expires"
            }
        }
    }
}

/// What a store may hold (enforced by the embedded store, whose memory is the process's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreLimits {
    pub max_rooms: usize,
    pub max_rooms_per_user: usize,
    /// Bytes of events kept per room (older ones are dropped; readers behind get `resync`).
    pub max_event_bytes_per_room: usize,
    /// An ended room's last events are kept this long for their readers, then freed.
    pub closed_room_keep_ms: u64,
    /// Users whose logged-out sessions are remembered until their tokens expire.
    pub max_revoked_users: usize,
}

impl Default for StoreLimits {
    fn default() -> Self {
        Self {
            max_rooms: 100_000,
            max_rooms_per_user: 20,
            max_event_bytes_per_room: 1 << 20,
            closed_room_keep_ms: 60_000,
            max_revoked_users: 1_000_000,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateOutcome {
    Created,
    /// A present room (or one created less than 30 s ago and not yet joined) has that id.
    Exists,
    LimitReached(Limit),
}

/// A request to join a room as a pusher (or update one's own entry).
#[derive(Debug, Clone)]
pub struct JoinRequest {
    pub key: RoomKey,
    /// `alive_until_ms` already set to now + heartbeat timeout.
    pub member: Member,
    /// Live members the room may hold.
    pub capacity: u32,
    /// When the room does not exist: create it with this roomInfo (the joiner becomes its
    /// creator), or answer `NoRoom` when `None`.
    pub create_with_info: Option<String>,
    /// roomInfo to set when this join activates an inactive room and gives one.
    pub room_info: Option<String>,
    pub now_ms: u64,
    /// In a room type recorded on request: whether the joiner's stream is recorded, which
    /// must be whether the room is (else `RecordMismatch`, checked in the same atomic write;
    /// a room this join creates is not recorded). `None`: not checked.
    pub record: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinOutcome {
    Joined {
        /// The room did not exist and was created by this join.
        created: bool,
        /// The caller was already a live member; its entry was updated.
        updated: bool,
    },
    Full,
    NoRoom,
    LimitReached(Limit),
    /// The room is recorded and the stream is not, or the other way round (`record`).
    RecordMismatch {
        room_recorded: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaveOutcome {
    Left {
        /// The leave ended the room (live_room creator, or last member of double/multi).
        dissolved: bool,
    },
    NotMember,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DestroyOutcome {
    Destroyed,
    NotCreator,
    NoRoom,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudienceOutcome {
    Added,
    Full,
    NoRoom,
    LimitReached(Limit),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CustomOutcome {
    /// The room's counters after the change.
    Updated(BTreeMap<String, i64>),
    /// A new field would exceed `MAX_CUSTOM_FIELDS`.
    TooManyFields,
    NoRoom,
    /// The caller is neither a member nor a viewer of the room.
    NotPresent,
}

/// Told after each committed write that recorded events: the room, and its last sequence
/// number. Called with the store's internal locks held: it must only hand the news on (a
/// channel send), never call back into the store.
pub type ChangeListener = std::sync::Arc<dyn Fn(&RoomKey, u64) + Send + Sync>;

/// The listeners of one store.
#[derive(Default)]
pub struct Listeners(parking_lot::RwLock<Vec<ChangeListener>>);

impl Listeners {
    pub fn add(&self, listener: ChangeListener) {
        self.0.write().push(listener);
    }

    pub fn notify(&self, key: &RoomKey, last_seq: u64) {
        for listener in self.0.read().iter() {
            listener(key, last_seq);
        }
    }
}

impl std::fmt::Debug for Listeners {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Listeners({})", self.0.read().len())
    }
}

/// A message sent in a room (chat or link-mic), as a room event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The sender: a live member or viewer.
    pub from: String,
    /// `ChatText`, `ChatCmd` or `LinkMic`.
    pub kind: EventKind,
    /// A link-mic `kickout`: from the room's creator, it also removes the addressee.
    pub kickout: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageOutcome {
    /// Recorded with this sequence number.
    Sent {
        seq: u64,
    },
    /// The sender is not a live member or viewer.
    NotPresent,
    /// The link-mic addressee is not a live member or viewer.
    NoRecipient,
    NoRoom,
}

/// What the media relay reported about a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamReport {
    /// The stream is live: each live member publishing it stays present (and is listed with
    /// its stream live) for `keep_alive_ms[room type]` from now, as if it had sent a heartbeat.
    Live { keep_alive_ms: [u64; 3] },
    /// The stream stopped: its members are no longer listed as live; their presence runs out
    /// at their last deadline unless their heartbeats continue.
    Stopped,
}

/// What one sweep removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    pub evicted_members: u32,
    pub evicted_audiences: u32,
    pub dissolved_rooms: u32,
    pub reclaimed_rooms: u32,
}

#[async_trait]
pub trait RoomStore: Send + Sync + 'static {
    /// Creates an inactive room unless a room with that id is present or pending; `owner`
    /// (the caller) holds it against its room limit until somebody joins it.
    /// `record`: `create_room` asked for the room to be recorded (kept with the room).
    async fn create_room(
        &self,
        key: &RoomKey,
        owner: &str,
        room_info: &str,
        record: bool,
        now_ms: u64,
    ) -> StoreResult<CreateOutcome>;

    /// Whether the room, present or created and not yet joined, asked to be recorded; `None`:
    /// no such room. A room whose members have all timed out may still answer until a write
    /// or the sweeper ends it (the DynamoDB store reads the room item alone); a join into it
    /// then checks again (`JoinRequest::record`).
    async fn room_recorded(&self, key: &RoomKey, now_ms: u64) -> StoreResult<Option<bool>>;

    /// Joins (or updates) a member: creates/activates the room as needed, the first joiner of
    /// an inactive room becomes its creator, and the capacity counts live members only.
    async fn join(&self, request: JoinRequest) -> StoreResult<JoinOutcome>;

    /// Moves a live member's `alive_until_ms` forward; `false` when the user is not a live
    /// member of a present room.
    async fn heartbeat(
        &self,
        key: &RoomKey,
        user_id: &str,
        alive_until_ms: u64,
        now_ms: u64,
    ) -> StoreResult<bool>;

    /// A member leaves; a live_room creator leaving, or the last member of a double/multi room,
    /// ends the room.
    async fn leave(&self, key: &RoomKey, user_id: &str, now_ms: u64) -> StoreResult<LeaveOutcome>;

    /// Ends a room; only its creator may.
    async fn destroy_room(
        &self,
        key: &RoomKey,
        user_id: &str,
        now_ms: u64,
    ) -> StoreResult<DestroyOutcome>;

    /// The present room with its live members, or `None`.
    async fn room(&self, key: &RoomKey, now_ms: u64) -> StoreResult<Option<RoomView>>;

    /// Present rooms of a type in creation order: skip `index`, take `count`.
    async fn list_rooms(
        &self,
        room_type: RoomType,
        index: u32,
        count: u32,
        now_ms: u64,
    ) -> StoreResult<Vec<RoomView>>;

    /// Adds (or refreshes) a viewer of a present room.
    async fn add_audience(
        &self,
        key: &RoomKey,
        audience: Audience,
        capacity: u32,
        now_ms: u64,
    ) -> StoreResult<AudienceOutcome>;

    /// Removes a viewer; `false` when it was not one.
    async fn remove_audience(&self, key: &RoomKey, user_id: &str, now_ms: u64)
    -> StoreResult<bool>;

    /// Live viewers of a present room in join order, or `None` when the room is not present.
    async fn audiences(&self, key: &RoomKey, now_ms: u64) -> StoreResult<Option<Vec<Audience>>>;

    /// Applies a counter change to a present room (at most `MAX_CUSTOM_FIELDS` fields) for
    /// one of its members or viewers, in the same atomic step as that check.
    async fn update_custom(
        &self,
        key: &RoomKey,
        user_id: &str,
        field: &str,
        op: CustomOp,
        now_ms: u64,
    ) -> StoreResult<CustomOutcome>;

    /// Applies a relay report to every live member publishing `stream_id`, in any room;
    /// returns how many there were. Touches the members' own entries only, like a heartbeat.
    async fn stream_report(
        &self,
        stream_id: &str,
        report: StreamReport,
        now_ms: u64,
    ) -> StoreResult<u32>;

    /// Records a chat or link-mic message (see [`RoomRecord::send`](record::RoomRecord::send)).
    async fn send(
        &self,
        key: &RoomKey,
        message: Message,
        now_ms: u64,
    ) -> StoreResult<MessageOutcome>;

    /// The room's last event number (0 when it never had one).
    async fn last_seq(&self, key: &RoomKey) -> StoreResult<u64>;

    /// Events with `seq > after_seq`, oldest first, at most `limit`.
    async fn events_since(
        &self,
        key: &RoomKey,
        after_seq: u64,
        limit: u32,
    ) -> StoreResult<Vec<Event>>;

    /// Registers a listener told of every committed write that recorded events, made through
    /// this store object (writes by other processes are not seen).
    fn on_change(&self, listener: ChangeListener);

    /// Evicts expired members and viewers, ends rooms that lost their creator or everyone,
    /// reclaims inactive rooms, and drops old events; records the leave events.
    async fn sweep(&self, now_ms: u64) -> StoreResult<SweepReport>;

    /// Logout: ends every session of `user_id` whose token was issued at or before
    /// `issued_through_ms` (the logging-out token's issue time), remembered until
    /// `keep_until_secs` (when every such token has expired). Never moves an earlier
    /// revocation back. `false` when the store already remembers its most revocations
    /// (`StoreLimits::max_revoked_users`) and this one was not kept.
    async fn revoke_sessions(
        &self,
        user_id: &str,
        issued_through_ms: u64,
        keep_until_secs: u64,
    ) -> StoreResult<bool>;

    /// The issue time through which `user_id`'s tokens are revoked (epoch ms), 0 when none
    /// is in force.
    async fn sessions_revoked_through(&self, user_id: &str, now_ms: u64) -> StoreResult<u64>;

    /// Remembers the room a recorded stream was joined into, until `keep_until_ms`.
    async fn bind_recorded_stream(
        &self,
        stream: &str,
        bound: &RecordedStream,
        keep_until_ms: u64,
        now_ms: u64,
    ) -> StoreResult<()>;

    /// The room a recorded stream was joined into, while remembered.
    async fn recorded_stream(
        &self,
        stream: &str,
        now_ms: u64,
    ) -> StoreResult<Option<RecordedStream>>;

    /// Files a closed segment under its room until `keep_until_ms` (the same path again
    /// replaces it: the relay retries its events); whether it was new. A room's list keeps at
    /// most [`recordings::MAX_RECORDINGS_PER_ROOM`], the oldest going first.
    async fn add_recording(
        &self,
        key: &RoomKey,
        recording: &Recording,
        keep_until_ms: u64,
        now_ms: u64,
    ) -> StoreResult<bool>;

    /// A room's segments still kept, oldest first.
    async fn recordings(&self, key: &RoomKey, now_ms: u64) -> StoreResult<Vec<Recording>>;
}
