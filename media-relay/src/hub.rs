//! The stream hub: per stream name, the publisher's sequence headers, metadata and optional
//! GOP cache, and a broadcast of its media messages to every subscriber.
//!
//! Each media message is framed once, when it arrives ([`Frame`]: the RTMP chunk headers and
//! the payload as shared [`Bytes`]); subscribers receive clones of the handles, never of the
//! bytes. The broadcast is a bounded ring (tokio's `broadcast`): the publisher never waits for
//! a subscriber, and a subscriber that falls a ring behind is told how much it missed and
//! skips video to the next keyframe.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::{Notify, broadcast};

use crate::rtmp::chunk::{Framing, Headers};

/// Messages a subscriber may fall behind before it starts skipping.
pub const RING: usize = 1024;

pub const TYPE_AUDIO: u8 = 8;
pub const TYPE_VIDEO: u8 = 9;
pub const TYPE_DATA: u8 = 18;
/// Not an RTMP type: the end-of-stream marker.
pub const TYPE_END: u8 = 0;

/// Chunk stream ids the relay sends media on (one per kind, as nginx-rtmp and ffmpeg do).
const CSID_DATA: u32 = 5;
const CSID_AUDIO: u32 = 6;
const CSID_VIDEO: u32 = 7;
/// The message stream every player's `createStream` gets.
pub const PLAY_STREAM_ID: u32 = 1;

/// One media (or metadata) message, framed once for every subscriber.
#[derive(Debug, Clone)]
pub struct Frame {
    pub type_id: u8,
    pub timestamp: u32,
    pub payload: Bytes,
    pub headers: Headers,
    /// The FLV tag header (11 bytes) and trailing PreviousTagSize (4 bytes), for HTTP-FLV.
    pub flv_head: Bytes,
    pub flv_tail: Bytes,
    /// Video: a keyframe, where a skipping subscriber may resume.
    pub keyframe: bool,
}

impl Frame {
    pub fn new(type_id: u8, timestamp: u32, payload: Bytes) -> Self {
        let csid = match type_id {
            TYPE_AUDIO => CSID_AUDIO,
            TYPE_VIDEO => CSID_VIDEO,
            _ => CSID_DATA,
        };
        let headers = Framing::headers(csid, timestamp, type_id, PLAY_STREAM_ID, payload.len());
        let keyframe = type_id == TYPE_VIDEO && is_keyframe(&payload);
        let len = payload.len() as u32;
        let mut head = Vec::with_capacity(11);
        head.push(type_id);
        head.extend_from_slice(&len.to_be_bytes()[1..]);
        head.extend_from_slice(&timestamp.to_be_bytes()[1..]);
        head.push((timestamp >> 24) as u8);
        head.extend_from_slice(&[0, 0, 0]);
        Self {
            type_id,
            timestamp,
            payload,
            headers,
            flv_head: Bytes::from(head),
            flv_tail: Bytes::copy_from_slice(&(11 + len).to_be_bytes()),
            keyframe,
        }
    }
}

impl Frame {
    /// The marker a publisher's end sends down the broadcast, after its last message.
    pub fn end() -> Self {
        Self::new(TYPE_END, 0, Bytes::new())
    }

    pub fn is_end(&self) -> bool {
        self.type_id == TYPE_END
    }
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

#[derive(Debug, Default)]
struct Cache {
    metadata: Option<Frame>,
    video_header: Option<Frame>,
    audio_header: Option<Frame>,
    /// From the last keyframe on (when the GOP cache is on).
    gop: Vec<Frame>,
    /// The payload bytes in `gop`.
    gop_bytes: usize,
}

/// What a new subscriber starts from, and its place in the broadcast.
pub struct Subscription {
    pub start: Vec<Frame>,
    pub live: broadcast::Receiver<Frame>,
}

pub struct Stream {
    pub name: String,
    cache: Mutex<Cache>,
    tx: broadcast::Sender<Frame>,
    publishing: AtomicBool,
    /// Which publisher holds the stream (each claim gets the next), so that a replaced
    /// publisher's end does not end its successor's stream.
    generation: AtomicU64,
    /// When the publisher last sent anything (relative to `born`, in ms).
    last_input_ms: AtomicU64,
    born: Instant,
    /// Wakes the current publisher's session when a new publish takes its place.
    replaced: Mutex<Arc<Notify>>,
    gop_cache: bool,
    gop_cache_bytes: usize,
    pub subscribers: AtomicU64,
}

impl Stream {
    fn idle_for(&self) -> Duration {
        let now = self.born.elapsed().as_millis() as u64;
        Duration::from_millis(now.saturating_sub(self.last_input_ms.load(Ordering::Relaxed)))
    }

