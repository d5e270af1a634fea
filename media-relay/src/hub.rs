//! The stream hub: per stream name, the publisher's sequence headers, metadata and optional
//! GOP cache, and a broadcast of its media messages ([`Frame`]s, the neutral unit: see
//! `media`) to every subscriber, whatever protocol it plays with.
//!
//! Subscribers receive clones of a frame's handle, never of its bytes. The broadcast is a
//! bounded ring (tokio's `broadcast`): the publisher never waits for a subscriber, and a
//! subscriber that falls a ring behind is told how much it missed and skips video to the
//! next keyframe.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::{Notify, broadcast};

use crate::media::{Frame, TYPE_DATA, TYPE_VIDEO, is_sequence_header};

/// Messages a subscriber may fall behind before it starts skipping (the default of
/// `RTCROOM_RELAY_RING_MESSAGES`), and the GOP cache's length in messages.
pub const RING: usize = 1024;

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
    /// The number of the first message `live` yields (messages are numbered in the order
    /// they were sent, from 0): a fan-out group holding an older receiver sends this
    /// subscriber only what is numbered from here on.
    pub next: u64,
}

pub struct Stream {
    pub name: String,
    cache: Mutex<Cache>,
    tx: broadcast::Sender<Frame>,
    /// Messages sent to the broadcast so far (changed under the cache's lock only).
    sent: AtomicU64,
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
    /// Messages a subscriber may fall behind (the broadcast's length; a parked player's
    /// backlog: `fanout`).
    pub ring: usize,
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
                if cache.gop.len() >= self.ring
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
        self.send(&cache, frame);
        dropped
    }

    /// Sends under the cache's lock (`_cache` is its guard), so that a new subscriber sees
    /// each message exactly once, either in its start or from the broadcast, and knows the
    /// number of the first it gets from the broadcast.
    fn send(&self, _cache: &Cache, frame: Frame) {
        self.sent.fetch_add(1, Ordering::Relaxed);
        let _ = self.tx.send(frame);
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
        Subscription {
            start,
            live,
            next: self.sent.load(Ordering::Relaxed),
        }
    }

    pub fn is_publishing(&self) -> bool {
        self.publishing.load(Ordering::Relaxed)
    }

    /// Which publisher holds the stream (the latest claim's number).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Relaxed)
    }

    /// Whether a new publish would be refused now: another publisher holds the stream and
    /// has not been silent for the takeover time.
    pub fn is_held(&self, takeover_after: Duration) -> bool {
        self.is_publishing() && self.idle_for() < takeover_after
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
    ring: usize,
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
    /// Messages a player may fall behind before it skips to the next keyframe.
    pub ring: usize,
}

impl Hub {
    pub fn new(config: HubConfig) -> Arc<Self> {
        Arc::new(Self {
            streams: Mutex::new(HashMap::new()),
            gop_cache: config.gop_cache,
            gop_cache_bytes: config.gop_cache_bytes,
            max_streams: config.max_streams,
            takeover_after: config.takeover_after,
            ring: config.ring,
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
                tx: broadcast::channel(self.ring).0,
                sent: AtomicU64::new(0),
                publishing: AtomicBool::new(false),
                generation: AtomicU64::new(0),
                last_input_ms: AtomicU64::new(0),
                born: Instant::now(),
                replaced: Mutex::new(Arc::new(Notify::new())),
                gop_cache: self.gop_cache,
                gop_cache_bytes: self.gop_cache_bytes,
                ring: self.ring,
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
            if stream.is_held(self.takeover_after) {
                return Err(HubError::AlreadyPublishing(name.to_owned()));
            }
            if stream.publishing.swap(true, Ordering::Relaxed) {
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
        let mut cache = stream.cache.lock();
        *cache = Cache::default();
        stream.send(&cache, Frame::end());
        drop(cache);
        stream.publishing.store(false, Ordering::Relaxed);
        if stream.subscribers.load(Ordering::Relaxed) == 0 {
            streams.remove(&stream.name);
        }
        true
    }

    /// Whether a publish of `name` would be refused now (see [`Stream::is_held`]).
    pub fn is_held(&self, name: &str) -> bool {
        self.streams
            .lock()
            .get(name)
            .is_some_and(|s| s.is_held(self.takeover_after))
    }

    /// Whether `name` has a publisher now.
    pub fn is_publishing(&self, name: &str) -> bool {
        self.streams
            .lock()
            .get(name)
            .is_some_and(|s| s.is_publishing())
    }

    /// A player joins `name` (which may not be published yet); it then subscribes.
    pub fn play(&self, name: &str) -> Result<Arc<Stream>, HubError> {
        self.claim(name, |stream| {
            stream.subscribers.fetch_add(1, Ordering::Relaxed);
            Ok(())
        })
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
    use bytes::Bytes;

    fn video(key: bool, seq: bool) -> Frame {
        let b0 = if key { 0x17 } else { 0x27 };
        Frame::new(
            TYPE_VIDEO,
            0,
            Bytes::from(vec![b0, u8::from(!seq), 0, 0, 0]),
        )
    }

    fn hub(gop_cache: bool) -> Arc<Hub> {
        Hub::new(HubConfig {
            gop_cache,
            gop_cache_bytes: 1 << 20,
            max_streams: 10,
            takeover_after: Duration::from_secs(3600),
            ring: RING,
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
        let sub = hub.play("s").unwrap().subscribe();
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
        let mut a = hub.play("s").unwrap().subscribe();
        let mut b = hub.play("s").unwrap().subscribe();
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
        let sub = hub.play("s").unwrap().subscribe();
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
            ring: RING,
        });
        let first = hub.start_publishing("s").unwrap();
        let mut sub = hub.play("s").unwrap().subscribe();
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
                ring: RING,
            }
        });
        let _active = strict.start_publishing("t").unwrap();
        assert!(matches!(
            strict.start_publishing("t"),
            Err(HubError::AlreadyPublishing(_))
        ));
    }
}
