//! The hostile clients, each in a loop until the soak stops, counting what they did.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rtcroom_relay::client::{self, Client};
use rtcroom_shared::usersig;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::target::{Target, pause};

/// Counts of what the hostile clients did, printed at the end.
#[derive(Default)]
pub struct Attacks {
    pub chunk_bomb_connections: AtomicU64,
    pub rooms_refused_104: AtomicU64,
    pub flood_messages: AtomicU64,
    pub ws_non_readers: AtomicU64,
    pub idle_plays: AtomicU64,
    pub silent_publishers: AtomicU64,
    pub idle_sockets: AtomicU64,
    pub odd_requests: AtomicU64,
}

pub fn count(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// The hostile clients' own address: the per-address limit is for them, not for the normal
/// client on 127.0.0.1 (in real life they come from different machines).
pub const HOSTILE: [u8; 4] = [127, 0, 0, 2];

/// A TCP socket from the hostile address.
pub fn hostile_socket() -> std::io::Result<TcpSocket> {
    let socket = TcpSocket::new_v4()?;
    socket.bind((HOSTILE, 0).into())?;
    Ok(socket)
}

pub async fn chunk_bombs(t: Target, rtmp: String, a: Arc<Attacks>) {
    while t.running() {
        let mut held = Vec::new();
        for _ in 0..50 {
            if let Ok(mut s) = client::handshake_only(&rtmp).await {
                let _ = s.write_all(&client::declared_but_unsent(60, 1)).await;
                count(&a.chunk_bomb_connections);
                held.push(s);
            }
        }
        pause(2000).await;
    }
}

pub async fn room_flood(t: Target, a: Arc<Attacks>) {
    let Ok(greedy) = t.user("soak_greedy").await else {
        return;
    };
    let msg = "x".repeat(8000);
    let mut round = 0u64;
    while t.running() {
        round += 1;
        for i in 0..30 {
            let room = format!("greedy_{round}_{i}");
            if let Ok((_, code)) = t.join("multi_room", &greedy, &room).await {
                if code == 104 {
                    count(&a.rooms_refused_104);
                    continue;
                }
                for _ in 0..20 {
                    let _ = t
                        .post(
                            "multi_room/send_room_msg",
                            &greedy,
                            json!({"roomID": room, "userID": greedy.id, "cmd": "CustomTextMsg", "msg": msg}),
                        )
                        .await;
                    count(&a.flood_messages);
                }
            }
        }
        for i in 0..30 {
            let room = format!("greedy_{round}_{i}");
            let _ = t
                .post(
                    "multi_room/delete_pusher",
                    &greedy,
                    json!({"roomID": room, "userID": greedy.id}),
                )
                .await;
        }
    }
}

pub async fn ws_non_readers(t: Target, a: Arc<Attacks>) {
    let Ok(sleeper) = t.user("soak_sleeper").await else {
        return;
    };
    let _ = t.join("multi_room", &sleeper, "soak_sleepy").await;
    let addr = t.base.trim_start_matches("http://").to_owned();
    let url = format!(
        "ws://{addr}/ws?userID={}&token={}&roomType=multi_room&roomID=soak_sleepy",
        sleeper.id, sleeper.token
    );
    while t.running() {
        let _ = t
            .post(
                "multi_room/pusher_heartbeat",
                &sleeper,
                json!({"roomID": "soak_sleepy", "userID": sleeper.id}),
            )
            .await;
        let mut held = Vec::new();
        for _ in 0..12 {
            let Ok(socket) = hostile_socket() else {
                continue;
            };
            let _ = socket.set_recv_buffer_size(4096);
            let Ok(stream) = socket.connect(addr.parse().unwrap()).await else {
                continue;
            };
            if let Ok((ws, _)) = tokio_tungstenite::client_async(url.as_str(), stream).await {
                count(&a.ws_non_readers);
                held.push(ws);
            }
        }
        // Fill them: the room's chat, 8 KiB at a time.
        for _ in 0..50 {
            let _ = t
                .post(
                    "multi_room/send_room_msg",
                    &sleeper,
                    json!({"roomID": "soak_sleepy", "userID": sleeper.id, "cmd": "CustomTextMsg", "msg": "z".repeat(8000)}),
                )
                .await;
        }
        pause(5000).await;
    }
}

pub async fn idle_plays_and_silent_publishers(t: Target, a: Arc<Attacks>) {
    let Ok(idler) = t.user("soak_idler").await else {
        return;
    };
    while t.running() {
        let room = "soak_idle_room";
        let Ok((push_url, _)) = t.join("multi_room", &idler, room).await else {
            pause(1000).await;
            continue;
        };
        let pushers = t
            .post("multi_room/get_pushers", &idler, json!({"roomID": room}))
            .await;
        let play_url = pushers
            .ok()
            .and_then(|p| p["pushers"][0]["accelerateURL"].as_str().map(str::to_owned));
        let mut held = Vec::new();
        if let Some(play_url) = play_url {
            for _ in 0..20 {
                if let Ok((mut c, name)) = Client::connect(&play_url).await
                    && c.play(&name).await.is_ok()
                {
                    count(&a.idle_plays);
                    held.push(c);
                }
            }
        }
        // A publisher that says nothing after `publish`.
        if let Ok((mut c, name)) = Client::connect(&push_url).await
            && c.publish(&name).await.is_ok()
        {
            count(&a.silent_publishers);
            held.push(c);
        }
        pause(12_000).await;
    }
}

pub async fn idle_sockets(t: Target, a: Arc<Attacks>) {
    let addr = t.base.trim_start_matches("http://").to_owned();
    while t.running() {
        let mut held = Vec::new();
        for _ in 0..300 {
            let Ok(socket) = hostile_socket() else {
                continue;
            };
            if let Ok(s) = socket.connect(addr.parse().unwrap()).await {
                count(&a.idle_sockets);
                held.push(s);
            }
        }
        pause(3000).await;
    }
}

pub async fn odd_input(t: Target, a: Arc<Attacks>, key: String, sdkappid: u64) {
    let Ok(odd) = t.user("soak_odd").await else {
        return;
    };
    let addr = t.base.trim_start_matches("http://").to_owned();
    while t.running() {
        for room in [json!(1e2), json!(true), json!([1]), json!({"a": 1})] {
            let _ = t
                .post("multi_room/get_pushers", &odd, json!({"roomID": room}))
                .await;
            count(&a.odd_requests);
        }
        let _ = t
            .http
            .post(format!(
                "{}/weapp/multi_room/get_pushers?userID={}&token={}",
                t.base, odd.id, odd.token
            ))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(&b"roomID=caf\xe9"[..])
            .send()
            .await;
        let sig = usersig::generate(sdkappid, &key, "soak_odd", 1, u64::MAX, None);
        let _ = t
            .http
            .post(format!("{}/weapp/multi_room/login", t.base))
            .query(&[
                ("sdkAppID", sdkappid.to_string().as_str()),
                ("userSig", &sig),
                ("userID", "soak_odd"),
            ])
            .send()
            .await;
        // A WebSocket frame with a reserved bit set.
        if let Ok(mut s) = TcpStream::connect(&addr).await {
            let request = format!(
                "GET /ws?userID={}&token={} HTTP/1.1\r\nhost: x\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\
                 sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\n\r\n",
                odd.id, odd.token
            );
            let _ = s.write_all(request.as_bytes()).await;
            let mut head = [0u8; 512];
            let _ = tokio::time::timeout(Duration::from_secs(2), s.read(&mut head)).await;
            let _ = s.write_all(&[0xC1, 0x80, 1, 2, 3, 4]).await;
        }
        a.odd_requests.fetch_add(3, Ordering::Relaxed);
        pause(200).await;
    }
}
