//! Stream events reach the room service signed, in order, retried through failures, and never
//! hold up media when the room service is down.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rtcroom_relay::client::Client;
use rtcroom_relay::relay::Relay;
use rtcroom_relay::testing::{self, TestRelay};
use rtcroom_shared::stream_events::{self, StreamEvent, StreamEventKind};

const KEY: &str = "events-push-key";
const SECRET: &str = "events-secret-0123456789";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

async fn relay(events_url: &str) -> (String, Arc<Relay>) {
    relay_reporting_every(events_url, 60).await
}

async fn relay_reporting_every(events_url: &str, live_secs: u32) -> (String, Arc<Relay>) {
    let live_secs = live_secs.to_string();
    let relay = TestRelay::start(&[
        ("RTCROOM_RELAY_LIVE_REPORT_SECS", &live_secs),
        ("RTCROOM_PUSH_KEY", KEY),
        ("RTCROOM_RELAY_EVENTS_URL", events_url),
        ("RTCROOM_RELAY_EVENTS_SECRET", SECRET),
        ("RTCROOM_RELAY_ID", "relay-test"),
    ])
    .await;
    (relay.rtmp_base(), relay.handle.relay.clone())
}

fn signed(base: &str, stream: &str) -> String {
    testing::signed(KEY, base, stream, 3600)
}

async fn until(what: &str, done: impl FnMut() -> bool) {
    testing::wait_for(what, Duration::from_secs(15), done).await
}

fn decoded(seen: &[(String, Vec<u8>)]) -> Vec<StreamEvent> {
    seen.iter()
        .map(|(signature, body)| {
            stream_events::verify(SECRET, signature, body, now()).expect("signed with the secret");
            serde_json::from_slice(body).unwrap()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_play_stop_unpublish_arrive_signed_and_in_order() {
    let (events_url, seen) = testing::event_receiver(0).await;
    let (base, relay) = relay(&events_url).await;
    let url = signed(&base, "8888_ev_0001");
    let (mut publisher, name) = Client::connect(&url).await.unwrap();
    publisher.publish(&name).await.unwrap();
    until("publish", || seen.lock().len() == 1).await;
    let (mut player, name) = Client::connect(&url).await.unwrap();
    player.play(&name).await.unwrap();
    until("play", || seen.lock().len() == 2).await;
    drop(player);
    until("stop", || seen.lock().len() == 3).await;
    drop(publisher);
    until("unpublish", || seen.lock().len() == 4).await;

    let events = decoded(&seen.lock());
    let kinds: Vec<StreamEventKind> = events.iter().map(|e| e.event).collect();
    assert_eq!(
        kinds,
        [
            StreamEventKind::Publish,
            StreamEventKind::Play,
            StreamEventKind::Stop,
            StreamEventKind::Unpublish
        ]
    );
    assert!(
        events
            .iter()
            .all(|e| e.stream == "8888_ev_0001" && e.relay == "relay-test")
    );
    assert!(events.windows(2).all(|w| w[0].seq + 1 == w[1].seq));
    // The relay counts an event sent once the answer is back, which may be just after the
    // receiver has recorded it.
    until("four events counted as sent", || {
        relay.metrics.events_sent.get() == 4
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_room_service_gets_retries_with_the_same_seq() {
    let (events_url, seen) = testing::event_receiver(2).await;
    let (base, relay) = relay(&events_url).await;
    let url = signed(&base, "8888_ev_0002");
    let (mut publisher, name) = Client::connect(&url).await.unwrap();
    publisher.publish(&name).await.unwrap();
    until("two failures and a success", || {
        relay.metrics.events_sent.get() == 1
    })
    .await;
    let events = decoded(&seen.lock());
    assert_eq!(events.len(), 3, "two refused attempts and the accepted one");
    assert!(
        events
            .iter()
            .all(|e| e.seq == events[0].seq && e.event == StreamEventKind::Publish)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_flows_while_the_room_service_is_unreachable() {
    // Nothing listens here: every delivery fails.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let (base, relay) = relay(&format!("http://{dead}/relay_event")).await;
    let url = signed(&base, "8888_ev_0003");
    let (mut publisher, name) = Client::connect(&url).await.unwrap();
    publisher.publish(&name).await.unwrap();
    let (mut player, name) = Client::connect(&url).await.unwrap();
    player.play(&name).await.unwrap();
    let started = Instant::now();
    for i in 0..200u32 {
        let mut v = vec![0x27, 1, 0, 0, 0];
        v.extend_from_slice(&i.to_be_bytes());
        publisher.send_media(9, i * 40, &v).await.unwrap();
    }
    let mut got = 0;
    while got < 200 {
        let m = tokio::time::timeout(Duration::from_secs(5), player.next())
            .await
            .expect("media keeps flowing")
            .unwrap();
        if m.type_id == 9 {
            got += 1;
        }
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(relay.metrics.events_sent.get(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_reports_list_the_published_streams_until_they_stop() {
    let (events_url, seen) = testing::event_receiver(0).await;
    let (base, _relay) = relay_reporting_every(&events_url, 1).await;
    let live_lists = || -> Vec<Vec<String>> {
        decoded(&seen.lock())
            .into_iter()
            .filter(|e| e.event == StreamEventKind::Live)
            .map(|e| e.streams)
            .collect()
    };
    let (mut one, name) = Client::connect(&signed(&base, "8888_ev_0011"))
        .await
        .unwrap();
    one.publish(&name).await.unwrap();
    let (mut two, name) = Client::connect(&signed(&base, "8888_ev_0012"))
        .await
        .unwrap();
    two.publish(&name).await.unwrap();
    let both = vec!["8888_ev_0011".to_owned(), "8888_ev_0012".to_owned()];
    until("a live report of both streams", || {
        live_lists().contains(&both)
    })
    .await;
    drop(one);
    let reports_before = live_lists().len();
    until("a live report of the remaining stream", || {
        live_lists()[reports_before..].contains(&vec!["8888_ev_0012".to_owned()])
    })
    .await;
    drop(two);
    until("the unpublish", || {
        decoded(&seen.lock())
            .iter()
            .any(|e| e.event == StreamEventKind::Unpublish && e.stream == "8888_ev_0012")
    })
    .await;
    let after_unpublish = live_lists().len();
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_eq!(
        live_lists().len(),
        after_unpublish,
        "no live reports without published streams"
    );
}
