//! `relay-load`: one publisher at ~600 kbit/s and N players on any RTMP server (ours or
//! nginx-rtmp), measuring per-message latency through the server and the server's CPU.
//!
//! ```text
//! relay-load --url rtmp://127.0.0.1:1935/live/NAME?txSecret=..&txTime=.. --players 1000 \
//!            --seconds 15 [--pid SERVER_PID] [--json] [--video-only]
//! ```
//!
//! Every message carries the tool's send time (nanoseconds since the tool started) after its
//! FLV tag bytes; servers pass payloads through untouched, so a player's receive time minus
//! that is the latency the server (and the loopback) adds. Samples from the first second are
//! dropped. CPU is the server process's user+system time over the publishing window, from
//! /proc/PID/stat.

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use parking_lot::Mutex;
use rtcroom_relay::client::Client;
use rtcroom_shared::metrics::process_cpu_secs;

#[derive(Debug, Parser)]
struct Args {
    /// Where to publish (and play, unless `--play-url`).
    #[arg(long)]
    url: String,
    /// Where players play, when not `--url` (a recorded push URL's signature is not a play
    /// signature).
    #[arg(long)]
    play_url: Option<String>,
    #[arg(long, default_value_t = 100)]
    players: usize,
    #[arg(long, default_value_t = 15)]
    seconds: u64,
    /// Total bitrate, video and audio.
    #[arg(long, default_value_t = 600)]
    kbps: u64,
    /// The server's process id, to measure its CPU.
    #[arg(long)]
    pid: Option<u32>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// Video only (25 messages a second) instead of video and audio (25 + 43).
    #[arg(long)]
    video_only: bool,
}

/// The stream's sequence headers, sent first as a real publisher does (so that a recording
/// relay opens its segments): an AVC decoder configuration for 640x360 High profile and an AAC
/// LC 44.1 kHz stereo AudioSpecificConfig, each after its FLV tag header (type 0: a
/// sequence header).
const AVC_HEADER: [u8; 49] = [
    0x17, 0x00, 0x00, 0x00, 0x00, 0x01, 0x64, 0x00, 0x1e, 0xff, 0xe1, 0x00, 0x19, 0x67, 0x64, 0x00,
    0x1e, 0xac, 0xb4, 0x05, 0x01, 0x7f, 0xcb, 0x80, 0x88, 0x00, 0x00, 0x03, 0x00, 0x08, 0x00, 0x00,
    0x03, 0x01, 0x94, 0x78, 0xb1, 0x75, 0x01, 0x00, 0x04, 0x68, 0xef, 0x0f, 0xcb, 0xfd, 0xf8, 0xf8,
    0x00,
];
const AAC_HEADER: [u8; 4] = [0xaf, 0x00, 0x12, 0x10];

const FPS: u64 = 25;
const AUDIO_PER_SEC: u64 = 43;
const WARMUP: Duration = Duration::from_secs(1);

fn stamp(payload: &mut [u8], at: usize, start: Instant) {
    let nanos = start.elapsed().as_nanos() as u64;
    payload[at..at + 8].copy_from_slice(&nanos.to_be_bytes());
}

fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let start = Instant::now();
    // One sample list per player, read at the end whether or not the player finished.
    let mut lists: Vec<Arc<Mutex<Vec<u32>>>> = Vec::with_capacity(args.players);
    let received = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let measuring_from = start + WARMUP;

    // Players first (connecting at a bounded rate), so every one sees the whole stream.
    let mut players = Vec::with_capacity(args.players);
    for i in 0..args.players {
        let (mut client, name) =
            match Client::connect(args.play_url.as_ref().unwrap_or(&args.url)).await {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("player {i} cannot connect: {e}");
                    std::process::exit(1);
                }
            };
        if let Err(e) = client.play(&name).await {
            eprintln!("player {i} cannot play: {e}");
            std::process::exit(1);
        }
        let mine = Arc::new(Mutex::new(Vec::with_capacity(4096)));
        lists.push(mine.clone());
        let received = received.clone();
        players.push(tokio::spawn(async move {
            while let Ok(m) = client.next().await {
                // Media only, not the sequence headers (their second byte is 0).
                if !matches!(m.type_id, 8 | 9) || m.payload.get(1) == Some(&0) {
                    continue;
                }
                let at = if m.type_id == 9 { 5 } else { 2 };
                let Some(bytes) = m.payload.get(at..at + 8) else {
                    continue;
                };
                let sent = u64::from_be_bytes(bytes.try_into().expect("8 bytes"));
                let now = start.elapsed().as_nanos() as u64;
                if sent == u64::MAX {
                    break;
                }
                received.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if Instant::now() >= measuring_from {
                    mine.lock().push((now.saturating_sub(sent) / 1000) as u32);
                }
            }
        }));
        if i % 200 == 199 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let connected = start.elapsed();

    let (mut publisher, name) = Client::connect(&args.url)
        .await
        .expect("publisher connects");
    publisher.publish(&name).await.expect("publish accepted");
    publisher
        .send_media(9, 0, &AVC_HEADER)
        .await
        .expect("send the AVC header");
    if !args.video_only {
        publisher
            .send_media(8, 0, &AAC_HEADER)
            .await
            .expect("send the AAC header");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    let audio_bytes = 8_000 / AUDIO_PER_SEC; // ~64 kbit/s
    let audio_kbps = if args.video_only { 0 } else { 64 };
    let video_bits = args.kbps.saturating_sub(audio_kbps) * 1000;
    let frame_bytes = (video_bits / 8 / FPS) as usize;
    let key_bytes = frame_bytes * 5;
    let inter_bytes = (frame_bytes * 25 - key_bytes) / 24;
    let mut video = vec![0u8; key_bytes.max(16)];
    let mut audio = vec![0u8; (audio_bytes as usize).max(16)];
    audio[0] = 0xAF;
    audio[1] = 1;

    let cpu_before = args.pid.and_then(process_cpu_secs);
    let t0 = Instant::now();
    let base = start.elapsed();
    let (mut frames, mut audios) = (0u64, 0u64);
    let mut sent = 0u64;
    let total = Duration::from_secs(args.seconds);
    loop {
        let next_video = Duration::from_micros(frames * 1_000_000 / FPS);
        let next_audio = if args.video_only {
            Duration::MAX
        } else {
            Duration::from_micros(audios * 1_000_000 / AUDIO_PER_SEC)
        };
        let due = next_video.min(next_audio);
        if due >= total {
            break;
        }
        tokio::time::sleep_until((t0 + due).into()).await;
        let ts = (base + due).as_millis() as u32;
        if next_video <= next_audio {
            let key = frames % 25 == 0;
            let len = if key { key_bytes } else { inter_bytes };
            video[0] = if key { 0x17 } else { 0x27 };
            video[1] = 1;
            stamp(&mut video, 5, start);
            publisher
                .send_media(9, ts, &video[..len.max(16)])
                .await
                .expect("send video");
            frames += 1;
        } else {
            stamp(&mut audio, 2, start);
            publisher
                .send_media(8, ts, &audio)
                .await
                .expect("send audio");
            audios += 1;
        }
        sent += 1;
    }
    let window = t0.elapsed();
    let cpu_after = args.pid.and_then(process_cpu_secs);
    // A last audio message marked "end" releases the players.
    audio[2..10].copy_from_slice(&u64::MAX.to_be_bytes());
    let _ = publisher.send_media(8, 0, &audio).await;
    // Players end at the marker; a server that dropped it (or is seconds behind) gets 10 s
    // in all, then the rest are abandoned.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    for p in &mut players {
        if tokio::time::timeout_at(deadline, p).await.is_err() {
            break;
        }
    }
    players.iter().for_each(|p| p.abort());
    let mut samples: Vec<u32> = lists.iter().flat_map(|l| l.lock().clone()).collect();
    samples.sort_unstable();
    let expected = sent * args.players as u64;
    let got = received.load(std::sync::atomic::Ordering::Relaxed);
    let cpu_secs = match (cpu_before, cpu_after) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    let per_message_us = cpu_secs.map(|c| c * 1e6 / expected.max(1) as f64);
    let (p50, p99, max) = (
        percentile(&samples, 0.50),
        percentile(&samples, 0.99),
        samples.last().copied().unwrap_or(0),
    );
    if args.json {
        println!(
            "{{\"players\":{},\"seconds\":{:.1},\"messages\":{sent},\"expected\":{expected},\"received\":{got},\
             \"p50_us\":{p50},\"p99_us\":{p99},\"max_us\":{max},\"cpu_s\":{},\"cpu_us_per_player_message\":{},\
             \"connect_s\":{:.2}}}",
            args.players,
            window.as_secs_f64(),
            cpu_secs.map_or("null".into(), |c| format!("{c:.2}")),
            per_message_us.map_or("null".into(), |c| format!("{c:.3}")),
            connected.as_secs_f64(),
        );
    } else {
        println!(
            "{} players, {sent} messages in {:.1}s: received {got}/{expected}; latency p50 {p50} µs, \
             p99 {p99} µs, max {max} µs; server CPU {} s = {} µs per player-message",
            args.players,
            window.as_secs_f64(),
            cpu_secs.map_or("?".into(), |c| format!("{c:.2}")),
            per_message_us.map_or("?".into(), |c| format!("{c:.2}")),
        );
    }
}
