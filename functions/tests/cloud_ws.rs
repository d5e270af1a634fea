//! The cloud's WebSocket path without Docker: the `ws_connect`, `ws_message` and
//! `ws_disconnect` handlers driven with API Gateway WebSocket event fixtures
//! (`fixtures/apigw-websocket/`), connections and rooms in the test DynamoDB server, answers
//! posted to a local `@connections` endpoint; then the notifier, fed the stream records of the
//! events those messages stored, delivers them to the room's connections.

mod common;

use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use common::management::{Posts, management_api, management_endpoint};
use common::{Gateway, User};
use rtcroom_functions::cloud_ws::{on_connect, on_disconnect, on_message};
use rtcroom_functions::notifier;
use rtcroom_shared::model::{EventKind, RoomKey, RoomType};
use rtcroom_shared::store::RoomStore;
use rtcroom_shared::store::dynamo::items::encode_event;
use rtcroom_shared::store::dynamo::testing;
use serde_json::{Map, Value, json};

fn fixture(name: &str, connection: &str, fill: &[(&str, &str)]) -> Value {
    let path = format!(
        "{}/tests/fixtures/apigw-websocket/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut text = std::fs::read_to_string(path)
        .unwrap()
        .replace("${CONNECTION}", connection);
    for (from, to) in fill {
        text = text.replace(from, to);
    }
    serde_json::from_str(&text).unwrap()
}

fn connect_event(connection: &str, user: &User<'_>, token: &str, room: &str) -> Value {
    fixture(
        "connect",
        connection,
        &[
            ("${USER}", &user.id),
            ("${TOKEN}", token),
            ("${ROOM}", room),
        ],
    )
}

fn message_event(connection: &str, body: &str) -> Value {
    let mut event = fixture("message", connection, &[]);
    event["body"] = body.into();
    event
}

/// The stream record DynamoDB would deliver for an item the store wrote.
fn insert_record(item: std::collections::HashMap<String, AttributeValue>) -> Value {
    let image: Map<String, Value> = item
        .into_iter()
        .map(|(k, v)| {
            let value = match v {
                AttributeValue::S(s) => json!({ "S": s }),
                AttributeValue::N(n) => json!({ "N": n }),
                other => panic!("unexpected attribute {other:?}"),
            };
            (k, value)
        })
        .collect();
    json!({"eventName": "INSERT", "eventSource": "aws:dynamodb",
           "dynamodb": {"NewImage": image, "StreamViewType": "NEW_AND_OLD_IMAGES"}})
}

fn posts_to(posts: &Posts, connection: &str) -> Vec<Value> {
    posts
        .lock()
        .iter()
        .filter(|(c, _)| c == connection)
        .map(|(_, v)| v.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_message_notify_disconnect_through_the_lambda_handlers() {
    let store = Arc::new(testing::fresh_store().await);
    let gw = Gateway::start_on(&[], store.clone() as Arc<dyn RoomStore>).await;
    let alice = gw.user(RoomType::Multi, "alice").await;
    let bob = gw.user(RoomType::Multi, "bob").await;
    let eve = gw.user(RoomType::Multi, "eve").await;
    alice.join("r").await;
    bob.join("r").await;
    let (endpoint, posts) = management_endpoint().await;
    let poster = management_api(&endpoint);
    let app = &gw.app;

    // $connect: members in; a stranger, a forged token and a missing token out.
    for (id, user) in [("conn-alice", &alice), ("conn-bob", &bob)] {
        let answer = on_connect(app, &store, &connect_event(id, user, &user.token, "r")).await;
        assert_eq!(answer["statusCode"], 200, "{answer}");
    }
    let stranger = on_connect(
        app,
        &store,
        &connect_event("conn-eve", &eve, &eve.token, "r"),
    )
    .await;
    assert_eq!(stranger["statusCode"], 403);
    let forged = format!("{}x", alice.token);
    let forged = on_connect(app, &store, &connect_event("conn-f", &alice, &forged, "r")).await;
    assert_eq!(forged["statusCode"], 401);
    let mut no_token = connect_event("conn-n", &alice, "", "r");
    no_token["queryStringParameters"]
        .as_object_mut()
        .unwrap()
        .remove("token");
    assert_eq!(on_connect(app, &store, &no_token).await["statusCode"], 401);
    assert_eq!(
        store
            .room_connections(&RoomKey::new(RoomType::Multi, "r"))
            .await
            .unwrap()
            .len(),
        2
    );

    // $default: a chat message is recorded and acknowledged on the sender's connection.
    let before = store
        .last_seq(&RoomKey::new(RoomType::Multi, "r"))
        .await
        .unwrap();
    let sent = message_event("conn-alice", r#"{"type":"CustomTextMsg","msg":"hi cloud"}"#);
    assert_eq!(
        on_message(app, &store, &poster, &sent).await["statusCode"],
        200
    );
    let ack = posts_to(&posts, "conn-alice");
    assert_eq!(ack, [json!({"type": "ack", "seq": before + 1})]);
    let ping = message_event("conn-bob", r#"{"type":"ping"}"#);
    on_message(app, &store, &poster, &ping).await;
    assert_eq!(posts_to(&posts, "conn-bob"), [json!({"type": "pong"})]);

    // The notifier, fed the stream record of the stored event, delivers it to both.
    let key = RoomKey::new(RoomType::Multi, "r");
    let stored = store.events_since(&key, before, 10).await.unwrap();
    assert!(matches!(stored[0].kind, EventKind::ChatText { .. }));
    let batch = json!({"Records": stored.iter().map(|e| insert_record(encode_event(&key, e))).collect::<Vec<_>>()});
    let delivery = notifier::notify(app, &store, &poster, &batch)
        .await
        .unwrap();
    assert_eq!((delivery.events, delivery.posted), (1, 2));
    for connection in ["conn-alice", "conn-bob"] {
        let last = posts_to(&posts, connection).last().cloned().unwrap();
        assert_eq!(last["type"], "CustomTextMsg");
        assert_eq!(last["data"]["msg"], "hi cloud");
        assert_eq!(last["seq"], before + 1);
    }

    // An oversize frame is refused and its connection closed; nothing is recorded.
    let big = message_event("conn-bob", &"x".repeat(9 * 1024));
    on_message(app, &store, &poster, &big).await;
    let to_bob = posts_to(&posts, "conn-bob");
    assert_eq!(to_bob[to_bob.len() - 2]["type"], "error");
    assert_eq!(to_bob[to_bob.len() - 1], "closed");
    assert_eq!(store.last_seq(&key).await.unwrap(), before + 1);

    // $disconnect forgets the connection; its messages are refused afterwards.
    let gone = fixture("disconnect", "conn-bob", &[]);
    assert_eq!(on_disconnect(&store, &gone).await["statusCode"], 200);
    assert_eq!(store.connection("conn-bob").await.unwrap(), None);
    assert_eq!(
        on_message(app, &store, &poster, &ping).await["statusCode"],
        403
    );

    // A connection sending more than 20 messages in a second is told so and closed; the
    // others carry on.
    let flood = connect_event("conn-flood", &alice, &alice.token, "r");
    assert_eq!(on_connect(app, &store, &flood).await["statusCode"], 200);
    let flood_ping = message_event("conn-flood", r#"{"type":"ping"}"#);
    for _ in 0..21 {
        on_message(app, &store, &poster, &flood_ping).await;
    }
    let to_flood = posts_to(&posts, "conn-flood");
    assert_eq!(to_flood.len(), 22, "20 pongs, an error, the close");
    assert!(to_flood[..20].iter().all(|p| *p == json!({"type": "pong"})));
    assert_eq!(to_flood[20]["message"], "too many messages");
    assert_eq!(to_flood[21], "closed");
    // A burst counts in the second it reached API Gateway however late its invocations run
    // (cold starts, a throttled table): 21 messages of one second, handled over three.
    let late = connect_event("conn-late", &alice, &alice.token, "r");
    assert_eq!(on_connect(app, &store, &late).await["statusCode"], 200);
    let mut late_ping = message_event("conn-late", r#"{"type":"ping"}"#);
    late_ping["requestContext"]["requestTimeEpoch"] = json!(app.rooms.clock().now_ms());
    for i in 0..21 {
        if i % 10 == 9 {
            gw.advance(1_000);
        }
        on_message(app, &store, &poster, &late_ping).await;
    }
    let to_late = posts_to(&posts, "conn-late");
    assert_eq!(to_late.len(), 22, "20 pongs, an error, the close");
    assert_eq!(to_late[20]["message"], "too many messages");
    let alice_ping = message_event("conn-alice", r#"{"type":"ping"}"#);
    on_message(app, &store, &poster, &alice_ping).await;
    assert_eq!(
        posts_to(&posts, "conn-alice").last(),
        Some(&json!({"type": "pong"}))
    );

    // An eviction by the sweeper flows the same way: stored, streamed, posted.
    let seen = store.last_seq(&key).await.unwrap();
    gw.advance(15_000);
    alice.heartbeat("r").await;
    gw.advance(10_000);
    gw.app.rooms.sweep().await.unwrap();
    let stored = store.events_since(&key, seen, 10).await.unwrap();
    let batch = json!({"Records": stored.iter().map(|e| insert_record(encode_event(&key, e))).collect::<Vec<_>>()});
    notifier::notify(app, &store, &poster, &batch)
        .await
        .unwrap();
    let to_alice = posts_to(&posts, "conn-alice");
    let left = &to_alice[to_alice.len() - 2];
    assert_eq!(left["type"], "memberLeft");
    assert_eq!(left["data"], json!({"userID": "bob", "reason": "timeout"}));
    assert_eq!(to_alice[to_alice.len() - 1]["type"], "notifyPusherChange");
}
