//! Room events: the WebSocket channel and its HTTP fallback (`spec/events.md`).

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::Message;

use super::ws::{WAIT, Ws, ws_url};
use crate::case;
use crate::case::{Case, Ctx, User};
use crate::client::{Check, Failure, ensure};

pub fn cases() -> Vec<Case> {
    vec![
        case!(
            "events.http_send_and_read",
            ["EV-1", "EV-2", "EV-3", "EV-9", "EV-10"],
            http_send_and_read
        ),
        case!(
            "events.http_strangers_refused",
            ["EV-9", "EV-10"],
            http_strangers
        ),
        case!(
            "events.ws_hears_a_join",
            ["EV-2", "EV-4", "EV-5"],
            ws_hears_a_join
        ),
        case!("events.ws_refuses_strangers", ["EV-4"], ws_refusals),
        case!("events.ws_resumes_with_since", ["EV-5"], ws_resume),
        case!(
            "events.ws_messages_and_private_linkmic",
            ["EV-6", "EV-7"],
            ws_messages
        ),
        case!("events.ws_cuts_off_oversize_frames", ["EV-8"], ws_oversize),
    ]
}

const MR: &str = "multi_room";

/// Two members of a new multi_room.
async fn pair(ctx: &Ctx) -> Check<(User, User, String)> {
    let room = ctx.unique("events");
    let (a, b) = (ctx.user("eva").await?, ctx.user("evb").await?);
    ctx.join(&a, MR, &room).await?;
    ctx.join(&b, MR, &room).await?;
    Ok((a, b, room))
}

async fn send_text(ctx: &Ctx, user: &User, room: &str, msg: &str) -> Check<u64> {
    let answer = ctx
        .call(
            user,
            MR,
            "send_room_msg",
            json!({"roomID": room, "userID": user.id, "cmd": "CustomTextMsg", "msg": msg,
                   "userName": "N"}),
        )
        .await?;
    ctx.expect(&answer, 0, "EV-9: a member's send_room_msg")?;
    answer.body["seq"]
        .as_u64()
        .ok_or_else(|| Failure::new("EV-9: the answer's seq", answer.describe()))
}

async fn events_since(ctx: &Ctx, user: &User, room: &str, since: u64) -> Check<Vec<Value>> {
    let answer = ctx
        .call(
            user,
            MR,
            "get_room_events",
            json!({"roomID": room, "since": since}),
        )
        .await?;
    ctx.expect(&answer, 0, "EV-10: a member's get_room_events")?;
    Ok(answer.body["events"]
        .as_array()
        .cloned()
        .unwrap_or_default())
}

fn field(event: &Value, name: &str) -> String {
    event[name].as_str().unwrap_or_default().to_owned()
}

async fn http_send_and_read(ctx: Arc<Ctx>) -> Check {
    let (a, b, room) = pair(&ctx).await?;
    let first = send_text(&ctx, &a, &room, "one").await?;
    let second = send_text(&ctx, &a, &room, "two").await?;
    ensure(second > first, "EV-1: seq strictly increases", || {
        format!("{first} then {second}")
    })?;
    // Everything since 0 is kept: the joins, their notifications, both messages (EV-3).
    let events = events_since(&ctx, &b, &room, 0).await?;
    let show = || Value::Array(events.clone()).to_string();
    let seqs: Vec<u64> = events.iter().filter_map(|e| e["seq"].as_u64()).collect();
    ensure(
        seqs.len() == events.len() && seqs.windows(2).all(|w| w[0] < w[1]),
        "EV-1: events in strictly increasing seq order",
        show,
    )?;
    ensure(
        events
            .iter()
            .all(|e| e["roomID"] == room.as_str() && e["at"].is_u64() && e["data"].is_object()),
        "EV-1: {seq, roomID, type, at, data}",
        show,
    )?;
    let joined = events
        .iter()
        .any(|e| field(e, "type") == "memberJoined" && e["data"]["userID"] == b.id.as_str());
    let notified = events.iter().any(|e| {
        field(e, "type") == "notifyPusherChange"
            && e["data"] == json!({"cmd": "notifyPusherChange", "data": ""})
    });
    ensure(
        joined && notified,
        "EV-2: memberJoined and the 2018 notifyPusherChange payload",
        show,
    )?;
    let texts: Vec<&Value> = events
        .iter()
        .filter(|e| field(e, "type") == "CustomTextMsg")
        .collect();
    ensure(
        texts.len() == 2
            && texts[0]["seq"] == first
            && texts[0]["data"]
                == json!({"cmd": "CustomTextMsg", "data": {"nickName": "N", "headPic": ""},
                          "userID": a.id, "msg": "one"}),
        "EV-2: CustomTextMsg with the 2018 payload, at the seq send_room_msg answered",
        show,
    )?;
    let tail = events_since(&ctx, &b, &room, first).await?;
    ensure(
        tail.len() == 1 && tail[0]["seq"] == second,
        "EV-10: only events after since",
        || Value::Array(tail.clone()).to_string(),
    )
}

async fn http_strangers(ctx: Arc<Ctx>) -> Check {
    let (_, _, room) = pair(&ctx).await?;
    let eve = ctx.user("eve").await?;
    let sent = ctx
        .call(
            &eve,
            MR,
            "send_room_msg",
            json!({"roomID": room, "userID": eve.id, "cmd": "CustomTextMsg", "msg": "x"}),
        )
        .await?;
    ctx.expect(&sent, 5, "EV-9: send_room_msg by a non-member")?;
    let read = ctx
        .call(
            &eve,
            MR,
            "get_room_events",
            json!({"roomID": room, "since": 0}),
        )
        .await?;
    ctx.expect(&read, 5, "EV-10: get_room_events by a non-member")
}

