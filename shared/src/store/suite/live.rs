//! Audiences, counters and event numbering.

use super::*;

pub async fn audiences_join_leave_and_are_capped(store: Arc<dyn RoomStore>) {
    let key = RoomKey::new(RoomType::Live, "show");
    assert_eq!(
        store
            .add_audience(&key, viewer("v1", T0), 2, T0)
            .await
            .unwrap(),
        AudienceOutcome::NoRoom
    );
    assert_eq!(store.audiences(&key, T0).await.unwrap(), None);
    join(&*store, &key, "anchor", T0).await;
    assert_eq!(
        store
            .add_audience(&key, viewer("v1", T0), 2, T0)
            .await
            .unwrap(),
        AudienceOutcome::Added
    );
    assert_eq!(
        store
            .add_audience(&key, viewer("v2", T0), 2, T0)
            .await
            .unwrap(),
        AudienceOutcome::Added
    );
    assert_eq!(
        store
            .add_audience(&key, viewer("v3", T0), 2, T0)
            .await
            .unwrap(),
        AudienceOutcome::Full
    );
    assert_eq!(
        store
            .add_audience(&key, viewer("v1", T0 + 1), 2, T0 + 1)
            .await
            .unwrap(),
        AudienceOutcome::Added,
        "a viewer already in does not need a new place"
    );
    let list = store.audiences(&key, T0 + 1).await.unwrap().unwrap();
    assert_eq!(
        list.iter().map(|a| a.user_id.as_str()).collect::<Vec<_>>(),
        ["v1", "v2"]
    );
    assert_eq!(
        store
            .room(&key, T0 + 1)
            .await
            .unwrap()
            .unwrap()
            .audience_count,
        2
    );
    assert!(store.remove_audience(&key, "v1", T0 + 2).await.unwrap());
    assert!(!store.remove_audience(&key, "v1", T0 + 2).await.unwrap());
    assert_eq!(
        store
            .add_audience(&key, viewer("v3", T0 + 3), 2, T0 + 3)
            .await
            .unwrap(),
        AudienceOutcome::Added
    );
    let events = event_kinds(&*store, &key).await;
    assert!(events.contains(&EventKind::AudienceLeft {
        user_id: "v1".into(),
        reason: LeaveReason::Left
    }));
}

pub async fn custom_counters_change_atomically(store: Arc<dyn RoomStore>) {
    let key = RoomKey::new(RoomType::Live, "show");
    assert_eq!(
        store
            .update_custom(&key, "anchor", "likes", CustomOp::Inc(1), T0)
            .await
            .unwrap(),
        CustomOutcome::NoRoom
    );
    join(&*store, &key, "anchor", T0).await;
    store
        .update_custom(&key, "anchor", "likes", CustomOp::Inc(1), T0)
        .await
        .unwrap();
    store
        .update_custom(&key, "anchor", "likes", CustomOp::Inc(1), T0)
        .await
        .unwrap();
    store
        .update_custom(&key, "anchor", "gifts", CustomOp::Set(10), T0)
        .await
        .unwrap();
    let CustomOutcome::Updated(custom) = store
        .update_custom(&key, "anchor", "gifts", CustomOp::Dec(3), T0)
        .await
        .unwrap()
    else {
        panic!("the room is present");
    };
    assert_eq!(custom.get("likes"), Some(&2));
    assert_eq!(custom.get("gifts"), Some(&7));
    assert_eq!(store.room(&key, T0).await.unwrap().unwrap().custom, custom);
    // Only the room's members and viewers change its counters.
    assert_eq!(
        store
            .update_custom(&key, "stranger", "likes", CustomOp::Set(-5), T0)
            .await
            .unwrap(),
        CustomOutcome::NotPresent
    );
    store
        .add_audience(&key, viewer("v1", T0), 10, T0)
        .await
        .unwrap();
    assert!(matches!(
        store
            .update_custom(&key, "v1", "likes", CustomOp::Inc(1), T0)
            .await
            .unwrap(),
        CustomOutcome::Updated(c) if c.get("likes") == Some(&3)
    ));
}

pub async fn a_room_holds_at_most_32_custom_fields(store: Arc<dyn RoomStore>) {
    let key = RoomKey::new(RoomType::Live, "show");
    join(&*store, &key, "anchor", T0).await;
    for i in 0..crate::model::MAX_CUSTOM_FIELDS {
        let outcome = store
            .update_custom(&key, "anchor", &format!("f{i}"), CustomOp::Set(1), T0)
            .await
            .unwrap();
        assert!(matches!(outcome, CustomOutcome::Updated(_)), "field {i}");
    }
    assert_eq!(
        store
            .update_custom(&key, "anchor", "one_more", CustomOp::Inc(1), T0)
            .await
            .unwrap(),
        CustomOutcome::TooManyFields
    );
    assert!(matches!(
        store
            .update_custom(&key, "anchor", "f0", CustomOp::Inc(1), T0)
            .await
            .unwrap(),
        CustomOutcome::Updated(_)
    ));
}

pub async fn event_numbers_keep_rising_across_room_lifetimes(store: Arc<dyn RoomStore>) {
    let key = RoomKey::new(RoomType::Multi, "r");
    join(&*store, &key, "a", T0).await;
    join(&*store, &key, "b", T0).await;
    store.leave(&key, "a", T0).await.unwrap();
    store.leave(&key, "b", T0).await.unwrap();
    join(&*store, &key, "c", T0 + 1).await;
    let events = store.events_since(&key, 0, 100).await.unwrap();
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    // joined+change, joined+change, left+change, left+dissolved, joined+change
    assert_eq!(seqs, (1..=10).collect::<Vec<_>>(), "{events:?}");
    assert_eq!(store.last_seq(&key).await.unwrap(), 10);
    let tail = store.events_since(&key, 8, 100).await.unwrap();
    assert_eq!(tail.iter().map(|e| e.seq).collect::<Vec<_>>(), [9, 10]);
    assert_eq!(store.events_since(&key, 0, 2).await.unwrap().len(), 2);
    assert!(
        store
            .events_since(&RoomKey::new(RoomType::Multi, "none"), 0, 10)
            .await
            .unwrap()
            .is_empty()
    );
}
