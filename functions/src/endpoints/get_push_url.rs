//! Signed addresses for a new stream of the caller's.
//!
//! ```text
//! POST /weapp/{type}/get_push_url?userID=&token=    body: {"userID":"u1","roomID":"r1"?}
//! → {"code":0,"message":"请求成功",
//!    "pushURL":"rtmp://{pushHost}/live/{bizid}_u1_3f2a?bizid=..&txSecret=..&txTime=..",
//!    "accelerateURL":"rtmp://{playHost}/live/{bizid}_u1_3f2a?bizid=..&txSecret=..&txTime=..",
//!    "playURL":"{flvBase}/live/{bizid}_u1_3f2a.flv?bizid=..&txSecret=..&txTime=.."}
//! errors: 1 userID missing · 7 token, or a PrivateMapKey without send privileges (for roomID)
//! ```

use super::require_user;
use super::Call;
use crate::api::{ApiError, Params, Reply};

pub struct GetPushUrl {
    room_id: Option<String>,
}

impl GetPushUrl {
    pub fn parse(body: &Params) -> Result<Self, ApiError> {
        require_user(body)?;
        Ok(Self {
            room_id: body.opt_id("roomID")?.filter(|r| !r.is_empty()),
        })
    }

    pub async fn apply(self, call: &Call<'_>) -> Result<Reply, ApiError> {
        let urls = call
            .app
            .rooms
            .push_urls(&call.session, self.room_id.as_deref())?;
        Ok(Reply::ok()
            .with("pushURL", urls.push_url)
            .with("accelerateURL", urls.accelerate_url)
            .with("playURL", urls.flv_url))
    }
}
