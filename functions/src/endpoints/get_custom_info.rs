//! live_room: the room's custom counters.
//!
//! ```text
//! POST /weapp/live_room/get_custom_info?userID=&token=    body: {"roomID":"r1"}
//! → {"code":0,"message":"请求成功","custom":"{\"likes\":3}"}
//! errors: 1 missing roomID · 3 no such room
//! ```

use super::room_key;
use crate::api::reply::custom_json;
use super::Call;
use crate::api::{ApiError, Params, Reply};

pub struct GetCustomInfo {
    room_id: String,
}

impl GetCustomInfo {
    pub fn parse(body: &Params) -> Result<Self, ApiError> {
        Ok(Self {
            room_id: body.id("roomID")?,
        })
    }

    pub async fn apply(self, call: &Call<'_>) -> Result<Reply, ApiError> {
        let view = call.app.rooms.room(&room_key(call, self.room_id)).await?;
        Ok(Reply::ok().with("custom", custom_json(&view.custom)))
    }
}
