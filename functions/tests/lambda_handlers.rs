//! The Lambda path without Docker: every endpoint's handler, as its binary runs it, answering
//! an API Gateway HTTP API (payload v2) event from `fixtures/apigw-v2/` — one live_room call
//! from sign-in to destroy_room, on the store the tests run on (RTCROOM_TEST_STORE).

mod common;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::Gateway;
use rtcroom_functions::api::Endpoint;
use rtcroom_functions::lambda;
use serde_json::{Value, json};

struct Vars {
    user: String,
    token: String,
    usersig: String,
    push_url: String,
}

/// The fixture for `endpoint` with its placeholders filled in, as a lambda_http request.
fn event(endpoint: Endpoint, vars: &Vars) -> lambda_http::Request {
    let path = format!(
        "{}/tests/fixtures/apigw-v2/{}.json",
        env!("CARGO_MANIFEST_DIR"),
        endpoint.name()
    );
    let fill = |text: &str| {
        text.replace("${USER}", &vars.user)
            .replace("${TOKEN}", &vars.token)
            .replace("${USERSIG}", &vars.usersig)
            .replace("${PUSH_URL}", &vars.push_url)
    };
    let mut event: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    if let Some(body) = event["body"].as_str() {
        event["body"] = if event["isBase64Encoded"] == true {
            let text = String::from_utf8(STANDARD.decode(body).unwrap()).unwrap();
            STANDARD.encode(fill(&text)).into()
        } else {
            fill(body).into()
        };
    }
    let text = fill(&event.to_string());
    lambda_http::request::from_str(&text).unwrap()
}

async fn invoke(gw: &Gateway, endpoint: Endpoint, vars: &Vars) -> Value {
    let response = lambda::respond(&gw.app, Some(endpoint), event(endpoint, vars)).await;
    assert_eq!(response.status(), 200, "{}", endpoint.name());
    assert_eq!(
        response.headers()["content-type"],
        "application/json; charset=utf-8"
    );
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
    match response.body() {
        lambda_http::Body::Text(text) => serde_json::from_str(text).unwrap(),
        other => panic!("{}: body {other:?}", endpoint.name()),
    }
}

/// Calls `endpoint` and checks the code; returns the answer.
async fn expect(gw: &Gateway, endpoint: Endpoint, vars: &Vars, code: i64) -> Value {
    let answer = invoke(gw, endpoint, vars).await;
    assert_eq!(answer["code"], code, "{}: {answer}", endpoint.name());
    answer
}

async fn sign_in(gw: &Gateway, user: &str) -> Vars {
    let mut vars = Vars {
        user: user.into(),
        token: String::new(),
        usersig: String::new(),
        push_url: String::new(),
    };
    let info = expect(gw, Endpoint::GetLoginInfo, &vars, 0).await;
    vars.usersig = info["userSig"].as_str().unwrap().into();
    let login = expect(gw, Endpoint::Login, &vars, 0).await;
    vars.token = login["token"].as_str().unwrap().into();
    let push = expect(gw, Endpoint::GetPushUrl, &vars, 0).await;
    vars.push_url = push["pushURL"].as_str().unwrap().into();
    vars
}

#[tokio::test]
async fn every_endpoint_lambda_answers_its_api_gateway_event() {
    let gw = Gateway::start().await;
    let alice = sign_in(&gw, "alice").await;
    let bob = sign_in(&gw, "bob").await;
    let viewer = sign_in(&gw, "viewer").await;
    let g1 = expect(&gw, Endpoint::GetImLoginInfo, &viewer, 0).await;
    assert_eq!(g1["identifier"], "viewer");

    let created = expect(&gw, Endpoint::CreateRoom, &alice, 0).await;
    assert_eq!(created["roomID"], "fixture-room");
    expect(&gw, Endpoint::AddPusher, &alice, 0).await;
    expect(&gw, Endpoint::AddPusher, &bob, 0).await;
    expect(&gw, Endpoint::PusherHeartbeat, &bob, 0).await;
    let room = expect(&gw, Endpoint::GetPushers, &viewer, 0).await;
    assert_eq!(room["roomCreator"], "alice");
    assert_eq!(room["pushers"].as_array().unwrap().len(), 2);
    let list = expect(&gw, Endpoint::GetRoomList, &viewer, 0).await;
    assert_eq!(list["rooms"][0]["roomID"], "fixture-room");

    expect(&gw, Endpoint::AddAudience, &viewer, 0).await;
    let audiences = expect(&gw, Endpoint::GetAudiences, &alice, 0).await;
    assert_eq!(
        audiences["audiences"],
        json!([{ "userID": "viewer", "userInfo": "{\"nick\":\"v\"}" }])
    );
    let custom = expect(&gw, Endpoint::SetCustomField, &viewer, 0).await;
    assert_eq!(custom["custom"], "{\"likes\":2}");
    let info = expect(&gw, Endpoint::GetCustomInfo, &viewer, 0).await;
    assert_eq!(info["custom"], "{\"likes\":2}");
    expect(&gw, Endpoint::MergeStream, &alice, 101).await;
    expect(&gw, Endpoint::DeleteAudience, &viewer, 0).await;
    expect(&gw, Endpoint::DeletePusher, &bob, 0).await;
    expect(&gw, Endpoint::DestroyRoom, &alice, 0).await;
    expect(&gw, Endpoint::GetPushers, &viewer, 3).await;
    expect(&gw, Endpoint::Logout, &alice, 0).await;
}

#[tokio::test]
async fn a_function_serves_only_its_own_endpoint() {
    let gw = Gateway::start().await;
    let alice = sign_in(&gw, "alice").await;
    for endpoint in Endpoint::ALL {
        let other = if endpoint == Endpoint::GetPushers {
            Endpoint::AddPusher
        } else {
            Endpoint::GetPushers
        };
        let response = lambda::respond(&gw.app, Some(other), event(endpoint, &alice)).await;
        assert_eq!(
            response.status(),
            404,
            "{} routed to {}",
            endpoint.name(),
            other.name()
        );
    }
}

#[test]
fn there_is_one_fixture_per_endpoint() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/apigw-v2");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            e.unwrap()
                .file_name()
                .to_string_lossy()
                .trim_end_matches(".json")
                .to_owned()
        })
        .collect();
    names.sort();
    let mut endpoints: Vec<&str> = Endpoint::ALL.iter().map(|e| e.name()).collect();
    endpoints.sort();
    assert_eq!(names, endpoints);
}
