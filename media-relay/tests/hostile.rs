//! Hostile and vanished clients against a live relay (issue 12): what they may hold, and that
//! everyone else is served. Memory is the live heap of this process (a counting allocator),
//! the relay running in it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use rtcroom_relay::client::{self, Client, ClientError};
use rtcroom_relay::relay::Relay;
use rtcroom_relay::testing::{self, TestRelay};
use rtcroom_shared::testing::LiveBytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[global_allocator]
static ALLOCATOR: LiveBytes = LiveBytes;

const PUSH_KEY: &str = "hostile-push-key";

async fn relay(vars: &[(&str, &str)]) -> (Arc<Relay>, String) {
    let mut vars = vars.to_vec();
    vars.push(("RTCROOM_PUSH_KEY", PUSH_KEY));
    let relay = TestRelay::start(&vars).await;
    (relay.handle.relay.clone(), relay.rtmp.to_string())
}

fn signed(addr: &str, name: &str) -> String {
    testing::signed(PUSH_KEY, &format!("rtmp://{addr}/live"), name, 3600)
}

async fn handshake(addr: &str) -> TcpStream {
    client::handshake_only(addr).await.unwrap()
}

fn hostile_chunks(streams: u32, chunks: usize) -> BytesMut {
    client::declared_but_unsent(streams, chunks)
}

async fn wait_for(what: &str, cond: impl FnMut() -> bool) {
    testing::wait_for(what, Duration::from_secs(20), cond).await
}

/// Whether the relay closed `socket` (it reads end-of-stream or an error within 5 s).
async fn closed(socket: &mut TcpStream) -> bool {
    let mut sink = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match tokio::time::timeout_at(deadline, socket.read(&mut sink)).await {
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {}
            Err(_) => return false,
        }
    }
}

