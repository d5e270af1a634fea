//! Ends a room; only its creator may. Members learn it from the `roomClosed` event.
//!
//! ```text
//! POST /weapp/{type}/destroy_room?userID=&token=    body: {"roomID":"r1","userID":"u1"}
//! → {"code":0,"message":"请求成功"}
//! errors: 1 missing roomID/userID · 3 no such room, or the caller is not its creator
//! ```

use super::{own_room_id, room_key};
use super::Call;
use crate::api::{ApiError, Params, Reply};

pub struct DestroyRoom {
    room_id: String,
}

impl DestroyRoom {
    pub fn parse(body: &Params) -> Result<Self, ApiError> {
        Ok(Self {
            room_id: own_room_id(body)?,
        })
    }

    pub async fn apply(self, call: &Call<'_>) -> Result<Reply, ApiError> {
        call.app
            .rooms
            .destroy(&call.session, &room_key(call, self.room_id))
            .await?;
        Ok(Reply::ok())
    }
}
