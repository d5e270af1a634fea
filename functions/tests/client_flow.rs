//! The whole client flow for each room type, as rtcroom.js / liveroom.js drive it, over HTTP.

mod common;

use common::{Gateway, code};
use rtcroom_shared::model::RoomType;
use serde_json::{Value, json};

#[tokio::test]
async fn every_room_type_supports_the_whole_client_flow() {
    let gw = Gateway::start().await;
    for room_type in RoomType::ALL {
        let alice = gw.user(room_type, "alice").await;
        let bob = gw.user(room_type, "bob").await;

        let created = alice
            .call(
                "create_room",
                json!({ "userID": "alice", "roomInfo": "alice's room" }),
            )
            .await;
        assert_eq!(code(&created), 0, "{created}");
        let room_id = created["roomID"].as_str().unwrap().to_owned();
        assert!(
            room_id.starts_with("room_") && room_id.len() == "room_01234567_89ab".len(),
            "{room_id}"
        );
        assert_eq!(
            code(&alice.pushers(&room_id).await),
            3,
            "inactive until the first add_pusher"
        );

        let push = alice
            .call(
                "get_push_url",
                json!({ "userID": "alice", "roomID": room_id }),
            )
            .await;
        let push_url = push["pushURL"].as_str().unwrap();
        assert!(
            push_url.starts_with("rtmp://127.0.0.1:1935/live/8888_alice_"),
            "{push}"
        );
        assert!(push_url.contains("txSecret=") && push_url.contains("&txTime="));
        assert!(
            push["accelerateURL"]
                .as_str()
                .unwrap()
                .starts_with("rtmp://")
        );
        assert!(push["playURL"].as_str().unwrap().contains(".flv?"));

        let joined = alice
            .call(
                "add_pusher",
                json!({ "roomID": room_id, "userID": "alice", "userName": "Alice", "userAvatar": "a.png", "pushURL": push_url }),
            )
            .await;
        assert_eq!(
            (code(&joined), joined["roomID"].as_str()),
            (0, Some(room_id.as_str())),
            "{joined}"
        );
        assert_eq!(code(&bob.join(&room_id).await), 0);

        let room = bob.pushers(&room_id).await;
        assert_eq!(code(&room), 0, "{room}");
        assert_eq!(room["roomID"], room_id.as_str());
        assert_eq!(room["roomInfo"], "alice's room");
        assert_eq!(room["roomCreator"], "alice");
        assert!(
            room["custom"].is_string(),
            "custom is JSON text for G2 clients"
        );
        let stream = push_url
            .split('?')
            .next()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap();
        assert!(
            room["mixedPlayURL"]
                .as_str()
                .unwrap()
                .contains(&format!("/live/{stream}.flv?"))
        );
        let pushers = room["pushers"].as_array().unwrap();
        assert_eq!(pushers.len(), 2);
        assert_eq!(pushers[0]["userName"], "Alice");
        assert_eq!(pushers[0]["userAvatar"], "a.png");
        assert!(
            pushers[0]["accelerateURL"]
                .as_str()
                .unwrap()
                .contains(&format!("/live/{stream}?"))
        );
        assert!(
            !room.to_string().contains("pushURL"),
            "push URLs are never shown to others"
        );
        assert_eq!(
            room.get("audienceCount").is_some(),
            room_type == RoomType::Live
        );

        assert_eq!(code(&alice.heartbeat(&room_id).await), 0);
        assert_eq!(code(&bob.heartbeat(&room_id).await), 0);
        let list = bob
            .call("get_room_list", json!({ "cnt": 20, "index": 0 }))
            .await;
        let rooms = list["rooms"].as_array().unwrap();
        assert_eq!(rooms.len(), 1, "{list}");
        assert_eq!(rooms[0]["roomID"], room_id.as_str());
        assert_eq!(rooms[0]["pushers"].as_array().unwrap().len(), 2);

        assert_eq!(code(&bob.leave(&room_id).await), 0);
        assert_eq!(
            alice.pusher_ids(&room_id).await,
            Some(vec!["alice".to_owned()])
        );
        assert_eq!(code(&alice.leave(&room_id).await), 0);
        assert_eq!(
            alice.pusher_ids(&room_id).await,
            None,
            "the room ends with its last member"
        );
        assert_eq!(code(&alice.call("logout", json!({})).await), 0);
    }
}

#[tokio::test]
async fn form_encoded_bodies_work_like_json() {
    let gw = Gateway::start().await;
    let alice = gw.user(RoomType::Multi, "alice").await;
    let created = alice
        .call_form(
            "create_room",
            &[
                ("userID", "alice"),
                ("roomInfo", "form room"),
                ("roomID", "f1"),
            ],
        )
        .await;
    assert_eq!(
        (code(&created), created["roomID"].as_str()),
        (0, Some("f1")),
        "{created}"
    );
    let push_url = alice.push_url().await;
    let joined = alice
        .call_form(
            "add_pusher",
            &[
                ("roomID", "f1"),
                ("userID", "alice"),
                ("userName", "A l"),
                ("userAvatar", ""),
                ("pushURL", &push_url),
            ],
        )
        .await;
    assert_eq!(code(&joined), 0, "{joined}");
    assert_eq!(
        code(
            &alice
                .call_form("pusher_heartbeat", &[("roomID", "f1"), ("userID", "alice")])
                .await
        ),
        0
    );
    let list = alice
        .call_form("get_room_list", &[("cnt", "5"), ("index", "0")])
        .await;
    assert_eq!(list["rooms"][0]["pushers"][0]["userName"], "A l");
    let room = alice.call_form("get_pushers", &[("roomID", "f1")]).await;
    assert_eq!(room["roomInfo"], "form room");
}

