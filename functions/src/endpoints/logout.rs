//! Ends a session, as far as a client is concerned.
//!
//! ```text
//! POST /weapp/{type}/logout?userID=&token=    body: {}
//! → {"code":0,"message":"请求成功"}
//! ```
//!
//! Tokens are stateless, so there is nothing to delete; they lapse at their expiry. Clients
//! ignore the answer, so it is always success.

use crate::api::Reply;

pub struct Logout;

impl Logout {
    pub fn apply(self) -> Reply {
        Reply::ok()
    }
}
