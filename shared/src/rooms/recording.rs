//! Recording (issue 16): which push URLs carry a recording policy, which may join a recorded
//! room (and which rooms are), filing the segments the relay tells of under their rooms, and
//! listing them for `get_recordings`.

use super::{RecordMode, RoomError, RoomResult, Rooms, validate_room_id};
use crate::model::{EventKind, RoomKey, RoomType};
use crate::store::Message;
use crate::store::recordings::Recording;
use crate::stream_events::SegmentReport;
use crate::token::Session;
use crate::urls::record::{RECORD_PARAM, RecordPolicy, verify_recorded};
use crate::urls::{StreamUrls, UrlSigner, query_param, stream_of};
use crate::usersig::privilege;

impl Rooms {
    /// Signed push, low-latency play and FLV URLs for a fresh stream of the caller's.
    ///
    /// The push URL carries the recording policy, signed (`urls::record`), when the stream is
    /// to be recorded: in a room type recorded always, every stream; in one recorded on
    /// request, when `room_id` names a room created to be recorded, or (no such room yet) when
    /// the caller asks (`record`: a client about to create one). The policy names the room
    /// (when given: a live room's anchor asks before its room exists) and the caller. Its
    /// SRT publish address carries the policy in the stream id, under the same signature.
    pub async fn push_urls(
        &self,
        caller: &Session,
        room_type: RoomType,
        room_id: Option<&str>,
        record: bool,
    ) -> RoomResult<StreamUrls> {
        if let Some(room_id) = room_id {
            validate_room_id(room_id)?;
        }
        self.check_grant(
            caller,
            room_id,
            0,
            privilege::SEND_AUDIO | privilege::SEND_VIDEO,
        )?;
        let format = match self.limits.record[room_type.index()] {
            RecordMode::Off if record => return Err(not_recorded_here()),
            RecordMode::Off => None,
            RecordMode::Always(format) => Some(format),
            RecordMode::OnRequest(format) => {
                let room = match room_id {
                    Some(id) => {
                        let key = RoomKey::new(room_type, id);
                        self.store.room_recorded(&key, self.clock.now_ms()).await?
                    }
                    None => None,
                };
                match room {
                    Some(false) if record => {
                        return Err(RoomError::Invalid(
                            "this room was not created to be recorded".into(),
                        ));
                    }
                    Some(recorded) => recorded.then_some(format),
                    None => record.then_some(format),
                }
            }
        };
        let stream = match format {
            Some(_) => self
                .urls
                .new_recorded_stream_name(&caller.user_id, rand::random()),
            None => self.urls.new_stream_name(&caller.user_id, rand::random()),
        };
        let now = self.clock.now_secs();
        let mut urls = self.urls.urls(&stream, now);
        if let Some(format) = format {
            let policy = RecordPolicy {
                format,
                room_type,
                room_id: room_id.unwrap_or_default().to_owned(),
                user_id: caller.user_id.clone(),
            };
            urls.push_url = self.urls.recorded_push_url(&stream, now, &policy);
            // The SRT publish address carries the policy too (URL-9); without one (no SRT
            // host, or a stream id too long for libsrt), no SRT addresses at all.
            urls.srt = match (urls.srt, self.urls.recorded_srt_push(&stream, now, &policy)) {
                (Some(mut srt), Some(push)) => {
                    srt.push = push;
                    Some(srt)
                }
                _ => None,
            };
        }
        Ok(urls)
    }

    /// Whether the stream of an `add_pusher`'s `push_url` is recorded, and what the store must
    /// check of the room in the join's own atomic write (`JoinRequest::record`).
    ///
    /// A stream with a recording policy must have one for this room type (and this room, or
    /// none yet) whose signature holds: a URL from another room type's `get_push_url` would
    /// publish around the recording. In a type recorded always, every stream must; in one
    /// recorded on request, a stream must exactly when its room is (the store checks); in a
    /// type never recorded, none may (the relay would record a stream filed nowhere).
    pub(super) fn recording_of(
        &self,
        room_type: RoomType,
        room_id: &str,
        push_url: &str,
    ) -> RoomResult<(bool, Option<bool>)> {
        let query = push_url.split_once('?').map_or("", |(_, q)| q);
        let param = |key: &str| query_param(query, key);
        let policy = param(RECORD_PARAM);
        let mode = self.limits.record[room_type.index()];
        match (mode, &policy) {
            (RecordMode::Off, None) => return Ok((false, None)),
            (RecordMode::OnRequest(_), None) => return Ok((false, Some(false))),
            (RecordMode::Off, Some(_)) => return Err(asks_for_recording()),
            (RecordMode::Always(_), None) => return Err(not_from_this_type()),
            _ => {}
        }
        let stream = stream_of(push_url)
            .filter(|s| UrlSigner::is_recorded_stream_name(s))
            .ok_or_else(not_from_this_type)?;
        let policy = verify_recorded(
            &self.urls.push_key,
            stream,
            param("txSecret").as_deref(),
            param("txTime").as_deref(),
            policy.as_deref().unwrap_or_default(),
            // Expiry is the relay's to check when the stream is published.
            0,
        )
        .map_err(|_| not_from_this_type())?;
        if policy.room_type != room_type
            || !(policy.room_id.is_empty() || policy.room_id == room_id)
        {
            return Err(not_from_this_type());
        }
        let check = matches!(mode, RecordMode::OnRequest(_)).then_some(true);
        Ok((true, check))
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

/// `record: true` where the room type is never recorded.
pub(super) fn not_recorded_here() -> RoomError {
    RoomError::Invalid("recording is not offered for this room type".into())
}

/// A recorded room, and a pushURL without a valid policy for it.
pub(super) fn not_from_this_type() -> RoomError {
    RoomError::Invalid(
        "this room is recorded: pushURL must come from get_push_url of this room type (with \
         this roomID)"
            .into(),
    )
}

/// A room that is not recorded, and a pushURL with a policy.
pub(super) fn asks_for_recording() -> RoomError {
    RoomError::Invalid(
        "this room is not recorded: pushURL asks for recording (use get_push_url with this \
         roomID)"
            .into(),
    )
}
