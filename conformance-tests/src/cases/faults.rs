//! Failure behaviour, for a server the operator has put in a fault state for the run
//! (`--fault store-down`, `--fault corrupt-room=TYPE/ID`); skipped otherwise.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::case;
use crate::case::{Case, Ctx, Fault, Needs};
use crate::client::{Check, ensure};

pub fn cases() -> Vec<Case> {
    vec![
        case!("faults.store_down_answers_100", ["FAIL-1"], store_down, needs: Needs::StoreDown),
        case!("faults.corrupt_room_answers_6", ["FAIL-2"], corrupt_room, needs: Needs::CorruptRoom),
    ]
}

async fn store_down(ctx: Arc<Ctx>) -> Check {
    // Login needs no store: a session is still issued while the store is down (every other
    // call checks the store, for a logout of its token, AUTH-8).
    let user = ctx.user("down").await?;
    let room = ctx.unique("down");
    let push_url = "rtmp://127.0.0.1/live/any";
    let calls = [
        ("multi_room", "get_push_url", json!({"userID": user.id})),
        (
            "multi_room",
            "create_room",
            json!({"userID": user.id, "roomID": room, "roomInfo": "i"}),
        ),
        (
            "multi_room",
            "add_pusher",
            json!({"roomID": room, "userID": user.id, "userName": "n",
                                             "userAvatar": "a", "pushURL": push_url}),
        ),
        ("multi_room", "get_pushers", json!({"roomID": room})),
        ("multi_room", "get_room_list", json!({"cnt": 5, "index": 0})),
        (
            "multi_room",
            "pusher_heartbeat",
            json!({"roomID": room, "userID": user.id}),
        ),
        (
            "multi_room",
            "delete_pusher",
            json!({"roomID": room, "userID": user.id}),
        ),
        (
            "multi_room",
            "destroy_room",
            json!({"roomID": room, "userID": user.id}),
        ),
        (
            "live_room",
            "add_audience",
            json!({"roomID": room, "userID": user.id, "userInfo": "{}"}),
        ),
        ("live_room", "get_audiences", json!({"roomID": room})),
        (
            "live_room",
            "set_custom_field",
            json!({"roomID": room, "fieldName": "f", "operation": "inc"}),
        ),
        ("live_room", "get_custom_info", json!({"roomID": room})),
    ];
    for (room_type, api, body) in calls {
        let started = Instant::now();
        let answer = ctx.call(&user, room_type, api, body).await?;
        ctx.expect(
            &answer,
            100,
            &format!("FAIL-1: {room_type}/{api} with the store down"),
        )?;
        let took = started.elapsed();
        ensure(
            took < Duration::from_secs(5),
            "FAIL-1: the answer within the clients' 5 s timeout",
            || format!("{api} took {took:?}"),
        )?;
    }
    Ok(())
}

async fn corrupt_room(ctx: Arc<Ctx>) -> Check {
    let Some(Fault::CorruptRoom { room_type, room_id }) = ctx.options.fault.clone() else {
        unreachable!("the runner only runs this case with --fault corrupt-room");
    };
    let user = ctx.user("corrupt").await?;
    let view = ctx.pushers(&user, &room_type, &room_id).await?;
    ctx.expect(&view, 6, "FAIL-2: get_pushers of the corrupt room")?;
    let join = ctx.add_pusher(&user, &room_type, &room_id).await?;
    ctx.expect(&join, 6, "FAIL-2: add_pusher into the corrupt room")?;
    let elsewhere = ctx.unique("healthy");
    ctx.join(&user, &room_type, &elsewhere).await?;
    let members = ctx.members(&user, &room_type, &elsewhere).await?;
    ensure(
        members == Some(vec![user.id.clone()]),
        "FAIL-2: other rooms unaffected",
        || format!("{members:?}"),
    )
}
