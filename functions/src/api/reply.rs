//! The `{code, message, ...}` envelope and the shapes clients parse (Room, Pusher).

use rtcroom_shared::model::{RoomType, RoomView};
use rtcroom_shared::rooms::RoomError;
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::error::ApiError;
use crate::app::App;

pub const OK_MESSAGE: &str = "请求成功";

/// A successful answer's fields (besides `code` and `message`).
#[derive(Debug, Default)]
pub struct Reply(Map<String, Value>);

#[derive(Serialize)]
struct Envelope<'a> {
    code: i32,
    message: &'a str,
    #[serde(flatten)]
    fields: &'a Map<String, Value>,
}

impl Reply {
    pub fn ok() -> Self {
        Self::default()
    }

    pub fn with(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.0.insert(name.to_owned(), value.into());
        self
    }

    pub fn to_body(&self) -> Vec<u8> {
        envelope(0, OK_MESSAGE, &self.0)
    }

    /// An error answer; `roomID` accompanies code 11 so clients learn which id was taken.
    pub fn error_body(error: &ApiError) -> Vec<u8> {
        let mut fields = Map::new();
        if let ApiError::Room(RoomError::RoomExists(room_id)) = error {
            fields.insert("roomID".into(), room_id.clone().into());
        }
        envelope(error.code(), &error.message(), &fields)
    }
}

fn envelope(code: i32, message: &str, fields: &Map<String, Value>) -> Vec<u8> {
    serde_json::to_vec(&Envelope {
        code,
        message,
        fields,
    })
    .expect("JSON values always serialise")
}

/// `custom` travels as a JSON *string* of `{fieldName: int}`, which is what G2 clients parse.
pub fn custom_json(custom: &std::collections::BTreeMap<String, i64>) -> String {
    serde_json::to_string(custom).expect("a map of integers serialises")
}

/// `Room` as `get_pushers` and `get_room_list` describe it. Push URLs and stream names of
/// members are never shown to others; they get signed play addresses.
pub fn room_fields(app: &App, view: &RoomView) -> Map<String, Value> {
    let pushers: Vec<Value> = view
        .members
        .iter()
        .map(|m| {
            json!({
                "userID": m.user_id,
                "userName": m.user_name,
                "userAvatar": m.user_avatar,
                "accelerateURL": app.rooms.play_urls(&m.stream_id).accelerate_url,
            })
        })
        .collect();
    let mixed_play_url = view
        .members
        .iter()
        .find(|m| m.user_id == view.creator)
        .map(|m| app.rooms.play_urls(&m.stream_id).flv_url)
        .unwrap_or_default();
    let mut fields = Map::new();
    fields.insert("roomID".into(), view.key.room_id.clone().into());
    fields.insert("roomInfo".into(), view.room_info.clone().into());
    fields.insert("roomName".into(), view.room_info.clone().into());
    fields.insert("roomCreator".into(), view.creator.clone().into());
    fields.insert("mixedPlayURL".into(), mixed_play_url.into());
    fields.insert("custom".into(), custom_json(&view.custom).into());
    fields.insert("pushers".into(), pushers.into());
    if view.key.room_type == RoomType::Live {
        fields.insert("audienceCount".into(), view.audience_count.into());
    }
    fields
}

impl From<Map<String, Value>> for Reply {
    fn from(fields: Map<String, Value>) -> Self {
        Self(fields)
    }
}
