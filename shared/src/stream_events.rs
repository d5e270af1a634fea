//! Stream events the media relay reports to the room service, and their signature.
//!
//! ```text
//! POST {RTCROOM_RELAY_EVENTS_URL}
//! X-Rtcroom-Signature: t={unix seconds},v1={hex HMAC-SHA256(secret, "{t}." + body)}
//! {"event":"publish"|"unpublish"|"play"|"stop","stream":"8888_alice_3f2a",
//!  "relay":"relay-1","seq":42,"at":1700000000123}
//! {"event":"live","streams":["8888_alice_3f2a","8888_bob_77c1"],"relay":"relay-1",...}
//! {"event":"recorded","stream":"8888_alice_3f2a","segment":{"path":"multi/cjE/...mp4",
//!  "roomType":"multi_room","roomID":"r1","userID":"alice","index":0,"start":1700000000000,
//!  "duration":30000,"bytes":1234567,"format":"mp4"},"relay":"relay-1",...}
//! ```
//!
//! `recorded` tells of a closed recording segment (`segment`): where it is on the relay (or
//! in the bucket), whose it is, when it started (epoch ms), how long it runs (ms), its size.
//!
//! `live` repeats, every few seconds, which streams are being published on the relay: the
//! room service keeps their members present only while these reports keep coming, so a relay
//! that dies cannot keep anyone in a room.
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
    /// The streams being published right now (repeated periodically).
    Live,
    /// A recording segment of the stream was closed (`segment` says which).
    Recorded,
}

/// A closed recording segment, as a `recorded` event tells of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SegmentReport {
    /// The file's path under the relay's recording directory (`/` separated), which is also
    /// its key in the bucket when the relay uploads.
    pub path: String,
    /// `double_room`, `multi_room` or `live_room`.
    pub room_type: crate::model::RoomType,
    /// Empty when the push URL was signed before its room existed (the room service finds the
    /// room by the stream).
    #[serde(rename = "roomID")]
    pub room_id: String,
    #[serde(rename = "userID")]
    pub user_id: String,
    /// The segment's place in its recording (0 first; a publisher that came back within the
    /// resume window continues a recording with the next).
    pub index: u32,
    /// Epoch ms of the segment's first media.
    pub start: u64,
    /// Media duration, ms.
    pub duration: u64,
    pub bytes: u64,
    /// `mp4` (fragmented MP4) or `flv`.
    pub format: String,
    /// Where it was uploaded (`s3://bucket/key`), when it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stored: Option<String>,
}

/// Streams one `live` event lists at most; a relay with more sends several.
pub const MAX_LIVE_STREAMS: usize = 500;
/// Longest stream name an event may carry.
pub const MAX_STREAM_BYTES: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamEvent {
    pub event: StreamEventKind,
    /// The stream, on every event but `live`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub stream: String,
    /// `live` only: streams being published (at most [`MAX_LIVE_STREAMS`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub streams: Vec<String>,
    pub relay: String,
    pub seq: u64,
    /// Epoch milliseconds at the relay.
    pub at: u64,
    /// `recorded` only: the segment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment: Option<SegmentReport>,
}

impl StreamEvent {
    /// The streams the event is about, after checking its shape: one `stream` for every kind
    /// but `live`, 1 to [`MAX_LIVE_STREAMS`] `streams` for `live`, each non-empty and at most
    /// [`MAX_STREAM_BYTES`].
    pub fn streams(&self) -> Result<Vec<&str>, String> {
        let names: Vec<&str> = match self.event {
            StreamEventKind::Live if !self.stream.is_empty() => {
                return Err("a live event lists streams, not stream".into());
            }
            StreamEventKind::Live if self.streams.len() > MAX_LIVE_STREAMS => {
                return Err(format!(
                    "a live event lists at most {MAX_LIVE_STREAMS} streams"
                ));
            }
            StreamEventKind::Live => self.streams.iter().map(String::as_str).collect(),
            _ if !self.streams.is_empty() => {
                return Err("only a live event lists streams".into());
            }
            StreamEventKind::Recorded if self.segment.is_none() => {
                return Err("a recorded event carries its segment".into());
            }
            _ if self.event != StreamEventKind::Recorded && self.segment.is_some() => {
                return Err("only a recorded event carries a segment".into());
            }
            _ if self.stream.is_empty() => return Err("stream is missing".into()),
            _ => vec![self.stream.as_str()],
        };
        match names
            .iter()
            .find(|s| s.is_empty() || s.len() > MAX_STREAM_BYTES)
        {
            Some(_) => Err(format!(
                "stream names are 1 to {MAX_STREAM_BYTES} bytes long"
            )),
            None => Ok(names),
        }
    }
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
            streams: Vec::new(),
            relay: "relay-1".into(),
            seq: 42,
            at: 1_700_000_000_123,
            segment: None,
        };
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"event":"unpublish","stream":"8888_alice_3f2a","relay":"relay-1","seq":42,"at":1700000000123}"#
        );
        assert_eq!(e.streams(), Ok(vec!["8888_alice_3f2a"]));
        let live: StreamEvent = serde_json::from_str(
            r#"{"event":"live","streams":["a","b"],"relay":"r","seq":1,"at":2}"#,
        )
        .unwrap();
        assert_eq!(live.streams(), Ok(vec!["a", "b"]));
    }

    #[test]
    fn events_of_the_wrong_shape_are_refused() {
        let event = |json: &str| serde_json::from_str::<StreamEvent>(json).unwrap();
        for bad in [
            r#"{"event":"publish","relay":"r","seq":1,"at":2}"#,
            r#"{"event":"publish","stream":"","relay":"r","seq":1,"at":2}"#,
            r#"{"event":"publish","stream":"a","streams":["b"],"relay":"r","seq":1,"at":2}"#,
            r#"{"event":"live","stream":"a","relay":"r","seq":1,"at":2}"#,
            r#"{"event":"live","streams":[""],"relay":"r","seq":1,"at":2}"#,
            r#"{"event":"recorded","stream":"a","relay":"r","seq":1,"at":2}"#,
        ] {
            assert!(event(bad).streams().is_err(), "{bad}");
        }
        let long = format!(
            r#"{{"event":"stop","stream":"{}","relay":"r","seq":1,"at":2}}"#,
            "x".repeat(MAX_STREAM_BYTES + 1)
        );
        assert!(event(&long).streams().is_err());
        let many = StreamEvent {
            event: StreamEventKind::Live,
            stream: String::new(),
            streams: vec!["s".into(); MAX_LIVE_STREAMS + 1],
            relay: "r".into(),
            seq: 1,
            at: 2,
            segment: None,
        };
        assert!(many.streams().is_err());
    }
}
