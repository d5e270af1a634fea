//! The index of recording segments (issue 16): per room, the segments the relay closed, kept
//! for `RTCROOM_RECORDINGS_KEEP_DAYS` beyond the room itself; and per recorded stream, the
//! room it was joined into (a live room's anchor asks for its push URL before the room exists,
//! so its segments name no room: they are filed by this).

use serde::{Deserialize, Serialize};

use crate::model::RoomKey;

/// Segments one room's list keeps at most; the oldest go first.
pub const MAX_RECORDINGS_PER_ROOM: usize = 1_000;

/// A closed recording segment, as filed under its room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recording {
    /// The file's path under the relay's recording directory (and its key in the bucket).
    pub path: String,
    /// Whose stream it is.
    pub user_id: String,
    pub stream: String,
    /// Its place in its recording (0 first).
    pub index: u32,
    /// Epoch ms of its first media.
    pub start_ms: u64,
    pub duration_ms: u64,
    pub bytes: u64,
    /// `mp4` or `flv`.
    pub format: String,
    /// The room's creator when the segment was filed (who may list the room's recordings).
    pub creator: String,
    /// When the room it was filed under was created: which of the rooms that had this id
    /// (an id is free again once its room has ended) the call was in.
    #[serde(default)]
    pub room_created_ms: u64,
    /// `s3://bucket/key` when the relay uploaded it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stored: Option<String>,
}

/// The room a recorded stream was joined into, and its creator then.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedStream {
    pub key: RoomKey,
    pub creator: String,
    /// When that room was created (see [`Recording::room_created_ms`]).
    pub room_created_ms: u64,
}
