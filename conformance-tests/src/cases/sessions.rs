//! Session connections (`spec/events.md`, EV-11 to EV-14): rooms joined by roomID alone, joins
//! that wait for the membership, following that ends with the room; and the WebSocket
//! etiquette both kinds of connection keep (the close handshake, a kicked guest who still
//! watches).

use std::sync::Arc;
use std::time::Duration;

use futures_util::SinkExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use super::ws::{Ws, ws_url};
use crate::case;
use crate::case::{Beating, Case, Ctx, User};
use crate::client::{Body, Check, Failure, ensure};

pub fn cases() -> Vec<Case> {
    vec![
        case!(
            "events.ws_answers_the_close_handshake",
            ["EV-8"],
            close_handshake
        ),
        case!(
            "events.kicked_guest_still_watches_and_leaves_with_0",
            ["EV-5", "EV-7", "ROOM-8"],
            kicked_guest
        ),
        case!(
            "sessions.login_without_a_room_type",
            ["AUTH-1", "EV-11"],
            login_without_type
        ),
        case!(
            "sessions.join_by_room_id",
            ["EV-2", "EV-6", "EV-7", "EV-12", "EV-14"],
            join_by_room_id
        ),
        case!(
            "sessions.pending_join_admitted_with_the_membership",
            ["EV-12"],
            pending_admitted
        ),
        case!(
            "sessions.pending_join_times_out_revealing_nothing",
            ["EV-12"],
            pending_times_out
        ),
        case!(
            "sessions.following_ends_with_leave_room_or_membership",
            ["EV-13"],
            following_ends
        ),
        case!("sessions.frame_limits", ["EV-8", "EV-14"], session_limits),
    ]
}

const MR: &str = "multi_room";
const LR: &str = "live_room";

fn kind(frame: &Value) -> &str {
    frame["type"].as_str().unwrap_or_default()
}

async fn add_audience(ctx: &Ctx, user: &User, room: &str) -> Check {
    let answer = ctx
        .call(
            user,
            LR,
            "add_audience",
            json!({"roomID": room, "userID": user.id, "userInfo": "{}"}),
        )
        .await?;
    ctx.expect(&answer, 0, "LIVE-1: add_audience")
}

async fn chat(ws: &mut Ws, msg: &str) -> Check<u64> {
    ws.say(json!({"type": "CustomTextMsg", "msg": msg})).await?;
    let ack = ws.next_of("ack", "EV-7: the chat acknowledged").await?;
    ack["seq"]
        .as_u64()
        .ok_or_else(|| Failure::new("EV-7: an ack with its seq", ack.to_string()))
}

/// A live_room with its anchor joined (and heartbeating while the room is used), and the
/// anchor's room connection.
struct Live {
    anchor: User,
    room: String,
    ws: Ws,
    _beating: Beating,
}

async fn live_room(ctx: &Arc<Ctx>, tag: &str) -> Check<Live> {
    let anchor = ctx.user(tag).await?;
    let room = ctx.unique(tag);
    ctx.join(&anchor, LR, &room).await?;
    let _beating = ctx.keep_beating(&anchor, LR, &room);
    let ws = Ws::open(ctx, &anchor, LR, &room, None).await?;
    Ok(Live {
        anchor,
        room,
        ws,
        _beating,
    })
}

/// Members of a new multi_room, heartbeating while the room is used.
async fn multi_room(ctx: &Arc<Ctx>, users: &[&User], tag: &str) -> Check<(String, Vec<Beating>)> {
    let room = ctx.unique(tag);
    let mut beating = Vec::new();
    for user in users {
        ctx.join(user, MR, &room).await?;
        beating.push(ctx.keep_beating(user, MR, &room));
    }
    Ok((room, beating))
}

async fn close_handshake(ctx: Arc<Ctx>) -> Check {
    let user = ctx.user("close").await?;
    let (room, _beating) = multi_room(&ctx, &[&user], "close").await?;
    for (what, mut ws) in [
        (
            "a room connection",
            Ws::open(&ctx, &user, MR, &room, None).await?,
        ),
        ("a session connection", Ws::session(&ctx, &user).await?),
    ] {
        let echoed = ws.close_with(4321).await?;
        ensure(
            echoed == Some(4321),
            &format!("EV-8: {what} answers a close frame with the client's code"),
            || format!("{echoed:?}"),
        )?;
    }
    Ok(())
}

