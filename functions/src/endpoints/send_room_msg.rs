//! A chat text or custom command into the room, for every member and viewer (`spec/events.md`,
//! EV-9); the same event a WebSocket client sends with EV-7.
//!
//! ```text
//! POST /weapp/{type}/send_room_msg?userID=&token=
//!      body: {"roomID":"r1","userID":"u1","cmd":"CustomTextMsg"|"CustomCmdMsg","msg":"hi",
//!             "userName":"..","userAvatar":".."}
//! → {"code":0,"message":"请求成功","seq":42}
//! errors: 1 missing roomID/userID/cmd/msg, unknown cmd · 3 no such room
//!         5 the caller is not a present member or viewer · 10 msg over 8 KiB
//! ```
//!
//! `CustomTextMsg` carries `userName`/`userAvatar` as the 2018 payload's `nickName`/`headPic`;
//! `CustomCmdMsg` takes an optional `subCmd` as its payload's `cmd`.

use rtcroom_shared::rooms::MessageInput;

use super::{own_room_id, room_key};
use super::Call;
use crate::api::{ApiError, Params, Reply};

pub struct SendRoomMsg {
    room_id: String,
    input: MessageInput,
}

impl SendRoomMsg {
    pub fn parse(body: &Params) -> Result<Self, ApiError> {
        let room_id = own_room_id(body)?;
        let msg = body.text("msg")?.into_owned();
        let text = |name| body.opt_text(name).unwrap_or_default().into_owned();
        let input = match body.non_empty("cmd")?.as_ref() {
            "CustomTextMsg" => MessageInput::Text {
                msg,
                nick_name: text("userName"),
                head_pic: text("userAvatar"),
            },
            "CustomCmdMsg" => MessageInput::Cmd {
                cmd: text("subCmd"),
                msg,
                user_name: text("userName"),
                user_avatar: text("userAvatar"),
            },
            other => {
                return Err(ApiError::Invalid(format!(
                    "cmd {other:?} is not CustomTextMsg or CustomCmdMsg"
                )));
            }
        };
        Ok(Self { room_id, input })
    }

    pub async fn apply(self, call: &Call<'_>) -> Result<Reply, ApiError> {
        let seq = call
            .app
            .rooms
            .send_message(&call.session, &room_key(call, self.room_id), self.input)
            .await?;
        Ok(Reply::ok().with("seq", seq))
    }
}
