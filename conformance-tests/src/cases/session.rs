//! login, tokens and PrivateMapKey sessions (logout and the dev-mode identity endpoints are
//! in `identity.rs`).

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use flate2::Compression;
use flate2::write::ZlibEncoder;
use hmac::{Hmac, Mac};
use rtcroom_shared::usersig::{self, MapKeyRoom, PrivateMapKey, privilege};
use serde_json::json;
use sha2::Sha256;

use crate::case;
use crate::case::{Case, Ctx, ROOM_TYPES, User};
use crate::client::{Answer, Body, Check, ensure, now_secs};
use crate::spec::Spec;

pub fn cases() -> Vec<Case> {
    vec![
        case!(
            "login.valid_usersig",
            ["AUTH-1", "USERSIG-1", "USERSIG-2", "USERSIG-3"],
            valid_usersig
        ),
        case!("login.producer_variants", ["USERSIG-4"], producer_variants),
        case!("login.missing_parameters", ["AUTH-2"], missing_parameters),
        case!(
            "login.wrong_sdkappid",
            ["AUTH-2", "USERSIG-4"],
            wrong_sdkappid
        ),
        case!(
            "login.usersig_of_another_user",
            ["AUTH-2", "USERSIG-4"],
            another_user
        ),
        case!("login.forged_usersig", ["AUTH-2", "USERSIG-4"], forged),
        case!("login.altered_usersig", ["AUTH-2", "USERSIG-3"], altered),
        case!("login.expired_usersig", ["AUTH-2", "USERSIG-5"], expired),
        case!("token.required_everywhere", ["AUTH-3"], token_required),
        case!("token.valid_for_every_room_type", ["AUTH-4"], any_room_type),
        case!(
            "token.body_userid_must_match",
            ["AUTH-5"],
            body_user_mismatch
        ),
        case!(
            "token.lapses_with_its_usersig",
            ["AUTH-6"],
            lapses_with_usersig
        ),
        case!(
            "privatemapkey.bound_to_its_room",
            ["AUTH-7", "USERSIG-6"],
            map_key_room
        ),
        case!(
            "privatemapkey.privilege_bits",
            ["AUTH-7", "USERSIG-7"],
            map_key_privileges
        ),
        case!(
            "privatemapkey.numeric_room",
            ["AUTH-7", "USERSIG-6"],
            map_key_numeric
        ),
    ]
}

/// How a UserSig producer may lay its document out (usersig.md, USERSIG-4).
struct Layout {
    level: u32,
    /// Keys in reverse order, with spaces after separators.
    reordered: bool,
}

/// A UserSig built independently of the server's code, following usersig.md.
fn craft(ctx: &Ctx, id: &str, time: u64, expire: u64, layout: Layout) -> String {
    let t = &ctx.server.target;
    let content = format!(
        "TLS.identifier:{id}\nTLS.sdkappid:{}\nTLS.time:{time}\nTLS.expire:{expire}\n",
        t.sdkappid
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(t.key.as_bytes()).expect("any key length");
    mac.update(content.as_bytes());
    let sig = STANDARD.encode(mac.finalize().into_bytes());
    let fields = [
        ("TLS.ver", json!("2.0")),
        ("TLS.identifier", json!(id)),
        ("TLS.sdkappid", json!(t.sdkappid)),
        ("TLS.time", json!(time)),
        ("TLS.expire", json!(expire)),
        ("TLS.sig", json!(sig)),
    ];
    let parts: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("\"{k}\":{}{v}", if layout.reordered { " " } else { "" }))
        .collect();
    let doc = if layout.reordered {
        let rev: Vec<_> = parts.into_iter().rev().collect();
        format!("{{ {} }}", rev.join(", "))
    } else {
        format!("{{{}}}", parts.join(","))
    };
    let mut z = ZlibEncoder::new(Vec::new(), Compression::new(layout.level));
    z.write_all(doc.as_bytes()).expect("to a Vec");
    let b64 = STANDARD.encode(z.finish().expect("to a Vec"));
    b64.replace('+', "*").replace('/', "-").replace('=', "_")
}

async fn valid_usersig(ctx: Arc<Ctx>) -> Check {
    for room_type in ROOM_TYPES {
        let id = ctx.unique("login");
        let sig = ctx.server.usersig(&id, 60, 3600, None);
        let answer = ctx.server.login(room_type, &id, &sig).await?;
        ctx.expect(&answer, 0, "AUTH-1: login with a valid UserSig")?;
        ensure(
            answer.str("userID") == id,
            "AUTH-1: the userID echoed",
            || answer.describe(),
        )?;
        ensure(!answer.str("token").is_empty(), "AUTH-1: a token", || {
            answer.describe()
        })?;
    }
    Ok(())
}

