//! The SRT addresses (an rtcroom extension, spec/url-signing.md URL-5 to URL-8) through the
//! local gateway: `get_push_url`, `get_pushers` and `get_room_list` carry them, signed with the
//! configured keys; `RTCROOM_SRT_HOST=off` takes every SRT field away.

mod common;

use common::{Gateway, START_MS, code};
use percent_encoding::percent_decode_str;
use rtcroom_shared::model::RoomType;
use rtcroom_shared::urls::srt::{SrtMode, parse_srt_stream_id, srt_passphrase};
use rtcroom_shared::urls::{self, UrlAuthError};
use serde_json::{Value, json};

const NOW: u64 = START_MS / 1000;
const SRT_FIELDS: [&str; 4] = [
    "srtPushURL",
    "srtPushPassphrase",
    "srtPlayURL",
    "srtPlayPassphrase",
];

/// A query parameter of `url`, percent-decoded.
fn param(url: &str, name: &str) -> Option<String> {
    let (_, query) = url.split_once('?')?;
    query.split('&').find_map(|kv| {
        let value = kv.strip_prefix(name)?.strip_prefix('=')?;
        Some(percent_decode_str(value).decode_utf8().ok()?.into_owned())
    })
}

fn str_of<'a>(v: &'a Value, field: &str) -> &'a str {
    v[field]
        .as_str()
        .unwrap_or_else(|| panic!("no {field} in {v}"))
}

/// Checks one SRT address: host, stream id (stream, mode), the signature against `key` (and
/// not against `other_key`), the same `txTime` as the RTMP URL `rtmp` of the same side, and
/// the passphrase derived from `key`, in the URL and beside it.
fn check_srt(
    url: &str,
    passphrase: &str,
    host: &str,
    stream: &str,
    mode: SrtMode,
    (key, other_key): (&str, &str),
    rtmp: &str,
) {
    assert!(url.starts_with(&format!("srt://{host}?streamid=")), "{url}");
    let id = parse_srt_stream_id(&param(url, "streamid").expect("streamid")).expect("parses");
    assert_eq!((id.stream.as_str(), id.mode), (stream, mode), "{url}");
    assert_eq!(id.tx_time, param(rtmp, "txTime"), "{url} against {rtmp}");
    let verify = |key: &str| {
        urls::verify(
            key,
            stream,
            id.tx_secret.as_deref(),
            id.tx_time.as_deref(),
            NOW,
        )
    };
    assert_eq!(verify(key), Ok(()), "{url}");
    assert_eq!(verify(other_key), Err(UrlAuthError::BadSecret), "{url}");
    assert_eq!(passphrase, srt_passphrase(key, stream));
    assert_eq!(param(url, "passphrase").as_deref(), Some(passphrase));
    assert_eq!(param(url, "pbkeylen").as_deref(), Some("16"));
}

#[tokio::test]
async fn srt_addresses_are_signed_with_the_configured_keys() {
    let gw = Gateway::start_with(&[
        ("RTCROOM_PLAY_KEY", "test-play-key"),
        ("RTCROOM_SRT_HOST", "srt.test:9000"),
    ])
    .await;
    let keys = &gw.app.config.urls;
    let (push_key, play_key) = (keys.push_key.as_str(), keys.play_key.as_str());
    assert_ne!(push_key, play_key);

    let alice = gw.user(RoomType::Multi, "alice").await;
    let answer = alice
        .call("get_push_url", json!({ "userID": "alice" }))
        .await;
    assert_eq!(code(&answer), 0, "{answer}");
    let push_url = str_of(&answer, "pushURL");
    let stream = urls::stream_of(push_url).unwrap().to_owned();
    check_srt(
        str_of(&answer, "srtPushURL"),
        str_of(&answer, "srtPushPassphrase"),
        "srt.test:9000",
        &stream,
        SrtMode::Publish,
        (push_key, play_key),
        push_url,
    );
    check_srt(
        str_of(&answer, "srtPlayURL"),
        str_of(&answer, "srtPlayPassphrase"),
        "srt.test:9000",
        &stream,
        SrtMode::Request,
        (play_key, push_key),
        str_of(&answer, "accelerateURL"),
    );

    // Joined with that pushURL, alice is listed with the play address of her stream; bob too.
    let joined = alice
        .call(
            "add_pusher",
            json!({ "roomID": "srt-room", "userID": "alice", "userName": "A", "userAvatar": "",
                    "pushURL": push_url }),
        )
        .await;
    assert_eq!(code(&joined), 0, "{joined}");
    let bob = gw.user(RoomType::Multi, "bob").await;
    assert_eq!(code(&bob.join("srt-room").await), 0);
    let view = bob.pushers("srt-room").await;
    let pushers = view["pushers"].as_array().unwrap();
    assert_eq!(pushers.len(), 2, "{view}");
    for p in pushers {
        assert!(
            p.get("srtPushURL").is_none() && p.get("srtPushPassphrase").is_none(),
            "{p}"
        );
        let accelerate = str_of(p, "accelerateURL");
        let member_stream = urls::stream_of(accelerate).unwrap();
        check_srt(
            str_of(p, "srtPlayURL"),
            str_of(p, "srtPlayPassphrase"),
            "srt.test:9000",
            member_stream,
            SrtMode::Request,
            (play_key, push_key),
            accelerate,
        );
    }
    assert_eq!(
        urls::stream_of(str_of(&pushers[0], "accelerateURL")),
        Some(stream.as_str())
    );

    // get_room_list's pushers are get_pushers' (the same clock: the same signatures).
    let list = bob
        .call("get_room_list", json!({ "cnt": 20, "index": 0 }))
        .await;
    let room = list["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["roomID"] == "srt-room")
        .expect("listed");
    assert_eq!(&room["pushers"], &view["pushers"]);
}

#[tokio::test]
async fn the_srt_host_follows_the_relays_listener_and_off_removes_every_srt_field() {
    let gw = Gateway::start_with(&[("RTCROOM_RELAY_SRT_LISTEN", "127.0.0.1:9123")]).await;
    let alice = gw.user(RoomType::Live, "alice").await;
    let answer = alice
        .call("get_push_url", json!({ "userID": "alice" }))
        .await;
    for field in ["srtPushURL", "srtPlayURL"] {
        assert!(
            str_of(&answer, field).starts_with("srt://127.0.0.1:9123?streamid="),
            "{answer}"
        );
    }

    let gw = Gateway::start_with(&[("RTCROOM_SRT_HOST", "off")]).await;
    let alice = gw.user(RoomType::Live, "alice").await;
    let answer = alice
        .call("get_push_url", json!({ "userID": "alice" }))
        .await;
    assert_eq!(code(&answer), 0, "{answer}");
    assert!(answer.get("pushURL").is_some());
    let shown = |v: &Value| SRT_FIELDS.iter().any(|f| v.to_string().contains(f));
    assert!(!shown(&answer), "{answer}");
    assert_eq!(code(&alice.join("no-srt").await), 0);
    let view = alice.pushers("no-srt").await;
    assert_eq!(view["pushers"].as_array().unwrap().len(), 1, "{view}");
    assert!(!shown(&view), "{view}");
    let list = alice
        .call("get_room_list", json!({ "cnt": 20, "index": 0 }))
        .await;
    assert!(!shown(&list), "{list}");
}
