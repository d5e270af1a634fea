//! Test support: a DynamoDB-compatible server (moto) on loopback, and fresh tables on it.
//!
//! `RTCROOM_TEST_DYNAMODB_ENDPOINT` points at a running server (the test command starts one);
//! without it, the first caller in a test process starts `scripts/moto_server.py` (moto serving
//! one request at a time, so that each request is atomic as in DynamoDB) on a free port,
//! watched so that it stops when the test process ends.

use std::net::{TcpListener, TcpStream};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_dynamodb::{Client, Config};

use super::DynamoStore;

/// The endpoint of the test DynamoDB server, starting one if needed.
pub fn endpoint() -> String {
    static ENDPOINT: OnceLock<String> = OnceLock::new();
    ENDPOINT
        .get_or_init(|| {
            if let Ok(url) = std::env::var("RTCROOM_TEST_DYNAMODB_ENDPOINT") {
                return url;
            }
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free loopback port")
                .port();
            let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/moto_server.py");
            let watchdog = format!(
                "python3 {script} 127.0.0.1 {port} >/dev/null 2>&1 & server=$!; \
                 while kill -0 {parent} 2>/dev/null; do sleep 1; done; kill $server",
                parent = std::process::id()
            );
            let mut watchdog = std::process::Command::new("sh")
                .args(["-c", &watchdog])
                .spawn()
                .expect("sh starts");
            std::thread::spawn(move || watchdog.wait());
            let started = Instant::now();
            while TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(
                    started.elapsed() < Duration::from_secs(30),
                    "the moto server did not start on port {port}: install it with pip install 'moto[server]'"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
            format!("http://127.0.0.1:{port}")
        })
        .clone()
}

/// A client for the test server: fixed test credentials, one retry (moto answers a malformed
/// request with HTTP 500, which must fail fast rather than be retried for half a minute).
pub fn client() -> Client {
    client_for(&endpoint())
}

/// A client like [`client`] for any endpoint (e.g. one where nothing listens).
pub fn client_for(endpoint: &str) -> Client {
    let http = aws_smithy_http_client::Builder::new().build_http();
    let config = Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            "test",
            "test",
            None,
            None,
            "rtcroom-tests",
        ))
        .endpoint_url(endpoint)
        .http_client(http)
        .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::standard().with_max_attempts(2))
        .build();
    Client::from_conf(config)
}

/// A name no other test uses (one server is shared by every test).
pub fn unique_table_name() -> String {
    format!("rtcroom-test-{:016x}", rand::random::<u64>())
}

/// A store on a new, empty table.
pub async fn fresh_store() -> DynamoStore {
    let store = DynamoStore::new(client(), unique_table_name());
    store.create_table().await.expect("create the test table");
    store
}
