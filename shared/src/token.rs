//! Stateless session tokens: what `login` hands out and every other call carries as `?token=`.
//!
//! Any function instance checks a token with the key alone, no store lookup.
//!
//! ```text
//! token   = base64url(payload) "." base64url(HMAC-SHA256(token_key, payload))
//! payload = u8 version (2) | u64 sdkappid | u64 expires_at | u64 issued_ms | u16 len, userID
//!           | u8 has_grant [| u16 len, roomID | u32 privileges | u64 grant expires_at]
//! ```
//!
//! Version 1 (no `issued_ms`) is still read, as issued at 0. A grant is the room restriction
//! of a PrivateMapKey the user logged in with. The token itself is checked with the key
//! alone; logout (the store's revocation of a user's sessions issued up to a moment) is
//! checked by the caller, `App::authenticate`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

const VERSION: u8 = 2;
/// Tokens of the first format, without their issue time.
const VERSION_1: u8 = 1;
/// Tokens are short; refuse to decode anything long before doing work on it.
const MAX_TOKEN_CHARS: usize = 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("token is malformed")]
    Malformed,
    #[error("token signature does not match")]
    BadSignature,
    #[error("token expired")]
    Expired,
    #[error("token belongs to another user or application")]
    WrongUser,
}

/// Room privileges carried from a PrivateMapKey.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub room_id: String,
    pub privileges: u32,
    pub expires_at: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub user_id: String,
    pub sdkappid: u64,
    /// Epoch seconds.
    pub expires_at: u64,
    /// When the token was issued, epoch milliseconds (0 for tokens of version 1): logout
    /// revokes the sessions of a user issued up to a moment.
    pub issued_ms: u64,
    pub grant: Option<Grant>,
}

/// Issues and checks tokens with one key.
#[derive(Clone)]
pub struct TokenKey(HmacSha256);

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKey(..)")
    }
}

impl TokenKey {
    pub fn new(secret: &[u8]) -> Self {
        Self(HmacSha256::new_from_slice(secret).expect("HMAC accepts keys of any length"))
    }

    /// Derives the token key from the UserSig key, so deployments need no second secret;
    /// rotating the UserSig key therefore also ends every session.
    pub fn derived_from_usersig_key(usersig_key: &str) -> Self {
        let mut mac = HmacSha256::new_from_slice(usersig_key.as_bytes()).expect("any length");
        mac.update(b"rtcroom session token v1");
        Self::new(&mac.finalize().into_bytes())
    }

    pub fn issue(&self, session: &Session) -> String {
        let payload = encode_payload(session);
        let mut mac = self.0.clone();
        mac.update(&payload);
        let tag = mac.finalize().into_bytes();
        let mut token = URL_SAFE_NO_PAD.encode(&payload);
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(tag));
        token
    }

    /// Checks signature, expiry (`now` in epoch seconds) and that the token belongs to
    /// (`user_id`, `sdkappid`).
    pub fn verify(
        &self,
        token: &str,
        user_id: &str,
        sdkappid: u64,
        now: u64,
    ) -> Result<Session, TokenError> {
        if token.len() > MAX_TOKEN_CHARS {
            return Err(TokenError::Malformed);
        }
        let (payload_b64, tag_b64) = token.split_once('.').ok_or(TokenError::Malformed)?;
        let payload = URL_SAFE_NO_PAD
            .decode(payload_b64)
            .map_err(|_| TokenError::Malformed)?;
        let tag = URL_SAFE_NO_PAD
            .decode(tag_b64)
            .map_err(|_| TokenError::Malformed)?;
        let mut mac = self.0.clone();
        mac.update(&payload);
        mac.verify_slice(&tag)
            .map_err(|_| TokenError::BadSignature)?;
        let session = decode_payload(&payload).ok_or(TokenError::Malformed)?;
        if now >= session.expires_at {
            return Err(TokenError::Expired);
        }
        if session.user_id != user_id || session.sdkappid != sdkappid {
            return Err(TokenError::WrongUser);
        }
        Ok(session)
    }
}

