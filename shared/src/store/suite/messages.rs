//! Messages, kickouts and relay stream reports.

use super::*;

pub async fn messages_come_from_present_users_and_kickout_removes(store: Arc<dyn RoomStore>) {
    let key = RoomKey::new(RoomType::Live, "r");
    join(&*store, &key, "anchor", T0).await;
    join(&*store, &key, "guest", T0).await;
    store
        .add_audience(&key, viewer("fan", T0), 10, T0)
        .await
        .unwrap();
    let send = |message: Message| {
        let (store, key) = (store.clone(), key.clone());
        async move { store.send(&key, message, T0 + 1).await.unwrap() }
    };
    let before = store.last_seq(&key).await.unwrap();
    assert_eq!(
        send(text("fan", "hi")).await,
        MessageOutcome::Sent { seq: before + 1 }
    );
    assert!(matches!(
        send(text("guest", "yo")).await,
        MessageOutcome::Sent { .. }
    ));
    assert_eq!(
        send(text("stranger", "x")).await,
        MessageOutcome::NotPresent
    );
    assert_eq!(
        store
            .send(&RoomKey::new(RoomType::Live, "none"), text("fan", "x"), T0)
            .await
            .unwrap(),
        MessageOutcome::NoRoom
    );
    assert_eq!(
        send(linkmic("fan", "nobody", "request")).await,
        MessageOutcome::NoRecipient
    );
    assert!(matches!(
        send(linkmic("fan", "anchor", "request")).await,
        MessageOutcome::Sent { .. }
    ));
    // A kickout by someone other than the creator is only a message.
    send(linkmic("guest", "anchor", "kickout")).await;
    assert_eq!(
        member_ids(&*store, &key, T0 + 1).await.unwrap(),
        ["anchor", "guest"]
    );
    send(linkmic("anchor", "guest", "kickout")).await;
    assert_eq!(member_ids(&*store, &key, T0 + 1).await.unwrap(), ["anchor"]);
    let kinds = all_event_kinds(&*store, &key).await;
    assert_eq!(
        kinds[kinds.len() - 3..],
        [
            linkmic("anchor", "guest", "kickout").kind,
            left("guest", LeaveReason::Kicked),
            EventKind::PusherChange
        ]
    );
}

/// A heartbeat keeps a member until its own deadline or later, never shorter: a relay report
/// that extended the deadline past it stands (on DynamoDB the heartbeat used to overwrite it).
pub async fn a_heartbeat_never_shortens_a_later_deadline(store: Arc<dyn RoomStore>) {
    let key = RoomKey::new(RoomType::Multi, "r");
    join(&*store, &key, "a", T0).await;
    join(&*store, &key, "b", T0).await;
    // The relay reports a's stream live at +15 s, with a keep-alive three heartbeat timeouts
    // long: a is kept until +75 s.
    let long = StreamReport::Live {
        keep_alive_ms: [3 * TIMEOUT; 3],
    };
    let keep_until = T0 + 15_000 + 3 * TIMEOUT;
    assert_eq!(
        store
            .stream_report("8888_a_0001", long, T0 + 15_000)
            .await
            .unwrap(),
        1
    );
    assert!(keep_until > T0 + 16_000 + TIMEOUT);
    // a's client beats at +16 s, asking for less than the relay's report gave it.
    assert!(
        store
            .heartbeat(&key, "a", T0 + 16_000 + TIMEOUT, T0 + 16_000)
            .await
            .unwrap(),
        "a is a live member"
    );
    // b keeps the room present; a's stream stops, so only a's deadline keeps a.
    for at in (1..=6).map(|i| T0 + i * 10_000) {
        assert!(store.heartbeat(&key, "b", at + TIMEOUT, at).await.unwrap());
    }
    store
        .stream_report("8888_a_0001", StreamReport::Stopped, T0 + 17_000)
        .await
        .unwrap();
    assert_eq!(
        member_ids(&*store, &key, keep_until - 1).await.unwrap(),
        ["a", "b"],
        "the heartbeat left the later deadline in place"
    );
    assert_eq!(member_ids(&*store, &key, keep_until).await.unwrap(), ["b"]);
    // A beat after the deadline passed revives nobody.
    assert!(
        !store
            .heartbeat(&key, "a", keep_until + TIMEOUT, keep_until)
            .await
            .unwrap()
    );
}

