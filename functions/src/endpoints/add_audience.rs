//! live_room: joins the room as a viewer (or refreshes one's entry).
//!
//! ```text
//! POST /weapp/live_room/add_audience?userID=&token=
//!      body: {"roomID":"r1","userID":"u1","userInfo":"{..}" (text or object)}
//! → {"code":0,"message":"请求成功"}
//! errors: 1 missing field · 3 no such room · 5001 audience full (30 by default)
//!         7 a PrivateMapKey for another room or without the enter privilege · 10 userInfo too long
//! ```
//!
//! Viewers have no heartbeat in the 2018 protocol; an entry lasts 2 h unless refreshed by
//! calling `add_audience` again, and ends with the room.

use super::{own_room_id, room_key};
use super::Call;
use crate::api::{ApiError, Params, Reply};

pub struct AddAudience {
    room_id: String,
    user_info: String,
}

impl AddAudience {
    pub fn parse(body: &Params) -> Result<Self, ApiError> {
        Ok(Self {
            room_id: own_room_id(body)?,
            user_info: body.text("userInfo")?.into_owned(),
        })
    }

    pub async fn apply(self, call: &Call<'_>) -> Result<Reply, ApiError> {
        call.app
            .rooms
            .add_audience(&call.session, &room_key(call, self.room_id), self.user_info)
            .await?;
        Ok(Reply::ok())
    }
}
