//! The `{code, message, ...}` envelope and the shapes clients parse (Room, Pusher).
//!
//! Fields are serialised straight into the answer's buffer as they are added: no intermediate
//! JSON tree, which halves the allocations of `get_pushers` (the hottest read).

use rtcroom_shared::model::{RoomType, RoomView};
use rtcroom_shared::rooms::RoomError;
use serde::Serialize;

use super::error::ApiError;
use crate::app::App;

pub const OK_MESSAGE: &str = "请求成功";

/// A successful answer's fields besides `code` and `message`, already serialised as
/// `,"name":value` pairs.
#[derive(Debug, Default)]
pub struct Reply {
    fields: Vec<u8>,
}

impl Reply {
    pub fn ok() -> Self {
        Self::default()
    }

    pub fn with(mut self, name: &str, value: impl Serialize) -> Self {
        self.fields.push(b',');
        write_json(&mut self.fields, name);
        self.fields.push(b':');
        write_json(&mut self.fields, &value);
        self
    }

    /// Adds every field of a struct that serialises as a JSON object.
    pub fn with_fields(mut self, object: &impl Serialize) -> Self {
        let json = serde_json::to_vec(object).expect("reply fields serialise");
        match json.as_slice() {
            [b'{', b'}'] => {}
            [b'{', inner @ .., b'}'] => {
                self.fields.push(b',');
                self.fields.extend_from_slice(inner);
            }
            _ => panic!("with_fields takes a struct that serialises as an object"),
        }
        self
    }

    pub fn to_body(&self) -> Vec<u8> {
        envelope(0, OK_MESSAGE, &self.fields)
    }

    /// An error answer; `roomID` accompanies code 11 so clients learn which id was taken.
    pub fn error_body(error: &ApiError) -> Vec<u8> {
        let fields = match error {
            ApiError::Room(RoomError::RoomExists(room_id)) => {
                Reply::ok().with("roomID", room_id).fields
            }
            _ => Vec::new(),
        };
        envelope(error.code(), &error.message(), &fields)
    }
}

fn write_json(out: &mut Vec<u8>, value: &(impl Serialize + ?Sized)) {
    serde_json::to_writer(out, value).expect("writing JSON to a Vec cannot fail");
}

fn envelope(code: i32, message: &str, fields: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(40 + message.len() + fields.len());
    out.extend_from_slice(b"{\"code\":");
    write_json(&mut out, &code);
    out.extend_from_slice(b",\"message\":");
    write_json(&mut out, message);
    out.extend_from_slice(fields);
    out.push(b'}');
    out
}

/// `custom` travels as a JSON *string* of `{fieldName: int}`, which is what G2 clients parse.
pub fn custom_json(custom: &std::collections::BTreeMap<String, i64>) -> String {
    serde_json::to_string(custom).expect("a map of integers serialises")
}

/// `Room` as `get_pushers` and `get_room_list` describe it. Push URLs and stream names of
/// members are never shown to others; they get signed play addresses.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RoomJson<'a> {
    #[serde(rename = "roomID")]
    room_id: &'a str,
    room_info: &'a str,
    /// G1 clients read the same value as `roomName`.
    room_name: &'a str,
    room_creator: &'a str,
    #[serde(rename = "mixedPlayURL")]
    mixed_play_url: String,
    custom: String,
    pushers: Vec<PusherJson<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    audience_count: Option<u32>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PusherJson<'a> {
    #[serde(rename = "userID")]
    user_id: &'a str,
    user_name: &'a str,
    user_avatar: &'a str,
    #[serde(rename = "accelerateURL")]
    accelerate_url: String,
    /// The media relay reports the member's stream live (rtcroom extension).
    stream_live: bool,
}

impl<'a> RoomJson<'a> {
    pub fn new(app: &App, view: &'a RoomView) -> Self {
        let now = app.now_secs();
        let now_ms = app.rooms.clock().now_ms();
        let urls = &app.config.urls;
        let pushers = view
            .members
            .iter()
            .map(|m| PusherJson {
                user_id: &m.user_id,
                user_name: &m.user_name,
                user_avatar: &m.user_avatar,
                accelerate_url: urls.accelerate_url(&m.stream_id, now),
                stream_live: m.stream_live(now_ms),
            })
            .collect();
        let mixed_play_url = view
            .members
            .iter()
            .find(|m| m.user_id == view.creator)
            .map(|m| urls.flv_url(&m.stream_id, now))
            .unwrap_or_default();
        Self {
            room_id: &view.key.room_id,
            room_info: &view.room_info,
            room_name: &view.room_info,
            room_creator: &view.creator,
            mixed_play_url,
            custom: custom_json(&view.custom),
            pushers,
            audience_count: (view.key.room_type == RoomType::Live).then_some(view.audience_count),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_puts_code_and_message_first_and_escapes_values() {
        let reply = Reply::ok().with("roomID", "a\"b").with("n", 3);
        assert_eq!(
            String::from_utf8(reply.to_body()).unwrap(),
            r#"{"code":0,"message":"请求成功","roomID":"a\"b","n":3}"#
        );
        #[derive(Serialize)]
        struct Two {
            x: u8,
            y: &'static str,
        }
        let body = Reply::ok().with_fields(&Two { x: 1, y: "z" }).to_body();
        let parsed: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            parsed,
            serde_json::json!({ "code": 0, "message": OK_MESSAGE, "x": 1, "y": "z" })
        );
    }
}
