//! Leaves a room. In a live_room the creator leaving ends the room; a double/multi room ends
//! when its last member leaves.
//!
//! ```text
//! POST /weapp/{type}/delete_pusher?userID=&token=    body: {"roomID":"r1","userID":"u1"}
//! → {"code":0,"message":"请求成功"}
//! errors: 1 missing roomID/userID
//! ```
//!
//! Leaving is idempotent (ROOM-8): somebody who is not (or no longer) a member gets code 0 too.
//! The 2018 live-room component calls `delete_pusher` after the anchor kicked its guest out,
//! and shows an error for anything but 0.

use super::{own_room_id, room_key};
use super::Call;
use crate::api::{ApiError, Params, Reply};

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
