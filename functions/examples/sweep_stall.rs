//! How long a heartbeat waits while the sweeper works through 100,000 rooms (issue 12, item 2:
//! the old sweeper scanned every room under the store's lock, 90-99 ms every 5 s at 150,000).
//!
//! A gateway on the embedded store, in this process, on a real socket; 100,000 multi_rooms of
//! one member each, filled through the store. One client beats over HTTP (keep-alive, one
//! connection) for its own room as fast as it can, and each heartbeat's latency is kept with
//! whether a sweep was running meanwhile. Two sweeps are measured:
//! - **nothing due**: the periodic sweep when no deadline has passed (what runs every 5 s);
//! - **all due**: every one of the 100,000 members expires at once, so the sweep evicts them
//!   all and ends every room (the heaviest sweep there is).
//!
//! ```sh
//! cargo run --release -p rtcroom-functions --example sweep_stall
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rtcroom_functions::app::App;
use rtcroom_functions::gateway;
use rtcroom_shared::clock::{Clock, SystemClock};
use rtcroom_shared::config::{Config, Profile};
use rtcroom_shared::model::{Member, RoomKey, RoomType};
use rtcroom_shared::store::{EmbeddedStore, JoinRequest, RoomStore, StoreLimits};
use serde_json::{Value, json};
use tokio::net::TcpListener;

const ROOMS: u64 = 100_000;
/// The gateway's UserSig key (its session tokens derive from it).
const KEY: &str = "bench-usersig-key-0123456789abcdef";

fn member(user: &str, joined: u64, until: u64) -> Member {
    Member {
        user_id: user.into(),
        user_name: String::new(),
        user_avatar: String::new(),
        stream_id: format!("{user}_stream"),
        push_url: String::new(),
        joined_at_ms: joined,
        alive_until_ms: until,
        stream_live_until_ms: 0,
    }
}

/// `user` joins `room` (creating it) until `until`.
async fn seat(store: &EmbeddedStore, room: &str, user: &str, until: u64) {
    let now = SystemClock.now_ms();
    store
        .join(JoinRequest {
            key: RoomKey::new(RoomType::Multi, room),
            member: member(user, now, until),
            capacity: 4,
            create_with_info: Some(String::new()),
            room_info: None,
            now_ms: now,
            record: None,
        })
        .await
        .unwrap();
}

async fn fill(store: &EmbeddedStore, until: u64) {
    for i in 0..ROOMS {
        let name = format!("filler{i}");
        seat(store, &name, &name, until).await;
    }
}

struct Beats {
    during: Vec<f64>,
    outside: Vec<f64>,
}

/// "n (p50, p99, max)" of latencies in ms.
fn summary(v: &mut [f64]) -> String {
    if v.is_empty() {
        return "0".into();
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let at = |p: f64| v[((v.len() as f64 - 1.0) * p).round() as usize];
    format!(
        "{} (p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms)",
        v.len(),
        at(0.5),
        at(0.99),
        at(1.0)
    )
}

fn report(what: &str, sweep: Duration, beats: &mut Beats) {
    println!(
        "{what}: the sweep took {:.1} ms; heartbeats during it: {}; outside it: {}",
        sweep.as_secs_f64() * 1000.0,
        summary(&mut beats.during),
        summary(&mut beats.outside),
    );
}

/// Beats until `stop`, recording each latency as during or outside `sweeping`.
async fn beat(
    http: reqwest::Client,
    url: String,
    sweeping: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
) -> Beats {
    let mut beats = Beats {
        during: Vec::new(),
        outside: Vec::new(),
    };
    let body = json!({"roomID": "mine", "userID": "beater"}).to_string();
    while !stop.load(Ordering::Relaxed) {
        let was = sweeping.load(Ordering::Relaxed);
        let started = Instant::now();
        let answer: Value = http
            .post(&url)
            .body(body.clone())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let took = started.elapsed().as_secs_f64() * 1000.0;
        assert_eq!(answer["code"], 0, "{answer}");
        if was || sweeping.load(Ordering::Relaxed) {
            beats.during.push(took);
        } else {
            beats.outside.push(took);
        }
    }
    beats
}

async fn measure(what: &str, app: &Arc<App>, base: &str, token: &str, sweep_at: Duration) {
    let sweeping = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let url = format!("{base}/weapp/multi_room/pusher_heartbeat?userID=beater&token={token}");
    let client = tokio::spawn(beat(
        reqwest::Client::new(),
        url,
        sweeping.clone(),
        stop.clone(),
    ));
    tokio::time::sleep(sweep_at).await;
    sweeping.store(true, Ordering::Relaxed);
    let started = Instant::now();
    let swept = app.rooms.sweep().await.unwrap();
    let took = started.elapsed();
    sweeping.store(false, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let mut beats = client.await.unwrap();
    report(what, took, &mut beats);
    println!("  swept: {swept:?}");
}

/// A gateway on its own embedded store (room limit raised), with the beating user in a room
/// of its own: the app, the store, the base URL.
async fn gateway(config: Config) -> (Arc<App>, Arc<EmbeddedStore>, String) {
    let store = Arc::new(EmbeddedStore::with_limits(StoreLimits {
        max_rooms: 1_000_000,
        ..StoreLimits::default()
    }));
    let app = Arc::new(App::new(
        config,
        store.clone() as Arc<dyn RoomStore>,
        Arc::new(SystemClock),
    ));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(gateway::serve(listener, app.clone()));
    seat(&store, "mine", "beater", SystemClock.now_ms() + 3_600_000).await;
    (app, store, base)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let vars = [
        ("RTCROOM_USERSIG_KEY", KEY),
        ("RTCROOM_HEARTBEAT_TIMEOUT_SECS", "3600"),
    ];
    let config = Config::from_lookup(Profile::LocalGateway, |name| {
        vars.iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.to_string())
    })
    .unwrap();
    // The beating user's token, as login issues it.
    let token = rtcroom_shared::token::TokenKey::derived_from_usersig_key(KEY).issue(
        &rtcroom_shared::token::Session {
            user_id: "beater".into(),
            sdkappid: config.sdkappid,
            expires_at: SystemClock.now_secs() + 3600,
            issued_ms: SystemClock.now_ms(),
            grant: None,
        },
    );

    let (app, store, base) = gateway(config.clone()).await;
    let fill_started = Instant::now();
    fill(&store, SystemClock.now_ms() + 3_600_000).await;
    println!(
        "{ROOMS} rooms filled in {:.1} s",
        fill_started.elapsed().as_secs_f64()
    );
    measure("nothing due", &app, &base, &token, Duration::from_secs(1)).await;

    // The same rooms again, every member running out at once 20 s from now.
    let (app, store, base) = gateway(config).await;
    let expire_at = SystemClock.now_ms() + 20_000;
    fill(&store, expire_at).await;
    let wait = Duration::from_millis(expire_at.saturating_sub(SystemClock.now_ms()) + 200);
    println!(
        "waiting {:.1} s for the {ROOMS} members to run out",
        wait.as_secs_f64()
    );
    measure("all due", &app, &base, &token, wait).await;
}
