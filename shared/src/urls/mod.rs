//! Push and play URLs in Tencent's hotlink-protection scheme, and the stream names inside them.
//!
//! ```text
//! txTime   = UPPER-case hex of the expiry (epoch seconds)
//! txSecret = lower-case hex of md5(key + streamName + txTime)
//! push      rtmp://{pushHost}/live/{stream}?bizid={bizid}&txSecret={s}&txTime={T}
//! play      rtmp://{playHost}/live/{stream}?bizid={bizid}&txSecret={s}&txTime={T}   ("accelerateURL")
//! FLV play  {flvBase}/live/{stream}.flv?bizid={bizid}&txSecret={s}&txTime={T}
//! SRT       srt://{srtHost}?streamid=..&passphrase=..&pbkeylen=16   (rtcroom extension, `srt`)
//! ```
//!
//! Push URLs are signed with the push key, play URLs with the play key; the relay verifies
//! each with its own key, so a play URL cannot publish unless the two keys are the same (as in
//! the original Tencent deployments, and the cloud profile's default). The SRT addresses carry
//! the same signatures (same `txTime`) in their stream ids.

pub mod record;
pub mod srt;
mod srt_urls;

pub use srt_urls::{SrtAddress, SrtUrls};

use md5::{Digest, Md5};
use subtle::ConstantTimeEq;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlAuthError {
    #[error("txSecret/txTime missing")]
    Missing,
    #[error("txTime is not hexadecimal")]
    MalformedTime,
    #[error("URL expired at {expired_at} (now {now})")]
    Expired { expired_at: u64, now: u64 },
    #[error("txSecret does not match")]
    BadSecret,
}

/// `txTime` for an expiry in epoch seconds.
pub fn tx_time(expires_at: u64) -> String {
    format!("{expires_at:X}")
}

/// `txSecret` over exactly the `tx_time` string given.
pub fn tx_secret(key: &str, stream: &str, tx_time: &str) -> String {
    let mut md5 = Md5::new();
    md5.update(key.as_bytes());
    md5.update(stream.as_bytes());
    md5.update(tx_time.as_bytes());
    hex(&md5.finalize())
}

/// Checks a `txSecret`/`txTime` pair for `stream` at `now` (epoch seconds). Valid while
/// `now <= txTime`. The secret is compared in constant time and case-insensitively.
pub fn verify(
    key: &str,
    stream: &str,
    tx_secret_given: Option<&str>,
    tx_time_given: Option<&str>,
    now: u64,
) -> Result<(), UrlAuthError> {
    check_signature(tx_secret_given, tx_time_given, now, |time| {
        tx_secret(key, stream, time)
    })
}

/// The check every signed URL gets: `txSecret` and `txTime` present, `txTime` hex, the secret
/// equal (constant time, case-insensitively) to `expected(txTime)`, and not expired at `now`.
pub(crate) fn check_signature(
    secret: Option<&str>,
    time: Option<&str>,
    now: u64,
    expected: impl FnOnce(&str) -> String,
) -> Result<(), UrlAuthError> {
    let (Some(secret), Some(time)) = (secret, time) else {
        return Err(UrlAuthError::Missing);
    };
    let expires_at = parse_tx_time(time)?;
    let given = secret.to_ascii_lowercase();
    if !bool::from(expected(time).as_bytes().ct_eq(given.as_bytes())) {
        return Err(UrlAuthError::BadSecret);
    }
    if now > expires_at {
        return Err(UrlAuthError::Expired {
            expired_at: expires_at,
            now,
        });
    }
    Ok(())
}

