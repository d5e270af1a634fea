//! Recording (issue 16): which push URLs may join a recorded room, filing the segments the
//! relay tells of under their rooms, and listing them for `get_recordings`.

use super::{RoomError, RoomResult, Rooms, validate_room_id};
use crate::model::{EventKind, RoomKey, RoomType};
use crate::store::Message;
use crate::store::recordings::Recording;
use crate::stream_events::SegmentReport;
use crate::token::Session;
use crate::urls::record::{RECORD_PARAM, verify_recorded};
use crate::urls::{query_param, stream_of};

impl Rooms {
    /// In a recorded room type, a pushURL must carry a recording policy for this room type
    /// (and this room, or none yet) whose signature holds: a URL from another room type's
    /// `get_push_url` would publish around the recording.
    pub(super) fn check_recorded(
        &self,
        room_type: RoomType,
        room_id: &str,
        push_url: &str,
    ) -> RoomResult<()> {
        if self.limits.record[room_type.index()].is_none() {
            return Ok(());
        }
        let refused = || {
            RoomError::Invalid(
                "this room is recorded: pushURL must come from this room type's get_push_url"
                    .into(),
            )
        };
        let stream = stream_of(push_url).ok_or_else(refused)?;
        let query = push_url.split_once('?').map_or("", |(_, q)| q);
        let param = |key: &str| query_param(query, key);
        let policy = param(RECORD_PARAM).ok_or_else(refused)?;
        let policy = verify_recorded(
            &self.urls.push_key,
            stream,
            param("txSecret").as_deref(),
            param("txTime").as_deref(),
            &policy,
            // Expiry is the relay's to check when the stream is published.
            0,
        )
        .map_err(|_| refused())?;
        if policy.room_type != room_type
            || !(policy.room_id.is_empty() || policy.room_id == room_id)
        {
            return Err(refused());
        }
        Ok(())
    }

    /// A closed recording segment the relay told of (`recorded`): filed under the room its
    /// stream was joined into (`add_pusher` remembered it), which must be the room its URL
    /// named if it named one, and, while that room is present, told to its members as
    /// `recordingReady` (once: the relay's retries file nothing new). `false`: not filed, the
    /// stream was never joined into such a room (a URL signed for a room, then published
    /// without joining it, files nothing there).
    pub async fn recorded(&self, stream: &str, segment: &SegmentReport) -> RoomResult<bool> {
        let now = self.clock.now_ms();
        let Some(bound) = self.store.recorded_stream(stream, now).await? else {
            return Ok(false);
        };
        if !segment.room_id.is_empty()
            && bound.key != RoomKey::new(segment.room_type, &segment.room_id)
        {
            return Ok(false);
        }
        let key = bound.key.clone();
        let room = self
            .store
            .room(&key, now)
            .await?
            .filter(|r| r.created_at_ms == bound.room_created_ms);
        let creator = room
            .as_ref()
            .map(|r| r.creator.clone())
            .filter(|c| !c.is_empty())
            .unwrap_or(bound.creator);
        let recording = Recording {
            path: segment.path.clone(),
            user_id: segment.user_id.clone(),
            stream: stream.to_owned(),
            index: segment.index,
            start_ms: segment.start,
            duration_ms: segment.duration,
            bytes: segment.bytes,
            format: segment.format.clone(),
            creator,
            room_created_ms: bound.room_created_ms,
            stored: segment.stored.clone(),
        };
        let new = self
            .store
            .add_recording(&key, &recording, now + self.limits.recordings_keep_ms, now)
            .await?;
        if new && room.is_some() {
            let message = Message {
                from: String::new(),
                kind: EventKind::RecordingReady {
                    user_id: recording.user_id,
                    index: recording.index,
                    start: recording.start_ms,
                    duration: recording.duration_ms,
                    format: recording.format,
                },
                kickout: false,
            };
            self.store.send(&key, message, now).await?;
        }
        Ok(true)
    }

    /// `get_recordings`: the segments of a roomID the caller may see, oldest first, each with
    /// its signed download URL: those of the calls it created; where the operator allows
    /// members (`recordings_for_members`), also those of the calls it took part in (its own
    /// stream was recorded in that room, or it is a live member of the present one). A roomID
    /// is free again once its room has ended, so each segment knows which room it was in.
    /// The creator of the present room gets an empty list before anything is filed; anyone
    /// else who may see nothing: no such room (code 3).
    pub async fn recordings(
        &self,
        caller: &Session,
        room_type: RoomType,
        room_id: &str,
    ) -> RoomResult<Vec<(Recording, String)>> {
        validate_room_id(room_id)?;
        self.check_grant(caller, Some(room_id), 0, 0)?;
        let now = self.clock.now_ms();
        let key = RoomKey::new(room_type, room_id);
        let list = self.store.recordings(&key, now).await?;
        let room = self.store.room(&key, now).await?;
        let me = caller.user_id.as_str();
        let mut calls_taken_part_in: Vec<u64> = Vec::new();
        if self.limits.recordings_for_members {
            calls_taken_part_in.extend(
                list.iter()
                    .filter(|r| r.user_id == me)
                    .map(|r| r.room_created_ms),
            );
            if let Some(r) = &room
                && r.members.iter().any(|m| m.user_id == me)
            {
                calls_taken_part_in.push(r.created_at_ms);
            }
        }
        let visible: Vec<Recording> = list
            .into_iter()
            .filter(|r| r.creator == me || calls_taken_part_in.contains(&r.room_created_ms))
            .collect();
        if visible.is_empty() && room.as_ref().is_none_or(|r| r.creator != me) {
            return Err(RoomError::NoSuchRoom);
        }
        let secs = self.clock.now_secs();
        Ok(visible
            .into_iter()
            .map(|r| {
                let url = self.urls.recording_url(&r.path, secs);
                (r, url)
            })
            .collect())
    }
}
