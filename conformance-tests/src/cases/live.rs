//! live_room extras: audience, custom counters, stream mixing.

use std::sync::Arc;

use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::case;
use crate::case::{Case, Ctx, User};
use crate::client::{Answer, Check, ensure};

pub fn cases() -> Vec<Case> {
    vec![
        case!("audience.join_list_refresh", ["LIVE-1"], audience_basics),
        case!("audience.capacity", ["LIVE-2"], audience_capacity),
        case!(
            "audience.delete_always_succeeds",
            ["LIVE-3"],
            audience_delete
        ),
        case!("custom.inc_dec_set", ["LIVE-4"], custom_operations),
        case!(
            "custom.concurrent_increments_all_count",
            ["LIVE-4"],
            custom_concurrent,
            exclusive
        ),
        case!("custom.bad_operations", ["LIVE-5"], custom_bad),
        case!("custom.get_custom_info", ["LIVE-6"], custom_info),
        case!("merge_stream.params", ["LIVE-7"], merge_stream),
        case!("live.calls_on_no_room_answer_3", ["LIVE-8"], no_room),
    ]
}

const LR: &str = "live_room";

/// A present live room with `anchor` as its creator.
async fn live_room(ctx: &Ctx, anchor: &User) -> Check<String> {
    let room = ctx.unique("live");
    ctx.join(anchor, LR, &room).await?;
    Ok(room)
}

async fn add_audience(ctx: &Ctx, user: &User, room: &str, info: Value) -> Check<Answer> {
    ctx.call(
        user,
        LR,
        "add_audience",
        json!({"roomID": room, "userID": user.id, "userInfo": info}),
    )
    .await
}

async fn audiences(ctx: &Ctx, user: &User, room: &str) -> Check<Answer> {
    let answer = ctx
        .call(user, LR, "get_audiences", json!({"roomID": room}))
        .await?;
    ctx.expect(&answer, 0, "get_audiences")?;
    Ok(answer)
}

