//! live_room: changes an integer counter of the room (likes, gifts, ...), atomically.
//!
//! ```text
//! POST /weapp/live_room/set_custom_field?userID=&token=
//!      body: {"roomID":"r1","fieldName":"likes","operation":"inc"|"dec"|"set","value":1?}
//! → {"code":0,"message":"请求成功","custom":"{\"likes\":3}"}
//! errors: 1 missing field, unknown operation, `set` without value, too many fields (32)
//!         3 no such room · 5 the caller is not a member or viewer of the room
//!         10 fieldName longer than 64 bytes
//! ```
//!
//! `inc`/`dec` change by `value`, 1 when it is absent.

use rtcroom_shared::model::CustomOp;

use super::room_key;
use crate::api::reply::custom_json;
use super::Call;
use crate::api::{ApiError, Params, Reply};

pub struct SetCustomField {
    room_id: String,
    field: String,
    op: CustomOp,
}

impl SetCustomField {
    pub fn parse(body: &Params) -> Result<Self, ApiError> {
        let room_id = body.id("roomID")?;
        let field = body.non_empty("fieldName")?.into_owned();
        let value = body.opt_i64("value")?;
        let op = match body.non_empty("operation")?.as_ref() {
            "inc" => CustomOp::Inc(value.unwrap_or(1)),
            "dec" => CustomOp::Dec(value.unwrap_or(1)),
            "set" => CustomOp::Set(value.ok_or(ApiError::Missing("value"))?),
            other => {
                return Err(ApiError::Invalid(format!(
                    "operation {other:?} is not one of inc, dec, set"
                )));
            }
        };
        Ok(Self { room_id, field, op })
    }

    pub async fn apply(self, call: &Call<'_>) -> Result<Reply, ApiError> {
        let custom = call
            .app
            .rooms
            .update_custom(
                &call.session,
                &room_key(call, self.room_id),
                &self.field,
                self.op,
            )
            .await?;
        Ok(Reply::ok().with("custom", custom_json(&custom)))
    }
}
