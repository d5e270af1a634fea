//! FLV segments: the FLV header, then the stream's tags as they came, their timestamps counted
//! from the segment's start. An FLV file reads up to its last whole tag however it was cut off,
//! so a crash loses only what had not been written yet.

use bytes::{BufMut, Bytes, BytesMut};

use crate::media::{Frame, TYPE_VIDEO, flv_tag_header};

/// The FLV header (audio and video flagged) and PreviousTagSize0.
pub fn header() -> Bytes {
    Bytes::from_static(b"FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00")
}

/// One FLV tag for `frame` at `timestamp` ms: the 11-byte header, the body, the
/// PreviousTagSize.
pub fn tag(frame: &Frame, timestamp: u32) -> Bytes {
    let body = frame.payload.len();
    let mut out = BytesMut::with_capacity(11 + body + 4);
    out.put_slice(&flv_tag_header(frame.type_id, body, timestamp));
    out.put_slice(&frame.payload);
    out.put_u32((11 + body) as u32);
    out.freeze()
}

/// One segment's FLV writer: sequence headers and metadata first, then media from the first
/// keyframe (or the first message, for a stream without video).
#[derive(Debug)]
pub struct FlvSegment {
    origin_ms: Option<u32>,
    has_video: bool,
    last_ms: u32,
}

impl FlvSegment {
    pub fn new(has_video: bool) -> Self {
        Self {
            origin_ms: None,
            has_video,
            last_ms: 0,
        }
    }

    /// The header and the stream's start (metadata and sequence headers, at time 0).
    pub fn init(&self, start: &[Frame]) -> Bytes {
        let mut out = BytesMut::from(&header()[..]);
        for frame in start {
            out.put_slice(&tag(frame, 0));
        }
        out.freeze()
    }

    /// The tag for one media message, once the segment has begun.
    pub fn push(&mut self, frame: &Frame) -> Option<Bytes> {
        let origin = match self.origin_ms {
            Some(origin) => origin,
            None if !self.has_video || (frame.type_id == TYPE_VIDEO && frame.keyframe) => {
                self.origin_ms = Some(frame.timestamp);
                frame.timestamp
            }
            None => return None,
        };
        let at = frame.timestamp.wrapping_sub(origin);
        if at > u32::MAX / 2 {
            // Before the segment's start (audio a little ahead of the keyframe): skipped.
            return None;
        }
        self.last_ms = self.last_ms.max(at);
        Some(tag(frame, at))
    }

    pub fn duration_ms(&self) -> u64 {
        u64::from(self.last_ms)
    }

    /// The tag timestamp (ms) the segment counts from, once it has begun.
    pub fn origin_ms(&self) -> Option<u64> {
        self.origin_ms.map(u64::from)
    }
}

/// Where the whole tags of an FLV file end, and the last tag's timestamp (ms): what a file cut
/// off mid-tag keeps. A tag is whole when its type is audio, video or script data and the
/// PreviousTagSize after it matches (a tail of zeros or garbage is not a tag).
pub fn whole_tags(bytes: &[u8]) -> (u64, u64) {
    whole_tags_by(bytes.len() as u64, |at, n| {
        let at = usize::try_from(at).ok()?;
        bytes.get(at..at.checked_add(n)?).map(<[u8]>::to_vec)
    })
}

/// [`whole_tags`] over a file of `len` bytes read through `read(at, n)` (`None` past its end).
pub fn whole_tags_by(len: u64, read: impl Fn(u64, usize) -> Option<Vec<u8>>) -> (u64, u64) {
    let mut last_ms = 0u64;
    match read(0, 13) {
        Some(head) if &head[..3] == b"FLV" => {}
        _ => return (0, 0),
    }
    let mut at = 13u64;
    while let Some(head) = read(at, 11) {
        let size = u64::from(head[1]) << 16 | u64::from(head[2]) << 8 | u64::from(head[3]);
        let end = at + 11 + size + 4;
        let whole = matches!(head[0], 8 | 9 | 18)
            && end <= len
            && read(end - 4, 4).is_some_and(|p| {
                u64::from(u32::from_be_bytes([p[0], p[1], p[2], p[3]])) == 11 + size
            });
        if !whole {
            break;
        }
        let ts = u64::from(head[7]) << 24
            | u64::from(head[4]) << 16
            | u64::from(head[5]) << 8
            | u64::from(head[6]);
        last_ms = last_ms.max(ts);
        at = end;
    }
    (at, last_ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::TYPE_AUDIO;

    #[test]
    fn tags_count_from_the_first_keyframe_and_torn_files_keep_whole_tags() {
        let mut seg = FlvSegment::new(true);
        let video = |ts, key: bool| {
            Frame::new(
                TYPE_VIDEO,
                ts,
                Bytes::from(vec![if key { 0x17 } else { 0x27 }, 1, 0, 0, 0, 9]),
            )
        };
        assert!(
            seg.push(&Frame::new(
                TYPE_AUDIO,
                990,
                Bytes::from_static(&[0xaf, 1, 7])
            ))
            .is_none()
        );
        assert!(seg.push(&video(995, false)).is_none());
        let mut file = seg.init(&[]).to_vec();
        file.extend_from_slice(&seg.push(&video(1000, true)).unwrap());
        file.extend_from_slice(&seg.push(&video(1040, false)).unwrap());
        assert_eq!(seg.duration_ms(), 40);
        assert_eq!(whole_tags(&file), (file.len() as u64, 40));
        let whole = file.len();
        file.extend_from_slice(&seg.push(&video(1080, false)).unwrap()[..7]);
        assert_eq!(whole_tags(&file), (whole as u64, 40));
        // A tail of zeros is not a tag.
        let mut zeros = file[..whole].to_vec();
        zeros.extend_from_slice(&[0; 64]);
        assert_eq!(whole_tags(&zeros), (whole as u64, 40));
    }
}
