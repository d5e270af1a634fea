//! The RTMP chunk stream: messages cut into chunks of at most the chunk size, interleaved by
//! chunk stream id, each chunk with a header that may repeat less of the previous one.
//!
//! ```text
//! basic header   fmt:2 csid:6            (csid 0: +1 byte, 64..319; csid 1: +2 bytes LE, 64..65599)
//! fmt 0 (11 B)   timestamp:24 length:24 type:8 stream_id:32 LE     a new message, absolute time
//! fmt 1 (7 B)    delta:24 length:24 type:8                          same stream id
//! fmt 2 (3 B)    delta:24                                           same length and type
//! fmt 3 (0 B)    a continuation, or a new message repeating the last delta
//! extended time  u32 after the header when the 24-bit field is 0xFFFFFF (and on fmt 3 chunks
//!                of such a message)
//! ```
//!
//! [`ChunkReader`] parses what a peer sends, never panicking and within limits on chunk
//! streams and message size. It allocates only for bytes that arrived (a declared length is a
//! claim, not a reservation) and says how many it holds, for the session's memory budget. [`Framing`] writes messages; for media it produces the header once
//! per message so that every subscriber sends the same shared bytes (see `hub`).

use std::collections::HashMap;

use crate::media::Framed;

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// Chunk streams one connection may use at once.
const MAX_CHUNK_STREAMS: usize = 64;
/// The largest message accepted (a keyframe of a high-bitrate stream is well below this).
pub const MAX_MESSAGE_BYTES: usize = 8 << 20;
/// The largest chunk size a peer may set.
pub const MAX_CHUNK_SIZE: usize = 16 << 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub csid: u32,
    pub timestamp: u32,
    pub type_id: u8,
    pub stream_id: u32,
    pub payload: Bytes,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    #[error("a fmt {fmt} chunk on chunk stream {csid} with no previous header")]
    NoPreviousHeader { fmt: u8, csid: u32 },
    #[error("more than {MAX_CHUNK_STREAMS} chunk streams")]
    TooManyChunkStreams,
    #[error("message of {0} bytes is over the limit")]
    MessageTooLarge(usize),
    #[error("a new message header in the middle of a message on chunk stream {0}")]
    HeaderMidMessage(u32),
}

#[derive(Debug, Default)]
struct ChunkStream {
    timestamp: u32,
    delta: u32,
    length: usize,
    type_id: u8,
    stream_id: u32,
    extended: bool,
    started: bool,
    partial: Option<BytesMut>,
}

/// Parses chunks into messages.
#[derive(Debug)]
pub struct ChunkReader {
    chunk_size: usize,
    streams: HashMap<u32, ChunkStream>,
    /// Bytes held in unfinished messages, over every chunk stream.
    buffered: usize,
}

impl Default for ChunkReader {
    fn default() -> Self {
        Self {
            chunk_size: 128,
            streams: HashMap::new(),
            buffered: 0,
        }
    }
}

fn u24(b: &[u8]) -> u32 {
    (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2])
}

impl ChunkReader {
    /// The peer's Set Chunk Size (clamped to 1 ..= [`MAX_CHUNK_SIZE`]).
    pub fn set_chunk_size(&mut self, size: u32) {
        self.chunk_size = (size as usize).clamp(1, MAX_CHUNK_SIZE);
    }

    /// Abort Message: drops the partly received message of a chunk stream.
    pub fn abort(&mut self, csid: u32) {
        if let Some(partial) = self.streams.get_mut(&csid).and_then(|s| s.partial.take()) {
            self.buffered -= partial.len();
        }
    }

    /// Bytes held in messages not yet complete: what a peer has sent that the reader keeps.
    pub fn buffered(&self) -> usize {
        self.buffered
    }

