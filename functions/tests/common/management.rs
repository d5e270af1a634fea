//! A local API Gateway Management API (`@connections`) for the cloud WebSocket tests.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;
use rtcroom_functions::notifier::{self, ManagementApi};
use serde_json::Value;
use tokio::net::TcpListener;

pub type Posts = Arc<Mutex<Vec<(String, Value)>>>;

/// A local `POST|DELETE /{stage}/@connections/{id}`: records each post (a delete as
/// `"closed"`); 410 for ids starting `gone`.
pub async fn management_endpoint() -> (String, Posts) {
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
                        let deleting = request.method() == hyper::Method::DELETE;
                        let body = request.into_body().collect().await.unwrap().to_bytes();
                        let id = path.rsplit('/').next().unwrap_or_default().to_owned();
                        let status = if id.starts_with("gone") {
                            410
                        } else if deleting {
                            record.lock().push((id, Value::String("closed".into())));
                            204
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

pub fn management_api(endpoint: &str) -> ManagementApi {
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
