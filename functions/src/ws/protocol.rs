//! What both event servers (the local `/ws` and the cloud's `ws_connect`/`ws_message`) share,
//! so the two cannot drift: who may connect ([`authorise`], EV-4), the per-connection limits
//! (EV-8), and the WebSocket messages (`spec/events.md`, EV-7, EV-12 to EV-14): a client frame
//! parsed into a [`Frame`], and the answers, each carrying the frame's `id` back when it had
//! one. Nothing here knows the HTTP server.
//!
//! ```text
//! → {"type":"ping","id":1}                                   ← {"type":"pong","id":1}
//! → {"type":"join","roomID":"r1","id":2}                     ← {"type":"joined","roomID":"r1","state":"pending","id":2}
//!                                                            ← {"type":"joined","roomID":"r1","roomType":"live_room","state":"admitted","seq":6}
//! → {"type":"CustomTextMsg","msg":"hi","id":3}               ← {"type":"ack","seq":7,"id":3}
//! → {"type":"C2CCustomMsg","to":"bob","cmd":"sketchpad","data":{..}}
//! → {"type":"leave","id":4}                                  ← {"type":"left","roomID":"r1","reason":"left","id":4}
//! ```

use http::StatusCode;
use rtcroom_shared::model::{RoomKey, RoomType};
use rtcroom_shared::rooms::{MAX_MESSAGE_BYTES, MessageInput, RoomError, room_id_from_json};
use rtcroom_shared::token::Session;
use serde_json::{Map, Value, json};

use crate::api::Params;
use crate::app::App;

/// Client frames allowed per connection in any one second (EV-8).
pub const MAX_MESSAGES_PER_SEC: u32 = 20;
/// A client frame's size limit (EV-8).
pub const MAX_FRAME_BYTES: usize = MAX_MESSAGE_BYTES;
/// Who connects, and to which room when it names one at connect.
pub struct Target {
    pub session: Session,
    /// A room connection's room and `since`; `None` for a session connection (EV-11).
    pub room: Option<(RoomKey, Option<u64>)>,
}

/// Checks a connection's query: the token and, for a room connection, the room and that the
/// user is in it. Refusals carry the HTTP status to answer (EV-4).
pub async fn authorise(app: &App, query: &Params) -> Result<Target, (StatusCode, String)> {
    let session = app
        .authenticate(query, &Params::default())
        .await
        .map_err(|e| (StatusCode::UNAUTHORIZED, e.to_string()))?;
    let bad = |m: String| (StatusCode::BAD_REQUEST, m);
    let room_type = query.opt_text("roomType").filter(|t| !t.is_empty());
    let room_id = query.opt_text("roomID").filter(|r| !r.is_empty());
    if room_type.is_none() && room_id.is_none() {
        return Ok(Target {
            session,
            room: None,
        });
    }
    let room_type = room_type
        .and_then(|t| RoomType::from_path(&t))
        .ok_or_else(|| bad("roomType is double_room, multi_room or live_room".into()))?;
    let room_id = room_id
        .ok_or_else(|| bad("roomID missing".into()))?
        .into_owned();
    let since = query.opt_u64("since").map_err(|e| bad(e.to_string()))?;
    let key = RoomKey::new(room_type, room_id);
    match app.rooms.is_present(&key, &session.user_id).await {
        Ok(true) => Ok(Target {
            session,
            room: Some((key, since)),
        }),
        Ok(false) | Err(RoomError::NoSuchRoom) => Err((
            StatusCode::FORBIDDEN,
            "not a present member or viewer of this room".into(),
        )),
        Err(RoomError::Invalid(m)) => Err(bad(m)),
        Err(e @ RoomError::TooLong { .. }) => Err(bad(e.to_string())),
        Err(e) => Err((StatusCode::SERVICE_UNAVAILABLE, e.to_string())),
    }
}

/// A client's `id`, echoed in the answer: a number or a string of at most this many bytes.
const MAX_ID_BYTES: usize = 64;

/// One client frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    Ping,
    /// Session connections: follow the room with this roomID (EV-12).
    Join {
        room_id: String,
        since: Option<u64>,
    },
    /// Session connections: stop following (EV-13).
    Leave,
    /// A message into the followed room (EV-7).
    Room(MessageInput),
}

/// A parsed frame with its `id`, or the answer to a frame that is not one.
pub struct Request {
    pub id: Option<Value>,
    pub frame: Result<Frame, String>,
}

impl Request {
    pub fn parse(text: &str) -> Request {
        let Ok(Value::Object(message)) = serde_json::from_str::<Value>(text) else {
            return Request {
                id: None,
                frame: Err("frames are JSON objects".into()),
            };
        };
        let id = message.get("id").filter(|id| valid_id(id)).cloned();
        Request {
            id,
            frame: frame(&message),
        }
    }

    /// `answer` with this request's `id`, when it had one.
    pub fn answer(&self, mut answer: Value) -> Value {
        if let (Some(id), Value::Object(fields)) = (&self.id, &mut answer) {
            fields.insert("id".into(), id.clone());
        }
        answer
    }
}

fn valid_id(id: &Value) -> bool {
    match id {
        Value::Number(_) => true,
        Value::String(s) => s.len() <= MAX_ID_BYTES,
        _ => false,
    }
}

