//! Recording: every stream whose push URL carries a signed recording policy
//! (`rtcroom_shared::urls::record`) is written to disk while it is published, in segments.
//!
//! - A recording reads the stream's broadcast like a player. It never slows the publisher or
//!   the players: when the disk is slower than the stream and the recording falls a whole ring
//!   behind, the open segment is closed there (a gap, counted and logged) and the next one
//!   starts at the next keyframe.
//! - Fragmented MP4 by default (`fmp4`), FLV on request or for codecs MP4 is not written for
//!   here (`flv_file`). Each piece (an MP4 fragment: one per keyframe, and at most
//!   `RTCROOM_RECORD_FRAGMENT_MS` of media) is written as soon as it is complete, so a killed
//!   relay loses at most the piece it was building, and then made durable (`fdatasync`) by the
//!   segment's sync task, so a machine crash loses at most the pieces whose sync was under way.
//!   A slow sync does not hold back the next write.
//! - Segments are cut at the first keyframe past `RTCROOM_RECORD_SEGMENT_SECS`. A publisher
//!   that comes back within `RTCROOM_RECORD_RESUME_SECS` continues the recording with the next
//!   segment index.
//! - A segment is written as `….part` and renamed when closed; at start the relay cuts the
//!   `.part` files a crash left back to what reads, and closes them (`file`).
//! - Each closed segment is told to the room service (a `recorded` stream event).
//! - Below `RTCROOM_RECORD_MIN_FREE_MB` of free space no segment starts (counted, logged).

mod deliver;
mod file;
pub mod flv_file;
pub mod fmp4;
mod mp4_init;
mod mp4_read;
pub mod s3;
pub mod serve;
mod session;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rtcroom_shared::metrics::{Counter, Gauge};
use rtcroom_shared::urls::record::RecordPolicy;

pub use file::{SegmentName, free_bytes, readable_prefix};
use s3::{S3Config, S3Store};

use crate::hub::Stream;
use crate::metrics::{Metrics, metric};
use crate::settings::{ConfigError, positive};
use crate::stream_events::EventSink;

/// The recording settings (`RTCROOM_RECORD_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordConfig {
    /// `RTCROOM_RECORD_DIR`: where segments are written. Unset: nothing is recorded (a URL
    /// that asks for it publishes unrecorded, counted and logged).
    pub dir: Option<PathBuf>,
    /// `RTCROOM_RECORD_SEGMENT_SECS` (default 1800): segments are cut at the first keyframe
    /// past this.
    pub segment: Duration,
    /// `RTCROOM_RECORD_RESUME_SECS` (default 30): a publisher back within this continues its
    /// recording.
    pub resume: Duration,
    /// `RTCROOM_RECORD_FRAGMENT_MS` (default 500): the most media one MP4 fragment (or FLV
    /// write) holds, so the most a crash can lose.
    pub fragment_ms: u64,
    /// `RTCROOM_RECORD_MIN_FREE_MB` (default 1024): no segment starts with less free space.
    pub min_free_bytes: u64,
    /// `RTCROOM_RECORD_S3_*`: where closed segments are uploaded, if anywhere.
    pub s3: Option<S3Config>,
}

impl RecordConfig {
    pub fn from_lookup(get: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let number = |var: &'static str, default: usize| positive(get, var, default);
        Ok(Self {
            dir: get("RTCROOM_RECORD_DIR")
                .filter(|d| !d.is_empty())
                .map(PathBuf::from),
            segment: Duration::from_secs(number("RTCROOM_RECORD_SEGMENT_SECS", 1800)? as u64),
            resume: Duration::from_secs(number("RTCROOM_RECORD_RESUME_SECS", 30)? as u64),
            fragment_ms: number("RTCROOM_RECORD_FRAGMENT_MS", 500)? as u64,
            min_free_bytes: number("RTCROOM_RECORD_MIN_FREE_MB", 1024)? as u64 * 1024 * 1024,
            s3: match S3Config::from_lookup(get, number("RTCROOM_RECORD_S3_UPLOADS", 2)?)? {
                Some(_) if get("RTCROOM_RECORD_DIR").is_none_or(|d| d.is_empty()) => {
                    return Err(ConfigError {
                        var: "RTCROOM_RECORD_S3_BUCKET",
                        problem: "needs RTCROOM_RECORD_DIR: segments are written there first"
                            .into(),
                    });
                }
                s3 => s3,
            },
        })
    }
}

