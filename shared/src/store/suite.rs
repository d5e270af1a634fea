//! The behaviour every [`RoomStore`] must show. Each case is a public async function over a
//! fresh store; [`room_store_suite!`](crate::room_store_suite) turns them into `#[tokio::test]`s
//! for an implementation:
//!
//! ```ignore
//! rtcroom_shared::room_store_suite!(|| async { Arc::new(EmbeddedStore::new()) as Arc<dyn RoomStore> });
//! ```
//!
//! Time is passed explicitly (`T0` plus offsets), never slept.

use std::sync::Arc;

use super::{
    AudienceOutcome, CreateOutcome, CustomOutcome, DestroyOutcome, JoinOutcome, JoinRequest,
    LeaveOutcome, Message, MessageOutcome, RoomStore, StreamReport,
};
use crate::model::{
    Audience, CustomOp, DissolveReason, EventKind, INACTIVE_ROOM_RECLAIM_MS, LeaveReason, Member,
    RoomKey, RoomType,
};

/// An arbitrary start time (2024-01-01T00:00:00Z).
pub const T0: u64 = 1_704_067_200_000;
/// Heartbeat timeout used throughout the suite.
pub const TIMEOUT: u64 = 20_000;

/// Every case, for the macro.
#[macro_export]
macro_rules! room_store_suite {
    ($make:expr) => {
        $crate::room_store_suite!(@cases $make;
            create_refuses_a_present_or_pending_id,
            inactive_room_is_invisible_and_reclaimed_after_30s,
            first_join_activates_and_makes_the_creator,
            join_of_unknown_room_creates_it_or_says_no_room,
            rejoin_updates_without_taking_another_seat,
            capacity_counts_live_members_only,
            member_vanishes_from_reads_the_moment_its_timeout_passes,
            heartbeat_extends_presence_only_for_live_members,
            a_live_stream_keeps_its_member_present_until_it_stops,
            member_changes_end_each_write_with_one_pusher_change,
            messages_come_from_present_users_and_kickout_removes,
            stream_reports_reach_every_room_and_never_revive,
            sweep_evicts_expired_members_and_records_timeouts,
            live_room_ends_when_its_creator_leaves,
            live_room_ends_at_once_when_its_creator_times_out,
            double_and_multi_rooms_end_with_their_last_member,
            only_the_creator_destroys_a_room,
            room_list_pages_present_rooms_in_creation_order,
            audiences_join_leave_and_are_capped,
            custom_counters_change_atomically,
            a_room_holds_at_most_32_custom_fields,
            event_numbers_keep_rising_across_room_lifetimes,
            concurrent_joins_admit_exactly_the_capacity,
            concurrent_creates_of_one_id_make_one_room,
            concurrent_counter_increments_are_not_lost,
            logout_revokes_sessions_issued_up_to_a_moment_and_never_moves_back
        );
    };
    (@cases $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let store = ($make)().await;
                $crate::store::suite::$case(store).await;
            }
        )*
    };
}

pub fn member(user: &str, now_ms: u64) -> Member {
    Member {
        user_id: user.to_owned(),
        user_name: format!("name of {user}"),
        user_avatar: format!("https://avatar.example/{user}.png"),
        stream_id: format!("8888_{user}_0001"),
        push_url: format!("rtmp://push.example/live/8888_{user}_0001"),
        joined_at_ms: now_ms,
        alive_until_ms: now_ms + TIMEOUT,
        stream_live_until_ms: 0,
    }
}

fn join_request(key: &RoomKey, user: &str, now_ms: u64, capacity: u32) -> JoinRequest {
    JoinRequest {
        key: key.clone(),
        member: member(user, now_ms),
        capacity,
        create_with_info: Some(format!("room by {user}")),
        room_info: None,
        now_ms,
    }
}

async fn join(store: &dyn RoomStore, key: &RoomKey, user: &str, now_ms: u64) -> JoinOutcome {
    store
        .join(join_request(key, user, now_ms, 4))
        .await
        .unwrap()
}

async fn member_ids(store: &dyn RoomStore, key: &RoomKey, now_ms: u64) -> Option<Vec<String>> {
    store
        .room(key, now_ms)
        .await
        .unwrap()
        .map(|r| r.members.into_iter().map(|m| m.user_id).collect())
}

