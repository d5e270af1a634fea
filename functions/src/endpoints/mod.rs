//! One module per endpoint, mini-redis style: a struct with `parse` (from the request's
//! parameters, failing with code 1 for a missing one) and `apply` (against the room service).
//! Each module's top comment shows its request and response.

mod add_audience;
mod add_pusher;
mod create_room;
mod delete_audience;
mod delete_pusher;
mod destroy_room;
mod get_audiences;
mod get_custom_info;
mod get_im_login_info;
mod get_login_info;
mod get_push_url;
mod get_pushers;
mod get_room_events;
mod get_room_list;
mod login;
mod logout;
mod merge_stream;
mod pusher_heartbeat;
mod send_room_msg;
mod set_custom_field;

pub use add_audience::AddAudience;
pub use add_pusher::AddPusher;
pub use create_room::CreateRoom;
pub use delete_audience::DeleteAudience;
pub use delete_pusher::DeletePusher;
pub use destroy_room::DestroyRoom;
pub use get_audiences::GetAudiences;
pub use get_custom_info::GetCustomInfo;
pub use get_im_login_info::GetImLoginInfo;
pub use get_login_info::GetLoginInfo;
pub use get_push_url::GetPushUrl;
pub use get_pushers::GetPushers;
pub use get_room_events::GetRoomEvents;
pub use get_room_list::GetRoomList;
pub use login::Login;
pub use logout::Logout;
pub use merge_stream::MergeStream;
pub use pusher_heartbeat::PusherHeartbeat;
pub use send_room_msg::SendRoomMsg;
pub use set_custom_field::SetCustomField;

use rtcroom_shared::model::RoomKey;

use crate::api::{ApiError, Call, Params};

/// The `roomID` of a room API call, as the room it names in this call's room type.
fn room_key(call: &Call<'_>, room_id: String) -> RoomKey {
    RoomKey::new(call.room_type, room_id)
}

/// The body's `userID`, which the protocol requires on calls that act for the caller (the
/// token's user; `App::authenticate` has already checked they are the same).
fn require_user(body: &Params) -> Result<(), ApiError> {
    body.non_empty("userID").map(|_| ())
}

/// `[roomID, userID]`: the body of a call in which the caller acts on its own place in a room.
fn own_room_id(body: &Params) -> Result<String, ApiError> {
    require_user(body)?;
    body.id("roomID")
}
