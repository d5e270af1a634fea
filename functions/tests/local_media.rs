//! The one-command local run carries media: the `local-gateway` binary starts the relay
//! in-process, and the URLs `get_push_url` hands out work with ffmpeg as they are (publish to
//! `pushURL`, play `accelerateURL` over RTMP and `playURL` over HTTP-FLV), and the relay reports
//! the stream to the gateway, which lists it live; a play URL cannot publish. The same over
//! SRT: `srtPushURL` (signed stream id, passphrase) publishes, and `srtPlayURL`, RTMP and
//! HTTP-FLV play it, and the SRT stream keeps its member live.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::process::{Killed, free_port, wait_for_port};
use rtcroom_relay::testing::{self, TestPattern};
use serde_json::Value;

fn get(url: &str) -> Value {
    let out = Command::new("curl").args(["-sf", url]).output().unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
}

fn post(url: &str, body: &str) -> Value {
    let out = Command::new("curl")
        .args(["-sf", "-X", "POST", "-d", body, url])
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
}

/// Where a test gateway's relay listens.
struct Ports {
    rtmp: u16,
    http: u16,
    srt: u16,
}

/// The `local-gateway` binary on free ports, its relay in-process: the process, the API base
/// and the relay's ports.
fn gateway() -> (Killed, String, Ports) {
    let (api, rtmp, http, srt) = (free_port(), free_port(), free_port(), free_port());
    let process = Killed(
        Command::new(env!("CARGO_BIN_EXE_local-gateway"))
            .env_clear()
            .env("RTCROOM_LISTEN", format!("127.0.0.1:{api}"))
            .env("RTCROOM_RELAY_RTMP_LISTEN", format!("127.0.0.1:{rtmp}"))
            .env("RTCROOM_RELAY_HTTP_LISTEN", format!("127.0.0.1:{http}"))
            .env("RTCROOM_RELAY_SRT_LISTEN", format!("127.0.0.1:{srt}"))
            .env("RTCROOM_RELAY_LIVE_REPORT_SECS", "1")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .expect("the local-gateway binary starts"),
    );
    wait_for_port(api);
    (
        process,
        format!("http://127.0.0.1:{api}/weapp"),
        Ports { rtmp, http, srt },
    )
}

/// A dev-mode UserSig for `user`, then a live_room login: its token.
fn log_in(base: &str, user: &str) -> String {
    let sig = get(&format!("{base}/utils/get_login_info?userID={user}"))["userSig"]
        .as_str()
        .unwrap()
        .to_owned();
    post(
        &format!("{base}/live_room/login?sdkAppID=1400000000&userID={user}&userSig={sig}"),
        "{}",
    )["token"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn frames_played(url: &str) -> u32 {
    testing::play(url, 50).1
}

#[test]
fn the_urls_the_gateway_hands_out_carry_media_through_its_own_relay() {
    let (_gateway, base, ports) = gateway();
    let (rtmp, http) = (ports.rtmp, ports.http);
    let token = log_in(&base, "alice");
    let urls = post(
        &format!("{base}/live_room/get_push_url?userID=alice&token={token}"),
        r#"{"userID":"alice"}"#,
    );
    let url = |k: &str| urls[k].as_str().unwrap().to_owned();
    assert!(url("pushURL").starts_with(&format!("rtmp://127.0.0.1:{rtmp}/live/")));
    assert!(url("playURL").starts_with(&format!("http://127.0.0.1:{http}/live/")));

    let mut publisher = Killed(testing::publish(
        &url("pushURL"),
        TestPattern {
            audio: false,
            secs: 40,
        },
    ));
    std::thread::sleep(Duration::from_millis(1500));
    // The relay reports the stream to the gateway, which lists it live.
    let auth = format!("userID=alice&token={token}");
    let joined = post(
        &format!("{base}/live_room/add_pusher?{auth}"),
        &serde_json::json!({"roomID": "media", "userID": "alice", "userName": "A",
                            "userAvatar": "", "pushURL": url("pushURL")})
        .to_string(),
    );
    assert_eq!(joined["code"], 0, "{joined}");
    let pushers_url = format!("{base}/live_room/get_pushers?{auth}");
    let started = Instant::now();
    // ffmpeg may take seconds to start publishing on a loaded machine; the reports follow
    // within a second of that.
    loop {
        let room = post(&pushers_url, r#"{"roomID":"media"}"#);
        if room["pushers"][0]["streamLive"] == true {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the relay's live report did not reach the gateway in {:?}: {room}",
            started.elapsed()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Play URLs carry the gateway's play key, which the relay does not take for publishing.
    let hijack = testing::ffmpeg()
        .args([
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=160x120:rate=25",
            "-t",
            "1",
        ])
        .args(["-c:v", "libx264", "-f", "flv", &url("accelerateURL")])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&hijack.stderr);
    assert!(
        !hijack.status.success() && err.contains("txSecret does not match"),
        "publishing to a play URL: {err}"
    );
    assert_eq!(frames_played(&url("accelerateURL")), 50, "over RTMP");
    assert_eq!(frames_played(&url("playURL")), 50, "over HTTP-FLV");
    let _ = publisher.0.kill();
}

#[test]
fn the_srt_urls_the_gateway_hands_out_publish_and_play_through_its_relay() {
    let (_gateway, base, ports) = gateway();
    let srt = ports.srt;
    let token = log_in(&base, "bob");
    let auth = format!("userID=bob&token={token}");
    let urls = post(
        &format!("{base}/live_room/get_push_url?{auth}"),
        r#"{"userID":"bob"}"#,
    );
    let srt_push = urls["srtPushURL"].as_str().unwrap_or_default().to_owned();
    assert!(
        srt_push.starts_with(&format!("srt://127.0.0.1:{srt}?streamid=#!::r=live/")),
        "{urls}"
    );
    let mut publisher = Killed(testing::publish(
        &srt_push,
        TestPattern {
            audio: true,
            secs: 40,
        },
    ));
    let joined = post(
        &format!("{base}/live_room/add_pusher?{auth}"),
        &serde_json::json!({"roomID": "srt", "userID": "bob", "userName": "B",
                            "userAvatar": "", "pushURL": urls["pushURL"]})
        .to_string(),
    );
    assert_eq!(joined["code"], 0, "{joined}");
    let pushers_url = format!("{base}/live_room/get_pushers?{auth}");
    let started = Instant::now();
    let pusher = loop {
        let room = post(&pushers_url, r#"{"roomID":"srt"}"#);
        if room["pushers"][0]["streamLive"] == true {
            break room["pushers"][0].clone();
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the SRT stream was not reported live in {:?}: {room}",
            started.elapsed()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let srt_play = pusher["srtPlayURL"].as_str().unwrap().to_owned();
    assert!(srt_play.contains(",m=request,"), "{pusher}");
    assert_eq!(frames_played(&srt_play), 50, "over SRT");
    assert_eq!(
        frames_played(urls["accelerateURL"].as_str().unwrap()),
        50,
        "over RTMP"
    );
    assert_eq!(
        frames_played(urls["playURL"].as_str().unwrap()),
        50,
        "over HTTP-FLV"
    );
    let _ = publisher.0.kill();
}
