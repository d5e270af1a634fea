//! Exchanges a UserSig for a session token.
//!
//! ```text
//! POST /weapp/{type}/login?accountType=&sdkAppID=&userSig=&userID=    body: {}
//! POST /weapp/utils/login     body: {"userID":"u1","sdkAppID":1400000000,"userSig":"..."}
//! → {"code":0,"message":"请求成功","userID":"u1","token":"...","eventsURL":"wss://..."}
//! errors: 7 a parameter missing, a wrong sdkAppID, or a bad/expired UserSig
//! ```
//!
//! The token is valid for any room type until the earliest of the token lifetime, the UserSig's
//! expiry and, for a PrivateMapKey, the key's expiry. A PrivateMapKey's room and privileges
//! travel inside the token. `/weapp/utils/login` is the same call for clients that have no
//! room type yet (the drop-in IM file); `eventsURL` (only when `RTCROOM_EVENTS_URL` is set,
//! as in the cloud) says where event WebSockets are, when not at the server's own `/ws`.

use rtcroom_shared::token::{Grant, Session};
use rtcroom_shared::usersig::{self, PrivateMapKey};

use crate::api::{ApiError, Params, Reply};
use super::Request;
use crate::app::App;

pub struct Login {
    user_id: String,
    sdkappid: String,
    usersig: String,
}

impl Login {
    pub async fn serve(request: &Request<'_>) -> Result<Reply, ApiError> {
        Self::parse(request.query, request.body)?
            .apply(request.app)
            .await
    }

    /// Parameters come in the query; some clients put them in the body, which is accepted too.
    pub fn parse(query: &Params, body: &Params) -> Result<Self, ApiError> {
        let get = |name: &'static str| {
            query
                .opt_text(name)
                .or_else(|| body.opt_text(name))
                .filter(|v| !v.is_empty())
                .map(|v| v.into_owned())
                .ok_or_else(|| ApiError::Auth(format!("{name} missing")))
        };
        Ok(Self {
            user_id: get("userID")?,
            sdkappid: get("sdkAppID")?,
            usersig: get("userSig")?,
        })
    }

    pub async fn apply(self, app: &App) -> Result<Reply, ApiError> {
        let config = &app.config;
        if self.sdkappid.parse::<u64>().ok() != Some(config.sdkappid) {
            return Err(ApiError::Auth("sdkAppID is not this server's".into()));
        }
        let now = app.now_secs();
        let sig = usersig::verify(
            &self.usersig,
            config.sdkappid,
            &self.user_id,
            &config.usersig_key,
            now,
        )
        .map_err(|e| ApiError::Auth(e.to_string()))?;
        // A signature is only as revocable as it is short-lived: one dated ahead (a clock
        // off, or time = 2^64-1 that never expires) or valid for years is refused.
        let limits = &config.server_limits;
        if sig.time > now.saturating_add(limits.usersig_max_skew_secs) {
            return Err(ApiError::Auth(format!(
                "UserSig is dated {} s ahead of this server's clock (at most {} s)",
                sig.time - now,
                limits.usersig_max_skew_secs
            )));
        }
        if sig.expire > limits.usersig_max_lifetime_secs {
            return Err(ApiError::Auth(format!(
                "UserSig is valid for {} s; this server accepts at most {} s",
                sig.expire, limits.usersig_max_lifetime_secs
            )));
        }
        let grant = match sig.userbuf.as_deref().map(PrivateMapKey::decode) {
            Some(Ok(key)) => {
                if key.user_id != self.user_id || u64::from(key.sdkappid) != config.sdkappid {
                    return Err(ApiError::Auth(
                        "PrivateMapKey is for another user or application".into(),
                    ));
                }
                Some(Grant {
                    room_id: key.room.room_id(),
                    privileges: key.privileges,
                    expires_at: u64::from(key.expires_at),
                })
            }
            // A userbuf that is not a PrivateMapKey is the application's own business.
            Some(Err(_)) | None => None,
        };
        let expires_at = [
            Some(now + config.token_ttl_secs),
            Some(sig.expires_at()),
            grant.as_ref().map(|g| g.expires_at),
        ]
        .into_iter()
        .flatten()
        .min()
        .expect("at least one expiry");
        if expires_at <= now {
            return Err(ApiError::Auth("PrivateMapKey expired".into()));
        }
        let token = app.tokens.issue(&Session {
            user_id: self.user_id.clone(),
            sdkappid: config.sdkappid,
            expires_at,
            issued_ms: issue_time(app, &self.user_id).await,
            grant,
        });
        let reply = Reply::ok()
            .with("userID", self.user_id)
            .with("token", token);
        Ok(match &config.events_url {
            Some(url) => reply.with("eventsURL", url.clone()),
            None => reply,
        })
    }
}

/// When a new token is issued: now, but always after the user's last logout, so that a login
/// in the same millisecond as a logout (or on a clock behind another process's) is not void
/// from birth. Login works while the store is down; the token is checked at every call anyway.
async fn issue_time(app: &App, user_id: &str) -> u64 {
    let now = app.rooms.clock().now_ms();
    match app
        .rooms
        .store()
        .sessions_revoked_through(user_id, now)
        .await
    {
        Ok(revoked) => now.max(revoked + 1),
        Err(e) => {
            tracing::warn!(error = %e, "logouts not read at login");
            now
        }
    }
}
