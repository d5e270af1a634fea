//! Transport and envelope: status codes, bodies in both encodings, unknown APIs, malformed and
//! oversized input, missing parameters, CORS.

use std::sync::Arc;

use serde_json::json;

use crate::case;
use crate::case::{Case, Ctx};
use crate::client::{Body, Check, ensure};
use crate::spec::Spec;

pub fn cases() -> Vec<Case> {
    vec![
        case!(
            "wire.every_endpoint_answers_the_envelope",
            ["WIRE-1", "WIRE-7"],
            every_endpoint
        ),
        case!("wire.form_and_empty_bodies", ["WIRE-2"], form_bodies),
        case!("wire.unknown_api_is_404_code_103", ["WIRE-3"], unknown_api),
        case!("wire.malformed_and_oversized_bodies", ["WIRE-4"], malformed),
        case!(
            "wire.missing_parameters_code_1",
            ["WIRE-5"],
            missing_parameters
        ),
        case!("wire.cors", ["WIRE-6"], cors),
    ]
}

/// One successful call of every API in a live room; each answer is validated against the
/// spec on the way (WIRE-7).
async fn every_endpoint(ctx: Arc<Ctx>) -> Check {
    let anchor = ctx.user("anchor").await?;
    let viewer = ctx.user("viewer").await?;
    let room = ctx.unique("envelope");
    let lr = "live_room";
    let created = ctx
        .call(
            &anchor,
            lr,
            "create_room",
            json!({"userID": anchor.id, "roomID": room, "roomInfo": "e"}),
        )
        .await?;
    ctx.expect(&created, 0, "create_room")?;
    ctx.join(&anchor, lr, &room).await?;
    let room_id = json!({"roomID": room, "userID": anchor.id});
    let steps = [
        (&anchor, "pusher_heartbeat", room_id.clone()),
        (&anchor, "get_pushers", json!({"roomID": room})),
        (&anchor, "get_room_list", json!({"cnt": 5, "index": 0})),
        (
            &viewer,
            "add_audience",
            json!({"roomID": room, "userID": viewer.id, "userInfo": "{}"}),
        ),
        (&viewer, "get_audiences", json!({"roomID": room})),
        (
            &viewer,
            "set_custom_field",
            json!({"roomID": room, "fieldName": "likes", "operation": "inc"}),
        ),
        (&viewer, "get_custom_info", json!({"roomID": room})),
        (
            &viewer,
            "delete_audience",
            json!({"roomID": room, "userID": viewer.id}),
        ),
        (&anchor, "destroy_room", room_id.clone()),
        (&anchor, "logout", json!({})),
    ];
    for (user, api, body) in steps {
        let answer = ctx.call(user, lr, api, body).await?;
        ensure(
            answer.status == 200
                && answer.body["code"].is_i64()
                && answer.body["message"].is_string(),
            "WIRE-1: HTTP 200 with an integer code and a string message",
            || format!("{api}: {}", answer.describe()),
        )?;
        ctx.expect(&answer, 0, &format!("WIRE-1: {api} succeeding"))?;
    }
    Ok(())
}

async fn form_bodies(ctx: Arc<Ctx>) -> Check {
    let user = ctx.user("form").await?;
    let room = ctx.unique("formroom");
    let mr = "multi_room";
    let created = ctx
        .call_form(
            &user,
            mr,
            "create_room",
            &[
                ("userID", &user.id),
                ("roomID", &room),
                ("roomInfo", "a form room"),
            ],
        )
        .await?;
    ctx.expect(&created, 0, "WIRE-2: create_room with a form body")?;
    let push_url = ctx.push_url(&user, mr).await?;
    let joined = ctx
        .call_form(
            &user,
            mr,
            "add_pusher",
            &[
                ("roomID", &room),
                ("userID", &user.id),
                ("userName", "form user"),
                ("userAvatar", "a"),
                ("pushURL", &push_url),
            ],
        )
        .await?;
    ctx.expect(&joined, 0, "WIRE-2: add_pusher with a form body")?;
    let pushers = ctx
        .call_form(&user, mr, "get_pushers", &[("roomID", &room)])
        .await?;
    ctx.expect(&pushers, 0, "WIRE-2: get_pushers with a form body")?;
    ensure(
        pushers.str("roomInfo") == "a form room"
            && pushers.body["pushers"][0]["userName"] == "form user",
        "WIRE-2: form values read like JSON ones",
        || pushers.describe(),
    )?;
    let empty = ctx
        .server
        .send(
            mr,
            "get_room_list",
            &[("userID", &user.id), ("token", &user.token)],
            Body::None,
        )
        .await?;
    ctx.expect(&empty, 1, "WIRE-2: an empty body read as {} (cnt missing)")
}

