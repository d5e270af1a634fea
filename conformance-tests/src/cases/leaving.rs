//! Leaving and ending rooms: a member and a stranger leaving, the live_room creator ending
//! it, double/multi rooms outliving their creator, destroy by the creator only; what
//! `get_pushers` shows; room-type namespaces.

use std::sync::Arc;

use serde_json::{Value, json};

use super::rooms::create;
use crate::case;
use crate::case::{Case, Ctx, User};
use crate::client::{Check, ensure};

pub fn cases() -> Vec<Case> {
    vec![
        case!(
            "delete_pusher.member_and_stranger",
            ["ROOM-8"],
            delete_member_and_stranger
        ),
        case!(
            "delete_pusher.live_room_creator_ends_it",
            ["ROOM-9"],
            live_creator_leaves
        ),
        case!(
            "delete_pusher.double_multi_outlive_creator",
            ["ROOM-10"],
            outlive_creator
        ),
        case!(
            "destroy_room.creator_only",
            ["ROOM-11"],
            destroy_creator_only
        ),
        case!(
            "get_pushers.entries_and_mixed_play_url",
            ["ROOM-14"],
            pusher_entries
        ),
        case!("rooms.types_are_separate", ["ROOM-16"], types_separate),
    ]
}

async fn delete_member_and_stranger(ctx: Arc<Ctx>) -> Check {
    let [a, b, c]: [User; 3] = ctx.users("leave", 3).await?.try_into().expect("three");
    let room = ctx.unique("leave");
    ctx.join(&a, "multi_room", &room).await?;
    ctx.join(&b, "multi_room", &room).await?;
    let stranger = ctx.leave(&c, "multi_room", &room).await?;
    ctx.expect(
        &stranger,
        0,
        "ROOM-8: delete_pusher by a non-member (idempotent)",
    )?;
    let nowhere = ctx.leave(&c, "multi_room", &ctx.unique("noroom")).await?;
    ctx.expect(
        &nowhere,
        0,
        "ROOM-8: delete_pusher of a room that does not exist",
    )?;
    let members = ctx.members(&a, "multi_room", &room).await?;
    ensure(
        members == Some(vec![a.id.clone(), b.id.clone()]),
        "ROOM-8: a stranger's delete_pusher changes nothing",
        || format!("{members:?}"),
    )?;
    let left = ctx.leave(&b, "multi_room", &room).await?;
    ctx.expect(&left, 0, "ROOM-8: delete_pusher by a member")?;
    let members = ctx.members(&a, "multi_room", &room).await?;
    ensure(
        members == Some(vec![a.id.clone()]),
        "ROOM-8: the member gone at once",
        || format!("{members:?}"),
    )?;
    let twice = ctx.leave(&b, "multi_room", &room).await?;
    ctx.expect(
        &twice,
        0,
        "ROOM-8: delete_pusher by a member who left (idempotent)",
    )
}

async fn live_creator_leaves(ctx: Arc<Ctx>) -> Check {
    let [anchor, guest, next]: [User; 3] = ctx.users("live", 3).await?.try_into().expect("three");
    let room = ctx.unique("liveroom");
    let lr = "live_room";
    ctx.join(&anchor, lr, &room).await?;
    ctx.join(&guest, lr, &room).await?;
    let left = ctx.leave(&guest, lr, &room).await?;
    ctx.expect(&left, 0, "delete_pusher")?;
    let members = ctx.members(&anchor, lr, &room).await?;
    ensure(
        members == Some(vec![anchor.id.clone()]),
        "ROOM-9: a guest leaving keeps the room",
        || format!("{members:?}"),
    )?;
    let left = ctx.leave(&anchor, lr, &room).await?;
    ctx.expect(&left, 0, "delete_pusher")?;
    let gone = ctx.pushers(&next, lr, &room).await?;
    ctx.expect(&gone, 3, "ROOM-9: get_pushers after the creator left")?;
    ensure(
        !ctx.listed(&next, lr, &room).await?,
        "ROOM-9: the ended room not listed",
        || format!("{room} listed"),
    )?;
    ctx.join(&next, lr, &room).await?;
    let view = ctx.pushers(&next, lr, &room).await?;
    ensure(
        view.str("roomCreator") == next.id,
        "ROOM-9: joining again makes a new room",
        || view.describe(),
    )
}

async fn outlive_creator(ctx: Arc<Ctx>) -> Check {
    for room_type in ["double_room", "multi_room"] {
        let [a, b]: [User; 2] = ctx.users("outlive", 2).await?.try_into().expect("two");
        let room = ctx.unique("outlive");
        ctx.join(&a, room_type, &room).await?;
        ctx.join(&b, room_type, &room).await?;
        let left = ctx.leave(&a, room_type, &room).await?;
        ctx.expect(&left, 0, "delete_pusher")?;
        let view = ctx.pushers(&b, room_type, &room).await?;
        ctx.expect(
            &view,
            0,
            &format!("ROOM-10: a {room_type} outlives its creator"),
        )?;
        ensure(
            view.str("roomCreator") == a.id && view.body["pushers"][0]["userID"] == b.id.as_str(),
            "ROOM-10: roomCreator unchanged, the other member still there",
            || view.describe(),
        )?;
        let left = ctx.leave(&b, room_type, &room).await?;
        ctx.expect(&left, 0, "delete_pusher")?;
        let gone = ctx.pushers(&b, room_type, &room).await?;
        ctx.expect(
            &gone,
            3,
            &format!("ROOM-10: a {room_type} ends with its last member"),
        )?;
    }
    Ok(())
}