    /// Consumes one whole chunk from `buf` if it holds one and returns the message it
    /// completes, if any. `Ok(None)` with `buf` unchanged when more bytes are needed, or with
    /// the chunk consumed when the message is not complete yet: call again while `buf` shrinks.
    pub fn read(&mut self, buf: &mut BytesMut) -> Result<Option<Message>, ChunkError> {
        let data = &buf[..];
        let Some(&b0) = data.first() else {
            return Ok(None);
        };
        let fmt = b0 >> 6;
        let (csid, mut at) = match b0 & 0x3f {
            0 if data.len() >= 2 => (64 + u32::from(data[1]), 2),
            1 if data.len() >= 3 => (64 + u32::from(data[1]) + 256 * u32::from(data[2]), 3),
            0 | 1 => return Ok(None),
            id => (u32::from(id), 1),
        };
        if !self.streams.contains_key(&csid) && self.streams.len() >= MAX_CHUNK_STREAMS {
            return Err(ChunkError::TooManyChunkStreams);
        }
        let header_len = [11, 7, 3, 0][fmt as usize];
        if data.len() < at + header_len {
            return Ok(None);
        }
        let h = &data[at..at + header_len];
        at += header_len;
        let state = self.streams.entry(csid).or_default();
        if fmt != 0 && !state.started {
            return Err(ChunkError::NoPreviousHeader { fmt, csid });
        }
        let mid_message = state.partial.is_some();
        if fmt != 3 && mid_message {
            return Err(ChunkError::HeaderMidMessage(csid));
        }
        let time_field = if fmt < 3 { Some(u24(&h[0..3])) } else { None };
        let extended = match time_field {
            Some(t) => t == 0xFF_FFFF,
            None => state.extended,
        };
        let mut time = time_field.unwrap_or(0);
        if extended {
            if data.len() < at + 4 {
                return Ok(None);
            }
            time = u32::from_be_bytes(data[at..at + 4].try_into().expect("4 bytes"));
            at += 4;
        }
        let length = if fmt <= 1 {
            u24(&h[3..6]) as usize
        } else {
            state.length
        };
        if length > MAX_MESSAGE_BYTES {
            return Err(ChunkError::MessageTooLarge(length));
        }
        let received = state.partial.as_ref().map_or(0, BytesMut::len);
        let take = (length - received).min(self.chunk_size);
        if data.len() < at + take {
            return Ok(None);
        }
        // The whole chunk is here: commit the header to the chunk stream's state.
        match fmt {
            0 => {
                state.timestamp = time;
                state.length = length;
                state.type_id = h[6];
                state.stream_id = u32::from_le_bytes(h[7..11].try_into().expect("4 bytes"));
            }
            1 | 2 => {
                state.delta = time;
                state.timestamp = state.timestamp.wrapping_add(time);
                if fmt == 1 {
                    state.length = length;
                    state.type_id = h[6];
                }
            }
            _ if !mid_message => state.timestamp = state.timestamp.wrapping_add(state.delta),
            _ => {}
        }
        state.extended = extended;
        state.started = true;
        buf.advance(at);
        if received == 0 && take == length {
            // The common case: a message in one chunk, taken without copying.
            return Ok(Some(Message {
                csid,
                timestamp: state.timestamp,
                type_id: state.type_id,
                stream_id: state.stream_id,
                payload: buf.split_to(take).freeze(),
            }));
        }
        // Grown as chunks arrive (amortised doubling), never reserved for the declared length:
        // a peer declaring 8 MiB messages on every chunk stream costs what it sends.
        let partial = state
            .partial
            .get_or_insert_with(|| BytesMut::with_capacity(take));
        partial.extend_from_slice(&buf[..take]);
        buf.advance(take);
        if partial.len() < length {
            self.buffered += take;
            return Ok(None);
        }
        let payload = state.partial.take().expect("present").freeze();
        self.buffered -= payload.len() - take;
        Ok(Some(Message {
            csid,
            timestamp: state.timestamp,
            type_id: state.type_id,
            stream_id: state.stream_id,
            payload,
        }))
    }
}

/// How this side writes messages: its chunk size.
#[derive(Debug, Clone, Copy)]
pub struct Framing {
    pub chunk_size: usize,
}

