//! Recording policy signed into push URLs (an rtcroom extension, `spec/url-signing.md` URL-9).
//!
//! A stream of a recorded room is pushed to a URL whose query carries `record={policy}` and
//! whose `txSecret` covers that policy: the first 16 bytes, in lower-case hex, of
//! HMAC-SHA256(push key, `"rtcroom-record\n" + stream + "\n" + txTime + "\n" + policy`). The
//! relay checks such a URL against the HMAC and a URL without `record` against Tencent's MD5,
//! so removing the policy, adding one or changing it makes the URL fail: a client can neither
//! turn recording off nor on. The policy is `{format}.{room type}.{room}.{user}`: `mp4` or
//! `flv`; `double`, `multi` or `live`; the room and user ids in unpadded base64url (the room
//! may be empty: a live room's anchor asks for its push URL before the room exists).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::{UrlAuthError, check_signature, hex};
use crate::model::RoomType;

/// The query parameter that carries the policy.
pub const RECORD_PARAM: &str = "record";

/// The longest policy a relay accepts (room and user ids are 64 bytes at most here).
pub const MAX_POLICY_LEN: usize = 512;

/// The container a recording is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RecordFormat {
    /// Fragmented MP4 (plays in browsers; a crash loses at most the fragment in flight).
    #[default]
    Mp4,
    /// FLV (the RTMP tags as they came).
    Flv,
}

impl RecordFormat {
    pub fn token(self) -> &'static str {
        match self {
            RecordFormat::Mp4 => "mp4",
            RecordFormat::Flv => "flv",
        }
    }

    pub fn from_token(s: &str) -> Option<Self> {
        match s {
            "mp4" => Some(RecordFormat::Mp4),
            "flv" => Some(RecordFormat::Flv),
            _ => None,
        }
    }

    /// The file extension of a closed segment.
    pub fn extension(self) -> &'static str {
        self.token()
    }
}

/// What the room service asks the relay to record a stream as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordPolicy {
    pub format: RecordFormat,
    pub room_type: RoomType,
    /// Empty when the push URL was signed before its room existed.
    pub room_id: String,
    pub user_id: String,
}

fn type_token(t: RoomType) -> &'static str {
    match t {
        RoomType::Double => "double",
        RoomType::Multi => "multi",
        RoomType::Live => "live",
    }
}

/// A policy that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("record policy is malformed")]
pub struct BadPolicy;

impl RecordPolicy {
    /// The `record` parameter's value.
    pub fn encode(&self) -> String {
        format!(
            "{}.{}.{}.{}",
            self.format.token(),
            type_token(self.room_type),
            URL_SAFE_NO_PAD.encode(&self.room_id),
            URL_SAFE_NO_PAD.encode(&self.user_id)
        )
    }

    pub fn decode(s: &str) -> Result<Self, BadPolicy> {
        if s.len() > MAX_POLICY_LEN {
            return Err(BadPolicy);
        }
        let mut parts = s.split('.');
        let (Some(format), Some(room_type), Some(room), Some(user), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(BadPolicy);
        };
        let text = |b64: &str| {
            URL_SAFE_NO_PAD
                .decode(b64)
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .ok_or(BadPolicy)
        };
        let policy = Self {
            format: RecordFormat::from_token(format).ok_or(BadPolicy)?,
            room_type: RoomType::ALL
                .into_iter()
                .find(|t| type_token(*t) == room_type)
                .ok_or(BadPolicy)?,
            room_id: text(room)?,
            user_id: text(user)?,
        };
        if policy.user_id.is_empty() {
            return Err(BadPolicy);
        }
        Ok(policy)
    }
}

/// The first 16 bytes, in lower-case hex, of HMAC-SHA256(`key`, the `parts` joined).
fn hmac16(key: &str, parts: &[&str]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC takes any key");
    for part in parts {
        mac.update(part.as_bytes());
    }
    hex(&mac.finalize().into_bytes()[..16])
}

/// The `txSecret` of a recorded stream's push URL (see the module's text).
pub fn record_secret(key: &str, stream: &str, tx_time: &str, policy: &str) -> String {
    hmac16(
        key,
        &["rtcroom-record\n", stream, "\n", tx_time, "\n", policy],
    )
}

/// The signature of a recording's download URL: HMAC-SHA256(play key,
/// `"rtcroom-download\n" + path + "\n" + txTime`), 16 bytes in lower-case hex.
pub fn download_secret(key: &str, path: &str, tx_time: &str) -> String {
    hmac16(key, &["rtcroom-download\n", path, "\n", tx_time])
}

