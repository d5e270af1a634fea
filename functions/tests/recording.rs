//! Recording through the one-command local run (issue 16): a double_room recorded by the
//! operator's setting, the 2018 call sequence (create_room, get_push_url with the roomID,
//! add_pusher), ffmpeg publishing both members' push URLs as they are; the relay's segments
//! are filed under the room, `recordingReady` reaches the members (over the WebSocket and
//! `get_room_events`), `get_recordings` lists them
//! for the creator with download URLs that curl fetches and ffprobe reads. A room type that is
//! not recorded writes nothing, and a push URL from it cannot be used in a recorded room. A room
//! type recorded on request records the rooms whose `create_room` asked, and only those.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::local::gateway;
use common::process::{Killed, log_in, post};
use rtcroom_relay::testing::{self, TestPattern};
use serde_json::{Value, json};

fn files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(at) = todo.pop() {
        for entry in std::fs::read_dir(&at).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                todo.push(path);
            } else {
                out.push(
                    path.strip_prefix(dir)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
    }
    out.sort();
    out
}

fn probe_duration(file: &Path) -> (String, f64) {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=codec_name:format=duration",
        ])
        .args(["-of", "json"])
        .arg(file)
        .output()
        .expect("ffprobe runs");
    let json: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    let codecs: Vec<&str> = json["streams"]
        .as_array()
        .map(|s| s.iter().filter_map(|s| s["codec_name"].as_str()).collect())
        .unwrap_or_default();
    let duration = json["format"]["duration"]
        .as_str()
        .and_then(|d| d.parse().ok())
        .unwrap_or(0.0);
    (codecs.join(","), duration)
}

/// Calls `attempt` every `every` until it gives a value; panics after `secs` with the last
/// reason it gave.
fn poll<T>(secs: u64, every: Duration, mut attempt: impl FnMut() -> Result<T, String>) -> T {
    let started = Instant::now();
    loop {
        match attempt() {
            Ok(value) => return value,
            Err(why) => assert!(started.elapsed() < Duration::from_secs(secs), "{why}"),
        }
        std::thread::sleep(every);
    }
}