#[tokio::test]
async fn live_room_audiences_and_custom_fields() {
    let gw = Gateway::start().await;
    let anchor = gw.user(RoomType::Live, "anchor").await;
    let viewer = gw.user(RoomType::Live, "viewer").await;
    assert_eq!(code(&anchor.join("show").await), 0);

    let added = viewer
        .call(
            "add_audience",
            json!({ "roomID": "show", "userID": "viewer", "userInfo": {"nick": "V"} }),
        )
        .await;
    assert_eq!(code(&added), 0, "{added}");
    let audiences = anchor
        .call("get_audiences", json!({ "roomID": "show" }))
        .await;
    assert_eq!(audiences["audienceCount"], 1);
    assert_eq!(audiences["audiences"][0]["userID"], "viewer");
    assert_eq!(audiences["audiences"][0]["userInfo"], r#"{"nick":"V"}"#);
    assert_eq!(anchor.pushers("show").await["audienceCount"], 1);

    let custom = |answer: &Value| -> Value {
        serde_json::from_str(answer["custom"].as_str().unwrap()).unwrap()
    };
    let set = |op: &'static str, value: Option<i64>| {
        let mut body = json!({ "roomID": "show", "fieldName": "likes", "operation": op });
        if let Some(v) = value {
            body["value"] = v.into();
        }
        viewer.call("set_custom_field", body)
    };
    assert_eq!(custom(&set("inc", None).await), json!({ "likes": 1 }));
    assert_eq!(custom(&set("inc", Some(5)).await), json!({ "likes": 6 }));
    assert_eq!(custom(&set("dec", None).await), json!({ "likes": 5 }));
    assert_eq!(custom(&set("set", Some(42)).await), json!({ "likes": 42 }));
    let info = viewer
        .call("get_custom_info", json!({ "roomID": "show" }))
        .await;
    assert_eq!(custom(&info), json!({ "likes": 42 }));
    assert_eq!(
        custom(&anchor.pushers("show").await),
        json!({ "likes": 42 })
    );

    assert_eq!(
        code(
            &viewer
                .call(
                    "delete_audience",
                    json!({ "roomID": "show", "userID": "viewer" })
                )
                .await
        ),
        0
    );
    assert_eq!(
        anchor
            .call("get_audiences", json!({ "roomID": "show" }))
            .await["audienceCount"],
        0
    );
}

#[tokio::test]
async fn g1_clients_get_identities_and_may_say_room_name() {
    let gw = Gateway::start().await;
    let info = gw
        .post(
            "multi_room/get_im_login_info",
            &[],
            &json!({ "userID": "old" }),
        )
        .await;
    assert_eq!(
        (code(&info), info["identifier"].as_str()),
        (0, Some("old")),
        "{info}"
    );
    let login = gw
        .login(RoomType::Multi, "old", info["userSig"].as_str().unwrap())
        .await;
    assert_eq!(code(&login), 0);
    let anonymous = gw
        .post("multi_room/get_im_login_info", &[], &json!({}))
        .await;
    assert!(
        anonymous["identifier"]
            .as_str()
            .unwrap()
            .starts_with("user_")
    );

    let old = gw.user(RoomType::Multi, "old").await;
    let created = old
        .call(
            "create_room",
            json!({ "userID": "old", "roomName": "named the G1 way", "roomID": "g1" }),
        )
        .await;
    assert_eq!(code(&created), 0, "{created}");
    old.join("g1").await;
    assert_eq!(old.pushers("g1").await["roomInfo"], "named the G1 way");
}

#[tokio::test]
async fn room_list_pages_in_creation_order() {
    let gw = Gateway::start().await;
    let mut users = Vec::new();
    for i in 0..5 {
        let user = gw.user(RoomType::Multi, &format!("u{i}")).await;
        assert_eq!(code(&user.join(&format!("room{i}")).await), 0);
        gw.advance(10);
        users.push(user);
    }
    let page = |index: u32, cnt: u32| {
        let user = &users[0];
        async move {
            let list = user
                .call("get_room_list", json!({ "cnt": cnt, "index": index }))
                .await;
            list["rooms"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["roomID"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(page(0, 2).await, ["room0", "room1"]);
    assert_eq!(page(2, 2).await, ["room2", "room3"]);
    assert_eq!(page(4, 2).await, ["room4"]);
    assert!(page(5, 2).await.is_empty());
    assert_eq!(page(0, 0).await, Vec::<String>::new());
    users[1].leave("room1").await;
    assert_eq!(page(0, 2).await, ["room0", "room2"]);
}
