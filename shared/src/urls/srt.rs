//! SRT addresses (an rtcroom extension): the stream id in SRS's convention, carrying the same
//! `txSecret`/`txTime` signature as the RTMP URLs, and the stream's AES passphrase.
//!
//! ```text
//! stream id   #!::r=live/{stream},m=publish,txSecret={s},txTime={T}      (play: m=request)
//!             (a recorded stream's: ...,record={policy}, its txSecret covering it: URL-9)
//! passphrase  first 32 hex digits of HMAC-SHA256(key, "rtcroom srt passphrase\n" + stream)
//!             (key: the push key for publishing, the play key for playing)
//! URL         srt://{host}?streamid={stream id}&passphrase={p}&pbkeylen=16
//!             (the stream id as it is: ffmpeg and srt-live-transmit pass it on undecoded, and it
//!             holds no `&`; a stream id that arrives percent-encoded is decoded)
//! ```
//!
//! The passphrase is derived, not stored: the room service hands it out with the signed
//! URL to whoever may publish (or play) the stream, and the relay computes the same one when
//! the caller's stream id names the stream, so both sides agree without new state.

use hmac::{Hmac, Mac};
use percent_encoding::percent_decode_str;
use sha2::Sha256;

/// The AES key length (bytes) every rtcroom SRT stream uses: AES-128, libsrt's default.
pub const SRT_KEY_LEN: u32 = 16;
/// Longest stream id a caller may send (libsrt's own limit is 512).
pub const MAX_STREAM_ID: usize = 512;

/// Publishing or playing ("request", in SRS's words).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SrtMode {
    Publish,
    Request,
}

impl SrtMode {
    fn as_str(self) -> &'static str {
        match self {
            SrtMode::Publish => "publish",
            SrtMode::Request => "request",
        }
    }
}

/// A parsed stream id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SrtStreamId {
    /// The stream name (the `live/` application stripped).
    pub stream: String,
    pub mode: SrtMode,
    pub tx_secret: Option<String>,
    pub tx_time: Option<String>,
    /// A recorded stream's policy (`record=`, URL-9), which its `txSecret` then covers.
    pub record: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamIdError {
    #[error("stream id longer than {MAX_STREAM_ID} bytes")]
    TooLong,
    #[error("stream id does not start with #!:: (SRS convention)")]
    NotStructured,
    #[error("stream id has no r=live/STREAM")]
    NoResource,
    #[error("stream id's m= is neither publish nor request")]
    BadMode,
    #[error("stream id repeats the key {0}")]
    Repeated(String),
}

/// The passphrase of `stream` for the side signed with `key`.
pub fn srt_passphrase(key: &str, stream: &str) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(b"rtcroom srt passphrase\n");
    mac.update(stream.as_bytes());
    let digest = mac.finalize().into_bytes();
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// The stream id for `stream` with the signature `tx_secret`/`tx_time`.
pub fn srt_stream_id(stream: &str, mode: SrtMode, tx_secret: &str, tx_time: &str) -> String {
    format!(
        "#!::r=live/{stream},m={},txSecret={tx_secret},txTime={tx_time}",
        mode.as_str()
    )
}

/// The publish stream id of a recorded `stream`: `record={policy}` (URL-9) after the
/// signature, which covers it.
pub fn srt_recorded_stream_id(
    stream: &str,
    tx_secret: &str,
    tx_time: &str,
    policy: &str,
) -> String {
    format!(
        "{},record={policy}",
        srt_stream_id(stream, SrtMode::Publish, tx_secret, tx_time)
    )
}

/// The `srt://` URL ffmpeg, OBS and srt-live-transmit take: `host` is `host:port`.
pub fn srt_url(host: &str, stream_id: &str, passphrase: &str) -> String {
    format!("srt://{host}?streamid={stream_id}&passphrase={passphrase}&pbkeylen={SRT_KEY_LEN}")
}

