//! One client must not fill the room service (issue 12, item 2): rooms per user and in all
//! are bounded, and the sweeper visits only the rooms something is due in (the memory given
//! back when rooms end is measured alone, in `room_memory.rs`).

mod common;

use std::sync::Arc;

use common::{Gateway, code};
use rtcroom_shared::model::{RoomKey, RoomType};
use rtcroom_shared::store::{EmbeddedStore, RoomStore, StoreLimits};
use serde_json::json;

fn limits(max_rooms: usize, per_user: usize) -> StoreLimits {
    StoreLimits {
        max_rooms,
        max_rooms_per_user: per_user,
        ..StoreLimits::default()
    }
}

#[tokio::test]
async fn one_user_holds_at_most_its_rooms_and_the_server_at_most_its_rooms() {
    let store = Arc::new(EmbeddedStore::with_limits(limits(8, 3)));
    let gw = Gateway::start_on(&[], store.clone() as Arc<dyn RoomStore>).await;
    let greedy = gw.user(RoomType::Multi, "greedy").await;
    for i in 0..3 {
        assert_eq!(code(&greedy.join(&format!("mine{i}")).await), 0);
    }
    // A fourth room, however it comes: joining, creating, watching.
    let refused = greedy.join("mine3").await;
    assert_eq!(code(&refused), 104, "{refused}");
    let created = greedy
        .call(
            "create_room",
            json!({"userID": "greedy", "roomID": "mine4", "roomInfo": ""}),
        )
        .await;
    assert_eq!(code(&created), 104);
    let anchor = gw.user(RoomType::Live, "anchor").await;
    assert_eq!(code(&anchor.join("show").await), 0);
    let watcher = gw.user(RoomType::Live, "greedy").await;
    let watching = watcher
        .call(
            "add_audience",
            json!({"roomID": "show", "userID": "greedy", "userInfo": ""}),
        )
        .await;
    assert_eq!(code(&watching), 104);
    // Rejoining a room it is in is not one more; leaving one frees a place.
    assert_eq!(code(&greedy.join("mine0").await), 0);
    assert_eq!(code(&greedy.leave("mine0").await), 0);
    assert_eq!(code(&greedy.join("mine3").await), 0);
    // Rooms in all: 8. Four exist (mine1-3, show); others may add four more, then no more.
    for i in 0..4 {
        let u = gw.user(RoomType::Multi, &format!("u{i}")).await;
        assert_eq!(code(&u.join(&format!("theirs{i}")).await), 0);
    }
    let late = gw.user(RoomType::Multi, "late").await;
    assert_eq!(code(&late.join("one_too_many").await), 104);
    // An existing room still takes members.
    assert_eq!(code(&late.join("theirs0").await), 0);
    assert_eq!(store.holdings().rooms, 8);
}

#[tokio::test]
async fn the_sweeper_visits_only_the_rooms_something_is_due_in() {
    const T0: u64 = 1_700_000_000_000;
    let store = EmbeddedStore::new();
    for i in 0..100_000u64 {
        let key = RoomKey::new(RoomType::Multi, format!("r{i}"));
        let member = rtcroom_shared::model::Member {
            user_id: format!("u{i}"),
            user_name: String::new(),
            user_avatar: String::new(),
            stream_id: format!("s{i}"),
            push_url: String::new(),
            joined_at_ms: T0,
            // Ten rooms' members run out within the first minute, the rest later.
            alive_until_ms: if i < 10 { T0 + 30_000 } else { T0 + 600_000 },
            stream_live_until_ms: 0,
        };
        store
            .join(rtcroom_shared::store::JoinRequest {
                key,
                member,
                capacity: 4,
                create_with_info: Some(String::new()),
                room_info: None,
                now_ms: T0,
                record: None,
            })
            .await
            .unwrap();
    }
    store.sweep(T0 + 5_000).await.unwrap();
    assert_eq!(store.sweep_visits(), 0, "nothing due: nothing visited");
    let report = store.sweep(T0 + 60_000).await.unwrap();
    assert_eq!(report.evicted_members, 10);
    assert_eq!(store.sweep_visits(), 10);
}
