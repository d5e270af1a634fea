//! Test support: a DynamoDB-compatible server (moto) on loopback, and fresh tables on it.
//!
//! The server is `crate::testing::moto_endpoint`'s.

use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_dynamodb::{Client, Config};

use super::DynamoStore;

/// The endpoint of the test DynamoDB server, starting one if needed.
pub fn endpoint() -> String {
    crate::testing::moto_endpoint()
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
