//! Signed addresses for a new stream of the caller's.
//!
//! ```text
//! POST /weapp/{type}/get_push_url?userID=&token=
//!      body: {"userID":"u1","roomID":"r1"?,"record":true?}
//! → {"code":0,"message":"请求成功",
//!    "pushURL":"rtmp://{pushHost}/live/{bizid}_u1_3f2a?bizid=..&txSecret=..&txTime=..",
//!    "accelerateURL":"rtmp://{playHost}/live/{bizid}_u1_3f2a?bizid=..&txSecret=..&txTime=..",
//!    "playURL":"{flvBase}/live/{bizid}_u1_3f2a.flv?bizid=..&txSecret=..&txTime=..",
//!    "srtPushURL":"srt://{srtHost}?streamid=..&passphrase={srtPushPassphrase}&pbkeylen=16",
//!    "srtPushPassphrase":"{32 hex}",
//!    "srtPlayURL":"srt://{srtHost}?streamid=..&passphrase={srtPlayPassphrase}&pbkeylen=16",
//!    "srtPlayPassphrase":"{32 hex}"}
//! errors: 1 userID missing, or `record` where not offered (or roomID's room not recorded)
//!         7 token, or a PrivateMapKey without send privileges (for roomID)
//! ```
//!
//! Where the stream is to be recorded (spec REC-1) the pushURL carries a signed policy
//! (`&record=`), and so does `srtPushURL`'s stream id (`,record=`). `record` (an rtcroom
//! extension) asks for a recorded stream before its room exists, where the room type is
//! recorded on request.
//!
//! The four `srt…` fields are an rtcroom extension (2018 clients ignore them), absent when
//! `RTCROOM_SRT_HOST=off`. The stream ids (`streamid`) are
//! `#!::r=live/{bizid}_u1_3f2a,m=publish,txSecret=..,txTime=..` with `pushURL`'s signature,
//! and `m=request` with `accelerateURL`'s; each passphrase is derived from the key that signed
//! its URL (spec/url-signing.md, URL-5 to URL-8).

use super::Call;
use super::require_user;
use crate::api::{ApiError, Params, Reply};

pub struct GetPushUrl {
    room_id: Option<String>,
    record: bool,
}

impl GetPushUrl {
    pub fn parse(body: &Params) -> Result<Self, ApiError> {
        require_user(body)?;
        Ok(Self {
            room_id: body.opt_id("roomID")?.filter(|r| !r.is_empty()),
            record: body.opt_bool("record")?.unwrap_or(false),
        })
    }

    pub async fn apply(self, call: &Call<'_>) -> Result<Reply, ApiError> {
        let urls = call
            .app
            .rooms
            .push_urls(
                &call.session,
                call.room_type,
                self.room_id.as_deref(),
                self.record,
            )
            .await?;
        let reply = Reply::ok()
            .with("pushURL", urls.push_url)
            .with("accelerateURL", urls.accelerate_url)
            .with("playURL", urls.flv_url);
        Ok(match urls.srt {
            Some(srt) => reply
                .with("srtPushURL", srt.push.url)
                .with("srtPushPassphrase", srt.push.passphrase)
                .with("srtPlayURL", srt.play.url)
                .with("srtPlayPassphrase", srt.play.passphrase),
            None => reply,
        })
    }
}
