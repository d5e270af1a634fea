//! Fan-out behaviour with the relay's own RTMP client as publisher and players: no copy of
//! payload bytes per player (counted by a counting allocator), and a stalled player neither
//! slows the publisher nor the other players, and is dropped.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rtcroom_relay::client::Client;
use rtcroom_relay::relay::Relay;
use rtcroom_relay::testing::{self, TestRelay};
use tokio::io::AsyncReadExt;

/// Counts bytes allocated while `COUNTING` is on.
struct CountingAllocator;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATED: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATED.fetch_add(layout.size(), Ordering::Relaxed);
        }
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATED.fetch_add(new_size, Ordering::Relaxed);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

const KEY: &str = "fanout-key";

/// A relay whose fan-out sends through io_uring (`sending` = "on") or with writev ("off").
async fn relay(stall_secs: &str, sending: &str) -> (String, Arc<Relay>) {
    let relay = TestRelay::start(&[
        ("RTCROOM_PUSH_KEY", KEY),
        ("RTCROOM_RELAY_STALL_TIMEOUT_SECS", stall_secs),
        ("RTCROOM_RELAY_IO_URING", sending),
    ])
    .await;
    (relay.rtmp_base(), relay.handle.relay.clone())
}

fn signed(base: &str, stream: &str) -> String {
    testing::signed(KEY, base, stream, 3600)
}

/// A video message: keyframe every 25th, the rest inter frames (AVC NALU packets).
fn video(i: u32, size: usize) -> Vec<u8> {
    let mut v = vec![(i % 251) as u8; size];
    v[0] = if i % 25 == 0 { 0x17 } else { 0x27 };
    v[1] = 1;
    v
}

