//! An ended room's memory is given back (issue 12, item 2): the live heap of this process (a
//! counting allocator, alone in its test binary so that nothing else allocates meanwhile),
//! the gateway running in it on the embedded store.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Gateway, code};
use rtcroom_shared::model::{RoomKey, RoomType};
use rtcroom_shared::store::{EmbeddedStore, RoomStore, StoreLimits};
use rtcroom_shared::testing::LiveBytes;
use serde_json::json;

#[global_allocator]
static ALLOCATOR: LiveBytes = LiveBytes;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ended_rooms_memory_is_given_back() {
    let store = Arc::new(EmbeddedStore::with_limits(StoreLimits::default()));
    let mut gw = Gateway::start_on(&[], store.clone() as Arc<dyn RoomStore>).await;
    // The test's own HTTP connection is let go after 300 ms idle: the read and write buffers of
    // a kept-alive connection grow and shrink with how the kernel happened to split the last
    // requests (tens of KiB on a loaded machine), which is not the rooms' memory, so neither
    // measurement below holds one.
    gw.http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .pool_idle_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let users: Vec<_> = {
        let mut users = Vec::new();
        for i in 0..100 {
            users.push(gw.user(RoomType::Multi, &format!("user{i}")).await);
        }
        users
    };
    // The same wave twice: the first brings every buffer, connection and map the load uses to
    // its steady size; the baseline is taken after it has ended.
    wave(&gw, &store, &users).await;
    hung_up(&gw).await;
    let baseline = settled_peak().await;
    let peak = wave(&gw, &store, &users).await;
    hung_up(&gw).await;
    // What stayed: the smallest the heap gets within 3 s of quiet.
    let bound = baseline + baseline / 10;
    let mut after = LiveBytes::now();
    for _ in 0..150 {
        if after <= bound {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        after = after.min(LiveBytes::now());
    }
    println!(
        "baseline {baseline} bytes, peak {peak} (+{}), after the rooms ended {after} ({:+.1} %)",
        peak - baseline,
        100.0 * (after - baseline) as f64 / baseline as f64
    );
    assert!(after <= bound, "baseline {baseline}, after {after}");
}

/// Waits until the client's idle connection has been closed and the gateway has let its side go.
async fn hung_up(gw: &Gateway) {
    for _ in 0..250 {
        if gw.app.metrics.http_connections.get() == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!(
        "the gateway still holds {} HTTP connections 5 s after the client's idle timeout",
        gw.app.metrics.http_connections.get()
    );
}

/// The largest the live heap gets over 100 ms of quiet (connection buffers come and go a few
/// dozen KiB at a time).
async fn settled_peak() -> isize {
    let mut seen = LiveBytes::now();
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        seen = seen.max(LiveBytes::now());
    }
    seen
}

/// 100 users fill their 20 rooms each (2,000 rooms) and chat 8 KiB messages; then they go
/// silent, the rooms time out, their last events are kept a minute for their readers, and
/// everything is freed (the numbering's tombstones after the hour). The heap at the peak.
async fn wave(gw: &Gateway, store: &EmbeddedStore, users: &[common::User<'_>]) -> isize {
    let msg = "x".repeat(8 * 1024);
    for (i, u) in users.iter().enumerate() {
        for r in 0..20 {
            assert_eq!(code(&u.join(&format!("u{i}_r{r}")).await), 0);
        }
        assert_eq!(code(&u.join(&format!("u{i}_r20")).await), 104);
        for _ in 0..140 {
            let sent = u
                .call(
                    "send_room_msg",
                    json!({"roomID": format!("u{i}_r0"), "userID": u.id,
                           "cmd": "CustomTextMsg", "msg": msg}),
                )
                .await;
            assert_eq!(code(&sent), 0);
        }
    }
    let peak = LiveBytes::now();
    assert_eq!(store.holdings().rooms, 2_000);
    // Chat beyond 1 MiB per room is dropped oldest first.
    let kept = gw
        .app
        .rooms
        .store()
        .events_since(&RoomKey::new(RoomType::Multi, "u0_r0"), 0, 10_000)
        .await
        .unwrap();
    let bytes: usize = kept
        .iter()
        .map(|e| serde_json::to_string(e).unwrap().len())
        .sum();
    assert!(
        bytes < 1100 * 1024,
        "{} events, {bytes} bytes kept",
        kept.len()
    );
    gw.advance(21_000);
    gw.app.rooms.sweep().await.unwrap();
    assert_eq!(store.holdings().rooms, 0);
    gw.advance(61_000);
    gw.app.rooms.sweep().await.unwrap();
    assert_eq!(store.holdings().records, 0);
    gw.advance(3_600_000);
    gw.app.rooms.sweep().await.unwrap();
    let holdings = store.holdings();
    assert_eq!(
        (
            holdings.tombstones,
            holdings.due,
            holdings.users,
            holdings.streams
        ),
        (0, 0, 0, 0),
        "{holdings:?}"
    );
    peak
}