fn basic_header(out: &mut BytesMut, fmt: u8, csid: u32) {
    match csid {
        2..=63 => out.put_u8((fmt << 6) | csid as u8),
        64..=319 => {
            out.put_u8(fmt << 6);
            out.put_u8((csid - 64) as u8);
        }
        _ => {
            let id = csid.clamp(320, 65599) - 64;
            out.put_u8((fmt << 6) | 1);
            out.put_u16_le(id as u16);
        }
    }
}

impl Framing {
    pub fn headers(csid: u32, timestamp: u32, type_id: u8, stream_id: u32, len: usize) -> Framed {
        let extended = timestamp >= 0xFF_FFFF;
        let mut first = BytesMut::with_capacity(18);
        basic_header(&mut first, 0, csid);
        let t = if extended { 0xFF_FFFF } else { timestamp };
        first.put_slice(&t.to_be_bytes()[1..]);
        first.put_slice(&(len as u32).to_be_bytes()[1..]);
        first.put_u8(type_id);
        first.put_u32_le(stream_id);
        let mut continuation = BytesMut::with_capacity(8);
        basic_header(&mut continuation, 3, csid);
        if extended {
            first.put_u32(timestamp);
            continuation.put_u32(timestamp);
        }
        // The fmt 0 header before the payload, the fmt 3 one before each further chunk.
        Framed {
            head: first.freeze(),
            tail: continuation.freeze(),
        }
    }

    /// The pieces of one framed message, in order: header, payload slices and continuation
    /// headers. Slices of the shared payload: nothing is copied.
    pub fn pieces(&self, headers: &Framed, payload: &Bytes, out: &mut Vec<Bytes>) {
        out.push(headers.head.clone());
        let mut at = 0;
        loop {
            let end = (at + self.chunk_size).min(payload.len());
            out.push(payload.slice(at..end));
            at = end;
            if at >= payload.len() {
                break;
            }
            out.push(headers.tail.clone());
        }
    }