/// The recorder's counters (rendered into `/metrics`).
#[derive(Debug, Default)]
pub struct RecordMetrics {
    pub active: Gauge,
    pub segments: Counter,
    pub bytes: Counter,
    /// Segments closed early because the recording fell a ring behind (a slow disk).
    pub gaps: Counter,
    /// Segments not started: too little free space, or no recording directory.
    pub refused_disk: Counter,
    pub refused_disabled: Counter,
    /// Writes that failed (the segment is closed where it was).
    pub write_errors: Counter,
    /// `.part` files closed at start.
    pub recovered: Counter,
    /// Streams recorded as FLV because MP4 is not written for their codecs here.
    pub flv_fallbacks: Counter,
    /// Segments uploaded to S3, upload attempts that failed (retried), and segments closed
    /// and not yet uploaded.
    pub uploads: Counter,
    pub upload_failures: Counter,
    pub uploads_pending: Gauge,
}

impl RecordMetrics {
    fn render(&self, out: &mut String) {
        let mut line = |name: &str, kind: &str, help: &str, value: i128| {
            metric(out, &format!("record_{name}"), kind, help, value)
        };
        line(
            "active",
            "gauge",
            "Streams being recorded.",
            self.active.get().into(),
        );
        line(
            "segments_total",
            "counter",
            "Segments closed.",
            self.segments.get().into(),
        );
        line(
            "bytes_total",
            "counter",
            "Bytes written to segments.",
            self.bytes.get().into(),
        );
        line(
            "gaps_total",
            "counter",
            "Segments closed early: the recording fell a ring behind (slow disk).",
            self.gaps.get().into(),
        );
        line(
            "refused_disk_total",
            "counter",
            "Segments not started: free space below RTCROOM_RECORD_MIN_FREE_MB.",
            self.refused_disk.get().into(),
        );
        line(
            "refused_disabled_total",
            "counter",
            "Recordings asked for with no RTCROOM_RECORD_DIR set.",
            self.refused_disabled.get().into(),
        );
        line(
            "write_errors_total",
            "counter",
            "Segment writes that failed.",
            self.write_errors.get().into(),
        );
        line(
            "recovered_total",
            "counter",
            "Segments a crash left open, closed at start.",
            self.recovered.get().into(),
        );
        line(
            "flv_fallbacks_total",
            "counter",
            "Segments written as FLV: MP4 is not written for the stream's codecs.",
            self.flv_fallbacks.get().into(),
        );
        line(
            "uploads_total",
            "counter",
            "Segments uploaded to S3 (their local copy then removed).",
            self.uploads.get().into(),
        );
        line(
            "upload_failures_total",
            "counter",
            "S3 upload attempts that failed (retried with back-off; the local file stays).",
            self.upload_failures.get().into(),
        );
        line(
            "uploads_pending",
            "gauge",
            "Closed segments waiting for their S3 upload.",
            self.uploads_pending.get().into(),
        );
    }
}

/// Where a stopped recording may be continued.
#[derive(Debug, Clone, Copy)]
struct Resume {
    next_index: u32,
    until: Instant,
}

/// A publish to record once the stream's current recording has ended: the stream, its
/// policy, and its publisher's generation then.
type Pending = (Arc<Stream>, RecordPolicy, u64);

/// The relay's recorder.
pub struct Recorder {
    pub config: RecordConfig,
    pub metrics: Arc<RecordMetrics>,
    events: Arc<EventSink>,
    /// Streams being recorded now (one recording per stream however often it is taken over),
    /// each with the publish that came while its recording was ending, if one did.
    active: Mutex<HashMap<String, Option<Pending>>>,
    /// Recordings that stopped, by (stream, room, user), while they may be continued.
    resumable: Mutex<HashMap<(String, String, String), Resume>>,
    /// The bucket's client, made on first use (`RTCROOM_RECORD_S3_BUCKET`).
    s3: tokio::sync::OnceCell<S3Store>,
    /// Uploads at once (`RTCROOM_RECORD_S3_UPLOADS`).
    upload_slots: tokio::sync::Semaphore,
    /// The relay's runtime, where recordings and deliveries run whoever starts them (an SRT
    /// session's thread, the start-up recovery).
    runtime: tokio::runtime::Handle,
}

