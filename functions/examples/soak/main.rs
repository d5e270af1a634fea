//! The soak: every hostile client of issue 12 at once, for minutes, against a running gateway
//! (with its in-process relay), while a normal client keeps working and is measured. Run by
//! `scripts/soak.sh`, which starts the release gateway and reports its peak memory.
//!
//! ```sh
//! cargo run --release -p rtcroom-functions --example soak -- http://127.0.0.1:5757 SECONDS
//! ```
//! (`RTCROOM_USERSIG_KEY` and `RTCROOM_SDKAPPID` must be the gateway's, for the forged UserSigs.)
//!
//! Hostile, each in a loop: RTMP connections that declare 8 MiB messages on 60 chunk streams;
//! a user joining rooms past its limit and filling them with 8 KiB messages; `/ws`
//! connections that never read; plays of streams nobody publishes; publishers that go silent;
//! idle TCP sockets to the gateway; roomIDs like `1e2`, Latin-1 forms, UserSigs dated ahead,
//! broken WebSocket frames. Normal: a member heartbeating and reading its room over HTTP, a
//! WebSocket member hearing the chat of another, an ffmpeg publish and an HTTP-FLV play.
//! The normal client must see no error; the output gives its latencies.

mod hostile;
mod normal;
mod target;

use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use rtcroom_relay::client;
use serde_json::json;

use hostile::*;
use normal::*;
use target::*;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args().skip(1);
    let base = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:5757".into());
    let seconds: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(180);
    let key = std::env::var("RTCROOM_USERSIG_KEY").expect("RTCROOM_USERSIG_KEY: the gateway's");
    let sdkappid: u64 = std::env::var("RTCROOM_SDKAPPID")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_400_000_000);
    let stop = Arc::new(AtomicBool::new(false));
    let t = Target {
        base: base.clone(),
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap(),
        stop: stop.clone(),
    };
    let hostile = Target {
        base,
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .local_address(std::net::IpAddr::from(HOSTILE))
            .build()
            .unwrap(),
        stop,
    };

    // The normal client: two members of one room, one of them publishing with ffmpeg, and an
    // HTTP-FLV player of that stream.
    let alice = t.user("soak_alice").await.expect("the gateway answers");
    let bob = t.user("soak_bob").await.expect("the gateway answers");
    let (push_url, code) = t.join("multi_room", &alice, "soak_normal").await.unwrap();
    assert_eq!(code, 0, "alice joins");
    let (_, code) = t.join("multi_room", &bob, "soak_normal").await.unwrap();
    assert_eq!(code, 0, "bob joins");
    let pushers = t
        .post(
            "multi_room/get_pushers",
            &bob,
            json!({"roomID": "soak_normal"}),
        )
        .await
        .unwrap();
    // The room's HTTP-FLV URL is its creator's (alice's) stream, as the audience plays it.
    let flv = pushers["mixedPlayURL"]
        .as_str()
        .map(str::to_owned)
        .expect("get_pushers answers mixedPlayURL");
    let mut publisher = std::process::Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-re",
            "-f",
            "lavfi",
            "-i",
        ])
        .arg("testsrc=size=320x240:rate=25")
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-tune",
            "zerolatency",
            "-g",
            "25",
        ])
        .args(["-f", "flv", &push_url])
        .stdin(Stdio::null())
        .spawn()
        .expect("ffmpeg is installed");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let player = std::process::Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-stats_period",
            "1",
            "-progress",
            "pipe:1",
        ])
        .args([
            "-i",
            flv.as_str(),
            "-t",
            &(seconds - 4).to_string(),
            "-f",
            "null",
            "-",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("ffmpeg is installed");

    let rtmp = client::split_url(&push_url).expect("an RTMP push URL").0;
    let attacks = Arc::new(Attacks::default());
    let normal = Arc::new(Normal::default());
    let h = &hostile;
    let mut tasks = vec![
        tokio::spawn(chunk_bombs(h.clone(), rtmp, attacks.clone())),
        tokio::spawn(room_flood(h.clone(), attacks.clone())),
        tokio::spawn(ws_non_readers(h.clone(), attacks.clone())),
        tokio::spawn(idle_plays_and_silent_publishers(h.clone(), attacks.clone())),
        tokio::spawn(idle_sockets(h.clone(), attacks.clone())),
        tokio::spawn(odd_input(h.clone(), attacks.clone(), key, sdkappid)),
    ];
    let normal_users = (
        t.user("soak_alice").await.unwrap(),
        t.user("soak_bob").await.unwrap(),
    );
    tasks.push(tokio::spawn(normal_http(t.clone(), normal.clone(), alice)));
    tasks.push(tokio::spawn(normal_ws(
        t.clone(),
        normal.clone(),
        normal_users.0,
        normal_users.1,
    )));
    let _bob_beats = tokio::spawn({
        let t = t.clone();
        async move {
            while t.running() {
                let _ = t
                    .post(
                        "multi_room/pusher_heartbeat",
                        &bob,
                        json!({"roomID": "soak_normal", "userID": bob.id}),
                    )
                    .await;
                pause(3000).await;
            }
        }
    });

    tokio::time::sleep(Duration::from_secs(seconds)).await;
    t.stop.store(true, Ordering::Relaxed);
    let played = tokio::task::spawn_blocking(move || player.wait_with_output())
        .await
        .unwrap()
        .expect("the player ran");
    let frames = String::from_utf8_lossy(&played.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("frame="))
        .filter_map(|f| f.trim().parse::<u64>().ok())
        .max()
        .unwrap_or(0);
    let _ = publisher.kill();
    let _ = publisher.wait();
    for task in tasks {
        task.abort();
    }

    let a = &attacks;
    let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
    println!("hostile clients over {seconds} s:");
    println!(
        "  RTMP connections declaring 8 MiB x 60 chunk streams: {}",
        load(&a.chunk_bomb_connections)
    );
    println!(
        "  rooms refused with 104: {}, 8 KiB flood messages: {}",
        load(&a.rooms_refused_104),
        load(&a.flood_messages)
    );
    println!("  /ws connections never read: {}", load(&a.ws_non_readers));
    println!(
        "  idle plays: {}, silent publishers: {}",
        load(&a.idle_plays),
        load(&a.silent_publishers)
    );
    println!(
        "  idle TCP sockets to the gateway: {}",
        load(&a.idle_sockets)
    );
    println!("  odd requests: {}", load(&a.odd_requests));
    println!("normal client:");
    println!(
        "  {}",
        summary("pusher_heartbeat", &mut normal.heartbeat.lock())
    );
    println!(
        "  {}",
        summary("get_pushers", &mut normal.get_pushers.lock())
    );
    println!(
        "  {}",
        summary("chat heard over /ws", &mut normal.ws_delivery.lock())
    );
    println!(
        "  HTTP-FLV player: {frames} frames of the ffmpeg publish ({} s at 25 fps)",
        seconds - 4
    );
    let errors = normal.errors.lock();
    println!("  errors: {}", errors.len());
    for e in errors.iter().take(10) {
        println!("    {e}");
    }
    if !errors.is_empty() || frames == 0 {
        std::process::exit(1);
    }
}