async fn producer_variants(ctx: Arc<Ctx>) -> Check {
    for (level, reordered) in [(0, false), (9, false), (6, true), (1, true)] {
        let id = ctx.unique("variant");
        let sig = craft(
            &ctx,
            &id,
            now_secs() - 60,
            3600,
            Layout { level, reordered },
        );
        let answer = ctx.server.login("multi_room", &id, &sig).await?;
        ctx.expect(
            &answer,
            0,
            &format!(
                "USERSIG-4: accepting zlib level {level}{}",
                if reordered {
                    ", keys reordered, spaces"
                } else {
                    ""
                }
            ),
        )?;
    }
    Ok(())
}

async fn missing_parameters(ctx: Arc<Ctx>) -> Check {
    let id = ctx.unique("missing");
    let sig = ctx.server.usersig(&id, 60, 3600, None);
    let appid = ctx.server.target.sdkappid.to_string();
    let full = [
        ("sdkAppID", appid.as_str()),
        ("userSig", sig.as_str()),
        ("userID", id.as_str()),
    ];
    for left_out in 0..full.len() {
        let query: Vec<_> = full
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != left_out)
            .map(|(_, p)| *p)
            .collect();
        let answer = ctx
            .server
            .send("multi_room", "login", &query, Body::Json(json!({})))
            .await?;
        ctx.expect(
            &answer,
            7,
            &format!("AUTH-2: login without {}", full[left_out].0),
        )?;
    }
    Ok(())
}

async fn refused(ctx: &Ctx, id: &str, sig: &str, appid: u64, why: &str) -> Check {
    let appid = appid.to_string();
    let answer = ctx
        .server
        .send(
            "multi_room",
            "login",
            &[
                ("accountType", "0"),
                ("sdkAppID", &appid),
                ("userSig", sig),
                ("userID", id),
            ],
            Body::Json(json!({})),
        )
        .await?;
    ctx.expect(&answer, 7, why)?;
    ensure(answer.str("token").is_empty(), "AUTH-2: no token", || {
        answer.describe()
    })
}

async fn wrong_sdkappid(ctx: Arc<Ctx>) -> Check {
    let id = ctx.unique("appid");
    let t = &ctx.server.target;
    let other = t.sdkappid.wrapping_add(1);
    // Right key, but issued for (and presented with) another sdkAppID.
    let sig = usersig::generate(other, &t.key, &id, 3600, now_secs() - 60, None);
    refused(
        &ctx,
        &id,
        &sig,
        other,
        "AUTH-2: login with another sdkAppID",
    )
    .await?;
    // Issued for another sdkAppID, presented with the server's.
    refused(
        &ctx,
        &id,
        &sig,
        t.sdkappid,
        "AUTH-2: a UserSig of another sdkAppID",
    )
    .await
}

async fn another_user(ctx: Arc<Ctx>) -> Check {
    let id = ctx.unique("victim");
    let sig = ctx.server.usersig(&ctx.unique("thief"), 60, 3600, None);
    refused(
        &ctx,
        &id,
        &sig,
        ctx.server.target.sdkappid,
        "AUTH-2: another user's UserSig",
    )
    .await
}

async fn forged(ctx: Arc<Ctx>) -> Check {
    let id = ctx.unique("forged");
    let t = &ctx.server.target;
    let sig = usersig::generate(
        t.sdkappid,
        "not-the-key-0123456789",
        &id,
        3600,
        now_secs(),
        None,
    );
    refused(
        &ctx,
        &id,
        &sig,
        t.sdkappid,
        "AUTH-2: a UserSig signed with another key",
    )
    .await
}

async fn altered(ctx: Arc<Ctx>) -> Check {
    let id = ctx.unique("altered");
    let sig = ctx.server.usersig(&id, 60, 3600, None);
    let bytes = sig.as_bytes();
    for at in [0, bytes.len() / 3, bytes.len() / 2, bytes.len() - 3] {
        let mut changed = bytes.to_vec();
        changed[at] = if changed[at] == b'A' { b'B' } else { b'A' };
        let changed = String::from_utf8(changed).expect("ASCII");
        refused(
            &ctx,
            &id,
            &changed,
            ctx.server.target.sdkappid,
            &format!("AUTH-2: a UserSig with character {at} changed"),
        )
        .await?;
    }
    Ok(())
}

