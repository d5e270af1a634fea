//! The cloud's event delivery without Docker: the notifier handler driven with a DynamoDB
//! Stream batch fixture (`fixtures/dynamodb-stream/`), connections registered in the test
//! DynamoDB server, and the real Management API client posting to a local `@connections`
//! endpoint that answers 410 for one of them.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;
use rtcroom_functions::notifier::{self, Delivery, ManagementApi};
use rtcroom_shared::model::{RoomKey, RoomType};
use rtcroom_shared::store::dynamo::connections::Connection;
use rtcroom_shared::store::dynamo::testing;
use serde_json::Value;
use tokio::net::TcpListener;

type Posts = Arc<Mutex<Vec<(String, Value)>>>;

/// A local `POST /{stage}/@connections/{id}`: records each post; 410 for ids starting `gone`.
async fn management_endpoint() -> (String, Posts) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}/prod", listener.local_addr().unwrap());
    let posts: Posts = Arc::default();
    let record = posts.clone();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let record = record.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                    let record = record.clone();
                    async move {
                        let path = request.uri().path().to_owned();
                        let body = request.into_body().collect().await.unwrap().to_bytes();
                        let id = path.rsplit('/').next().unwrap_or_default().to_owned();
                        let status = if id.starts_with("gone") {
                            410
                        } else {
                            let event = serde_json::from_slice(&body).unwrap_or(Value::Null);
                            record.lock().push((id, event));
                            200
                        };
                        let body = if status == 410 {
                            r#"{"message":"GoneException"}"#
                        } else {
                            ""
                        };
                        Ok::<_, Infallible>(
                            Response::builder()
                                .status(status)
                                .header("x-amzn-ErrorType", "GoneException")
                                .body(Full::new(Bytes::from_static(body.as_bytes())))
                                .unwrap(),
                        )
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (endpoint, posts)
}

fn management_api(endpoint: &str) -> ManagementApi {
    use aws_sdk_apigatewaymanagement::config::{BehaviorVersion, Credentials, Region};
    let config = aws_sdk_apigatewaymanagement::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("ap-guangzhou"))
        .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
        .endpoint_url(endpoint)
        .http_client(notifier::http_client())
        .build();
    ManagementApi::with_client(aws_sdk_apigatewaymanagement::Client::from_conf(config))
}

fn batch(room: &str) -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/dynamodb-stream/room-events.json"
    ))
    .unwrap();
    serde_json::from_str(&text.replace("${ROOM}", room)).unwrap()
}

#[tokio::test]
async fn each_new_event_goes_to_its_rooms_connections_and_gone_ones_are_forgotten() {
    let store = testing::fresh_store().await;
    let room = RoomKey::new(RoomType::Multi, "cloud-room");
    let elsewhere = RoomKey::new(RoomType::Multi, "other-room");
    let connection = |id: &str, key: &RoomKey, user: &str| Connection {
        id: id.into(),
        key: key.clone(),
        user_id: user.into(),
    };
    for c in [
        connection("c-alice", &room, "alice"),
        connection("c-bob", &room, "bob"),
        connection("gone-carol", &room, "carol"),
        connection("c-dave", &elsewhere, "dave"),
    ] {
        store.add_connection(&c, 1_795_327_200_000).await.unwrap();
    }
    let (endpoint, posts) = management_endpoint().await;
    let poster = management_api(&endpoint);

    let delivery = notifier::notify(&store, &poster, &batch("cloud-room"))
        .await
        .unwrap();
    // Two room events (the room item's MODIFY is not one): the join to alice and bob (carol's
    // connection is gone), the linkmic to bob only.
    assert_eq!(
        delivery,
        Delivery {
            events: 2,
            posted: 3,
            gone: 1,
            failed: 0
        }
    );
    let posts = posts.lock().clone();
    let to = |id: &str| -> Vec<Value> {
        posts
            .iter()
            .filter(|(c, _)| c == id)
            .map(|(_, e)| e.clone())
            .collect()
    };
    let alice = to("c-alice");
    assert_eq!(alice.len(), 1);
    assert_eq!(alice[0]["type"], "memberJoined");
    assert_eq!(alice[0]["roomID"], "cloud-room");
    assert_eq!(alice[0]["seq"], 7);
    assert_eq!(alice[0]["data"]["userID"], "carol");
    let bob: Vec<Value> = to("c-bob");
    assert_eq!(
        bob.iter().map(|e| e["type"].clone()).collect::<Vec<_>>(),
        ["memberJoined", "linkmic"],
        "in stream order"
    );
    assert_eq!(bob[1]["data"]["data"]["type"], "request");
    assert!(
        to("c-dave").is_empty(),
        "another room's connection hears nothing"
    );
    assert_eq!(store.connection("gone-carol").await.unwrap(), None);
    assert_eq!(store.room_connections(&room).await.unwrap().len(), 2);
}
