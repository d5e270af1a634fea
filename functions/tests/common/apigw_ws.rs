//! The cloud's WebSocket path on loopback, for clients that need a real socket (the
//! mini-program IM file's tests): an API Gateway WebSocket API stand-in that invokes the real
//! `ws_connect` / `ws_message` / `ws_disconnect` handlers with API Gateway-shaped events and
//! whose `@connections` posts reach the sockets; and the table's DynamoDB Stream, read from
//! the test server and handed to the real `notifier` in batches, filtered as the template's
//! event source mapping filters them.
//!
//! Like API Gateway, each client message is its own invocation, so one connection's messages
//! may be handled concurrently. What API Gateway has that this does not: its own limits
//! (10 minutes idle, 2 hours in all) and retries.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::{SinkExt, StreamExt};
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_tungstenite::tungstenite::Message;
use hyper_tungstenite::tungstenite::protocol::WebSocketConfig;
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;
use rtcroom_functions::app::App;
use rtcroom_functions::cloud_ws::{on_connect, on_disconnect, on_message};
use rtcroom_functions::notifier::{self, PostError, Poster};
use rtcroom_shared::store::DynamoStore;
use rtcroom_shared::store::dynamo::testing;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

enum Out {
    Text(Bytes),
    Close,
}

/// The stage's connections, for `@connections` posts.
#[derive(Clone, Default)]
struct Connections(Arc<Mutex<HashMap<String, mpsc::UnboundedSender<Out>>>>);

impl Poster for Connections {
    fn post<'a>(&'a self, id: &'a str, data: Bytes) -> BoxFuture<'a, Result<(), PostError>> {
        Box::pin(async move {
            match self.0.lock().get(id) {
                Some(tx) if tx.send(Out::Text(data)).is_ok() => Ok(()),
                _ => Err(PostError::Gone),
            }
        })
    }

    fn disconnect<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), PostError>> {
        Box::pin(async move {
            match self.0.lock().get(id) {
                Some(tx) if tx.send(Out::Close).is_ok() => Ok(()),
                _ => Err(PostError::Gone),
            }
        })
    }
}

fn request_context(id: &str, route: &str, app: &App) -> Value {
    let now_ms = app.rooms.clock().now_ms();
    json!({"connectionId": id, "routeKey": route, "stage": "prod", "apiId": "local",
           "domainName": "127.0.0.1", "requestTimeEpoch": now_ms, "eventType": match route {
               "$connect" => "CONNECT", "$disconnect" => "DISCONNECT", _ => "MESSAGE" }})
}

/// The stage's listener and URL (`ws://127.0.0.1:{port}/prod`), bound before the app is built
/// so that its configuration can name it (`RTCROOM_EVENTS_URL`).
pub async fn bind() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/prod", listener.local_addr().unwrap());
    (listener, url)
}

/// Serves the WebSocket API on `listener`, and runs the stream reader, over `app` (on
/// `store`).
pub fn start(listener: TcpListener, app: Arc<App>, store: Arc<DynamoStore>) {
    let connections = Connections::default();
    tokio::spawn(read_stream(app.clone(), store.clone(), connections.clone()));
    let ids = Arc::new(AtomicU64::new(1));
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let (app, store, connections, ids) =
                (app.clone(), store.clone(), connections.clone(), ids.clone());
            tokio::spawn(async move {
                let service = service_fn(move |request| {
                    let id = format!("Conn{:08}=", ids.fetch_add(1, Ordering::Relaxed));
                    upgrade(app.clone(), store.clone(), connections.clone(), id, request)
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .with_upgrades()
                    .await;
            });
        }
    });
}

