//! `ws-load`: room-event fan-out over WebSocket on a local gateway (dev mode on, for UserSigs).
//!
//! ```text
//! ws-load --base-url http://127.0.0.1:5757 --members 300 --messages 2000 --rate 200 [--pid PID] [--json]
//! ```
//!
//! One live_room: an anchor and `members - 1` viewers, each with a WebSocket on `/ws`. The tool
//! sends `messages` chat texts over HTTP (`send_room_msg`, the full write path: store, change
//! listener, hub, fan-out) at `rate` a second, each carrying its send time; every connection
//! records when each arrives. Prints the deliveries per second the gateway sustained, the
//! delivery latency (send to receive) p50/p99/max, and, with `--pid`, the gateway's CPU per
//! delivered event.

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use futures_util::StreamExt;
use parking_lot::Mutex;
use rtcroom_shared::metrics::process_cpu_secs;
use serde_json::{Value, json};
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::Message;

#[derive(Debug, Parser)]
struct Args {
    #[arg(long, default_value = "http://127.0.0.1:5757")]
    base_url: String,
    /// WebSocket connections in the room (the anchor and viewers).
    #[arg(long, default_value_t = 300)]
    members: usize,
    #[arg(long, default_value_t = 2000)]
    messages: u64,
    /// Messages sent a second.
    #[arg(long, default_value_t = 200)]
    rate: u64,
    /// The gateway's process id, to measure its CPU.
    #[arg(long)]
    pid: Option<u32>,
    #[arg(long)]
    json: bool,
}

struct Gateway {
    base: String,
    http: reqwest::Client,
}

impl Gateway {
    async fn answer(request: reqwest::RequestBuilder) -> Value {
        request
            .send()
            .await
            .expect("the gateway answers")
            .json()
            .await
            .expect("JSON")
    }

    async fn post(&self, path: &str, query: &str, body: Value) -> Value {
        let url = format!("{}/weapp/{path}?{query}", self.base);
        let answer = Self::answer(self.http.post(url).json(&body)).await;
        assert_eq!(answer["code"], 0, "{path}: {answer}");
        answer
    }

    /// get_login_info (dev mode), then login: the user's token.
    async fn sign_in(&self, user: &str) -> String {
        let url = format!("{}/weapp/utils/get_login_info?userID={user}", self.base);
        let info = Self::answer(self.http.get(url)).await;
        let sig = info["userSig"].as_str().expect("dev mode is on");
        let sdkappid = &info["sdkAppID"];
        let login = self
            .post(
                "live_room/login",
                &format!("accountType=0&sdkAppID={sdkappid}&userSig={sig}&userID={user}"),
                json!({}),
            )
            .await;
        login["token"].as_str().unwrap().to_owned()
    }
}

