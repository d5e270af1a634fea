//! Recording, end to end: real ffmpeg publishes to URLs signed as the room service signs them,
//! the relay writes segments, ffprobe reads them; a relay killed with SIGKILL leaves `.part`
//! files the next start closes.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use rtcroom_relay::testing::{self, PUSH_KEY, TestPattern, TestRelay};
use rtcroom_shared::model::RoomType;
use rtcroom_shared::stream_events::{self, SegmentReport, StreamEvent, StreamEventKind};
use rtcroom_shared::urls::record::{RecordFormat, RecordPolicy};
use serde_json::Value;

const SECRET: &str = "recording-events-secret";

fn policy(format: RecordFormat, room: &str, user: &str) -> RecordPolicy {
    RecordPolicy {
        format,
        room_type: RoomType::Double,
        room_id: room.into(),
        user_id: user.into(),
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rtcroom-rec-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Every file under `dir`, relative, sorted.
fn files(dir: &Path) -> Vec<String> {
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
struct Probe {
    video: Option<(String, f64, f64)>,
    audio: Option<(String, f64, f64)>,
    duration: f64,
}

fn probe(file: &Path) -> Probe {
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

fn segments(seen: &Mutex<Vec<(String, Vec<u8>)>>) -> Vec<SegmentReport> {
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

async fn recording_relay(dir: &Path, events: &str, vars: &[(&str, &str)]) -> TestRelay {
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

fn finished(mut ffmpeg: Child) {
    let out = ffmpeg.wait().unwrap();
    let mut err = String::new();
    if let Some(mut e) = ffmpeg.stderr.take() {
        use std::io::Read;
        let _ = e.read_to_string(&mut err);
    }
    assert!(out.success(), "ffmpeg published: {err}");
}

async fn until(what: &str, secs: u64, done: impl FnMut() -> bool) {
    testing::wait_for(what, Duration::from_secs(secs), done).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorded_stream_is_cut_into_segments_that_read_whole_and_in_sync() {
    let dir = temp_dir("segments");
    let (events, seen) = testing::event_receiver(0).await;
    // RTCROOM_TEST_RECORD_SECS (default 12; the acceptance run is 60): segments of a little
    // under half of it, so three of them.
    let secs: u32 = std::env::var("RTCROOM_TEST_RECORD_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(12);
    let segment_secs = secs / 2 - 1;
    let segment_var = segment_secs.to_string();
    let relay = recording_relay(
        &dir,
        &events,
        &[("RTCROOM_RECORD_SEGMENT_SECS", segment_var.as_str())],
    )
    .await;
    let stream = "8888_alice_0001";
    let url = testing::signed_recorded(
        PUSH_KEY,
        &relay.rtmp_base(),
        stream,
        &policy(RecordFormat::Mp4, "room 1", "alice"),
    );
    let publish_started = Instant::now();
    finished(testing::publish(&url, TestPattern { audio: true, secs }));
    let published = publish_started.elapsed().as_secs_f64();
    until("three segments told", 15, || segments(&seen).len() == 3).await;
    println!(
        "published {secs} s; segments {:?} s",
        segments(&seen)
            .iter()
            .map(|s| s.duration as f64 / 1000.0)
            .collect::<Vec<_>>()
    );

    let told = segments(&seen);
    // Each segment's `.unreported` marker goes once the room service has confirmed it.
    until("the segments' markers gone", 5, || {
        files(&dir).iter().all(|f| !f.ends_with(".unreported"))
    })
    .await;
    let names = files(&dir);
    assert_eq!(names.len(), 3, "{names:?}");
    assert!(
        names.iter().all(
            |n| n.starts_with("double_room/room%201/alice_8888_alice_0001_") && n.ends_with(".mp4")
        ),
        "{names:?}"
    );
    let mut total = 0.0;
    for (i, segment) in told.iter().enumerate() {
        assert_eq!(segment.index as usize, i);
        assert_eq!(
            (
                segment.room_id.as_str(),
                segment.user_id.as_str(),
                segment.format.as_str()
            ),
            ("room 1", "alice", "mp4")
        );
        let file = dir.join(&segment.path);
        assert_eq!(std::fs::metadata(&file).unwrap().len(), segment.bytes);
        let p = probe(&file);
        let (vcodec, vfirst, vlast) = p.video.clone().expect("a video track");
        let (acodec, afirst, alast) = p.audio.clone().expect("an audio track");
        assert_eq!((vcodec.as_str(), acodec.as_str()), ("h264", "aac"));
        println!(
            "segment {i}: {:.3} s; video {vfirst:.3}..{vlast:.3}, audio {afirst:.3}..{alast:.3}",
            p.duration
        );
        // Audio and video start and end together (within 100 ms).
        assert!(
            (vfirst - afirst).abs() <= 0.1 && (vlast - alast).abs() <= 0.1,
            "{segment:?}: {p:?}"
        );
        // The event's duration is the file's.
        assert!(
            (p.duration - segment.duration as f64 / 1000.0).abs() <= 0.1,
            "{segment:?}: {p:?}"
        );
        if i < 2 {
            // Cut at the first keyframe (one a second) past 5 s.
            let seg = f64::from(segment_secs);
            assert!(
                (seg..=seg + 1.1).contains(&p.duration),
                "{segment:?}: {p:?}"
            );
        }
        total += p.duration;
    }
    assert!(
        (total - f64::from(secs)).abs() <= 1.0,
        "{total} s recorded of {secs} s published (in {published:.1} s)"
    );
    assert!(told.windows(2).all(|w| w[1].start >= w[0].start + 4_000));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_urls_that_carry_a_signed_policy_are_recorded_and_the_policy_cannot_be_edited() {
    let dir = temp_dir("policy");
    let (events, _seen) = testing::event_receiver(0).await;
    let relay = recording_relay(&dir, &events, &[]).await;
    // A plain push URL: published, nothing recorded.
    let plain = testing::signed(PUSH_KEY, &relay.rtmp_base(), "8888_bob_0001", 3600);
    finished(testing::publish(
        &plain,
        TestPattern {
            audio: false,
            secs: 2,
        },
    ));
    // The policy taken off, swapped or added: refused outright.
    let recorded = testing::signed_recorded(
        PUSH_KEY,
        &relay.rtmp_base(),
        "8888_bob_0002",
        &policy(RecordFormat::Mp4, "r", "bob"),
    );
    let stripped = recorded.split("&record=").next().unwrap().to_owned();
    let swapped = recorded.replace(
        &policy(RecordFormat::Mp4, "r", "bob").encode(),
        &policy(RecordFormat::Flv, "r", "bob").encode(),
    );
    let added = format!(
        "{plain}&record={}",
        policy(RecordFormat::Mp4, "r", "bob").encode()
    );
    for url in [stripped, swapped, added] {
        let out = testing::publish(
            &url,
            TestPattern {
                audio: false,
                secs: 1,
            },
        )
        .wait_with_output()
        .unwrap();
        assert!(!out.status.success(), "{url} was refused");
    }
    assert!(files(&dir).is_empty(), "{:?}", files(&dir));
    assert!(relay.metrics.auth_refused.get() >= 3);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publisher_back_within_the_resume_window_continues_its_recording_and_later_starts_anew() {
    let dir = temp_dir("resume");
    let (events, seen) = testing::event_receiver(0).await;
    let relay = recording_relay(&dir, &events, &[("RTCROOM_RECORD_RESUME_SECS", "4")]).await;
    let url = testing::signed_recorded(
        PUSH_KEY,
        &relay.rtmp_base(),
        "8888_carol_0001",
        &policy(RecordFormat::Flv, "r2", "carol"),
    );
    let pattern = TestPattern {
        audio: true,
        secs: 2,
    };
    finished(testing::publish(&url, pattern));
    until("the first segment", 10, || segments(&seen).len() == 1).await;
    finished(testing::publish(&url, pattern));
    until("the second segment", 10, || segments(&seen).len() == 2).await;
    // Past the window: a new recording.
    tokio::time::sleep(Duration::from_secs(5)).await;
    finished(testing::publish(&url, pattern));
    until("the third segment", 10, || segments(&seen).len() == 3).await;
    let told = segments(&seen);
    assert_eq!(told.iter().map(|s| s.index).collect::<Vec<_>>(), [0, 1, 0]);
    for segment in &told {
        assert_eq!(segment.format, "flv");
        let p = probe(&dir.join(&segment.path));
        assert_eq!(p.video.as_ref().map(|v| v.0.as_str()), Some("h264"));
        assert_eq!(p.audio.as_ref().map(|a| a.0.as_str()), Some("aac"));
        assert!((1.0..=2.6).contains(&p.duration), "{segment:?}: {p:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn below_the_free_space_floor_no_recording_starts_and_the_stream_goes_on() {
    let dir = temp_dir("floor");
    let (events, _seen) = testing::event_receiver(0).await;
    let relay = recording_relay(
        &dir,
        &events,
        &[("RTCROOM_RECORD_MIN_FREE_MB", "1000000000")],
    )
    .await;
    let url = testing::signed_recorded(
        PUSH_KEY,
        &relay.rtmp_base(),
        "8888_dan_0001",
        &policy(RecordFormat::Mp4, "r3", "dan"),
    );
    let publisher = testing::publish(
        &url,
        TestPattern {
            audio: false,
            secs: 3,
        },
    );
    relay.published("8888_dan_0001").await;
    let play = testing::signed(PUSH_KEY, &relay.rtmp_base(), "8888_dan_0001", 3600);
    let (_, frames) = tokio::task::spawn_blocking(move || testing::play(&play, 25))
        .await
        .unwrap();
    assert_eq!(frames, 25, "players are served");
    finished(publisher);
    assert!(files(&dir).is_empty(), "{:?}", files(&dir));
    assert!(relay.handle.relay.recorder.metrics.refused_disk.get() >= 1);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_segment_the_room_service_never_confirmed_is_told_again_at_the_next_start() {
    let dir = temp_dir("unreported");
    // A room service that refuses everything: the segment stays marked.
    let (down, _) = testing::event_receiver(usize::MAX).await;
    let relay = recording_relay(&dir, &down, &[]).await;
    let url = testing::signed_recorded(
        PUSH_KEY,
        &relay.rtmp_base(),
        "8888_fay_0001",
        &policy(RecordFormat::Mp4, "r5", "fay"),
    );
    finished(testing::publish(
        &url,
        TestPattern {
            audio: true,
            secs: 2,
        },
    ));
    until("the closed segment, marked", 10, || {
        let f = files(&dir);
        f.iter().any(|f| f.ends_with(".mp4")) && f.iter().any(|f| f.ends_with(".mp4.unreported"))
    })
    .await;
    // The next start (the room service back) tells it, and the marker goes.
    let (up, seen) = testing::event_receiver(0).await;
    let _restarted = recording_relay(&dir, &up, &[]).await;
    until("the segment told again", 10, || segments(&seen).len() == 1).await;
    let segment = segments(&seen).remove(0);
    assert_eq!((segment.user_id.as_str(), segment.index), ("fay", 0));
    assert!((1_500..=2_600).contains(&segment.duration), "{segment:?}");
    until("the marker gone", 5, || {
        files(&dir).iter().all(|f| !f.ends_with(".unreported"))
    })
    .await;
    drop(relay);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The relay as its own process (so that it can be killed), on ephemeral ports: the child, its
/// RTMP base and its HTTP address.
fn relay_process(dir: &Path, events: &str) -> (Child, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_media-relay"))
        .env("RTCROOM_PUSH_KEY", PUSH_KEY)
        .env("RTCROOM_RELAY_RTMP_LISTEN", "127.0.0.1:0")
        .env("RTCROOM_RELAY_HTTP_LISTEN", "127.0.0.1:0")
        .env("RTCROOM_RELAY_SRT_LISTEN", "off")
        .env("RTCROOM_RECORD_DIR", dir)
        .env("RTCROOM_RECORD_MIN_FREE_MB", "1")
        .env("RTCROOM_RELAY_EVENTS_URL", events)
        .env("RTCROOM_RELAY_EVENTS_SECRET", SECRET)
        .env("RUST_LOG", "warn")
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
    let (rtmp, http) = loop {
        line.clear();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "the relay says where it listens"
        );
        if let (Some(rtmp), Some(http)) = (address(&line, "rtmp"), address(&line, "http")) {
            break (rtmp, http);
        }
    };
    // The rest of its output is read and dropped, so that its writes never block.
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    (child, format!("rtmp://{rtmp}/live"), http)
}

/// Plays `stream` over HTTP-FLV from the relay at `http` in a thread of its own, keeping the
/// newest media timestamp (ms) it has read: what the relay had received and passed on, which
/// is what a crash may not lose (a publisher slower than real time sends less than the clock
/// says).
fn newest_timestamp_played(http: &str, stream: &str) -> Arc<AtomicU64> {
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

/// A relay killed with SIGKILL at a random moment of a publish: after a restart its segment
/// reads, and at most 1 s of what was published before the kill is missing. Runs
/// `RTCROOM_TEST_CRASH_RUNS` times (default 3) over a publish of `RTCROOM_TEST_CRASH_SECS`
/// (default 12 s; the acceptance run is 10 x 60 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_killed_mid_publish_loses_at_most_a_second_of_it() {
    let runs: u32 = std::env::var("RTCROOM_TEST_CRASH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let secs: u32 = std::env::var("RTCROOM_TEST_CRASH_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(12);
    let (events, seen) = testing::event_receiver(0).await;
    for run in 0..runs {
        let dir = temp_dir(&format!("crash{run}"));
        seen.lock().clear();
        let (mut relay, base, http) = relay_process(&dir, &events);
        let stream = format!("8888_erin_{run:04}");
        let url = testing::signed_recorded(
            PUSH_KEY,
            &base,
            &stream,
            &policy(RecordFormat::Mp4, "r4", "erin"),
        );
        let mut publisher = testing::publish(&url, TestPattern { audio: true, secs });
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        let played = newest_timestamp_played(&http, &stream);
        // Some time into the publish, not in its first or last two seconds.
        let wait_ms =
            500 + rand::random::<u64>() % (u64::from(secs).saturating_sub(4).max(1) * 1000);
        tokio::time::sleep(Duration::from_millis(wait_ms)).await;
        relay.kill().unwrap();
        let had = played.load(Ordering::Relaxed) as f64 / 1000.0;
        let killed_at = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        relay.wait().unwrap();
        let _ = publisher.kill();
        let _ = publisher.wait();
        let left = files(&dir);
        assert!(
            left.len() == 1 && left[0].ends_with(".mp4.part"),
            "run {run}: {left:?}"
        );
        let (mut restarted, _, _) = relay_process(&dir, &events);
        until("the crashed segment told", 15, || {
            segments(&seen).len() == 1
        })
        .await;
        let _ = restarted.kill();
        let _ = restarted.wait();
        let segment = segments(&seen).remove(0);
        let file = dir.join(&segment.path);
        assert!(file.exists(), "run {run}: {:?}", files(&dir));
        let p = probe(&file);
        assert_eq!(
            p.video.as_ref().map(|v| v.0.as_str()),
            Some("h264"),
            "run {run}"
        );
        assert_eq!(
            p.audio.as_ref().map(|a| a.0.as_str()),
            Some("aac"),
            "run {run}"
        );
        // What the relay had received is what a player of it had been sent (the publisher's
        // clock, which starts at 0 in this segment); wall time since the segment began says
        // the same unless the publisher fell behind real time.
        let wall = killed_at.saturating_sub(segment.start) as f64 / 1000.0;
        let missing = had - p.duration;
        println!(
            "run {run}: killed {wall:.2} s into the segment with {had:.2} s of media received, \
             {:.2} s kept, {missing:.2} s missing",
            p.duration
        );
        assert!(had > 1.0, "run {run}: the player read only {had:.2} s");
        assert!(
            missing <= 1.0,
            "run {run}: {missing:.2} s missing ({segment:?}, {p:?})"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
