//! Room events over the local gateway's WebSocket (`spec/events.md`): members hear of joins,
//! timeouts and the room closing, chat reaches the room and nobody else, a reconnect with
//! `since` resumes exactly, and bad or abusive clients are refused or cut off alone.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Gateway, User, code};
use futures_util::{SinkExt, StreamExt};
use rtcroom_shared::model::RoomType;
use rtcroom_shared::store::EmbeddedStore;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

fn ws_url(gw: &Gateway, user: &User<'_>, room_id: &str, since: Option<u64>) -> String {
    let base = gw.base.replacen("http://", "ws://", 1);
    let mut url = format!(
        "{base}/ws?userID={}&token={}&roomType={}&roomID={room_id}",
        user.id,
        user.token,
        user.room_type.as_path()
    );
    if let Some(since) = since {
        url.push_str(&format!("&since={since}"));
    }
    url
}

async fn connect(gw: &Gateway, user: &User<'_>, room_id: &str, since: Option<u64>) -> Ws {
    connect_async(ws_url(gw, user, room_id, since))
        .await
        .expect("the WebSocket opens")
        .0
}

/// The next event or answer (JSON text frame), within `wait`; `None` when nothing came.
async fn next_within(ws: &mut Ws, wait: Duration) -> Option<Value> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await {
            Err(_) => return None,
            Ok(Some(Ok(Message::Text(text)))) => return Some(serde_json::from_str(&text).unwrap()),
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => {}
            Ok(other) => panic!("expected a text frame, got {other:?}"),
        }
    }
}

async fn next(ws: &mut Ws) -> Value {
    next_within(ws, Duration::from_secs(5))
        .await
        .expect("an event within 5 s")
}

/// The next `n` events' types.
async fn types(ws: &mut Ws, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(next(ws).await["type"].as_str().unwrap().to_owned());
    }
    out
}