async fn ws_hears_a_join(ctx: Arc<Ctx>) -> Check {
    let (a, _, room) = pair(&ctx).await?;
    let mut ws = Ws::open(&ctx, &a, MR, &room, None).await?;
    let c = ctx.user("evc").await?;
    ctx.join(&c, MR, &room).await?;
    let joined = ws.next("EV-5: the join's events").await?;
    let change = ws.next("EV-5: the join's events").await?;
    ensure(
        field(&joined, "type") == "memberJoined"
            && joined["data"]["userID"] == c.id.as_str()
            && field(&change, "type") == "notifyPusherChange"
            && change["seq"].as_u64() > joined["seq"].as_u64(),
        "EV-2/EV-5: memberJoined then notifyPusherChange, in seq order",
        || format!("{joined} {change}"),
    )
}

async fn ws_refusals(ctx: Arc<Ctx>) -> Check {
    let (a, _, room) = pair(&ctx).await?;
    let eve = ctx.user("eve").await?;
    let forged = User {
        id: a.id.clone(),
        token: format!("{}x", a.token),
    };
    for (who, user) in [("a non-member", &eve), ("a forged token", &forged)] {
        let refused = match connect_async(ws_url(&ctx, user, Some((MR, &room)), None)).await {
            Err(_) => true,
            // Refused after the upgrade: the server closes at once.
            Ok((mut ws, _)) => matches!(
                tokio::time::timeout(WAIT, ws.next()).await,
                Ok(Some(Ok(Message::Close(_))) | None | Some(Err(_)))
            ),
        };
        ensure(refused, &format!("EV-4: {who} is refused"), || {
            "the WebSocket opened and stayed open".into()
        })?;
    }
    Ok(())
}

async fn ws_resume(ctx: Arc<Ctx>) -> Check {
    let (a, b, room) = pair(&ctx).await?;
    let seen = send_text(&ctx, &b, &room, "seen").await?;
    for i in 0..5 {
        send_text(&ctx, &b, &room, &format!("missed {i}")).await?;
    }
    let mut ws = Ws::open(&ctx, &a, MR, &room, Some(seen)).await?;
    for i in 0..5u64 {
        let event = ws.next("EV-5: the missed events").await?;
        ensure(
            event["seq"].as_u64() == Some(seen + 1 + i)
                && event["data"]["msg"] == format!("missed {i}").as_str(),
            "EV-5: every missed event once, in order",
            || event.to_string(),
        )?;
    }
    let extra = ws.next_within(Duration::from_millis(500)).await?;
    ensure(
        extra.is_none(),
        "EV-5: nothing more than what was missed",
        || format!("{extra:?}"),
    )
}

async fn ws_messages(ctx: Arc<Ctx>) -> Check {
    let (a, b, room) = pair(&ctx).await?;
    let c = ctx.user("evc").await?;
    ctx.join(&c, MR, &room).await?;
    let mut wa = Ws::open(&ctx, &a, MR, &room, None).await?;
    let mut wb = Ws::open(&ctx, &b, MR, &room, None).await?;
    let mut wc = Ws::open(&ctx, &c, MR, &room, None).await?;
    wa.say(json!({"type": "ping"})).await?;
    let pong = wa.next("EV-7: pong").await?;
    ensure(
        pong == json!({"type": "pong"}),
        "EV-7: ping → pong",
        || pong.to_string(),
    )?;
    wa.say(json!({"type": "linkmic", "to": b.id, "data": {"type": "request"}}))
        .await?;
    wa.next_of("ack", "EV-7: a recorded message is acknowledged")
        .await?;
    let got = wb.next("EV-6: the linkmic to its addressee").await?;
    ensure(
        field(&got, "type") == "linkmic"
            && got["data"]["data"]["type"] == "request"
            && got["data"]["from"] == a.id.as_str(),
        "EV-6: the addressee gets the linkmic",
        || got.to_string(),
    )?;
    wa.say(json!({"type": "CustomTextMsg", "msg": "all"}))
        .await?;
    wa.next_of("ack", "EV-7: a recorded message is acknowledged")
        .await?;
    let at_c = wc.next("EV-7: the room's chat").await?;
    ensure(
        field(&at_c, "type") == "CustomTextMsg" && at_c["data"]["msg"] == "all",
        "EV-6: a third member sees the chat but not the linkmic",
        || at_c.to_string(),
    )?;
    wa.say(json!({"type": "nonsense"})).await?;
    wa.next_of("error", "EV-7: an unknown message gets an error")
        .await
        .map(drop)
}

async fn ws_oversize(ctx: Arc<Ctx>) -> Check {
    let (a, b, room) = pair(&ctx).await?;
    let mut big = Ws::open(&ctx, &a, MR, &room, None).await?;
    let mut other = Ws::open(&ctx, &b, MR, &room, None).await?;
    let _ = big.0.send(Message::text("x".repeat(9 * 1024))).await;
    let closed = big.closed_within_wait().await;
    ensure(
        closed,
        "EV-8: a frame over 8 KiB closes the connection",
        || "still open after 5 s".into(),
    )?;
    send_text(&ctx, &a, &room, "after").await?;
    let event = other.next("EV-8: the others unaffected").await?;
    ensure(
        event["data"]["msg"] == "after",
        "EV-8: other connections keep receiving",
        || event.to_string(),
    )
}