fn encode_payload(s: &Session) -> Vec<u8> {
    let mut out = Vec::with_capacity(40 + s.user_id.len());
    out.push(VERSION);
    out.extend_from_slice(&s.sdkappid.to_be_bytes());
    out.extend_from_slice(&s.expires_at.to_be_bytes());
    out.extend_from_slice(&s.issued_ms.to_be_bytes());
    put_str(&mut out, &s.user_id);
    match &s.grant {
        None => out.push(0),
        Some(g) => {
            out.push(1);
            put_str(&mut out, &g.room_id);
            out.extend_from_slice(&g.privileges.to_be_bytes());
            out.extend_from_slice(&g.expires_at.to_be_bytes());
        }
    }
    out
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    let bytes = &s.as_bytes()[..s.len().min(u16::MAX as usize)];
    out.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
    out.extend_from_slice(bytes);
}

fn decode_payload(mut b: &[u8]) -> Option<Session> {
    fn take<'a>(b: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
        if b.len() < n {
            return None;
        }
        let (head, rest) = b.split_at(n);
        *b = rest;
        Some(head)
    }
    fn u64_(b: &mut &[u8]) -> Option<u64> {
        Some(u64::from_be_bytes(take(b, 8)?.try_into().ok()?))
    }
    fn str_(b: &mut &[u8]) -> Option<String> {
        let len = u16::from_be_bytes(take(b, 2)?.try_into().ok()?) as usize;
        String::from_utf8(take(b, len)?.to_vec()).ok()
    }
    let version = take(&mut b, 1)?[0];
    if version != VERSION && version != VERSION_1 {
        return None;
    }
    let sdkappid = u64_(&mut b)?;
    let expires_at = u64_(&mut b)?;
    let issued_ms = if version == VERSION { u64_(&mut b)? } else { 0 };
    let user_id = str_(&mut b)?;
    let grant = match take(&mut b, 1)?[0] {
        0 => None,
        1 => Some(Grant {
            room_id: str_(&mut b)?,
            privileges: u32::from_be_bytes(take(&mut b, 4)?.try_into().ok()?),
            expires_at: u64_(&mut b)?,
        }),
        _ => return None,
    };
    b.is_empty().then_some(Session {
        user_id,
        sdkappid,
        expires_at,
        issued_ms,
        grant,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(grant: Option<Grant>) -> Session {
        Session {
            user_id: "alice".into(),
            sdkappid: 1400,
            expires_at: 2_000,
            issued_ms: 1_000_123,
            grant,
        }
    }

    #[test]
    fn issued_token_verifies_for_its_user_until_expiry() {
        let key = TokenKey::derived_from_usersig_key("secret");
        let grant = Some(Grant {
            room_id: "r1".into(),
            privileges: 3,
            expires_at: 1_500,
        });
        let token = key.issue(&session(grant.clone()));
        assert!(
            token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        );
        assert_eq!(
            key.verify(&token, "alice", 1400, 1_999).unwrap().grant,
            grant
        );
        assert_eq!(
            key.verify(&token, "alice", 1400, 2_000),
            Err(TokenError::Expired)
        );
        assert_eq!(
            key.verify(&token, "bob", 1400, 0),
            Err(TokenError::WrongUser)
        );
        assert_eq!(
            key.verify(&token, "alice", 1401, 0),
            Err(TokenError::WrongUser)
        );
    }

    #[test]
    fn token_from_another_key_or_tampered_is_rejected() {
        let token = TokenKey::new(b"a").issue(&session(None));
        assert_eq!(
            TokenKey::new(b"b").verify(&token, "alice", 1400, 0),
            Err(TokenError::BadSignature)
        );
        let mut bytes = token.into_bytes();
        bytes[3] = if bytes[3] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(bytes).unwrap();
        assert!(
            TokenKey::new(b"a")
                .verify(&tampered, "alice", 1400, 0)
                .is_err()
        );
        assert_eq!(
            TokenKey::new(b"a").verify("no-dot", "alice", 1400, 0),
            Err(TokenError::Malformed)
        );
    }
}
