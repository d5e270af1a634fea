//! Test support (feature `testing`), for this crate's tests and the conformance suite's: a
//! local gateway in-process on an ephemeral port, with a clock the test moves, HTTP helpers that
//! speak to it the way the 2018 clients do, and child processes for the real binary. (Relays
//! and ffmpeg: `rtcroom_relay::testing`.)

pub mod process;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use rtcroom_shared::clock::{ManualClock, SystemClock};
use rtcroom_shared::config::{Config, Profile};
use rtcroom_shared::model::{Event, RoomKey, RoomType};
use rtcroom_shared::store::dynamo::testing;
use rtcroom_shared::store::{EmbeddedStore, RoomStore};
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::app::App;
use crate::{gateway, sweeper};

pub const KEY: &str = "test-usersig-key-0123456789abcdef";
pub const SDKAPPID: u64 = 1_400_000_000;
/// 2023-11-14T22:13:20Z: the tests' "now".
pub const START_MS: u64 = 1_700_000_000_000;

/// The store the integration tests run on: `RTCROOM_TEST_STORE=dynamodb` for a fresh table on
/// the test DynamoDB server, the embedded store otherwise.
pub async fn test_store() -> Arc<dyn RoomStore> {
    match std::env::var("RTCROOM_TEST_STORE").as_deref() {
        Ok("dynamodb") => Arc::new(testing::fresh_store().await),
        Ok("embedded") | Err(_) => Arc::new(EmbeddedStore::new()),
        Ok(other) => panic!("RTCROOM_TEST_STORE={other}: use embedded or dynamodb"),
    }
}

pub struct Gateway {
    pub base: String,
    pub clock: ManualClock,
    pub app: Arc<App>,
    pub http: reqwest::Client,
}

impl Gateway {
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// A gateway configured by `RTCROOM_*` variables on top of the test defaults.
    pub async fn start_with(vars: &[(&str, &str)]) -> Self {
        Self::start_on(vars, test_store().await).await
    }

    /// A gateway on a given store.
    pub async fn start_on(vars: &[(&str, &str)], store: Arc<dyn RoomStore>) -> Self {
        Self::start_at(vars, store, START_MS).await
    }

    /// A gateway whose clock starts at `start_ms` (the wall clock, for tests with parts that
    /// use it, such as the media relay's signed events).
    pub async fn start_at(vars: &[(&str, &str)], store: Arc<dyn RoomStore>, start_ms: u64) -> Self {
        let clock = ManualClock::at_ms(start_ms);
        let (base, app) = serve(vars, store, Arc::new(clock.clone())).await;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        Self {
            base,
            clock,
            app,
            http,
        }
    }

    /// A gateway on the wall clock with its sweeper running, for clients outside the test
    /// process (Node): the base URL and the app.
    pub async fn start_live(
        vars: &[(&str, &str)],
        store: Arc<dyn RoomStore>,
    ) -> (String, Arc<App>) {
        let (base, app) = serve(vars, store, Arc::new(SystemClock)).await;
        sweeper::spawn(app.clone());
        (base, app)
    }

    pub fn advance(&self, ms: u64) {
        self.clock.advance(Duration::from_millis(ms));
    }

    /// POSTs a JSON body to `/weapp/{path}` with `query`, returns the parsed answer.
    pub async fn post(&self, path: &str, query: &[(&str, &str)], body: &Value) -> Value {
        let (status, answer) = self.post_to(&format!("/weapp/{path}"), query, body).await;
        assert_eq!(status, 200, "{path}");
        answer
    }

    /// POSTs a JSON body to `path` (from the root) with `query`: the HTTP status and the
    /// parsed answer.
    pub async fn post_to(&self, path: &str, query: &[(&str, &str)], body: &Value) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .query(query)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .expect("the gateway answers");
        let status = response.status().as_u16();
        (status, response.json().await.expect("a JSON answer"))
    }

    /// POSTs a form-encoded body, as web clients do.
    pub async fn post_form(
        &self,
        path: &str,
        query: &[(&str, &str)],
        form: &[(&str, &str)],
    ) -> Value {
        let body: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let response = self
            .http
            .post(format!("{}/weapp/{path}", self.base))
            .query(query)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        response.json().await.unwrap()
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    /// A signed-in user of a room type: get_login_info, then login, as the clients do.
    pub async fn user(&self, room_type: RoomType, user_id: &str) -> User<'_> {
        let (status, info) = self
            .get(&format!("/weapp/utils/get_login_info?userID={user_id}"))
            .await;
        assert_eq!((status, code(&info)), (200, 0), "{info}");
        let sig = info["userSig"].as_str().unwrap().to_owned();
        let login = self.login(room_type, user_id, &sig).await;
        assert_eq!(code(&login), 0, "{login}");
        User {
            gateway: self,
            room_type,
            id: user_id.to_owned(),
            token: login["token"].as_str().unwrap().to_owned(),
        }
    }

    pub async fn login(&self, room_type: RoomType, user_id: &str, usersig: &str) -> Value {
        let sdkappid = SDKAPPID.to_string();
        self.post(
            &format!("{}/login", room_type.as_path()),
            &[
                ("accountType", "0"),
                ("sdkAppID", &sdkappid),
                ("userSig", usersig),
                ("userID", user_id),
            ],
            &json!({}),
        )
        .await
    }

    pub async fn events(&self, room_type: RoomType, room_id: &str) -> Vec<Event> {
        self.app
            .rooms
            .store()
            .events_since(&RoomKey::new(room_type, room_id), 0, 10_000)
            .await
            .unwrap()
    }
}