/// The value of `key` in a URL's query string (form-decoded).
pub fn query_param(query: &str, key: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// The expiry (epoch seconds) a `txTime` names.
fn parse_tx_time(time: &str) -> Result<u64, UrlAuthError> {
    if time.is_empty() || time.len() > 16 {
        return Err(UrlAuthError::MalformedTime);
    }
    u64::from_str_radix(time, 16).map_err(|_| UrlAuthError::MalformedTime)
}

/// Where streams are pushed and played, and how they are signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlSigner {
    pub push_key: String,
    /// Signs `accelerateURL` and `playURL`.
    pub play_key: String,
    pub bizid: String,
    /// `host[:port]` of the RTMP ingest.
    pub push_host: String,
    /// `host[:port]` of RTMP playback.
    pub play_host: String,
    /// `scheme://host[:port]` of HTTP-FLV playback.
    pub flv_base: String,
    /// `host:port` of the SRT listener (publish and play); `None`: no SRT addresses.
    pub srt_host: Option<String>,
    pub ttl_secs: u64,
}

/// The addresses of one stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamUrls {
    pub stream: String,
    pub push_url: String,
    pub accelerate_url: String,
    pub flv_url: String,
    /// The SRT push and play addresses, when an SRT host is configured (rtcroom extension).
    pub srt: Option<SrtUrls>,
}

impl UrlSigner {
    /// A fresh stream name for `user_id`: `{bizid}_{user}_{4 hex}`.
    pub fn new_stream_name(&self, user_id: &str, suffix: u16) -> String {
        format!("{}_{}_{suffix:04x}", self.bizid, stream_user_part(user_id))
    }

    /// A fresh name for a stream to be recorded: `{bizid}_{user}_{12 hex}` (48 random bits).
    /// Recorded and unrecorded streams never share a name, so a recorded push URL given to
    /// `add_pusher` cannot be paired with an unrecorded one of the same name at the relay,
    /// and two recorded ones (of two rooms) share one only by a 2^48 chance.
    pub fn new_recorded_stream_name(&self, user_id: &str, suffix: u64) -> String {
        format!(
            "{}_{}_{:012x}",
            self.bizid,
            stream_user_part(user_id),
            suffix & 0xffff_ffff_ffff
        )
    }

