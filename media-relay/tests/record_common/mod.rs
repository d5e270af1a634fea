//! Helpers of the recording tests: relays that record (in process, or as a process that can
//! be killed), what they wrote and told, and ffprobe's view of a segment.
#![allow(dead_code, unused_imports)]

pub use std::io::{BufRead, BufReader, Read, Write};
pub use std::path::{Path, PathBuf};
pub use std::process::{Child, Command, Stdio};
pub use std::sync::Arc;
pub use std::sync::atomic::{AtomicU64, Ordering};
pub use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub use parking_lot::Mutex;
pub use rtcroom_relay::testing::{self, PUSH_KEY, TestPattern, TestRelay};
pub use rtcroom_shared::model::RoomType;
pub use rtcroom_shared::stream_events::{self, SegmentReport, StreamEvent, StreamEventKind};
pub use rtcroom_shared::urls::record::{RecordFormat, RecordPolicy};
pub use serde_json::Value;

pub const SECRET: &str = "recording-events-secret";

pub fn policy(format: RecordFormat, room: &str, user: &str) -> RecordPolicy {
    RecordPolicy {
        format,
        room_type: RoomType::Double,
        room_id: room.into(),
        user_id: user.into(),
    }
}

pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rtcroom-rec-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Every file under `dir`, relative, sorted.
pub fn files(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, at: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(at).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                out.push(
                    path.strip_prefix(root)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// ffprobe's packets of a file: per stream (by codec type), the codec and the first and last
/// packet times (s).
#[derive(Debug)]
pub struct Probe {
    pub video: Option<(String, f64, f64)>,
    pub audio: Option<(String, f64, f64)>,
    pub duration: f64,
}

impl Probe {
    /// Asserts an H.264 video track and an AAC audio track (`what` names the file).
    pub fn assert_h264_aac(&self, what: &str) {
        let codec = |t: &Option<(String, f64, f64)>| t.as_ref().map(|t| t.0.clone());
        assert_eq!(
            (codec(&self.video).as_deref(), codec(&self.audio).as_deref()),
            (Some("h264"), Some("aac")),
            "{what}"
        );
    }
}

pub fn probe(file: &Path) -> Probe {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-show_entries"])
        .args(["stream=index,codec_name,codec_type:format=duration:packet=stream_index,pts_time,duration_time"])
        .args(["-of", "json"])
        .arg(file)
        .output()
        .expect("ffprobe runs (apt-get install ffmpeg)");
    assert!(
        out.status.success(),
        "ffprobe reads {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let track = |kind: &str| {
        let stream = json["streams"]
            .as_array()?
            .iter()
            .find(|s| s["codec_type"] == kind)?;
        let index = stream["index"].as_u64()?;
        let times: Vec<(f64, f64)> = json["packets"]
            .as_array()?
            .iter()
            .filter(|p| p["stream_index"].as_u64() == Some(index))
            .filter_map(|p| {
                let pts: f64 = p["pts_time"].as_str()?.parse().ok()?;
                let d: f64 = p["duration_time"]
                    .as_str()
                    .and_then(|d| d.parse().ok())
                    .unwrap_or(0.0);
                Some((pts, pts + d))
            })
            .collect();
        let first = times.iter().map(|t| t.0).fold(f64::MAX, f64::min);
        let last = times.iter().map(|t| t.1).fold(f64::MIN, f64::max);
        Some((stream["codec_name"].as_str()?.to_owned(), first, last))
    };
    Probe {
        video: track("video"),
        audio: track("audio"),
        duration: json["format"]["duration"]
            .as_str()
            .and_then(|d| d.parse().ok())
            .unwrap_or(0.0),
    }
}

pub fn segments(seen: &Mutex<Vec<(String, Vec<u8>)>>) -> Vec<SegmentReport> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    seen.lock()
        .iter()
        .filter_map(|(signature, body)| {
            stream_events::verify(SECRET, signature, body, now).expect("signed");
            let event: StreamEvent = serde_json::from_slice(body).unwrap();
            (event.event == StreamEventKind::Recorded).then(|| event.segment.unwrap())
        })
        .collect()
}

pub async fn recording_relay(dir: &Path, events: &str, vars: &[(&str, &str)]) -> TestRelay {
    let dir = dir.to_string_lossy().into_owned();
    // The first of a name wins: the test's own settings, then these.
    let mut all = vars.to_vec();
    all.extend_from_slice(&[
        ("RTCROOM_RECORD_DIR", dir.as_str()),
        ("RTCROOM_RECORD_MIN_FREE_MB", "1"),
        ("RTCROOM_RELAY_EVENTS_URL", events),
        ("RTCROOM_RELAY_EVENTS_SECRET", SECRET),
    ]);
    TestRelay::start(&all).await
}

pub fn finished(mut ffmpeg: Child) {
    let out = ffmpeg.wait().unwrap();
    let mut err = String::new();
    if let Some(mut e) = ffmpeg.stderr.take() {
        use std::io::Read;
        let _ = e.read_to_string(&mut err);
    }
    assert!(out.success(), "ffmpeg published: {err}");
}

pub async fn until(what: &str, secs: u64, done: impl FnMut() -> bool) {
    testing::wait_for(what, Duration::from_secs(secs), done).await
}

/// The relay as its own process (so that it can be killed), on ephemeral ports, with `vars`
/// besides the recording settings: the child, its RTMP base and its HTTP address.
pub fn relay_process(dir: &Path, events: &str, vars: &[(&str, &str)]) -> (Running, String, String) {
    relay_process_as(Command::new(RELAY), dir, events, vars)
}

/// The relay binary.
pub const RELAY: &str = env!("CARGO_BIN_EXE_media-relay");

/// Like [`relay_process`], started by `command` (the relay binary, or something that ends
/// by running it).
pub fn relay_process_as(
    mut command: Command,
    dir: &Path,
    events: &str,
    vars: &[(&str, &str)],
) -> (Running, String, String) {
    let mut child = command
        .env("RTCROOM_PUSH_KEY", PUSH_KEY)
        .env("RTCROOM_RELAY_RTMP_LISTEN", "127.0.0.1:0")
        .env("RTCROOM_RELAY_HTTP_LISTEN", "127.0.0.1:0")
        .env("RTCROOM_RELAY_SRT_LISTEN", "off")
        .env("RTCROOM_RECORD_DIR", dir)
        .env("RTCROOM_RECORD_MIN_FREE_MB", "1")
        .env("RTCROOM_RELAY_EVENTS_URL", events)
        .env("RTCROOM_RELAY_EVENTS_SECRET", SECRET)
        .env("RUST_LOG", "warn")
        .envs(vars.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the relay binary runs");
    // Its log and the line saying where it listens share stdout.
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    let address = |line: &str, name: &str| {
        let rest = line.split(&format!("{name} on ")).nth(1)?;
        Some(rest.split([',', ' ', '\n']).next()?.to_owned())
    };
    let (rtmp, http, srt) = loop {
        line.clear();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "the relay says where it listens"
        );
        if let (Some(rtmp), Some(http)) = (address(&line, "rtmp"), address(&line, "http")) {
            break (rtmp, http, address(&line, "srt"));
        }
    };
    // The rest of its output is read and dropped, so that its writes never block.
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    let child = Running {
        child,
        srt: srt.and_then(|a| a.parse().ok()),
    };
    (child, format!("rtmp://{rtmp}/live"), http)
}

/// A relay process that is killed when dropped (a failing test does not leave it running),
/// and its SRT address when it listens there.
pub struct Running {
    child: Child,
    pub srt: Option<std::net::SocketAddr>,
}

impl std::ops::Deref for Running {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.child
    }
}