async fn kicked_guest(ctx: Arc<Ctx>) -> Check {
    let Live {
        room,
        ws: mut anchor_ws,
        _beating,
        ..
    } = live_room(&ctx, "kick").await?;
    let guest = ctx.user("guest").await?;
    add_audience(&ctx, &guest, &room).await?;
    ctx.join(&guest, LR, &room).await?;
    let _guest_beating = ctx.keep_beating(&guest, LR, &room);
    let mut guest_ws = Ws::open(&ctx, &guest, LR, &room, None).await?;
    anchor_ws
        .say(
            json!({"type": "linkmic", "to": guest.id, "data": {"type": "kickout", "roomID": room}}),
        )
        .await?;
    anchor_ws
        .next_of("ack", "EV-7: the kickout acknowledged")
        .await?;
    let kickout = guest_ws
        .next_of("linkmic", "EV-6: the kickout to the guest")
        .await?;
    ensure(
        kickout["data"]["data"]["type"] == "kickout",
        "EV-6: the guest hears its kickout",
        || kickout.to_string(),
    )?;
    let left = guest_ws
        .next_of("memberLeft", "EV-7: the kicked guest leaves the pushers")
        .await?;
    ensure(
        left["data"] == json!({"userID": guest.id, "reason": "kicked"}),
        "EV-7: memberLeft with reason kicked",
        || left.to_string(),
    )?;
    ensure(
        guest_ws.alive().await?,
        "EV-5: a kicked guest who still watches keeps its connection",
        || "the connection closed".into(),
    )?;
    let again = ctx.leave(&guest, LR, &room).await?;
    ctx.expect(&again, 0, "ROOM-8: delete_pusher after the kick")?;
    let audiences = ctx
        .call(&guest, LR, "get_audiences", json!({ "roomID": room }))
        .await?;
    ctx.expect(&audiences, 0, "LIVE-8: get_audiences")?;
    ensure(
        audiences.body["audiences"]
            .as_array()
            .is_some_and(|a| a.iter().any(|v| v["userID"] == guest.id.as_str())),
        "EV-7: a kickout leaves the guest's viewer entry",
        || audiences.describe(),
    )
}

async fn login_without_type(ctx: Arc<Ctx>) -> Check {
    let id = ctx.unique("typeless");
    let sig = ctx.server.usersig(&id, 60, 86_400, None);
    let appid = ctx.server.target.sdkappid;
    let login = |usersig: String| {
        let server = ctx.server.clone();
        let id = id.clone();
        async move {
            server
                .send(
                    "utils",
                    "login",
                    &[],
                    Body::Json(json!({"userID": id, "sdkAppID": appid, "userSig": usersig,
                                      "accountType": "1"})),
                )
                .await
        }
    };
    let answer = login(sig.clone()).await?;
    ctx.expect(&answer, 0, "AUTH-1: POST /weapp/utils/login")?;
    let user = User {
        id: id.clone(),
        token: answer.str("token").to_owned(),
    };
    let forged = login(format!("{sig}x")).await?;
    ctx.expect(&forged, 7, "AUTH-2: a forged UserSig at utils/login")?;
    let mut ws = Ws::session(&ctx, &user).await?;
    ensure(
        ws.alive().await?,
        "EV-11: a session connection answers ping",
        || "no pong".into(),
    )?;
    let stranger = User {
        id: id.clone(),
        token: format!("{}x", user.token),
    };
    let refused = match tokio_tungstenite::connect_async(ws_url(&ctx, &stranger, None, None)).await
    {
        Err(_) => true,
        Ok((mut ws, _)) => matches!(
            tokio::time::timeout(
                Duration::from_secs(5),
                futures_util::StreamExt::next(&mut ws)
            )
            .await,
            Ok(Some(Ok(Message::Close(_))) | None | Some(Err(_)))
        ),
    };
    ensure(
        refused,
        "EV-11: a session connection with a forged token is refused",
        || "it opened".into(),
    )
}