    /// Whether `stream` has the shape of a recorded stream's name.
    pub fn is_recorded_stream_name(stream: &str) -> bool {
        stream
            .rsplit_once('_')
            .is_some_and(|(_, hex)| hex.len() == 12 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
    }

    /// Whether `stream` is one we would have named for `user_id`.
    pub fn stream_belongs_to(&self, stream: &str, user_id: &str) -> bool {
        let Some(rest) = stream
            .strip_prefix(self.bizid.as_str())
            .and_then(|s| s.strip_prefix('_'))
        else {
            return false;
        };
        let user = stream_user_part(user_id);
        rest.strip_prefix(user.as_str())
            .and_then(|s| s.strip_prefix('_'))
            .is_some_and(|hex| {
                matches!(hex.len(), 4 | 12) && hex.bytes().all(|b| b.is_ascii_hexdigit())
            })
    }

    /// `(txSecret, txTime)` of `stream` with `key`, expiring `ttl_secs` after `now`: the one
    /// signature every URL of the stream signed with that key carries.
    fn sign(&self, key: &str, stream: &str, now: u64) -> (String, String) {
        let time = tx_time(now.saturating_add(self.ttl_secs));
        (tx_secret(key, stream, &time), time)
    }

    fn query(&self, key: &str, stream: &str, now: u64) -> String {
        let (secret, time) = self.sign(key, stream, now);
        format!("bizid={}&txSecret={secret}&txTime={time}", self.bizid)
    }

    fn play_query(&self, stream: &str, now: u64) -> String {
        self.query(&self.play_key, stream, now)
    }

    /// The low-latency RTMP play address (`accelerateURL`) alone.
    pub fn accelerate_url(&self, stream: &str, now: u64) -> String {
        rtmp_url(&self.play_host, stream, &self.play_query(stream, now))
    }

    /// The HTTP-FLV play address alone.
    pub fn flv_url(&self, stream: &str, now: u64) -> String {
        self.flv_url_with(stream, &self.play_query(stream, now))
    }

    fn flv_url_with(&self, stream: &str, query: &str) -> String {
        format!("{}/live/{stream}.flv?{query}", self.flv_base)
    }

    /// The push URL of a stream to be recorded as `policy` says: `record={policy}`, and a
    /// `txSecret` that covers it (`record`).
    pub fn recorded_push_url(
        &self,
        stream: &str,
        now: u64,
        policy: &record::RecordPolicy,
    ) -> String {
        let (secret, time, encoded) = self.recorded_signature(stream, now, policy);
        rtmp_url(
            &self.push_host,
            stream,
            &format!(
                "bizid={}&txSecret={secret}&txTime={time}&{}={encoded}",
                self.bizid,
                record::RECORD_PARAM
            ),
        )
    }

    /// A recorded stream's push signature (URL-9): `txSecret`, `txTime` and the encoded
    /// policy it covers.
    pub(super) fn recorded_signature(
        &self,
        stream: &str,
        now: u64,
        policy: &record::RecordPolicy,
    ) -> (String, String, String) {
        let time = tx_time(now.saturating_add(self.ttl_secs));
        let encoded = policy.encode();
        let secret = record::record_secret(&self.push_key, stream, &time, &encoded);
        (secret, time, encoded)
    }

    /// The download address of a recording segment the relay keeps at `path` (under its
    /// recording directory): `{flvBase}/record/{path}?txSecret=&txTime=`, signed with the
    /// play key (`record::download_secret`).
    pub fn recording_url(&self, path: &str, now: u64) -> String {
        let time = tx_time(now.saturating_add(self.ttl_secs));
        let secret = record::download_secret(&self.play_key, path, &time);
        // Segment paths hold letters, digits, `-._/` and the `%` of their percent-encoded
        // ids, which a URL carries as `%25`.
        let in_url = path.replace('%', "%25");
        format!(
            "{}/record/{in_url}?txSecret={secret}&txTime={time}",
            self.flv_base
        )
    }

    /// Every address of a stream: the push URLs signed with the push key, the play URLs with
    /// the play key (SRT's only when an SRT host is configured).
    pub fn urls(&self, stream: &str, now: u64) -> StreamUrls {
        let play = self.play_query(stream, now);
        StreamUrls {
            stream: stream.to_owned(),
            push_url: rtmp_url(
                &self.push_host,
                stream,
                &self.query(&self.push_key, stream, now),
            ),
            accelerate_url: rtmp_url(&self.play_host, stream, &play),
            flv_url: self.flv_url_with(stream, &play),
            srt: self.srt_urls(stream, now),
        }
    }
}

fn rtmp_url(host: &str, stream: &str, query: &str) -> String {
    format!("rtmp://{host}/live/{stream}?{query}")
}

/// The stream name in a push or play URL: its last path segment without query or `.flv`.
pub fn stream_of(url: &str) -> Option<&str> {
    let path = url.split(['?', '#']).next()?;
    let after_scheme = path.split_once("://").map_or(path, |(_, rest)| rest);
    let (_, path) = after_scheme.split_once('/')?;
    let last = path.rsplit('/').next()?;
    let name = last.strip_suffix(".flv").unwrap_or(last);
    (!name.is_empty()).then_some(name)
}

/// User ids that are safe in a URL path are used as they are; others by a digest.
fn stream_user_part(user_id: &str) -> String {
    let safe = !user_id.is_empty()
        && user_id.len() <= 64
        && user_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if safe {
        user_id.to_owned()
    } else {
        let digest = Md5::digest(user_id.as_bytes());
        format!("x{}", &hex(&digest)[..16])
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// The signer the unit tests share: push key `k`, play key `p`, bizid 8888, TTL 100 s.
#[cfg(test)]
pub(crate) fn example_signer(srt_host: Option<&str>) -> UrlSigner {
    UrlSigner {
        push_key: "k".into(),
        play_key: "p".into(),
        bizid: "8888".into(),
        push_host: "push.example".into(),
        play_host: "play.example".into(),
        flv_base: "https://play.example".into(),
        srt_host: srt_host.map(str::to_owned),
        ttl_secs: 100,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> UrlSigner {
        example_signer(None)
    }

    #[test]
    fn signed_urls_verify_until_they_expire() {
        let s = signer();
        let urls = s.urls("8888_bob_00ff", 1_000);
        assert_eq!(stream_of(&urls.push_url), Some("8888_bob_00ff"));
        assert_eq!(stream_of(&urls.flv_url), Some("8888_bob_00ff"));
        assert_eq!(
            s.accelerate_url("8888_bob_00ff", 1_000),
            urls.accelerate_url
        );
        assert_eq!(s.flv_url("8888_bob_00ff", 1_000), urls.flv_url);
        let q = urls.push_url.split_once('?').unwrap().1;
        let param = |name: &str| {
            q.split('&')
                .find_map(|kv| kv.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
        };
        assert_eq!(param("txTime"), Some("44C"));
        assert_eq!(
            verify(
                "k",
                "8888_bob_00ff",
                param("txSecret"),
                param("txTime"),
                1_100
            ),
            Ok(())
        );
        assert!(matches!(
            verify(
                "k",
                "8888_bob_00ff",
                param("txSecret"),
                param("txTime"),
                1_101
            ),
            Err(UrlAuthError::Expired { .. })
        ));
        assert_eq!(
            verify(
                "k",
                "8888_eve_00ff",
                param("txSecret"),
                param("txTime"),
                1_000
            ),
            Err(UrlAuthError::BadSecret)
        );
        assert_eq!(
            verify("k", "x", None, Some("1"), 0),
            Err(UrlAuthError::Missing)
        );
        assert_eq!(
            verify("k", "x", Some("a"), Some("zz"), 0),
            Err(UrlAuthError::MalformedTime)
        );
    }

    #[test]
    fn play_urls_carry_the_play_keys_signature_only() {
        let s = signer();
        let urls = s.urls("8888_bob_00ff", 1_000);
        let signature = |url: &str| {
            let q = url.split_once('?').unwrap().1.to_owned();
            let param = |name: &str| {
                q.split('&')
                    .find_map(|kv| kv.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
                    .map(str::to_owned)
            };
            (param("txSecret"), param("txTime"))
        };
        let check = |key: &str, url: &str| {
            let (secret, time) = signature(url);
            verify(
                key,
                "8888_bob_00ff",
                secret.as_deref(),
                time.as_deref(),
                1_000,
            )
        };
        assert_eq!(check("k", &urls.push_url), Ok(()));
        assert_eq!(check("p", &urls.push_url), Err(UrlAuthError::BadSecret));
        for play in [&urls.accelerate_url, &urls.flv_url] {
            assert_eq!(check("p", play), Ok(()));
            assert_eq!(check("k", play), Err(UrlAuthError::BadSecret), "{play}");
        }
    }

    #[test]
    fn stream_names_identify_their_user() {
        let s = signer();
        let name = s.new_stream_name("bob", 0xbeef);
        assert_eq!(name, "8888_bob_beef");
        assert!(s.stream_belongs_to(&name, "bob"));
        assert!(!s.stream_belongs_to(&name, "bo"));
        assert!(!s.stream_belongs_to("8888_bob_beef_1", "bob"));
        let recorded = s.new_recorded_stream_name("bob", 0x0123_4567_89ab_cdef);
        assert_eq!(recorded, "8888_bob_456789abcdef");
        assert!(s.stream_belongs_to(&recorded, "bob"));
        assert!(UrlSigner::is_recorded_stream_name(&recorded));
        assert!(!UrlSigner::is_recorded_stream_name(&name));
        let unsafe_user = s.new_stream_name("用户 1", 1);
        assert!(
            unsafe_user
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        );
        assert!(s.stream_belongs_to(&unsafe_user, "用户 1"));
    }

    #[test]
    fn stream_of_rejects_urls_without_a_path() {
        assert_eq!(stream_of("rtmp://host"), None);
        assert_eq!(stream_of("rtmp://host/"), None);
        assert_eq!(stream_of("rtmp://host/live/s?x=/y"), Some("s"));
    }
}
