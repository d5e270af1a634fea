//! How rooms end and are listed.

use super::*;

pub async fn sweep_evicts_expired_members_and_records_timeouts(store: Arc<dyn RoomStore>) {
    let key = RoomKey::new(RoomType::Multi, "r");
    join(&*store, &key, "a", T0).await;
    join(&*store, &key, "b", T0 + 10_000).await;
    let report = store.sweep(T0 + TIMEOUT).await.unwrap();
    assert_eq!(report.evicted_members, 1);
    assert_eq!(report.dissolved_rooms, 0);
    assert_eq!(
        event_kinds(&*store, &key).await.last(),
        Some(&left("a", LeaveReason::Timeout))
    );
    assert_eq!(
        store.sweep(T0 + TIMEOUT).await.unwrap().evicted_members,
        0,
        "evicted once"
    );
    let report = store.sweep(T0 + 10_000 + TIMEOUT).await.unwrap();
    assert_eq!((report.evicted_members, report.dissolved_rooms), (1, 1));
    let events = event_kinds(&*store, &key).await;
    assert_eq!(
        events[events.len() - 2..],
        [
            left("b", LeaveReason::Timeout),
            EventKind::RoomDissolved {
                reason: DissolveReason::Empty
            }
        ]
    );
}

pub async fn live_room_ends_when_its_creator_leaves(store: Arc<dyn RoomStore>) {
    let key = RoomKey::new(RoomType::Live, "show");
    join(&*store, &key, "anchor", T0).await;
    join(&*store, &key, "guest", T0).await;
    assert_eq!(
        store.leave(&key, "guest", T0 + 1).await.unwrap(),
        LeaveOutcome::Left { dissolved: false }
    );
    assert_eq!(
        store.leave(&key, "guest", T0 + 2).await.unwrap(),
        LeaveOutcome::NotMember
    );
    join(&*store, &key, "guest", T0 + 3).await;
    assert_eq!(
        store.leave(&key, "anchor", T0 + 4).await.unwrap(),
        LeaveOutcome::Left { dissolved: true }
    );
    assert_eq!(store.room(&key, T0 + 5).await.unwrap(), None);
    assert_eq!(
        store.leave(&key, "guest", T0 + 5).await.unwrap(),
        LeaveOutcome::NotMember
    );
    assert_eq!(
        event_kinds(&*store, &key).await.last(),
        Some(&EventKind::RoomDissolved {
            reason: DissolveReason::CreatorLeft
        })
    );
}

pub async fn live_room_ends_at_once_when_its_creator_times_out(store: Arc<dyn RoomStore>) {
    let key = RoomKey::new(RoomType::Live, "show");
    join(&*store, &key, "anchor", T0).await;
    join(&*store, &key, "guest", T0 + 10_000).await;
    assert!(store.room(&key, T0 + TIMEOUT - 1).await.unwrap().is_some());
    assert_eq!(
        store.room(&key, T0 + TIMEOUT).await.unwrap(),
        None,
        "guest alone is no show"
    );
    // A heartbeat refreshes the guest's own entry (one write, no room check), but the room
    // stays gone for every reader, and the sweep ends it.
    store
        .heartbeat(&key, "guest", T0 + 2 * TIMEOUT, T0 + TIMEOUT)
        .await
        .unwrap();
    assert_eq!(store.room(&key, T0 + TIMEOUT).await.unwrap(), None);
    assert_eq!(store.sweep(T0 + TIMEOUT).await.unwrap().dissolved_rooms, 1);
    assert!(
        !store
            .heartbeat(&key, "guest", T0 + 2 * TIMEOUT, T0 + TIMEOUT)
            .await
            .unwrap(),
        "nobody can beat in a dissolved room"
    );
    // Joining the id again starts a new room with a new creator, after recording the end.
    assert_eq!(
        join(&*store, &key, "guest", T0 + TIMEOUT + 1).await,
        CREATED
    );
    let events = event_kinds(&*store, &key).await;
    assert!(events.contains(&EventKind::RoomDissolved {
        reason: DissolveReason::CreatorTimeout
    }));
    assert_eq!(
        store
            .room(&key, T0 + TIMEOUT + 1)
            .await
            .unwrap()
            .unwrap()
            .creator,
        "guest"
    );
}

