//! Code 7: UserSig, token and PrivateMapKey checks, and the rule that the token's user is the
//! only user a call may act for.

mod common;

use common::{Gateway, KEY, SDKAPPID, code};
use rtcroom_shared::model::RoomType;
use rtcroom_shared::usersig::{self, MapKeyRoom, PrivateMapKey, privilege};
use serde_json::json;

const NOW: u64 = common::START_MS / 1000;

#[tokio::test]
async fn login_refuses_bad_missing_expired_and_foreign_usersigs() {
    let gw = Gateway::start().await;
    let good = usersig::generate(SDKAPPID, KEY, "alice", 60, NOW, None);
    assert_eq!(code(&gw.login(RoomType::Multi, "alice", &good).await), 0);
    let cases = [
        (
            "for another user",
            gw.login(RoomType::Multi, "mallory", &good).await,
        ),
        (
            "another key",
            gw.login(
                RoomType::Multi,
                "alice",
                &usersig::generate(SDKAPPID, "another-key-0123456789", "alice", 60, NOW, None),
            )
            .await,
        ),
        (
            "another app",
            gw.login(
                RoomType::Multi,
                "alice",
                &usersig::generate(SDKAPPID + 1, KEY, "alice", 60, NOW, None),
            )
            .await,
        ),
        (
            "garbage",
            gw.login(RoomType::Multi, "alice", "eJy!!!").await,
        ),
        (
            "expired",
            gw.login(
                RoomType::Multi,
                "alice",
                &usersig::generate(SDKAPPID, KEY, "alice", 60, NOW - 61, None),
            )
            .await,
        ),
        (
            "no sig",
            gw.post(
                "multi_room/login",
                &[("userID", "alice"), ("sdkAppID", "1400000000")],
                &json!({}),
            )
            .await,
        ),
        (
            "wrong sdkAppID",
            gw.post(
                "multi_room/login",
                &[("userID", "alice"), ("sdkAppID", "1"), ("userSig", &good)],
                &json!({}),
            )
            .await,
        ),
    ];
    for (why, answer) in cases {
        assert_eq!(code(&answer), 7, "{why}: {answer}");
    }
}

#[tokio::test]
async fn calls_need_a_valid_token_of_the_body_user() {
    let gw = Gateway::start().await;
    let alice = gw.user(RoomType::Multi, "alice").await;
    let bob = gw.user(RoomType::Multi, "bob").await;
    alice.join("r").await;
    bob.join("r").await;

    // A's token with body userID B: refused, and B stays.
    let impersonation = gw
        .post(
            "multi_room/delete_pusher",
            &[("userID", "alice"), ("token", &alice.token)],
            &json!({ "roomID": "r", "userID": "bob" }),
        )
        .await;
    assert_eq!(code(&impersonation), 7, "{impersonation}");
    // A's token presented as B's.
    let stolen = gw
        .post(
            "multi_room/delete_pusher",
            &[("userID", "bob"), ("token", &alice.token)],
            &json!({ "roomID": "r", "userID": "bob" }),
        )
        .await;
    assert_eq!(code(&stolen), 7, "{stolen}");
    assert_eq!(alice.pusher_ids("r").await.unwrap(), ["alice", "bob"]);

    let mut forged = alice.token.clone().into_bytes();
    let last = forged.len() - 1;
    forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    for query in [
        vec![("userID", "alice"), ("token", forged.as_str())],
        vec![("userID", "alice")],
        vec![("token", alice.token.as_str())],
        vec![],
    ] {
        let answer = gw
            .post("multi_room/get_pushers", &query, &json!({ "roomID": "r" }))
            .await;
        assert_eq!(code(&answer), 7, "{query:?}: {answer}");
    }
}

#[tokio::test]
async fn tokens_expire_after_a_day_and_work_across_room_types() {
    let gw = Gateway::start().await;
    let alice = gw.user(RoomType::Multi, "alice").await;
    let same_token_live = gw
        .post(
            "live_room/get_room_list",
            &[("userID", "alice"), ("token", &alice.token)],
            &json!({ "cnt": 1, "index": 0 }),
        )
        .await;
    assert_eq!(code(&same_token_live), 0);
    gw.advance(86_400_000 - 1_000);
    assert_eq!(
        code(
            &alice
                .call("get_room_list", json!({ "cnt": 1, "index": 0 }))
                .await
        ),
        0
    );
    gw.advance(1_000);
    assert_eq!(
        code(
            &alice
                .call("get_room_list", json!({ "cnt": 1, "index": 0 }))
                .await
        ),
        7
    );
}

