//! Joins a room as a pusher, or updates one's entry. Creates the room when the roomID is
//! unknown (the caller becomes its creator) and activates a room made by `create_room`.
//!
//! ```text
//! POST /weapp/{type}/add_pusher?userID=&token=
//!      body: {"roomID":"r1","userID":"u1","userName":"..","userAvatar":"..",
//!             "pushURL":"rtmp://../live/{bizid}_u1_3f2a?..","roomInfo":".."? (or "roomName")}
//! → {"code":0,"message":"请求成功","roomID":"r1"}
//! errors: 1 a missing field, or a pushURL without a stream · 5001 room full
//!         7 a pushURL that is not the caller's stream, or a PrivateMapKey that does not allow it
//!         10 a field too long · 3 unknown room and the PrivateMapKey may not create one
//! ```
//!
//! The member then must call `pusher_heartbeat` within the heartbeat timeout (20 s).

use rtcroom_shared::rooms::JoinInput;

use super::require_user;
use super::Call;
use crate::api::{ApiError, Params, Reply};

pub struct AddPusher {
    input: JoinInput,
}

impl AddPusher {
    pub fn parse(body: &Params) -> Result<Self, ApiError> {
        require_user(body)?;
        let input = JoinInput {
            room_id: body.id("roomID")?,
            user_name: body.text("userName")?.into_owned(),
            user_avatar: body.text("userAvatar")?.into_owned(),
            push_url: body.non_empty("pushURL")?.into_owned(),
            room_info: body
                .opt_text_any(&["roomInfo", "roomName"])
                .map(|r| r.into_owned()),
        };
        Ok(Self { input })
    }

    pub async fn apply(self, call: &Call<'_>) -> Result<Reply, ApiError> {
        let room_id = self.input.room_id.clone();
        call.app
            .rooms
            .join(&call.session, call.room_type, self.input)
            .await?;
        Ok(Reply::ok().with("roomID", room_id))
    }
}
