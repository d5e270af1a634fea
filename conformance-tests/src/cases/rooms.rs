//! Room lifecycle: create, activate, join, capacity (also under concurrency), limits,
//! reclaiming. Leaving, destroying and what `get_pushers` shows are in `leaving.rs`.

use std::sync::Arc;

use futures_util::future::join_all;
use regex::Regex;
use serde_json::{Value, json};

use crate::case;
use crate::case::{Case, Ctx, User, capacity_of};
use crate::client::{Check, ensure};

pub fn cases() -> Vec<Case> {
    vec![
        case!("create_room.chosen_room_id", ["ROOM-1"], chosen_id),
        case!("create_room.generated_room_id", ["ROOM-1"], generated_id),
        case!("create_room.taken_room_id", ["ROOM-2"], taken_id),
        case!(
            "create_room.concurrent_creates_of_one_id",
            ["ROOM-2"],
            concurrent_creates,
            exclusive
        ),
        case!(
            "create_room.inactive_until_first_join",
            ["ROOM-3", "ROOM-4"],
            inactive_until_joined
        ),
        case!("create_room.length_limits", ["ROOM-12"], length_limits),
        case!(
            "create_room.inactive_room_reclaimed",
            ["ROOM-13"],
            reclaimed
        ),
        case!(
            "add_pusher.creates_an_unknown_room",
            ["ROOM-5"],
            creates_unknown
        ),
        case!(
            "add_pusher.rejoin_updates_the_entry",
            ["ROOM-6"],
            rejoin_updates
        ),
        case!(
            "add_pusher.capacity_double_room",
            ["ROOM-7"],
            capacity_double
        ),
        case!("add_pusher.capacity_multi_room", ["ROOM-7"], capacity_multi),
        case!("add_pusher.capacity_live_room", ["ROOM-7"], capacity_live),
        case!(
            "add_pusher.concurrent_joins_double_room",
            ["ROOM-7"],
            concurrent_double,
            exclusive
        ),
        case!(
            "add_pusher.concurrent_joins_multi_room",
            ["ROOM-7"],
            concurrent_multi,
            exclusive
        ),
        case!(
            "add_pusher.foreign_push_url_refused",
            ["ROOM-15"],
            foreign_push_url
        ),
    ]
}

pub(super) async fn create(
    ctx: &Ctx,
    user: &User,
    room_type: &str,
    body: Value,
) -> Check<crate::client::Answer> {
    let mut body = body;
    body["userID"] = user.id.clone().into();
    ctx.call(user, room_type, "create_room", body).await
}

async fn chosen_id(ctx: Arc<Ctx>) -> Check {
    let user = ctx.user("creator").await?;
    for room_type in crate::case::ROOM_TYPES {
        let room = ctx.unique("chosen");
        let answer = create(
            &ctx,
            &user,
            room_type,
            json!({"roomID": room, "roomInfo": "i"}),
        )
        .await?;
        ctx.expect(&answer, 0, "ROOM-1: create_room with a roomID")?;
        ensure(
            answer.str("roomID") == room,
            "ROOM-1: the chosen roomID answered",
            || answer.describe(),
        )?;
    }
    Ok(())
}

async fn generated_id(ctx: Arc<Ctx>) -> Check {
    let user = ctx.user("creator").await?;
    let shape = Regex::new("^room_[0-9a-f]{8}_[0-9a-f]{4}$").expect("valid regex");
    let mut ids = Vec::new();
    for _ in 0..2 {
        let answer = create(&ctx, &user, "multi_room", json!({"roomInfo": "i"})).await?;
        ctx.expect(&answer, 0, "ROOM-1: create_room without a roomID")?;
        let id = answer.str("roomID").to_owned();
        ensure(
            shape.is_match(&id),
            "ROOM-1: a roomID room_{8 hex}_{4 hex}",
            || answer.describe(),
        )?;
        ids.push(id);
    }
    ensure(ids[0] != ids[1], "ROOM-1: a fresh roomID each time", || {
        format!("{} twice", ids[0])
    })
}

