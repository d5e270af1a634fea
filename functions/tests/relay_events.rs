//! The media relay keeps a member present while it reports the member's stream live (as the
//! original server asked the CDN before evicting): a real relay, publishing over real RTMP,
//! posting signed events to the gateway's `/relay/event`. Runs on both stores.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{Gateway, code, test_store};
use rtcroom_relay::client::Client;
use rtcroom_relay::relay::Relay;
use rtcroom_relay::testing::TestRelay;
use rtcroom_shared::model::{EventKind, LeaveReason, RoomType};
use rtcroom_shared::stream_events;
use serde_json::{Value, json};

const PUSH_KEY: &str = "test-push-key";

fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// A gateway on the wall clock (the relay signs events with it) and a relay reporting live
/// streams to it every second.
async fn gateway_and_relay() -> (Gateway, Arc<Relay>, String) {
    let gw = Gateway::start_at(&[], test_store().await, wall_ms()).await;
    let events_url = format!("{}/relay/event", gw.base);
    let secret = gw.app.config.relay_events_secret.clone().unwrap();
    let relay = TestRelay::start(&[
        ("RTCROOM_PUSH_KEY", PUSH_KEY),
        ("RTCROOM_RELAY_EVENTS_URL", &events_url),
        ("RTCROOM_RELAY_EVENTS_SECRET", &secret),
        ("RTCROOM_RELAY_LIVE_REPORT_SECS", "1"),
    ])
    .await;
    (gw, relay.handle.relay.clone(), relay.rtmp.to_string())
}

/// Waits until the relay has delivered more than `after` events.
async fn delivered_beyond(relay: &Relay, after: u64) -> u64 {
    let started = Instant::now();
    loop {
        let sent = relay.metrics.events_sent.get();
        if sent > after {
            return sent;
        }
        assert_eq!(relay.metrics.events_failed.get(), 0, "an event was refused");
        assert!(started.elapsed() < Duration::from_secs(15), "no event");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn listed(answer: &Value) -> Vec<(String, bool)> {
    answer["pushers"]
        .as_array()
        .map(|pushers| {
            pushers
                .iter()
                .map(|p| {
                    (
                        p["userID"].as_str().unwrap().to_owned(),
                        p["streamLive"].as_bool().unwrap(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_whose_stream_is_live_stays_until_the_stream_and_heartbeats_stop() {
    let (gw, relay, rtmp) = gateway_and_relay().await;
    let alice = gw.user(RoomType::Multi, "alice").await;
    let bob = gw.user(RoomType::Multi, "bob").await;
    let push_url = alice.push_url().await;
    let (mut publisher, stream) = Client::connect(&push_url.replace("127.0.0.1:1935", &rtmp))
        .await
        .unwrap();
    publisher.publish(&stream).await.unwrap();
    let joined = alice
        .call(
            "add_pusher",
            json!({"roomID": "r", "userID": "alice", "userName": "A", "userAvatar": "",
                   "pushURL": push_url}),
        )
        .await;
    assert_eq!(code(&joined), 0, "{joined}");
    assert_eq!(code(&bob.join("r").await), 0);

    // The publish event may still be in flight: one delivery after it (events go in order)
    // makes sure that the next one counted below is a live report.
    delivered_beyond(&relay, relay.metrics.events_sent.get()).await;
    // Neither beats again. A live report after 15 s keeps alice until 35 s; bob leaves at 20 s.
    gw.advance(15_000);
    let sent = relay.metrics.events_sent.get();
    delivered_beyond(&relay, sent).await;
    gw.advance(15_000);
    assert_eq!(
        listed(&bob.pushers("r").await),
        [("alice".to_owned(), true)],
        "alice's stream is live, so she stays 30 s after her last heartbeat"
    );
    // Reports keep coming while she publishes.
    for _ in 0..3 {
        let sent = relay.metrics.events_sent.get();
        delivered_beyond(&relay, sent).await;
        gw.advance(15_000);
        assert_eq!(
            listed(&alice.pushers("r").await),
            [("alice".to_owned(), true)]
        );
    }

    // The publisher stops: the relay says so, and no report follows.
    let sent = relay.metrics.events_sent.get();
    drop(publisher);
    delivered_beyond(&relay, sent).await;
    assert_eq!(
        listed(&alice.pushers("r").await),
        [("alice".to_owned(), false)],
        "listed as not live, present until her last deadline"
    );
    gw.advance(20_000);
    assert_eq!(
        alice.pusher_ids("r").await,
        None,
        "alice left; the room is gone"
    );
    gw.app.rooms.sweep().await.unwrap();
    let events = gw.events(RoomType::Multi, "r").await;
    let left = |user: &str| EventKind::MemberLeft {
        user_id: user.into(),
        reason: LeaveReason::Timeout,
    };
    assert!(events.iter().any(|e| e.kind == left("bob")));
    assert!(events.iter().any(|e| e.kind == left("alice")));
    // The stream's start and end are room events (streamUp / streamDown on the WebSocket).
    let stream_changes: Vec<_> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::StreamUp { user_id, .. } => Some(("up", user_id.as_str())),
            EventKind::StreamDown { user_id, .. } => Some(("down", user_id.as_str())),
            _ => None,
        })
        .collect();
    assert_eq!(stream_changes, [("up", "alice"), ("down", "alice")]);
}

async fn post_event(gw: &Gateway, signature: Option<&str>, body: &str) -> (u16, Value) {
    let mut request = gw
        .http
        .post(format!("{}/relay/event", gw.base))
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(signature) = signature {
        request = request.header(stream_events::SIGNATURE_HEADER, signature);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn the_endpoint_refuses_unsigned_forged_stale_and_malformed_events() {
    let now = wall_ms();
    let gw = Gateway::start_at(&[], test_store().await, now).await;
    let secret = gw.app.config.relay_events_secret.clone().unwrap();
    let t = now / 1000;
    let body = r#"{"event":"publish","stream":"8888_x_0001","relay":"r","seq":1,"at":1}"#;
    let sign = |secret: &str, t: u64, body: &str| stream_events::sign(secret, t, body.as_bytes());

    assert_eq!(post_event(&gw, None, body).await.0, 401);
    let forged = sign("some-other-secret-0123", t, body);
    assert_eq!(post_event(&gw, Some(&forged), body).await.0, 401);
    let stale = sign(&secret, t - stream_events::MAX_SKEW_SECS - 1, body);
    assert_eq!(post_event(&gw, Some(&stale), body).await.0, 401);
    let other_body = sign(&secret, t, r#"{"event":"unpublish"}"#);
    assert_eq!(post_event(&gw, Some(&other_body), body).await.0, 401);
    for bad in [
        "not json",
        r#"{"event":"explode","stream":"s","relay":"r","seq":1,"at":1}"#,
        r#"{"event":"publish","relay":"r","seq":1,"at":1}"#,
        r#"{"event":"live","stream":"s","relay":"r","seq":1,"at":1}"#,
    ] {
        let (status, answer) = post_event(&gw, Some(&sign(&secret, t, bad)), bad).await;
        assert_eq!(status, 400, "{bad}: {answer}");
    }
    let big = format!(
        r#"{{"event":"live","streams":[{}],"relay":"r","seq":1,"at":1}}"#,
        vec!["\"s\""; 40_000].join(",")
    );
    assert_eq!(
        post_event(&gw, Some(&sign(&secret, t, &big)), &big).await.0,
        400,
        "over the body limit"
    );
    let (status, answer) = post_event(&gw, Some(&sign(&secret, t, body)), body).await;
    assert_eq!((status, answer["members"].as_u64()), (200, Some(0)));
}
