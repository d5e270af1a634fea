//! The Lambda path without Docker: every endpoint's handler, as its binary runs it, answering
//! an API Gateway HTTP API (payload v2) event from `fixtures/apigw-v2/` — one live_room call
//! from sign-in to destroy_room, on the store the tests run on (RTCROOM_TEST_STORE).

mod common;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::{Gateway, START_MS};
use rtcroom_functions::endpoints::Endpoint;
use rtcroom_functions::lambda;
use rtcroom_shared::clock::ManualClock;
use rtcroom_shared::config::{Config, Profile};
use rtcroom_shared::stream_events;
use rtcroom_shared::urls::stream_of;
use serde_json::{Value, json};

struct Vars {
    user: String,
    token: String,
    usersig: String,
    push_url: String,
}

/// The fixture for `endpoint` with its placeholders filled in, as a lambda_http request.
fn event(endpoint: Endpoint, vars: &Vars) -> lambda_http::Request {
    fixture(endpoint.name(), |text| {
        text.replace("${USER}", &vars.user)
            .replace("${TOKEN}", &vars.token)
            .replace("${USERSIG}", &vars.usersig)
            .replace("${PUSH_URL}", &vars.push_url)
    })
}

/// `fixtures/apigw-v2/{name}.json` with `fill` applied to its text and body.
fn fixture(name: &str, fill: impl Fn(&str) -> String) -> lambda_http::Request {
    let path = format!(
        "{}/tests/fixtures/apigw-v2/{name}.json",
        env!("CARGO_MANIFEST_DIR"),
    );
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
    let sent = expect(&gw, Endpoint::SendRoomMsg, &viewer, 0).await;
    let events = expect(&gw, Endpoint::GetRoomEvents, &bob, 0).await;
    let last = events["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["seq"], sent["seq"]);
    assert_eq!(last["type"], "CustomTextMsg");
    assert_eq!(last["data"]["msg"], "hello");
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
    for &endpoint in Endpoint::ALL {
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
    endpoints.push("relay_event");
    endpoints.sort();
    assert_eq!(names, endpoints);
}

/// The relay_event fixture for `stream`, signed with `secret` at the test clock's time.
fn relay_event_fixture(stream: &str, secret: &str) -> lambda_http::Request {
    let event: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/apigw-v2/relay_event.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let body = event["body"].as_str().unwrap().replace("${STREAM}", stream);
    let signature = stream_events::sign(secret, START_MS / 1000, body.as_bytes());
    fixture("relay_event", |text| {
        text.replace("${STREAM}", stream)
            .replace("${SIGNATURE}", &signature)
    })
}

async fn invoke_relay_event(
    app: &rtcroom_functions::app::App,
    request: lambda_http::Request,
) -> (u16, Value) {
    let response = rtcroom_functions::stream_events::respond(app, request).await;
    let status = response.status().as_u16();
    match response.body() {
        lambda_http::Body::Text(text) => (status, serde_json::from_str(text).unwrap()),
        other => panic!("relay_event: body {other:?}"),
    }
}

#[tokio::test]
async fn the_relay_event_lambda_marks_a_pushers_stream_live() {
    let gw = Gateway::start().await;
    let secret = gw.app.config.relay_events_secret.clone().unwrap();
    let alice = sign_in(&gw, "alice").await;
    expect(&gw, Endpoint::CreateRoom, &alice, 0).await;
    expect(&gw, Endpoint::AddPusher, &alice, 0).await;
    let stream = stream_of(&alice.push_url).unwrap();

    let (status, answer) = invoke_relay_event(&gw.app, relay_event_fixture(stream, &secret)).await;
    assert_eq!(
        (status, answer["members"].as_u64()),
        (200, Some(1)),
        "{answer}"
    );
    let room = expect(&gw, Endpoint::GetPushers, &alice, 0).await;
    assert_eq!(room["pushers"][0]["streamLive"], true);

    let forged = relay_event_fixture(stream, "not-the-relay-secret-0123");
    assert_eq!(invoke_relay_event(&gw.app, forged).await.0, 401);
}

#[tokio::test]
async fn without_a_secret_the_relay_event_lambda_is_off() {
    let env = |k: &str| {
        let value = match k {
            "RTCROOM_SDKAPPID" => "1400000000",
            "RTCROOM_USERSIG_KEY" | "RTCROOM_PUSH_KEY" => "cloud-test-key-0123456789",
            "RTCROOM_BIZID" => "8888",
            "RTCROOM_TABLE" => "rtcroom",
            _ => return None,
        };
        Some(value.to_owned())
    };
    let config = Config::from_lookup(Profile::Cloud, env).unwrap();
    assert_eq!(config.relay_events_secret, None);
    let app = rtcroom_functions::app::App::new(
        config,
        common::test_store().await,
        std::sync::Arc::new(ManualClock::at_ms(START_MS)),
    );
    let request = relay_event_fixture("8888_alice_0001", "any-secret-0123456789");
    assert_eq!(invoke_relay_event(&app, request).await.0, 404);
}