async fn unknown_api(ctx: Arc<Ctx>) -> Check {
    for path in [
        "/weapp/multi_room/no_such_api",
        "/weapp/double_room/add_audience",
        "/weapp/multi_room/get_audiences",
        "/weapp/nine_room/login",
    ] {
        let response = ctx
            .server
            .http()
            .post(ctx.server.url(path))
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .map_err(|e| {
                crate::client::Failure::new(format!("an answer to {path}"), e.to_string())
            })?;
        let status = response.status().as_u16();
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        ensure(
            status == 404 && body["code"] == 103,
            &format!("WIRE-3: HTTP 404 with code 103 for {path}"),
            || format!("HTTP {status} {body}"),
        )?;
    }
    ctx.server.note_asserted(103);
    Ok(())
}

async fn malformed(ctx: Arc<Ctx>) -> Check {
    let user = ctx.user("malformed").await?;
    let query = [("userID", user.id.as_str()), ("token", user.token.as_str())];
    for (what, body) in [
        ("broken JSON", b"{\"roomID\": ".to_vec()),
        ("a JSON array", b"[1, 2]".to_vec()),
    ] {
        let answer = ctx
            .server
            .send(
                "multi_room",
                "get_pushers",
                &query,
                Body::Raw("application/json", body),
            )
            .await?;
        ctx.expect(&answer, 10, &format!("WIRE-4: {what}"))?;
    }
    let mut big = b"{\"roomID\":\"".to_vec();
    big.extend(std::iter::repeat_n(b'x', 2 << 20));
    big.extend_from_slice(b"\"}");
    let answer = ctx
        .server
        .send(
            "multi_room",
            "get_pushers",
            &query,
            Body::Raw("application/json", big),
        )
        .await?;
    ctx.expect(&answer, 10, "WIRE-4: a 2 MiB body")?;
    let after = ctx
        .call(
            &user,
            "multi_room",
            "get_room_list",
            json!({"cnt": 1, "index": 0}),
        )
        .await?;
    ctx.expect(&after, 0, "WIRE-4: serving on after bad bodies")
}

async fn missing_parameters(ctx: Arc<Ctx>) -> Check {
    let user = ctx.user("params").await?;
    for (room_type, api) in Spec::get().authenticated_apis() {
        let api = api.as_str();
        let answer = ctx.call(&user, room_type, api, json!({})).await?;
        ctx.expect(
            &answer,
            1,
            &format!("WIRE-5: {room_type}/{api} with an empty body"),
        )?;
        let anonymous = ctx
            .server
            .send(room_type, api, &[], Body::Json(json!({})))
            .await?;
        ctx.expect(
            &anonymous,
            7,
            &format!("WIRE-5: {room_type}/{api} anonymous: auth first"),
        )?;
    }
    Ok(())
}

async fn cors(ctx: Arc<Ctx>) -> Check {
    let http = ctx.server.http();
    let url = ctx.server.url("/weapp/multi_room/get_room_list");
    let fail = |e: reqwest::Error| crate::client::Failure::new("an answer", e.to_string());
    let preflight = http
        .request(reqwest::Method::OPTIONS, &url)
        .header("origin", "https://app.example")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .map_err(fail)?;
    let allowed = |r: &reqwest::Response| r.headers().get("access-control-allow-origin").is_some();
    ensure(
        preflight.status().is_success() && allowed(&preflight),
        "WIRE-6: OPTIONS answered 2xx with Access-Control-Allow-Origin",
        || format!("HTTP {} {:?}", preflight.status(), preflight.headers()),
    )?;
    let post = http
        .post(&url)
        .header("origin", "https://app.example")
        .body("{}")
        .send()
        .await
        .map_err(fail)?;
    ensure(
        allowed(&post),
        "WIRE-6: Access-Control-Allow-Origin on answers",
        || format!("{:?}", post.headers()),
    )
}