/// A gateway on an ephemeral port, configured by `vars` over the test defaults: its base URL
/// and its app.
async fn serve(
    vars: &[(&str, &str)],
    store: Arc<dyn RoomStore>,
    clock: Arc<dyn rtcroom_shared::clock::Clock>,
) -> (String, Arc<App>) {
    let sdkappid = SDKAPPID.to_string();
    let defaults = [
        ("RTCROOM_USERSIG_KEY", KEY),
        ("RTCROOM_SDKAPPID", sdkappid.as_str()),
        ("RTCROOM_PUSH_KEY", "test-push-key"),
        // The DynamoDB stand-in serves one request at a time, so a test's burst of calls (a
        // thousand joins at once) queues for longer than the product's 4 s; the tests of that
        // deadline set it themselves.
        ("RTCROOM_REQUEST_TIMEOUT_SECS", "60"),
        // Every test client comes from 127.0.0.1, as every client does behind a reverse proxy
        // (README, Limits); the per-address limit's own test sets it.
        ("RTCROOM_MAX_CONNECTIONS_PER_IP", "100000"),
    ];
    let app = Arc::new(App::new(config(&defaults, vars), store, clock));
    (serve_app(app.clone()).await, app)
}

/// The local gateway's configuration from `vars` over `defaults` (nothing from the
/// environment).
pub fn config(defaults: &[(&str, &str)], vars: &[(&str, &str)]) -> Config {
    let env: HashMap<&str, &str> = defaults.iter().chain(vars).copied().collect();
    Config::from_lookup(Profile::LocalGateway, |k| env.get(k).map(|v| v.to_string()))
        .expect("test configuration")
}

/// Serves `app` as the local gateway does, on an ephemeral port of 127.0.0.1: its base URL.
pub async fn serve_app(app: Arc<App>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let base = format!("http://{}", listener.local_addr().expect("bound"));
    tokio::spawn(gateway::serve(listener, app));
    base
}

pub struct User<'a> {
    pub gateway: &'a Gateway,
    pub room_type: RoomType,
    pub id: String,
    pub token: String,
}

impl User<'_> {
    /// Calls `/weapp/{type}/{api}?userID=&token=` with a JSON body.
    pub async fn call(&self, api: &str, body: Value) -> Value {
        self.gateway
            .post(
                &format!("{}/{api}", self.room_type.as_path()),
                &[("userID", &self.id), ("token", &self.token)],
                &body,
            )
            .await
    }

    /// Calls with a form-encoded body.
    pub async fn call_form(&self, api: &str, form: &[(&str, &str)]) -> Value {
        self.gateway
            .post_form(
                &format!("{}/{api}", self.room_type.as_path()),
                &[("userID", &self.id), ("token", &self.token)],
                form,
            )
            .await
    }

    pub async fn push_url(&self) -> String {
        let answer = self
            .call("get_push_url", json!({ "userID": self.id }))
            .await;
        assert_eq!(code(&answer), 0, "{answer}");
        answer["pushURL"].as_str().unwrap().to_owned()
    }

    /// get_push_url then add_pusher: how a client enters a room.
    pub async fn join(&self, room_id: &str) -> Value {
        let push_url = self.push_url().await;
        self.call(
            "add_pusher",
            json!({
                "roomID": room_id, "userID": self.id, "userName": format!("{} name", self.id),
                "userAvatar": format!("https://a.example/{}.png", self.id), "pushURL": push_url,
            }),
        )
        .await
    }

    pub async fn heartbeat(&self, room_id: &str) -> Value {
        self.call(
            "pusher_heartbeat",
            json!({ "roomID": room_id, "userID": self.id }),
        )
        .await
    }

    pub async fn leave(&self, room_id: &str) -> Value {
        self.call(
            "delete_pusher",
            json!({ "roomID": room_id, "userID": self.id }),
        )
        .await
    }

    pub async fn pushers(&self, room_id: &str) -> Value {
        self.call("get_pushers", json!({ "roomID": room_id })).await
    }

    /// userIDs listed by get_pushers, or None when the room is gone (code 3).
    pub async fn pusher_ids(&self, room_id: &str) -> Option<Vec<String>> {
        let answer = self.pushers(room_id).await;
        match code(&answer) {
            0 => Some(
                answer["pushers"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| p["userID"].as_str().unwrap().to_owned())
                    .collect(),
            ),
            3 => None,
            other => panic!("get_pushers answered {other}: {answer}"),
        }
    }
}

/// POSTs `body` to `{base}/weapp/{path}` as `user` with its `token`, from any client (a
/// barrier-synchronised burst, a gateway in another process): the answer.
pub async fn post_as(
    http: &reqwest::Client,
    base: &str,
    path: &str,
    (user, token): (&str, &str),
    body: &Value,
) -> Value {
    http.post(format!("{base}/weapp/{path}"))
        .query(&[("userID", user), ("token", token)])
        .json(body)
        .send()
        .await
        .expect("the gateway answers")
        .json()
        .await
        .expect("a JSON answer")
}

pub fn code(answer: &Value) -> i64 {
    answer["code"]
        .as_i64()
        .unwrap_or_else(|| panic!("no code in {answer}"))
}