    /// The publisher sent something (any message, media or not).
    pub fn heard(&self) {
        let now = self.born.elapsed().as_millis() as u64;
        self.last_input_ms.store(now, Ordering::Relaxed);
    }

    /// Takes one message from the publisher to every subscriber; whether the GOP cache had to
    /// be dropped for growing past its byte cap.
    pub fn publish(&self, frame: Frame) -> bool {
        self.heard();
        let mut dropped = false;
        let mut cache = self.cache.lock();
        if frame.type_id == TYPE_DATA {
            cache.metadata = Some(frame.clone());
        } else if is_sequence_header(frame.type_id, &frame.payload) {
            match frame.type_id {
                TYPE_VIDEO => cache.video_header = Some(frame.clone()),
                _ => cache.audio_header = Some(frame.clone()),
            }
        } else if self.gop_cache {
            if frame.keyframe {
                cache.gop.clear();
                cache.gop_bytes = 0;
            }
            // Bounded in frames and bytes: a stream without keyframes, or with huge ones, must
            // not grow the cache without end; new players then start at the next keyframe.
            if !cache.gop.is_empty() || frame.keyframe {
                if cache.gop.len() >= RING
                    || cache.gop_bytes + frame.payload.len() > self.gop_cache_bytes
                {
                    cache.gop.clear();
                    cache.gop_bytes = 0;
                    dropped = true;
                } else {
                    cache.gop_bytes += frame.payload.len();
                    cache.gop.push(frame.clone());
                }
            }
        }
        // Sent under the cache lock, so a new subscriber sees each message exactly once:
        // either in its start or from the broadcast.
        let _ = self.tx.send(frame);
        dropped
    }

    pub fn subscribe(&self) -> Subscription {
        let cache = self.cache.lock();
        let start = [&cache.metadata, &cache.video_header, &cache.audio_header]
            .into_iter()
            .flatten()
            .cloned()
            .chain(cache.gop.iter().cloned())
            .collect();
        let live = self.tx.subscribe();
        Subscription { start, live }
    }

    pub fn is_publishing(&self) -> bool {
        self.publishing.load(Ordering::Relaxed)
    }
}

/// Every stream of this relay.
pub struct Hub {
    streams: Mutex<HashMap<String, Arc<Stream>>>,
    gop_cache: bool,
    gop_cache_bytes: usize,
    max_streams: usize,
    /// A publisher silent this long gives way to a new publish of its stream.
    takeover_after: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HubError {
    #[error("stream {0} already has a publisher")]
    AlreadyPublishing(String),
    #[error("the relay carries its maximum of {0} streams")]
    TooManyStreams(usize),
}

/// A publisher's hold on its stream: the stream, which publisher it is, and what wakes it
/// when a new publish replaces it.
pub struct Publishing {
    pub stream: Arc<Stream>,
    pub generation: u64,
    pub replaced: Arc<Notify>,
    /// This publish took the place of a silent publisher.
    pub took_over: bool,
}

/// The hub's settings.
#[derive(Debug, Clone, Copy)]
pub struct HubConfig {
    pub gop_cache: bool,
    pub gop_cache_bytes: usize,
    pub max_streams: usize,
    pub takeover_after: Duration,
}

impl Hub {
    pub fn new(config: HubConfig) -> Arc<Self> {
        Arc::new(Self {
            streams: Mutex::new(HashMap::new()),
            gop_cache: config.gop_cache,
            gop_cache_bytes: config.gop_cache_bytes,
            max_streams: config.max_streams,
            takeover_after: config.takeover_after,
        })
    }

