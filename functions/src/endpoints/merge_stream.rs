//! live_room: asks for the members' streams to be mixed into one.
//!
//! ```text
//! POST /weapp/live_room/merge_stream?userID=&token=
//!      body: {"roomID":"r1","userID":"u1","mergeParams":{..} (object or JSON text)}
//! → {"code":101,"message":"stream mixing is not configured on this server"}
//! errors: 1 missing field · 10 mergeParams is not JSON · 101 mixing not configured
//! ```
//!
//! Mixing needs Tencent Cloud's mixer or a mixing relay; until one is configured a valid
//! request is answered with code 101 so clients can fall back to playing streams separately.

use super::{own_room_id, room_key};
use super::Call;
use crate::api::{ApiError, Params, Reply};

pub struct MergeStream {
    room_id: String,
    merge_params: String,
}

impl MergeStream {
    pub fn parse(body: &Params) -> Result<Self, ApiError> {
        let room_id = own_room_id(body)?;
        let merge_params = match body.raw("mergeParams") {
            None => return Err(ApiError::Missing("mergeParams")),
            Some(serde_json::Value::String(text)) => text.clone(),
            Some(value) => value.to_string(),
        };
        Ok(Self {
            room_id,
            merge_params,
        })
    }

    pub async fn apply(self, call: &Call<'_>) -> Result<Reply, ApiError> {
        call.app
            .rooms
            .merge_stream(&room_key(call, self.room_id), &self.merge_params)
            .await?;
        Ok(Reply::ok())
    }
}
