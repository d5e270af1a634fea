//! Recording (issue 16): which push URLs may join a recorded room, filing the segments the
//! relay tells of under their rooms, and listing them for `get_recordings`.

use super::{RoomError, RoomResult, Rooms, validate_room_id};
use crate::model::{EventKind, RoomKey, RoomType};
use crate::store::Message;
use crate::store::recordings::Recording;
use crate::stream_events::SegmentReport;
use crate::token::Session;
use crate::urls::record::{RECORD_PARAM, verify_recorded};
use crate::urls::stream_of;

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
        let param = |key: &str| {
            form_urlencoded::parse(query.as_bytes())
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.into_owned())
        };
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

    /// A closed recording segment the relay told of (`recorded`): filed under its room (the
    /// one its URL named, else the one its stream was joined into) and, while the room is
    /// present, told to its members as `recordingReady`. `false`: its room is not known (the
    /// stream was never joined into a room), so it is not filed.
    pub async fn recorded(&self, stream: &str, segment: &SegmentReport) -> RoomResult<bool> {
        let now = self.clock.now_ms();
        let bound = self.store.recorded_stream(stream, now).await?;
        let key = if segment.room_id.is_empty() {
            match &bound {
                Some(bound) => bound.key.clone(),
                None => return Ok(false),
            }
        } else {
            RoomKey::new(segment.room_type, &segment.room_id)
        };
        let room = self.store.room(&key, now).await?;
        let creator = room
            .as_ref()
            .map(|r| r.creator.clone())
            .filter(|c| !c.is_empty())
            .or_else(|| bound.filter(|b| b.key == key).map(|b| b.creator))
            .unwrap_or_default();
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
            stored: segment.stored.clone(),
        };
        self.store
            .add_recording(&key, &recording, now + self.limits.recordings_keep_ms, now)
            .await?;
        if room.is_some() {
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

    /// `get_recordings`: a room's segments still kept, oldest first, each with its signed
    /// download URL. The room's creator may list them; its members too where the operator
    /// allows it (`recordings_for_members`: a live member now, or one whose stream was
    /// recorded). Anyone else, or a room with nothing kept: no such room (code 3).
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
        let creator =
            room.as_ref().is_some_and(|r| r.creator == me) || list.iter().any(|r| r.creator == me);
        let member = self.limits.recordings_for_members
            && (list.iter().any(|r| r.user_id == me)
                || room
                    .as_ref()
                    .is_some_and(|r| r.members.iter().any(|m| m.user_id == me)));
        if !(creator || member) {
            return Err(if room.is_some() || !list.is_empty() {
                RoomError::NotCreator
            } else {
                RoomError::NoSuchRoom
            });
        }
        let secs = self.clock.now_secs();
        Ok(list
            .into_iter()
            .map(|r| {
                let url = self.urls.recording_url(&r.path, secs);
                (r, url)
            })
            .collect())
    }
}