fn frame(message: &Map<String, Value>) -> Result<Frame, String> {
    let text = |name: &str| {
        message
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let json_text = |name: &str| message.get(name).map(Value::to_string).unwrap_or_default();
    Ok(match message.get("type").and_then(Value::as_str) {
        Some("ping") => Frame::Ping,
        Some("join") => {
            let room_id = match message.get("roomID").and_then(room_id_from_json) {
                Some(id) if !id.is_empty() => id,
                _ => return Err("join needs a roomID: a string or an integer".into()),
            };
            let since = match message.get("since") {
                None | Some(Value::Null) => None,
                Some(v) => Some(v.as_u64().ok_or("since is a sequence number")?),
            };
            Frame::Join { room_id, since }
        }
        Some("leave") => Frame::Leave,
        Some("CustomTextMsg") => Frame::Room(MessageInput::Text {
            msg: text("msg"),
            nick_name: text("nickName"),
            head_pic: text("headPic"),
        }),
        Some("CustomCmdMsg") => Frame::Room(MessageInput::Cmd {
            cmd: text("cmd"),
            msg: text("msg"),
            user_name: text("userName"),
            user_avatar: text("userAvatar"),
        }),
        Some("linkmic") => Frame::Room(MessageInput::LinkMic {
            to: text("to"),
            data: json_text("data"),
        }),
        Some("C2CCustomMsg") => Frame::Room(MessageInput::C2C {
            to: text("to"),
            cmd: text("cmd"),
            data: json_text("data"),
        }),
        _ => {
            return Err(
                "type is ping, join, leave, CustomTextMsg, CustomCmdMsg, linkmic or C2CCustomMsg"
                    .into(),
            );
        }
    })
}

pub fn error(message: &str) -> Value {
    json!({"type": "error", "message": message})
}

pub fn pong() -> Value {
    json!({"type": "pong"})
}

/// The join was accepted and waits for the user to become a member or viewer (EV-12).
pub fn pending(room_id: &str) -> Value {
    json!({"type": "joined", "roomID": room_id, "state": "pending"})
}

/// The connection follows `key` from now on, with the events after `after` (EV-12): a client
/// that reconnects joins again with `since` = the last event it heard.
pub fn admitted(key: &RoomKey, after: u64) -> Value {
    json!({"type": "joined", "roomID": key.room_id, "roomType": key.room_type.as_path(),
           "state": "admitted", "seq": after})
}

/// The pending join ran out (EV-12), or could not be recorded.
pub fn join_failed(room_id: &str, reason: &str) -> Value {
    json!({"type": "joinFailed", "roomID": room_id, "reason": reason})
}

/// Why a session connection stopped following its room (EV-13).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unfollow {
    /// The client's `leave`.
    Left,
    /// The room ended (after its `roomClosed`).
    RoomClosed,
    /// The user is no longer a present member or viewer (after its own leave event).
    NotPresent,
}

impl Unfollow {
    pub fn reason(self) -> &'static str {
        match self {
            Unfollow::Left => "left",
            Unfollow::RoomClosed => "roomClosed",
            Unfollow::NotPresent => "notPresent",
        }
    }
}

pub fn left(room_id: Option<&str>, why: Unfollow) -> Value {
    json!({"type": "left", "roomID": room_id, "reason": why.reason()})
}

/// Records a message into `key` (EV-7): the `ack` or the `error` to answer.
pub async fn room_message(
    app: &App,
    session: &Session,
    key: &RoomKey,
    input: MessageInput,
) -> Value {
    match app.rooms.send_message(session, key, input).await {
        Ok(seq) => json!({"type": "ack", "seq": seq}),
        Err(e) => error(&e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_parse_with_their_ids() {
        let join = Request::parse(r#"{"type":"join","roomID":"r1","since":4,"id":"a"}"#);
        assert_eq!(
            join.frame,
            Ok(Frame::Join {
                room_id: "r1".into(),
                since: Some(4)
            })
        );
        assert_eq!(
            join.answer(pong()),
            json!({"type": "pong", "id": "a"}),
            "the id comes back"
        );
        let numeric_room = Request::parse(r#"{"type":"join","roomID":1042}"#);
        assert_eq!(
            numeric_room.frame,
            Ok(Frame::Join {
                room_id: "1042".into(),
                since: None
            })
        );
        assert!(Request::parse(r#"{"type":"join"}"#).frame.is_err());
        assert!(
            Request::parse(r#"{"type":"join","roomID":"r","since":-1}"#)
                .frame
                .is_err()
        );
        assert!(Request::parse("[1]").frame.is_err());
        assert!(Request::parse(r#"{"type":"dance"}"#).frame.is_err());
        let long_id = format!(r#"{{"type":"ping","id":"{}"}}"#, "x".repeat(65));
        assert_eq!(
            Request::parse(&long_id).answer(pong()),
            pong(),
            "ids over 64 bytes are dropped"
        );
        let c2c =
            Request::parse(r#"{"type":"C2CCustomMsg","to":"b","cmd":"sketchpad","data":{"a":1}}"#);
        assert_eq!(
            c2c.frame,
            Ok(Frame::Room(MessageInput::C2C {
                to: "b".into(),
                cmd: "sketchpad".into(),
                data: r#"{"a":1}"#.into()
            }))
        );
    }
}
