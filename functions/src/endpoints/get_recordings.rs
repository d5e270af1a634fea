//! A room's recording segments with their download URLs (rtcroom extension, issue 16).
//!
//! ```text
//! POST /weapp/{type}/get_recordings?userID=&token=    body: {"roomID":"r1"}
//! → {"code":0,"message":"请求成功",
//!    "recordings":[{"userID":"alice","index":0,"start":1700000000000,"duration":30000,
//!                   "bytes":1234567,"format":"mp4",
//!                   "url":"{flvBase}/record/{path}?txSecret=..&txTime=.."}]}
//! errors: 1 missing roomID · 3 no such room, nothing kept, or not the room's creator (nor,
//!         where RTCROOM_RECORDINGS_FOR_MEMBERS=on, one of its members)
//! ```
//!
//! Segments are listed oldest first while they are kept (`RTCROOM_RECORDINGS_KEEP_DAYS`),
//! also after the room has ended. The URLs are the relay's, signed with the play key and
//! expiring like play URLs.

use serde_json::json;

use super::Call;
use crate::api::{ApiError, Params, Reply};

pub struct GetRecordings {
    room_id: String,
}

impl GetRecordings {
    pub fn parse(body: &Params) -> Result<Self, ApiError> {
        Ok(Self {
            room_id: body.id("roomID")?,
        })
    }

    pub async fn apply(self, call: &Call<'_>) -> Result<Reply, ApiError> {
        let list = call
            .app
            .rooms
            .recordings(&call.session, call.room_type, &self.room_id)
            .await?;
        let recordings: Vec<_> = list
            .into_iter()
            .map(|(r, url)| {
                json!({"userID": r.user_id, "index": r.index, "start": r.start_ms,
                       "duration": r.duration_ms, "bytes": r.bytes, "format": r.format,
                       "url": url})
            })
            .collect();
        Ok(Reply::ok().with("recordings", recordings))
    }
}