async fn expired(ctx: Arc<Ctx>) -> Check {
    let id = ctx.unique("expired");
    // Issued 100 s ago for 99 s: expired one second ago.
    let sig = ctx.server.usersig(&id, 100, 99, None);
    refused(
        &ctx,
        &id,
        &sig,
        ctx.server.target.sdkappid,
        "AUTH-2: an expired UserSig",
    )
    .await?;
    let still_valid = ctx.server.usersig(&id, 100, 200, None);
    let answer = ctx.server.login("multi_room", &id, &still_valid).await?;
    ctx.expect(&answer, 0, "USERSIG-5: an old UserSig within its expire")
}

async fn token_required(ctx: Arc<Ctx>) -> Check {
    let owner = ctx.user("owner").await?;
    let other = ctx.unique("other");
    for (room_type, api) in Spec::get().authenticated_apis() {
        let api = api.as_str();
        let body = Body::Json(json!({ "roomID": "r", "cnt": 1, "index": 0 }));
        let attempts: [(&str, Vec<(&str, &str)>); 4] = [
            ("no userID and token", vec![]),
            ("no token", vec![("userID", owner.id.as_str())]),
            (
                "a made-up token",
                vec![("userID", owner.id.as_str()), ("token", "made-up.token")],
            ),
            (
                "another user's token",
                vec![("userID", other.as_str()), ("token", owner.token.as_str())],
            ),
        ];
        for (what, query) in attempts {
            let answer = ctx
                .server
                .send(room_type, api, &query, body.clone())
                .await?;
            ctx.expect(
                &answer,
                7,
                &format!("AUTH-3: {room_type}/{api} with {what}"),
            )?;
        }
    }
    Ok(())
}

async fn any_room_type(ctx: Arc<Ctx>) -> Check {
    let id = ctx.unique("anytype");
    let sig = ctx.server.usersig(&id, 60, 3600, None);
    let answer = ctx.server.login("double_room", &id, &sig).await?;
    ctx.expect(&answer, 0, "AUTH-1: login")?;
    let user = User {
        id,
        token: answer.str("token").to_owned(),
    };
    for room_type in ROOM_TYPES {
        let list = ctx
            .call(
                &user,
                room_type,
                "get_room_list",
                json!({"cnt": 1, "index": 0}),
            )
            .await?;
        ctx.expect(
            &list,
            0,
            &format!("AUTH-4: a double_room token under {room_type}"),
        )?;
    }
    Ok(())
}

async fn body_user_mismatch(ctx: Arc<Ctx>) -> Check {
    let user = ctx.user("mismatch").await?;
    let room = ctx.unique("room");
    let push_url = ctx.push_url(&user, "multi_room").await?;
    let answer = ctx
        .call(
            &user,
            "multi_room",
            "add_pusher",
            json!({"roomID": room, "userID": ctx.unique("someone"), "userName": "n",
                   "userAvatar": "a", "pushURL": push_url}),
        )
        .await?;
    ctx.expect(
        &answer,
        7,
        "AUTH-5: add_pusher with another userID in the body",
    )?;
    let create = ctx
        .call(
            &user,
            "multi_room",
            "create_room",
            json!({"roomID": room, "userID": ctx.unique("someone"), "roomInfo": "x"}),
        )
        .await?;
    ctx.expect(
        &create,
        7,
        "AUTH-5: create_room with another userID in the body",
    )?;
    // Nothing changed: the roomID is still free.
    let create = ctx
        .call(
            &user,
            "multi_room",
            "create_room",
            json!({"roomID": room, "userID": user.id, "roomInfo": "x"}),
        )
        .await?;
    ctx.expect(&create, 0, "AUTH-5: the refused calls created nothing")
}

async fn lapses_with_usersig(ctx: Arc<Ctx>) -> Check {
    let id = ctx.unique("lapse");
    // Valid for 3 more seconds.
    let sig = ctx.server.usersig(&id, 10, 13, None);
    let user = ctx.sign_in(&id, &sig).await?;
    let list = json!({"cnt": 1, "index": 0});
    let answer = ctx
        .call(&user, "multi_room", "get_room_list", list.clone())
        .await?;
    ctx.expect(
        &answer,
        0,
        "AUTH-6: the token works while its UserSig is valid",
    )?;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let answer = ctx.call(&user, "multi_room", "get_room_list", list).await?;
    ctx.expect(
        &answer,
        7,
        "AUTH-6: the token refused after its UserSig expired",
    )
}

