//! logout, and the dev-mode identity endpoints (`get_login_info`, `get_im_login_info`).

use std::sync::Arc;

use rtcroom_shared::usersig;
use serde_json::json;

use crate::case;
use crate::case::{Case, Ctx};
use crate::client::{Answer, Body, Check, Failure, ensure, now_secs};

pub fn cases() -> Vec<Case> {
    vec![
        case!("logout.always_succeeds", ["AUTH-8"], logout),
        case!("get_login_info.dev_mode_only", ["AUTH-9"], dev_login),
    ]
}

async fn logout(ctx: Arc<Ctx>) -> Check {
    let user = ctx.user("logout").await?;
    let answer = ctx.call(&user, "multi_room", "logout", json!({})).await?;
    ctx.expect(&answer, 0, "AUTH-8: logout")?;
    let anonymous = ctx
        .server
        .send("live_room", "logout", &[], Body::Json(json!({})))
        .await?;
    ctx.expect(&anonymous, 0, "AUTH-8: logout without a session")
}

async fn dev_login(ctx: Arc<Ctx>) -> Check {
    let t = &ctx.server.target;
    let id = ctx.unique("dev");
    let answer = ctx
        .server
        .send("utils", "get_login_info", &[("userID", &id)], Body::None)
        .await?;
    let dev_mode = answer.code() == 0;
    if !dev_mode {
        ctx.expect(
            &answer,
            102,
            "AUTH-9: get_login_info: code 0 in dev mode, else 102",
        )?;
        let g1 = ctx
            .server
            .send(
                "multi_room",
                "get_im_login_info",
                &[("userID", &id)],
                Body::Json(json!({})),
            )
            .await?;
        return ctx.expect(&g1, 102, "AUTH-9: get_im_login_info off with dev mode");
    }
    ctx.expect(&answer, 0, "AUTH-9: get_login_info in dev mode")?;
    let check = |answer: &Answer, user: &str| -> Check {
        ensure(
            answer.body["sdkAppID"].as_u64() == Some(t.sdkappid),
            "AUTH-9: the server's sdkAppID",
            || answer.describe(),
        )?;
        // The 2018 clients pass accType to their IM SDK's login, which refuses a falsy one.
        ensure(
            answer.body["accType"]
                .as_str()
                .is_some_and(|a| !a.is_empty() && a != "0"),
            "AUTH-9: accType a non-empty string (not \"0\")",
            || answer.describe(),
        )?;
        usersig::verify(answer.str("userSig"), t.sdkappid, user, &t.key, now_secs())
            .map(drop)
            .map_err(|e| {
                Failure::new(
                    "AUTH-9: a userSig that verifies with the server's key",
                    format!("{e}: {}", answer.describe()),
                )
            })
    };
    check(&answer, &id)?;
    let invented = ctx
        .server
        .send("utils", "get_login_info", &[], Body::None)
        .await?;
    ctx.expect(&invented, 0, "AUTH-9: get_login_info without userID")?;
    let invented_id = invented.str("userID").to_owned();
    ensure(
        !invented_id.is_empty(),
        "AUTH-9: an invented userID",
        || invented.describe(),
    )?;
    check(&invented, &invented_id)?;
    let g1 = ctx
        .server
        .send(
            "multi_room",
            "get_im_login_info",
            &[("userID", &id)],
            Body::Json(json!({})),
        )
        .await?;
    ctx.expect(&g1, 0, "AUTH-9: get_im_login_info in dev mode")?;
    check(&g1, &id)
}