impl Recorder {
    /// A recorder; its counters are added to `metrics`' rendering. Call inside the relay's
    /// runtime.
    pub fn new(config: RecordConfig, events: Arc<EventSink>, metrics: &Metrics) -> Arc<Self> {
        let own = Arc::new(RecordMetrics::default());
        let shown = own.clone();
        metrics
            .sections
            .add(Box::new(move |out: &mut String| shown.render(out)));
        Arc::new(Self {
            upload_slots: tokio::sync::Semaphore::new(config.s3.as_ref().map_or(1, |s| s.uploads)),
            config,
            metrics: own,
            events,
            active: Mutex::new(HashMap::new()),
            resumable: Mutex::new(HashMap::new()),
            s3: tokio::sync::OnceCell::new(),
            runtime: tokio::runtime::Handle::current(),
        })
    }

    /// Closes the `.part` files a crash left (each told to the room service like any closed
    /// segment), and delivers again the closed segments the room service never confirmed.
    /// Call once at start, before anything is published, inside the runtime.
    pub fn recover(self: &Arc<Self>) {
        let Some(dir) = &self.config.dir else { return };
        // Closed segments the room service never confirmed (or not yet uploaded): again.
        for marker in file::leftovers(dir, "unreported") {
            self.redeliver(dir, &marker);
        }
        for part in file::leftovers(dir, "part") {
            match file::finalise_part(dir, &part) {
                Ok(Some((name, bytes, duration))) => {
                    self.metrics.recovered.inc();
                    tracing::warn!(path = %part.display(), bytes, duration_ms = duration,
                        "closed a segment a crash left open");
                    self.closed(&name.stream, name.report(bytes, duration));
                }
                Ok(None) => {
                    tracing::warn!(path = %part.display(), "removed a segment a crash left with no media")
                }
                Err(e) => {
                    tracing::error!(path = %part.display(), error = %e, "cannot close a segment a crash left open")
                }
            }
        }
    }

    /// Starts recording `stream` as `policy` says, unless it is being recorded already (a
    /// publisher that took the stream over continues the same recording). A publish that
    /// comes while the stream's last recording is still ending is recorded once that one has
    /// ended, as its continuation.
    pub fn record(self: &Arc<Self>, stream: &Arc<Stream>, policy: RecordPolicy) {
        if self.config.dir.is_none() {
            self.metrics.refused_disabled.inc();
            tracing::warn!(stream = %stream.name, "recording asked for, but RTCROOM_RECORD_DIR is not set");
            return;
        }
        {
            let mut active = self.active.lock();
            if let Some(pending) = active.get_mut(&stream.name) {
                *pending = Some((stream.clone(), policy, stream.generation()));
                return;
            }
            active.insert(stream.name.clone(), None);
        }
        self.spawn(stream.clone(), policy);
    }

    fn spawn(self: &Arc<Self>, stream: Arc<Stream>, policy: RecordPolicy) {
        self.metrics.active.inc();
        let recorder = self.clone();
        self.runtime.spawn(async move {
            session::run(&recorder, stream, policy).await;
            recorder.metrics.active.dec();
        });
    }

    /// A recording's stream ended (its last segment is still to be closed): it may be
    /// continued within the resume window, and a publish that came meanwhile is recorded now.
    fn ended(self: &Arc<Self>, stream: &str, policy: &RecordPolicy, next_index: u32) {
        self.stopped(stream, policy, next_index);
        let next = {
            let mut active = self.active.lock();
            match active.remove(stream).flatten() {
                Some((s, policy, generation))
                    if s.is_publishing() && s.generation() == generation =>
                {
                    active.insert(stream.to_owned(), None);
                    Some((s, policy))
                }
                _ => None,
            }
        };
        if let Some((s, policy)) = next {
            self.spawn(s, policy);
        }
    }

    /// The first segment index of a recording of (stream, policy) starting now: the next of a
    /// recording stopped within the resume window, else 0.
    fn first_index(&self, stream: &str, policy: &RecordPolicy) -> u32 {
        let mut resumable = self.resumable.lock();
        let now = Instant::now();
        resumable.retain(|_, r| r.until > now);
        resumable
            .remove(&(
                stream.to_owned(),
                policy.room_id.clone(),
                policy.user_id.clone(),
            ))
            .map_or(0, |r| r.next_index)
    }

    fn stopped(&self, stream: &str, policy: &RecordPolicy, next_index: u32) {
        self.resumable.lock().insert(
            (
                stream.to_owned(),
                policy.room_id.clone(),
                policy.user_id.clone(),
            ),
            Resume {
                next_index,
                until: Instant::now() + self.config.resume,
            },
        );
    }
}
