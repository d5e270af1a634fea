//! Present rooms of this type in creation order, a page at a time.
//!
//! ```text
//! POST /weapp/{type}/get_room_list?userID=&token=    body: {"cnt":20,"index":0}
//! → {"code":0,"message":"请求成功","rooms":[
//!     {"roomID":"r1","roomInfo":"..","roomName":"..","roomCreator":"u1","mixedPlayURL":"..flv..",
//!      "custom":"{}","pushers":[{"userID","userName","userAvatar","accelerateURL",
//!                                "streamLive","srtPlayURL","srtPlayPassphrase"}],
//!      "audienceCount":0 (live_room only)}]}
//! errors: 1 missing or negative cnt/index
//! ```
//!
//! `cnt` is capped at 100. Pushers are those of `get_pushers`, rtcroom extensions included
//! (`streamLive`; `srtPlayURL` and `srtPlayPassphrase` unless `RTCROOM_SRT_HOST=off`).

use super::room_json::RoomJson;
use super::Call;
use crate::api::{ApiError, Params, Reply};

pub struct GetRoomList {
    index: u32,
    count: u32,
}

impl GetRoomList {
    pub fn parse(body: &Params) -> Result<Self, ApiError> {
        Ok(Self {
            count: body.u32("cnt")?,
            index: body.u32("index")?,
        })
    }

    pub async fn apply(self, call: &Call<'_>) -> Result<Reply, ApiError> {
        let rooms = call
            .app
            .rooms
            .list(call.room_type, self.index, self.count)
            .await?;
        let rooms: Vec<_> = rooms
            .iter()
            .map(|view| RoomJson::new(call.app, view))
            .collect();
        Ok(Reply::ok().with("rooms", rooms))
    }
}