/// Signs in with a PrivateMapKey for `room` holding `privileges`.
async fn map_key_user(ctx: &Ctx, room: MapKeyRoom, privileges: u32) -> Check<User> {
    let id = ctx.unique("pmk");
    let key = PrivateMapKey {
        user_id: id.clone(),
        sdkappid: ctx.server.target.sdkappid as u32,
        room,
        expires_at: (now_secs() + 3600) as u32,
        privileges,
        account_type: 0,
    };
    let sig = ctx.server.usersig(&id, 60, 3600, Some(&key.encode()));
    ctx.sign_in(&id, &sig).await
}

async fn create(ctx: &Ctx, user: &User, room_type: &str, room: &str) -> Check<Answer> {
    ctx.call(
        user,
        room_type,
        "create_room",
        json!({"roomID": room, "userID": user.id, "roomInfo": "pmk"}),
    )
    .await
}

async fn map_key_room(ctx: Arc<Ctx>) -> Check {
    let room = ctx.unique("pmkroom");
    let elsewhere = ctx.unique("elsewhere");
    let user = map_key_user(&ctx, MapKeyRoom::Named(room.clone()), privilege::ALL).await?;
    let other = create(&ctx, &user, "multi_room", &elsewhere).await?;
    ctx.expect(&other, 7, "AUTH-7: create_room of another room")?;
    let join = ctx.add_pusher(&user, "multi_room", &elsewhere).await?;
    ctx.expect(&join, 7, "AUTH-7: add_pusher into another room")?;
    let urls = ctx
        .call(
            &user,
            "multi_room",
            "get_push_url",
            json!({"userID": user.id, "roomID": elsewhere}),
        )
        .await?;
    ctx.expect(&urls, 7, "AUTH-7: get_push_url for another room")?;
    let own = create(&ctx, &user, "multi_room", &room).await?;
    ctx.expect(&own, 0, "AUTH-7: create_room of the key's room")?;
    ctx.join(&user, "multi_room", &room).await
}

async fn map_key_privileges(ctx: Arc<Ctx>) -> Check {
    let room = ctx.unique("pmkbits");
    let enter_only = privilege::ENTER_ROOM | privilege::SEND_AUDIO | privilege::SEND_VIDEO;
    let user = map_key_user(&ctx, MapKeyRoom::Named(room.clone()), enter_only).await?;
    let made = create(&ctx, &user, "multi_room", &room).await?;
    ctx.expect(&made, 7, "AUTH-7: create_room without bit 1")?;
    let join = ctx.add_pusher(&user, "multi_room", &room).await?;
    ctx.expect(&join, 3, "AUTH-7: add_pusher creating a room without bit 1")?;
    let viewer = privilege::CREATE_ROOM
        | privilege::ENTER_ROOM
        | privilege::RECV_AUDIO
        | privilege::RECV_VIDEO;
    let watcher = map_key_user(&ctx, MapKeyRoom::Named(room.clone()), viewer).await?;
    let urls = ctx
        .call(
            &watcher,
            "multi_room",
            "get_push_url",
            json!({"userID": watcher.id, "roomID": room}),
        )
        .await?;
    ctx.expect(&urls, 7, "AUTH-7: get_push_url without a send bit")?;
    let creator = map_key_user(&ctx, MapKeyRoom::Named(room.clone()), privilege::ALL).await?;
    ctx.join(&creator, "multi_room", &room).await?;
    // A pushURL shaped like one issued to the watcher (URL-2), made from the creator's.
    let creators = ctx.push_url(&creator, "multi_room").await?;
    let watchers = creators.replace(&format!("_{}_", creator.id), &format!("_{}_", watcher.id));
    let join = ctx
        .add_pusher_with(&watcher, "multi_room", &room, &watchers)
        .await?;
    ctx.expect(&join, 7, "AUTH-7: add_pusher without a send bit")?;
    // With the room there, entering needs no create bit.
    ctx.join(&user, "multi_room", &room).await
}

async fn map_key_numeric(ctx: Arc<Ctx>) -> Check {
    let number = 1_000_000 + rand::random::<u32>() % 3_000_000_000;
    let user = map_key_user(&ctx, MapKeyRoom::Numeric(number), privilege::ALL).await?;
    ctx.join(&user, "double_room", &number.to_string()).await?;
    let join = ctx
        .add_pusher(&user, "double_room", &(number as u64 + 1).to_string())
        .await?;
    ctx.expect(&join, 7, "AUTH-7: a numeric key is for its room only")
}
