//! Messages members and viewers send into their room, and the events they read back.

use super::{
    MAX_EVENTS_PAGE, MAX_FIELD_NAME_BYTES, MAX_MESSAGE_BYTES, MAX_USER_FIELD_BYTES, RoomError,
    RoomResult, Rooms, check_len, validate_room_id,
};
use crate::model::{Event, EventKind, RoomKey};
use crate::store::{Message, MessageOutcome};
use crate::token::Session;

/// A message a member or viewer sends into its room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageInput {
    /// `CustomTextMsg`.
    Text {
        msg: String,
        nick_name: String,
        head_pic: String,
    },
    /// `CustomCmdMsg`.
    Cmd {
        cmd: String,
        msg: String,
        user_name: String,
        user_avatar: String,
    },
    /// A one-to-one link-mic message; `data` is a JSON object with a string `type`
    /// (`request`, `response` or `kickout`).
    LinkMic { to: String, data: String },
    /// A one-to-one message of another `cmd`; `data` is any JSON value.
    C2C {
        to: String,
        cmd: String,
        data: String,
    },
}

/// Events for one reader: those it may see with `seq > since`, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventsPage {
    pub events: Vec<Event>,
    /// The room's last event number when read.
    pub last_seq: u64,
    /// Events after `since` were dropped (older than the retention): the reader must refetch
    /// the room's state; `events` holds what is kept.
    pub resync: bool,
}

impl Rooms {
    /// Records the caller's message as a room event; its sequence number. Code 5 when the
    /// caller is not a live member or viewer, 1 when a link-mic addressee is not either.
    pub async fn send_message(
        &self,
        caller: &Session,
        key: &RoomKey,
        input: MessageInput,
    ) -> RoomResult<u64> {
        validate_room_id(&key.room_id)?;
        let from = caller.user_id.clone();
        let (kind, kickout) = match input {
            MessageInput::Text {
                msg,
                nick_name,
                head_pic,
            } => {
                check_len("msg", &msg, MAX_MESSAGE_BYTES)?;
                check_len("nickName", &nick_name, MAX_USER_FIELD_BYTES)?;
                check_len("headPic", &head_pic, MAX_USER_FIELD_BYTES)?;
                let kind = EventKind::ChatText {
                    user_id: from.clone(),
                    nick_name,
                    head_pic,
                    msg,
                };
                (kind, false)
            }
            MessageInput::Cmd {
                cmd,
                msg,
                user_name,
                user_avatar,
            } => {
                check_len("msg", &msg, MAX_MESSAGE_BYTES)?;
                check_len("cmd", &cmd, MAX_FIELD_NAME_BYTES)?;
                check_len("userName", &user_name, MAX_USER_FIELD_BYTES)?;
                check_len("userAvatar", &user_avatar, MAX_USER_FIELD_BYTES)?;
                let kind = EventKind::ChatCmd {
                    user_id: from.clone(),
                    user_name,
                    user_avatar,
                    cmd,
                    msg,
                };
                (kind, false)
            }
            MessageInput::C2C { to, cmd, data } => {
                check_addressee(&to, "C2CCustomMsg")?;
                check_len("data", &data, MAX_MESSAGE_BYTES)?;
                if cmd.is_empty() || cmd == "linkmic" {
                    return Err(RoomError::Invalid(
                        "C2CCustomMsg needs a cmd other than linkmic (send linkmic as linkmic)"
                            .into(),
                    ));
                }
                check_len("cmd", &cmd, MAX_FIELD_NAME_BYTES)?;
                serde_json::from_str::<serde_json::Value>(&data)
                    .map_err(|_| RoomError::BadJson("data"))?;
                let kind = EventKind::C2CCustom {
                    from: from.clone(),
                    to,
                    cmd,
                    data,
                };
                (kind, false)
            }
            MessageInput::LinkMic { to, data } => {
                check_len("data", &data, MAX_MESSAGE_BYTES)?;
                check_addressee(&to, "linkmic")?;
                let parsed: serde_json::Value =
                    serde_json::from_str(&data).map_err(|_| RoomError::BadJson("data"))?;
                let kickout = match parsed.get("type").and_then(|t| t.as_str()) {
                    Some("request" | "response") => false,
                    Some("kickout") => true,
                    _ => {
                        return Err(RoomError::Invalid(
                            "linkmic data.type is request, response or kickout".into(),
                        ));
                    }
                };
                let kind = EventKind::LinkMic {
                    from: from.clone(),
                    to,
                    data,
                };
                (kind, kickout)
            }
        };
        let message = Message {
            from,
            kind,
            kickout,
        };
        match self.store.send(key, message, self.clock.now_ms()).await? {
            MessageOutcome::Sent { seq } => Ok(seq),
            MessageOutcome::NotPresent => Err(RoomError::NotMember),
            MessageOutcome::NoRecipient => Err(RoomError::Invalid(
                "the addressee is not in the room".into(),
            )),
            MessageOutcome::NoRoom => Err(RoomError::NoSuchRoom),
        }
    }

    /// The room's events after `since` (default: none, only the last number) that `reader`
    /// may see, at most `limit`. Only a live member or viewer may read (code 5).
    pub async fn events(
        &self,
        reader: &Session,
        key: &RoomKey,
        since: Option<u64>,
        limit: u32,
    ) -> RoomResult<EventsPage> {
        validate_room_id(&key.room_id)?;
        if !self.is_present(key, &reader.user_id).await? {
            return Err(RoomError::NotMember);
        }
        self.events_after(key, &reader.user_id, since, limit).await
    }

    /// [`Rooms::events`] without the presence check (the WebSocket checks at connect).
    pub async fn events_after(
        &self,
        key: &RoomKey,
        reader: &str,
        since: Option<u64>,
        limit: u32,
    ) -> RoomResult<EventsPage> {
        let last_seq = self.store.last_seq(key).await?;
        let since = since.unwrap_or(last_seq).min(last_seq);
        if since == last_seq {
            return Ok(EventsPage {
                events: Vec::new(),
                last_seq,
                resync: false,
            });
        }
        let events = self
            .store
            .events_since(key, since, limit.clamp(1, MAX_EVENTS_PAGE))
            .await?;
        let resync = events.first().is_none_or(|e| e.seq > since + 1);
        Ok(EventsPage {
            events: events
                .into_iter()
                .filter(|e| crate::room_events::visible_to(e, reader))
                .collect(),
            last_seq,
            resync,
        })
    }
}

/// A one-to-one message's `to`: a userID.
fn check_addressee(to: &str, what: &str) -> RoomResult<()> {
    if to.is_empty() {
        return Err(RoomError::Invalid(format!("{what} needs to")));
    }
    check_len("to", to, MAX_USER_FIELD_BYTES)
}
