//! G1 compatibility, dev mode only: the older clients' way to get an identity.
//!
//! ```text
//! POST /weapp/{type}/get_im_login_info    body: {"userID":"u1"}? (or ?userID=)
//! → {"code":0,"message":"请求成功","userID":"u1","identifier":"u1","sdkAppID":1400000000,"accType":"1","userSig":"..."}
//! errors: 102 dev mode is off
//! ```

use super::get_login_info::dev_identity;
use crate::api::{ApiError, Params, Reply};
use super::Request;
use crate::app::App;

pub struct GetImLoginInfo {
    user_id: Option<String>,
}

impl GetImLoginInfo {
    pub async fn serve(request: &Request<'_>) -> Result<Reply, ApiError> {
        Self::parse(request.query, request.body)?.apply(request.app)
    }

    pub fn parse(query: &Params, body: &Params) -> Result<Self, ApiError> {
        let user_id = body
            .opt_text("userID")
            .or_else(|| query.opt_text("userID"))
            .filter(|u| !u.is_empty())
            .map(|u| u.into_owned());
        Ok(Self { user_id })
    }

    pub fn apply(self, app: &App) -> Result<Reply, ApiError> {
        let (user_id, reply) = dev_identity(app, "get_im_login_info", self.user_id)?;
        Ok(reply.with("identifier", user_id))
    }
}
