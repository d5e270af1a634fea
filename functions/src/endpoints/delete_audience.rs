//! live_room: stops being a viewer. Succeeds whether or not the caller was one.
//!
//! ```text
//! POST /weapp/live_room/delete_audience?userID=&token=    body: {"roomID":"r1","userID":"u1"}
//! → {"code":0,"message":"请求成功"}
//! errors: 1 missing roomID/userID
//! ```

use super::{require_user, room_key};
use crate::api::{ApiError, Call, Params, Reply};

pub struct DeleteAudience {
    room_id: String,
}

impl DeleteAudience {
    pub fn parse(body: &Params) -> Result<Self, ApiError> {
        require_user(body)?;
        Ok(Self {
            room_id: body.non_empty("roomID")?.into_owned(),
        })
    }

    pub async fn apply(self, call: &Call<'_>) -> Result<Reply, ApiError> {
        call.app
            .rooms
            .remove_audience(&call.session, &room_key(call, self.room_id))
            .await?;
        Ok(Reply::ok())
    }
}