async fn taken_id(ctx: Arc<Ctx>) -> Check {
    let user = ctx.user("creator").await?;
    let room = ctx.unique("taken");
    let first = create(
        &ctx,
        &user,
        "multi_room",
        json!({"roomID": room, "roomInfo": "i"}),
    )
    .await?;
    ctx.expect(&first, 0, "ROOM-2: the first create_room")?;
    let again = create(
        &ctx,
        &user,
        "multi_room",
        json!({"roomID": room, "roomInfo": "i"}),
    )
    .await?;
    ctx.expect(&again, 11, "ROOM-2: create_room of an inactive room's ID")?;
    ensure(
        again.str("roomID") == room,
        "ROOM-2: the taken roomID echoed",
        || again.describe(),
    )?;
    ctx.join(&user, "multi_room", &room).await?;
    let active = create(
        &ctx,
        &user,
        "multi_room",
        json!({"roomID": room, "roomInfo": "i"}),
    )
    .await?;
    ctx.expect(&active, 11, "ROOM-2: create_room of an active room's ID")
}

async fn concurrent_creates(ctx: Arc<Ctx>) -> Check {
    let users = ctx.users("racer", 20).await?;
    let room = ctx.unique("race");
    let answers = join_all(users.iter().map(|u| {
        create(
            &ctx,
            u,
            "double_room",
            json!({"roomID": room, "roomInfo": "race"}),
        )
    }))
    .await;
    let mut codes = Vec::new();
    for a in answers {
        codes.push(a?.code());
    }
    let won = codes.iter().filter(|c| **c == 0).count();
    let lost = codes.iter().filter(|c| **c == 11).count();
    ensure(
        won == 1 && lost == 19,
        "ROOM-2: of 20 simultaneous creates of one roomID, 1 code 0 and 19 code 11",
        || format!("codes {codes:?}"),
    )?;
    ctx.server.note_asserted(11);
    Ok(())
}

async fn inactive_until_joined(ctx: Arc<Ctx>) -> Check {
    let user = ctx.user("creator").await?;
    let joiner = ctx.user("joiner").await?;
    let room = ctx.unique("inactive");
    let made = create(
        &ctx,
        &user,
        "multi_room",
        json!({"roomID": room, "roomInfo": "kept info"}),
    )
    .await?;
    ctx.expect(&made, 0, "create_room")?;
    let before = ctx.pushers(&user, "multi_room", &room).await?;
    ctx.expect(&before, 3, "ROOM-3: get_pushers of an inactive room")?;
    ensure(
        !ctx.listed(&user, "multi_room", &room).await?,
        "ROOM-3: an inactive room not listed",
        || format!("{room} listed"),
    )?;
    ctx.join(&joiner, "multi_room", &room).await?;
    let after = ctx.pushers(&user, "multi_room", &room).await?;
    ctx.expect(&after, 0, "ROOM-4: get_pushers once somebody joined")?;
    ensure(
        after.str("roomCreator") == joiner.id && after.str("roomInfo") == "kept info",
        "ROOM-4: the first joiner is roomCreator and create_room's roomInfo is kept",
        || after.describe(),
    )?;
    ensure(
        ctx.listed(&user, "multi_room", &room).await?,
        "ROOM-4: the active room listed",
        || format!("{room} not listed"),
    )
}

async fn length_limits(ctx: Arc<Ctx>) -> Check {
    let user = ctx.user("limits").await?;
    // 512 two-byte characters: 1024 bytes, the most roomInfo may hold.
    let at_limit = "é".repeat(512);
    let over = format!("{at_limit}a");
    let ok = create(
        &ctx,
        &user,
        "multi_room",
        json!({"roomID": ctx.unique("len"), "roomInfo": at_limit}),
    )
    .await?;
    ctx.expect(&ok, 0, "ROOM-12: roomInfo of exactly 1024 bytes")?;
    let long = create(
        &ctx,
        &user,
        "multi_room",
        json!({"roomID": ctx.unique("len"), "roomInfo": over}),
    )
    .await?;
    ctx.expect(
        &long,
        10,
        "ROOM-12: roomInfo of 1025 bytes (513 characters)",
    )?;
    let long_id = create(
        &ctx,
        &user,
        "multi_room",
        json!({"roomID": "r".repeat(129), "roomInfo": "i"}),
    )
    .await?;
    ctx.expect(&long_id, 10, "ROOM-12: a roomID of 129 bytes")?;
    let push_url = ctx.push_url(&user, "multi_room").await?;
    let name = ctx
        .call(
            &user,
            "multi_room",
            "add_pusher",
            json!({"roomID": ctx.unique("len"), "userID": user.id, "userName": "n".repeat(1025),
                   "userAvatar": "a", "pushURL": push_url}),
        )
        .await?;
    ctx.expect(&name, 10, "ROOM-12: a userName of 1025 bytes")
}

