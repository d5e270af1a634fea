//! Recording, an rtcroom extension a server may offer per room type (room-semantics.md REC-1
//! to REC-3, url-signing.md URL-9). Each room type is found to be recorded always (its push
//! URLs carry a policy), on request (`create_room` with `record` succeeds) or never (that is
//! refused with code 1, as is `get_push_url` with `record`); the recorded ones have their
//! policies and signatures checked here, independently of any server's code. No media is published: what
//! the relay files is the project's end-to-end tests' to check.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;

use super::streams::parse;
use crate::case;
use crate::case::{Case, Ctx, Needs, User};
use crate::client::{Check, Failure, ensure};

pub fn cases() -> Vec<Case> {
    vec![
        case!(
            "recording.policy_in_push_urls",
            ["REC-1", "REC-2", "URL-9"],
            policies,
            needs: Needs::PushKey
        ),
        case!("get_recordings.creator_only", ["REC-3"], listing),
    ]
}

const ROOM_TYPES: [(&str, &str); 3] = [
    ("double_room", "double"),
    ("multi_room", "multi"),
    ("live_room", "live"),
];

/// The `record` parameter of a URL, if it has one.
fn record_param(url: &str) -> Option<String> {
    let (_, query) = url.split_once('?')?;
    query
        .split('&')
        .find_map(|p| p.strip_prefix("record="))
        .map(str::to_owned)
}

fn text(b64: &str) -> Option<String> {
    String::from_utf8(URL_SAFE_NO_PAD.decode(b64).ok()?).ok()
}

