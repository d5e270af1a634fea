//! The cloud's event delivery without Docker: the notifier handler driven with a DynamoDB
//! Stream batch fixture (`fixtures/dynamodb-stream/`), connections registered in the test
//! DynamoDB server, and the real Management API client posting to a local `@connections`
//! endpoint that answers 410 for one of them.

mod common;

use std::sync::Arc;

use common::Gateway;
use common::management::{management_api, management_endpoint};
use rtcroom_functions::notifier::{self, Delivery};
use rtcroom_shared::model::{RoomKey, RoomType};
use rtcroom_shared::store::RoomStore;
use rtcroom_shared::store::dynamo::connections::Connection;
use rtcroom_shared::store::dynamo::testing;
use serde_json::Value;

fn batch(room: &str) -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/dynamodb-stream/room-events.json"
    ))
    .unwrap();
    serde_json::from_str(&text.replace("${ROOM}", room)).unwrap()
}

#[tokio::test]
async fn each_new_event_goes_to_its_rooms_connections_and_gone_ones_are_forgotten() {
    let store = Arc::new(testing::fresh_store().await);
    let gw = Gateway::start_on(&[], store.clone() as Arc<dyn RoomStore>).await;
    let room = RoomKey::new(RoomType::Multi, "cloud-room");
    let elsewhere = RoomKey::new(RoomType::Multi, "other-room");
    let connection = |id: &str, key: &RoomKey, user: &str| Connection {
        id: id.into(),
        key: Some(key.clone()),
        user_id: user.into(),
        session: false,
        pending: None,
    };
    for c in [
        connection("c-alice", &room, "alice"),
        connection("c-bob", &room, "bob"),
        connection("gone-carol", &room, "carol"),
        connection("c-dave", &elsewhere, "dave"),
    ] {
        store.add_connection(&c, 1_795_327_200_000).await.unwrap();
    }
    let (endpoint, posts) = management_endpoint().await;
    let poster = management_api(&endpoint);

    let delivery = notifier::notify(&gw.app, &store, &poster, &batch("cloud-room"))
        .await
        .unwrap();
    // Two room events (the room item's MODIFY is not one): the join to alice and bob (carol's
    // connection is gone), the linkmic to bob only.
    assert_eq!(
        delivery,
        Delivery {
            events: 2,
            posted: 3,
            gone: 1,
            failed: 0,
            admitted: 0,
            unfollowed: 0,
        }
    );
    let posts = posts.lock().clone();
    let to = |id: &str| -> Vec<Value> {
        posts
            .iter()
            .filter(|(c, _)| c == id)
            .map(|(_, e)| e.clone())
            .collect()
    };
    let alice = to("c-alice");
    assert_eq!(alice.len(), 1);
    assert_eq!(alice[0]["type"], "memberJoined");
    assert_eq!(alice[0]["roomID"], "cloud-room");
    assert_eq!(alice[0]["seq"], 7);
    assert_eq!(alice[0]["data"]["userID"], "carol");
    let bob: Vec<Value> = to("c-bob");
    assert_eq!(
        bob.iter().map(|e| e["type"].clone()).collect::<Vec<_>>(),
        ["memberJoined", "linkmic"],
        "in stream order"
    );
    assert_eq!(bob[1]["data"]["data"]["type"], "request");
    assert!(
        to("c-dave").is_empty(),
        "another room's connection hears nothing"
    );
    assert_eq!(store.connection("gone-carol").await.unwrap(), None);
    assert_eq!(store.room_connections(&room).await.unwrap().len(), 2);
}
