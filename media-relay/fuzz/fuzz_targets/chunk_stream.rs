//! Arbitrary bytes as an RTMP chunk stream, fed in arbitrary pieces: the reader must never
//! panic, and every message it returns must be within the size limit.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use rtcroom_relay::rtmp::chunk::{ChunkReader, MAX_MESSAGE_BYTES};

fuzz_target!(|data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let mut reader = ChunkReader::default();
    reader.set_chunk_size(u32::from(split) * 37 + 1);
    let mut buf = BytesMut::new();
    for piece in rest.chunks(usize::from(split).max(1)) {
        buf.extend_from_slice(piece);
        loop {
            let before = buf.len();
            match reader.read(&mut buf) {
                Ok(Some(m)) => assert!(m.payload.len() <= MAX_MESSAGE_BYTES),
                Ok(None) if buf.len() == before => break,
                Ok(None) => {}
                Err(_) => return,
            }
        }
    }
});
