//! The HTTP contract, independent of any server: routing `/weapp/{type}/{api}`, parsing,
//! authentication, the `{code, message, ...}` envelope, and the request log line. The local
//! gateway and every Lambda call [`handle`] with the same [`ApiRequest`].

pub mod error;
pub mod params;
pub mod reply;

use std::time::Instant;

use rtcroom_shared::model::RoomType;
use rtcroom_shared::rooms::RoomError;
use rtcroom_shared::store::StoreError;
use rtcroom_shared::token::Session;

use crate::app::App;
use crate::endpoints::*;
use crate::metrics::Refusal;
pub use error::ApiError;
pub use params::Params;
pub use reply::Reply;

/// Every API, by its last path segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    Login,
    Logout,
    GetPushUrl,
    CreateRoom,
    DestroyRoom,
    GetRoomList,
    GetPushers,
    AddPusher,
    DeletePusher,
    PusherHeartbeat,
    AddAudience,
    DeleteAudience,
    GetAudiences,
    SetCustomField,
    GetCustomInfo,
    MergeStream,
    GetImLoginInfo,
    GetLoginInfo,
    SendRoomMsg,
    GetRoomEvents,
}

impl Endpoint {
    pub const ALL: [Endpoint; 20] = [
        Endpoint::Login,
        Endpoint::Logout,
        Endpoint::GetPushUrl,
        Endpoint::CreateRoom,
        Endpoint::DestroyRoom,
        Endpoint::GetRoomList,
        Endpoint::GetPushers,
        Endpoint::AddPusher,
        Endpoint::DeletePusher,
        Endpoint::PusherHeartbeat,
        Endpoint::AddAudience,
        Endpoint::DeleteAudience,
        Endpoint::GetAudiences,
        Endpoint::SetCustomField,
        Endpoint::GetCustomInfo,
        Endpoint::MergeStream,
        Endpoint::GetImLoginInfo,
        Endpoint::GetLoginInfo,
        Endpoint::SendRoomMsg,
        Endpoint::GetRoomEvents,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Endpoint::Login => "login",
            Endpoint::Logout => "logout",
            Endpoint::GetPushUrl => "get_push_url",
            Endpoint::CreateRoom => "create_room",
            Endpoint::DestroyRoom => "destroy_room",
            Endpoint::GetRoomList => "get_room_list",
            Endpoint::GetPushers => "get_pushers",
            Endpoint::AddPusher => "add_pusher",
            Endpoint::DeletePusher => "delete_pusher",
            Endpoint::PusherHeartbeat => "pusher_heartbeat",
            Endpoint::AddAudience => "add_audience",
            Endpoint::DeleteAudience => "delete_audience",
            Endpoint::GetAudiences => "get_audiences",
            Endpoint::SetCustomField => "set_custom_field",
            Endpoint::GetCustomInfo => "get_custom_info",
            Endpoint::MergeStream => "merge_stream",
            Endpoint::GetImLoginInfo => "get_im_login_info",
            Endpoint::GetLoginInfo => "get_login_info",
            Endpoint::SendRoomMsg => "send_room_msg",
            Endpoint::GetRoomEvents => "get_room_events",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.name() == name)
    }

    /// Whether the endpoint exists under `/weapp/{scope}/`.
    pub fn serves(self, scope: Scope) -> bool {
        match (self, scope) {
            (Endpoint::GetLoginInfo, scope) => scope == Scope::Utils,
            // A session is not tied to a room type (AUTH-1, AUTH-4).
            (Endpoint::Login, _) => true,
            (_, Scope::Utils) => false,
            (
                Endpoint::AddAudience
                | Endpoint::DeleteAudience
                | Endpoint::GetAudiences
                | Endpoint::SetCustomField
                | Endpoint::GetCustomInfo
                | Endpoint::MergeStream,
                Scope::Room(t),
            ) => t == RoomType::Live,
            (_, Scope::Room(_)) => true,
        }
    }
}

/// The second path segment: a room type, or `utils`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Room(RoomType),
    Utils,
}

impl Scope {
    pub fn name(self) -> &'static str {
        match self {
            Scope::Room(t) => t.as_path(),
            Scope::Utils => "utils",
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

/// One HTTP request, as any front end hands it over.
#[derive(Debug, Clone, Copy)]
pub struct ApiRequest<'a> {
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub content_type: Option<&'a str>,
    /// The body, or the limit it exceeded (the front end stops reading there).
    pub body: Result<&'a [u8], BodyTooLarge>,
}

/// A body longer than the configured limit (bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyTooLarge(pub usize);

/// What goes back: a status (200 for every `/weapp/` answer, as clients expect) and JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiResponse {
    pub status: u16,
    pub body: Vec<u8>,
}

impl ApiResponse {
    /// A response head with this answer's status and the headers every answer carries: JSON,
    /// and CORS open to any origin (browsers call from wherever the app is served).
    pub fn head(&self) -> http::response::Builder {
        http::Response::builder()
            .status(self.status)
            .header(
                http::header::CONTENT_TYPE,
                "application/json; charset=utf-8",
            )
            .header(http::header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")
    }
}

/// The authenticated caller of a room API, and where the call was made.
pub struct Call<'a> {
    pub app: &'a App,
    pub room_type: RoomType,
    pub session: Session,
}