async fn policies(ctx: Arc<Ctx>) -> Check {
    let push_key = ctx
        .server
        .target
        .push_key
        .clone()
        .expect("the runner checks --push-key");
    let user = ctx.user("rec").await?;
    for (room_type, token) in ROOM_TYPES {
        let room = ctx.unique("rec");
        let get_push_url =
            |body: serde_json::Value| ctx.call(&user, room_type, "get_push_url", body);
        let mut answer = get_push_url(json!({"userID": user.id, "roomID": room})).await?;
        ctx.expect(&answer, 0, "URL-USE-1: get_push_url")?;
        if record_param(answer.str("pushURL")).is_none() {
            // Not recorded always: on request (create_room with record), or never.
            let created = ctx
                .call(
                    &user,
                    room_type,
                    "create_room",
                    json!({"userID": user.id, "roomID": room, "roomInfo": "rec", "record": true}),
                )
                .await?;
            if created.code() != 0 {
                ctx.expect(
                    &created,
                    1,
                    "REC-1: create_room with record where never recorded",
                )?;
                let asked = get_push_url(json!({"userID": user.id, "record": true})).await?;
                ctx.expect(
                    &asked,
                    1,
                    "REC-1: get_push_url with record where never recorded",
                )?;
                continue;
            }
            answer = get_push_url(json!({"userID": user.id, "roomID": room})).await?;
            ctx.expect(&answer, 0, "URL-USE-1: get_push_url")?;
            let asked = get_push_url(json!({"userID": user.id, "record": true})).await?;
            ctx.expect(
                &asked,
                0,
                "REC-1: get_push_url with record, before the room exists",
            )?;
            if record_param(answer.str("pushURL")).is_none()
                && record_param(asked.str("pushURL")).is_none()
            {
                // `record` ignored throughout: a server without recording (REC applies
                // where a server records).
                continue;
            }
            ensure(
                record_param(answer.str("pushURL")).is_some(),
                "REC-1: get_push_url for a room created to be recorded carries the policy",
                || answer.describe(),
            )?;
            // REC-2: a recorded stream does not join a room that is not recorded (one that
            // add_pusher creates).
            let elsewhere = ctx
                .add_pusher_with(&user, room_type, &ctx.unique("rec"), asked.str("pushURL"))
                .await?;
            ctx.expect(
                &elsewhere,
                1,
                "REC-2: add_pusher of a recorded stream into a room that is not recorded",
            )?;
        }
        let push_url = answer.str("pushURL").to_owned();
        let policy = record_param(&push_url).expect("checked above");
        let show = || answer.describe();
        let url = parse(&push_url)
            .ok_or_else(|| Failure::new("URL-4: a recorded pushURL's shape", show()))?;
        // URL-9: {format}.{type}.{room}.{user}, and a txSecret that covers it.
        let parts: Vec<&str> = policy.split('.').collect();
        ensure(
            parts.len() == 4
                && matches!(parts[0], "mp4" | "flv")
                && parts[1] == token
                && text(parts[2]).as_deref() == Some(room.as_str())
                && text(parts[3]).as_deref() == Some(user.id.as_str()),
            "URL-9: record={format}.{room type}.{base64url roomID}.{base64url userID} for this room and caller",
            show,
        )?;
        let mut mac = Hmac::<Sha256>::new_from_slice(push_key.as_bytes()).expect("any key length");
        mac.update(format!("rtcroom-record\n{}\n{}\n{policy}", url.stream, url.tx_time).as_bytes());
        let expected: String = mac.finalize().into_bytes()[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        ensure(
            url.tx_secret.eq_ignore_ascii_case(&expected),
            "URL-9: txSecret = hex(HMAC-SHA256(push key, \"rtcroom-record\\n\" + stream + \"\\n\" + txTime + \"\\n\" + policy)[..16])",
            || format!("{} (expected txSecret {expected})", answer.describe()),
        )?;
        if let Some(srt) = answer.body.get("srtPushURL").and_then(|v| v.as_str()) {
            let srt = srt.to_ascii_lowercase();
            ensure(
                srt.contains(&format!(",record={}", policy.to_ascii_lowercase()))
                    && srt.contains(&format!("txsecret={expected}")),
                "REC-1/URL-9: a recorded stream's srtPushURL carries its policy (record=) under the same txSecret",
                show,
            )?;
        }
        // REC-2: the same URL without its policy does not join a room of this type.
        let stripped = push_url.replace(&format!("&record={policy}"), "");
        let refused = ctx
            .add_pusher_with(&user, room_type, &room, &stripped)
            .await?;
        ctx.expect(
            &refused,
            1,
            "REC-2: add_pusher with a pushURL without its policy",
        )?;
        let joined = ctx
            .add_pusher_with(&user, room_type, &room, &push_url)
            .await?;
        ctx.expect(
            &joined,
            0,
            "REC-2: add_pusher with get_push_url's recorded pushURL",
        )?;
        ctx.leave(&user, room_type, &room).await?;
    }
    Ok(())
}

async fn listing(ctx: Arc<Ctx>) -> Check {
    let [alice, bob] = <[User; 2]>::try_from(ctx.users("recl", 2).await?).expect("two users");
    let call = |user: &User, room: &str| {
        let ctx = ctx.clone();
        let (user, room) = (user.clone(), room.to_owned());
        async move {
            ctx.call(
                &user,
                "multi_room",
                "get_recordings",
                json!({"roomID": room}),
            )
            .await
        }
    };
    let never = ctx.unique("recl");
    let answer = call(&alice, &never).await?;
    ctx.expect(&answer, 3, "REC-3: get_recordings of a room that never was")?;
    let room = ctx.unique("recl");
    ctx.join(&alice, "multi_room", &room).await?;
    let mine = call(&alice, &room).await?;
    ctx.expect(
        &mine,
        0,
        "REC-3: the creator of the present room, before anything is filed",
    )?;
    ensure(
        mine.body["recordings"]
            .as_array()
            .is_some_and(Vec::is_empty),
        "REC-3: an empty recordings list",
        || mine.describe(),
    )?;
    let theirs = call(&bob, &room).await?;
    ctx.expect(
        &theirs,
        3,
        "REC-3: get_recordings by someone who may see nothing",
    )?;
    ctx.leave(&alice, "multi_room", &room).await?;
    Ok(())
}