impl std::ops::DerefMut for Running {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.child
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Plays `stream` over HTTP-FLV from the relay at `http` in a thread of its own, keeping the
/// newest media timestamp (ms) it has read: what the relay had received and passed on, which
/// is what a crash may not lose (a publisher slower than real time sends less than the clock
/// says).
pub fn newest_timestamp_played(http: &str, stream: &str) -> Arc<AtomicU64> {
    let newest = Arc::new(AtomicU64::new(0));
    let seen = newest.clone();
    let url = testing::signed(PUSH_KEY, "", stream, 3600).replacen('?', ".flv?", 1);
    let mut socket = std::net::TcpStream::connect(http).expect("the relay's HTTP port");
    write!(socket, "GET /live{url} HTTP/1.1\r\nHost: relay\r\n\r\n").unwrap();
    std::thread::spawn(move || -> std::io::Result<()> {
        let mut r = BufReader::new(socket);
        let mut line = String::new();
        // The response head, then the FLV header (9 bytes and a previous tag size), then tags.
        while r.read_line(&mut line)? > 2 {
            line.clear();
        }
        r.read_exact(&mut [0; 13])?;
        loop {
            let mut head = [0u8; 11];
            r.read_exact(&mut head)?;
            let size = u32::from_be_bytes([0, head[1], head[2], head[3]]);
            std::io::copy(
                &mut (&mut r).take(u64::from(size) + 4),
                &mut std::io::sink(),
            )?;
            let ts = u32::from_be_bytes([head[7], head[4], head[5], head[6]]);
            if matches!(head[0], 8 | 9) {
                seen.fetch_max(u64::from(ts), Ordering::Relaxed);
            }
        }
    });
    newest
}

/// A counter or gauge of the relay's recorder from its `/metrics` (0 when absent).
pub fn metric(http: &str, name: &str) -> u64 {
    let out = Command::new("curl")
        .args(["-s", &format!("http://{http}/metrics")])
        .output()
        .expect("curl runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix(&format!("rtcroom_relay_record_{name} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}
