//! Hostile and broken clients against a real gateway, over real sockets (issue 12): each test
//! is the attack as it was found, and asserts the bound that now holds.
//!
//! - a `/ws` client that never reads is dropped within its send deadline and delays nobody;
//!   one user holds at most its connections;
//! - with the store hung, every caller queued on one room hears 100 within 5 s;
//! - idle sockets from one address cannot starve the others;
//! - only members and viewers change a room's counters; a logged-out token stops working;
//! - odd roomIDs, non-UTF-8 forms, UserSigs dated ahead, broken WebSocket frames are refused.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Gateway, KEY, SDKAPPID, code};
use futures_util::StreamExt;
use rtcroom_functions::metrics::Refusal;
use rtcroom_shared::model::RoomType;
use rtcroom_shared::store::dynamo::testing;
use rtcroom_shared::store::{DynamoStore, EmbeddedStore, RoomStore};
use rtcroom_shared::usersig;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::Message;

fn address(gw: &Gateway) -> std::net::SocketAddr {
    gw.base.trim_start_matches("http://").parse().unwrap()
}

fn ws_base(gw: &Gateway) -> String {
    gw.base.replacen("http://", "ws://", 1)
}

/// Waits up to `within` for `done`, polling.
async fn eventually(within: Duration, mut done: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + within;
    while Instant::now() < until {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    done()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_that_never_reads_is_dropped_within_its_send_deadline_and_delays_no_one() {
    // The gateway's own /ws, whatever the store: on the embedded one, so the flood is quick.
    let gw = Gateway::start_on(
        &[
            ("RTCROOM_WS_SEND_TIMEOUT_SECS", "2"),
            ("RTCROOM_WS_MAX_PER_USER", "3"),
        ],
        Arc::new(EmbeddedStore::new()),
    )
    .await;
    let talker = gw.user(RoomType::Multi, "talker").await;
    let sleeper = gw.user(RoomType::Multi, "sleeper").await;
    let reader = gw.user(RoomType::Multi, "reader").await;
    for u in [&talker, &sleeper, &reader] {
        assert_eq!(code(&u.join("busy").await), 0);
    }
    let room_url = |u: &common::User<'_>| {
        format!(
            "{}/ws?userID={}&token={}&roomType=multi_room&roomID=busy",
            ws_base(&gw),
            u.id,
            u.token
        )
    };
    // The sleeper's connection: a small receive window, and nothing ever read from it.
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(address(&gw)).await.unwrap();
    let (_asleep, _) = tokio_tungstenite::client_async(room_url(&sleeper), stream)
        .await
        .unwrap();
    let (mut reading, _) = connect_async(room_url(&reader)).await.unwrap();
    assert!(
        eventually(Duration::from_secs(5), || gw
            .app
            .metrics
            .ws_connections
            .get()
            == 2)
        .await
    );

    // The reader reads as a client does, all along; it must hear every message.
    const MESSAGES: usize = 600;
    let listening = tokio::spawn(async move {
        let mut heard = 0;
        let last = format!("{} ", MESSAGES - 1);
        let _ = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(Ok(message)) = reading.next().await {
                if let Message::Text(text) = message
                    && text.contains("\"CustomTextMsg\"")
                {
                    heard += 1;
                    if text.contains(&last) {
                        break;
                    }
                }
            }
        })
        .await;
        heard
    });
    // 600 messages of ~7 KiB: 4 MB, far more than the sleeper's socket buffers hold.
    let flood = "x".repeat(7000);
    for i in 0..MESSAGES {
        let sent = talker
            .call(
                "send_room_msg",
                json!({"roomID": "busy", "userID": "talker", "cmd": "CustomTextMsg",
                       "msg": format!("{i} {flood}")}),
            )
            .await;
        assert_eq!(code(&sent), 0, "{sent}");
    }
    let heard = listening.await.unwrap();
    assert_eq!(heard, MESSAGES, "the reader heard {heard} of {MESSAGES}");
    // The sleeper is dropped within its deadline (2 s) of its socket filling up.
    assert!(
        eventually(Duration::from_secs(6), || {
            gw.app.metrics.refusals(Refusal::WsSendTimeout) == 1
        })
        .await,
        "the non-reading connection was not dropped"
    );
    // Both are gone now (the reader hung up when it had heard everything): nothing leaks.
    assert!(
        eventually(Duration::from_secs(2), || gw
            .app
            .metrics
            .ws_connections
            .get()
            == 0)
        .await
    );

    // One user holds at most 3 connections; a 4th is refused until one closes.
    let session_url = format!(
        "{}/ws?userID={}&token={}",
        ws_base(&gw),
        talker.id,
        talker.token
    );
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(connect_async(&session_url).await.unwrap().0);
    }
    match connect_async(&session_url).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 429)
        }
        other => panic!("a 4th connection of one user: {other:?}"),
    }
    assert_eq!(gw.app.metrics.refusals(Refusal::WsPerUser), 1);
    held.pop().unwrap().close(None).await.unwrap();
    let mut again = None;
    for _ in 0..40 {
        if let Ok((ws, _)) = connect_async(&session_url).await {
            again = Some(ws);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(again.is_some(), "a place freed by a closed connection");
}

/// A DynamoDB endpoint that answers `GetItem` at once (no item) and never answers anything
/// else: reads for authentication succeed, every room write hangs.
async fn half_hung_dynamodb() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buffer = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") else {
                        match stream.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                        }
                        continue;
                    };
                    let head = String::from_utf8_lossy(&buffer[..end]).to_ascii_lowercase();
                    let length: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    while buffer.len() < end + 4 + length {
                        match stream.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                        }
                    }
                    buffer.drain(..end + 4 + length);
                    if !head.contains("dynamodb_20120810.getitem") {
                        // Hang: hold the connection, answer nothing.
                        std::future::pending::<()>().await;
                    }
                    let answer = "HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.0\r\n\
                                  content-length: 2\r\n\r\n{}";
                    if stream.write_all(answer.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_store_hung_every_writer_queued_on_one_room_hears_100_within_5_s() {
    let endpoint = half_hung_dynamodb().await;
    let store = DynamoStore::new(testing::client_for(&endpoint), "hung");
    let gw = Gateway::start_on(
        &[("RTCROOM_REQUEST_TIMEOUT_SECS", "4")],
        Arc::new(store) as Arc<dyn RoomStore>,
    )
    .await;
    let mut users = Vec::new();
    for i in 0..12 {
        let user = gw.user(RoomType::Multi, &format!("w{i}")).await;
        let push_url = user.push_url().await;
        users.push((user, push_url));
    }
    let started = Instant::now();
    let calls = users.iter().map(|(u, push_url)| async move {
        let answer = u
            .call(
                "add_pusher",
                json!({"roomID": "frozen", "userID": u.id, "userName": "n", "userAvatar": "a",
                       "pushURL": push_url}),
            )
            .await;
        (answer, started.elapsed())
    });
    for (i, (answer, took)) in futures_util::future::join_all(calls)
        .await
        .into_iter()
        .enumerate()
    {
        assert_eq!(code(&answer), 100, "writer {i}: {answer}");
        assert!(
            took < Duration::from_secs(5),
            "writer {i} answered after {took:?}"
        );
    }
    assert_eq!(gw.app.metrics.refusals(Refusal::RequestTimeout), 12);
}

/// An idle TCP connection from `from` to the gateway.
async fn idle_from(gw: &Gateway, from: [u8; 4]) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind((from, 0).into()).unwrap();
    socket.connect(address(gw)).await.unwrap()
}

