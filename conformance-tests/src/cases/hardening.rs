//! What a hostile or careless client meets: the server's room limit per user, strict
//! parameter types, a logout that ends its session, UserSigs dated ahead or valid for too
//! long.

use std::sync::Arc;

use rtcroom_shared::usersig;
use serde_json::json;

use crate::case;
use crate::case::{Case, Ctx, Needs};
use crate::client::{Body, Check, now_secs};

const MR: &str = "multi_room";

pub fn cases() -> Vec<Case> {
    vec![
        case!("limits.rooms_per_user_answers_104", ["LIMIT-1"], rooms_per_user, needs: Needs::RoomLimit),
        case!(
            "logout.ends_the_session",
            ["AUTH-8"],
            logout_ends_the_session
        ),
        case!(
            "wire.room_ids_are_strings_or_integers",
            ["WIRE-2"],
            strict_room_ids
        ),
        case!("wire.form_values_are_utf8", ["WIRE-2"], strict_forms),
        case!(
            "login.refuses_usersigs_dated_ahead_or_valid_too_long",
            ["AUTH-2"],
            usersig_time
        ),
    ]
}

async fn rooms_per_user(ctx: Arc<Ctx>) -> Check {
    let limit = ctx.options.rooms_per_user.expect("Needs::RoomLimit");
    let user = ctx.user("greedy").await?;
    let rooms: Vec<String> = (0..=limit).map(|_| ctx.unique("mine")).collect();
    for room in &rooms[..limit] {
        ctx.join(&user, MR, room).await?;
    }
    let over = ctx.add_pusher(&user, MR, &rooms[limit]).await?;
    ctx.expect(
        &over,
        104,
        "LIMIT-1: add_pusher into one room more than the limit",
    )?;
    let create = ctx
        .call(
            &user,
            MR,
            "create_room",
            json!({"userID": user.id, "roomID": rooms[limit], "roomInfo": "i"}),
        )
        .await?;
    ctx.expect(&create, 104, "LIMIT-1: create_room over the limit")?;
    // Leaving a room frees its place.
    let left = ctx
        .call(
            &user,
            MR,
            "delete_pusher",
            json!({"roomID": rooms[0], "userID": user.id}),
        )
        .await?;
    ctx.expect(&left, 0, "delete_pusher")?;
    ctx.join(&user, MR, &rooms[limit]).await?;
    for room in &rooms[1..] {
        let left = ctx
            .call(
                &user,
                MR,
                "delete_pusher",
                json!({"roomID": room, "userID": user.id}),
            )
            .await?;
        ctx.expect(&left, 0, "delete_pusher")?;
    }
    Ok(())
}

async fn logout_ends_the_session(ctx: Arc<Ctx>) -> Check {
    let user = ctx.user("bye").await?;
    let list = json!({"cnt": 1, "index": 0});
    let before = ctx.call(&user, MR, "get_room_list", list.clone()).await?;
    ctx.expect(&before, 0, "get_room_list with a session")?;
    let out = ctx.call(&user, MR, "logout", json!({})).await?;
    ctx.expect(&out, 0, "AUTH-8: logout")?;
    let after = ctx.call(&user, MR, "get_room_list", list.clone()).await?;
    ctx.expect(&after, 7, "AUTH-8: the logged-out token")?;
    // Logging in again at once gives a session that works.
    let sig = ctx.server.usersig(&user.id, 60, 3600, None);
    let again = ctx.sign_in(&user.id, &sig).await?;
    let fresh = ctx.call(&again, MR, "get_room_list", list).await?;
    ctx.expect(&fresh, 0, "AUTH-8: a session begun after the logout")
}

async fn strict_room_ids(ctx: Arc<Ctx>) -> Check {
    let user = ctx.user("types").await?;
    let push_url = ctx.push_url(&user, MR).await?;
    for (what, room_id) in [
        ("1e2", json!(1e2)),
        ("1.5", json!(1.5)),
        ("true", json!(true)),
        ("an array", json!(["r"])),
        ("an object", json!({"id": "r"})),
    ] {
        let answer = ctx
            .call(
                &user,
                MR,
                "add_pusher",
                json!({"roomID": room_id, "userID": user.id, "userName": "n",
                       "userAvatar": "a", "pushURL": push_url}),
            )
            .await?;
        ctx.expect(&answer, 1, &format!("WIRE-2: a roomID that is {what}"))?;
    }
    // An integer is a roomID, read as its decimal text.
    let number = 900_000_000 + (now_secs() % 100_000_000);
    let answer = ctx
        .call(
            &user,
            MR,
            "add_pusher",
            json!({"roomID": number, "userID": user.id, "userName": "n",
                   "userAvatar": "a", "pushURL": push_url}),
        )
        .await?;
    ctx.expect(&answer, 0, "WIRE-2: an integer roomID")?;
    let left = ctx
        .call(
            &user,
            MR,
            "delete_pusher",
            json!({"roomID": number.to_string(), "userID": user.id}),
        )
        .await?;
    ctx.expect(&left, 0, "WIRE-2: the same room by its text")
}

async fn strict_forms(ctx: Arc<Ctx>) -> Check {
    let user = ctx.user("utf8").await?;
    // "caf\xE9": Latin-1, not UTF-8; it must not become some other room's name.
    let answer = ctx
        .server
        .send(
            MR,
            "get_pushers",
            &[("userID", &user.id), ("token", &user.token)],
            Body::Raw(
                "application/x-www-form-urlencoded",
                b"roomID=caf%E9".to_vec(),
            ),
        )
        .await?;
    ctx.expect(&answer, 10, "WIRE-2: a form value that is not UTF-8")
}

async fn usersig_time(ctx: Arc<Ctx>) -> Check {
    let t = &ctx.server.target;
    let now = now_secs();
    for (what, time, expire) in [
        ("dated an hour ahead", now + 3600, 3600),
        ("dated at the end of time", u64::MAX / 2, 1),
        ("valid for ten years", now - 60, 10 * 366 * 86_400),
    ] {
        let id = ctx.unique("sigtime");
        let sig = usersig::generate(t.sdkappid, &t.key, &id, expire, time, None);
        let answer = ctx.server.login(MR, &id, &sig).await?;
        ctx.expect(&answer, 7, &format!("AUTH-2: a UserSig {what}"))?;
    }
    Ok(())
}
