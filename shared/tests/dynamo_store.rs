//! The DynamoDB store against a real DynamoDB-compatible server (moto): the same behaviour
//! suite as the embedded store, plus what only a table can show: request costs, and presence
//! decided at read time while the expired item is still stored.

use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use rtcroom_shared::model::{RoomKey, RoomType};
use rtcroom_shared::store::dynamo::{RequestCounts, testing};
use rtcroom_shared::store::suite::{T0, TIMEOUT, member};
use rtcroom_shared::store::{DynamoStore, JoinOutcome, JoinRequest, RoomStore};

rtcroom_shared::room_store_suite!(|| async {
    Arc::new(testing::fresh_store().await) as Arc<dyn RoomStore>
});

fn join_request(key: &RoomKey, user: &str, now_ms: u64) -> JoinRequest {
    JoinRequest {
        key: key.clone(),
        member: member(user, now_ms),
        capacity: 4,
        create_with_info: Some(String::new()),
        room_info: None,
        now_ms,
        record: None,
    }
}

/// Runs `f` and returns the requests it made.
async fn cost<F: std::future::Future>(store: &DynamoStore, f: F) -> RequestCounts {
    let before = store.requests();
    f.await;
    store.requests().since(before)
}

#[tokio::test]
async fn a_heartbeat_is_one_write() {
    let store = testing::fresh_store().await;
    let key = RoomKey::new(RoomType::Multi, "r");
    store.join(join_request(&key, "a", T0)).await.unwrap();
    let spent = cost(&store, async {
        assert!(
            store
                .heartbeat(&key, "a", T0 + 5_000 + TIMEOUT, T0 + 5_000)
                .await
                .unwrap()
        );
    })
    .await;
    assert_eq!(
        spent,
        RequestCounts {
            update_item: 1,
            ..Default::default()
        }
    );
    let spent = cost(&store, async {
        assert!(
            !store
                .heartbeat(&key, "nobody", T0 + TIMEOUT, T0)
                .await
                .unwrap()
        );
    })
    .await;
    assert_eq!(
        spent,
        RequestCounts {
            update_item: 1,
            ..Default::default()
        },
        "a refusal costs the same"
    );
}

#[tokio::test]
async fn get_pushers_is_one_query() {
    let store = testing::fresh_store().await;
    let key = RoomKey::new(RoomType::Live, "show");
    for user in ["a", "b", "c"] {
        store.join(join_request(&key, user, T0)).await.unwrap();
    }
    let spent = cost(&store, async {
        let room = store.room(&key, T0 + 1).await.unwrap().unwrap();
        assert_eq!(room.members.len(), 3);
    })
    .await;
    assert_eq!(
        spent,
        RequestCounts {
            query: 1,
            ..Default::default()
        }
    );
}

#[tokio::test]
async fn a_join_is_one_query_and_one_transaction() {
    let store = testing::fresh_store().await;
    let key = RoomKey::new(RoomType::Multi, "r");
    for (i, user) in ["a", "b"].iter().enumerate() {
        let spent = cost(&store, async {
            assert!(matches!(
                store
                    .join(join_request(&key, user, T0 + i as u64))
                    .await
                    .unwrap(),
                JoinOutcome::Joined { .. }
            ));
        })
        .await;
        assert_eq!(
            spent,
            RequestCounts {
                query: 1,
                transact_write: 1,
                ..Default::default()
            },
            "{user}"
        );
    }
}

