//! Test support (feature `testing`), for this crate's tests and the room service's: a relay on
//! ephemeral ports, URLs signed as the room service signs them, and real ffmpeg as publisher
//! and player.

use std::net::SocketAddr;
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use rtcroom_shared::stream_events;
use rtcroom_shared::urls;
use rtcroom_shared::urls::record::{RECORD_PARAM, RecordPolicy, record_secret};
use rtcroom_shared::urls::srt::{self, SrtMode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::config::RelayConfig;
use crate::relay::Relay;
use crate::server::{self, RelayHandle};

/// The push key a test relay checks unless `RTCROOM_PUSH_KEY` is given.
pub const PUSH_KEY: &str = "relay-test-push-key";

/// A relay serving on ephemeral ports of 127.0.0.1.
pub struct TestRelay {
    pub handle: RelayHandle,
    pub rtmp: SocketAddr,
    pub http: SocketAddr,
    /// Where SRT listens (unless `RTCROOM_RELAY_SRT_LISTEN=off`).
    pub srt: Option<SocketAddr>,
}

/// The relay itself: `test_relay.hub`, `test_relay.metrics`.
impl std::ops::Deref for TestRelay {
    type Target = Relay;

    fn deref(&self) -> &Relay {
        &self.handle.relay
    }
}

impl TestRelay {
    /// Starts one configured by `vars` (`RTCROOM_*`) over the defaults: both listeners on
    /// `127.0.0.1:0`, push key [`PUSH_KEY`].
    pub async fn start(vars: &[(&str, &str)]) -> Self {
        let defaults = [
            ("RTCROOM_PUSH_KEY", PUSH_KEY),
            ("RTCROOM_RELAY_RTMP_LISTEN", "127.0.0.1:0"),
            ("RTCROOM_RELAY_HTTP_LISTEN", "127.0.0.1:0"),
            ("RTCROOM_RELAY_SRT_LISTEN", "127.0.0.1:0"),
        ];
        let config = RelayConfig::from_lookup(|k| {
            vars.iter()
                .chain(&defaults)
                .find(|(name, _)| *name == k)
                .map(|(_, v)| v.to_string())
        })
        .expect("test relay configuration");
        let (handle, listening) = server::start(&config).await.expect("the relay starts");
        Self {
            handle,
            rtmp: listening.get("rtmp").expect("RTMP listens"),
            http: listening.get("http").expect("HTTP listens"),
            srt: listening.get("srt"),
        }
    }

    pub fn relay(&self) -> &Arc<Relay> {
        &self.handle.relay
    }

    /// `rtmp://{addr}/live`.
    pub fn rtmp_base(&self) -> String {
        format!("rtmp://{}/live", self.rtmp)
    }

    /// `http://{addr}/live`.
    pub fn http_base(&self) -> String {
        format!("http://{}/live", self.http)
    }

    /// Waits (up to 10 s) until `stream` has a publisher.
    pub async fn published(&self, stream: &str) {
        let relay = self.relay().clone();
        wait_for(
            &format!("{stream} to be published"),
            Duration::from_secs(10),
            || relay.hub.is_publishing(stream),
        )
        .await;
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

/// `{base}/{stream}?txSecret=&txTime=` signed with `key`, expiring `ttl_secs` from now (a
/// negative `ttl_secs`: expired).
pub fn signed(key: &str, base: &str, stream: &str, ttl_secs: i64) -> String {
    let time = urls::tx_time(now_secs().saturating_add_signed(ttl_secs));
    let secret = urls::tx_secret(key, stream, &time);
    format!("{base}/{stream}?txSecret={secret}&txTime={time}")
}

/// A push URL for `stream` that asks for recording as `policy` says, signed as the room
/// service signs it.
pub fn signed_recorded(key: &str, base: &str, stream: &str, policy: &RecordPolicy) -> String {
    let (secret, time, encoded) = recorded_signature(key, stream, policy);
    format!("{base}/{stream}?txSecret={secret}&txTime={time}&{RECORD_PARAM}={encoded}")
}

/// A recorded stream's signature for an hour (URL-9): `txSecret`, `txTime` and the policy.
fn recorded_signature(key: &str, stream: &str, policy: &RecordPolicy) -> (String, String, String) {
    let time = urls::tx_time(now_secs() + 3600);
    let encoded = policy.encode();
    (record_secret(key, stream, &time, &encoded), time, encoded)
}

/// A stand-in room service for relay events: answers 500 to the first `failures` requests, then 200, and
/// records every request's signature header and body.
pub async fn event_receiver(failures: usize) -> (String, Arc<Mutex<Vec<(String, Vec<u8>)>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/relay_event", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    tokio::spawn(async move {
        let mut answered = 0;
        loop {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = Vec::new();
            let (signature, body) = loop {
                let mut chunk = [0u8; 4096];
                let n = s.read(&mut chunk).await.unwrap_or(0);
                if n == 0 {
                    break (String::new(), Vec::new());
                }
                buf.extend_from_slice(&chunk[..n]);
                let mut headers = [httparse::EMPTY_HEADER; 32];
                let mut request = httparse::Request::new(&mut headers);
                if let Ok(httparse::Status::Complete(at)) = request.parse(&buf) {
                    let header = |name: &str| {
                        request
                            .headers
                            .iter()
                            .find(|h| h.name.eq_ignore_ascii_case(name))
                            .map(|h| String::from_utf8_lossy(h.value).into_owned())
                            .unwrap_or_default()
                    };
                    let len: usize = header("content-length").parse().unwrap_or(0);
                    if buf.len() >= at + len {
                        break (
                            header(stream_events::SIGNATURE_HEADER),
                            buf[at..at + len].to_vec(),
                        );
                    }
                }
            };
            record.lock().push((signature, body));
            answered += 1;
            let status = if answered <= failures {
                "500 Internal Server Error"
            } else {
                "200 OK"
            };
            let reply =
                format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            let _ = s.write_all(reply.as_bytes()).await;
        }
    });
    (url, seen)
}

/// An SRT URL for `stream` as the room service hands it out: the stream id in SRS's
/// convention with the signature by `key`, and the stream's passphrase for `key`.
pub fn signed_srt(
    key: &str,
    addr: SocketAddr,
    stream: &str,
    mode: SrtMode,
    ttl_secs: i64,
) -> String {
    let time = urls::tx_time(now_secs().saturating_add_signed(ttl_secs));
    let secret = urls::tx_secret(key, stream, &time);
    let id = srt::srt_stream_id(stream, mode, &secret, &time);
    srt::srt_url(&addr.to_string(), &id, &srt::srt_passphrase(key, stream))
}

/// An SRT publish URL for a stream to be recorded as `policy` says, as the room service hands
/// it out: the policy in the stream id, under the recorded signature (URL-9).
pub fn signed_srt_recorded(
    key: &str,
    addr: SocketAddr,
    stream: &str,
    policy: &RecordPolicy,
) -> String {
    let (secret, time, encoded) = recorded_signature(key, stream, policy);
    let id = srt::srt_recorded_stream_id(stream, &secret, &time, &encoded);
    srt::srt_url(&addr.to_string(), &id, &srt::srt_passphrase(key, stream))
}

/// Polls `done` every 20 ms; panics naming `what` after `limit`.
pub async fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `ffmpeg`, quiet (the test command installs Debian's).
pub fn ffmpeg() -> Command {
    let mut c = Command::new("ffmpeg");
    c.args(["-hide_banner", "-nostdin", "-loglevel", "error"]);
    c
}

/// What [`publish`] sends: a 320x240 25 fps H.264 test pattern (one keyframe a second), with
/// a 440 Hz AAC tone when `audio`, in real time, for `secs` seconds.
#[derive(Debug, Clone, Copy)]
pub struct TestPattern {
    pub audio: bool,
    pub secs: u32,
}

/// Publishes `pattern` to `url` over RTMP (FLV), or SRT (MPEG-TS) for an `srt://` URL;
/// stderr is piped (ffmpeg says there why the relay
/// refused it).
pub fn publish(url: &str, pattern: TestPattern) -> Child {
    let mut c = ffmpeg();
    c.args(["-re", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25"]);
    if pattern.audio {
        c.args(["-f", "lavfi", "-i", "sine=frequency=440", "-c:a", "aac"]);
    }
    c.args([
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-tune",
        "zerolatency",
    ])
    .args([
        "-g",
        "25",
        "-t",
        &pattern.secs.to_string(),
        "-f",
        if url.starts_with("srt://") {
            "mpegts"
        } else {
            "flv"
        },
        url,
    ])
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .expect("ffmpeg runs (apt-get install ffmpeg)")
}

/// Plays `url` (RTMP, HTTP-FLV or SRT) until `frames` video frames are decoded or the stream ends
/// (10 s without data is an end): ffmpeg's output, and the frames decoded. Blocks.
pub fn play(url: &str, frames: u32) -> (Output, u32) {
    let out = ffmpeg()
        .args(["-rw_timeout", "10000000", "-i", url])
        .args(["-frames:v", &frames.to_string(), "-f", "null", "-"])
        .args(["-progress", "pipe:1", "-nostats"])
        .output()
        .expect("ffmpeg runs (apt-get install ffmpeg)");
    let decoded = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("frame="))
        .filter_map(|n| n.trim().parse().ok())
        .max()
        .unwrap_or(0);
    (out, decoded)
}
