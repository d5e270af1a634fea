//! Dev mode only: a UserSig for anyone, as the original demo business server handed out.
//!
//! ```text
//! GET /weapp/utils/get_login_info?userID=u1        (userID optional: a random one is made)
//! → {"code":0,"message":"请求成功","userID":"u1","sdkAppID":1400000000,"accType":"1","userSig":"..."}
//! errors: 102 dev mode is off · 1 userID invalid
//! ```
//!
//! `accType` is `RTCROOM_ACCOUNT_TYPE` (default `"1"`), a string as the 2018 server answered:
//! the 2018 clients pass it to their IM SDK's login, which refuses an empty or falsy one.
//!
//! In production the customer's own business server issues UserSigs with the shared key.

use rtcroom_shared::usersig;

use crate::api::{ApiError, Params, Reply};
use super::Request;
use crate::app::App;

/// UserSigs issued in dev mode last a week.
const DEV_USERSIG_TTL_SECS: u64 = 7 * 86_400;
pub const MAX_USER_ID_BYTES: usize = 64;

pub struct GetLoginInfo {
    user_id: Option<String>,
}

impl GetLoginInfo {
    pub async fn serve(request: &Request<'_>) -> Result<Reply, ApiError> {
        Self::parse(request.query)?.apply(request.app)
    }

    pub fn parse(query: &Params) -> Result<Self, ApiError> {
        Ok(Self {
            user_id: query
                .opt_text("userID")
                .filter(|u| !u.is_empty())
                .map(|u| u.into_owned()),
        })
    }

    pub fn apply(self, app: &App) -> Result<Reply, ApiError> {
        dev_identity(app, "get_login_info", self.user_id).map(|(_, reply)| reply)
    }
}

/// Issues a UserSig for `user_id` (or a fresh random user) when dev mode is on.
pub(super) fn dev_identity(
    app: &App,
    endpoint: &'static str,
    user_id: Option<String>,
) -> Result<(String, Reply), ApiError> {
    if !app.config.dev_mode {
        return Err(ApiError::DevModeOnly(endpoint));
    }
    let user_id = user_id.unwrap_or_else(|| {
        format!(
            "user_{:08x}_{:04x}",
            rand::random::<u32>(),
            rand::random::<u16>()
        )
    });
    if user_id.len() > MAX_USER_ID_BYTES || user_id.chars().any(char::is_control) {
        return Err(ApiError::Invalid(format!(
            "userID must be at most {MAX_USER_ID_BYTES} bytes without control characters"
        )));
    }
    let config = &app.config;
    let sig = usersig::generate(
        config.sdkappid,
        &config.usersig_key,
        &user_id,
        DEV_USERSIG_TTL_SECS,
        app.now_secs(),
        None,
    );
    let reply = Reply::ok()
        .with("userID", user_id.clone())
        .with("sdkAppID", config.sdkappid)
        .with("accType", config.account_type.clone())
        .with("userSig", sig);
    Ok((user_id, reply))
}