#[tokio::test]
async fn an_expired_member_is_absent_from_reads_while_its_item_is_still_stored() {
    let store = testing::fresh_store().await;
    let key = RoomKey::new(RoomType::Multi, "r");
    store.join(join_request(&key, "a", T0)).await.unwrap();
    store
        .join(join_request(&key, "b", T0 + 5_000))
        .await
        .unwrap();
    let ids = |at: u64| {
        let store = &store;
        let key = &key;
        async move {
            store
                .room(key, at)
                .await
                .unwrap()
                .map(|r| r.members.into_iter().map(|m| m.user_id).collect::<Vec<_>>())
        }
    };
    assert_eq!(ids(T0 + TIMEOUT - 1).await.unwrap(), ["a", "b"]);
    assert_eq!(
        ids(T0 + TIMEOUT).await.unwrap(),
        ["b"],
        "gone at its deadline, to the millisecond"
    );
    let item = store
        .client()
        .get_item()
        .table_name(store.table())
        .key("pk", AttributeValue::S("ROOM#multi_room#r".into()))
        .key("sk", AttributeValue::S("MEMBER#a".into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    assert!(
        item.item.is_some(),
        "nothing deleted it: presence is decided by reading, not by TTL"
    );
    let report = store.sweep(T0 + TIMEOUT).await.unwrap();
    assert_eq!(report.evicted_members, 1);
}

#[tokio::test]
async fn the_sweeper_reads_the_due_index_not_the_table() {
    let store = testing::fresh_store().await;
    for i in 0..30 {
        let key = RoomKey::new(RoomType::Multi, format!("idle{i}"));
        store
            .join(join_request(&key, "a", T0 + 60_000))
            .await
            .unwrap();
    }
    let expiring = RoomKey::new(RoomType::Multi, "expiring");
    store.join(join_request(&expiring, "x", T0)).await.unwrap();
    let mut report = None;
    let spent = cost(&store, async {
        report = Some(store.sweep(T0 + TIMEOUT).await.unwrap());
    })
    .await;
    let report = report.unwrap();
    assert_eq!((report.evicted_members, report.dissolved_rooms), (1, 1));
    let shards = u64::from(rtcroom_shared::store::dynamo::items::DUE_SHARDS);
    // One query per shard, then one read and one transaction for the one expired room: the
    // 30 live rooms cost nothing.
    assert_eq!(
        spent,
        RequestCounts {
            query: shards + 1,
            transact_write: 1,
            ..Default::default()
        }
    );
}

#[tokio::test]
async fn a_room_with_more_expired_viewers_than_a_transaction_holds_is_swept_in_steps() {
    let store = testing::fresh_store().await;
    let key = RoomKey::new(RoomType::Live, "big");
    store.join(join_request(&key, "anchor", T0)).await.unwrap();
    for i in 0..45 {
        let viewer = rtcroom_shared::model::Audience {
            user_id: format!("v{i}"),
            user_info: String::new(),
            joined_at_ms: T0,
            alive_until_ms: T0 + 1_000,
        };
        store.add_audience(&key, viewer, 100, T0).await.unwrap();
    }
    store
        .heartbeat(&key, "anchor", T0 + 2_000 + TIMEOUT, T0 + 2_000)
        .await
        .unwrap();
    let report = store.sweep(T0 + 2_000).await.unwrap();
    assert_eq!(report.evicted_audiences, 45);
    assert_eq!(
        store
            .audiences(&key, T0 + 2_000)
            .await
            .unwrap()
            .unwrap()
            .len(),
        0
    );
    let events = store.events_since(&key, 0, 1000).await.unwrap();
    assert_eq!(
        events.len(),
        1 + 1 + 45 + 45,
        "the anchor's join and its pusher change, and each viewer joined and left once"
    );
}

#[tokio::test]
async fn websocket_connections_are_found_by_room_and_by_id_and_removed_together() {
    use rtcroom_shared::store::dynamo::connections::Connection;
    let store = testing::fresh_store().await;
    let room = RoomKey::new(RoomType::Multi, "ws");
    let other = RoomKey::new(RoomType::Multi, "ws2");
    let conn = |id: &str, key: &RoomKey, user: &str| Connection {
        id: id.into(),
        key: Some(key.clone()),
        user_id: user.into(),
        session: false,
        pending: None,
    };
    for c in [
        conn("c1", &room, "alice"),
        conn("c2", &room, "bob"),
        conn("c3", &other, "carol"),
    ] {
        store.add_connection(&c, T0).await.unwrap();
    }
    let mut in_room = store.room_connections(&room).await.unwrap();
    in_room.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(
        in_room,
        [conn("c1", &room, "alice"), conn("c2", &room, "bob")]
    );
    assert_eq!(
        store.connection("c3").await.unwrap(),
        Some(conn("c3", &other, "carol"))
    );
    assert_eq!(
        store.remove_connection("c1").await.unwrap(),
        Some(conn("c1", &room, "alice"))
    );
    assert_eq!(store.remove_connection("c1").await.unwrap(), None);
    assert_eq!(store.connection("c1").await.unwrap(), None);
    assert_eq!(
        store.room_connections(&room).await.unwrap(),
        [conn("c2", &room, "bob")]
    );
}

#[tokio::test]
async fn a_session_connection_waits_follows_and_unfollows() {
    use rtcroom_shared::store::dynamo::connections::{Connection, PendingJoin, Waiting};
    let store = testing::fresh_store().await;
    let room = RoomKey::new(RoomType::Live, "show");
    let session = |id: &str, user: &str| Connection {
        id: id.into(),
        user_id: user.into(),
        key: None,
        session: true,
        pending: None,
    };
    let viewer = session("s1", "viewer");
    store.add_connection(&viewer, T0).await.unwrap();
    // A userID that starts like another one's must not be mistaken for it.
    let lookalike = session("s2", "viewer#2");
    store.add_connection(&lookalike, T0).await.unwrap();
    assert_eq!(store.connection("s1").await.unwrap(), Some(viewer.clone()));
    assert!(store.room_connections(&room).await.unwrap().is_empty());

    assert!(
        store
            .add_pending(&viewer, "show", T0 + 30_000)
            .await
            .unwrap()
    );
    assert!(
        store
            .add_pending(&lookalike, "show", T0 + 30_000)
            .await
            .unwrap()
    );
    let waiting = store.connection("s1").await.unwrap().unwrap();
    assert_eq!(
        waiting.pending,
        Some(PendingJoin {
            room_id: "show".into(),
            until_ms: T0 + 30_000
        })
    );
    assert_eq!(
        store.pending_joins("show", "viewer").await.unwrap(),
        [Waiting {
            connection_id: "s1".into(),
            until_ms: T0 + 30_000
        }]
    );
    // Exactly one claim wins.
    assert!(store.claim_pending("show", "viewer", "s1").await.unwrap());
    assert!(!store.claim_pending("show", "viewer", "s1").await.unwrap());
    assert!(store.follow(&viewer, &room, T0).await.unwrap());
    let following = store.connection("s1").await.unwrap().unwrap();
    assert_eq!(
        (following.key.clone(), following.pending.clone()),
        (Some(room.clone()), None)
    );
    let in_room = store.room_connections(&room).await.unwrap();
    assert_eq!(in_room.len(), 1);
    assert!(in_room[0].session && in_room[0].user_id == "viewer");

    store.unfollow(&following).await.unwrap();
    assert_eq!(store.connection("s1").await.unwrap(), Some(viewer.clone()));
    assert!(store.room_connections(&room).await.unwrap().is_empty());

    // A connection that is gone cannot be made to follow (no resurrected items).
    let removed = store.remove_connection("s2").await.unwrap().unwrap();
    assert!(removed.pending.is_some());
    assert!(
        store
            .pending_joins("show", "viewer#2")
            .await
            .unwrap()
            .is_empty(),
        "removing a connection removes its pending join"
    );
    assert!(!store.follow(&lookalike, &room, T0).await.unwrap());
    assert_eq!(store.connection("s2").await.unwrap(), None);
}