async fn reclaimed(ctx: Arc<Ctx>) -> Check {
    let user = ctx.user("reclaim").await?;
    let room = ctx.unique("reclaim");
    let made = create(
        &ctx,
        &user,
        "double_room",
        json!({"roomID": room, "roomInfo": "i"}),
    )
    .await?;
    ctx.expect(&made, 0, "create_room")?;
    tokio::time::sleep(ctx.options.inactive_room_reclaim + std::time::Duration::from_secs(2)).await;
    let again = create(
        &ctx,
        &user,
        "double_room",
        json!({"roomID": room, "roomInfo": "i"}),
    )
    .await?;
    ctx.expect(
        &again,
        0,
        "ROOM-13: create_room of a reclaimed inactive room's ID",
    )
}

async fn creates_unknown(ctx: Arc<Ctx>) -> Check {
    let user = ctx.user("maker").await?;
    let room = ctx.unique("implicit");
    let push_url = ctx.push_url(&user, "live_room").await?;
    let answer = ctx
        .call(
            &user,
            "live_room",
            "add_pusher",
            json!({"roomID": room, "userID": user.id, "userName": "n", "userAvatar": "a",
                   "pushURL": push_url, "roomInfo": "made by joining"}),
        )
        .await?;
    ctx.expect(&answer, 0, "ROOM-5: add_pusher to an unknown roomID")?;
    ensure(
        answer.str("roomID") == room,
        "ROOM-5: the roomID answered",
        || answer.describe(),
    )?;
    let view = ctx.pushers(&user, "live_room", &room).await?;
    ctx.expect(&view, 0, "ROOM-5: the new room is active")?;
    ensure(
        view.str("roomCreator") == user.id && view.str("roomInfo") == "made by joining",
        "ROOM-5: the caller is creator, roomInfo from the body",
        || view.describe(),
    )?;
    let bare = ctx.unique("implicit");
    ctx.join(&user, "multi_room", &bare).await?;
    let view = ctx.pushers(&user, "multi_room", &bare).await?;
    ensure(
        view.str("roomInfo").is_empty(),
        "ROOM-5: roomInfo empty when absent",
        || view.describe(),
    )
}

async fn rejoin_updates(ctx: Arc<Ctx>) -> Check {
    let [a, b, c]: [User; 3] = ctx.users("rejoin", 3).await?.try_into().expect("three");
    let room = ctx.unique("rejoin");
    ctx.join(&a, "double_room", &room).await?;
    ctx.join(&b, "double_room", &room).await?;
    let push_url = ctx.push_url(&a, "double_room").await?;
    let again = ctx
        .call(
            &a,
            "double_room",
            "add_pusher",
            json!({"roomID": room, "userID": a.id, "userName": "renamed", "userAvatar": "new",
                   "pushURL": push_url}),
        )
        .await?;
    ctx.expect(&again, 0, "ROOM-6: add_pusher by a present member")?;
    let view = ctx.pushers(&a, "double_room", &room).await?;
    let pushers = view.body["pushers"].as_array().cloned().unwrap_or_default();
    let stream = |url: &str| crate::cases::streams::parse(url).map(|u| u.stream);
    ensure(
        pushers.len() == 2
            && pushers[0]["userID"] == a.id.as_str()
            && pushers[0]["userName"] == "renamed"
            && pushers[0]["userAvatar"] == "new"
            && stream(pushers[0]["accelerateURL"].as_str().unwrap_or("")) == stream(&push_url)
            && pushers[1]["userID"] == b.id.as_str(),
        "ROOM-6: the entry updated in place (name, avatar, stream), order kept",
        || view.describe(),
    )?;
    let full = ctx.add_pusher(&c, "double_room", &room).await?;
    ctx.expect(&full, 5001, "ROOM-6: no seat taken or freed by the update")
}