    /// Finds or makes the stream `name` and claims it with `claim`, all under the map's lock:
    /// so a stream being forgotten (its last user gone) can never be claimed at the same time.
    fn claim(
        &self,
        name: &str,
        claim: impl FnOnce(&Stream) -> Result<(), HubError>,
    ) -> Result<Arc<Stream>, HubError> {
        let mut streams = self.streams.lock();
        let stream = match streams.get(name) {
            Some(s) => s.clone(),
            None if streams.len() >= self.max_streams => {
                return Err(HubError::TooManyStreams(self.max_streams));
            }
            None => Arc::new(Stream {
                name: name.to_owned(),
                cache: Mutex::new(Cache::default()),
                tx: broadcast::channel(RING).0,
                publishing: AtomicBool::new(false),
                generation: AtomicU64::new(0),
                last_input_ms: AtomicU64::new(0),
                born: Instant::now(),
                replaced: Mutex::new(Arc::new(Notify::new())),
                gop_cache: self.gop_cache,
                gop_cache_bytes: self.gop_cache_bytes,
                subscribers: AtomicU64::new(0),
            }),
        };
        claim(&stream)?;
        streams.insert(name.to_owned(), stream.clone());
        Ok(stream)
    }

    /// Claims `name` for a publisher. Refused while another publishes it, unless that one has
    /// sent nothing for the takeover time: then it is woken to end, and this one takes the
    /// stream over (its players stay; the caches start afresh with the new publisher's
    /// sequence headers).
    pub fn start_publishing(&self, name: &str) -> Result<Publishing, HubError> {
        let mut took_over = false;
        let stream = self.claim(name, |stream| {
            if stream.publishing.swap(true, Ordering::Relaxed) {
                if stream.idle_for() < self.takeover_after {
                    return Err(HubError::AlreadyPublishing(name.to_owned()));
                }
                took_over = true;
                *stream.cache.lock() = Cache::default();
            }
            Ok(())
        })?;
        stream.heard();
        let generation = stream.generation.fetch_add(1, Ordering::Relaxed) + 1;
        let replaced = {
            let mut slot = stream.replaced.lock();
            slot.notify_one();
            *slot = Arc::new(Notify::new());
            slot.clone()
        };
        Ok(Publishing {
            stream,
            generation,
            replaced,
            took_over,
        })
    }

    /// Publisher `generation` left: unless another publisher has taken its place, its players
    /// get an end marker, and the stream is forgotten once nobody plays it. Whether it still
    /// held the stream.
    pub fn stop_publishing(&self, stream: &Arc<Stream>, generation: u64) -> bool {
        let mut streams = self.streams.lock();
        if stream.generation.load(Ordering::Relaxed) != generation {
            return false;
        }
        *stream.cache.lock() = Cache::default();
        let _ = stream.tx.send(Frame::end());
        stream.publishing.store(false, Ordering::Relaxed);
        if stream.subscribers.load(Ordering::Relaxed) == 0 {
            streams.remove(&stream.name);
        }
        true
    }

    /// Whether `name` has a publisher now.
    pub fn is_publishing(&self, name: &str) -> bool {
        self.streams
            .lock()
            .get(name)
            .is_some_and(|s| s.is_publishing())
    }

    /// A player joins `name` (which may not be published yet).
    pub fn play(&self, name: &str) -> Result<(Arc<Stream>, Subscription), HubError> {
        let stream = self.claim(name, |stream| {
            stream.subscribers.fetch_add(1, Ordering::Relaxed);
            Ok(())
        })?;
        let subscription = stream.subscribe();
        Ok((stream, subscription))
    }

    pub fn stop_playing(&self, stream: &Arc<Stream>) {
        self.release(stream, |s| {
            s.subscribers.fetch_sub(1, Ordering::Relaxed);
        });
    }

    /// Drops a claim under the map's lock, forgetting the stream when nobody uses it.
    fn release(&self, stream: &Arc<Stream>, release: impl FnOnce(&Stream)) {
        let mut streams = self.streams.lock();
        release(stream);
        if !stream.is_publishing() && stream.subscribers.load(Ordering::Relaxed) == 0 {
            streams.remove(&stream.name);
        }
    }

    /// Names of the streams being published now.
    pub fn publishing(&self) -> Vec<String> {
        self.streams
            .lock()
            .values()
            .filter(|s| s.is_publishing())
            .map(|s| s.name.clone())
            .collect()
    }

