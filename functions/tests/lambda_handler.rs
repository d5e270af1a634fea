//! The Lambda path without Docker: API Gateway HTTP API (payload v2) events, as AWS delivers
//! them (JSON fixtures), through the same handler the endpoint binaries run.

mod common;

use base64::Engine;
use common::{Gateway, code};
use rtcroom_functions::api::Endpoint;
use rtcroom_functions::lambda;
use rtcroom_shared::model::{RoomKey, RoomType};
use rtcroom_shared::token::Session;
use serde_json::Value;

fn body_json(response: &lambda_http::Response<lambda_http::Body>) -> Value {
    match response.body() {
        lambda_http::Body::Text(text) => serde_json::from_str(text).unwrap(),
        other => panic!("unexpected body {other:?}"),
    }
}

#[tokio::test]
async fn add_pusher_lambda_answers_an_api_gateway_v2_event() {
    let gw = Gateway::start().await;
    let session = Session {
        user_id: "alice".into(),
        sdkappid: gw.app.config.sdkappid,
        expires_at: gw.app.now_secs() + 60,
        grant: None,
    };
    let token = gw.app.tokens.issue(&session);
    let push_url = gw.app.rooms.push_urls(&session, None).unwrap().push_url;

    let fixture = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/apigw-v2-add-pusher.json"
    ))
    .unwrap();
    let mut event: Value = serde_json::from_str(&fixture).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD;
    let body = String::from_utf8(b64.decode(event["body"].as_str().unwrap()).unwrap()).unwrap();
    event["body"] = b64.encode(body.replace("PUSH_URL", &push_url)).into();
    let event = event.to_string().replace("TOKEN", &token);

    let request = lambda_http::request::from_str(&event).unwrap();
    let response = lambda::respond(&gw.app, Some(Endpoint::AddPusher), request).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/json; charset=utf-8"
    );
    let answer = body_json(&response);
    assert_eq!(
        (code(&answer), answer["roomID"].as_str()),
        (0, Some("lambda-room")),
        "{answer}"
    );
    let room = gw
        .app
        .rooms
        .room(&RoomKey::new(RoomType::Multi, "lambda-room"))
        .await
        .unwrap();
    assert_eq!(room.members[0].user_name, "Alice");

    // The add_pusher function serves no other API, even when routed one by mistake.
    let misrouted = lambda_http::request::from_str(&event.replace(
        "/weapp/multi_room/add_pusher",
        "/weapp/multi_room/get_pushers",
    ))
    .unwrap();
    let response = lambda::respond(&gw.app, Some(Endpoint::AddPusher), misrouted).await;
    assert_eq!(
        (response.status().as_u16(), code(&body_json(&response))),
        (404, 103)
    );
}
