//! Every API, one module each, mini-redis style: a struct with `parse` (from the request's
//! parameters, failing with code 1 for a missing one) and `apply` (against the room service).
//! Each module's top comment shows its request and response.
//!
//! [`registry!`] below is the one list of them: the router, the Lambda function names, the
//! template check and the docs' checks all read [`Endpoint`]. A new API is its module, one line
//! here, its clauses in `spec/`, and a test.

use rtcroom_shared::model::{RoomKey, RoomType};
use rtcroom_shared::token::Session;

use crate::api::{ApiError, Params, Reply, Scope};
use crate::app::App;

mod room_json;

/// Where under `/weapp/{scope}/` an API is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Served {
    /// Under every room type and `utils`.
    Everywhere,
    /// Under every room type.
    RoomTypes,
    /// Under `live_room` only.
    LiveRoom,
    /// Under `utils` only.
    Utils,
}

/// Who may call an API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone: the API checks what it needs itself (a UserSig, dev mode, a token it may lack).
    Open,
    /// A signed-in user: `?userID=&token=` is checked (code 7) before the body is read.
    Session,
}

/// One request as an API sees it.
pub struct Request<'a> {
    pub app: &'a App,
    pub scope: Scope,
    pub query: &'a Params,
    pub body: &'a Params,
}

/// The authenticated caller of a room API, and where the call was made.
pub struct Call<'a> {
    pub app: &'a App,
    pub room_type: RoomType,
    pub session: Session,
}

impl Request<'_> {
    /// The caller, for an API of [`Access::Session`]: only room types serve those.
    async fn call(&self) -> Result<Call<'_>, ApiError> {
        let Scope::Room(room_type) = self.scope else {
            return Err(ApiError::UnknownApi);
        };
        Ok(Call {
            app: self.app,
            room_type,
            session: self.app.authenticate(self.query, self.body).await?,
        })
    }
}

/// Declares every API from one list: `Variant = module::Type, Served, Access;`. The wire name
/// is the module's. An [`Access::Session`] API authenticates the caller, then is
/// `Type::parse(body)` and `apply(&Call)`; an [`Access::Open`] one is `Type::serve(&Request)`.
macro_rules! registry {
    ($($variant:ident = $module:ident :: $kind:ident, $served:ident, $access:ident;)*) => {
        $(mod $module;)*

        /// Every API, by its last path segment.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Endpoint {
            $($variant,)*
        }

        impl Endpoint {
            pub const ALL: &'static [Endpoint] = &[$(Endpoint::$variant,)*];

            /// The last segment of its paths, and its Lambda's `RTCROOM_FUNCTION`.
            pub fn name(self) -> &'static str {
                match self {
                    $(Endpoint::$variant => stringify!($module),)*
                }
            }

            pub fn served(self) -> Served {
                match self {
                    $(Endpoint::$variant => Served::$served,)*
                }
            }

            pub fn access(self) -> Access {
                match self {
                    $(Endpoint::$variant => Access::$access,)*
                }
            }

            /// Runs the API.
            pub async fn serve(self, request: &Request<'_>) -> Result<Reply, ApiError> {
                match self {
                    $(Endpoint::$variant => registry!(@serve $access, $module::$kind, request),)*
                }
            }
        }
    };
    // Authentication first: an anonymous caller learns nothing from parameter errors.
    (@serve Session, $kind:path, $request:ident) => {{
        let call = $request.call().await?;
        <$kind>::parse($request.body)?.apply(&call).await
    }};
    (@serve Open, $kind:path, $request:ident) => {
        <$kind>::serve($request).await
    };
}

registry! {
    Login = login::Login, Everywhere, Open;
    Logout = logout::Logout, RoomTypes, Open;
    GetPushUrl = get_push_url::GetPushUrl, RoomTypes, Session;
    CreateRoom = create_room::CreateRoom, RoomTypes, Session;
    DestroyRoom = destroy_room::DestroyRoom, RoomTypes, Session;
    GetRoomList = get_room_list::GetRoomList, RoomTypes, Session;
    GetPushers = get_pushers::GetPushers, RoomTypes, Session;
    AddPusher = add_pusher::AddPusher, RoomTypes, Session;
    DeletePusher = delete_pusher::DeletePusher, RoomTypes, Session;
    PusherHeartbeat = pusher_heartbeat::PusherHeartbeat, RoomTypes, Session;
    AddAudience = add_audience::AddAudience, LiveRoom, Session;
    DeleteAudience = delete_audience::DeleteAudience, LiveRoom, Session;
    GetAudiences = get_audiences::GetAudiences, LiveRoom, Session;
    SetCustomField = set_custom_field::SetCustomField, LiveRoom, Session;
    GetCustomInfo = get_custom_info::GetCustomInfo, LiveRoom, Session;
    MergeStream = merge_stream::MergeStream, LiveRoom, Session;
    GetImLoginInfo = get_im_login_info::GetImLoginInfo, RoomTypes, Open;
    GetLoginInfo = get_login_info::GetLoginInfo, Utils, Open;
    SendRoomMsg = send_room_msg::SendRoomMsg, RoomTypes, Session;
    GetRoomEvents = get_room_events::GetRoomEvents, RoomTypes, Session;
    GetRecordings = get_recordings::GetRecordings, RoomTypes, Session;
}

impl Endpoint {
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|e| e.name() == name)
    }

    /// Whether the endpoint exists under `/weapp/{scope}/`.
    pub fn serves(self, scope: Scope) -> bool {
        match (self.served(), scope) {
            (Served::Everywhere, _) => true,
            (Served::RoomTypes, Scope::Room(_)) => true,
            (Served::LiveRoom, Scope::Room(t)) => t == RoomType::Live,
            (Served::Utils, Scope::Utils) => true,
            _ => false,
        }
    }
}

/// Finds `/weapp/{scope}/{api}` in a path (after any API Gateway stage prefix).
pub fn route(path: &str) -> Option<(Scope, Endpoint)> {
    let rest = &path[path.find("/weapp/")? + "/weapp/".len()..];
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let (scope, api) = rest.split_once('/')?;
    let scope = match scope {
        "utils" => Scope::Utils,
        t => Scope::Room(RoomType::from_path(t)?),
    };
    let endpoint = Endpoint::from_name(api)?;
    endpoint.serves(scope).then_some((scope, endpoint))
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_follow_the_2018_paths() {
        assert_eq!(
            route("/weapp/multi_room/add_pusher"),
            Some((Scope::Room(RoomType::Multi), Endpoint::AddPusher))
        );
        assert_eq!(
            route("/prod/weapp/utils/get_login_info/"),
            Some((Scope::Utils, Endpoint::GetLoginInfo))
        );
        assert_eq!(
            route("/weapp/double_room/add_audience"),
            None,
            "live_room only"
        );
        assert_eq!(
            route("/weapp/utils/login"),
            Some((Scope::Utils, Endpoint::Login)),
            "login needs no room type"
        );
        assert_eq!(route("/weapp/utils/logout"), None);
        assert_eq!(route("/weapp/multi_room/get_login_info"), None);
        assert_eq!(route("/weapp/nine_room/login"), None);
        assert_eq!(route("/weapp/live_room/login/extra"), None);
        assert_eq!(route("/other"), None);
        for e in Endpoint::ALL {
            assert_eq!(Endpoint::from_name(e.name()), Some(*e));
        }
    }
}
