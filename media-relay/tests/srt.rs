//! SRT with real tools (Debian's ffmpeg, built on libsrt, and srt-live-transmit; the test
//! command installs them): publish over SRT with the signed stream id and passphrase the room
//! service hands out, play over SRT, RTMP and HTTP-FLV; publish over RTMP and play over SRT;
//! and every hostile handshake refused while the listener goes on serving the others.

use std::net::{SocketAddr, UdpSocket};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rtcroom_relay::testing::{self, TestPattern, TestRelay, ffmpeg, signed_srt};
use rtcroom_shared::urls::srt::SrtMode;

const KEY: &str = testing::PUSH_KEY;
const PLAY_KEY: &str = "relay-test-play-key";

async fn relay() -> TestRelay {
    TestRelay::start(&[("RTCROOM_PLAY_KEY", PLAY_KEY)]).await
}

fn srt(relay: &TestRelay) -> SocketAddr {
    relay.srt.expect("SRT listens (libsrt installed)")
}

fn push(relay: &TestRelay, stream: &str) -> String {
    signed_srt(KEY, srt(relay), stream, SrtMode::Publish, 3600)
}

fn play(relay: &TestRelay, stream: &str) -> String {
    signed_srt(PLAY_KEY, srt(relay), stream, SrtMode::Request, 3600)
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

/// ffprobe's view of `url` over its first `secs` seconds: (codec, width, height, frames)
/// per stream, decoding every frame.
async fn probe(url: String, secs: u32) -> Vec<(String, u64, u64, u64)> {
    let out = blocking(move || {
        Command::new("ffprobe")
            .args([
                "-hide_banner",
                "-loglevel",
                "error",
                "-rw_timeout",
                "10000000",
            ])
            .args(["-read_intervals", &format!("%+{secs}"), "-count_frames"])
            .args([
                "-show_entries",
                "stream=codec_name,width,height,nb_read_frames",
            ])
            .args(["-of", "json", &url])
            .output()
            .expect("ffprobe runs")
    })
    .await;
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    json["streams"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            let n = |k: &str| s[k].as_u64().unwrap_or(0);
            let frames = s["nb_read_frames"]
                .as_str()
                .and_then(|f| f.parse().ok())
                .unwrap_or(0);
            (
                s["codec_name"].as_str().unwrap_or("").to_owned(),
                n("width"),
                n("height"),
                frames,
            )
        })
        .collect()
}

