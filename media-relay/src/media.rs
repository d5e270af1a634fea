//! The neutral media unit every front end publishes into the hub and plays from it: one FLV
//! tag's worth of media ([`Media`]: type, timestamp, tag body), shared by handle.
//!
//! What a protocol adds around a message on the wire (RTMP chunk headers, FLV tag header and
//! size) is built lazily, once per message and per front end, by the first of that front end's
//! players that sends it, and shared by the others: a stream nobody plays over HTTP-FLV never
//! builds FLV tag headers. Front ends whose framing is per connection (SRT: MPEG-TS with its
//! continuity counters, then encryption) build none and frame in their own session.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;

pub const TYPE_AUDIO: u8 = 8;
pub const TYPE_VIDEO: u8 = 9;
pub const TYPE_DATA: u8 = 18;
/// Not an FLV/RTMP type: the end-of-stream marker.
pub const TYPE_END: u8 = 0;

/// Front ends whose players share a per-message framing, at most (`front_ends` checks).
pub const MAX_FRAMINGS: usize = 4;

/// A front end's per-message framing and the slot it is kept in (`front_ends` implements it
/// for each registered front end, numbering the slots).
pub trait Slot {
    const SLOT: usize;
    fn frame(media: &Media) -> Framed;
}

/// What one front end puts around a message's payload, in its own terms (RTMP: the first
/// chunk header and the continuation header; FLV: the tag header and PreviousTagSize).
#[derive(Debug, Clone)]
pub struct Framed {
    pub head: Bytes,
    pub tail: Bytes,
}

/// One media (or metadata) message.
#[derive(Debug)]
pub struct Media {
    pub type_id: u8,
    /// Milliseconds (the decoding time, as in FLV and RTMP).
    pub timestamp: u32,
    /// The FLV tag body: codec header bytes, then the codec data.
    pub payload: Bytes,
    /// Video: a keyframe, where a skipping subscriber may resume.
    pub keyframe: bool,
    framed: [OnceLock<Framed>; MAX_FRAMINGS],
}

/// A shared handle on one message: cloning it costs one reference count.
#[derive(Debug, Clone)]
pub struct Frame(Arc<Media>);

impl std::ops::Deref for Frame {
    type Target = Media;

    fn deref(&self) -> &Media {
        &self.0
    }
}

impl Frame {
    pub fn new(type_id: u8, timestamp: u32, payload: Bytes) -> Self {
        let keyframe = type_id == TYPE_VIDEO && is_keyframe(&payload);
        Self(Arc::new(Media {
            type_id,
            timestamp,
            payload,
            keyframe,
            framed: Default::default(),
        }))
    }

    /// The marker a publisher's end sends down the broadcast, after its last message.
    pub fn end() -> Self {
        Self::new(TYPE_END, 0, Bytes::new())
    }

    pub fn is_end(&self) -> bool {
        self.type_id == TYPE_END
    }

    /// Front end `F`'s framing of this message, built on first use.
    pub fn framed<F: Slot>(&self) -> &Framed {
        self.0.framed[F::SLOT].get_or_init(|| F::frame(&self.0))
    }

    /// Whether front end `F` has framed this message yet (for tests and benchmarks).
    pub fn is_framed<F: Slot>(&self) -> bool {
        self.0.framed[F::SLOT].get().is_some()
    }
}

/// An FLV tag header: type, body size (24 bits), timestamp (low 24 bits, then the high 8),
/// stream id 0. The body and the PreviousTagSize (`11 + size`) follow it.
pub fn flv_tag_header(type_id: u8, size: usize, timestamp: u32) -> [u8; 11] {
    let [_, s0, s1, s2] = (size as u32).to_be_bytes();
    let [t3, t0, t1, t2] = timestamp.to_be_bytes();
    [type_id, s0, s1, s2, t0, t1, t2, t3, 0, 0, 0]
}

/// A video tag's frame type is the high nibble of its first byte (legacy FLV), or bits 4-6
/// with the Enhanced-RTMP ExHeader bit 7 set: 1 means keyframe in both.
pub fn is_keyframe(payload: &[u8]) -> bool {
    match payload.first() {
        Some(&b) if b & 0x80 != 0 => (b >> 4) & 0x07 == 1,
        Some(&b) => b >> 4 == 1,
        None => false,
    }
}

/// A sequence header (decoder configuration) rather than coded media: AVC/HEVC/AAC packet
/// type 0 in legacy tags, and `SequenceStart` in Enhanced-RTMP tags.
pub fn is_sequence_header(type_id: u8, payload: &[u8]) -> bool {
    match (type_id, payload) {
        // Enhanced video: ExHeader bit, PacketType (low nibble) 0 = SequenceStart.
        (TYPE_VIDEO, [b, ..]) if b & 0x80 != 0 => b & 0x0f == 0,
        // Legacy AVC (7) and the de-facto HEVC (12) / AV1 (13) ids: AVCPacketType 0.
        (TYPE_VIDEO, [b, 0, ..]) => matches!(b & 0x0f, 7 | 12 | 13),
        // Enhanced audio: SoundFormat 9 (ExHeader), AudioPacketType 0 = SequenceStart.
        (TYPE_AUDIO, [b, ..]) if b >> 4 == 9 => b & 0x0f == 0,
        // AAC: AACPacketType 0.
        (TYPE_AUDIO, [b, 0, ..]) => b >> 4 == 10,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyframes_and_sequence_headers_of_legacy_and_enhanced_tags() {
        assert!(is_keyframe(&[0x17, 1]));
        assert!(!is_keyframe(&[0x27, 1]));
        assert!(is_keyframe(&[0x90 | 0x01, b'h', b'v', b'c', b'1']));
        assert!(!is_keyframe(&[0xA0 | 0x01, b'a', b'v', b'0', b'1']));
        assert!(is_sequence_header(TYPE_VIDEO, &[0x17, 0]));
        assert!(is_sequence_header(
            TYPE_VIDEO,
            &[0x90, b'h', b'v', b'c', b'1']
        ));
        assert!(!is_sequence_header(
            TYPE_VIDEO,
            &[0x91, b'h', b'v', b'c', b'1']
        ));
        assert!(is_sequence_header(TYPE_AUDIO, &[0xAF, 0]));
        assert!(!is_sequence_header(TYPE_AUDIO, &[0xAF, 1]));
        assert!(is_sequence_header(
            TYPE_AUDIO,
            &[0x90, b'O', b'p', b'u', b's']
        ));
    }
}