#[derive(Default)]
struct Seen {
    latencies_us: Vec<u64>,
    last_at: Option<Instant>,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let gw = Arc::new(Gateway {
        base: args.base_url.trim_end_matches('/').to_owned(),
        http: reqwest::Client::new(),
    });
    let run = rand::random::<u32>();
    let room = format!("wsload-{run:08x}");
    let users: Vec<String> = (0..args.members)
        .map(|i| format!("wl{run:08x}_{i}"))
        .collect();
    let tokens: Vec<String> = futures_util::stream::iter(users.clone())
        .map(|u| {
            let gw = gw.clone();
            async move { gw.sign_in(&u).await }
        })
        .buffered(16)
        .collect()
        .await;
    let auth = |i: usize| format!("userID={}&token={}", users[i], tokens[i]);
    let push = gw
        .post(
            "live_room/get_push_url",
            &auth(0),
            json!({"userID": users[0]}),
        )
        .await;
    gw.post(
        "live_room/add_pusher",
        &auth(0),
        json!({"roomID": room, "userID": users[0], "userName": "anchor", "userAvatar": "",
               "pushURL": push["pushURL"]}),
    )
    .await;
    for (i, user) in users.iter().enumerate().skip(1) {
        gw.post(
            "live_room/add_audience",
            &auth(i),
            json!({"roomID": room, "userID": user, "userInfo": ""}),
        )
        .await;
    }
    // The anchor keeps the room alive.
    let beat = {
        let (gw, query, room) = (gw.clone(), auth(0), room.clone());
        let user = users[0].clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(5)).await;
                gw.post(
                    "live_room/pusher_heartbeat",
                    &query,
                    json!({"roomID": room, "userID": user}),
                )
                .await;
            }
        })
    };

    let start = Instant::now();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let ws_base = gw.base.replacen("http", "ws", 1);
    let mut readers = Vec::new();
    for i in 0..args.members {
        let url = format!("{ws_base}/ws?{}&roomType=live_room&roomID={room}", auth(i));
        let (mut ws, _) = connect_async(url).await.expect("the WebSocket opens");
        let (seen, expected) = (seen.clone(), args.messages);
        readers.push(tokio::spawn(async move {
            let mut got = 0;
            while got < expected {
                let Ok(Some(Ok(Message::Text(text)))) =
                    tokio::time::timeout(Duration::from_secs(20), ws.next()).await
                else {
                    break;
                };
                let now = Instant::now();
                let event: Value = serde_json::from_str(&text).unwrap_or_default();
                if event["type"] != "CustomTextMsg" {
                    continue;
                }
                let Some(sent_us) = event["data"]["msg"]
                    .as_str()
                    .and_then(|m| m.parse::<u64>().ok())
                else {
                    continue;
                };
                got += 1;
                let latency = now.duration_since(start).as_micros() as u64 - sent_us;
                let mut seen = seen.lock();
                seen.latencies_us.push(latency);
                seen.last_at = Some(now);
            }
            got
        }));
    }

    let cpu_before = args.pid.and_then(process_cpu_secs);
    let sending_from = Instant::now();
    let gap = Duration::from_micros(1_000_000 / args.rate.max(1));
    let mut sends = Vec::new();
    for n in 0..args.messages {
        tokio::time::sleep_until((sending_from + gap * n as u32).into()).await;
        let (gw, query, room, user) = (gw.clone(), auth(0), room.clone(), users[0].clone());
        let stamp = start.elapsed().as_micros().to_string();
        sends.push(tokio::spawn(async move {
            gw.post(
                "live_room/send_room_msg",
                &query,
                json!({"roomID": room, "userID": user, "cmd": "CustomTextMsg", "msg": stamp}),
            )
            .await;
        }));
    }
    for send in sends {
        send.await.expect("every message is accepted");
    }
    let mut delivered = 0u64;
    for reader in readers {
        delivered += reader.await.unwrap_or(0);
    }
    beat.abort();
    let cpu_after = args.pid.and_then(process_cpu_secs);
    let seen = seen.lock();
    let window = seen
        .last_at
        .map_or(Duration::ZERO, |t| t.duration_since(sending_from));
    let mut latencies = seen.latencies_us.clone();
    latencies.sort_unstable();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    let expected = args.messages * args.members as u64;
    let per_sec = delivered as f64 / window.as_secs_f64().max(1e-9);
    let cpu_us_per_event = match (cpu_before, cpu_after) {
        (Some(a), Some(b)) if delivered > 0 => Some((b - a) * 1e6 / delivered as f64),
        _ => None,
    };
    let report = json!({
        "members": args.members, "messages": args.messages, "rate": args.rate,
        "expected": expected, "delivered": delivered, "deliveries_per_sec": per_sec.round(),
        "p50_us": pct(0.50), "p99_us": pct(0.99), "max_us": latencies.last().copied().unwrap_or(0),
        "cpu_us_per_event": cpu_us_per_event,
    });
    if args.json {
        println!("{report}");
    } else {
        println!(
            "{} members, {} messages at {}/s: delivered {delivered}/{expected} ({per_sec:.0}/s), \
             latency p50 {:.2} ms p99 {:.2} ms max {:.2} ms{}",
            args.members,
            args.messages,
            args.rate,
            pct(0.50) as f64 / 1000.0,
            pct(0.99) as f64 / 1000.0,
            latencies.last().copied().unwrap_or(0) as f64 / 1000.0,
            cpu_us_per_event.map_or(String::new(), |c| format!(", gateway CPU {c:.1} µs/event")),
        );
    }
    if delivered < expected {
        std::process::exit(1);
    }
}