async fn join_by_room_id(ctx: Arc<Ctx>) -> Check {
    let [a, b, c]: [User; 3] = ctx.users("sjoin", 3).await?.try_into().expect("three");
    let (room, _beating) = multi_room(&ctx, &[&a, &b], "sjoin").await?;
    let mut sa = Ws::session(&ctx, &a).await?;
    sa.say(json!({"type": "CustomTextMsg", "msg": "too early", "id": 1}))
        .await?;
    let early = sa.next("EV-14: a message before joining").await?;
    ensure(
        kind(&early) == "error" && early["id"] == 1,
        "EV-14: a room message before joining gets an error, with its id",
        || early.to_string(),
    )?;
    sa.say(json!({"type": "join", "roomID": room, "id": "j1"}))
        .await?;
    let joined = sa.next("EV-12: the join's answer").await?;
    let last = joined["seq"].as_u64().unwrap_or(0);
    ensure(
        joined
            == json!({"type": "joined", "roomID": room, "roomType": MR, "state": "admitted",
                      "seq": last, "id": "j1"})
            && last > 0,
        "EV-12: a present member's join is admitted at once, by roomID alone, after the room's last event",
        || joined.to_string(),
    )?;
    ctx.join(&c, MR, &room).await?;
    let _c_beating = ctx.keep_beating(&c, MR, &room);
    let first = sa.next("EV-12: the room's next events").await?;
    let second = sa.next("EV-12: the room's next events").await?;
    ensure(
        kind(&first) == "memberJoined"
            && first["data"]["userID"] == c.id.as_str()
            && first["seq"].as_u64() > Some(last)
            && kind(&second) == "notifyPusherChange",
        "EV-12: the joined room's events after the answer's seq, as on a room connection",
        || format!("{first} {second}"),
    )?;
    sa.say(json!({"type": "CustomTextMsg", "msg": "hello", "id": 7}))
        .await?;
    let ack = sa.next_of("ack", "EV-14: the chat acknowledged").await?;
    ensure(
        ack["id"] == 7,
        "EV-7: the ack carries the message's id",
        || ack.to_string(),
    )?;
    let mut wb = Ws::open(&ctx, &b, MR, &room, None).await?;
    let mut wc = Ws::open(&ctx, &c, MR, &room, None).await?;
    sa.say(
        json!({"type": "C2CCustomMsg", "to": b.id, "cmd": "sketchpad",
                  "data": {"msg": "{\"type\":\"request\"}"}}),
    )
    .await?;
    sa.next_of("ack", "EV-7: the C2CCustomMsg acknowledged")
        .await?;
    let got = wb.next("EV-6: the C2CCustomMsg to its addressee").await?;
    ensure(
        kind(&got) == "C2CCustomMsg"
            && got["data"]
                == json!({"cmd": "sketchpad", "data": {"msg": "{\"type\":\"request\"}"},
                          "from": a.id, "to": b.id}),
        "EV-2: C2CCustomMsg {cmd, data, from, to} to its addressee",
        || got.to_string(),
    )?;
    let other = wc.next_within(Duration::from_millis(500)).await?;
    ensure(
        other.is_none(),
        "EV-6: nobody else hears a C2CCustomMsg",
        || format!("{other:?}"),
    )?;
    sa.say(json!({"type": "C2CCustomMsg", "to": b.id, "cmd": "linkmic", "data": {}}))
        .await?;
    sa.next_of("error", "EV-7: linkmic is not a C2CCustomMsg cmd")
        .await
        .map(drop)
}

