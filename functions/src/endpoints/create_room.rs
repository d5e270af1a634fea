//! Creates an empty, inactive room. The first `add_pusher` activates it and makes that user the
//! room's creator; an inactive room nobody joins is reclaimed after 30 s.
//!
//! ```text
//! POST /weapp/{type}/create_room?userID=&token=
//!      body: {"userID":"u1","roomInfo":"..." (or G1 "roomName"),"roomID":"r1"?,"record":true?}
//! → {"code":0,"message":"请求成功","roomID":"r1"}       (random "room_xxxxxxxx_xxxx" without roomID)
//! errors: 1 missing userID/roomInfo, or `record` where the room type is never recorded
//!         10 roomInfo > 1024 bytes · 11 roomID taken (+"roomID")
//!         7 a PrivateMapKey for another room or without the create privilege
//! ```
//!
//! `record` (an rtcroom extension) asks for the room to be recorded, where the operator
//! records the room type on request (`RTCROOM_{TYPE}_ROOM_RECORD=on-request`).

use super::require_user;
use super::Call;
use crate::api::{ApiError, Params, Reply};

pub struct CreateRoom {
    room_id: Option<String>,
    room_info: String,
    record: bool,
}

impl CreateRoom {
    pub fn parse(body: &Params) -> Result<Self, ApiError> {
        require_user(body)?;
        let room_info = body
            .opt_text_any(&["roomInfo", "roomName"])
            .ok_or(ApiError::Missing("roomInfo"))?
            .into_owned();
        Ok(Self {
            room_id: body.opt_id("roomID")?.filter(|r| !r.is_empty()),
            room_info,
            record: body.opt_bool("record")?.unwrap_or(false),
        })
    }

    pub async fn apply(self, call: &Call<'_>) -> Result<Reply, ApiError> {
        let room_id = call
            .app
            .rooms
            .create_room(
                &call.session,
                call.room_type,
                self.room_id,
                &self.room_info,
                self.record,
            )
            .await?;
        Ok(Reply::ok().with("roomID", room_id))
    }
}
