//! Presence by heartbeat: members stay for the timeout, vanish at it without waiting for any
//! sweep, and a timed-out member counts as gone for every rule. These cases wait about one
//! heartbeat timeout (`--heartbeat-timeout`).

use std::sync::Arc;
use std::time::Duration;

use crate::case;
use crate::case::{Case, Ctx, User};

use crate::client::{Check, ensure};

pub fn cases() -> Vec<Case> {
    vec![
        case!(
            "presence.silent_member_leaves_at_the_timeout",
            ["PRES-1", "PRES-2"],
            silent_member
        ),
        case!(
            "presence.heartbeat_keeps_a_member",
            ["PRES-3", "ROOM-10"],
            heartbeat_keeps
        ),
        case!(
            "presence.timed_out_seat_is_free",
            ["PRES-4", "ROOM-7"],
            seat_freed
        ),
        case!(
            "presence.live_room_creator_timeout_ends_it",
            ["PRES-4", "ROOM-9"],
            creator_times_out
        ),
    ]
}

/// Margin past a deadline before absence is demanded: clocks and requests take time.
const MARGIN: Duration = Duration::from_millis(1500);

async fn silent_member(ctx: Arc<Ctx>) -> Check {
    let [keeper, silent]: [User; 2] = ctx.users("presence", 2).await?.try_into().expect("two");
    let room = ctx.unique("presence");
    ctx.join(&keeper, "multi_room", &room).await?;
    let _beating = ctx.keep_beating(&keeper, "multi_room", &room);
    ctx.join(&silent, "multi_room", &room).await?;
    ctx.wait_timeout_share(50, Duration::ZERO).await;
    let members = ctx
        .members(&keeper, "multi_room", &room)
        .await?
        .unwrap_or_default();
    ensure(
        members.contains(&silent.id),
        "PRES-1: a member present half a timeout after joining",
        || format!("{members:?}"),
    )?;
    ctx.wait_timeout_share(50, MARGIN).await;
    let members = ctx
        .members(&keeper, "multi_room", &room)
        .await?
        .unwrap_or_default();
    ensure(
        members == vec![keeper.id.clone()],
        "PRES-2: the silent member gone from get_pushers just after its deadline",
        || format!("{members:?}"),
    )?;
    let listed = ctx.room_list(&keeper, "multi_room").await?;
    let entry = listed.iter().find(|r| r["roomID"] == room.as_str());
    ensure(
        entry.is_some_and(|r| {
            r["pushers"]
                .as_array()
                .is_some_and(|p| p.len() == 1 && p[0]["userID"] == keeper.id.as_str())
        }),
        "PRES-2: get_room_list shows the room without the silent member",
        || format!("{entry:?}"),
    )
}

async fn heartbeat_keeps(ctx: Arc<Ctx>) -> Check {
    let [member, stranger]: [User; 2] = ctx.users("beat", 2).await?.try_into().expect("two");
    let room = ctx.unique("beat");
    ctx.join(&member, "double_room", &room).await?;
    for _ in 0..3 {
        ctx.wait_timeout_share(50, Duration::ZERO).await;
        let beat = ctx.heartbeat(&member, "double_room", &room).await?;
        ctx.expect(&beat, 0, "PRES-3: pusher_heartbeat by a present member")?;
    }
    let members = ctx.members(&member, "double_room", &room).await?;
    ensure(
        members == Some(vec![member.id.clone()]),
        "PRES-3: a beating member present after 1.5 timeouts",
        || format!("{members:?}"),
    )?;
    let stray = ctx.heartbeat(&stranger, "double_room", &room).await?;
    ctx.expect(&stray, 5, "PRES-3: pusher_heartbeat by a non-member")?;
    ctx.wait_timeout_share(100, MARGIN).await;
    let late = ctx.heartbeat(&member, "double_room", &room).await?;
    ctx.expect(
        &late,
        5,
        "PRES-3: pusher_heartbeat after the deadline passed",
    )?;
    let gone = ctx.pushers(&member, "double_room", &room).await?;
    ctx.expect(
        &gone,
        3,
        "ROOM-10: the room ends when its last member times out",
    )
}

async fn seat_freed(ctx: Arc<Ctx>) -> Check {
    let [a, b, c]: [User; 3] = ctx.users("seat", 3).await?.try_into().expect("three");
    let room = ctx.unique("seat");
    ctx.join(&a, "double_room", &room).await?;
    let _beating = ctx.keep_beating(&a, "double_room", &room);
    ctx.join(&b, "double_room", &room).await?;
    let full = ctx.add_pusher(&c, "double_room", &room).await?;
    ctx.expect(&full, 5001, "ROOM-7: the double room is full")?;
    ctx.wait_timeout_share(100, MARGIN).await;
    let joined = ctx.add_pusher(&c, "double_room", &room).await?;
    ctx.expect(&joined, 0, "PRES-4: the timed-out member's seat is free")
}

async fn creator_times_out(ctx: Arc<Ctx>) -> Check {
    let [anchor, guest]: [User; 2] = ctx.users("anchor", 2).await?.try_into().expect("two");
    let room = ctx.unique("anchorroom");
    ctx.join(&anchor, "live_room", &room).await?;
    ctx.join(&guest, "live_room", &room).await?;
    let _beating = ctx.keep_beating(&guest, "live_room", &room);
    ctx.wait_timeout_share(100, MARGIN).await;
    let gone = ctx.pushers(&guest, "live_room", &room).await?;
    ctx.expect(
        &gone,
        3,
        "PRES-4: a live_room ends when its creator times out",
    )
}