/// The room's events but the `PusherChange` markers (a case of their own checks those).
async fn event_kinds(store: &dyn RoomStore, key: &RoomKey) -> Vec<EventKind> {
    all_event_kinds(store, key)
        .await
        .into_iter()
        .filter(|k| *k != EventKind::PusherChange)
        .collect()
}

async fn all_event_kinds(store: &dyn RoomStore, key: &RoomKey) -> Vec<EventKind> {
    store
        .events_since(key, 0, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect()
}

fn left(user: &str, reason: LeaveReason) -> EventKind {
    EventKind::MemberLeft {
        user_id: user.into(),
        reason,
    }
}

fn joined(user: &str) -> EventKind {
    EventKind::MemberJoined {
        user_id: user.into(),
        user_name: format!("name of {user}"),
        user_avatar: format!("https://avatar.example/{user}.png"),
    }
}

const JOINED: JoinOutcome = JoinOutcome::Joined {
    created: false,
    updated: false,
};
const CREATED: JoinOutcome = JoinOutcome::Joined {
    created: true,
    updated: false,
};

pub async fn create_refuses_a_present_or_pending_id(store: Arc<dyn RoomStore>) {
    let key = RoomKey::new(RoomType::Multi, "r1");
    assert_eq!(
        store.create_room(&key, "owner", "info", T0).await.unwrap(),
        CreateOutcome::Created
    );
    assert_eq!(
        store
            .create_room(&key, "owner", "info", T0 + 1)
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
            .create_room(&key, "owner", "info", T0 + INACTIVE_ROOM_RECLAIM_MS + 1)
            .await
            .unwrap(),
        CreateOutcome::Exists,
        "a present room keeps its id past the inactive-room deadline"
    );
    let other_type = RoomKey::new(RoomType::Live, "r1");
    assert_eq!(
        store
            .create_room(&other_type, "owner", "info", T0)
            .await
            .unwrap(),
        CreateOutcome::Created,
        "room ids are per room type"
    );
}

pub async fn inactive_room_is_invisible_and_reclaimed_after_30s(store: Arc<dyn RoomStore>) {
    let key = RoomKey::new(RoomType::Double, "pending");
    store.create_room(&key, "owner", "info", T0).await.unwrap();
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
            .create_room(&key, "owner", "x", deadline - 1)
            .await
            .unwrap(),
        CreateOutcome::Exists
    );
    assert_eq!(
        store
            .create_room(&key, "owner", "x", deadline)
            .await
            .unwrap(),
        CreateOutcome::Created
    );
    let swept = RoomKey::new(RoomType::Double, "swept");
    store
        .create_room(&swept, "owner", "info", T0)
        .await
        .unwrap();
    assert_eq!(store.sweep(deadline).await.unwrap().reclaimed_rooms, 1);
}