fn assert_h264_aac(what: &str, streams: &[(String, u64, u64, u64)]) {
    let video = streams.iter().find(|s| s.0 == "h264");
    let audio = streams.iter().find(|s| s.0 == "aac");
    assert!(
        matches!(video, Some((_, 320, 240, frames)) if *frames >= 100),
        "{what}: 320x240 H.264 with ≥ 100 frames decoded, got {streams:?}"
    );
    assert!(
        audio.is_some_and(|a| a.3 > 0),
        "{what}: AAC, got {streams:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_srt_publish_plays_over_srt_rtmp_and_http_flv() {
    let relay = relay().await;
    let stream = "8888_alice_5a71";
    let mut publisher = testing::publish(
        &push(&relay, stream),
        TestPattern {
            audio: true,
            secs: 16,
        },
    );
    relay.published(stream).await;

    let srt_play = probe(play(&relay, stream), 6);
    let rtmp_play = probe(
        testing::signed(PLAY_KEY, &relay.rtmp_base(), stream, 3600),
        6,
    );
    let (srt_play, rtmp_play) = tokio::join!(srt_play, rtmp_play);
    assert_h264_aac("SRT play", &srt_play);
    assert_h264_aac("RTMP play", &rtmp_play);
    let flv = testing::signed(PLAY_KEY, &relay.http_base(), stream, 3600).replacen('?', ".flv?", 1);
    assert_h264_aac("HTTP-FLV play", &probe(flv, 6).await);

    let metrics = reqwest::get(format!("http://{}/metrics", relay.http))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("rtcroom_relay_srt_rtt_ms{conn=")
            && metrics.contains(&format!("side=\"publish\",stream=\"{stream}\"")),
        "per-connection SRT statistics in /metrics:\n{metrics}"
    );
    let _ = publisher.kill();
    let _ = publisher.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_rtmp_publish_plays_over_srt_and_srt_live_transmit_is_a_caller() {
    let relay = relay().await;
    let stream = "8888_bob_0b0b";
    let mut publisher = testing::publish(
        &testing::signed(KEY, &relay.rtmp_base(), stream, 3600),
        TestPattern {
            audio: true,
            secs: 14,
        },
    );
    relay.published(stream).await;
    assert_h264_aac(
        "SRT play of an RTMP publish",
        &probe(play(&relay, stream), 6).await,
    );

    // srt-live-transmit plays to a TS file; ffprobe reads it back.
    let dir = std::env::temp_dir().join(format!("rtcroom-slt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("out.ts");
    let (url, path) = (play(&relay, stream), file.clone());
    let status = blocking(move || {
        let mut child = Command::new("srt-live-transmit")
            .args(["-q", &url, "file://con"])
            .stdout(std::fs::File::create(&path).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .expect("srt-live-transmit runs (apt-get install srt-tools)");
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(4) {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = child.kill();
        child.wait()
    })
    .await;
    assert!(status.is_ok());
    let streams = probe(file.display().to_string(), 30).await;
    let video = streams.iter().find(|s| s.0 == "h264");
    assert!(
        matches!(video, Some((_, 320, 240, frames)) if *frames >= 50),
        "srt-live-transmit received H.264: {streams:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
    let _ = publisher.kill();
    let _ = publisher.wait();
}

/// Runs ffmpeg publishing (TS over SRT) or playing `url` for a moment: its output.
fn attempt(url: &str, publish: bool) -> Output {
    let mut c = ffmpeg();
    if publish {
        c.args([
            "-re",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=320x240:rate=25",
            "-t",
            "3",
        ])
        .args(["-c:v", "libx264", "-g", "25", "-f", "mpegts", url]);
    } else {
        c.args([
            "-rw_timeout",
            "5000000",
            "-i",
            url,
            "-t",
            "2",
            "-f",
            "null",
            "-",
        ]);
    }
    c.output().expect("ffmpeg runs")
}

fn refused_count(metrics: &str) -> u64 {
    metrics
        .lines()
        .filter(|l| l.starts_with("rtcroom_relay_srt_refused_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// One SRT handshake packet (an induction request) to mutate and cut.
fn induction() -> Vec<u8> {
    let mut p = vec![0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0];
    for word in [4u32, 2, 0x1234_5678, 1500, 8192, 1, 0x0bad_cafe, 0] {
        p.extend_from_slice(&word.to_be_bytes());
    }
    p.extend_from_slice(&[127, 0, 0, 1]);
    p.extend_from_slice(&[0; 12]);
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_callers_are_refused_in_the_handshake_while_others_play_on() {
    let panics = Arc::new(AtomicUsize::new(0));
    let counter = panics.clone();
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        counter.fetch_add(1, Ordering::SeqCst);
        default_hook(info);
    }));
    let relay = relay().await;
    let addr = srt(&relay);
    let stream = "8888_carol_c0c0";
    let mut publisher = testing::publish(
        &push(&relay, stream),
        TestPattern {
            audio: false,
            secs: 40,
        },
    );
    relay.published(stream).await;
    // A player that watches throughout.
    let watcher_url = play(&relay, stream);
    let watcher = tokio::task::spawn_blocking(move || testing::play(&watcher_url, 600));

    let other = "8888_dave_d0d0";
    let metrics_url = format!("http://{}/metrics", relay.http);
    let metrics = || async {
        reqwest::get(&metrics_url)
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let sign =
        |key: &str, name: &str, mode: SrtMode, ttl: i64| signed_srt(key, addr, name, mode, ttl);
    let cases: Vec<(&str, String, bool)> = vec![
        (
            "forged signature",
            sign("not-the-key", other, SrtMode::Publish, 3600),
            true,
        ),
        (
            "expired signature",
            sign(KEY, other, SrtMode::Publish, -60),
            true,
        ),
        (
            "play signature publishing",
            sign(PLAY_KEY, other, SrtMode::Publish, 3600),
            true,
        ),
        (
            "no signature",
            format!(
                "srt://{addr}?streamid=#!::r=live/{other},m=publish&passphrase=0123456789abcdef"
            ),
            true,
        ),
        (
            "not a structured stream id",
            format!("srt://{addr}?streamid=live/{other}&passphrase=0123456789abcdef"),
            true,
        ),
        (
            "no passphrase",
            push(&relay, other).replace(
                &format!(
                    "&passphrase={}",
                    rtcroom_shared::urls::srt::srt_passphrase(KEY, other)
                ),
                "",
            ),
            true,
        ),
        (
            "wrong passphrase",
            {
                let good = rtcroom_shared::urls::srt::srt_passphrase(KEY, other);
                push(&relay, other).replace(&good, "0123456789abcdef0123")
            },
            true,
        ),
        (
            "key length 32",
            push(&relay, other).replace("pbkeylen=16", "pbkeylen=32"),
            true,
        ),
        (
            "key length 24",
            push(&relay, other).replace("pbkeylen=16", "pbkeylen=24"),
            true,
        ),
        (
            "file transfer mode",
            format!("{}&transtype=file", push(&relay, other)),
            true,
        ),
        (
            "file transfer mode, playing",
            format!("{}&transtype=file", play(&relay, stream)),
            false,
        ),
        ("second publisher", push(&relay, stream), true),
        (
            "oversize stream id",
            format!(
                "srt://{addr}?streamid=#!::r=live/{other},m=publish,x={}&passphrase=0123456789abcdef",
                "y".repeat(600)
            ),
            true,
        ),
        (
            "long stream id, bogus",
            format!(
                "srt://{addr}?streamid=#!::r=live/{other},m=publish,x={}&passphrase=0123456789abcdef",
                "y".repeat(460)
            ),
            true,
        ),
    ];
    let refused_before = refused_count(&metrics().await);
    for (what, url, publishing) in cases {
        let started = Instant::now();
        let out = blocking(move || attempt(&url, publishing)).await;
        assert!(
            !out.status.success(),
            "{what}: ffmpeg should have been refused"
        );
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{what}: refused promptly"
        );
        assert!(!relay.hub.is_publishing(other), "{what}: nothing published");
    }
    let after = metrics().await;
    assert!(
        refused_count(&after) >= refused_before + 8,
        "the relay's own refusals are counted by reason:\n{after}"
    );

    // 10,000 random and truncated datagrams, from several sockets.
    let base = induction();
    blocking(move || {
        let mut rng = rand::rngs::StdRng::seed_from_u64(20_261_130);
        let sockets: Vec<UdpSocket> = (0..8)
            .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
            .collect();
        for i in 0..10_000usize {
            let datagram: Vec<u8> = match i % 3 {
                0 => (0..rng.random_range(0..1500))
                    .map(|_| rng.random())
                    .collect(),
                1 => base[..rng.random_range(0..=base.len())].to_vec(),
                _ => {
                    let mut p = base.clone();
                    for _ in 0..4 {
                        let at = rng.random_range(0..p.len());
                        p[at] = rng.random();
                    }
                    p.extend((0..rng.random_range(0..200)).map(|_| rng.random::<u8>()));
                    p
                }
            };
            let _ = sockets[i % sockets.len()].send_to(&datagram, addr);
            if i % 500 == 0 {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    })
    .await;

    // The listener still serves: a new player decodes, and the watcher never stopped.
    let late = blocking({
        let url = play(&relay, stream);
        move || testing::play(&url, 50)
    })
    .await;
    assert!(
        late.1 >= 50,
        "a player after the attack decodes: {:?}",
        late.0
    );
    let (out, watched) = watcher.await.unwrap();
    assert!(
        watched >= 300,
        "the watcher played through it all: {watched} frames, {out:?}"
    );
    assert_eq!(panics.load(Ordering::SeqCst), 0, "no panic anywhere");
    let _ = publisher.kill();
    let _ = publisher.wait();
}
