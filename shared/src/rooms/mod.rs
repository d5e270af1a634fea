//! The room service: validation of domain values, authorisation (session and PrivateMapKey
//! grants), presence deadlines, and the calls into the store. Each method's error maps onto
//! exactly one protocol code (see `RoomError`); the HTTP layer maps them once.

mod messages;
mod recording;

use recording::{asks_for_recording, not_from_this_type, not_recorded_here};

pub use messages::{EventsPage, MessageInput};

use std::sync::Arc;

use crate::clock::Clock;
use crate::model::{Audience, CustomOp, MAX_CUSTOM_FIELDS, Member, RoomKey, RoomType, RoomView};
use crate::store::recordings::RecordedStream;
use crate::store::{
    AudienceOutcome, CreateOutcome, CustomOutcome, DestroyOutcome, JoinOutcome, JoinRequest,
    LeaveOutcome, Limit, RoomStore, StoreError, StreamReport, SweepReport,
};
use crate::token::Session;
use crate::urls::record::RecordFormat;
use crate::urls::{UrlSigner, stream_of};
use crate::usersig::privilege;

pub const MAX_ROOM_ID_BYTES: usize = 128;
pub const MAX_ROOM_INFO_BYTES: usize = 1024;
pub const MAX_USER_FIELD_BYTES: usize = 1024;
pub const MAX_URL_BYTES: usize = 2048;
pub const MAX_FIELD_NAME_BYTES: usize = 64;
pub const MAX_LIST_COUNT: u32 = 100;
/// A chat or command message, or a link-mic message's JSON, at most.
pub const MAX_MESSAGE_BYTES: usize = 8 * 1024;
/// Events one `get_room_events` call answers at most.
pub const MAX_EVENTS_PAGE: u32 = 500;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoomError {
    #[error("{0}")]
    Invalid(String),
    #[error("{field} is longer than {max} bytes")]
    TooLong { field: &'static str, max: usize },
    #[error("{0} is not valid JSON")]
    BadJson(&'static str),
    #[error("roomID {0} is already taken")]
    RoomExists(String),
    #[error("no such room")]
    NoSuchRoom,
    #[error("only the room's creator may do that")]
    NotCreator,
    #[error("not a member of this room")]
    NotMember,
    #[error("the room is full")]
    RoomFull,
    #[error("the room's audience is full")]
    AudienceFull,
    #[error("{0}")]
    Forbidden(String),
    #[error("stream mixing is not configured on this server")]
    MixingNotConfigured,
    #[error("{}", .0.message())]
    LimitReached(Limit),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub type RoomResult<T> = Result<T, RoomError>;

/// Capacities and presence deadlines, per room type where they differ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    pub heartbeat_timeout_ms: [u64; 3],
    pub max_members: [u32; 3],
    pub max_audiences: u32,
    /// Viewers have no heartbeat in the 2018 protocol; `add_audience` refreshes them.
    pub audience_ttl_ms: u64,
    /// Per room type, whether and how its streams are recorded
    /// (`RTCROOM_{TYPE}_ROOM_RECORD`).
    pub record: [RecordMode; 3],
    /// How long a room's list of recordings is kept (`RTCROOM_RECORDINGS_KEEP_DAYS`).
    pub recordings_keep_ms: u64,
    /// Whether members (not only the creator) may list a room's recordings
    /// (`RTCROOM_RECORDINGS_FOR_MEMBERS`).
    pub recordings_for_members: bool,
}

/// Whether a room type's streams are recorded (`RTCROOM_{TYPE}_ROOM_RECORD`), and in what.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RecordMode {
    /// `off`: never (a `create_room` asking for recording is refused).
    #[default]
    Off,
    /// `on`/`mp4`/`flv`: every room of the type.
    Always(RecordFormat),
    /// `on-request`/`on-request-flv`: the rooms whose `create_room` asked (`record: true`).
    OnRequest(RecordFormat),
}

impl RecordMode {
    /// The format, unless the type is never recorded.
    pub fn format(self) -> Option<RecordFormat> {
        match self {
            RecordMode::Off => None,
            RecordMode::Always(f) | RecordMode::OnRequest(f) => Some(f),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            heartbeat_timeout_ms: [20_000; 3],
            max_members: [2, 4, 4],
            max_audiences: 30,
            audience_ttl_ms: 2 * 60 * 60 * 1000,
            record: [RecordMode::Off; 3],
            recordings_keep_ms: 30 * 86_400_000,
            recordings_for_members: false,
        }
    }
}

/// `add_pusher`'s input.
#[derive(Debug, Clone)]
pub struct JoinInput {
    pub room_id: String,
    pub user_name: String,
    pub user_avatar: String,
    pub push_url: String,
    pub room_info: Option<String>,
}

pub struct Rooms {
    store: Arc<dyn RoomStore>,
    clock: Arc<dyn Clock>,
    limits: Limits,
    urls: UrlSigner,
}

impl Rooms {
    pub fn new(
        store: Arc<dyn RoomStore>,
        clock: Arc<dyn Clock>,
        limits: Limits,
        urls: UrlSigner,
    ) -> Self {
        Self {
            store,
            clock,
            limits,
            urls,
        }
    }

    pub fn store(&self) -> &Arc<dyn RoomStore> {
        &self.store
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Creates an inactive room; its first joiner becomes the creator. Returns the roomID.
    /// `record`: the room is to be recorded (where the room type is recorded at all).
    pub async fn create_room(
        &self,
        caller: &Session,
        room_type: RoomType,
        room_id: Option<String>,
        room_info: &str,
        record: bool,
    ) -> RoomResult<String> {
        check_len("roomInfo", room_info, MAX_ROOM_INFO_BYTES)?;
        if record && self.limits.record[room_type.index()] == RecordMode::Off {
            return Err(not_recorded_here());
        }
        let room_id = room_id.or_else(|| caller.grant.as_ref().map(|g| g.room_id.clone()));
        let now = self.clock.now_ms();
        match room_id {
            Some(room_id) => {
                validate_room_id(&room_id)?;
                self.check_grant(caller, Some(&room_id), privilege::CREATE_ROOM, 0)?;
                match self
                    .store
                    .create_room(
                        &RoomKey::new(room_type, &room_id),
                        &caller.user_id,
                        room_info,
                        record,
                        now,
                    )
                    .await?
                {
                    CreateOutcome::Created => Ok(room_id),
                    CreateOutcome::Exists => Err(RoomError::RoomExists(room_id)),
                    CreateOutcome::LimitReached(limit) => Err(limit_reached(limit)),
                }
            }
            None => {
                // Random ids collide with negligible probability; try a few before giving up.
                for _ in 0..4 {
                    let room_id = format!(
                        "room_{:08x}_{:04x}",
                        rand::random::<u32>(),
                        rand::random::<u16>()
                    );
                    let key = RoomKey::new(room_type, &room_id);
                    match self
                        .store
                        .create_room(&key, &caller.user_id, room_info, record, now)
                        .await?
                    {
                        CreateOutcome::Created => return Ok(room_id),
                        CreateOutcome::Exists => {}
                        CreateOutcome::LimitReached(limit) => return Err(limit_reached(limit)),
                    }
                }
                Err(RoomError::Store(StoreError::Contention(
                    "no free random roomID".into(),
                )))
            }
        }
    }

    /// `add_pusher`: joins (creating or activating the room as needed) or updates the caller.
    pub async fn join(
        &self,
        caller: &Session,
        room_type: RoomType,
        input: JoinInput,
    ) -> RoomResult<JoinOutcome> {
        validate_room_id(&input.room_id)?;
        check_len("userName", &input.user_name, MAX_USER_FIELD_BYTES)?;
        check_len("userAvatar", &input.user_avatar, MAX_USER_FIELD_BYTES)?;
        check_len("pushURL", &input.push_url, MAX_URL_BYTES)?;
        if let Some(info) = &input.room_info {
            check_len("roomInfo", info, MAX_ROOM_INFO_BYTES)?;
        }
        let stream = stream_of(&input.push_url)
            .ok_or_else(|| RoomError::Invalid("pushURL has no stream name".into()))?;
        if !self.urls.stream_belongs_to(stream, &caller.user_id) {
            return Err(RoomError::Forbidden(
                "pushURL is not a stream issued to this userID (use get_push_url)".into(),
            ));
        }
        self.check_grant(
            caller,
            Some(&input.room_id),
            privilege::ENTER_ROOM,
            privilege::SEND_AUDIO | privilege::SEND_VIDEO,
        )?;
        let (recorded, record_check) =
            self.recording_of(room_type, &input.room_id, &input.push_url)?;
        let may_create = caller
            .grant
            .as_ref()
            .is_none_or(|g| g.privileges & privilege::CREATE_ROOM != 0);
        let now = self.clock.now_ms();
        let stream_id = stream.to_owned();
        let member = Member {
            user_id: caller.user_id.clone(),
            user_name: input.user_name,
            user_avatar: input.user_avatar,
            stream_id: stream_id.clone(),
            push_url: input.push_url.clone(),
            joined_at_ms: now,
            alive_until_ms: now + self.limits.heartbeat_timeout_ms[room_type.index()],
            stream_live_until_ms: 0,
        };
        let key = RoomKey::new(room_type, input.room_id);
        let outcome = self
            .store
            .join(JoinRequest {
                key: key.clone(),
                member,
                capacity: self.limits.max_members[room_type.index()],
                create_with_info: may_create.then(|| input.room_info.clone().unwrap_or_default()),
                room_info: input.room_info,
                now_ms: now,
                record: record_check,
            })
            .await?;
        match outcome {
            JoinOutcome::Full => Err(RoomError::RoomFull),
            JoinOutcome::NoRoom => Err(RoomError::NoSuchRoom),
            JoinOutcome::LimitReached(limit) => Err(limit_reached(limit)),
            JoinOutcome::RecordMismatch { room_recorded } => Err(if room_recorded {
                not_from_this_type()
            } else {
                asks_for_recording()
            }),
            joined => {
                if recorded {
                    // The room its segments are filed under (they may name none: a live
                    // room's anchor), and which instance of that roomID it is.
                    let (creator, room_created_ms) = self
                        .store
                        .room(&key, now)
                        .await?
                        .map(|r| (r.creator, r.created_at_ms))
                        .unwrap_or_default();
                    self.store
                        .bind_recorded_stream(
                            &stream_id,
                            &RecordedStream {
                                key,
                                creator,
                                room_created_ms,
                            },
                            now + self.limits.recordings_keep_ms,
                            now,
                        )
                        .await?;
                }
                Ok(joined)
            }
        }
    }

    pub async fn heartbeat(&self, caller: &Session, key: &RoomKey) -> RoomResult<()> {
        validate_room_id(&key.room_id)?;
        let now = self.clock.now_ms();
        let until = now + self.limits.heartbeat_timeout_ms[key.room_type.index()];
        if self
            .store
            .heartbeat(key, &caller.user_id, until, now)
            .await?
        {
            Ok(())
        } else {
            Err(RoomError::NotMember)
        }
    }

    /// `delete_pusher`: whether the caller left (`false`: it was not a present member, which
    /// is not an error: leaving is idempotent, so a guest the anchor kicked out, or a member
    /// whose first leave's answer was lost, can leave again). Whether the room ended is in
    /// its events.
    pub async fn leave(&self, caller: &Session, key: &RoomKey) -> RoomResult<bool> {
        validate_room_id(&key.room_id)?;
        match self
            .store
            .leave(key, &caller.user_id, self.clock.now_ms())
            .await?
        {
            LeaveOutcome::Left { .. } => Ok(true),
            LeaveOutcome::NotMember => Ok(false),
        }
    }

    pub async fn destroy(&self, caller: &Session, key: &RoomKey) -> RoomResult<()> {
        validate_room_id(&key.room_id)?;
        match self
            .store
            .destroy_room(key, &caller.user_id, self.clock.now_ms())
            .await?
        {
            DestroyOutcome::Destroyed => Ok(()),
            DestroyOutcome::NotCreator => Err(RoomError::NotCreator),
            DestroyOutcome::NoRoom => Err(RoomError::NoSuchRoom),
        }
    }

    /// The present room with its live members.
    pub async fn room(&self, key: &RoomKey) -> RoomResult<RoomView> {
        validate_room_id(&key.room_id)?;
        self.store
            .room(key, self.clock.now_ms())
            .await?
            .ok_or(RoomError::NoSuchRoom)
    }

    pub async fn list(
        &self,
        room_type: RoomType,
        index: u32,
        count: u32,
    ) -> RoomResult<Vec<RoomView>> {
        let count = count.min(MAX_LIST_COUNT);
        Ok(self
            .store
            .list_rooms(room_type, index, count, self.clock.now_ms())
            .await?)
    }

    pub async fn add_audience(
        &self,
        caller: &Session,
        key: &RoomKey,
        user_info: String,
    ) -> RoomResult<()> {
        validate_room_id(&key.room_id)?;
        check_len("userInfo", &user_info, MAX_USER_FIELD_BYTES)?;
        self.check_grant(caller, Some(&key.room_id), privilege::ENTER_ROOM, 0)?;
        let now = self.clock.now_ms();
        let audience = Audience {
            user_id: caller.user_id.clone(),
            user_info,
            joined_at_ms: now,
            alive_until_ms: now + self.limits.audience_ttl_ms,
        };
        match self
            .store
            .add_audience(key, audience, self.limits.max_audiences, now)
            .await?
        {
            AudienceOutcome::Added => Ok(()),
            AudienceOutcome::Full => Err(RoomError::AudienceFull),
            AudienceOutcome::NoRoom => Err(RoomError::NoSuchRoom),
            AudienceOutcome::LimitReached(limit) => Err(limit_reached(limit)),
        }
    }

    /// Removing someone who is not (or no longer) a viewer is not an error: the outcome the
    /// caller wants holds.
    pub async fn remove_audience(&self, caller: &Session, key: &RoomKey) -> RoomResult<()> {
        validate_room_id(&key.room_id)?;
        self.store
            .remove_audience(key, &caller.user_id, self.clock.now_ms())
            .await?;
        Ok(())
    }

    pub async fn audiences(&self, key: &RoomKey) -> RoomResult<Vec<Audience>> {
        validate_room_id(&key.room_id)?;
        self.store
            .audiences(key, self.clock.now_ms())
            .await?
            .ok_or(RoomError::NoSuchRoom)
    }

    pub async fn update_custom(
        &self,
        caller: &Session,
        key: &RoomKey,
        field: &str,
        op: CustomOp,
    ) -> RoomResult<std::collections::BTreeMap<String, i64>> {
        validate_room_id(&key.room_id)?;
        if field.is_empty() {
            return Err(RoomError::Invalid("fieldName is empty".into()));
        }
        check_len("fieldName", field, MAX_FIELD_NAME_BYTES)?;
        self.check_grant(caller, Some(&key.room_id), 0, 0)?;
        match self
            .store
            .update_custom(key, &caller.user_id, field, op, self.clock.now_ms())
            .await?
        {
            CustomOutcome::Updated(custom) => Ok(custom),
            CustomOutcome::TooManyFields => Err(RoomError::Invalid(format!(
                "a room has at most {MAX_CUSTOM_FIELDS} custom fields"
            ))),
            CustomOutcome::NoRoom => Err(RoomError::NoSuchRoom),
            CustomOutcome::NotPresent => Err(RoomError::NotMember),
        }
    }

    /// Mixing streams needs Tencent Cloud's mixer or a relay that mixes; neither exists here
    /// yet, so a valid request is answered with `MixingNotConfigured`.
    pub async fn merge_stream(&self, key: &RoomKey, merge_params: &str) -> RoomResult<()> {
        validate_room_id(&key.room_id)?;
        check_len("mergeParams", merge_params, 16 * 1024)?;
        if serde_json::from_str::<serde_json::Value>(merge_params).is_err() {
            return Err(RoomError::BadJson("mergeParams"));
        }
        Err(RoomError::MixingNotConfigured)
    }

    /// Whether `user_id` is a live member or viewer of the present room `key`.
    pub async fn is_present(&self, key: &RoomKey, user_id: &str) -> RoomResult<bool> {
        let view = self.room(key).await?;
        if view.members.iter().any(|m| m.user_id == user_id) {
            return Ok(true);
        }
        if view.audience_count == 0 {
            return Ok(false);
        }
        Ok(self
            .audiences(key)
            .await?
            .iter()
            .any(|a| a.user_id == user_id))
    }

    /// The room with this roomID, of any type, in which `user_id` is a live member or viewer:
    /// the first of live_room, multi_room, double_room (a group join by roomID alone, as the
    /// 2018 clients' IM groups were named; spec/events.md EV-12).
    pub async fn room_of(&self, room_id: &str, user_id: &str) -> RoomResult<Option<RoomKey>> {
        validate_room_id(room_id)?;
        for room_type in [RoomType::Live, RoomType::Multi, RoomType::Double] {
            let key = RoomKey::new(room_type, room_id);
            match self.is_present(&key, user_id).await {
                Ok(true) => return Ok(Some(key)),
                Ok(false) | Err(RoomError::NoSuchRoom) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(None)
    }

    /// The media relay reports `stream` live (`true`) or stopped: members publishing it stay
    /// present for a heartbeat timeout from now while the reports keep coming. Returns how many
    /// live members publish it.
    pub async fn stream_report(&self, stream: &str, live: bool) -> RoomResult<u32> {
        let report = if live {
            StreamReport::Live {
                keep_alive_ms: self.limits.heartbeat_timeout_ms,
            }
        } else {
            StreamReport::Stopped
        };
        Ok(self
            .store
            .stream_report(stream, report, self.clock.now_ms())
            .await?)
    }

    pub async fn sweep(&self) -> RoomResult<SweepReport> {
        Ok(self.store.sweep(self.clock.now_ms()).await?)
    }

    /// A PrivateMapKey grant limits its holder to one room and to its privilege bits: all of
    /// `required`, and at least one of `any_of` when that is not 0.
    fn check_grant(
        &self,
        caller: &Session,
        room_id: Option<&str>,
        required: u32,
        any_of: u32,
    ) -> RoomResult<()> {
        let Some(grant) = &caller.grant else {
            return Ok(());
        };
        if self.clock.now_secs() > grant.expires_at {
            return Err(RoomError::Forbidden("PrivateMapKey expired".into()));
        }
        if let Some(room_id) = room_id
            && room_id != grant.room_id
        {
            return Err(RoomError::Forbidden(format!(
                "PrivateMapKey does not cover room {room_id}"
            )));
        }
        if grant.privileges & required != required
            || (any_of != 0 && grant.privileges & any_of == 0)
        {
            return Err(RoomError::Forbidden(
                "PrivateMapKey lacks the privilege for this call".into(),
            ));
        }
        Ok(())
    }
}

fn limit_reached(limit: Limit) -> RoomError {
    RoomError::LimitReached(limit)
}

fn check_len(field: &'static str, value: &str, max: usize) -> RoomResult<()> {
    if value.len() > max {
        Err(RoomError::TooLong { field, max })
    } else {
        Ok(())
    }
}

/// roomIDs are 1-128 bytes without control characters.
/// A roomID as a JSON value: a string, or an integer written as one (clients of 2018 send
/// numeric roomIDs). Fractions, exponents, booleans, arrays and objects are not roomIDs:
/// `1e2` would otherwise become the room `"100.0"`. `None` when it is none of those.
pub fn room_id_from_json(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) if n.is_u64() || n.is_i64() => Some(n.to_string()),
        _ => None,
    }
}

pub fn validate_room_id(room_id: &str) -> RoomResult<()> {
    if room_id.is_empty() {
        return Err(RoomError::Invalid("roomID is empty".into()));
    }
    check_len("roomID", room_id, MAX_ROOM_ID_BYTES)?;
    if room_id.chars().any(char::is_control) {
        return Err(RoomError::Invalid(
            "roomID contains control characters".into(),
        ));
    }
    Ok(())
}