pub async fn first_join_activates_and_makes_the_creator(store: Arc<dyn RoomStore>) {
    let key = RoomKey::new(RoomType::Multi, "r1");
    store
        .create_room(&key, "owner", "the info", T0)
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

fn viewer(user: &str, now_ms: u64) -> Audience {
    Audience {
        user_id: user.into(),
        user_info: format!("{{\"nick\":\"{user}\"}}"),
        joined_at_ms: now_ms,
        alive_until_ms: now_ms + 3_600_000,
    }
}

fn text(from: &str, msg: &str) -> Message {
    Message {
        from: from.into(),
        kind: EventKind::ChatText {
            user_id: from.into(),
            nick_name: from.into(),
            head_pic: String::new(),
            msg: msg.into(),
        },
        kickout: false,
    }
}

fn linkmic(from: &str, to: &str, kind: &str) -> Message {
    Message {
        from: from.into(),
        kind: EventKind::LinkMic {
            from: from.into(),
            to: to.into(),
            data: format!(r#"{{"type":"{kind}"}}"#),
        },
        kickout: kind == "kickout",
    }
}

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

const LIVE: StreamReport = StreamReport::Live {
    keep_alive_ms: [TIMEOUT; 3],
};

/// Who is present, and whether the relay reports their streams live.
async fn streams_live(store: &dyn RoomStore, key: &RoomKey, now_ms: u64) -> Vec<(String, bool)> {
    store
        .room(key, now_ms)
        .await
        .unwrap()
        .map(|r| {
            r.members
                .into_iter()
                .map(|m| (m.user_id.clone(), m.stream_live(now_ms)))
                .collect()
        })
        .unwrap_or_default()
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
                .create_room(&key, "owner", "again", T0 + 3)
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
            .create_room(&key, "owner", &format!("info{i}"), T0 + i)
            .await
            .unwrap();
        // Joined in reverse order: the list follows creation, not activation.
        join(&*store, &key, "a", T0 + 100 - i).await;
    }
    store
        .create_room(&RoomKey::new(RoomType::Multi, "inactive"), "owner", "", T0)
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

pub async fn concurrent_joins_admit_exactly_the_capacity(store: Arc<dyn RoomStore>) {
    for (room_type, capacity) in [(RoomType::Multi, 4u32), (RoomType::Double, 2)] {
        let key = RoomKey::new(room_type, "crowded");
        let tasks: Vec<_> = (0..1000)
            .map(|i| {
                let store = store.clone();
                let key = key.clone();
                tokio::spawn(async move {
                    store
                        .join(join_request(&key, &format!("user{i}"), T0, capacity))
                        .await
                        .unwrap()
                })
            })
            .collect();
        let mut admitted = 0;
        for task in tasks {
            match task.await.unwrap() {
                JoinOutcome::Joined { .. } => admitted += 1,
                JoinOutcome::Full => {}
                JoinOutcome::NoRoom => panic!("joins create the room"),
                JoinOutcome::LimitReached(limit) => panic!("{limit:?} reached"),
            }
        }
        assert_eq!(admitted, capacity, "{room_type}");
        let room = store.room(&key, T0).await.unwrap().unwrap();
        assert_eq!(room.members.len(), capacity as usize);
        let joins = event_kinds(&*store, &key).await.len();
        assert_eq!(joins, capacity as usize, "one event per admitted join");
    }
}

pub async fn concurrent_creates_of_one_id_make_one_room(store: Arc<dyn RoomStore>) {
    let key = RoomKey::new(RoomType::Multi, "contested");
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let store = store.clone();
            let key = key.clone();
            tokio::spawn(async move {
                store
                    .create_room(&key, "owner", &format!("by {i}"), T0)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut created = 0;
    for task in tasks {
        if task.await.unwrap() == CreateOutcome::Created {
            created += 1;
        }
    }
    assert_eq!(created, 1);
}

pub async fn concurrent_counter_increments_are_not_lost(store: Arc<dyn RoomStore>) {
    let key = RoomKey::new(RoomType::Live, "show");
    join(&*store, &key, "anchor", T0).await;
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let store = store.clone();
            let key = key.clone();
            tokio::spawn(async move {
                store
                    .update_custom(&key, "anchor", "likes", CustomOp::Inc(1), T0)
                    .await
                    .unwrap()
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let room = store.room(&key, T0).await.unwrap().unwrap();
    assert_eq!(room.custom.get("likes"), Some(&100));
}

pub async fn logout_revokes_sessions_issued_up_to_a_moment_and_never_moves_back(
    store: Arc<dyn RoomStore>,
) {
    let keep = T0 / 1000 + 100;
    assert_eq!(store.sessions_revoked_through("u1", T0).await.unwrap(), 0);
    assert!(store.revoke_sessions("u1", T0 - 5_000, keep).await.unwrap());
    assert_eq!(
        store.sessions_revoked_through("u1", T0).await.unwrap(),
        T0 - 5_000
    );
    // An older token logging out later revokes nothing new.
    assert!(store.revoke_sessions("u1", T0 - 9_000, keep).await.unwrap());
    assert_eq!(
        store.sessions_revoked_through("u1", T0).await.unwrap(),
        T0 - 5_000
    );
    assert_eq!(store.sessions_revoked_through("u2", T0).await.unwrap(), 0);
    // Once every revoked token has expired, the revocation is gone.
    let later = T0 + 101_000;
    store.sweep(later).await.unwrap();
    assert_eq!(
        store.sessions_revoked_through("u1", later).await.unwrap(),
        0
    );
}