    /// A whole message framed into one buffer (commands and control messages, not media).
    pub fn encode(
        &self,
        out: &mut BytesMut,
        csid: u32,
        timestamp: u32,
        type_id: u8,
        stream_id: u32,
        payload: &[u8],
    ) {
        let headers = Self::headers(csid, timestamp, type_id, stream_id, payload.len());
        out.put_slice(&headers.head);
        for (i, chunk) in payload.chunks(self.chunk_size).enumerate() {
            if i > 0 {
                out.put_slice(&headers.tail);
            }
            out.put_slice(chunk);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_lengths_cost_nothing_until_bytes_arrive() {
        // 60 chunk streams, each opening an 8 MiB message with one 128-byte chunk.
        let mut reader = ChunkReader::default();
        let mut wire = BytesMut::new();
        for csid in 3..63u32 {
            wire.put_u8(csid as u8);
            wire.put_slice(&[0, 0, 0]);
            wire.put_slice(&(MAX_MESSAGE_BYTES as u32).to_be_bytes()[1..]);
            wire.put_u8(9);
            wire.put_u32_le(1);
            wire.put_slice(&[7u8; 128]);
        }
        let mut buf = wire.clone();
        while !buf.is_empty() {
            assert_eq!(reader.read(&mut buf), Ok(None));
        }
        assert_eq!(reader.buffered(), 60 * 128);
        let held: usize = reader
            .streams
            .values()
            .filter_map(|s| s.partial.as_ref())
            .map(BytesMut::capacity)
            .sum();
        assert!(held < 64 * 1024, "{held} bytes reserved for 7,680 received");
        reader.abort(3);
        assert_eq!(reader.buffered(), 59 * 128);
    }

    fn parse_all(reader: &mut ChunkReader, bytes: &[u8]) -> Vec<Message> {
        let mut buf = BytesMut::from(bytes);
        let mut out = Vec::new();
        loop {
            let before = buf.len();
            match reader.read(&mut buf).unwrap() {
                Some(m) => out.push(m),
                None if buf.len() == before => return out,
                None => {}
            }
        }
    }

    #[test]
    fn messages_framed_at_any_chunk_size_parse_back() {
        for chunk_size in [1, 7, 128, 4096] {
            let framing = Framing { chunk_size };
            let mut bytes = BytesMut::new();
            let payloads: Vec<Vec<u8>> = (0..5).map(|i| vec![i as u8; 300 * i + 1]).collect();
            for (i, p) in payloads.iter().enumerate() {
                let csid = [3, 4, 70, 400, 3][i];
                let ts = [0, 40, 0x00FF_FFFF, 0x0100_0000, 80][i];
                framing.encode(&mut bytes, csid, ts, 9, 1, p);
            }
            let mut reader = ChunkReader::default();
            reader.set_chunk_size(chunk_size as u32);
            let messages = parse_all(&mut reader, &bytes);
            assert_eq!(messages.len(), 5, "chunk size {chunk_size}");
            for (m, p) in messages.iter().zip(&payloads) {
                assert_eq!(&m.payload[..], &p[..]);
                assert_eq!((m.type_id, m.stream_id), (9, 1));
            }
            assert_eq!(messages[2].timestamp, 0x00FF_FFFF);
            assert_eq!(messages[3].timestamp, 0x0100_0000);
            assert_eq!(messages[3].csid, 400);
        }
    }

    #[test]
    fn compressed_headers_carry_deltas_and_partial_input_waits() {
        // fmt 0 at t=1000, then fmt 2 (delta 40), then fmt 3 (same delta again).
        let mut bytes = vec![0x04, 0, 0x03, 0xE8, 0, 0, 2, 8, 1, 0, 0, 0, 0xAA, 0xBB];
        bytes.extend_from_slice(&[0x84, 0, 0, 40, 0xCC, 0xDD]);
        bytes.extend_from_slice(&[0xC4, 0xEE, 0xFF]);
        let mut reader = ChunkReader::default();
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for b in bytes {
            buf.put_u8(b);
            while let Some(m) = reader.read(&mut buf).unwrap() {
                out.push(m);
            }
        }
        let times: Vec<u32> = out.iter().map(|m| m.timestamp).collect();
        assert_eq!(times, [1000, 1040, 1080]);
        assert_eq!(&out[2].payload[..], &[0xEE, 0xFF]);
    }

    #[test]
    fn bad_streams_are_errors_not_panics() {
        let mut reader = ChunkReader::default();
        let mut buf = BytesMut::from(&[0xC3u8, 1, 2][..]);
        assert!(matches!(
            reader.read(&mut buf),
            Err(ChunkError::NoPreviousHeader { fmt: 3, csid: 3 })
        ));
        let mut huge = BytesMut::from(&[0x03u8, 0, 0, 0, 0xFF, 0xFF, 0xFF, 9, 1, 0, 0, 0][..]);
        assert!(matches!(
            ChunkReader::default().read(&mut huge),
            Err(ChunkError::MessageTooLarge(_))
        ));
    }

    #[test]
    fn media_pieces_are_slices_of_the_shared_payload() {
        let payload = Bytes::from(vec![7u8; 10_000]);
        let framing = Framing { chunk_size: 4096 };
        let headers = Framing::headers(6, 123, 9, 1, payload.len());
        let mut pieces = Vec::new();
        framing.pieces(&headers, &payload, &mut pieces);
        assert_eq!(pieces.len(), 6, "header, 3 slices, 2 continuation headers");
        let base = payload.as_ptr() as usize;
        for slice in [&pieces[1], &pieces[3], &pieces[5]] {
            let p = slice.as_ptr() as usize;
            assert!(p >= base && p < base + payload.len(), "a slice, not a copy");
        }
        let mut flat = BytesMut::new();
        pieces.iter().for_each(|p| flat.put_slice(p));
        let mut reader = ChunkReader::default();
        reader.set_chunk_size(4096);
        let m = reader.read(&mut flat).unwrap();
        assert!(m.is_none());
        let m = loop {
            if let Some(m) = reader.read(&mut flat).unwrap() {
                break m;
            }
        };
        assert_eq!(m.payload, payload);
    }
}
