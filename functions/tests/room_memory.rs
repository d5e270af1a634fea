//! An ended room's memory is given back (issue 12, item 2): the live heap of this process (a
//! counting allocator, alone in its test binary so that nothing else allocates meanwhile),
//! the gateway running in it on the embedded store.

mod common;

use std::sync::Arc;

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
    let gw = Gateway::start_on(&[], store.clone() as Arc<dyn RoomStore>).await;
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
    let baseline = settled_peak().await;
    let peak = wave(&gw, &store, &users).await;
    // What stayed: the smallest the heap gets within 3 s of quiet (buffers of the test's own
    // HTTP connections come and go a few dozen KiB at a time meanwhile).
    let bound = baseline + baseline / 10;
    let mut after = LiveBytes::now();
    for _ in 0..150 {
        if after <= bound {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        after = after.min(LiveBytes::now());
    }
    println!(
        "baseline {baseline} bytes, peak {peak} (+{}), after the rooms ended {after} ({:+.1} %)",
        peak - baseline,
        100.0 * (after - baseline) as f64 / baseline as f64
    );
    assert!(after <= bound, "baseline {baseline}, after {after}");
}

/// The largest the live heap gets over 100 ms of quiet (connection buffers come and go a few
/// dozen KiB at a time).
async fn settled_peak() -> isize {
    let mut seen = LiveBytes::now();
    for _ in 0..5 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
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
