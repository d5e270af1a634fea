//! The relay with real ffmpeg as publisher and player (Debian's `ffmpeg`; the test command
//! installs it): publish a test pattern to a signed URL, play it back over RTMP and HTTP-FLV,
//! refuse forged and expired signatures, a play URL used to publish, and a second publisher,
//! end players when the publisher stops.

use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

use rtcroom_relay::testing::{self, TestPattern, TestRelay, ffmpeg};

const KEY: &str = testing::PUSH_KEY;
const PLAY_KEY: &str = "relay-test-play-key";

/// A relay on ephemeral ports: (RTMP base URL, HTTP base URL, the relay).
async fn relay() -> (String, String, TestRelay) {
    let relay = TestRelay::start(&[("RTCROOM_PLAY_KEY", PLAY_KEY)]).await;
    (relay.rtmp_base(), relay.http_base(), relay)
}

fn push_url(base: &str, stream: &str, ttl: i64) -> String {
    testing::signed(KEY, base, stream, ttl)
}

fn play_url(base: &str, stream: &str, ttl: i64) -> String {
    testing::signed(PLAY_KEY, base, stream, ttl)
}

/// The test pattern with sound for `secs` seconds.
fn publisher(url: &str, secs: u32) -> Child {
    testing::publish(url, TestPattern { audio: true, secs })
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

/// Decodes `frames` video frames from `url`; the output and the frame count decoded.
async fn play(url: String, frames: u32) -> (Output, u32) {
    blocking(move || testing::play(&url, frames)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ffmpeg_publishes_and_plays_back_h264_and_aac() {
    let (base, flv_base, relay) = relay().await;
    let stream = "8888_alice_3f2a";
    let mut publishing = publisher(&push_url(&base, stream, 3600), 10);
    relay.published(stream).await;

    let url = play_url(&base, stream, 3600);
    let probe_url = url.clone();
    let probe = blocking(move || {
        Command::new("ffprobe")
            .args([
                "-hide_banner",
                "-loglevel",
                "error",
                "-rw_timeout",
                "10000000",
            ])
            .args([
                "-show_entries",
                "stream=codec_name,width,height",
                "-of",
                "compact",
            ])
            .arg(&probe_url)
            .output()
            .unwrap()
    })
    .await;
    let streams = String::from_utf8_lossy(&probe.stdout).into_owned();
    assert!(
        streams.contains("codec_name=h264|width=320|height=240"),
        "{streams}"
    );
    assert!(streams.contains("codec_name=aac"), "{streams}");

    let (out, decoded) = play(url.clone(), 100).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(decoded >= 100, "decoded {decoded} frames over RTMP");

    // The same stream over HTTP-FLV, with the same signature.
    let query = url.split_once('?').unwrap().1;
    let flv = format!("{flv_base}/{stream}.flv?{query}");
    let (out, decoded) = play(flv.clone(), 100).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(decoded >= 100, "decoded {decoded} frames over HTTP-FLV");
    let forged = flv.replace("txSecret=", "txSecret=0");
    let (out, _) = play(forged, 10).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("403"), "{err}");
    assert_eq!(relay.metrics.dropped_to_keyframe.get(), 0);
    let _ = publishing.kill();
    let _ = publishing.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_and_expired_signatures_and_a_second_publisher_are_refused() {
    let (base, _, relay) = relay().await;
    let stream = "8888_bob_0001";
    let mut publishing = publisher(&push_url(&base, stream, 3600), 10);
    relay.published(stream).await;

    let forged = play_url(&base, stream, 3600).replace("txSecret=", "txSecret=0");
    let (out, _) = play(forged, 10).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("txSecret does not match"),
        "{err}"
    );

    let (out, _) = play(play_url(&base, stream, -10), 10).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("expired"), "{err}");

    let another_streams_signature =
        play_url(&base, "8888_carol_0002", 3600).replace("8888_carol_0002", stream);
    let (out, _) = play(another_streams_signature, 10).await;
    assert!(
        !out.status.success(),
        "a signature for another stream played"
    );

    // Each URL opens only what it was signed for: a play URL cannot publish (nor take over
    // a free stream), a push URL does not play.
    let with_play_url = publisher(&play_url(&base, "8888_bob_0009", 3600), 2);
    let out = blocking(move || with_play_url.wait_with_output().unwrap()).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("txSecret does not match"),
        "{err}"
    );
    let (out, _) = play(push_url(&base, stream, 3600), 10).await;
    assert!(!out.status.success(), "a push URL played");

    let second = publisher(&push_url(&base, stream, 3600), 2);
    let out = blocking(move || second.wait_with_output().unwrap()).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("already has a publisher"),
        "{err}"
    );

    // The first publisher was not disturbed.
    let (out, decoded) = play(play_url(&base, stream, 3600), 25).await;
    assert!(out.status.success() && decoded >= 25, "decoded {decoded}");
    assert!(relay.metrics.auth_refused.get() >= 5);
    let _ = publishing.kill();
    let _ = publishing.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn players_reach_end_of_stream_within_a_second_of_the_publisher_stopping() {
    let (base, _, relay) = relay().await;
    let stream = "8888_dave_0003";
    let publishing = publisher(&push_url(&base, stream, 3600), 4);
    relay.published(stream).await;
    let url = play_url(&base, stream, 3600);
    let player = tokio::spawn(async move {
        let out = blocking(move || {
            ffmpeg()
                .args(["-rw_timeout", "10000000", "-i", &url, "-f", "null", "-"])
                .output()
                .unwrap()
        })
        .await;
        (out, Instant::now())
    });
    let published = blocking(move || publishing.wait_with_output().unwrap()).await;
    let publisher_done = Instant::now();
    assert!(
        published.status.success(),
        "{}",
        String::from_utf8_lossy(&published.stderr)
    );
    let (out, player_done) = player.await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lag = player_done.saturating_duration_since(publisher_done);
    assert!(
        lag < Duration::from_secs(1),
        "the player ended {lag:?} after the publisher"
    );
    assert!(!relay.hub.is_publishing(stream));
}
