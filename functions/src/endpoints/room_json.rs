//! `Room` and `Pusher` as clients parse them (`get_pushers`, `get_room_list`); a pusher's
//! `streamLive`, `srtPlayURL` and `srtPlayPassphrase` are rtcroom extensions.

use rtcroom_shared::model::{RoomType, RoomView};
use serde::Serialize;

use crate::api::reply::custom_json;
use crate::app::App;

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
    /// The member's stream over SRT, signed with the play key, and its passphrase (rtcroom
    /// extension; absent when `RTCROOM_SRT_HOST=off`).
    #[serde(rename = "srtPlayURL", skip_serializing_if = "Option::is_none")]
    srt_play_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    srt_play_passphrase: Option<String>,
}

impl<'a> RoomJson<'a> {
    pub fn new(app: &App, view: &'a RoomView) -> Self {
        let now = app.now_secs();
        let now_ms = app.rooms.clock().now_ms();
        let urls = &app.config.urls;
        let pushers = view
            .members
            .iter()
            .map(|m| {
                let (srt_play_url, srt_play_passphrase) = urls
                    .srt_play(&m.stream_id, now)
                    .map(|a| (a.url, a.passphrase))
                    .unzip();
                PusherJson {
                    user_id: &m.user_id,
                    user_name: &m.user_name,
                    user_avatar: &m.user_avatar,
                    accelerate_url: urls.accelerate_url(&m.stream_id, now),
                    stream_live: m.stream_live(now_ms),
                    srt_play_url,
                    srt_play_passphrase,
                }
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