#[test]
fn a_recorded_call_is_listed_for_its_creator_with_urls_that_download_whole_files() {
    let dir = std::env::temp_dir().join(format!("rtcroom-gw-rec-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let dir_var = dir.to_string_lossy().into_owned();
    let (_gateway, base, _ports) = gateway(&[
        ("RTCROOM_DOUBLE_ROOM_RECORD", "on"),
        ("RTCROOM_RECORD_DIR", &dir_var),
        ("RTCROOM_RECORD_MIN_FREE_MB", "1"),
    ]);
    let api = |user: &str, token: &str, room_type: &str, name: &str, body: Value| {
        post(
            &format!("{base}/{room_type}/{name}?userID={user}&token={token}"),
            &body.to_string(),
        )
    };
    let alice = log_in(&base, "double_room", "alice");
    let bob = log_in(&base, "double_room", "bob");
    let created = api(
        "alice",
        &alice,
        "double_room",
        "create_room",
        json!({"userID": "alice", "roomInfo": "claim 42"}),
    );
    let room = created["roomID"].as_str().unwrap().to_owned();
    let push = |user: &str, token: &str| {
        let urls = api(
            user,
            token,
            "double_room",
            "get_push_url",
            json!({"userID": user, "roomID": room}),
        );
        let push = urls["pushURL"].as_str().unwrap().to_owned();
        assert!(
            push.contains("&record=") && urls["srtPushURL"].as_str().unwrap().contains(",record="),
            "{urls}"
        );
        push
    };
    let (alice_push, bob_push) = (push("alice", &alice), push("bob", &bob));

    // A push URL from a room type that is not recorded does not join a recorded room.
    let unrecorded = api(
        "bob",
        &bob,
        "multi_room",
        "get_push_url",
        json!({"userID": "bob"}),
    );
    let unrecorded = unrecorded["pushURL"].as_str().unwrap().to_owned();
    assert!(!unrecorded.contains("record="));
    let refused = api(
        "bob",
        &bob,
        "double_room",
        "add_pusher",
        json!({"roomID": room, "userID": "bob", "userName": "B", "userAvatar": "", "pushURL": unrecorded}),
    );
    assert_eq!(refused["code"], 1, "{refused}");

    for (user, token, url) in [("alice", &alice, &alice_push), ("bob", &bob, &bob_push)] {
        let joined = api(
            user,
            token,
            "double_room",
            "add_pusher",
            json!({"roomID": room, "userID": user, "userName": user, "userAvatar": "", "pushURL": url}),
        );
        assert_eq!(joined["code"], 0, "{joined}");
    }
    // Bob listens on the room's WebSocket, as the IM file does.
    let heard = std::sync::Arc::new(std::sync::Mutex::new(Vec::<Value>::new()));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let ws_url = format!(
        "{}/ws?userID=bob&token={bob}&roomType=double_room&roomID={room}",
        base.replace("http://", "ws://").trim_end_matches("/weapp")
    );
    let (mut socket, _) = runtime
        .block_on(tokio_tungstenite::connect_async(&ws_url))
        .expect("bob's WebSocket opens");
    let sink = heard.clone();
    runtime.spawn(async move {
        use futures_util::StreamExt;
        while let Some(Ok(frame)) = socket.next().await {
            if let Ok(text) = frame.into_text()
                && let Ok(event) = serde_json::from_str::<Value>(&text)
            {
                sink.lock().unwrap().push(event);
            }
        }
    });
    let since = api(
        "bob",
        &bob,
        "double_room",
        "get_room_events",
        json!({"roomID": room}),
    )["lastSeq"]
        .clone();
    let pattern = TestPattern {
        audio: true,
        secs: 6,
    };
    // Carol, not in the room, gets a push URL signed for it and publishes without joining:
    // the relay records her stream, but nothing of it is filed under the room.
    let carol = log_in(&base, "double_room", "carol");
    let intruder = push("carol", &carol);
    let publishers = [
        Killed(testing::publish(&alice_push, pattern)),
        Killed(testing::publish(&bob_push, pattern)),
        Killed(testing::publish(&intruder, pattern)),
    ];
    // Heartbeats as the 2018 clients send them, while the streams run and their last segments close.
    let ready = poll(40, Duration::from_millis(500), || {
        for (user, token) in [("alice", &alice), ("bob", &bob)] {
            api(
                user,
                token,
                "double_room",
                "pusher_heartbeat",
                json!({"roomID": room, "userID": user}),
            );
        }
        let events = api(
            "bob",
            &bob,
            "double_room",
            "get_room_events",
            json!({"roomID": room, "since": since}),
        );
        let ready: Vec<Value> = events["events"]
            .as_array()
            .map(|e| {
                e.iter()
                    .filter(|e| e["type"] == "recordingReady")
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        if ready.len() == 2 {
            Ok(ready)
        } else {
            Err(format!("recordingReady x2: {events}"))
        }
    });
    drop(publishers);
    let mut users: Vec<&str> = ready
        .iter()
        .filter_map(|e| e["data"]["userID"].as_str())
        .collect();
    users.sort();
    assert_eq!(users, ["alice", "bob"]);
    // The same two events reached bob's WebSocket.
    let over_ws = poll(5, Duration::from_millis(50), || {
        let over_ws: Vec<Value> = heard
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e["type"] == "recordingReady")
            .cloned()
            .collect();
        if over_ws.len() == 2 {
            Ok(over_ws)
        } else {
            Err(format!("over the WebSocket: {over_ws:?}"))
        }
    });
    assert_eq!(over_ws, ready);
    drop(runtime);

    let listed = api(
        "alice",
        &alice,
        "double_room",
        "get_recordings",
        json!({"roomID": room}),
    );
    assert_eq!(listed["code"], 0, "{listed}");
    let recordings = listed["recordings"].as_array().unwrap().clone();
    assert_eq!(recordings.len(), 2, "{listed}");
    for (i, r) in recordings.iter().enumerate() {
        let url = r["url"].as_str().unwrap();
        let file = dir.join(format!("download-{i}.mp4"));
        let fetched = Command::new("curl")
            .args(["-sf", "-o"])
            .arg(&file)
            .arg(url)
            .status()
            .unwrap();
        assert!(fetched.success(), "{url}");
        assert_eq!(
            std::fs::metadata(&file).unwrap().len(),
            r["bytes"].as_u64().unwrap()
        );
        let (codecs, duration) = probe_duration(&file);
        assert_eq!(codecs, "h264,aac", "{r}");
        assert!((duration - 6.0).abs() <= 1.0, "{duration} s: {r}");
        // A range, as a browser's player asks.
        let head = Command::new("curl")
            .args([
                "-sf",
                "-r",
                "0-99",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code} %{size_download}",
            ])
            .arg(url)
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&head.stdout), "206 100");
        // The signature covers the path: another file is not reachable with it.
        let forged = url.replacen("/record/double_room/", "/record/multi_room/", 1);
        let code = Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}"])
            .arg(&forged)
            .output()
            .unwrap();
        assert_ne!(String::from_utf8_lossy(&code.stdout), "200");
    }
    // Only the creator may list them (members too where the operator allows it).
    let by_bob = api(
        "bob",
        &bob,
        "double_room",
        "get_recordings",
        json!({"roomID": room}),
    );
    assert_eq!(by_bob["code"], 3, "{by_bob}");
    // Carol's stream was recorded by the relay, but never filed under the room she did not join.
    assert!(
        files(&dir).iter().any(|f| f.contains("/carol_")),
        "{:?}",
        files(&dir)
    );
    assert!(
        recordings.iter().all(|r| r["userID"] != "carol"),
        "{recordings:?}"
    );

    // A room type that is not recorded writes nothing.
    let dave = log_in(&base, "multi_room", "dave");
    let urls = api(
        "dave",
        &dave,
        "multi_room",
        "get_push_url",
        json!({"userID": "dave", "roomID": "open"}),
    );
    let plain = urls["pushURL"].as_str().unwrap().to_owned();
    let joined = api(
        "dave",
        &dave,
        "multi_room",
        "add_pusher",
        json!({"roomID": "open", "userID": "dave", "userName": "D", "userAvatar": "", "pushURL": plain}),
    );
    assert_eq!(joined["code"], 0, "{joined}");
    let out = testing::publish(
        &plain,
        TestPattern {
            audio: false,
            secs: 2,
        },
    )
    .wait_with_output()
    .unwrap();
    assert!(out.status.success());
    assert!(
        files(&dir)
            .iter()
            .all(|f| f.starts_with("double_room/") || f.starts_with("download-")),
        "{:?}",
        files(&dir)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A room type recorded on request (`on-request`): the rooms whose `create_room` asked are
/// recorded, the others of the type are not, and neither kind takes the other's push URLs.
/// Segments go to S3 (moto's, on loopback): listed by `get_recordings`, their local copies
/// removed, and their download URLs redirect to presigned S3 URLs.
#[test]
fn rooms_created_to_be_recorded_are_and_the_others_of_their_type_are_not() {
    let dir = std::env::temp_dir().join(format!("rtcroom-gw-onreq-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let dir_var = dir.to_string_lossy().into_owned();
    let s3 = rtcroom_shared::testing::moto_endpoint();
    let bucket = format!("rtcroom-gw-{}", std::process::id());
    let made = Command::new("curl")
        .args(["-sf", "-X", "PUT", &format!("{s3}/{bucket}")])
        .status()
        .unwrap();
    assert!(made.success(), "a bucket on {s3}");
    let (_gateway, base, _ports) = gateway(&[
        ("RTCROOM_MULTI_ROOM_RECORD", "on-request"),
        ("RTCROOM_RECORD_DIR", &dir_var),
        ("RTCROOM_RECORD_MIN_FREE_MB", "1"),
        ("RTCROOM_RECORD_S3_BUCKET", &bucket),
        ("RTCROOM_RECORD_S3_ENDPOINT", &s3),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "us-east-1"),
    ]);
    let api = |user: &str, token: &str, room_type: &str, name: &str, body: Value| {
        post(
            &format!("{base}/{room_type}/{name}?userID={user}&token={token}"),
            &body.to_string(),
        )
    };
    let alice = log_in(&base, "multi_room", "alice");
    let bob = log_in(&base, "multi_room", "bob");
    let create = |room_type: &str, record: Value| {
        api(
            "alice",
            &alice,
            room_type,
            "create_room",
            json!({"userID": "alice", "roomInfo": "call", "record": record}),
        )
    };
    let kept = create("multi_room", json!(true));
    assert_eq!(kept["code"], 0, "{kept}");
    let kept = kept["roomID"].as_str().unwrap().to_owned();
    let plain = create("multi_room", Value::Null)["roomID"]
        .as_str()
        .unwrap()
        .to_owned();
    // A type that is never recorded says so instead of creating an unrecorded room.
    let refused = create("double_room", json!(true));
    assert_eq!(refused["code"], 1, "{refused}");
    assert_eq!(create("multi_room", json!("perhaps"))["code"], 1);

    let push = |user: &str, token: &str, mut body: Value| {
        body["userID"] = json!(user);
        let urls = api(user, token, "multi_room", "get_push_url", body);
        assert_eq!(urls["code"], 0, "{urls}");
        let url = urls["pushURL"].as_str().unwrap().to_owned();
        let srt = urls["srtPushURL"].as_str().unwrap_or_default();
        (url.contains("&record="), srt.contains(",record="), url)
    };
    // The 2018 rtc-room sequence: create_room, then get_push_url with the roomID.
    // Its SRT publish address carries the policy too (URL-9).
    let (recorded, srt, alice_kept) = push("alice", &alice, json!({"roomID": kept}));
    assert!(recorded && srt, "{alice_kept}");
    let (recorded, _, bob_kept) = push("bob", &bob, json!({"roomID": kept}));
    assert!(recorded);
    let (recorded, srt, bob_plain) = push("bob", &bob, json!({"roomID": plain}));
    assert!(!recorded && !srt, "{bob_plain}");
    // Asked for before the room exists (a live room's anchor does so), and refused for a room
    // that was not created to be recorded.
    let (recorded, _, _) = push("bob", &bob, json!({"record": true}));
    assert!(recorded);
    let asked = api(
        "bob",
        &bob,
        "multi_room",
        "get_push_url",
        json!({"userID": "bob", "roomID": plain, "record": true}),
    );
    assert_eq!(asked["code"], 1, "{asked}");

    let add = |user: &str, token: &str, room: &str, url: &str| {
        api(
            user,
            token,
            "multi_room",
            "add_pusher",
            json!({"roomID": room, "userID": user, "userName": user, "userAvatar": "", "pushURL": url}),
        )["code"]
            .clone()
    };
    // Neither kind of room takes the other's URLs.
    assert_eq!(add("bob", &bob, &kept, &bob_plain), 1);
    assert_eq!(add("bob", &bob, &plain, &bob_kept), 1);
    assert_eq!(add("alice", &alice, &kept, &alice_kept), 0);
    assert_eq!(add("bob", &bob, &kept, &bob_kept), 0);
    let (_, _, alice_plain) = push("alice", &alice, json!({"roomID": plain}));
    assert_eq!(add("alice", &alice, &plain, &alice_plain), 0);

    let pattern = TestPattern {
        audio: true,
        secs: 4,
    };
    let publishers = [
        Killed(testing::publish(&alice_kept, pattern)),
        Killed(testing::publish(&bob_kept, pattern)),
        Killed(testing::publish(&alice_plain, pattern)),
    ];
    let listed = poll(30, Duration::from_millis(500), || {
        for (user, token, room) in [
            ("alice", &alice, &kept),
            ("bob", &bob, &kept),
            ("alice", &alice, &plain),
        ] {
            api(
                user,
                token,
                "multi_room",
                "pusher_heartbeat",
                json!({"roomID": room, "userID": user}),
            );
        }
        let listed = api(
            "alice",
            &alice,
            "multi_room",
            "get_recordings",
            json!({"roomID": kept}),
        );
        if listed["recordings"]
            .as_array()
            .is_some_and(|r| r.len() == 2)
        {
            Ok(listed)
        } else {
            Err(format!("two segments: {listed}"))
        }
    });
    drop(publishers);
    let mut users: Vec<&str> = listed["recordings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["userID"].as_str())
        .collect();
    users.sort();
    assert_eq!(users, ["alice", "bob"]);
    let nothing = api(
        "alice",
        &alice,
        "multi_room",
        "get_recordings",
        json!({"roomID": plain}),
    );
    assert_eq!(nothing["recordings"], json!([]), "{nothing}");
    // Only the recorded room's streams were kept (`_` is encoded in names' fields), in the
    // bucket; once there (and told), nothing is left on the relay's disk.
    poll(20, Duration::from_millis(200), || match files(&dir) {
        left if left.is_empty() => Ok(()),
        left => Err(format!("{left:?}")),
    });
    let listing = Command::new("curl")
        .args(["-sf", &format!("{s3}/{bucket}?list-type=2")])
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&listing.stdout).into_owned();
    let keys: Vec<&str> = listing
        .split("<Key>")
        .skip(1)
        .filter_map(|k| k.split("</Key>").next())
        .collect();
    let folder = format!("multi_room/{}/", kept.replace('_', "%5F"));
    assert!(
        keys.len() == 2 && keys.iter().all(|k| k.starts_with(&folder)),
        "{listing}"
    );
    // A listed URL (the relay's, signed) ends at a presigned S3 URL that plays.
    let url = listed["recordings"][0]["url"].as_str().unwrap();
    let file = std::env::temp_dir().join(format!("rtcroom-gw-s3-{}.mp4", std::process::id()));
    let fetched = Command::new("curl")
        .args(["-sfL", "-o"])
        .arg(&file)
        .args(["-w", "%{url_effective}", url])
        .output()
        .unwrap();
    let at = String::from_utf8_lossy(&fetched.stdout).into_owned();
    assert!(
        fetched.status.success() && at.starts_with(&s3) && at.contains("X-Amz-Signature="),
        "{url} ended at {at}"
    );
    let (codecs, duration) = probe_duration(&file);
    assert_eq!(codecs, "h264,aac");
    assert!((duration - 4.0).abs() <= 1.0, "{duration} s");
    let _ = std::fs::remove_file(&file);
    let _ = std::fs::remove_dir_all(&dir);
}
