//! Creating, joining, capacity and presence of rooms.

use super::*;

pub async fn create_refuses_a_present_or_pending_id(store: Arc<dyn RoomStore>) {
    let key = RoomKey::new(RoomType::Multi, "r1");
    assert_eq!(
        store
            .create_room(&key, "owner", "info", false, T0)
            .await
            .unwrap(),
        CreateOutcome::Created
    );
    assert_eq!(
        store
            .create_room(&key, "owner", "info", false, T0 + 1)
            .await
            .unwrap(),
        CreateOutcome::Exists
    );
    assert_eq!(join(&*store, &key, "a", T0 + 2).await, JOINED);
    assert!(
        store
            .heartbeat(&key, "a", T0 + 15_000 + TIMEOUT, T0 + 15_000)
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .create_room(
                &key,
                "owner",
                "info",
                false,
                T0 + INACTIVE_ROOM_RECLAIM_MS + 1
            )
            .await
            .unwrap(),
        CreateOutcome::Exists,
        "a present room keeps its id past the inactive-room deadline"
    );
    let other_type = RoomKey::new(RoomType::Live, "r1");
    assert_eq!(
        store
            .create_room(&other_type, "owner", "info", false, T0)
            .await
            .unwrap(),
        CreateOutcome::Created,
        "room ids are per room type"
    );
}

/// `create_room`'s `record` is kept with the room while it is pending and once joined, and
/// goes with it; a room `add_pusher` creates is not recorded.
pub async fn a_room_created_to_be_recorded_stays_so_until_it_ends(store: Arc<dyn RoomStore>) {
    let recorded = RoomKey::new(RoomType::Multi, "kept");
    let plain = RoomKey::new(RoomType::Multi, "plain");
    let by_join = RoomKey::new(RoomType::Multi, "joined");
    store
        .create_room(&recorded, "owner", "i", true, T0)
        .await
        .unwrap();
    store
        .create_room(&plain, "owner", "i", false, T0)
        .await
        .unwrap();
    assert_eq!(
        store.room_recorded(&recorded, T0 + 1).await.unwrap(),
        Some(true)
    );
    assert_eq!(
        store.room_recorded(&plain, T0 + 1).await.unwrap(),
        Some(false)
    );
    assert_eq!(store.room_recorded(&by_join, T0 + 1).await.unwrap(), None);
    assert_eq!(join(&*store, &recorded, "a", T0 + 2).await, JOINED);
    assert!(matches!(
        join(&*store, &by_join, "b", T0 + 2).await,
        JoinOutcome::Joined { created: true, .. }
    ));
    assert_eq!(
        store.room_recorded(&recorded, T0 + 3).await.unwrap(),
        Some(true)
    );
    assert_eq!(
        store.room_recorded(&by_join, T0 + 3).await.unwrap(),
        Some(false)
    );
    // Joins that say whether their stream is recorded must match the room (checked in the
    // join's own write).
    let mut unrecorded_stream = join_request(&recorded, "b", T0 + 4, 4);
    unrecorded_stream.record = Some(false);
    assert_eq!(
        store.join(unrecorded_stream).await.unwrap(),
        JoinOutcome::RecordMismatch {
            room_recorded: true
        }
    );
    let mut recorded_stream = join_request(&recorded, "b", T0 + 4, 4);
    recorded_stream.record = Some(true);
    assert!(matches!(
        store.join(recorded_stream).await.unwrap(),
        JoinOutcome::Joined { created: false, .. }
    ));
    // A pending room past its reclaim deadline is gone; a room whose members timed out is
    // gone once a write ends it, and a join that asks for recording is refused there.
    let reclaimed = T0 + INACTIVE_ROOM_RECLAIM_MS;
    assert_eq!(store.room_recorded(&plain, reclaimed).await.unwrap(), None);
    let ended = T0 + 4 + TIMEOUT;
    let mut recorded_join = join_request(&recorded, "c", ended + 1, 4);
    recorded_join.record = Some(true);
    assert_eq!(
        store.join(recorded_join).await.unwrap(),
        JoinOutcome::RecordMismatch {
            room_recorded: false
        },
        "the recorded room ended; a join would start an unrecorded one"
    );
    assert_eq!(
        store.room_recorded(&recorded, ended + 1).await.unwrap(),
        None
    );
    // The id starts a new room, recorded only if its own create_room asks.
    assert!(matches!(
        join(&*store, &recorded, "c", ended + 1).await,
        JoinOutcome::Joined { created: true, .. }
    ));
    assert_eq!(
        store.room_recorded(&recorded, ended + 2).await.unwrap(),
        Some(false)
    );
}

