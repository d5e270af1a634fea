//! Every code of the protocol, each with the request that triggers it (see api/error.rs).

mod common;

use common::{Gateway, code};
use rtcroom_shared::model::RoomType;
use serde_json::json;

#[tokio::test]
async fn code_1_names_the_missing_or_invalid_parameter() {
    let gw = Gateway::start().await;
    let alice = gw.user(RoomType::Multi, "alice").await;
    for (api, body, missing) in [
        ("get_pushers", json!({}), "roomID"),
        ("get_pushers", json!({ "roomID": "" }), "roomID"),
        ("create_room", json!({ "userID": "alice" }), "roomInfo"),
        ("create_room", json!({ "roomInfo": "x" }), "userID"),
        (
            "add_pusher",
            json!({ "roomID": "r", "userID": "alice", "userName": "a", "userAvatar": "" }),
            "pushURL",
        ),
        ("get_room_list", json!({ "index": 0 }), "cnt"),
        ("pusher_heartbeat", json!({ "userID": "alice" }), "roomID"),
    ] {
        let answer = alice.call(api, body).await;
        assert_eq!(code(&answer), 1, "{api}: {answer}");
        assert!(
            answer["message"].as_str().unwrap().contains(missing),
            "{api}: {answer}"
        );
    }
    let negative = alice
        .call("get_room_list", json!({ "cnt": -1, "index": 0 }))
        .await;
    assert_eq!(code(&negative), 1, "{negative}");
    let no_stream = alice
        .call("add_pusher", json!({ "roomID": "r", "userID": "alice", "userName": "a", "userAvatar": "", "pushURL": "rtmp://h" }))
        .await;
    assert_eq!(code(&no_stream), 1, "{no_stream}");
    let live = gw.user(RoomType::Live, "alice").await;
    let set_without_value = live
        .call(
            "set_custom_field",
            json!({ "roomID": "r", "fieldName": "f", "operation": "set" }),
        )
        .await;
    assert_eq!(code(&set_without_value), 1);
    let bad_op = live
        .call(
            "set_custom_field",
            json!({ "roomID": "r", "fieldName": "f", "operation": "mul" }),
        )
        .await;
    assert_eq!(code(&bad_op), 1);
}

#[tokio::test]
async fn code_3_for_a_missing_room_or_a_non_creator() {
    let gw = Gateway::start().await;
    let alice = gw.user(RoomType::Multi, "alice").await;
    let bob = gw.user(RoomType::Multi, "bob").await;
    assert_eq!(code(&alice.pushers("nowhere").await), 3);
    assert_eq!(
        code(
            &alice
                .call(
                    "destroy_room",
                    json!({ "roomID": "nowhere", "userID": "alice" })
                )
                .await
        ),
        3
    );
    alice.join("r").await;
    bob.join("r").await;
    assert_eq!(
        code(
            &bob.call("destroy_room", json!({ "roomID": "r", "userID": "bob" }))
                .await
        ),
        3
    );
    assert_eq!(
        code(
            &alice
                .call("destroy_room", json!({ "roomID": "r", "userID": "alice" }))
                .await
        ),
        0
    );
    assert_eq!(code(&bob.pushers("r").await), 3);
    let live = gw.user(RoomType::Live, "alice").await;
    assert_eq!(
        code(
            &live
                .call("get_audiences", json!({ "roomID": "nowhere" }))
                .await
        ),
        3
    );
    assert_eq!(
        code(
            &live
                .call("get_custom_info", json!({ "roomID": "nowhere" }))
                .await
        ),
        3
    );
    let add = live
        .call(
            "add_audience",
            json!({ "roomID": "nowhere", "userID": "alice", "userInfo": "" }),
        )
        .await;
    assert_eq!(code(&add), 3);
}

#[tokio::test]
async fn code_5_for_a_non_member() {
    let gw = Gateway::start().await;
    let alice = gw.user(RoomType::Double, "alice").await;
    let bob = gw.user(RoomType::Double, "bob").await;
    alice.join("r").await;
    assert_eq!(code(&bob.heartbeat("r").await), 5);
    assert_eq!(code(&bob.heartbeat("nowhere").await), 5);
}

#[tokio::test]
async fn leaving_is_idempotent() {
    let gw = Gateway::start().await;
    let alice = gw.user(RoomType::Double, "alice").await;
    let bob = gw.user(RoomType::Double, "bob").await;
    alice.join("r").await;
    let before = gw.events(RoomType::Double, "r").await.len();
    // Somebody who never joined, a room that does not exist: success, and nothing changes.
    assert_eq!(code(&bob.leave("r").await), 0);
    assert_eq!(code(&bob.leave("nowhere").await), 0);
    assert_eq!(alice.pusher_ids("r").await, Some(vec!["alice".to_owned()]));
    assert_eq!(
        gw.events(RoomType::Double, "r").await.len(),
        before,
        "no event"
    );
    // A member who left already (its first answer lost, say) leaves again with 0.
    bob.join("r").await;
    assert_eq!(code(&bob.leave("r").await), 0);
    assert_eq!(code(&bob.leave("r").await), 0);
    assert_eq!(alice.pusher_ids("r").await, Some(vec!["alice".to_owned()]));
}

