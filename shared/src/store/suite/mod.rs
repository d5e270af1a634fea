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

mod concurrency;
mod lifecycle;
mod live;
mod messages;
mod rooms;
mod sessions;

pub use concurrency::*;
pub use lifecycle::*;
pub use live::*;
pub use messages::*;
pub use rooms::*;
pub use sessions::*;

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
            a_heartbeat_never_shortens_a_later_deadline,
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
            logout_revokes_sessions_issued_up_to_a_moment_and_never_moves_back,
            recordings_are_filed_once_per_path_in_start_order_and_lapse,
            a_room_created_to_be_recorded_stays_so_until_it_ends
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
        record: None,
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