async fn wait_published(relay: &Relay, stream: &str) {
    let t = Instant::now();
    while !relay.hub.is_publishing(stream) {
        assert!(t.elapsed() < Duration::from_secs(5));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

// One test for both ways of sending: the allocation count is global to the process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn players_share_the_publishers_payload_bytes_instead_of_copying_them() {
    share("on").await;
    share("off").await;
}

async fn share(sending: &str) {
    const PLAYERS: usize = 40;
    const MESSAGES: u32 = 300;
    const SIZE: usize = 20_000;
    let (base, relay) = relay("10", sending).await;
    let url = signed(&base, "8888_zero_0001");
    let (mut publisher, name) = Client::connect(&url).await.unwrap();
    publisher.publish(&name).await.unwrap();
    wait_published(&relay, "8888_zero_0001").await;

    // Players read raw bytes into a fixed buffer: they allocate nothing while counting.
    let mut players = Vec::new();
    for _ in 0..PLAYERS {
        let (mut c, name) = Client::connect(&url).await.unwrap();
        c.play(&name).await.unwrap();
        let (mut socket, already) = c.into_socket();
        players.push(tokio::spawn(async move {
            let mut buf = vec![0u8; 256 * 1024];
            let mut total = already.len();
            let want = MESSAGES as usize * SIZE;
            while total < want {
                match tokio::time::timeout(Duration::from_secs(10), socket.read(&mut buf)).await {
                    Ok(Ok(n)) if n > 0 => total += n,
                    _ => break,
                }
            }
            total
        }));
    }
    let payloads: Vec<Vec<u8>> = (0..MESSAGES).map(|i| video(i, SIZE)).collect();
    tokio::time::sleep(Duration::from_millis(100)).await;

    ALLOCATED.store(0, Ordering::SeqCst);
    COUNTING.store(true, Ordering::SeqCst);
    for (i, p) in payloads.iter().enumerate() {
        publisher.send_media(9, i as u32 * 40, p).await.unwrap();
    }
    let mut received = Vec::new();
    for p in players {
        received.push(p.await.unwrap());
    }
    COUNTING.store(false, Ordering::SeqCst);
    let allocated = ALLOCATED.load(Ordering::SeqCst);

    let published = MESSAGES as usize * SIZE;
    for r in &received {
        assert!(*r >= published, "a player got {r} of {published} bytes");
    }
    println!(
        "{sending}: {PLAYERS} players × {published} payload bytes: {allocated} bytes allocated \
         in all ({:.2}× the payload published once)",
        allocated as f64 / published as f64
    );
    // One copy per player would be ≥ 40× the payload; the relay keeps it near 1×
    // (ingest buffers) plus small per-message and per-write bookkeeping.
    assert!(
        allocated < 4 * published,
        "{allocated} bytes allocated for {published} bytes published to {PLAYERS} players"
    );
    assert_eq!(relay.metrics.dropped_to_keyframe.get(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_player_is_dropped_without_slowing_the_publisher_or_the_others_io_uring() {
    a_stalled_player_is_dropped_without_slowing_the_publisher_or_the_others("on").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_player_is_dropped_without_slowing_the_publisher_or_the_others_writev() {
    a_stalled_player_is_dropped_without_slowing_the_publisher_or_the_others("off").await;
}

async fn a_stalled_player_is_dropped_without_slowing_the_publisher_or_the_others(sending: &str) {
    const MESSAGES: u32 = 1500;
    const SIZE: usize = 10_000;
    const RATE: u32 = 500; // messages per second: 5 MB/s
    let (base, relay) = relay("2", sending).await;
    let url = signed(&base, "8888_stall_0001");
    let (mut publisher, name) = Client::connect(&url).await.unwrap();
    publisher.publish(&name).await.unwrap();
    wait_published(&relay, "8888_stall_0001").await;

    let mut readers = Vec::new();
    for _ in 0..3 {
        let (mut c, name) = Client::connect(&url).await.unwrap();
        c.play(&name).await.unwrap();
        readers.push(tokio::spawn(async move {
            let mut timestamps = Vec::new();
            while timestamps.len() < MESSAGES as usize {
                match tokio::time::timeout(Duration::from_secs(10), c.next()).await {
                    Ok(Ok(m)) if m.type_id == 9 => timestamps.push(m.timestamp),
                    Ok(Ok(_)) => {}
                    _ => break,
                }
            }
            timestamps
        }));
    }
    // The stalled player: plays, then never reads again.
    let (mut stalled, name) = Client::connect(&url).await.unwrap();
    stalled.play(&name).await.unwrap();
    let (stalled_socket, _) = stalled.into_socket();

    let started = Instant::now();
    let interval = Duration::from_secs(1) / RATE;
    for i in 0..MESSAGES {
        publisher
            .send_media(9, i * 2, &video(i, SIZE))
            .await
            .unwrap();
        let due = started + interval * (i + 1);
        tokio::time::sleep_until(due.into()).await;
    }
    let publishing_took = started.elapsed();
    let paced = interval * MESSAGES;
    for r in readers {
        let timestamps = r.await.unwrap();
        assert_eq!(
            timestamps.len(),
            MESSAGES as usize,
            "a reader missed messages"
        );
        assert!(timestamps.windows(2).all(|w| w[0] < w[1]), "in order");
    }
    assert!(
        publishing_took < paced + Duration::from_millis(500),
        "the publisher took {publishing_took:?} for {paced:?} of media"
    );
    // The stalled player is dropped within the stall timeout (2 s here) of filling its socket.
    let t = Instant::now();
    while relay.metrics.players.get() > 0 {
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "{} players still connected",
            relay.metrics.players.get()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        relay.metrics.sessions_failed.get() >= 1,
        "the stalled player was dropped"
    );
    drop(stalled_socket);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_player_skips_video_to_the_next_keyframe_and_keeps_its_audio_io_uring() {
    a_slow_player_skips_video_to_the_next_keyframe_and_keeps_its_audio("on").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_player_skips_video_to_the_next_keyframe_and_keeps_its_audio_writev() {
    a_slow_player_skips_video_to_the_next_keyframe_and_keeps_its_audio("off").await;
}

async fn a_slow_player_skips_video_to_the_next_keyframe_and_keeps_its_audio(sending: &str) {
    const ROUNDS: u32 = 3000;
    let (base, relay) = relay("10", sending).await;
    let url = signed(&base, "8888_slow_0001");
    let (mut publisher, name) = Client::connect(&url).await.unwrap();
    publisher.publish(&name).await.unwrap();
    wait_published(&relay, "8888_slow_0001").await;

    // A player that reads, but more slowly than the stream comes.
    let (mut slow, name) = Client::connect(&url).await.unwrap();
    slow.play(&name).await.unwrap();
    let reader = tokio::spawn(async move {
        let mut got = Vec::new();
        loop {
            match tokio::time::timeout(Duration::from_secs(3), slow.next()).await {
                Ok(Ok(m)) if matches!(m.type_id, 8 | 9) => {
                    let seq = u32::from_be_bytes(m.payload[2..6].try_into().unwrap());
                    got.push((m.type_id, seq, m.payload[0] == 0x17));
                    if got.len() % 20 == 0 {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
                Ok(Ok(_)) => {}
                _ => return got,
            }
        }
    });
    // Each round: a video message (keyframe every 25th) and an audio message, numbered.
    for i in 0..ROUNDS {
        let mut v = video(i, 8_000);
        v[2..6].copy_from_slice(&i.to_be_bytes());
        publisher.send_media(9, i * 40, &v).await.unwrap();
        let mut a = vec![0xAF, 1, 0, 0, 0, 0, 9, 9];
        a[2..6].copy_from_slice(&i.to_be_bytes());
        publisher.send_media(8, i * 40, &a).await.unwrap();
        if i % 100 == 99 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    let got = reader.await.unwrap();
    let videos: Vec<(u32, bool)> = got
        .iter()
        .filter(|(t, ..)| *t == 9)
        .map(|&(_, s, k)| (s, k))
        .collect();
    assert!(
        relay.metrics.dropped_to_keyframe.get() > 0,
        "the player never fell behind"
    );
    assert!(videos.len() < ROUNDS as usize, "no video was skipped");
    let (mut gaps, mut gaps_with_audio) = (0, 0);
    for pair in videos.windows(2) {
        let ((a, _), (b, key)) = (pair[0], pair[1]);
        if b != a + 1 {
            gaps += 1;
            assert!(key, "video resumed at {b} after {a}, not at a keyframe");
            // Audio went on while video waited for the keyframe.
            if got.iter().any(|&(t, s, _)| t == 8 && s > a && s < b) {
                gaps_with_audio += 1;
            }
        }
    }
    assert!(gaps > 0);
    assert!(gaps_with_audio > 0, "audio stopped with the skipped video");
}

/// A stream's players spread over the fan-out threads (round robin), and every one of them
/// gets every message, whichever thread writes to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streams_players_spread_over_every_fanout_thread() {
    const PLAYERS: usize = 6;
    const MESSAGES: u32 = 50;
    let relay = TestRelay::start(&[
        ("RTCROOM_PUSH_KEY", KEY),
        ("RTCROOM_RELAY_FANOUT_THREADS", "3"),
    ])
    .await;
    let url = signed(&relay.rtmp_base(), "8888_spread_0001");
    let (mut publisher, name) = Client::connect(&url).await.unwrap();
    publisher.publish(&name).await.unwrap();
    wait_published(&relay, "8888_spread_0001").await;
    let mut players = Vec::new();
    for _ in 0..PLAYERS {
        let (mut c, name) = Client::connect(&url).await.unwrap();
        c.play(&name).await.unwrap();
        players.push(c);
    }
    let t = Instant::now();
    let per_shard = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| l.starts_with("rtcroom_relay_fanout_players{"))
            .map(str::to_owned)
            .collect()
    };
    loop {
        let shards = per_shard(&relay.metrics.render(0));
        if shards.iter().all(|l| l.ends_with(" 2")) {
            assert_eq!(shards.len(), 3, "{shards:?}");
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(5), "{shards:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for i in 0..MESSAGES {
        publisher
            .send_media(9, i * 40, &video(i, 3_000))
            .await
            .unwrap();
    }
    for mut p in players {
        let mut timestamps = Vec::new();
        while timestamps.len() < MESSAGES as usize {
            match tokio::time::timeout(Duration::from_secs(5), p.next()).await {
                Ok(Ok(m)) if m.type_id == 9 => timestamps.push(m.timestamp),
                Ok(Ok(_)) => {}
                other => panic!("after {} messages: {other:?}", timestamps.len()),
            }
        }
        let expected: Vec<u32> = (0..MESSAGES).map(|i| i * 40).collect();
        assert_eq!(timestamps, expected);
    }
}

/// A parked player (its socket full) that leaves is let go at once, its connection closed,
/// not held until the stall timeout (10 s here) gives up on its send.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parked_player_that_leaves_is_let_go_at_once() {
    use tokio::io::AsyncWriteExt;
    let (base, relay) = relay("10", "on").await;
    let url = signed(&base, "8888_gone_0001");
    let (mut publisher, name) = Client::connect(&url).await.unwrap();
    publisher.publish(&name).await.unwrap();
    wait_published(&relay, "8888_gone_0001").await;
    let (mut player, name) = Client::connect(&url).await.unwrap();
    player.play(&name).await.unwrap();
    let (mut socket, _) = player.into_socket();
    // The player reads nothing: its socket fills and it is parked.
    let mut i = 0;
    while relay.metrics.parked_players.get() == 0 {
        assert!(i < 2_000, "the player never filled its socket");
        publisher
            .send_media(9, i * 40, &video(i, 50_000))
            .await
            .unwrap();
        i += 1;
    }
    socket.shutdown().await.unwrap();
    let t = Instant::now();
    while relay.metrics.players.get() > 0 || relay.metrics.parked_players.get() > 0 {
        assert!(
            t.elapsed() < Duration::from_secs(3),
            "still {} players, {} parked",
            relay.metrics.players.get(),
            relay.metrics.parked_players.get()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The relay closed its side: what was sent drains, then the connection ends.
    let mut buf = vec![0u8; 1 << 20];
    let drained = tokio::time::timeout(Duration::from_secs(5), async {
        while socket.read(&mut buf).await.is_ok_and(|n| n > 0) {}
    })
    .await;
    assert!(drained.is_ok(), "the relay kept the connection open");
}
