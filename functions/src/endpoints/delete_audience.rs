//! live_room: stops being a viewer. Succeeds whether or not the caller was one.
//!
//! ```text
//! POST /weapp/live_room/delete_audience?userID=&token=    body: {"roomID":"r1","userID":"u1"}
//! → {"code":0,"message":"请求成功"}
//! errors: 1 missing roomID/userID
//! ```

use super::{own_room_id, room_key};
use super::Call;
use crate::api::{ApiError, Params, Reply};

pub struct DeleteAudience {
    room_id: String,
}

impl DeleteAudience {
    pub fn parse(body: &Params) -> Result<Self, ApiError> {
        Ok(Self {
            room_id: own_room_id(body)?,
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
