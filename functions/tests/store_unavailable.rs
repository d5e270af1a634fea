//! A room store that cannot be reached: every call that needs it answers code 100 ("retry
//! later") promptly, with HTTP 200 and the envelope; signing in still works (every other call
//! reads the store, for a logout of its token).

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Gateway, code};
use rtcroom_shared::model::RoomType;
use rtcroom_shared::store::DynamoStore;
use rtcroom_shared::store::dynamo::testing;
use serde_json::json;

#[tokio::test]
async fn an_unreachable_dynamodb_gives_code_100_not_a_hang_or_a_500() {
    // A port where nothing listens.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let store = DynamoStore::new(testing::client_for(&format!("http://{dead}")), "nowhere");
    let gw = Gateway::start_on(&[], Arc::new(store)).await;
    // Signing in needs no store.
    let alice = gw.user(RoomType::Multi, "alice").await;
    let push_url = "rtmp://127.0.0.1/live/any";
    for (api, body) in [
        ("get_push_url", json!({ "userID": "alice" })),
        ("get_pushers", json!({ "roomID": "r" })),
        (
            "pusher_heartbeat",
            json!({ "roomID": "r", "userID": "alice" }),
        ),
        (
            "add_pusher",
            json!({ "roomID": "r", "userID": "alice", "userName": "a", "userAvatar": "", "pushURL": push_url }),
        ),
        ("get_room_list", json!({ "cnt": 5, "index": 0 })),
    ] {
        let started = Instant::now();
        let answer = alice.call(api, body).await;
        assert_eq!(code(&answer), 100, "{api}: {answer}");
        assert_eq!(answer["message"], "room store unavailable, retry later");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{api} took {:?}",
            started.elapsed()
        );
    }
}
