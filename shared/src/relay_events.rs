//! Stream events the media relay reports to the room service, and their signature.
//!
//! ```text
//! POST {RTCROOM_RELAY_EVENTS_URL}
//! X-Rtcroom-Signature: t={unix seconds},v1={hex HMAC-SHA256(secret, "{t}." + body)}
//! {"event":"publish"|"unpublish"|"play"|"stop","stream":"8888_alice_3f2a",
//!  "relay":"relay-1","seq":42,"at":1700000000123}
//! ```
//!
//! `seq` rises by one per event of a relay process, so a receiver can tell a retry (same
//! `seq`) from a new event. A receiver accepts a signature whose `t` is within
//! [`MAX_SKEW_SECS`] of its clock, so a captured request cannot be replayed later.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use subtle::ConstantTimeEq;

pub const SIGNATURE_HEADER: &str = "x-rtcroom-signature";
/// How far a signature's time may be from the receiver's clock.
pub const MAX_SKEW_SECS: u64 = 300;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StreamEventKind {
    /// A publisher started the stream.
    Publish,
    /// The publisher stopped.
    Unpublish,
    /// A player started playing the stream.
    Play,
    /// A player stopped.
    Stop,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamEvent {
    pub event: StreamEventKind,
    pub stream: String,
    pub relay: String,
    pub seq: u64,
    /// Epoch milliseconds at the relay.
    pub at: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("signature header missing or malformed")]
    Malformed,
    #[error("signature time is more than {MAX_SKEW_SECS} s from now")]
    Stale,
    #[error("signature does not match")]
    Mismatch,
}

fn mac(secret: &str, t: u64, body: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The signature header's value for `body` sent at `t` (unix seconds).
pub fn sign(secret: &str, t: u64, body: &[u8]) -> String {
    format!("t={t},v1={}", hex(&mac(secret, t, body)))
}

/// Checks a signature header for `body` at `now` (unix seconds).
pub fn verify(secret: &str, header: &str, body: &[u8], now: u64) -> Result<(), SignatureError> {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => t = value.parse::<u64>().ok(),
            Some(("v1", value)) => v1 = Some(value),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return Err(SignatureError::Malformed);
    };
    if t.abs_diff(now) > MAX_SKEW_SECS {
        return Err(SignatureError::Stale);
    }
    let expected = hex(&mac(secret, t, body));
    if bool::from(expected.as_bytes().ct_eq(v1.as_bytes())) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_for_its_body_secret_and_time_only() {
        let body = br#"{"event":"publish","stream":"s","relay":"r","seq":1,"at":5}"#;
        let header = sign("secret", 1_700_000_000, body);
        assert_eq!(verify("secret", &header, body, 1_700_000_100), Ok(()));
        assert_eq!(
            verify("secret", &header, b"{}", 1_700_000_000),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify("other", &header, body, 1_700_000_000),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify("secret", &header, body, 1_700_000_000 + MAX_SKEW_SECS + 1),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify("secret", "v1=ab", body, 1_700_000_000),
            Err(SignatureError::Malformed)
        );
    }

    #[test]
    fn events_serialise_as_documented() {
        let e = StreamEvent {
            event: StreamEventKind::Unpublish,
            stream: "8888_alice_3f2a".into(),
            relay: "relay-1".into(),
            seq: 42,
            at: 1_700_000_000_123,
        };
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"event":"unpublish","stream":"8888_alice_3f2a","relay":"relay-1","seq":42,"at":1700000000123}"#
        );
    }
}
