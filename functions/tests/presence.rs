//! Presence by heartbeat, decided at read and write time; the sweeper records departures;
//! creator-leave rules per room type.

mod common;

use common::{Gateway, code};
use rtcroom_shared::model::{DissolveReason, EventKind, LeaveReason, RoomType};
use serde_json::json;

#[tokio::test]
async fn a_silent_member_leaves_get_pushers_the_moment_its_timeout_passes() {
    let gw = Gateway::start().await;
    let alice = gw.user(RoomType::Multi, "alice").await;
    let bob = gw.user(RoomType::Multi, "bob").await;
    alice.join("r").await;
    bob.join("r").await;
    for _ in 0..5 {
        gw.advance(5_000);
        assert_eq!(code(&alice.heartbeat("r").await), 0);
    }
    // bob last beat (joined) 25 s ago, so he vanished 5 s ago, with no sweep needed.
    assert_eq!(alice.pusher_ids("r").await.unwrap(), ["alice"]);
    // To the millisecond: alice beat just now; at 19.999 s she is here, at 20 s she is not.
    gw.advance(19_999);
    assert_eq!(bob.pusher_ids("r").await, Some(vec!["alice".to_owned()]));
    let list = bob
        .call("get_room_list", json!({ "cnt": 10, "index": 0 }))
        .await;
    assert_eq!(list["rooms"].as_array().unwrap().len(), 1);
    gw.advance(1);
    assert_eq!(
        bob.pusher_ids("r").await,
        None,
        "nobody is left, so the room is gone"
    );
    let list = bob
        .call("get_room_list", json!({ "cnt": 10, "index": 0 }))
        .await;
    assert!(list["rooms"].as_array().unwrap().is_empty());
    assert_eq!(
        code(&alice.heartbeat("r").await),
        5,
        "too late: she must add_pusher again"
    );

    let before_sweep = gw.events(RoomType::Multi, "r").await;
    assert!(
        !before_sweep
            .iter()
            .any(|e| matches!(e.kind, EventKind::MemberLeft { .. }))
    );
    rtcroom_functions::sweeper::sweep_once(&gw.app).await;
    let kinds: Vec<EventKind> = gw
        .events(RoomType::Multi, "r")
        .await
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds[4..],
        [
            EventKind::MemberLeft {
                user_id: "bob".into(),
                reason: LeaveReason::Timeout
            },
            EventKind::MemberLeft {
                user_id: "alice".into(),
                reason: LeaveReason::Timeout
            },
            EventKind::RoomDissolved {
                reason: DissolveReason::Empty
            },
        ],
        "{kinds:?}"
    );
}

#[tokio::test]
async fn the_timeout_is_configurable_per_room_type() {
    let gw = Gateway::start_with(&[("RTCROOM_LIVE_ROOM_HEARTBEAT_TIMEOUT_SECS", "60")]).await;
    let multi = gw.user(RoomType::Multi, "m").await;
    let live = gw.user(RoomType::Live, "l").await;
    multi.join("r").await;
    live.join("r").await;
    gw.advance(30_000);
    assert_eq!(multi.pusher_ids("r").await, None);
    assert_eq!(live.pusher_ids("r").await.unwrap(), ["l"]);
}

#[tokio::test]
async fn live_room_dissolves_when_the_anchor_leaves_or_goes_silent() {
    let gw = Gateway::start().await;
    let anchor = gw.user(RoomType::Live, "anchor").await;
    let guest = gw.user(RoomType::Live, "guest").await;

    anchor.join("show1").await;
    guest.join("show1").await;
    assert_eq!(code(&guest.leave("show1").await), 0);
    assert_eq!(
        anchor.pusher_ids("show1").await.unwrap(),
        ["anchor"],
        "a guest leaving changes nothing else"
    );
    guest.join("show1").await;
    assert_eq!(code(&anchor.leave("show1").await), 0);
    assert_eq!(
        guest.pusher_ids("show1").await,
        None,
        "the anchor leaving ends the show"
    );
    assert_eq!(code(&guest.heartbeat("show1").await), 5);
    let last = gw.events(RoomType::Live, "show1").await.pop().unwrap();
    assert_eq!(
        last.kind,
        EventKind::RoomDissolved {
            reason: DissolveReason::CreatorLeft
        }
    );

    anchor.join("show2").await;
    guest.join("show2").await;
    for _ in 0..4 {
        gw.advance(5_000);
        guest.heartbeat("show2").await;
    }
    assert_eq!(
        guest.pusher_ids("show2").await,
        None,
        "a silent anchor ends the show at once"
    );
    rtcroom_functions::sweeper::sweep_once(&gw.app).await;
    let last = gw.events(RoomType::Live, "show2").await.pop().unwrap();
    assert_eq!(
        last.kind,
        EventKind::RoomDissolved {
            reason: DissolveReason::CreatorTimeout
        }
    );
}

#[tokio::test]
async fn double_and_multi_rooms_outlive_their_creator_until_the_last_member_leaves() {
    let gw = Gateway::start().await;
    for room_type in [RoomType::Double, RoomType::Multi] {
        let a = gw.user(room_type, "a").await;
        let b = gw.user(room_type, "b").await;
        a.join("talk").await;
        b.join("talk").await;
        assert_eq!(code(&a.leave("talk").await), 0);
        let room = b.pushers("talk").await;
        assert_eq!(room["roomCreator"], "a", "{room_type}");
        assert_eq!(room["mixedPlayURL"], "", "the creator's stream is gone");
        assert_eq!(b.pusher_ids("talk").await.unwrap(), ["b"]);
        assert_eq!(code(&b.leave("talk").await), 0);
        assert_eq!(b.pusher_ids("talk").await, None);
    }
}

#[tokio::test]
async fn every_change_is_an_event_with_a_rising_sequence_number() {
    let gw = Gateway::start().await;
    let a = gw.user(RoomType::Live, "a").await;
    let b = gw.user(RoomType::Live, "b").await;
    a.join("r").await;
    b.join("r").await;
    b.join("r").await;
    b.call(
        "add_audience",
        json!({ "roomID": "r", "userID": "b", "userInfo": "" }),
    )
    .await;
    b.call(
        "set_custom_field",
        json!({ "roomID": "r", "fieldName": "likes", "operation": "inc" }),
    )
    .await;
    b.leave("r").await;
    a.call("destroy_room", json!({ "roomID": "r", "userID": "a" }))
        .await;
    let events = gw.events(RoomType::Live, "r").await;
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=11).collect::<Vec<_>>());
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| match e.kind {
            EventKind::MemberJoined { .. } => "joined",
            EventKind::MemberUpdated { .. } => "updated",
            EventKind::MemberLeft { .. } => "left",
            EventKind::RoomDissolved { .. } => "dissolved",
            EventKind::AudienceJoined { .. } => "audience joined",
            EventKind::AudienceLeft { .. } => "audience left",
            EventKind::CustomChanged { .. } => "custom",
            EventKind::PusherChange => "pushers changed",
            ref other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "joined",
            "pushers changed",
            "joined",
            "pushers changed",
            "updated",
            "pushers changed",
            "audience joined",
            "custom",
            "left",
            "pushers changed",
            "dissolved"
        ]
    );
}
