//! Keeps a member present for another heartbeat timeout (20 s by default). Clients beat every
//! 3-7 s.
//!
//! ```text
//! POST /weapp/{type}/pusher_heartbeat?userID=&token=    body: {"roomID":"r1","userID":"u1"}
//! → {"code":0,"message":"请求成功"}
//! errors: 1 missing roomID/userID · 5 not a (live) member: a member whose deadline passed
//!         is gone and must add_pusher again
//! ```

use super::{own_room_id, room_key};
use super::Call;
use crate::api::{ApiError, Params, Reply};

pub struct PusherHeartbeat {
    room_id: String,
}

impl PusherHeartbeat {
    pub fn parse(body: &Params) -> Result<Self, ApiError> {
        Ok(Self {
            room_id: own_room_id(body)?,
        })
    }

    pub async fn apply(self, call: &Call<'_>) -> Result<Reply, ApiError> {
        call.app
            .rooms
            .heartbeat(&call.session, &room_key(call, self.room_id))
            .await?;
        Ok(Reply::ok())
    }
}
