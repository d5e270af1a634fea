//! A live RTMP listener fed random, truncated and hostile byte streams: no panic, and it goes
//! on serving well-behaved clients.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::BytesMut;
use rand::{Rng, SeedableRng};
use rtcroom_relay::config::RelayConfig;
use rtcroom_relay::rtmp;
use rtcroom_relay::rtmp::amf0::{self, Amf};
use rtcroom_relay::rtmp::chunk::{ChunkReader, Framing};
use rtcroom_relay::server::RelayHandle;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

async fn handshake(addr: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut c0c1 = vec![3u8];
    c0c1.extend(std::iter::repeat_n(7u8, 1536));
    s.write_all(&c0c1).await.unwrap();
    let mut s0s1s2 = vec![0u8; 1 + 2 * 1536];
    s.read_exact(&mut s0s1s2).await.unwrap();
    assert_eq!(s0s1s2[0], 3);
    assert!(s0s1s2[1537..].iter().all(|b| *b == 7), "S2 echoes C1");
    s.write_all(&s0s1s2[1..1537]).await.unwrap();
    s
}

/// `connect` and its `_result`: the relay still speaks RTMP.
async fn connects(addr: &str) -> bool {
    let mut s = handshake(addr).await;
    let cmd = amf0::encode_all(&[
        Amf::String("connect".into()),
        Amf::Number(1.0),
        Amf::object(&[("app", Amf::String("live".into()))]),
    ]);
    let mut out = BytesMut::new();
    Framing { chunk_size: 128 }.encode(&mut out, 3, 0, 20, 0, &cmd);
    s.write_all(&out).await.unwrap();
    let mut reader = ChunkReader::default();
    let mut buf = BytesMut::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        while let Ok(Some(m)) = reader.read(&mut buf) {
            if m.type_id == 1 {
                reader.set_chunk_size(u32::from_be_bytes(m.payload[..4].try_into().unwrap()));
            }
            if m.type_id == 20 {
                let values = amf0::decode_all(&m.payload).unwrap();
                return values[0].str() == Some("_result");
            }
        }
        let read = tokio::time::timeout_at(deadline, s.read_buf(&mut buf)).await;
        match read {
            Ok(Ok(n)) if n > 0 => {}
            _ => return false,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_and_truncated_input_never_panics_and_the_relay_keeps_serving() {
    let panics = Arc::new(AtomicUsize::new(0));
    let counter = panics.clone();
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        counter.fetch_add(1, Ordering::SeqCst);
        default_hook(info);
    }));

    let config =
        RelayConfig::from_lookup(|k| (k == "RTCROOM_PUSH_KEY").then(|| "k".into())).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let handle = RelayHandle::new(&config).unwrap();
    tokio::spawn(rtmp::serve(listener, handle.relay.clone()));
    assert!(connects(&addr).await, "a well-behaved client before");

    let mut rng = rand::rngs::StdRng::seed_from_u64(20261122);
    let mut attacks = Vec::new();
    for i in 0..300 {
        let len = rng.random_range(0..20_000);
        let mut noise = vec![0u8; len];
        rng.fill(&mut noise[..]);
        let addr = addr.clone();
        attacks.push(tokio::spawn(async move {
            let mut s = match i % 3 {
                // Raw noise instead of a handshake (sometimes with a valid version byte).
                0 => {
                    let mut s = TcpStream::connect(&addr).await.unwrap();
                    if let Some(b) = noise.first_mut() {
                        *b = 3;
                    }
                    s.write_all(&noise).await.ok();
                    s
                }
                // A valid handshake, then noise as chunks.
                1 => {
                    let mut s = handshake(&addr).await;
                    s.write_all(&noise).await.ok();
                    s
                }
                // A valid handshake and a command chunk header, then a truncated AMF body.
                _ => {
                    let mut s = handshake(&addr).await;
                    let mut cmd = amf0::encode_all(&[
                        Amf::String("publish".into()),
                        Amf::Number(5.0),
                        Amf::Null,
                        Amf::String("x".repeat(len % 300)),
                    ]);
                    cmd.truncate(len % cmd.len().max(1));
                    cmd.extend_from_slice(&noise[..noise.len().min(64)]);
                    let mut out = BytesMut::new();
                    Framing { chunk_size: 128 }.encode(&mut out, 3, 0, 20, 1, &cmd);
                    s.write_all(&out).await.ok();
                    s
                }
            };
            let mut sink = vec![0u8; 4096];
            let _ = tokio::time::timeout(Duration::from_millis(200), s.read(&mut sink)).await;
        }));
    }
    for a in attacks {
        a.await.unwrap();
    }
    assert!(
        connects(&addr).await,
        "a well-behaved client after 300 hostile ones"
    );
    assert_eq!(panics.load(Ordering::SeqCst), 0, "the relay panicked");
    assert!(handle.relay.metrics.sessions_failed.get() > 0);
}
