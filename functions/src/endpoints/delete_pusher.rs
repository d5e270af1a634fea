//! Leaves a room. In a live_room the creator leaving ends the room; a double/multi room ends
//! when its last member leaves.
//!
//! ```text
//! POST /weapp/{type}/delete_pusher?userID=&token=    body: {"roomID":"r1","userID":"u1"}
//! → {"code":0,"message":"请求成功"}
//! errors: 1 missing roomID/userID · 5 not a member
//! ```

use super::{own_room_id, room_key};
use crate::api::{ApiError, Call, Params, Reply};

pub struct DeletePusher {
    room_id: String,
}

impl DeletePusher {
    pub fn parse(body: &Params) -> Result<Self, ApiError> {
        Ok(Self {
            room_id: own_room_id(body)?,
        })
    }

    pub async fn apply(self, call: &Call<'_>) -> Result<Reply, ApiError> {
        call.app
            .rooms
            .leave(&call.session, &room_key(call, self.room_id))
            .await?;
        Ok(Reply::ok())
    }
}