#[tokio::test]
async fn code_10_for_oversize_values_bodies_and_bad_json() {
    let gw = Gateway::start().await;
    let alice = gw.user(RoomType::Live, "alice").await;
    let long_info = "房".repeat(342); // 1,026 UTF-8 bytes
    let answer = alice
        .call(
            "create_room",
            json!({ "userID": "alice", "roomInfo": long_info }),
        )
        .await;
    assert_eq!(code(&answer), 10, "{answer}");
    let exactly = "a".repeat(1024);
    assert_eq!(
        code(
            &alice
                .call(
                    "create_room",
                    json!({ "userID": "alice", "roomInfo": exactly })
                )
                .await
        ),
        0
    );

    let raw = |body: Vec<u8>| {
        let gw = &gw;
        let alice = &alice;
        async move {
            let response = gw
                .http
                .post(format!("{}/weapp/live_room/get_pushers", gw.base))
                .query(&[
                    ("userID", alice.id.as_str()),
                    ("token", alice.token.as_str()),
                ])
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            response.json::<serde_json::Value>().await.unwrap()
        }
    };
    assert_eq!(code(&raw(b"{\"roomID\": ".to_vec()).await), 10);
    assert_eq!(code(&raw(b"[\"roomID\"]".to_vec()).await), 10);
    let huge = raw(format!("{{\"roomID\":\"{}\"}}", "x".repeat(70_000)).into_bytes()).await;
    assert_eq!(code(&huge), 10, "{huge}");
    assert!(huge["message"].as_str().unwrap().contains("65536"));

    alice.join("show").await;
    let merge = alice
        .call(
            "merge_stream",
            json!({ "roomID": "show", "userID": "alice", "mergeParams": "{not json" }),
        )
        .await;
    assert_eq!(code(&merge), 10, "{merge}");
    let long_field = alice
        .call(
            "set_custom_field",
            json!({ "roomID": "show", "fieldName": "f".repeat(65), "operation": "inc" }),
        )
        .await;
    assert_eq!(code(&long_field), 10);
}

#[tokio::test]
async fn code_11_for_a_taken_room_id_and_it_names_the_id() {
    let gw = Gateway::start().await;
    let alice = gw.user(RoomType::Multi, "alice").await;
    let body = json!({ "userID": "alice", "roomInfo": "x", "roomID": "mine" });
    assert_eq!(code(&alice.call("create_room", body.clone()).await), 0);
    let again = alice.call("create_room", body.clone()).await;
    assert_eq!(
        (code(&again), again["roomID"].as_str()),
        (11, Some("mine")),
        "{again}"
    );
    // An inactive room nobody joined is reclaimed after 30 s.
    gw.advance(30_000);
    assert_eq!(code(&alice.call("create_room", body).await), 0);
}

#[tokio::test]
async fn code_5001_when_the_room_or_its_audience_is_full() {
    let gw = Gateway::start_with(&[("RTCROOM_LIVE_ROOM_MAX_AUDIENCES", "1")]).await;
    let a = gw.user(RoomType::Double, "a").await;
    let b = gw.user(RoomType::Double, "b").await;
    let c = gw.user(RoomType::Double, "c").await;
    assert_eq!(code(&a.join("pair").await), 0);
    assert_eq!(code(&b.join("pair").await), 0);
    assert_eq!(code(&c.join("pair").await), 5001);
    assert_eq!(
        code(&b.join("pair").await),
        0,
        "a member updating itself needs no new seat"
    );

    let anchor = gw.user(RoomType::Live, "anchor").await;
    anchor.join("show").await;
    let v1 = gw.user(RoomType::Live, "v1").await;
    let v2 = gw.user(RoomType::Live, "v2").await;
    let add = |u: &common::User<'_>| json!({ "roomID": "show", "userID": u.id, "userInfo": "" });
    assert_eq!(code(&v1.call("add_audience", add(&v1)).await), 0);
    assert_eq!(code(&v2.call("add_audience", add(&v2)).await), 5001);
}

#[tokio::test]
async fn code_101_when_stream_mixing_is_not_configured() {
    let gw = Gateway::start().await;
    let alice = gw.user(RoomType::Live, "alice").await;
    alice.join("show").await;
    for params in [
        json!({ "mainStream": "s1", "inputs": [] }),
        json!("{\"mainStream\":\"s1\"}"),
    ] {
        let answer = alice
            .call(
                "merge_stream",
                json!({ "roomID": "show", "userID": "alice", "mergeParams": params }),
            )
            .await;
        assert_eq!(code(&answer), 101, "{answer}");
    }
}