pub async fn double_and_multi_rooms_end_with_their_last_member(store: Arc<dyn RoomStore>) {
    for room_type in [RoomType::Double, RoomType::Multi] {
        let key = RoomKey::new(room_type, "talk");
        join(&*store, &key, "a", T0).await;
        join(&*store, &key, "b", T0).await;
        assert_eq!(
            store.leave(&key, "a", T0 + 1).await.unwrap(),
            LeaveOutcome::Left { dissolved: false },
            "the creator may leave a {room_type}"
        );
        assert_eq!(
            store.room(&key, T0 + 1).await.unwrap().unwrap().creator,
            "a"
        );
        assert_eq!(
            store.leave(&key, "b", T0 + 2).await.unwrap(),
            LeaveOutcome::Left { dissolved: true }
        );
        assert_eq!(store.room(&key, T0 + 2).await.unwrap(), None);
        assert_eq!(
            store
                .create_room(&key, "owner", "again", false, T0 + 3)
                .await
                .unwrap(),
            CreateOutcome::Created
        );
    }
}

pub async fn only_the_creator_destroys_a_room(store: Arc<dyn RoomStore>) {
    let key = RoomKey::new(RoomType::Multi, "r");
    assert_eq!(
        store.destroy_room(&key, "a", T0).await.unwrap(),
        DestroyOutcome::NoRoom
    );
    join(&*store, &key, "a", T0).await;
    join(&*store, &key, "b", T0).await;
    assert_eq!(
        store.destroy_room(&key, "b", T0 + 1).await.unwrap(),
        DestroyOutcome::NotCreator
    );
    assert_eq!(
        store.destroy_room(&key, "a", T0 + 2).await.unwrap(),
        DestroyOutcome::Destroyed
    );
    assert_eq!(store.room(&key, T0 + 2).await.unwrap(), None);
    assert_eq!(
        event_kinds(&*store, &key).await.last(),
        Some(&EventKind::RoomDissolved {
            reason: DissolveReason::Destroyed
        })
    );
}

pub async fn room_list_pages_present_rooms_in_creation_order(store: Arc<dyn RoomStore>) {
    for i in 0..7u64 {
        let key = RoomKey::new(RoomType::Multi, format!("room{i}"));
        store
            .create_room(&key, "owner", &format!("info{i}"), false, T0 + i)
            .await
            .unwrap();
        // Joined in reverse order: the list follows creation, not activation.
        join(&*store, &key, "a", T0 + 100 - i).await;
    }
    store
        .create_room(
            &RoomKey::new(RoomType::Multi, "inactive"),
            "owner",
            "",
            false,
            T0,
        )
        .await
        .unwrap();
    join(
        &*store,
        &RoomKey::new(RoomType::Live, "other type"),
        "a",
        T0,
    )
    .await;
    let ids = |rooms: Vec<crate::model::RoomView>| {
        rooms.into_iter().map(|r| r.key.room_id).collect::<Vec<_>>()
    };
    let now = T0 + 200;
    assert_eq!(
        ids(store.list_rooms(RoomType::Multi, 0, 3, now).await.unwrap()),
        ["room0", "room1", "room2"]
    );
    assert_eq!(
        ids(store.list_rooms(RoomType::Multi, 3, 3, now).await.unwrap()),
        ["room3", "room4", "room5"]
    );
    assert_eq!(
        ids(store.list_rooms(RoomType::Multi, 6, 3, now).await.unwrap()),
        ["room6"]
    );
    assert!(
        store
            .list_rooms(RoomType::Multi, 7, 3, now)
            .await
            .unwrap()
            .is_empty()
    );
    store
        .leave(&RoomKey::new(RoomType::Multi, "room1"), "a", now)
        .await
        .unwrap();
    assert_eq!(
        ids(store.list_rooms(RoomType::Multi, 0, 2, now).await.unwrap()),
        ["room0", "room2"]
    );
}