/// Serves one request. `only` restricts it to one endpoint (a Lambda serves one).
pub async fn handle(app: &App, only: Option<Endpoint>, request: ApiRequest<'_>) -> ApiResponse {
    let started = Instant::now();
    let routed = route(request.path).filter(|(_, e)| only.is_none_or(|o| o == *e));
    let mut timed_out = false;
    let (result, user) = match routed {
        None => (Err(ApiError::UnknownApi), None),
        Some((scope, endpoint)) => {
            let query = Params::from_query(request.query.unwrap_or("").as_bytes());
            let user = query
                .as_ref()
                .ok()
                .and_then(|q| q.opt_text("userID"))
                .map(|u| u.into_owned());
            let body = match request.body {
                Ok(bytes) => Params::from_body(request.content_type, bytes),
                Err(BodyTooLarge(limit)) => Err(ApiError::Malformed(format!(
                    "request body is larger than {limit} bytes"
                ))),
            };
            let result = match (query, body) {
                // One deadline for the whole call, queueing for the room's lock included: a
                // store that hangs answers every waiting caller 100 in time, not one per
                // store timeout in turn (FAIL-1).
                (Ok(query), Ok(body)) => {
                    let deadline = app.config.server_limits.request_timeout;
                    let call = dispatch(app, scope, endpoint, &query, &body);
                    match tokio::time::timeout(deadline, call).await {
                        Ok(result) => result,
                        Err(_) => {
                            timed_out = true;
                            Err(ApiError::Room(RoomError::Store(StoreError::Unavailable(
                                format!("the call took longer than {deadline:?}"),
                            ))))
                        }
                    }
                }
                (Err(e), _) | (_, Err(e)) => Err(e),
            };
            (result, user)
        }
    };
    let (status, code, body) = match &result {
        Ok(reply) => (200, 0, reply.to_body()),
        Err(e) => (
            if matches!(e, ApiError::UnknownApi) {
                404
            } else {
                200
            },
            e.code(),
            Reply::error_body(e),
        ),
    };
    app.metrics.requests.inc();
    if timed_out {
        app.metrics.refused(Refusal::RequestTimeout);
    } else if let Err(e) = &result
        && let Some(why) = e.refusal()
    {
        app.metrics.refused(why);
    }
    let latency_us = started.elapsed().as_micros() as u64;
    let (scope, endpoint) = routed.map_or(("-", "-"), |(s, e)| (s.name(), e.name()));
    match &result {
        Err(e) if e.code() == 6 || e.code() == 100 => tracing::error!(
            target: "rtcroom::request", endpoint, scope, code, latency_us, user = user.as_deref(), cause = %e,
            "request failed"
        ),
        _ => tracing::info!(
            target: "rtcroom::request", endpoint, scope, code, latency_us, user = user.as_deref(),
            "request"
        ),
    }
    ApiResponse { status, body }
}

async fn dispatch(
    app: &App,
    scope: Scope,
    endpoint: Endpoint,
    query: &Params,
    body: &Params,
) -> Result<Reply, ApiError> {
    match endpoint {
        Endpoint::Login => return Login::parse(query, body)?.apply(app).await,
        Endpoint::GetLoginInfo => return GetLoginInfo::parse(query)?.apply(app),
        _ => {}
    }
    let Scope::Room(room_type) = scope else {
        unreachable!("only login and get_login_info are served under utils")
    };
    match endpoint {
        Endpoint::GetImLoginInfo => return GetImLoginInfo::parse(query, body)?.apply(app),
        Endpoint::Logout => return Logout.apply(app, query, body).await,
        _ => {}
    }
    let call = Call {
        app,
        room_type,
        session: app.authenticate(query, body).await?,
    };
    match endpoint {
        Endpoint::GetPushUrl => GetPushUrl::parse(body)?.apply(&call),
        Endpoint::CreateRoom => CreateRoom::parse(body)?.apply(&call).await,
        Endpoint::DestroyRoom => DestroyRoom::parse(body)?.apply(&call).await,
        Endpoint::GetRoomList => GetRoomList::parse(body)?.apply(&call).await,
        Endpoint::GetPushers => GetPushers::parse(body)?.apply(&call).await,
        Endpoint::AddPusher => AddPusher::parse(body)?.apply(&call).await,
        Endpoint::DeletePusher => DeletePusher::parse(body)?.apply(&call).await,
        Endpoint::PusherHeartbeat => PusherHeartbeat::parse(body)?.apply(&call).await,
        Endpoint::AddAudience => AddAudience::parse(body)?.apply(&call).await,
        Endpoint::DeleteAudience => DeleteAudience::parse(body)?.apply(&call).await,
        Endpoint::GetAudiences => GetAudiences::parse(body)?.apply(&call).await,
        Endpoint::SetCustomField => SetCustomField::parse(body)?.apply(&call).await,
        Endpoint::GetCustomInfo => GetCustomInfo::parse(body)?.apply(&call).await,
        Endpoint::MergeStream => MergeStream::parse(body)?.apply(&call).await,
        Endpoint::SendRoomMsg => SendRoomMsg::parse(body)?.apply(&call).await,
        Endpoint::GetRoomEvents => GetRoomEvents::parse(body)?.apply(&call).await,
        Endpoint::Login | Endpoint::Logout | Endpoint::GetImLoginInfo | Endpoint::GetLoginInfo => {
            unreachable!("answered above")
        }
    }
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
            assert_eq!(Endpoint::from_name(e.name()), Some(e));
        }
    }
}