/// Parses a stream id in SRS's convention: `#!::` then `key=value` pairs separated by commas;
/// `r` (`live/STREAM`, or `live/STREAM?txSecret=..&txTime=..` as some tools write it) and `m`
/// are required, `txSecret`/`txTime` carry the signature, other keys (`h`, `s`, ...) are ignored.
pub fn parse_srt_stream_id(id: &str) -> Result<SrtStreamId, StreamIdError> {
    if id.len() > MAX_STREAM_ID {
        return Err(StreamIdError::TooLong);
    }
    // Some tools send the stream id as it appears, percent-encoded, in their URL.
    let decoded;
    let id = if id.starts_with("%23") {
        decoded = percent_decode_str(id).decode_utf8_lossy();
        decoded.as_ref()
    } else {
        id
    };
    let body = id
        .strip_prefix("#!::")
        .ok_or(StreamIdError::NotStructured)?;
    let (mut resource, mut mode, mut secret, mut time, mut record) = (None, None, None, None, None);
    for pair in body.split(',').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let slot = match key {
            "r" => &mut resource,
            "m" => &mut mode,
            "txSecret" => &mut secret,
            "txTime" => &mut time,
            "record" => &mut record,
            _ => continue,
        };
        if slot.replace(value.to_owned()).is_some() {
            return Err(StreamIdError::Repeated(key.to_owned()));
        }
    }
    let resource = resource.ok_or(StreamIdError::NoResource)?;
    let (path, query) = match resource.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (resource.as_str(), None),
    };
    let stream = path
        .strip_prefix("live/")
        .filter(|s| !s.is_empty() && !s.contains('/'))
        .ok_or(StreamIdError::NoResource)?;
    for (key, value) in query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .filter_map(|kv| kv.split_once('='))
    {
        let slot = match key {
            "txSecret" => &mut secret,
            "txTime" => &mut time,
            "record" => &mut record,
            _ => continue,
        };
        if slot.replace(value.to_owned()).is_some() {
            return Err(StreamIdError::Repeated(key.to_owned()));
        }
    }
    let mode = match mode.as_deref() {
        Some("publish") => SrtMode::Publish,
        Some("request" | "play") => SrtMode::Request,
        _ => return Err(StreamIdError::BadMode),
    };
    Ok(SrtStreamId {
        stream: stream.to_owned(),
        mode,
        tx_secret: secret,
        tx_time: time,
        record,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_ids_round_trip_and_carry_the_signature() {
        let id = srt_stream_id("8888_bob_00ff", SrtMode::Publish, "ab12", "5C271099");
        assert_eq!(
            id,
            "#!::r=live/8888_bob_00ff,m=publish,txSecret=ab12,txTime=5C271099"
        );
        assert_eq!(
            parse_srt_stream_id(&id),
            Ok(SrtStreamId {
                stream: "8888_bob_00ff".into(),
                mode: SrtMode::Publish,
                tx_secret: Some("ab12".into()),
                tx_time: Some("5C271099".into()),
                record: None,
            })
        );
        let recorded =
            srt_recorded_stream_id("8888_bob_00ff", "ab12", "5C271099", "mp4.double.cg.Ym9i");
        assert_eq!(
            parse_srt_stream_id(&recorded).unwrap().record.as_deref(),
            Some("mp4.double.cg.Ym9i")
        );
        let in_resource =
            parse_srt_stream_id("#!::h=x,r=live/s?txSecret=a&txTime=B,m=request").unwrap();
        assert_eq!(in_resource.stream, "s");
        assert_eq!(in_resource.mode, SrtMode::Request);
        assert_eq!(in_resource.tx_secret.as_deref(), Some("a"));
        assert_eq!(in_resource.tx_time.as_deref(), Some("B"));
    }

    #[test]
    fn malformed_stream_ids_are_refused() {
        assert_eq!(
            parse_srt_stream_id("live/s"),
            Err(StreamIdError::NotStructured)
        );
        assert_eq!(
            parse_srt_stream_id("#!::m=publish"),
            Err(StreamIdError::NoResource)
        );
        assert_eq!(
            parse_srt_stream_id("#!::r=app/s,m=publish"),
            Err(StreamIdError::NoResource)
        );
        assert_eq!(
            parse_srt_stream_id("#!::r=live/s,m=file"),
            Err(StreamIdError::BadMode)
        );
        assert_eq!(
            parse_srt_stream_id("#!::r=live/s,m=publish,m=request"),
            Err(StreamIdError::Repeated("m".into()))
        );
        let long = format!("#!::r=live/{},m=publish", "x".repeat(600));
        assert_eq!(parse_srt_stream_id(&long), Err(StreamIdError::TooLong));
    }

    #[test]
    fn passphrases_differ_by_key_and_stream_and_fit_srt() {
        let a = srt_passphrase("k", "s1");
        assert_eq!(a.len(), 32);
        assert_eq!(a, srt_passphrase("k", "s1"));
        assert_ne!(a, srt_passphrase("k", "s2"));
        assert_ne!(a, srt_passphrase("p", "s1"));
        let url = srt_url("127.0.0.1:9000", "#!::r=live/s,m=publish", &a);
        assert!(
            url.starts_with("srt://127.0.0.1:9000?streamid=#!::r=live/s,m=publish&passphrase=")
        );
        assert_eq!(
            parse_srt_stream_id("%23%21%3A%3Ar%3Dlive%2Fs%2Cm%3Dpublish")
                .unwrap()
                .stream,
            "s"
        );
        assert!(url.ends_with("&pbkeylen=16"));
    }
}