/// Checks a download URL's signature for `path` at `now` (epoch seconds).
pub fn verify_download(
    key: &str,
    path: &str,
    secret: Option<&str>,
    time: Option<&str>,
    now: u64,
) -> Result<(), UrlAuthError> {
    check_signature(secret, time, now, |time| download_secret(key, path, time))
}

/// Checks a recorded stream's push signature at `now` (epoch seconds) and reads its policy.
pub fn verify_recorded(
    key: &str,
    stream: &str,
    secret: Option<&str>,
    time: Option<&str>,
    policy: &str,
    now: u64,
) -> Result<RecordPolicy, UrlAuthError> {
    check_signature(secret, time, now, |time| {
        record_secret(key, stream, time, policy)
    })?;
    RecordPolicy::decode(policy).map_err(|_| UrlAuthError::BadSecret)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::urls::{example_signer, stream_of, verify};

    fn policy(room: &str) -> RecordPolicy {
        RecordPolicy {
            format: RecordFormat::Mp4,
            room_type: RoomType::Multi,
            room_id: room.into(),
            user_id: "张三 & co".into(),
        }
    }

    #[test]
    fn policies_round_trip_whatever_the_ids_hold() {
        for room in ["", "room_1", "a.b/c?d=e&f", "会议室"] {
            let p = policy(room);
            let encoded = p.encode();
            assert!(
                encoded
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)),
                "{encoded} is URL-safe as it is"
            );
            assert_eq!(RecordPolicy::decode(&encoded), Ok(p));
        }
        for bad in [
            "",
            "mp4.multi.cm9vbQ",
            "avi.multi.cm9vbQ.dQ",
            "mp4.x.cm9vbQ.dQ",
            "mp4.multi.cm9vbQ.",
            "mp4.multi.!!.dQ",
            "mp4.multi.cm9vbQ.dQ.x",
        ] {
            assert_eq!(RecordPolicy::decode(bad), Err(BadPolicy), "{bad}");
        }
    }

    #[test]
    fn the_policy_cannot_be_removed_added_or_changed() {
        let s = example_signer(None);
        let p = policy("r1");
        let url = s.recorded_push_url("8888_bob_00ff", 1_000, &p);
        assert_eq!(stream_of(&url), Some("8888_bob_00ff"));
        let query = url.split_once('?').unwrap().1;
        let param = |name: &str| {
            form_urlencoded::parse(query.as_bytes())
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
        };
        let (secret, time, given) = (param("txSecret"), param("txTime"), param(RECORD_PARAM));
        let check = |stream: &str, policy: &str, now: u64| {
            verify_recorded("k", stream, secret.as_deref(), time.as_deref(), policy, now)
        };
        assert_eq!(
            check("8888_bob_00ff", given.as_deref().unwrap(), 1_050),
            Ok(p.clone())
        );
        // Without its policy the URL is not a plain signed one.
        assert_eq!(
            verify(
                "k",
                "8888_bob_00ff",
                secret.as_deref(),
                time.as_deref(),
                1_050
            ),
            Err(UrlAuthError::BadSecret)
        );
        // Another format, room or stream, or another key: refused.
        let flv = RecordPolicy {
            format: RecordFormat::Flv,
            ..p.clone()
        }
        .encode();
        assert_eq!(
            check("8888_bob_00ff", &flv, 1_050),
            Err(UrlAuthError::BadSecret)
        );
        assert_eq!(
            check("8888_bob_00ff", &policy("r2").encode(), 1_050),
            Err(UrlAuthError::BadSecret)
        );
        assert_eq!(
            check("8888_eve_00ff", given.as_deref().unwrap(), 1_050),
            Err(UrlAuthError::BadSecret)
        );
        assert!(matches!(
            check("8888_bob_00ff", given.as_deref().unwrap(), 1_101),
            Err(UrlAuthError::Expired { .. })
        ));
        // A plain URL's signature does not carry a policy added to it.
        let plain = s.urls("8888_bob_00ff", 1_000).push_url;
        let plain_secret = plain.split("txSecret=").nth(1).unwrap()[..32].to_owned();
        assert_eq!(
            verify_recorded(
                "k",
                "8888_bob_00ff",
                Some(&plain_secret),
                time.as_deref(),
                &p.encode(),
                1_050
            ),
            Err(UrlAuthError::BadSecret)
        );
    }
}