async fn members_listed(
    ctx: &Ctx,
    user: &User,
    room_type: &str,
    room: &str,
    seats: usize,
) -> Check {
    let members = ctx
        .members(user, room_type, room)
        .await?
        .unwrap_or_default();
    ensure(
        members.len() == seats,
        &format!("ROOM-7: {seats} members listed"),
        || format!("{members:?}"),
    )
}

async fn capacity(ctx: &Ctx, room_type: &str) -> Check {
    let seats = capacity_of(&ctx.options, room_type);
    let users = ctx.users("seat", seats + 1).await?;
    let room = ctx.unique("capacity");
    for user in &users[..seats] {
        ctx.join(user, room_type, &room).await?;
    }
    let extra = ctx.add_pusher(&users[seats], room_type, &room).await?;
    ctx.expect(
        &extra,
        5001,
        &format!("ROOM-7: joining a {room_type} whose {seats} seats are taken"),
    )?;
    members_listed(ctx, &users[0], room_type, &room, seats).await
}

async fn capacity_double(ctx: Arc<Ctx>) -> Check {
    capacity(&ctx, "double_room").await
}
async fn capacity_multi(ctx: Arc<Ctx>) -> Check {
    capacity(&ctx, "multi_room").await
}
async fn capacity_live(ctx: Arc<Ctx>) -> Check {
    capacity(&ctx, "live_room").await
}

async fn concurrent_joins(ctx: &Arc<Ctx>, room_type: &str) -> Check {
    let seats = capacity_of(&ctx.options, room_type);
    let n = ctx.options.concurrency.max(seats + 1);
    let users = ctx.users("crowd", n).await?;
    let urls = join_all(users.iter().map(|u| ctx.push_url(u, room_type))).await;
    let room = ctx.unique("crowd");
    let joins = users.iter().zip(urls).map(|(user, url)| {
        let room = room.clone();
        async move {
            let answer = ctx.add_pusher_with(user, room_type, &room, &url?).await?;
            // Admitted members heartbeat at once, as clients do, so they are still there to
            // count however long the others take.
            let beating = (answer.code() == 0).then(|| ctx.keep_beating(user, room_type, &room));
            Ok::<_, crate::client::Failure>((answer.code(), beating))
        }
    });
    let mut codes = std::collections::BTreeMap::<i64, usize>::new();
    let mut beating = Vec::new();
    for joined in join_all(joins).await {
        let (code, beat) = joined?;
        *codes.entry(code).or_default() += 1;
        beating.extend(beat);
    }
    ensure(
        codes.get(&0) == Some(&seats) && codes.get(&5001) == Some(&(n - seats)) && codes.len() == 2,
        &format!(
            "ROOM-7: of {n} simultaneous joins of a {room_type}, {seats} code 0 and the rest 5001"
        ),
        || format!("codes (code: count) {codes:?}"),
    )?;
    ctx.server.note_asserted(5001);
    members_listed(ctx, &users[0], room_type, &room, seats).await
}

async fn concurrent_double(ctx: Arc<Ctx>) -> Check {
    concurrent_joins(&ctx, "double_room").await
}
async fn concurrent_multi(ctx: Arc<Ctx>) -> Check {
    concurrent_joins(&ctx, "multi_room").await
}

async fn foreign_push_url(ctx: Arc<Ctx>) -> Check {
    let owner = ctx.user("owner").await?;
    let thief = ctx.user("thief").await?;
    let room = ctx.unique("foreign");
    let owners_url = ctx.push_url(&owner, "multi_room").await?;
    for (what, url) in [
        ("another user's pushURL", owners_url.as_str()),
        (
            "a made-up stream",
            "rtmp://example.invalid/live/not_issued_stream",
        ),
    ] {
        let answer = ctx
            .add_pusher_with(&thief, "multi_room", &room, url)
            .await?;
        ctx.expect(&answer, 7, &format!("ROOM-15: add_pusher with {what}"))?;
    }
    let view = ctx.pushers(&owner, "multi_room", &room).await?;
    ctx.expect(&view, 3, "ROOM-15: the refused joins created no room")
}