/// Whether the server closed `stream` (EOF or reset) within `within`.
async fn closed_by_server(stream: &mut TcpStream, within: Duration) -> bool {
    let mut byte = [0u8; 1];
    matches!(
        tokio::time::timeout(within, stream.read(&mut byte)).await,
        Ok(Ok(0) | Err(_))
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sockets_from_one_address_cannot_starve_the_others() {
    let gw = Gateway::start_with(&[
        ("RTCROOM_MAX_CONNECTIONS", "20"),
        ("RTCROOM_MAX_CONNECTIONS_PER_IP", "10"),
    ])
    .await;
    // One address opens 15: 10 are kept, 5 are closed at once.
    let mut first = Vec::new();
    for _ in 0..15 {
        first.push(idle_from(&gw, [127, 0, 0, 1]).await);
    }
    let mut closed = 0;
    for stream in &mut first {
        if closed_by_server(stream, Duration::from_millis(300)).await {
            closed += 1;
        }
    }
    assert_eq!(closed, 5);
    assert_eq!(gw.app.metrics.refusals(Refusal::ConnectionsPerIp), 5);
    // A second address takes the other 10: the gateway is at its limit, all of it idle.
    let mut second = Vec::new();
    for _ in 0..10 {
        second.push(idle_from(&gw, [127, 0, 0, 3]).await);
    }
    let open = || gw.app.metrics.http_connections.get();
    assert!(
        eventually(Duration::from_secs(2), || open() == 20).await,
        "{} open",
        open()
    );
    // A real client is answered at once, not after the idle ones' 10 s header timeout.
    let mut client = idle_from(&gw, [127, 0, 0, 2]).await;
    let started = Instant::now();
    client
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: gw\r\n\r\n")
        .await
        .unwrap();
    let mut answer = vec![0u8; 256];
    let n = tokio::time::timeout(Duration::from_secs(5), client.read(&mut answer))
        .await
        .expect("answered while idle connections hold the limit")
        .unwrap();
    assert!(
        answer[..n].starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&answer[..n])
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(gw.app.metrics.refusals(Refusal::IdleConnectionClosed) >= 1);
}

#[tokio::test]
async fn only_members_and_viewers_change_counters_and_logout_ends_the_token() {
    let gw = Gateway::start().await;
    let anchor = gw.user(RoomType::Live, "anchor").await;
    let viewer = gw.user(RoomType::Live, "viewer").await;
    let stranger = gw.user(RoomType::Live, "stranger").await;
    assert_eq!(code(&anchor.join("show").await), 0);
    let minus = json!({"roomID": "show", "fieldName": "likes", "operation": "set", "value": -5});
    let refused = stranger.call("set_custom_field", minus).await;
    assert_eq!(code(&refused), 5, "{refused}");
    let watching = viewer
        .call(
            "add_audience",
            json!({"roomID": "show", "userID": "viewer", "userInfo": "{}"}),
        )
        .await;
    assert_eq!(code(&watching), 0);
    let like = json!({"roomID": "show", "fieldName": "likes", "operation": "inc"});
    assert_eq!(
        code(&viewer.call("set_custom_field", like.clone()).await),
        0
    );
    let info = anchor
        .call("get_custom_info", json!({"roomID": "show"}))
        .await;
    assert_eq!(info["custom"], "{\"likes\":1}");

    // Logout: the token is refused from then on; a new login works.
    assert_eq!(
        code(
            &stranger
                .call("get_room_list", json!({"cnt": 1, "index": 0}))
                .await
        ),
        0
    );
    assert_eq!(code(&stranger.call("logout", json!({})).await), 0);
    let after = stranger
        .call("get_room_list", json!({"cnt": 1, "index": 0}))
        .await;
    assert_eq!(code(&after), 7, "{after}");
    let again = gw.user(RoomType::Live, "stranger").await;
    assert_eq!(
        code(
            &again
                .call("get_room_list", json!({"cnt": 1, "index": 0}))
                .await
        ),
        0
    );
    // The anchor's own session is untouched by another user's logout.
    assert_eq!(code(&anchor.heartbeat("show").await), 0);
}

#[tokio::test]
async fn odd_room_ids_forms_and_usersigs_are_refused_and_counted() {
    let gw = Gateway::start().await;
    let user = gw.user(RoomType::Multi, "odd").await;
    for room_id in [
        json!(1e2),
        json!(true),
        json!([1]),
        json!({"a": 1}),
        json!(2.5),
    ] {
        let answer = user
            .call(
                "add_pusher",
                json!({"roomID": room_id, "userID": "odd", "userName": "n", "userAvatar": "a",
                       "pushURL": "rtmp://x/live/y"}),
            )
            .await;
        assert_eq!(code(&answer), 1, "roomID {room_id}: {answer}");
    }
    // Latin-1 "café" is not another spelling of a room's name.
    let response = gw
        .http
        .post(format!(
            "{}/weapp/multi_room/get_pushers?userID=odd&token={}",
            gw.base, user.token
        ))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(&b"roomID=caf\xe9"[..])
        .send()
        .await
        .unwrap();
    let answer: serde_json::Value = response.json().await.unwrap();
    assert_eq!(code(&answer), 10, "{answer}");
    // UserSigs dated ahead of the clock, or valid for ten years.
    let now = common::START_MS / 1000;
    for (time, expire) in [(now + 3600, 3600), (u64::MAX, 1), (now, 10 * 366 * 86_400)] {
        let sig = usersig::generate(SDKAPPID, KEY, "odd", expire, time, None);
        let login = gw.login(RoomType::Multi, "odd", &sig).await;
        assert_eq!(code(&login), 7, "time {time}, expire {expire}: {login}");
    }
    let metrics = gw
        .http
        .get(format!("{}/metrics", gw.base))
        .send()
        .await
        .unwrap();
    let text = metrics.text().await.unwrap();
    assert!(
        text.contains("rtcroom_refusals_total{reason=\"invalid\"} 5\n"),
        "{text}"
    );
    assert!(
        text.contains("rtcroom_refusals_total{reason=\"malformed\"} 1\n"),
        "{text}"
    );
    assert!(
        text.contains("rtcroom_refusals_total{reason=\"auth\"} 3\n"),
        "{text}"
    );
}

/// Upgrades a raw TCP connection to `/ws` for `user`, returning it past the 101 answer.
async fn raw_websocket(gw: &Gateway, user: &common::User<'_>) -> TcpStream {
    let mut stream = TcpStream::connect(address(gw)).await.unwrap();
    let request = format!(
        "GET /ws?userID={}&token={} HTTP/1.1\r\nhost: gw\r\nupgrade: websocket\r\n\
         connection: Upgrade\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         sec-websocket-version: 13\r\n\r\n",
        user.id, user.token
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(stream.read(&mut byte).await.unwrap(), 1);
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    stream
}

/// The close code of the first close frame the server sends.
async fn close_code(stream: &mut TcpStream) -> u16 {
    let mut frame = [0u8; 4];
    tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut frame))
        .await
        .expect("a close frame")
        .unwrap();
    assert_eq!(frame[0], 0x88, "a close frame: {frame:?}");
    u16::from_be_bytes([frame[2], frame[3]])
}

#[tokio::test]
async fn websocket_protocol_errors_close_with_1002_and_bad_text_with_1007() {
    let gw = Gateway::start().await;
    let user = gw.user(RoomType::Multi, "framer").await;
    // A text frame with RSV1 set (no extension was agreed): a protocol error.
    let mut broken = raw_websocket(&gw, &user).await;
    broken.write_all(&[0xC1, 0x80, 1, 2, 3, 4]).await.unwrap();
    assert_eq!(close_code(&mut broken).await, 1002);
    // A text frame whose payload is not UTF-8 (0xFF 0xFE, masked with 0).
    let mut latin = raw_websocket(&gw, &user).await;
    latin
        .write_all(&[0x81, 0x82, 0, 0, 0, 0, 0xFF, 0xFE])
        .await
        .unwrap();
    assert_eq!(close_code(&mut latin).await, 1007);
    assert_eq!(gw.app.metrics.refusals(Refusal::WsProtocol), 2);
}