pub async fn inactive_room_is_invisible_and_reclaimed_after_30s(store: Arc<dyn RoomStore>) {
    let key = RoomKey::new(RoomType::Double, "pending");
    store
        .create_room(&key, "owner", "info", false, T0)
        .await
        .unwrap();
    assert_eq!(store.room(&key, T0).await.unwrap(), None);
    assert!(
        store
            .list_rooms(RoomType::Double, 0, 10, T0)
            .await
            .unwrap()
            .is_empty()
    );
    let deadline = T0 + INACTIVE_ROOM_RECLAIM_MS;
    assert_eq!(
        store
            .create_room(&key, "owner", "x", false, deadline - 1)
            .await
            .unwrap(),
        CreateOutcome::Exists
    );
    assert_eq!(
        store
            .create_room(&key, "owner", "x", false, deadline)
            .await
            .unwrap(),
        CreateOutcome::Created
    );
    let swept = RoomKey::new(RoomType::Double, "swept");
    store
        .create_room(&swept, "owner", "info", false, T0)
        .await
        .unwrap();
    assert_eq!(store.sweep(deadline).await.unwrap().reclaimed_rooms, 1);
}

pub async fn first_join_activates_and_makes_the_creator(store: Arc<dyn RoomStore>) {
    let key = RoomKey::new(RoomType::Multi, "r1");
    store
        .create_room(&key, "owner", "the info", false, T0)
        .await
        .unwrap();
    assert_eq!(join(&*store, &key, "b", T0 + 1).await, JOINED);
    assert_eq!(join(&*store, &key, "c", T0 + 2).await, JOINED);
    let room = store
        .room(&key, T0 + 3)
        .await
        .unwrap()
        .expect("active room");
    assert_eq!(room.creator, "b");
    assert_eq!(room.room_info, "the info");
    assert_eq!(room.created_at_ms, T0);
    assert_eq!(member_ids(&*store, &key, T0 + 3).await.unwrap(), ["b", "c"]);
    assert_eq!(event_kinds(&*store, &key).await, [joined("b"), joined("c")]);
}

pub async fn join_of_unknown_room_creates_it_or_says_no_room(store: Arc<dyn RoomStore>) {
    let key = RoomKey::new(RoomType::Live, "fresh");
    let mut request = join_request(&key, "a", T0, 4);
    request.create_with_info = None;
    assert_eq!(store.join(request).await.unwrap(), JoinOutcome::NoRoom);
    assert_eq!(store.room(&key, T0).await.unwrap(), None);
    assert_eq!(join(&*store, &key, "a", T0).await, CREATED);
    let room = store.room(&key, T0).await.unwrap().unwrap();
    assert_eq!(
        (room.creator.as_str(), room.room_info.as_str()),
        ("a", "room by a")
    );
}

pub async fn rejoin_updates_without_taking_another_seat(store: Arc<dyn RoomStore>) {
    let key = RoomKey::new(RoomType::Double, "r");
    assert_eq!(join(&*store, &key, "a", T0).await, CREATED);
    let mut again = join_request(&key, "a", T0 + 5_000, 1);
    again.member.user_name = "renamed".into();
    assert_eq!(
        store.join(again).await.unwrap(),
        JoinOutcome::Joined {
            created: false,
            updated: true
        }
    );
    let room = store.room(&key, T0 + 5_000).await.unwrap().unwrap();
    assert_eq!(room.members.len(), 1);
    assert_eq!(room.members[0].user_name, "renamed");
    assert_eq!(
        room.members[0].joined_at_ms, T0,
        "an update keeps the join time"
    );
    assert_eq!(
        room.members[0].alive_until_ms,
        T0 + 5_000 + TIMEOUT,
        "and refreshes presence"
    );
    assert!(matches!(
        event_kinds(&*store, &key).await.last(),
        Some(EventKind::MemberUpdated { user_name, .. }) if user_name == "renamed"
    ));
}