pub async fn a_live_stream_keeps_its_member_present_until_it_stops(store: Arc<dyn RoomStore>) {
    let key = RoomKey::new(RoomType::Multi, "r");
    join(&*store, &key, "a", T0).await;
    join(&*store, &key, "b", T0).await;
    join(&*store, &key, "c", T0).await;
    // Neither a nor b beats again; the relay reports a's stream live at +15 s.
    assert_eq!(
        store
            .stream_report("8888_a_0001", LIVE, T0 + 15_000)
            .await
            .unwrap(),
        1
    );
    assert!(
        store
            .heartbeat(&key, "c", T0 + 15_000 + TIMEOUT, T0 + 15_000)
            .await
            .unwrap()
    );
    let after_heartbeats = T0 + TIMEOUT + 1;
    assert_eq!(
        streams_live(&*store, &key, after_heartbeats).await,
        [("a".to_owned(), true), ("c".to_owned(), false)],
        "a stays while its stream is live; b, silent and not streaming, is gone"
    );
    assert_eq!(
        store
            .stream_report("8888_a_0001", LIVE, T0 + 15_500)
            .await
            .unwrap(),
        1
    );
    // A re-join with the same stream keeps the report.
    store
        .join(join_request(&key, "a", T0 + 16_000, 4))
        .await
        .unwrap();
    assert_eq!(
        streams_live(&*store, &key, T0 + 16_000).await[0],
        ("a".to_owned(), true)
    );
    // The stream stops at +30 s: a is no longer live and leaves when its deadline (the
    // re-join's, +16 s + timeout = +36 s) passes, unless it beats.
    assert_eq!(
        store
            .stream_report("8888_a_0001", StreamReport::Stopped, T0 + 30_000)
            .await
            .unwrap(),
        1
    );
    assert!(
        store
            .heartbeat(&key, "c", T0 + 34_000 + TIMEOUT, T0 + 34_000)
            .await
            .unwrap()
    );
    assert_eq!(
        streams_live(&*store, &key, T0 + 35_999).await,
        [("a".to_owned(), false), ("c".to_owned(), false)]
    );
    assert_eq!(member_ids(&*store, &key, T0 + 36_000).await.unwrap(), ["c"]);
    store.sweep(T0 + 36_000).await.unwrap();
    let kinds = event_kinds(&*store, &key).await;
    assert!(
        kinds.contains(&left("a", LeaveReason::Timeout)),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&left("b", LeaveReason::Timeout)),
        "{kinds:?}"
    );
    // The stream going up and down are room events, once each (the re-join and later reports
    // of a stream already live record nothing).
    let stream_events: Vec<_> = kinds
        .iter()
        .filter(|k| matches!(k, EventKind::StreamUp { .. } | EventKind::StreamDown { .. }))
        .collect();
    let stream = || "8888_a_0001".to_owned();
    assert_eq!(
        stream_events,
        [
            &EventKind::StreamUp {
                user_id: "a".into(),
                stream: stream()
            },
            &EventKind::StreamDown {
                user_id: "a".into(),
                stream: stream()
            }
        ]
    );
}

pub async fn stream_reports_reach_every_room_and_never_revive(store: Arc<dyn RoomStore>) {
    let one = RoomKey::new(RoomType::Double, "one");
    let two = RoomKey::new(RoomType::Live, "two");
    join(&*store, &one, "a", T0).await;
    join(&*store, &two, "a", T0).await;
    join(&*store, &two, "b", T0).await;
    assert_eq!(
        store
            .stream_report("8888_a_0001", LIVE, T0 + 5_000)
            .await
            .unwrap(),
        2,
        "the same stream in two rooms"
    );
    assert_eq!(
        store
            .stream_report("8888_nobody_0001", LIVE, T0)
            .await
            .unwrap(),
        0
    );
    // b's deadline passed before any report: a report cannot bring it back.
    assert_eq!(
        store
            .stream_report("8888_b_0001", LIVE, T0 + TIMEOUT)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        streams_live(&*store, &two, T0 + TIMEOUT).await,
        [("a".to_owned(), true)]
    );
    // A member who left is not reported on.
    store.leave(&one, "a", T0 + 1_000).await.unwrap();
    assert_eq!(
        store
            .stream_report("8888_a_0001", LIVE, T0 + 2_000)
            .await
            .unwrap(),
        1
    );
}
