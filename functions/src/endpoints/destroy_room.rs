//! Ends a room; only its creator may. Members learn it from the `roomDissolved` event.
//!
//! ```text
//! POST /weapp/{type}/destroy_room?userID=&token=    body: {"roomID":"r1","userID":"u1"}
//! → {"code":0,"message":"请求成功"}
//! errors: 1 missing roomID/userID · 3 no such room, or the caller is not its creator
//! ```

use super::{require_user, room_key};
use crate::api::{ApiError, Call, Params, Reply};

pub struct DestroyRoom {
    room_id: String,
}

impl DestroyRoom {
    pub fn parse(body: &Params) -> Result<Self, ApiError> {
        require_user(body)?;
        Ok(Self {
            room_id: body.non_empty("roomID")?.into_owned(),
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