pub async fn capacity_counts_live_members_only(store: Arc<dyn RoomStore>) {
    let key = RoomKey::new(RoomType::Double, "r");
    assert_eq!(
        store.join(join_request(&key, "a", T0, 2)).await.unwrap(),
        CREATED
    );
    assert_eq!(
        store
            .join(join_request(&key, "b", T0 + 1_000, 2))
            .await
            .unwrap(),
        JOINED
    );
    assert_eq!(
        store
            .join(join_request(&key, "c", T0 + 2_000, 2))
            .await
            .unwrap(),
        JoinOutcome::Full
    );
    // a's deadline passes (b's is 1 s later): a's seat is free at once, before any sweep.
    store
        .heartbeat(&key, "b", T0 + 15_000 + TIMEOUT, T0 + 15_000)
        .await
        .unwrap();
    let at = T0 + TIMEOUT;
    assert_eq!(
        store.join(join_request(&key, "c", at, 2)).await.unwrap(),
        JOINED
    );
    assert_eq!(member_ids(&*store, &key, at).await.unwrap(), ["b", "c"]);
    let events = event_kinds(&*store, &key).await;
    assert!(
        events.contains(&left("a", LeaveReason::Timeout)),
        "{events:?}"
    );
}

pub async fn member_vanishes_from_reads_the_moment_its_timeout_passes(store: Arc<dyn RoomStore>) {
    let key = RoomKey::new(RoomType::Multi, "r");
    join(&*store, &key, "a", T0).await;
    join(&*store, &key, "b", T0 + 5_000).await;
    assert_eq!(
        member_ids(&*store, &key, T0 + TIMEOUT - 1).await.unwrap(),
        ["a", "b"]
    );
    assert_eq!(
        member_ids(&*store, &key, T0 + TIMEOUT).await.unwrap(),
        ["b"]
    );
    let listed = store
        .list_rooms(RoomType::Multi, 0, 10, T0 + TIMEOUT)
        .await
        .unwrap();
    assert_eq!(listed[0].members.len(), 1);
    assert_eq!(
        store.room(&key, T0 + 5_000 + TIMEOUT).await.unwrap(),
        None,
        "nobody left"
    );
    assert!(
        store
            .list_rooms(RoomType::Multi, 0, 10, T0 + 5_000 + TIMEOUT)
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn heartbeat_extends_presence_only_for_live_members(store: Arc<dyn RoomStore>) {
    let key = RoomKey::new(RoomType::Multi, "r");
    join(&*store, &key, "a", T0).await;
    join(&*store, &key, "b", T0).await;
    assert!(
        store
            .heartbeat(&key, "a", T0 + 10_000 + TIMEOUT, T0 + 10_000)
            .await
            .unwrap()
    );
    assert_eq!(
        member_ids(&*store, &key, T0 + TIMEOUT).await.unwrap(),
        ["a"]
    );
    assert!(
        !store
            .heartbeat(&key, "b", T0 + TIMEOUT + TIMEOUT, T0 + TIMEOUT)
            .await
            .unwrap(),
        "an expired member cannot come back by heartbeat"
    );
    assert!(
        !store
            .heartbeat(&key, "nobody", T0 + TIMEOUT, T0)
            .await
            .unwrap()
    );
    let elsewhere = RoomKey::new(RoomType::Multi, "nowhere");
    assert!(
        !store
            .heartbeat(&elsewhere, "a", T0 + TIMEOUT, T0)
            .await
            .unwrap()
    );
}

pub async fn member_changes_end_each_write_with_one_pusher_change(store: Arc<dyn RoomStore>) {
    let key = RoomKey::new(RoomType::Multi, "r");
    join(&*store, &key, "a", T0).await;
    join(&*store, &key, "b", T0).await;
    join(&*store, &key, "c", T0).await;
    store
        .heartbeat(&key, "a", T0 + 10_000 + TIMEOUT, T0 + 10_000)
        .await
        .unwrap();
    // b and c time out together: one write, one change marker after both.
    store.sweep(T0 + TIMEOUT).await.unwrap();
    // The last member leaves: the room ends, and its end is its last event.
    store.leave(&key, "a", T0 + TIMEOUT + 1).await.unwrap();
    let change = EventKind::PusherChange;
    assert_eq!(
        all_event_kinds(&*store, &key).await,
        [
            joined("a"),
            change.clone(),
            joined("b"),
            change.clone(),
            joined("c"),
            change.clone(),
            left("b", LeaveReason::Timeout),
            left("c", LeaveReason::Timeout),
            change,
            left("a", LeaveReason::Left),
            EventKind::RoomDissolved {
                reason: DissolveReason::Empty
            },
        ]
    );
}
