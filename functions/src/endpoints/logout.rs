//! Ends a session.
//!
//! ```text
//! POST /weapp/{type}/logout?userID=&token=    body: {}
//! → {"code":0,"message":"请求成功"}
//! ```
//!
//! With a valid token, its user's sessions issued up to that token's are revoked: that token
//! and any older one of the user stop working at once (code 7), while sessions that logged in
//! later, on another phone, go on. The store remembers the revocation until every such token
//! has expired (`RTCROOM_TOKEN_TTL_SECS`). Without a valid token there is nothing to end and
//! the answer is still 0 (AUTH-8). Errors: 100 store unavailable, 104 the store remembers
//! `RTCROOM_MAX_REVOKED_USERS` revocations already (the token then lapses at its expiry).

use rtcroom_shared::rooms::RoomError;
use rtcroom_shared::store::Limit;

use super::Request;
use crate::api::{ApiError, Reply};

pub struct Logout;

impl Logout {
    pub async fn serve(request: &Request<'_>) -> Result<Reply, ApiError> {
        let app = request.app;
        let Ok(session) = app.verify_token(request.query, request.body) else {
            return Ok(Reply::ok());
        };
        let keep_until = app.now_secs() + app.config.token_ttl_secs;
        let kept = app
            .rooms
            .store()
            .revoke_sessions(&session.user_id, session.issued_ms, keep_until)
            .await
            .map_err(RoomError::from)?;
        if kept {
            Ok(Reply::ok())
        } else {
            Err(RoomError::LimitReached(Limit::RevokedUsers).into())
        }
    }
}
