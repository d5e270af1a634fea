//! A present room and its live members; what clients call after every `notifyPusherChange`.
//!
//! ```text
//! POST /weapp/{type}/get_pushers?userID=&token=    body: {"roomID":"r1"}
//! → {"code":0,"message":"请求成功","roomID":"r1","roomInfo":"..","roomName":"..",
//!    "roomCreator":"u1","mixedPlayURL":"..flv..","custom":"{\"likes\":3}",
//!    "pushers":[{"userID":"u1","userName":"..","userAvatar":"..","accelerateURL":"rtmp://..",
//!                "streamLive":false,
//!                "srtPlayURL":"srt://{srtHost}?streamid=..&passphrase=..&pbkeylen=16",
//!                "srtPlayPassphrase":"{32 hex}"}],
//!    "audienceCount":0 (live_room only)}
//! errors: 1 missing roomID · 3 no such (present) room
//! ```
//!
//! `streamLive`, `srtPlayURL` and `srtPlayPassphrase` are rtcroom extensions (2018 clients
//! ignore them); the two SRT fields are absent when `RTCROOM_SRT_HOST=off`. `srtPlayURL`
//! carries `accelerateURL`'s play signature in an `m=request` stream id (spec/url-signing.md).
//!
//! A member whose heartbeat deadline has passed is not listed, whether or not the sweeper has
//! run yet.

use super::room_key;
use super::room_json::RoomJson;
use super::Call;
use crate::api::{ApiError, Params, Reply};

pub struct GetPushers {
    room_id: String,
}

impl GetPushers {
    pub fn parse(body: &Params) -> Result<Self, ApiError> {
        Ok(Self {
            room_id: body.id("roomID")?,
        })
    }

    pub async fn apply(self, call: &Call<'_>) -> Result<Reply, ApiError> {
        let view = call.app.rooms.room(&room_key(call, self.room_id)).await?;
        Ok(Reply::ok().with_fields(&RoomJson::new(call.app, &view)))
    }
}