async fn pending_admitted(ctx: Arc<Ctx>) -> Check {
    let Live {
        room,
        ws: mut anchor_ws,
        _beating,
        ..
    } = live_room(&ctx, "pend").await?;
    let viewer = ctx.user("viewer").await?;
    let mut sv = Ws::session(&ctx, &viewer).await?;
    sv.say(json!({"type": "join", "roomID": room, "id": 1}))
        .await?;
    let pending = sv.next("EV-12: the join's answer").await?;
    ensure(
        pending == json!({"type": "joined", "roomID": room, "state": "pending", "id": 1}),
        "EV-12: a join before the membership waits",
        || pending.to_string(),
    )?;
    chat(&mut anchor_ws, "before").await?;
    let early = sv.next_within(Duration::from_millis(500)).await?;
    ensure(
        early.is_none(),
        "EV-12: nothing from the room before the membership",
        || format!("{early:?}"),
    )?;
    add_audience(&ctx, &viewer, &room).await?;
    let admitted = sv.next("EV-12: admitted once a viewer").await?;
    let joined_at = admitted["seq"].as_u64().unwrap_or(0);
    ensure(
        admitted
            == json!({"type": "joined", "roomID": room, "roomType": LR, "state": "admitted",
                      "seq": joined_at}),
        "EV-12: the pending join admitted into the live_room",
        || admitted.to_string(),
    )?;
    let events = ctx
        .call(
            &viewer,
            LR,
            "get_room_events",
            json!({"roomID": room, "since": joined_at.saturating_sub(1)}),
        )
        .await?;
    ctx.expect(&events, 0, "EV-10: get_room_events")?;
    ensure(
        events.body["events"][0]["type"] == "audienceJoined"
            && events.body["events"][0]["seq"] == joined_at
            && events.body["events"][0]["data"]["userID"] == viewer.id.as_str(),
        "EV-12: admitted at the event that made the user present",
        || events.describe(),
    )?;
    let seq = chat(&mut anchor_ws, "after").await?;
    let event = sv
        .next("EV-12: the room's events after the membership")
        .await?;
    ensure(
        kind(&event) == "CustomTextMsg" && event["seq"] == seq && event["data"]["msg"] == "after",
        "EV-12: the first event after admission is the next one, never an earlier one",
        || event.to_string(),
    )
}

async fn pending_times_out(ctx: Arc<Ctx>) -> Check {
    let Live {
        room,
        ws: mut anchor_ws,
        _beating,
        ..
    } = live_room(&ctx, "stranger").await?;
    let [eve, mallory]: [User; 2] = ctx.users("nosy", 2).await?.try_into().expect("two");
    let nowhere = ctx.unique("noroom");
    let mut se = Ws::session(&ctx, &eve).await?;
    let mut sm = Ws::session(&ctx, &mallory).await?;
    se.say(json!({"type": "join", "roomID": room})).await?;
    sm.say(json!({"type": "join", "roomID": nowhere})).await?;
    let to_eve = se.next("EV-12: the join's answer").await?;
    let to_mallory = sm.next("EV-12: the join's answer").await?;
    ensure(
        to_eve == json!({"type": "joined", "roomID": room, "state": "pending"})
            && to_mallory == json!({"type": "joined", "roomID": nowhere, "state": "pending"}),
        "EV-12: the same answer whether or not the room exists",
        || format!("{to_eve} / {to_mallory}"),
    )?;
    chat(&mut anchor_ws, "private").await?;
    tokio::time::sleep(ctx.options.join_wait + Duration::from_secs(1)).await;
    for (who, ws, room) in [
        ("a stranger", &mut se, &room),
        ("a nobody", &mut sm, &nowhere),
    ] {
        // The cloud answers a run-out join at the connection's next message.
        ws.say(json!({"type": "ping"})).await?;
        let failed = ws.next_of("joinFailed", "EV-12: the join ends").await;
        let failed = failed.map_err(|f| {
            Failure::new(
                format!("EV-12: {who}'s pending join fails after the join wait"),
                f.received,
            )
        })?;
        ensure(
            failed == json!({"type": "joinFailed", "roomID": room, "reason": "timeout"}),
            "EV-12: joinFailed with reason timeout",
            || failed.to_string(),
        )?;
    }
    // Nothing about the room reached the stranger: only its own answers came.
    se.say(json!({"type": "ping", "id": "last"})).await?;
    loop {
        let frame = se.next("EV-12: the stranger's pong").await?;
        if frame["id"] == "last" {
            return Ok(());
        }
        ensure(
            kind(&frame) == "pong",
            "EV-12: a stranger hears nothing of the room",
            || frame.to_string(),
        )?;
    }
}