async fn destroy_creator_only(ctx: Arc<Ctx>) -> Check {
    let [a, b]: [User; 2] = ctx.users("destroy", 2).await?.try_into().expect("two");
    let room = ctx.unique("destroy");
    ctx.join(&a, "multi_room", &room).await?;
    ctx.join(&b, "multi_room", &room).await?;
    let by_member = ctx
        .call(
            &b,
            "multi_room",
            "destroy_room",
            json!({"roomID": room, "userID": b.id}),
        )
        .await?;
    ctx.expect(
        &by_member,
        3,
        "ROOM-11: destroy_room by a member who is not the creator",
    )?;
    let members = ctx
        .members(&a, "multi_room", &room)
        .await?
        .unwrap_or_default();
    ensure(
        members.len() == 2,
        "ROOM-11: the refused destroy changed nothing",
        || format!("{members:?}"),
    )?;
    let nothing = ctx
        .call(
            &a,
            "multi_room",
            "destroy_room",
            json!({"roomID": ctx.unique("none"), "userID": a.id}),
        )
        .await?;
    ctx.expect(&nothing, 3, "ROOM-11: destroy_room of no room")?;
    let by_creator = ctx
        .call(
            &a,
            "multi_room",
            "destroy_room",
            json!({"roomID": room, "userID": a.id}),
        )
        .await?;
    ctx.expect(&by_creator, 0, "ROOM-11: destroy_room by the creator")?;
    let gone = ctx.pushers(&b, "multi_room", &room).await?;
    ctx.expect(&gone, 3, "ROOM-11: the room is gone")
}

async fn pusher_entries(ctx: Arc<Ctx>) -> Check {
    let users = ctx.users("entry", 3).await?;
    let room = ctx.unique("entries");
    let mut push_urls = Vec::new();
    for user in &users {
        let url = ctx.push_url(user, "multi_room").await?;
        let answer = ctx.add_pusher_with(user, "multi_room", &room, &url).await?;
        ctx.expect(&answer, 0, "add_pusher")?;
        push_urls.push(url);
    }
    let view = ctx.pushers(&users[1], "multi_room", &room).await?;
    ctx.expect(&view, 0, "get_pushers")?;
    let pushers = view.body["pushers"].as_array().cloned().unwrap_or_default();
    let ids: Vec<_> = pushers.iter().map(|p| p["userID"].clone()).collect();
    let expected: Vec<Value> = users.iter().map(|u| u.id.clone().into()).collect();
    ensure(ids == expected, "ROOM-14: pushers in join order", || {
        view.describe()
    })?;
    for p in &pushers {
        ensure(
            ["userID", "userName", "userAvatar", "accelerateURL"]
                .iter()
                .all(|f| p[f].is_string())
                && p.get("pushURL").is_none(),
            "ROOM-14: entries of userID, userName, userAvatar, accelerateURL and no pushURL",
            || p.to_string(),
        )?;
    }
    ensure(
        !view.body.to_string().contains("\"pushURL\""),
        "ROOM-14: no pushURL field in the answer",
        || view.describe(),
    )?;
    let creator_stream = crate::cases::streams::parse(&push_urls[0]).map(|u| u.stream);
    let mixed = crate::cases::streams::parse(view.str("mixedPlayURL"));
    ensure(
        mixed
            .as_ref()
            .is_some_and(|m| m.flv && Some(&m.stream) == creator_stream.as_ref()),
        "ROOM-14: mixedPlayURL, the FLV URL of the creator's stream",
        || view.describe(),
    )
}

async fn types_separate(ctx: Arc<Ctx>) -> Check {
    let user = ctx.user("types").await?;
    let room = ctx.unique("typed");
    ctx.join(&user, "multi_room", &room).await?;
    let other = ctx.pushers(&user, "double_room", &room).await?;
    ctx.expect(
        &other,
        3,
        "ROOM-16: the roomID is no room under double_room",
    )?;
    let made = create(
        &ctx,
        &user,
        "live_room",
        json!({"roomID": room, "roomInfo": "i"}),
    )
    .await?;
    ctx.expect(&made, 0, "ROOM-16: the roomID is free under live_room")?;
    ensure(
        ctx.listed(&user, "multi_room", &room).await?
            && !ctx.listed(&user, "double_room", &room).await?,
        "ROOM-16: each type lists only its own rooms",
        || format!("{room} listed wrongly"),
    )
}
