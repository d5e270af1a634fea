//! Property tests: the demuxer and muxer never panic and stay bounded in
//! memory, whatever they are fed.

mod ts_common;

use proptest::prelude::*;
use rtcroom_relay::srt::ts::{MAX_PES_SIZE, PACKET_SIZE, Tag, TsDemuxer, TsMuxer};
use std::sync::OnceLock;
use ts_common::*;

/// Upper bound on what the demuxer may hold: two PES, two PSI sections and
/// less than two packets.
const BUFFER_BOUND: usize = 2 * MAX_PES_SIZE + 2 * 1024 + 2 * PACKET_SIZE;

/// A small real stream (2 s, B-frames) from ffmpeg, shared by all cases.
/// `None` when ffmpeg is missing; those properties then pass vacuously.
fn real_stream() -> Option<&'static [u8]> {
    static STREAM: OnceLock<Option<Vec<u8>>> = OnceLock::new();
    STREAM
        .get_or_init(|| {
            have_ffmpeg().then(|| {
                let path = scratch("props").join("small.ts");
                let args = h264_aac_args(2, "mpegts");
                ffmpeg_generate(
                    &path,
                    "160x120",
                    2,
                    &args.iter().map(String::as_str).collect::<Vec<_>>(),
                );
                std::fs::read(path).unwrap()
            })
        })
        .as_deref()
}

/// Pushes `data` in chunks of the given sizes, checking the memory bound
/// after every push; errors are allowed, panics are not.
fn feed(data: &[u8], chunk_sizes: &[usize]) -> Vec<Tag> {
    let mut demux = TsDemuxer::new();
    let mut tags = Vec::new();
    let mut pos = 0;
    for &size in chunk_sizes.iter().cycle() {
        if pos >= data.len() {
            break;
        }
        let end = (pos + size.max(1)).min(data.len());
        let _ = demux.push(&data[pos..end], &mut tags);
        assert!(demux.buffered_bytes() <= BUFFER_BOUND);
        pos = end;
    }
    demux.flush(&mut tags);
    for tag in &tags {
        assert!(tag.payload.len() <= MAX_PES_SIZE + 64);
    }
    tags
}

/// Muxing whatever the demuxer produced must also be safe and well formed.
fn remux(tags: &[Tag]) {
    let mut mux = TsMuxer::new();
    let mut out = Vec::new();
    for tag in tags {
        mux.mux(tag, &mut out);
    }
    assert_eq!(out.len() % PACKET_SIZE, 0);
    assert!(out.chunks(PACKET_SIZE).all(|p| p[0] == 0x47));
}

/// A 188-byte packet with sync byte and a PID we actually parse, so random
/// contents reach the PAT/PMT/PES code rather than being ignored.
fn ts_packet() -> impl Strategy<Value = Vec<u8>> {
    let pid = prop::sample::select(vec![0u16, 0x1000, 0x100, 0x101, 0x11, 0x1FFF]);
    (
        pid,
        any::<u8>(),
        prop::collection::vec(any::<u8>(), PACKET_SIZE - 3),
    )
        .prop_map(|(pid, flags, body)| {
            let mut p = vec![0x47, (flags & 0x60) | (pid >> 8) as u8, pid as u8];
            p.extend_from_slice(&body);
            p
        })
}

fn chunk_sizes() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(1usize..3000, 1..8)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes(data in prop::collection::vec(any::<u8>(), 0..20_000), sizes in chunk_sizes()) {
        remux(&feed(&data, &sizes));
    }

    #[test]
    fn random_packets(packets in prop::collection::vec(ts_packet(), 0..200), sizes in chunk_sizes()) {
        remux(&feed(&packets.concat(), &sizes));
    }

    #[test]
    fn real_stream_truncated(start in 0usize..100_000, len in 0usize..200_000, sizes in chunk_sizes()) {
        if let Some(data) = real_stream() {
            let start = start.min(data.len());
            let end = (start + len).min(data.len());
            remux(&feed(&data[start..end], &sizes));
        }
    }

    #[test]
    fn real_stream_with_flipped_bytes(
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..64),
        sizes in chunk_sizes(),
    ) {
        if let Some(data) = real_stream() {
            let mut data = data.to_vec();
            for (index, xor) in flips {
                let i = index.index(data.len());
                data[i] ^= xor.max(1);
            }
            remux(&feed(&data, &sizes));
        }
    }

    #[test]
    fn muxer_survives_random_tags(
        tags in prop::collection::vec(
            (prop::sample::select(vec![8u8, 9, 18]), any::<u32>(), prop::collection::vec(any::<u8>(), 0..600)),
            0..100,
        )
    ) {
        // Prefix some payloads with valid-looking headers so the deeper
        // parsing paths (AVC record, AVCC, ASC) get exercised.
        let tags: Vec<Tag> = tags.into_iter().enumerate().map(|(i, (type_id, timestamp, mut payload))| {
            let header: &[u8] = match (type_id, i % 3) {
                (9, 0) => &[0x17, 0, 0, 0, 0, 1],
                (9, 1) => &[0x17, 1, 0, 0, 0],
                (8, 0) => &[0xAF, 0, 0x12],
                (8, _) => &[0xAF, 1],
                _ => &[],
            };
            payload.splice(0..0, header.iter().copied());
            Tag { type_id, timestamp, payload: payload.into() }
        }).collect();
        remux(&tags);
    }
}

/// A PES that never ends must be cut off at the cap, not grow forever.
#[test]
fn endless_pes_is_capped() {
    let mut stream = Vec::new();
    // PAT → PMT 0x1000, PMT: H.264 on 0x100 (sections from our own muxer).
    let mut mux = TsMuxer::new();
    let record = [
        1, 0x42, 0, 0x1E, 0xFF, 0xE1, 0, 4, 0x67, 0x42, 0, 0x1E, 1, 0, 2, 0x68, 0xCE,
    ];
    let mut seq = vec![0x17, 0, 0, 0, 0];
    seq.extend_from_slice(&record);
    mux.mux(
        &Tag {
            type_id: 9,
            timestamp: 0,
            payload: seq.into(),
        },
        &mut stream,
    );
    mux.mux(
        &Tag {
            type_id: 9,
            timestamp: 0,
            payload: vec![0x17, 1, 0, 0, 0, 0, 0, 0, 1, 0x65].into(),
        },
        &mut stream,
    );
    stream.truncate(2 * PACKET_SIZE); // keep PAT + PMT only
    let mut demux = TsDemuxer::new();
    let mut tags = Vec::new();
    demux.push(&stream, &mut tags).unwrap();
    let mut first = [0xAAu8; PACKET_SIZE];
    first[..13].copy_from_slice(&[0x47, 0x41, 0x00, 0x10, 0, 0, 1, 0xE0, 0, 0, 0x80, 0, 0]);
    demux.push(&first, &mut tags).unwrap();
    let mut saw_error = false;
    for i in 0..(MAX_PES_SIZE / 184 + 10) {
        let mut p = [0xAAu8; PACKET_SIZE];
        p[..4].copy_from_slice(&[0x47, 0x01, 0x00, 0x10 | ((i + 1) % 16) as u8]);
        saw_error |= demux.push(&p, &mut tags).is_err();
        assert!(demux.buffered_bytes() <= MAX_PES_SIZE + 2 * PACKET_SIZE + 2048);
    }
    assert!(saw_error, "expected TsError::TooLarge");
}
