//! get_room_list: creation order, paging, parameters, and what each listed room carries.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::case;
use crate::case::{Case, Ctx, User};
use crate::client::{Check, Failure, ensure};

pub fn cases() -> Vec<Case> {
    vec![
        case!(
            "get_room_list.creation_order_and_paging",
            ["LIST-1"],
            order_and_paging,
            exclusive
        ),
        case!("get_room_list.bad_parameters", ["LIST-2"], bad_parameters),
        case!("get_room_list.room_entries", ["LIST-3"], room_entries),
    ]
}

fn ids(rooms: &[Value]) -> Vec<String> {
    rooms
        .iter()
        .map(|r| r["roomID"].as_str().unwrap_or("").to_owned())
        .collect()
}

async fn page(ctx: &Ctx, user: &User, index: usize, cnt: usize) -> Check<Vec<String>> {
    let answer = ctx
        .call(
            user,
            "multi_room",
            "get_room_list",
            json!({"cnt": cnt, "index": index}),
        )
        .await?;
    ctx.expect(&answer, 0, "get_room_list")?;
    Ok(ids(answer.body["rooms"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[])))
}

/// Runs alone: other cases' rooms come and go while it reads the list, so a check whose list
/// changed underneath is repeated (a few times at most).
async fn order_and_paging(ctx: Arc<Ctx>) -> Check {
    let users = ctx.users("lister", 3).await?;
    let mut rooms = Vec::new();
    for user in &users {
        let room = ctx.unique("listed");
        ctx.join(user, "multi_room", &room).await?;
        rooms.push(room);
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let viewer = &users[0];
    let mut last = Failure::new("a stable room list", "it changed on every attempt");
    for _ in 0..4 {
        let before = ids(&ctx.room_list(viewer, "multi_room").await?);
        let positions: Vec<Option<usize>> = rooms
            .iter()
            .map(|r| before.iter().position(|id| id == r))
            .collect();
        let Some(first) = positions[0] else {
            last = Failure::new("LIST-1: a new room listed", format!("{before:?}"));
            continue;
        };
        let paged = page(&ctx, viewer, first, 2).await?;
        let skipped = page(&ctx, viewer, first + 1, 5).await?;
        let huge = page(&ctx, viewer, 0, 100_000).await?;
        let after = ids(&ctx.room_list(viewer, "multi_room").await?);
        if after != before {
            continue;
        }
        ensure(
            positions.iter().all(Option::is_some) && positions.windows(2).all(|w| w[0] < w[1]),
            "LIST-1: rooms listed in creation order",
            || format!("{rooms:?} at {positions:?} in {before:?}"),
        )?;
        ensure(
            paged.len() == 2 && paged[..] == before[first..first + 2],
            "LIST-1: index skips rooms, cnt takes at most that many",
            || format!("index {first} cnt 2 gave {paged:?}, the list is {before:?}"),
        )?;
        ensure(
            skipped.first() == before.get(first + 1),
            "LIST-1: index n starts at the (n+1)th room",
            || {
                format!(
                    "index {} gave {skipped:?}, the list is {before:?}",
                    first + 1
                )
            },
        )?;
        ensure(
            huge.len() >= before.len().min(20) && huge[..] == before[..huge.len()],
            "LIST-1: a large cnt answered (possibly capped, at no less than 20)",
            || format!("cnt 100000 gave {} rooms of {}", huge.len(), before.len()),
        )?;
        return Ok(());
    }
    Err(last)
}

async fn bad_parameters(ctx: Arc<Ctx>) -> Check {
    let user = ctx.user("badlist").await?;
    for (what, body) in [
        ("a negative cnt", json!({"cnt": -1, "index": 0})),
        ("a negative index", json!({"cnt": 5, "index": -3})),
        ("cnt not a number", json!({"cnt": "many", "index": 0})),
        ("index missing", json!({"cnt": 5})),
        ("cnt missing", json!({"index": 0})),
    ] {
        let answer = ctx.call(&user, "live_room", "get_room_list", body).await?;
        ctx.expect(&answer, 1, &format!("LIST-2: get_room_list with {what}"))?;
    }
    Ok(())
}

async fn room_entries(ctx: Arc<Ctx>) -> Check {
    let [anchor, viewer]: [User; 2] = ctx.users("entries", 2).await?.try_into().expect("two");
    let room = ctx.unique("entryroom");
    ctx.join(&anchor, "live_room", &room).await?;
    let seen = ctx
        .call(
            &viewer,
            "live_room",
            "add_audience",
            json!({"roomID": room, "userID": viewer.id, "userInfo": "{}"}),
        )
        .await?;
    ctx.expect(&seen, 0, "add_audience")?;
    let rooms = ctx.room_list(&viewer, "live_room").await?;
    let entry = rooms
        .iter()
        .find(|r| r["roomID"] == room.as_str())
        .ok_or_else(|| {
            Failure::new(
                "LIST-3: the live room listed",
                format!("{} rooms", rooms.len()),
            )
        })?;
    ensure(
        ["roomInfo", "roomCreator", "mixedPlayURL", "custom"]
            .iter()
            .all(|f| entry[f].is_string())
            && entry["roomCreator"] == anchor.id.as_str()
            && entry["pushers"][0]["userID"] == anchor.id.as_str()
            && entry["audienceCount"] == 1,
        "LIST-3: roomID, roomInfo, roomCreator, mixedPlayURL, custom, pushers, audienceCount",
        || entry.to_string(),
    )
}
