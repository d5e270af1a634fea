//! live_room: the viewers of a present room, in join order.
//!
//! ```text
//! POST /weapp/live_room/get_audiences?userID=&token=    body: {"roomID":"r1"}
//! → {"code":0,"message":"请求成功","audienceCount":2,
//!    "audiences":[{"userID":"v1","userInfo":"{..}"},{"userID":"v2","userInfo":"{..}"}]}
//! errors: 1 missing roomID · 3 no such room
//! ```

use serde_json::json;

use super::room_key;
use super::Call;
use crate::api::{ApiError, Params, Reply};

pub struct GetAudiences {
    room_id: String,
}

impl GetAudiences {
    pub fn parse(body: &Params) -> Result<Self, ApiError> {
        Ok(Self {
            room_id: body.id("roomID")?,
        })
    }

    pub async fn apply(self, call: &Call<'_>) -> Result<Reply, ApiError> {
        let audiences = call
            .app
            .rooms
            .audiences(&room_key(call, self.room_id))
            .await?;
        let list: Vec<_> = audiences
            .iter()
            .map(|a| json!({ "userID": a.user_id, "userInfo": a.user_info }))
            .collect();
        Ok(Reply::ok()
            .with("audienceCount", list.len())
            .with("audiences", list))
    }
}
