//! The one-command local run carries media: the `local-gateway` binary starts the relay
//! in-process, and the URLs `get_push_url` hands out work with ffmpeg as they are (publish to
//! `pushURL`, play `accelerateURL` over RTMP and `playURL` over HTTP-FLV), and the relay reports
//! the stream to the gateway, which lists it live; a play URL cannot publish. The same over
//! SRT: `srtPushURL` (signed stream id, passphrase) publishes, and `srtPlayURL`, RTMP and
//! HTTP-FLV play it, and the SRT stream keeps its member live.

mod common;

use std::time::{Duration, Instant};

use common::local::gateway;
use common::process::{Killed, log_in, post};
use rtcroom_relay::testing::{self, TestPattern};

fn frames_played(url: &str) -> u32 {
    testing::play(url, 50).1
}

#[test]
fn the_urls_the_gateway_hands_out_carry_media_through_its_own_relay() {
    let (_gateway, base, ports) = gateway(&[]);
    let (rtmp, http) = (ports.rtmp, ports.http);
    let token = log_in(&base, "live_room", "alice");
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
    let (_gateway, base, ports) = gateway(&[]);
    let srt = ports.srt;
    let token = log_in(&base, "live_room", "bob");
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