#[tokio::test]
async fn a_token_never_outlives_its_usersig() {
    let gw = Gateway::start().await;
    let short = usersig::generate(SDKAPPID, KEY, "alice", 60, NOW, None);
    let login = gw.login(RoomType::Multi, "alice", &short).await;
    let token = login["token"].as_str().unwrap();
    let list = || async {
        gw.post(
            "multi_room/get_room_list",
            &[("userID", "alice"), ("token", token)],
            &json!({ "cnt": 1, "index": 0 }),
        )
        .await
    };
    assert_eq!(code(&list().await), 0);
    gw.advance(60_000);
    assert_eq!(code(&list().await), 7);
}

async fn map_key_user<'a>(
    gw: &'a Gateway,
    user: &str,
    room: &str,
    privileges: u32,
) -> common::User<'a> {
    let key = PrivateMapKey {
        user_id: user.into(),
        sdkappid: SDKAPPID as u32,
        room: MapKeyRoom::Named(room.into()),
        expires_at: (NOW + 3600) as u32,
        privileges,
        account_type: 0,
    };
    let sig = usersig::generate(SDKAPPID, KEY, user, 3600, NOW, Some(&key.encode()));
    let login = gw.login(RoomType::Multi, user, &sig).await;
    assert_eq!(code(&login), 0, "{login}");
    common::User {
        gateway: gw,
        room_type: RoomType::Multi,
        id: user.into(),
        token: login["token"].as_str().unwrap().into(),
    }
}

#[tokio::test]
async fn a_private_map_key_for_room_a_opens_only_room_a() {
    let gw = Gateway::start().await;
    let guest = map_key_user(
        &gw,
        "guest",
        "A",
        privilege::ENTER_ROOM | privilege::SEND_AUDIO | privilege::SEND_VIDEO,
    )
    .await;
    let host = gw.user(RoomType::Multi, "host").await;
    host.join("A").await;
    host.join("B").await;

    assert_eq!(code(&guest.join("B").await), 7, "cannot enter room B");
    let create_b = guest
        .call(
            "create_room",
            json!({ "userID": "guest", "roomInfo": "", "roomID": "B2" }),
        )
        .await;
    assert_eq!(code(&create_b), 7, "cannot create another room");
    let create_a = guest
        .call(
            "create_room",
            json!({ "userID": "guest", "roomInfo": "", "roomID": "A" }),
        )
        .await;
    assert_eq!(
        code(&create_a),
        7,
        "no create privilege, not even for room A"
    );
    assert_eq!(
        code(&guest.join("A").await),
        0,
        "may enter and publish in room A"
    );
    assert_eq!(host.pusher_ids("A").await.unwrap(), ["host", "guest"]);
    assert_eq!(code(&guest.join("C").await), 7);
}

#[tokio::test]
async fn a_private_map_key_without_create_cannot_open_an_unknown_room() {
    let gw = Gateway::start().await;
    let guest = map_key_user(
        &gw,
        "guest",
        "A",
        privilege::ENTER_ROOM | privilege::SEND_AUDIO,
    )
    .await;
    assert_eq!(
        code(&guest.join("A").await),
        3,
        "room A does not exist and guest may not create it"
    );
    let creator = map_key_user(&gw, "creator", "A", privilege::ALL).await;
    let created = creator
        .call(
            "create_room",
            json!({ "userID": "creator", "roomInfo": "x" }),
        )
        .await;
    assert_eq!(created["roomID"], "A", "a key's room is the default roomID");
    assert_eq!(code(&creator.join("A").await), 0);
}

#[tokio::test]
async fn a_viewer_only_key_cannot_publish() {
    let gw = Gateway::start().await;
    let viewer = map_key_user(
        &gw,
        "viewer",
        "A",
        privilege::ENTER_ROOM | privilege::RECV_AUDIO | privilege::RECV_VIDEO,
    )
    .await;
    let push = viewer
        .call("get_push_url", json!({ "userID": "viewer", "roomID": "A" }))
        .await;
    assert_eq!(code(&push), 7, "{push}");
}

#[tokio::test]
async fn a_push_url_of_someone_else_cannot_be_claimed() {
    let gw = Gateway::start().await;
    let alice = gw.user(RoomType::Multi, "alice").await;
    let mallory = gw.user(RoomType::Multi, "mallory").await;
    let alices_url = alice.push_url().await;
    let answer = mallory
        .call("add_pusher", json!({ "roomID": "r", "userID": "mallory", "userName": "m", "userAvatar": "", "pushURL": alices_url }))
        .await;
    assert_eq!(code(&answer), 7, "{answer}");
}