#[tokio::test]
async fn code_102_when_dev_only_endpoints_are_off() {
    let gw = Gateway::start_with(&[("RTCROOM_DEV_MODE", "0")]).await;
    let (status, answer) = gw.get("/weapp/utils/get_login_info?userID=x").await;
    assert_eq!((status, code(&answer)), (200, 102), "{answer}");
    assert_eq!(
        code(
            &gw.post("live_room/get_im_login_info", &[], &json!({}))
                .await
        ),
        102
    );
}

#[tokio::test]
async fn code_103_and_http_404_for_an_unknown_api() {
    let gw = Gateway::start().await;
    for path in [
        "/weapp/multi_room/fly",
        "/weapp/double_room/add_audience",
        "/weapp/utils/logout",
        "/nowhere",
    ] {
        let (status, answer) = gw.get(path).await;
        assert_eq!((status, code(&answer)), (404, 103), "{path}");
    }
}

#[tokio::test]
async fn cors_preflight_is_answered() {
    let gw = Gateway::start().await;
    let response = gw
        .http
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/weapp/multi_room/login", gw.base),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
}

#[tokio::test]
async fn no_endpoint_fails_on_garbage_input() {
    let gw = Gateway::start().await;
    let alice = gw.user(RoomType::Live, "alice").await;
    let bodies: [&[u8]; 9] = [
        b"",
        b"null",
        b"{}",
        b"\xff\xfe\x00garbage",
        b"{\"roomID\":{\"nested\":[1,2,{}]},\"userID\":\"alice\",\"cnt\":1e309,\"index\":-0.5}",
        b"roomID=%ZZ&userID=alice&cnt=99999999999",
        b"{\"roomID\":\"\\u0000\",\"userID\":\"alice\",\"pushURL\":\"rtmp://\\u0000/\",\"userName\":null}",
        b"{\"roomID\":\"r\",\"userID\":\"alice\",\"fieldName\":\"f\",\"operation\":\"inc\",\"value\":9223372036854775807}",
        b"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
    ];
    for endpoint in rtcroom_functions::endpoints::Endpoint::ALL {
        for scope in ["double_room", "multi_room", "live_room", "utils"] {
            for body in bodies {
                for query in [
                    format!("userID=alice&token={}", alice.token),
                    "userID=%FF&token=..".to_owned(),
                    "userSig=x&sdkAppID=-1&userID=".to_owned(),
                ] {
                    let response = gw
                        .http
                        .post(format!(
                            "{}/weapp/{scope}/{}?{query}",
                            gw.base,
                            endpoint.name()
                        ))
                        .body(body.to_vec())
                        .send()
                        .await
                        .unwrap();
                    let status = response.status().as_u16();
                    assert!(
                        status == 200 || status == 404,
                        "{scope}/{}: HTTP {status}",
                        endpoint.name()
                    );
                    let answer: serde_json::Value = response.json().await.unwrap();
                    assert!(
                        answer["code"].is_i64() && answer["message"].is_string(),
                        "{answer}"
                    );
                }
            }
        }
    }
}

#[tokio::test]
async fn at_the_connection_limit_an_idle_connection_makes_room_and_busy_ones_are_waited_for() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let gw = Gateway::start_with(&[("RTCROOM_MAX_CONNECTIONS", "2")]).await;
    let addr = gw.base.trim_start_matches("http://").to_owned();
    let request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    // Two connections busy with a request whose body is still coming.
    let slow = b"POST /weapp/multi_room/get_room_list HTTP/1.1\r\nHost: x\r\n\
                 content-type: application/json\r\ncontent-length: 40\r\n\r\n{";
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut conn = tokio::net::TcpStream::connect(&addr).await.unwrap();
        conn.write_all(slow).await.unwrap();
        held.push(conn);
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let mut third = tokio::net::TcpStream::connect(&addr).await.unwrap();
    third.write_all(request).await.unwrap();
    let mut buf = [0u8; 256];
    let waited =
        tokio::time::timeout(std::time::Duration::from_millis(500), third.read(&mut buf)).await;
    assert!(
        waited.is_err(),
        "a third connection is not served while two are busy"
    );
    drop(held.pop());
    let n = tokio::time::timeout(std::time::Duration::from_secs(5), third.read(&mut buf))
        .await
        .expect("served once a place frees")
        .unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    // Now `third` is idle between requests: a fourth client takes its place at once.
    let mut fourth = tokio::net::TcpStream::connect(&addr).await.unwrap();
    fourth.write_all(request).await.unwrap();
    let n = tokio::time::timeout(std::time::Duration::from_secs(2), fourth.read(&mut buf))
        .await
        .expect("an idle keep-alive connection made room")
        .unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    let mut end = [0u8; 1];
    let closed = tokio::time::timeout(std::time::Duration::from_secs(2), third.read(&mut end))
        .await
        .expect("the idle connection was closed");
    assert!(matches!(closed, Ok(0) | Err(_)));
}