    pub fn stream_count(&self) -> usize {
        self.streams.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn video(key: bool, seq: bool) -> Frame {
        let b0 = if key { 0x17 } else { 0x27 };
        Frame::new(
            TYPE_VIDEO,
            0,
            Bytes::from(vec![b0, u8::from(!seq), 0, 0, 0]),
        )
    }

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

    fn hub(gop_cache: bool) -> Arc<Hub> {
        Hub::new(HubConfig {
            gop_cache,
            gop_cache_bytes: 1 << 20,
            max_streams: 10,
            takeover_after: Duration::from_secs(3600),
        })
    }

    #[test]
    fn a_late_subscriber_starts_from_headers_and_the_last_keyframe() {
        let hub = hub(true);
        let stream = hub.start_publishing("s").unwrap().stream;
        stream.publish(video(true, true));
        stream.publish(video(true, false));
        stream.publish(video(false, false));
        stream.publish(video(true, false));
        stream.publish(video(false, false));
        let (_, sub) = hub.play("s").unwrap();
        let kinds: Vec<(bool, bool)> = sub
            .start
            .iter()
            .map(|f| (f.keyframe, is_sequence_header(f.type_id, &f.payload)))
            .collect();
        assert_eq!(kinds, [(true, true), (true, false), (false, false)]);
        assert!(matches!(
            hub.start_publishing("s"),
            Err(HubError::AlreadyPublishing(_))
        ));
    }

    #[test]
    fn subscribers_share_the_publishers_bytes() {
        let hub = hub(false);
        let stream = hub.start_publishing("s").unwrap().stream;
        let (_, mut a) = hub.play("s").unwrap();
        let (_, mut b) = hub.play("s").unwrap();
        let frame = video(true, false);
        let ptr = frame.payload.as_ptr();
        stream.publish(frame);
        assert_eq!(a.live.try_recv().unwrap().payload.as_ptr(), ptr);
        assert_eq!(b.live.try_recv().unwrap().payload.as_ptr(), ptr);
    }

    #[test]
    fn the_gop_cache_is_bounded_in_bytes() {
        let hub = hub(true);
        let stream = hub.start_publishing("s").unwrap().stream;
        let big = |key: bool| {
            let mut payload = vec![if key { 0x17 } else { 0x27 }, 1];
            payload.resize(300 << 10, 0);
            Frame::new(TYPE_VIDEO, 0, Bytes::from(payload))
        };
        assert!(!stream.publish(big(true)));
        assert!(!stream.publish(big(false)));
        assert!(!stream.publish(big(false)));
        // A fourth 300 KiB frame would pass the 1 MiB cap: the cache goes.
        assert!(stream.publish(big(false)));
        let (_, sub) = hub.play("s").unwrap();
        assert!(sub.start.is_empty());
        assert!(!stream.publish(big(true)), "a keyframe starts it afresh");
    }

    #[test]
    fn a_silent_publisher_gives_way_and_its_end_leaves_the_new_one_alone() {
        let hub = Hub::new(HubConfig {
            gop_cache: true,
            gop_cache_bytes: 1 << 20,
            max_streams: 10,
            takeover_after: Duration::ZERO,
        });
        let first = hub.start_publishing("s").unwrap();
        let (_, mut sub) = hub.play("s").unwrap();
        let second = hub.start_publishing("s").unwrap();
        assert!(second.took_over && !first.took_over);
        assert_ne!(first.generation, second.generation);
        assert!(
            !hub.stop_publishing(&first.stream, first.generation),
            "the replaced publisher's end changes nothing"
        );
        assert!(hub.is_publishing("s"));
        assert!(sub.live.try_recv().is_err(), "its players were not ended");
        assert!(hub.stop_publishing(&second.stream, second.generation));
        assert!(sub.live.try_recv().unwrap().is_end());
        let strict = Hub::new(HubConfig {
            takeover_after: Duration::from_secs(3600),
            ..HubConfig {
                gop_cache: true,
                gop_cache_bytes: 1 << 20,
                max_streams: 10,
                takeover_after: Duration::ZERO,
            }
        });
        let _active = strict.start_publishing("t").unwrap();
        assert!(matches!(
            strict.start_publishing("t"),
            Err(HubError::AlreadyPublishing(_))
        ));
    }
}
