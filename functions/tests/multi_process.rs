//! Atomicity across processes: two local gateway processes on one DynamoDB table (the test
//! server), as two Lambda instances would share it.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::process::{Killed, free_port, wait_for_port};
use common::{code, post_as};
use rtcroom_shared::config::{Config, Profile};
use rtcroom_shared::store::dynamo::testing;
use rtcroom_shared::token::{Session, TokenKey};
use serde_json::{Value, json};

const KEY: &str = "multi-process-usersig-key-0123456789";
const PUSH_KEY: &str = "multi-process-push-key";

/// A gateway process, killed when dropped.
struct GatewayProcess {
    _child: Killed,
    base: String,
}

fn start_gateway(table: &str) -> GatewayProcess {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_local-gateway"))
        .env_clear()
        .env("RTCROOM_LISTEN", format!("127.0.0.1:{port}"))
        .env("RTCROOM_USERSIG_KEY", KEY)
        .env("RTCROOM_PUSH_KEY", PUSH_KEY)
        .env("RTCROOM_STORE", "dynamodb")
        // Two gateways on one machine: only one could have the relay's ports.
        .env("RTCROOM_RELAY", "off")
        .env("RTCROOM_TABLE", table)
        // Hundreds of clients from one address, queued on the one-at-a-time DynamoDB stand-in.
        .env("RTCROOM_MAX_CONNECTIONS_PER_IP", "100000")
        .env("RTCROOM_REQUEST_TIMEOUT_SECS", "60")
        // About who gets in, not presence: nobody may time out while the joins queue.
        .env("RTCROOM_HEARTBEAT_TIMEOUT_SECS", "3600")
        .env("AWS_ENDPOINT_URL_DYNAMODB", testing::endpoint())
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("the local-gateway binary starts");
    wait_for_port(port);
    GatewayProcess {
        _child: Killed(child),
        base: format!("http://127.0.0.1:{port}"),
    }
}

/// What a signed-in user sends: its token and a push URL of its own.
fn credentials(user: &str) -> (String, String) {
    let vars = [("RTCROOM_USERSIG_KEY", KEY), ("RTCROOM_PUSH_KEY", PUSH_KEY)];
    let config = Config::from_lookup(Profile::LocalGateway, |k| {
        vars.iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| v.to_string())
    })
    .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let token = TokenKey::derived_from_usersig_key(KEY).issue(&Session {
        user_id: user.into(),
        sdkappid: config.sdkappid,
        expires_at: now + 3600,
        issued_ms: now * 1000,
        grant: None,
    });
    let stream = config.urls.new_stream_name(user, 1);
    (token, config.urls.urls(&stream, now).push_url)
}

async fn post(
    http: &reqwest::Client,
    base: &str,
    api: &str,
    user: &str,
    token: &str,
    body: Value,
) -> i64 {
    let path = format!("multi_room/{api}");
    code(&post_as(http, base, &path, (user, token), &body).await)
}

/// Simultaneous joins of one room, split over the two processes. Each costs the stand-in
/// (one request at a time) a GetItem (the token's logout check), a Query and a transaction, and
/// conflicts across the processes retry: 500 stay well within the calls' deadline.
const JOINS: usize = 500;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_admit_exactly_four_of_five_hundred_and_create_one_room_per_id() {
    let setup = testing::fresh_store().await;
    let table = setup.table().to_owned();
    let gateways = [start_gateway(&table), start_gateway(&table)];
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();

    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(JOINS));
    let tasks: Vec<_> = (0..JOINS)
        .map(|i| {
            let user = format!("user{i}");
            let (token, push_url) = credentials(&user);
            let base = gateways[i % 2].base.clone();
            let http = http.clone();
            let barrier = barrier.clone();
            tokio::spawn(async move {
                let body = json!({ "roomID": "contested", "userID": user, "userName": user, "userAvatar": "", "pushURL": push_url });
                barrier.wait().await;
                post(&http, &base, "add_pusher", &user, &token, body).await
            })
        })
        .collect();
    let mut codes = Vec::new();
    for task in tasks {
        codes.push(task.await.unwrap());
    }
    let admitted = codes.iter().filter(|c| **c == 0).count();
    let full = codes.iter().filter(|c| **c == 5001).count();
    assert_eq!(
        (admitted, full),
        (4, JOINS - 4),
        "codes other than 0/5001: {:?}",
        codes
            .iter()
            .filter(|c| **c != 0 && **c != 5001)
            .collect::<Vec<_>>()
    );

    // Two processes racing to create the same roomID: one room, one code 11. Twenty times.
    let (alice_token, _) = credentials("alice");
    let (bob_token, _) = credentials("bob");
    for round in 0..20 {
        let room = format!("race{round}");
        let a = post(
            &http,
            &gateways[0].base,
            "create_room",
            "alice",
            &alice_token,
            json!({ "userID": "alice", "roomInfo": "a", "roomID": room }),
        );
        let b = post(
            &http,
            &gateways[1].base,
            "create_room",
            "bob",
            &bob_token,
            json!({ "userID": "bob", "roomInfo": "b", "roomID": room }),
        );
        let (a, b) = tokio::join!(a, b);
        let mut codes = [a, b];
        codes.sort();
        assert_eq!(codes, [0, 11], "round {round}");
    }
}