/// A well-behaved publisher and player still get through.
async fn serves(addr: &str, name: &str) {
    let (mut publisher, stream) = Client::connect(&signed(addr, name)).await.unwrap();
    publisher.publish(&stream).await.unwrap();
    let (mut player, stream) = Client::connect(&signed(addr, name)).await.unwrap();
    player.play(&stream).await.unwrap();
    publisher
        .send_media(9, 0, &[0x17, 1, 0, 0, 0, 9])
        .await
        .unwrap();
    loop {
        let m = tokio::time::timeout(Duration::from_secs(5), player.next())
            .await
            .expect("the player gets the frame")
            .unwrap();
        if m.type_id == 9 {
            return;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declared_message_lengths_cost_only_what_arrives_and_budgets_close_hoarders() {
    let (relay, addr) = relay(&[]).await;
    serves(&addr, "warmup").await;
    let before = LiveBytes::now();
    // 50 connections, each opening 60 chunk streams of declared 8 MiB messages (the attack
    // that reserved 114 MB per connection and aborted a 4 GB process with 8).
    let mut sockets = Vec::new();
    for _ in 0..50 {
        let mut s = handshake(&addr).await;
        s.write_all(&hostile_chunks(60, 1)).await.unwrap();
        sockets.push(s);
    }
    let held = 50 * 60 * 128;
    wait_for("every chunk held", || {
        relay.metrics.buffered_bytes.get() == held as i64
    })
    .await;
    let grew = LiveBytes::now() - before;
    println!("50 hoarding connections hold {held} bytes of input; the heap grew {grew} bytes");
    assert!(grew < 64 << 20, "the heap grew {grew} bytes");
    serves(&addr, "during").await;

    // More than the setup budget (128 KiB) before publishing: closed, and counted.
    let mut greedy = handshake(&addr).await;
    greedy
        .write_all(&hostile_chunks(60, 20))
        .await
        .unwrap_or(());
    assert!(
        closed(&mut greedy).await,
        "a hoarder over its budget is closed"
    );
    assert_eq!(relay.metrics.over_connection_budget.get(), 1);
    drop(sockets);
    wait_for("the hoarders' bytes given back", || {
        relay.metrics.buffered_bytes.get() == 0
    })
    .await;
    serves(&addr, "after").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_wide_budget_closes_the_connection_that_would_pass_it() {
    // Each connection may hold 100 KiB before publishing; the relay 250 KiB in all.
    let (relay, addr) = relay(&[
        ("RTCROOM_RELAY_SETUP_BUFFER_BYTES", "102400"),
        ("RTCROOM_RELAY_MAX_BUFFERED_BYTES", "256000"),
    ])
    .await;
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut s = handshake(&addr).await;
        s.write_all(&hostile_chunks(60, 12)).await.unwrap();
        held.push(s);
    }
    wait_for("two connections holding 92 KB each", || {
        relay.metrics.buffered_bytes.get() == 2 * 60 * 12 * 128
    })
    .await;
    let mut third = handshake(&addr).await;
    third.write_all(&hostile_chunks(60, 12)).await.unwrap_or(());
    assert!(closed(&mut third).await);
    assert_eq!(relay.metrics.over_relay_budget.get(), 1);
    assert_eq!(relay.metrics.over_connection_budget.get(), 0);
    drop(held);
    wait_for("the bytes given back", || {
        relay.metrics.buffered_bytes.get() == 0
    })
    .await;
    serves(&addr, "after").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn players_of_streams_nobody_publishes_release_their_slot() {
    let (relay, addr) = relay(&[
        ("RTCROOM_RELAY_MAX_STREAMS", "2"),
        ("RTCROOM_RELAY_IDLE_PLAYER_SECS", "1"),
    ])
    .await;
    let mut idle = Vec::new();
    for name in ["nobody_a", "nobody_b"] {
        let (mut player, stream) = Client::connect(&signed(&addr, name)).await.unwrap();
        player.play(&stream).await.unwrap();
        idle.push(player);
    }
    // Both slots are taken by players waiting for publishers that never come ...
    let (mut publisher, stream) = Client::connect(&signed(&addr, "real")).await.unwrap();
    let refused = publisher.publish(&stream).await;
    assert!(
        matches!(refused, Err(ClientError::Refused(_))),
        "{refused:?}"
    );
    // ... until the idle time: they are told and closed, and the slots are free.
    let started = Instant::now();
    for mut player in idle {
        let notice = loop {
            match tokio::time::timeout(Duration::from_secs(5), player.next()).await {
                Ok(Ok(m)) if m.type_id == 20 => {
                    break String::from_utf8_lossy(&m.payload).into_owned();
                }
                Ok(Ok(_)) => {}
                other => panic!("no notice: {other:?}"),
            }
        };
        assert!(notice.contains("NetStream.Play.StreamNotFound"), "{notice}");
        // Then StreamEOF, and the connection closes.
        loop {
            match tokio::time::timeout(Duration::from_secs(5), player.next()).await {
                Ok(Err(ClientError::Closed)) => break,
                Ok(Ok(m)) if m.type_id == 4 => {}
                other => panic!("not closed: {other:?}"),
            }
        }
    }
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(relay.metrics.idle_players_closed.get(), 2);
    wait_for("the slots freed", || relay.hub.stream_count() == 0).await;
    serves(&addr, "real").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_publisher_is_dropped_and_its_reconnect_takes_over() {
    let (relay, addr) = relay(&[
        ("RTCROOM_RELAY_PUBLISH_TIMEOUT_SECS", "2"),
        ("RTCROOM_RELAY_TAKEOVER_SECS", "1"),
    ])
    .await;
    let url = signed(&addr, "phone");
    let (mut first, stream) = Client::connect(&url).await.unwrap();
    first.publish(&stream).await.unwrap();
    first
        .send_media(9, 0, &[0x17, 1, 0, 0, 0, 1])
        .await
        .unwrap();
    let (mut player, name) = Client::connect(&url).await.unwrap();
    player.play(&name).await.unwrap();
    // A second publisher while the first one is live: refused.
    let (mut rival, name) = Client::connect(&url).await.unwrap();
    assert!(matches!(
        rival.publish(&name).await,
        Err(ClientError::Refused(_))
    ));
    // The phone drops off the network without closing: its socket stays, silent. Its
    // reconnect with the same signed URL, a second later, takes the stream over.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let (mut again, name) = Client::connect(&url).await.unwrap();
    again.publish(&name).await.unwrap();
    again
        .send_media(9, 40, &[0x17, 1, 0, 0, 0, 2])
        .await
        .unwrap();
    assert_eq!(relay.metrics.publishers_replaced.get(), 1);
    // The player stayed and hears the new publisher.
    loop {
        let m = tokio::time::timeout(Duration::from_secs(5), player.next())
            .await
            .expect("the player hears the reconnect")
            .unwrap();
        if m.type_id == 9 && m.payload.last() == Some(&2) {
            break;
        }
    }
    // The replaced connection is closed.
    let (mut old, _) = first.into_socket();
    assert!(
        closed(&mut old).await,
        "the replaced publisher's connection is closed"
    );
    assert!(relay.hub.is_publishing("phone"));

    // Left silent with nobody to take over, a publisher is dropped at the publish timeout.
    let started = Instant::now();
    let (mut quiet, _) = again.into_socket();
    assert!(closed(&mut quiet).await, "dropped within the timeout");
    let waited = started.elapsed();
    assert!(waited < Duration::from_secs(4), "{waited:?}");
    assert_eq!(relay.metrics.silent_publishers_dropped.get(), 1);
    wait_for("the stream ended", || !relay.hub.is_publishing("phone")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gop_cache_is_capped_in_bytes() {
    let (relay, addr) = relay(&[("RTCROOM_RELAY_GOP_CACHE_BYTES", "1048576")]).await;
    let (mut publisher, stream) = Client::connect(&signed(&addr, "huge")).await.unwrap();
    publisher.publish(&stream).await.unwrap();
    let before = LiveBytes::now();
    let mut frame = vec![0x17, 1];
    frame.resize(512 << 10, 0);
    publisher.send_media(9, 0, &frame).await.unwrap();
    frame[0] = 0x27;
    for t in 1..40 {
        publisher.send_media(9, t * 40, &frame).await.unwrap();
    }
    wait_for("the cache dropped", || {
        relay.metrics.gop_cache_dropped.get() > 0
    })
    .await;
    wait_for("every frame taken", || {
        relay.metrics.messages_in.get() == 40
    })
    .await;
    // 40 frames of 512 KiB went through; the relay keeps no more than the 1 MiB cap of them
    // (and the broadcast ring, which frees a frame once every player has it: none here).
    let grew = LiveBytes::now() - before;
    println!("20 MiB published; the heap grew {grew} bytes");
    assert!(grew < 8 << 20, "the heap grew {grew} bytes");
}