async fn following_ends(ctx: Arc<Ctx>) -> Check {
    // leave: the connection stays open and hears nothing more.
    let [a, b]: [User; 2] = ctx.users("sleave", 2).await?.try_into().expect("two");
    let (room, _beating) = multi_room(&ctx, &[&a, &b], "sleave").await?;
    let mut sa = Ws::session(&ctx, &a).await?;
    sa.say(json!({"type": "join", "roomID": room})).await?;
    sa.next_of("joined", "EV-12: admitted").await?;
    sa.say(json!({"type": "leave", "id": 2})).await?;
    let left = sa.next("EV-13: the leave's answer").await?;
    ensure(
        left == json!({"type": "left", "roomID": room, "reason": "left", "id": 2}),
        "EV-13: leave is answered left",
        || left.to_string(),
    )?;
    let mut wb = Ws::open(&ctx, &b, MR, &room, None).await?;
    chat(&mut wb, "unheard").await?;
    let after = sa.next_within(Duration::from_millis(500)).await?;
    ensure(after.is_none(), "EV-13: nothing after leaving", || {
        format!("{after:?}")
    })?;

    // The room closes: roomClosed, then left; the connection stays.
    let Live {
        anchor,
        room: live,
        ws: _anchor_ws,
        _beating,
    } = live_room(&ctx, "sclose").await?;
    let viewer = ctx.user("sclosev").await?;
    add_audience(&ctx, &viewer, &live).await?;
    let mut sv = Ws::session(&ctx, &viewer).await?;
    sv.say(json!({"type": "join", "roomID": live})).await?;
    sv.next_of("joined", "EV-12: admitted").await?;
    let destroyed = ctx
        .call(
            &anchor,
            LR,
            "destroy_room",
            json!({"roomID": live, "userID": anchor.id}),
        )
        .await?;
    ctx.expect(&destroyed, 0, "ROOM-11: destroy_room by the creator")?;
    sv.next_of("roomClosed", "EV-5: roomClosed").await?;
    let ended = sv.next("EV-13: following ends with the room").await?;
    ensure(
        ended == json!({"type": "left", "roomID": live, "reason": "roomClosed"}),
        "EV-13: left with reason roomClosed after roomClosed",
        || ended.to_string(),
    )?;
    ensure(
        sv.alive().await?,
        "EV-13: the session connection stays open",
        || "closed".into(),
    )?;

    // The user's own departure ends it when it is no longer in the room.
    let Live {
        room: show,
        ws: _show_ws,
        _beating: _show_beating,
        ..
    } = live_room(&ctx, "sgone").await?;
    add_audience(&ctx, &viewer, &show).await?;
    sv.say(json!({"type": "join", "roomID": show})).await?;
    sv.next_of("joined", "EV-12: admitted").await?;
    let gone = ctx
        .call(
            &viewer,
            LR,
            "delete_audience",
            json!({"roomID": show, "userID": viewer.id}),
        )
        .await?;
    ctx.expect(&gone, 0, "LIVE-3: delete_audience")?;
    let own = sv
        .next_of("audienceLeft", "EV-5: its own audienceLeft")
        .await?;
    ensure(
        own["data"]["userID"] == viewer.id.as_str(),
        "EV-5: the viewer's own audienceLeft",
        || own.to_string(),
    )?;
    let ended = sv.next("EV-13: following ends with the membership").await?;
    ensure(
        ended == json!({"type": "left", "roomID": show, "reason": "notPresent"}),
        "EV-13: left with reason notPresent",
        || ended.to_string(),
    )
}

async fn session_limits(ctx: Arc<Ctx>) -> Check {
    let user = ctx.user("slimit").await?;
    let mut ws = Ws::session(&ctx, &user).await?;
    let _ = ws.0.send(Message::text("x".repeat(9 * 1024))).await;
    let closed = ws.closed_within_wait().await;
    ensure(
        closed,
        "EV-8: a frame over 8 KiB closes a session connection",
        || "still open after 5 s".into(),
    )?;
    let mut flood = Ws::session(&ctx, &user).await?;
    for _ in 0..30 {
        if flood.say(json!({"type": "ping"})).await.is_err() {
            break;
        }
    }
    let mut pongs = 0;
    let closed = loop {
        match tokio::time::timeout(
            Duration::from_secs(5),
            futures_util::StreamExt::next(&mut flood.0),
        )
        .await
        {
            Ok(Some(Ok(Message::Text(text)))) => {
                if text.contains("pong") {
                    pongs += 1;
                }
            }
            Ok(Some(Ok(Message::Close(_))) | None | Some(Err(_))) => break true,
            Ok(Some(Ok(_))) => {}
            Err(_) => break false,
        }
    };
    ensure(
        closed && pongs <= 20,
        "EV-8: more than 20 messages in a second close a session connection",
        || format!("closed {closed}, {pongs} pongs"),
    )
}