async fn audience_basics(ctx: Arc<Ctx>) -> Check {
    let [anchor, v1, v2]: [User; 3] = ctx.users("aud", 3).await?.try_into().expect("three");
    let room = live_room(&ctx, &anchor).await?;
    let a = add_audience(&ctx, &v1, &room, json!("{\"nick\":\"one\"}")).await?;
    ctx.expect(&a, 0, "LIVE-1: add_audience with userInfo as JSON text")?;
    let b = add_audience(&ctx, &v2, &room, json!({"nick": "two"})).await?;
    ctx.expect(
        &b,
        0,
        "LIVE-1: add_audience with userInfo as an object (WIRE-2)",
    )?;
    let again = add_audience(&ctx, &v1, &room, json!("{\"nick\":\"uno\"}")).await?;
    ctx.expect(&again, 0, "LIVE-1: add_audience again refreshes")?;
    let list = audiences(&ctx, &anchor, &room).await?;
    let entries = list.body["audiences"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let info = |i: usize| -> Value {
        match &entries[i]["userInfo"] {
            Value::String(s) => serde_json::from_str(s).unwrap_or(Value::Null),
            other => other.clone(),
        }
    };
    ensure(
        list.body["audienceCount"] == 2
            && entries.len() == 2
            && entries[0]["userID"] == v1.id.as_str()
            && entries[1]["userID"] == v2.id.as_str()
            && info(0) == json!({"nick": "uno"})
            && info(1) == json!({"nick": "two"}),
        "LIVE-1: two viewers in join order, each once, with their latest userInfo",
        || list.describe(),
    )
}

async fn audience_capacity(ctx: Arc<Ctx>) -> Check {
    let cap = ctx.options.audience_capacity;
    let anchor = ctx.user("audcap").await?;
    let room = live_room(&ctx, &anchor).await?;
    let _beating = ctx.keep_beating(&anchor, LR, &room);
    let viewers = ctx.users("viewer", cap + 1).await?;
    for v in &viewers[..cap] {
        let a = add_audience(&ctx, v, &room, json!("{}")).await?;
        ctx.expect(&a, 0, "LIVE-2: add_audience below capacity")?;
    }
    let extra = add_audience(&ctx, &viewers[cap], &room, json!("{}")).await?;
    ctx.expect(
        &extra,
        5001,
        &format!("LIVE-2: viewer {} of {cap}", cap + 1),
    )?;
    let list = audiences(&ctx, &anchor, &room).await?;
    ensure(
        list.body["audienceCount"] == cap,
        "LIVE-2: the audience at capacity",
        || list.describe(),
    )
}

async fn audience_delete(ctx: Arc<Ctx>) -> Check {
    let [anchor, viewer]: [User; 2] = ctx.users("auddel", 2).await?.try_into().expect("two");
    let room = live_room(&ctx, &anchor).await?;
    let joined = add_audience(&ctx, &viewer, &room, json!("{}")).await?;
    ctx.expect(&joined, 0, "add_audience")?;
    let body = json!({"roomID": room, "userID": viewer.id});
    let left = ctx
        .call(&viewer, LR, "delete_audience", body.clone())
        .await?;
    ctx.expect(&left, 0, "LIVE-3: delete_audience by a viewer")?;
    let list = audiences(&ctx, &anchor, &room).await?;
    ensure(
        list.body["audienceCount"] == 0,
        "LIVE-3: the viewer removed",
        || list.describe(),
    )?;
    let again = ctx.call(&viewer, LR, "delete_audience", body).await?;
    ctx.expect(&again, 0, "LIVE-3: delete_audience by a non-viewer")?;
    let nowhere = ctx
        .call(
            &viewer,
            LR,
            "delete_audience",
            json!({"roomID": ctx.unique("none"), "userID": viewer.id}),
        )
        .await?;
    ctx.expect(&nowhere, 0, "LIVE-3: delete_audience for no room")
}

async fn set_field(
    ctx: &Ctx,
    user: &User,
    room: &str,
    op: &str,
    value: Option<i64>,
) -> Check<Answer> {
    let mut body = json!({"roomID": room, "fieldName": "likes", "operation": op});
    if let Some(v) = value {
        body["value"] = v.into();
    }
    ctx.call(user, LR, "set_custom_field", body).await
}

/// `custom` parsed from its JSON text.
fn custom(answer: &Answer) -> Value {
    serde_json::from_str(answer.str("custom")).unwrap_or(Value::Null)
}

async fn custom_operations(ctx: Arc<Ctx>) -> Check {
    let anchor = ctx.user("custom").await?;
    let room = live_room(&ctx, &anchor).await?;
    for (op, value, expected) in [
        ("inc", None, 1),
        ("inc", Some(5), 6),
        ("dec", Some(2), 4),
        ("dec", None, 3),
        ("set", Some(10), 10),
    ] {
        let answer = set_field(&ctx, &anchor, &room, op, value).await?;
        ctx.expect(&answer, 0, &format!("LIVE-4: set_custom_field {op}"))?;
        ensure(
            answer.body["custom"].is_string() && custom(&answer) == json!({"likes": expected}),
            &format!(
                "LIVE-4: custom is the JSON text {{\"likes\":{expected}}} after {op} {value:?}"
            ),
            || answer.describe(),
        )?;
    }
    Ok(())
}

async fn custom_concurrent(ctx: Arc<Ctx>) -> Check {
    let users = ctx.users("liker", 6).await?;
    let room = live_room(&ctx, &users[0]).await?;
    let _beating = ctx.keep_beating(&users[0], LR, &room);
    // Counters are the room's: its viewers may change them, a stranger may not.
    let stranger = users.last().expect("six users");
    let refused = set_field(&ctx, stranger, &room, "set", Some(-5)).await?;
    ctx.expect(
        &refused,
        5,
        "LIVE-4: set_custom_field by a user who is neither member nor viewer",
    )?;
    let users = &users[..5];
    for viewer in &users[1..] {
        let watching = add_audience(&ctx, viewer, &room, json!("{}")).await?;
        ctx.expect(&watching, 0, "add_audience")?;
    }
    let incs = (0..50).map(|i| set_field(&ctx, &users[i % users.len()], &room, "inc", None));
    for answer in join_all(incs).await {
        ctx.expect(&answer?, 0, "LIVE-4: set_custom_field inc")?;
    }
    let info = ctx
        .call(&users[0], LR, "get_custom_info", json!({"roomID": room}))
        .await?;
    ensure(
        custom(&info) == json!({"likes": 50}),
        "LIVE-4: 50 simultaneous incs count 50",
        || info.describe(),
    )
}

async fn custom_bad(ctx: Arc<Ctx>) -> Check {
    let anchor = ctx.user("custombad").await?;
    let room = live_room(&ctx, &anchor).await?;
    let unknown = set_field(&ctx, &anchor, &room, "mul", Some(2)).await?;
    ctx.expect(&unknown, 1, "LIVE-5: an unknown operation")?;
    let no_value = set_field(&ctx, &anchor, &room, "set", None).await?;
    ctx.expect(&no_value, 1, "LIVE-5: set without value")?;
    let long = ctx
        .call(
            &anchor,
            LR,
            "set_custom_field",
            json!({"roomID": room, "fieldName": "f".repeat(65), "operation": "inc"}),
        )
        .await?;
    ctx.expect(&long, 10, "LIVE-5: a fieldName of 65 bytes")
}

async fn custom_info(ctx: Arc<Ctx>) -> Check {
    let anchor = ctx.user("info").await?;
    let room = live_room(&ctx, &anchor).await?;
    let empty = ctx
        .call(&anchor, LR, "get_custom_info", json!({"roomID": room}))
        .await?;
    ctx.expect(&empty, 0, "LIVE-6: get_custom_info")?;
    ensure(
        custom(&empty) == json!({}),
        "LIVE-6: \"{}\" with no counters",
        || empty.describe(),
    )?;
    ctx.expect(
        &set_field(&ctx, &anchor, &room, "set", Some(7)).await?,
        0,
        "set_custom_field",
    )?;
    let set = ctx
        .call(&anchor, LR, "get_custom_info", json!({"roomID": room}))
        .await?;
    ensure(
        custom(&set) == json!({"likes": 7}),
        "LIVE-6: the counters in custom",
        || set.describe(),
    )
}

async fn merge_stream(ctx: Arc<Ctx>) -> Check {
    let anchor = ctx.user("mixer").await?;
    let room = live_room(&ctx, &anchor).await?;
    let call = |params: Value| {
        ctx.call(
            &anchor,
            LR,
            "merge_stream",
            json!({"roomID": room, "userID": anchor.id, "mergeParams": params}),
        )
    };
    let bad = call(json!("{not json")).await?;
    ctx.expect(&bad, 10, "LIVE-7: mergeParams that is not JSON")?;
    let good = call(json!({"streamID": "x", "inputStreamList": []})).await?;
    match good.code() {
        0 => ensure(
            good.body.get("result").is_some(),
            "LIVE-7: result with code 0",
            || good.describe(),
        ),
        _ => ctx.expect(
            &good,
            101,
            "LIVE-7: code 0 with result, or 101 without a mixer",
        ),
    }
}

async fn no_room(ctx: Arc<Ctx>) -> Check {
    let user = ctx.user("noroom").await?;
    let room = ctx.unique("absent");
    let calls = [
        (
            "add_audience",
            json!({"roomID": room, "userID": user.id, "userInfo": "{}"}),
        ),
        ("get_audiences", json!({"roomID": room})),
        ("get_custom_info", json!({"roomID": room})),
        (
            "set_custom_field",
            json!({"roomID": room, "fieldName": "f", "operation": "inc"}),
        ),
    ];
    for (api, body) in calls {
        let answer = ctx.call(&user, LR, api, body).await?;
        ctx.expect(&answer, 3, &format!("LIVE-8: {api} with no room"))?;
    }
    Ok(())
}