/// How the server closed the connection (after any remaining events).
async fn close_code(ws: &mut Ws) -> CloseCode {
    loop {
        match tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
            Ok(Some(Ok(Message::Close(Some(frame))))) => return frame.code,
            Ok(Some(Ok(_))) => {}
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}

async fn say(ws: &mut Ws, message: Value) {
    ws.send(Message::text(message.to_string())).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_hear_joins_timeouts_chat_and_the_room_closing() {
    let gw = Gateway::start().await;
    let alice = gw.user(RoomType::Multi, "alice").await;
    let bob = gw.user(RoomType::Multi, "bob").await;
    let carol = gw.user(RoomType::Multi, "carol").await;
    let dave = gw.user(RoomType::Multi, "dave").await;
    alice.join("r").await;
    bob.join("r").await;
    dave.join("elsewhere").await;
    let mut a = connect(&gw, &alice, "r", None).await;
    let mut b = connect(&gw, &bob, "r", None).await;
    let mut d = connect(&gw, &dave, "elsewhere", None).await;

    // A third member joins over HTTP: both hear of it within 100 ms of its answer.
    assert_eq!(code(&carol.join("r").await), 0);
    let started = Instant::now();
    for ws in [&mut a, &mut b] {
        let joined = next(ws).await;
        assert_eq!(
            (joined["type"].as_str(), joined["data"]["userID"].as_str()),
            (Some("memberJoined"), Some("carol"))
        );
        let change = next(ws).await;
        assert_eq!(change["type"], "notifyPusherChange");
        assert_eq!(
            change["data"],
            json!({"cmd": "notifyPusherChange", "data": ""})
        );
        assert_eq!(
            change["seq"].as_u64(),
            Some(joined["seq"].as_u64().unwrap() + 1)
        );
    }
    let heard = started.elapsed();
    // On the DynamoDB stand-in the hub's read of the new events is moto's speed, not ours.
    if std::env::var("RTCROOM_TEST_STORE").as_deref() != Ok("dynamodb") {
        assert!(heard < Duration::from_millis(100), "heard after {heard:?}");
    }

    // Carol stops beating; the others do. The sweeper records her timeout.
    for _ in 0..4 {
        gw.advance(6_000);
        assert_eq!(code(&alice.heartbeat("r").await), 0);
        assert_eq!(code(&bob.heartbeat("r").await), 0);
        assert_eq!(code(&dave.heartbeat("elsewhere").await), 0);
    }
    gw.app.rooms.sweep().await.unwrap();
    for ws in [&mut a, &mut b] {
        let left = next(ws).await;
        assert_eq!(left["type"], "memberLeft");
        assert_eq!(
            left["data"],
            json!({"userID": "carol", "reason": "timeout"})
        );
        assert_eq!(next(ws).await["type"], "notifyPusherChange");
    }

    // Chat reaches every member of the room, the sender included, and nobody elsewhere.
    say(
        &mut a,
        json!({"type": "CustomTextMsg", "msg": "hello", "nickName": "Al"}),
    )
    .await;
    let ack = next(&mut a).await;
    assert_eq!(ack["type"], "ack");
    for ws in [&mut a, &mut b] {
        let text = next(ws).await;
        assert_eq!(text["type"], "CustomTextMsg");
        assert_eq!(text["seq"], ack["seq"]);
        assert_eq!(
            text["data"],
            json!({"cmd": "CustomTextMsg", "data": {"nickName": "Al", "headPic": ""},
                   "userID": "alice", "msg": "hello"})
        );
    }
    let sent = bob
        .call(
            "send_room_msg",
            json!({"roomID": "r", "userID": "bob", "cmd": "CustomCmdMsg", "msg": "m",
                   "subCmd": "raise-hand", "userName": "Bob"}),
        )
        .await;
    assert_eq!(code(&sent), 0, "{sent}");
    let cmd = next(&mut a).await;
    assert_eq!(
        cmd["data"]["data"],
        json!({"userName": "Bob", "userAvatar": "", "cmd": "raise-hand", "msg": "m"})
    );
    say(&mut a, json!({"type": "ping"})).await;
    assert_eq!(next(&mut a).await, json!({"type": "pong"}));
    assert_eq!(
        next_within(&mut d, Duration::from_millis(300)).await,
        None,
        "another room hears nothing"
    );

    // live_room: the anchor leaves and the room closes; the guest hears it and is let go.
    let anchor = gw.user(RoomType::Live, "anchor").await;
    let guest = gw.user(RoomType::Live, "guest").await;
    anchor.join("show").await;
    guest.join("show").await;
    let mut g = connect(&gw, &guest, "show", None).await;
    assert_eq!(code(&anchor.leave("show").await), 0);
    assert_eq!(types(&mut g, 2).await, ["memberLeft", "roomClosed"]);
    assert_eq!(close_code(&mut g).await, CloseCode::Normal);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linkmic_goes_to_its_addressee_only_and_a_kickout_removes() {
    let gw = Gateway::start().await;
    let anchor = gw.user(RoomType::Live, "anchor").await;
    let guest = gw.user(RoomType::Live, "guest").await;
    let other = gw.user(RoomType::Live, "other").await;
    for user in [&anchor, &guest, &other] {
        user.join("show").await;
    }
    let mut a = connect(&gw, &anchor, "show", None).await;
    let mut g = connect(&gw, &guest, "show", None).await;
    let mut o = connect(&gw, &other, "show", None).await;
    say(
        &mut g,
        json!({"type": "linkmic", "to": "anchor", "data": {"type": "request"}}),
    )
    .await;
    assert_eq!(next(&mut g).await["type"], "ack");
    let request = next(&mut a).await;
    assert_eq!(request["type"], "linkmic");
    assert_eq!(request["data"]["data"]["type"], "request");
    assert_eq!(request["data"]["from"], "guest");
    say(
        &mut a,
        json!({"type": "linkmic", "to": "guest", "data": {"type": "kickout"}}),
    )
    .await;
    assert_eq!(next(&mut a).await["type"], "ack");
    assert_eq!(next(&mut g).await["data"]["data"]["type"], "kickout");
    let left = next(&mut g).await;
    assert_eq!(left["data"], json!({"userID": "guest", "reason": "kicked"}));
    assert_eq!(
        close_code(&mut g).await,
        CloseCode::Normal,
        "the kicked guest is let go"
    );
    // The third member saw neither link-mic message, only the guest leaving.
    assert_eq!(types(&mut o, 2).await, ["memberLeft", "notifyPusherChange"]);
    assert_eq!(
        anchor.pusher_ids("show").await.unwrap(),
        ["anchor", "other"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnect_with_since_gets_exactly_what_it_missed() {
    let gw = Gateway::start().await;
    let alice = gw.user(RoomType::Multi, "alice").await;
    let bob = gw.user(RoomType::Multi, "bob").await;
    alice.join("r").await;
    bob.join("r").await;
    let mut a = connect(&gw, &alice, "r", None).await;
    say(&mut a, json!({"type": "CustomTextMsg", "msg": "before"})).await;
    let seen = next(&mut a).await["seq"].as_u64().unwrap();
    assert_eq!(next(&mut a).await["seq"].as_u64(), Some(seen));
    drop(a);
    for i in 0..50 {
        let sent = bob
            .call(
                "send_room_msg",
                json!({"roomID": "r", "userID": "bob", "cmd": "CustomTextMsg", "msg": format!("m{i}")}),
            )
            .await;
        assert_eq!(code(&sent), 0);
    }
    let mut a = connect(&gw, &alice, "r", Some(seen)).await;
    for i in 0..50u64 {
        let event = next(&mut a).await;
        assert_eq!(event["seq"].as_u64(), Some(seen + 1 + i));
        assert_eq!(event["data"]["msg"], format!("m{i}"));
    }
    assert_eq!(
        next_within(&mut a, Duration::from_millis(300)).await,
        None,
        "exactly those 50"
    );
    // And live again afterwards.
    bob.call(
        "send_room_msg",
        json!({"roomID": "r", "userID": "bob", "cmd": "CustomTextMsg", "msg": "after"}),
    )
    .await;
    assert_eq!(next(&mut a).await["data"]["msg"], "after");

    // Over HTTP, the same events in pages.
    let page = alice
        .call("get_room_events", json!({"roomID": "r", "since": seen}))
        .await;
    let events = page["events"].as_array().unwrap();
    assert_eq!(events.len(), 51);
    assert_eq!(events[0]["seq"].as_u64(), Some(seen + 1));
    assert_eq!(page["lastSeq"], events[50]["seq"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_since_older_than_the_retention_gets_resync() {
    // The embedded store drops events past the retention at once; DynamoDB keeps them until
    // its TTL, which EV-3 allows.
    let gw = Gateway::start_on(&[], Arc::new(EmbeddedStore::new())).await;
    let alice = gw.user(RoomType::Multi, "alice").await;
    alice.join("r").await;
    for _ in 0..(3_700 / 15) {
        gw.advance(15_000);
        assert_eq!(code(&alice.heartbeat("r").await), 0);
    }
    gw.app.rooms.sweep().await.unwrap();
    let mut a = connect(&gw, &alice, "r", Some(0)).await;
    let resync = next(&mut a).await;
    assert_eq!(resync["type"], "resync");
    assert_eq!(resync["data"], json!({"reason": "retention"}));
    let page = alice
        .call("get_room_events", json!({"roomID": "r", "since": 0}))
        .await;
    assert_eq!(page["events"][0]["type"], "resync");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_forgers_and_abusers_are_refused_or_cut_off_alone() {
    let gw = Gateway::start().await;
    let alice = gw.user(RoomType::Multi, "alice").await;
    let bob = gw.user(RoomType::Multi, "bob").await;
    let eve = gw.user(RoomType::Multi, "eve").await;
    alice.join("r").await;
    bob.join("r").await;
    let status = |url: String| async move {
        match connect_async(url).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                response.status().as_u16()
            }
            other => panic!(
                "expected a refusal, got {:?}",
                other.map(|(_, r)| r.status())
            ),
        }
    };
    let base = gw.base.replacen("http://", "ws://", 1);
    assert_eq!(
        status(format!("{base}/ws?roomType=multi_room&roomID=r")).await,
        401
    );
    let forged = ws_url(&gw, &alice, "r", None).replace(&alice.token, &format!("{}x", alice.token));
    assert_eq!(status(forged).await, 401);
    let as_bob = ws_url(&gw, &alice, "r", None).replace("userID=alice", "userID=bob");
    assert_eq!(status(as_bob).await, 401, "alice's token is not bob's");
    assert_eq!(
        status(ws_url(&gw, &eve, "r", None)).await,
        403,
        "not a member"
    );
    assert_eq!(status(ws_url(&gw, &alice, "nowhere", None)).await, 403);

    let mut b = connect(&gw, &bob, "r", None).await;
    let mut big = connect(&gw, &alice, "r", None).await;
    big.send(Message::text("x".repeat(9 * 1024))).await.unwrap();
    assert_eq!(close_code(&mut big).await, CloseCode::Size);
    let mut flood = connect(&gw, &alice, "r", None).await;
    for _ in 0..30 {
        if flood
            .send(Message::text(r#"{"type":"ping"}"#))
            .await
            .is_err()
        {
            break;
        }
    }
    assert_eq!(close_code(&mut flood).await, CloseCode::from(4008));
    // Bob's connection is unaffected.
    alice
        .call(
            "send_room_msg",
            json!({"roomID": "r", "userID": "alice", "cmd": "CustomTextMsg", "msg": "still here"}),
        )
        .await;
    assert_eq!(next(&mut b).await["data"]["msg"], "still here");
    // A bad message is answered, not acted on.
    say(&mut b, json!({"type": "shout"})).await;
    assert_eq!(next(&mut b).await["type"], "error");
    say(
        &mut b,
        json!({"type": "linkmic", "to": "nobody", "data": {"type": "request"}}),
    )
    .await;
    assert_eq!(next(&mut b).await["type"], "error");
}