/// `$connect` decides; then the connection's messages go to `$default` in order, and its end
/// to `$disconnect`.
async fn upgrade(
    app: Arc<App>,
    store: Arc<DynamoStore>,
    connections: Connections,
    id: String,
    mut request: Request<hyper::body::Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let query: serde_json::Map<String, Value> =
        form_urlencoded::parse(request.uri().query().unwrap_or("").as_bytes())
            .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
            .collect();
    let connect = json!({"requestContext": request_context(&id, "$connect", &app),
                         "queryStringParameters": query, "isBase64Encoded": false});
    let answer = on_connect(&app, &store, &connect).await;
    let status = answer["statusCode"].as_u64().unwrap_or(500) as u16;
    if status != 200 {
        return Ok(Response::builder()
            .status(status)
            .body(Full::new(Bytes::from(answer["body"].to_string())))
            .unwrap());
    }
    let config = WebSocketConfig::default().max_message_size(Some(128 * 1024));
    let Ok((response, websocket)) = hyper_tungstenite::upgrade(&mut request, Some(config)) else {
        return Ok(Response::builder()
            .status(400)
            .body(Full::new(Bytes::new()))
            .unwrap());
    };
    let (tx, mut rx) = mpsc::unbounded_channel();
    connections.0.lock().insert(id.clone(), tx);
    tokio::spawn(async move {
        if let Ok(mut ws) = websocket.await {
            loop {
                tokio::select! {
                    frame = ws.next() => match frame {
                        Some(Ok(Message::Text(text))) => {
                            // Like API Gateway, each message is its own invocation: a burst
                            // is handled at once, not queued behind the store.
                            let context = request_context(&id, "$default", &app);
                            let event = json!({"requestContext": context,
                                               "body": text.as_str(), "isBase64Encoded": false});
                            let (app, store, connections) =
                                (app.clone(), store.clone(), connections.clone());
                            tokio::spawn(async move {
                                on_message(&app, &store, &connections, &event).await;
                            });
                        }
                        Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                        Some(Ok(_)) => {}
                    },
                    out = rx.recv() => match out {
                        Some(Out::Text(data)) => {
                            let text = String::from_utf8_lossy(&data).into_owned();
                            if ws.send(Message::text(text)).await.is_err() {
                                break;
                            }
                        }
                        Some(Out::Close) | None => {
                            let _ = ws.close(None).await;
                            break;
                        }
                    },
                }
            }
        }
        connections.0.lock().remove(&id);
        let gone = json!({"requestContext": request_context(&id, "$disconnect", &app)});
        on_disconnect(&store, &gone).await;
    });
    Ok(response)
}

/// Polls the table's stream and hands each batch of room-event INSERTs to the notifier.
async fn read_stream(app: Arc<App>, store: Arc<DynamoStore>, connections: Connections) {
    let endpoint = testing::endpoint();
    let http = reqwest::Client::new();
    let call = |target: &'static str, body: Value| {
        let (http, endpoint) = (http.clone(), endpoint.clone());
        async move {
            let answer = http
                .post(&endpoint)
                .header("X-Amz-Target", format!("DynamoDBStreams_20120810.{target}"))
                .header("Content-Type", "application/x-amz-json-1.0")
                .header(
                    "Authorization",
                    "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/dynamodb/aws4_request, \
                     SignedHeaders=host, Signature=0",
                )
                .body(body.to_string())
                .send()
                .await
                .ok()?;
            answer.json::<Value>().await.ok()
        }
    };
    let table = testing::client()
        .describe_table()
        .table_name(store.table())
        .send()
        .await
        .expect("the test table exists");
    let arn = table
        .table()
        .and_then(|t| t.latest_stream_arn())
        .expect("the table has a stream")
        .to_owned();
    let described = call("DescribeStream", json!({"StreamArn": arn}))
        .await
        .expect("DescribeStream");
    let shard = described["StreamDescription"]["Shards"][0]["ShardId"]
        .as_str()
        .expect("a shard")
        .to_owned();
    let mut iterator = call(
        "GetShardIterator",
        json!({"StreamArn": arn, "ShardId": shard, "ShardIteratorType": "TRIM_HORIZON"}),
    )
    .await
    .and_then(|a| a["ShardIterator"].as_str().map(str::to_owned))
    .expect("a shard iterator");
    loop {
        let Some(page) = call("GetRecords", json!({"ShardIterator": iterator})).await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let records: Vec<Value> = page["Records"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r| {
                r["eventName"] == "INSERT"
                    && r["dynamodb"]["Keys"]["pk"]["S"]
                        .as_str()
                        .is_some_and(|pk| pk.starts_with("EVENTS#"))
            })
            .cloned()
            .collect();
        if !records.is_empty() {
            let batch = json!({ "Records": records });
            if let Err(e) = notifier::notify(&app, &store, &connections, &batch).await {
                eprintln!("notifier failed on a batch: {e}");
            }
        }
        if let Some(next) = page["NextShardIterator"].as_str() {
            iterator = next.to_owned();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
