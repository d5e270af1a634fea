//! The drop-in IM file for 2018 mini-programs (`clients/miniprogram/webim_wx.js`) against a
//! real gateway: Node's built-in test runner loads it into fake mini-programs that follow the
//! 2018 room libraries' call sequences (`clients/miniprogram/test/`), once with the local
//! gateway's `/ws` (on the store of `RTCROOM_TEST_STORE`) and once with the cloud's
//! WebSocket handlers and notifier on DynamoDB.

mod common;

use std::process::Command;
use std::sync::Arc;

use common::{Gateway, KEY, SDKAPPID, apigw_ws, test_store};
use rtcroom_shared::store::RoomStore;
use rtcroom_shared::store::dynamo::testing;

/// The server's timings for these tests: the 2018 clients beat every 7 s, so the timeout has
/// to leave room for a missed beat and for calls queued on the DynamoDB stand-in (one request
/// at a time; every call also reads its token's logout); a pending join waits 12 s (a
/// viewer's steps before add_audience take seconds there).
const HEARTBEAT_TIMEOUT_SECS: &str = "20";
const JOIN_WAIT_SECS: &str = "12";

fn node_tests(server: &str, events: &str, store: &str) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../clients/miniprogram/test");
    // Node 20 has WebSocket behind a flag; later versions have it by default.
    let has_websocket = Command::new("node")
        .args([
            "-e",
            "process.exit(typeof WebSocket === 'function' ? 0 : 1)",
        ])
        .status()
        .expect("node is installed (scripts/test.sh installs it)")
        .success();
    let mut node = Command::new("node");
    if !has_websocket {
        node.arg("--experimental-websocket");
    }
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".test.js"))
        // RTCROOM_TEST_ONLY=robustness runs the files whose names contain it.
        .filter(|p| {
            std::env::var("RTCROOM_TEST_ONLY")
                .map_or(true, |only| p.to_string_lossy().contains(only.as_str()))
        })
        .collect();
    files.sort();
    let output = node
        .args(["--test", "--test-concurrency=3", "--test-reporter=spec"])
        .args(&files)
        .env("RTCROOM_TEST_SERVER", server)
        .env("RTCROOM_TEST_SDKAPPID", SDKAPPID.to_string())
        .env("RTCROOM_TEST_USERSIG_KEY", KEY)
        .env(
            "RTCROOM_TEST_HEARTBEAT_TIMEOUT_MS",
            format!("{HEARTBEAT_TIMEOUT_SECS}000"),
        )
        .env("RTCROOM_TEST_JOIN_WAIT_MS", format!("{JOIN_WAIT_SECS}000"))
        .env("RTCROOM_TEST_EVENTS", events)
        .env("RTCROOM_TEST_STORE", store)
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");
    eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    // The failures themselves go into the panic message: a CI log's tail shows that, not the
    // whole report above.
    let lines: Vec<&str> = stdout.lines().collect();
    let from = lines
        .iter()
        .position(|l| l.contains("failing tests"))
        .unwrap_or(lines.len().saturating_sub(60));
    let failures = &lines[from..(from + 60).min(lines.len())];
    assert!(
        output.status.success(),
        "the mini-program tests failed ({events}):\n{}",
        failures.join("\n")
    );
    let passed = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("ℹ pass "))
        .and_then(|n| n.trim().parse::<u32>().ok())
        .unwrap_or(0);
    assert!(passed > 0 && stdout.contains("ℹ fail 0"), "{stdout}");
}

const SETTINGS: [(&str, &str); 3] = [
    ("RTCROOM_HEARTBEAT_TIMEOUT_SECS", HEARTBEAT_TIMEOUT_SECS),
    ("RTCROOM_JOIN_WAIT_SECS", JOIN_WAIT_SECS),
    ("RTCROOM_SWEEP_INTERVAL_SECS", "1"),
];

/// The two runs take turns: each keeps three fake phones busy with timed heartbeats, and both
/// at once on two cores made timing-sensitive steps miss their windows.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unmodified_2018_flows_hear_their_rooms_through_the_local_gateway() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let (base, _app) = Gateway::start_live(&SETTINGS, test_store().await).await;
    let store = std::env::var("RTCROOM_TEST_STORE").unwrap_or_else(|_| "embedded".into());
    tokio::task::spawn_blocking(move || node_tests(&base, "local", &store))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unmodified_2018_flows_hear_their_rooms_through_the_cloud_handlers() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let store = Arc::new(testing::fresh_store().await);
    // login answers the WebSocket API's URL as eventsURL, as the template configures the login
    // function; the IM file must find the events there.
    let (listener, events_url) = apigw_ws::bind().await;
    let mut settings = SETTINGS.to_vec();
    settings.push(("RTCROOM_EVENTS_URL", &events_url));
    let (base, app) = Gateway::start_live(&settings, store.clone() as Arc<dyn RoomStore>).await;
    apigw_ws::start(listener, app, store);
    tokio::task::spawn_blocking(move || node_tests(&base, "cloud", "dynamodb"))
        .await
        .unwrap();
}
