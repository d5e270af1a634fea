//! One stream's recording: reads the stream's broadcast from its publish to its end and
//! writes segments (see the module above).

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use rtcroom_shared::urls::record::{RecordFormat, RecordPolicy};
use tokio::sync::broadcast::error::RecvError;

use super::Recorder;
use super::file::{SegmentFile, SegmentName, free_bytes};
use super::flv_file::FlvSegment;
use super::fmp4::{Fmp4Segment, TrackConfig};
use crate::hub::Stream;
use crate::media::{Frame, TYPE_AUDIO, TYPE_DATA, TYPE_VIDEO, is_sequence_header};

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The stream's decoder configuration and metadata, as last sent.
#[derive(Default)]
struct Headers {
    metadata: Option<Frame>,
    video: Option<Frame>,
    audio: Option<Frame>,
}

impl Headers {
    /// Takes a header or metadata message; whether it changes a track's configuration (an
    /// open segment then ends: its init no longer describes what follows).
    fn take(&mut self, frame: &Frame) -> bool {
        let slot = match frame.type_id {
            TYPE_DATA => {
                self.metadata = Some(frame.clone());
                return false;
            }
            TYPE_VIDEO => &mut self.video,
            _ => &mut self.audio,
        };
        // A new configuration, or a track the stream did not have yet.
        let changed = slot.as_ref().is_none_or(|old| old.payload != frame.payload);
        *slot = Some(frame.clone());
        changed
    }

    fn start(&self) -> Vec<Frame> {
        [&self.metadata, &self.video, &self.audio]
            .into_iter()
            .flatten()
            .cloned()
            .collect()
    }
}

enum Mux {
    Mp4(Box<Fmp4Segment>),
    Flv(FlvSegment),
}

impl Mux {
    fn push(&mut self, frame: &Frame) -> Option<Bytes> {
        match self {
            Mux::Mp4(m) => m.push(frame),
            Mux::Flv(f) => f.push(frame),
        }
    }

    fn duration_ms(&self) -> u64 {
        match self {
            Mux::Mp4(m) => m.duration_ms(),
            Mux::Flv(f) => f.duration_ms(),
        }
    }

    /// The timestamp (ms) the segment's media starts at, once it has begun.
    fn origin_ms(&self) -> Option<u64> {
        match self {
            Mux::Mp4(m) => m.origin_ms(),
            Mux::Flv(f) => f.origin_ms(),
        }
    }
}

/// The segment being written.
struct Open {
    name: SegmentName,
    file: SegmentFile,
    mux: Mux,
    /// Whether any media has been written (a segment without is removed, not told).
    media: bool,
    /// Pieces not yet written: written together once they span the fragment time.
    pending: Vec<Bytes>,
    pending_from_ms: Option<u32>,
    /// A write failed (a full disk): nothing more is written, the file ends at its last
    /// whole piece, and its duration is read from it.
    failed: bool,
}

struct Recording<'a> {
    recorder: &'a Arc<Recorder>,
    stream: String,
    policy: RecordPolicy,
    headers: Headers,
    open: Option<Open>,
    next_index: u32,
    /// The last media message's timestamp.
    last_ms: Option<u64>,
    /// Refused for lack of space: no segment is tried before then.
    refused_until: Option<Instant>,
    /// Whether a segment of this recording has been written to yet.
    started: bool,
    /// The first segment's media while it waits for the other track's header, and when
    /// (epoch ms) the first of it came: the segment's start.
    waiting: Vec<Frame>,
    waiting_since_ms: Option<u64>,
}

/// How much media a recording's first segment waits for its second track's header.
const FIRST_TRACKS_MS: u32 = 1_000;
/// At most this many messages wait.
const MAX_WAITING: usize = 256;

/// How far timestamps may step back (reordered audio and video) before a segment ends.
const BACKWARDS_MS: u64 = 1_000;

/// After a refusal for lack of space, how long before a segment is tried again.
const REFUSED_RETRY: Duration = Duration::from_secs(5);

pub(super) async fn run(recorder: &Arc<Recorder>, stream: Arc<Stream>, policy: RecordPolicy) {
    let subscription = stream.subscribe();
    let mut rec = Recording {
        recorder,
        stream: stream.name.clone(),
        next_index: recorder.first_index(&stream.name, &policy),
        policy,
        headers: Headers::default(),
        open: None,
        last_ms: None,
        refused_until: None,
        started: false,
        waiting: Vec::new(),
        waiting_since_ms: None,
    };
    drop(stream);
    tracing::info!(stream = %rec.stream, room = %rec.policy.room_id, user = %rec.policy.user_id,
        index = rec.next_index, "recording");
    for frame in subscription.start {
        rec.take(&frame).await;
    }
    let mut live = subscription.live;
    loop {
        match live.recv().await {
            Ok(frame) if frame.is_end() => break,
            Ok(frame) => rec.take(&frame).await,
            Err(RecvError::Lagged(missed)) => {
                recorder.metrics.gaps.inc();
                tracing::warn!(stream = %rec.stream, missed,
                    "recording fell behind the stream (slow disk): segment closed, next starts at a keyframe");
                rec.close().await;
            }
            Err(RecvError::Closed) => break,
        }
    }
    // The stream is free for a new recording (or this one's continuation) before the last
    // segment's close waits on the disk.
    if !rec.waiting.is_empty() {
        // It ended while its first segment waited for a second track: kept with the one.
        rec.open_waiting().await;
    }
    recorder.ended(&rec.stream, &rec.policy, rec.next_index);
    rec.close().await;
}

impl Recording<'_> {
    async fn take(&mut self, frame: &Frame) {
        if frame.type_id == TYPE_DATA || is_sequence_header(frame.type_id, &frame.payload) {
            if self.headers.take(frame) {
                self.close().await;
            }
            return;
        }
        if frame.type_id != TYPE_VIDEO && frame.type_id != TYPE_AUDIO {
            return;
        }
        // Time going back (a new publisher that took the stream over counts from 0 again)
        // ends the segment: its times would no longer rise.
        let went_back = self
            .last_ms
            .is_some_and(|last| u64::from(frame.timestamp) + BACKWARDS_MS < last);
        self.last_ms = Some(u64::from(frame.timestamp));
        if went_back {
            // A new publisher: what the old one's first segment waited with is not its start.
            self.waiting.clear();
            self.waiting_since_ms = None;
            self.close().await;
        }
        let starts_segment = frame.keyframe || self.headers.video.is_none();
        if let Some(open) = &self.open
            && starts_segment
            && open.mux.origin_ms().is_some_and(|first| {
                u64::from(frame.timestamp).saturating_sub(first)
                    >= self.recorder.config.segment.as_millis() as u64
            })
        {
            self.close().await;
        }
        if self.open.is_none() {
            let waiting = !self.waiting.is_empty();
            if !waiting
                && (!starts_segment || self.headers.audio.is_none() && self.headers.video.is_none())
            {
                return;
            }
            if self.wait_for_other_track(frame) {
                return;
            }
            self.open_waiting().await;
        }
        self.push(frame).await;
    }

    /// Before a recording's first segment: a stream's tracks may announce themselves a moment
    /// apart (SRT's MPEG-TS does), and a segment opened with one would end at once when the
    /// other's header came. So with one track's header known, the first segment waits (its
    /// media kept) up to `FIRST_TRACKS_MS` of media for the other's. Whether `frame` was
    /// kept to wait.
    fn wait_for_other_track(&mut self, frame: &Frame) -> bool {
        let one_track = self.headers.audio.is_none() != self.headers.video.is_none();
        let within = self.waiting.first().is_none_or(|first| {
            frame.timestamp.wrapping_sub(first.timestamp) < FIRST_TRACKS_MS
                && self.waiting.len() < MAX_WAITING
        });
        if self.started || !one_track || !within {
            return false;
        }
        self.waiting_since_ms.get_or_insert_with(now_ms);
        self.waiting.push(frame.clone());
        true
    }

    /// Opens a segment and writes the media that waited for it.
    async fn open_waiting(&mut self) {
        self.open_segment().await;
        for early in std::mem::take(&mut self.waiting) {
            self.push(&early).await;
        }
    }

    /// Writes a media message into the open segment (if one could be opened).
    async fn push(&mut self, frame: &Frame) {
        let Some(open) = &mut self.open else { return };
        self.started = true;
        if let Some(piece) = open.mux.push(frame) {
            open.media = true;
            open.pending.push(piece);
            open.pending_from_ms.get_or_insert(frame.timestamp);
        }
        // MP4 pieces are whole fragments, each written at once; FLV tags are gathered into
        // writes of at most the fragment time.
        let due = match open.mux {
            Mux::Mp4(_) => !open.pending.is_empty(),
            Mux::Flv(_) => open.pending_from_ms.is_some_and(|from| {
                u64::from(frame.timestamp.wrapping_sub(from)) >= self.recorder.config.fragment_ms
            }),
        };
        if due {
            self.flush().await;
        }
    }

    /// Starts the next segment, unless the disk is short of space (then tried again at the
    /// first keyframe `REFUSED_RETRY` later).
    async fn open_segment(&mut self) {
        if self
            .refused_until
            .is_some_and(|until| Instant::now() < until)
        {
            return;
        }
        let config = &self.recorder.config;
        let dir = config
            .dir
            .as_ref()
            .expect("recording only with a directory");
        let free = {
            let dir = dir.clone();
            tokio::task::spawn_blocking(move || {
                free_bytes(&dir).or_else(|_| {
                    std::fs::create_dir_all(&dir)?;
                    free_bytes(&dir)
                })
            })
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e)))
        };
        match free {
            Ok(free) if free >= config.min_free_bytes => {
                if self.refused_until.take().is_some() {
                    tracing::warn!(stream = %self.stream, "recording again: free space is back");
                }
            }
            Ok(free) => {
                self.recorder.metrics.refused_disk.inc();
                if self.refused_until.is_none() {
                    tracing::error!(stream = %self.stream, free_mb = free / (1024 * 1024),
                        "recording not started: free space below RTCROOM_RECORD_MIN_FREE_MB \
                         (tried again every {} s)", REFUSED_RETRY.as_secs());
                }
                self.refused_until = Some(Instant::now() + REFUSED_RETRY);
                return;
            }
            Err(e) => {
                self.recorder.metrics.write_errors.inc();
                tracing::error!(stream = %self.stream, error = %e, "recording directory unusable");
                return;
            }
        }
        let (mux, format, init) = self.muxer();
        let name = SegmentName::new(
            &self.policy,
            &self.stream,
            self.waiting_since_ms.take().unwrap_or_else(now_ms),
            self.next_index,
            format,
        );
        let file = match SegmentFile::create(dir, &name.relative()).await {
            Ok(file) => file,
            Err(e) => {
                self.recorder.metrics.write_errors.inc();
                tracing::error!(stream = %self.stream, error = %e, "cannot create a segment");
                return;
            }
        };
        self.next_index += 1;
        self.open = Some(Open {
            name,
            file,
            mux,
            media: false,
            pending: vec![init],
            pending_from_ms: None,
            failed: false,
        });
    }

    /// The segment's writer in the policy's format, or FLV when MP4 is not written for the
    /// stream's codecs; and the segment's first bytes.
    fn muxer(&self) -> (Mux, RecordFormat, Bytes) {
        let has_video = self.headers.video.is_some();
        if self.policy.format == RecordFormat::Mp4 {
            let config = |f: &Option<Frame>| {
                f.as_ref()
                    .map(|f| TrackConfig::from_header(f.type_id, &f.payload))
                    .transpose()
                    .map(Option::flatten)
            };
            match (config(&self.headers.video), config(&self.headers.audio)) {
                (Ok(video), Ok(audio)) if video.is_some() || audio.is_some() => {
                    let mux = Fmp4Segment::new(video, audio, self.recorder.config.fragment_ms);
                    let init = mux.init();
                    return (Mux::Mp4(Box::new(mux)), RecordFormat::Mp4, init);
                }
                (Err(e), _) | (_, Err(e)) => {
                    self.recorder.metrics.flv_fallbacks.inc();
                    tracing::warn!(stream = %self.stream, reason = %e, "recording as FLV");
                }
                _ => {}
            }
        }
        let flv = FlvSegment::new(has_video);
        let init = flv.init(&self.headers.start());
        (Mux::Flv(flv), RecordFormat::Flv, init)
    }

    /// Writes what is pending; a failed write closes the segment there.
    async fn flush(&mut self) {
        if !self.write_pending().await {
            self.close().await;
        }
    }

    /// Writes the open segment's pending pieces; `false` when the write failed (counted,
    /// logged).
    async fn write_pending(&mut self) -> bool {
        let Some(open) = &mut self.open else {
            return true;
        };
        if open.pending.is_empty() {
            return true;
        }
        let pieces = std::mem::take(&mut open.pending);
        open.pending_from_ms = None;
        let n: u64 = pieces.iter().map(|p| p.len() as u64).sum();
        match open.file.append(pieces).await {
            Ok(()) => {
                self.recorder.metrics.bytes.add(n);
                true
            }
            Err(e) => {
                open.failed = true;
                self.recorder.metrics.write_errors.inc();
                tracing::error!(stream = %self.stream, error = %e, "segment write failed; segment closed");
                false
            }
        }
    }

    /// Ends the open segment: its last fragment written (unless a write failed), renamed,
    /// told.
    async fn close(&mut self) {
        if let Some(open) = &mut self.open
            && !open.failed
            && let Mux::Mp4(m) = &mut open.mux
            && let Some(last) = m.finish()
        {
            open.media = true;
            open.pending.push(last);
        }
        if self.open.as_ref().is_some_and(|o| !o.failed) {
            self.write_pending().await;
        }
        let Some(open) = self.open.take() else { return };
        if !open.media {
            open.file.discard().await;
            return;
        }
        let duration = if open.failed {
            // What the file holds up to its last whole piece; nothing readable: no segment.
            match open.file.measure(open.name.format).await {
                Ok(ms) if ms > 0 => ms,
                _ => {
                    open.file.discard().await;
                    return;
                }
            }
        } else {
            open.mux.duration_ms()
        };
        let report = open.name.report(open.file.bytes, duration);
        match open.file.close(&report).await {
            Ok((path, sync_failed)) => {
                if let Some(e) = sync_failed {
                    self.recorder.metrics.write_errors.inc();
                    tracing::error!(path = %path.display(), error = %e,
                        "a sync of this segment failed: it reads now, but may not survive a machine crash");
                }
                tracing::info!(path = %path.display(), bytes = report.bytes, duration_ms = duration, "segment closed");
                self.recorder.closed(&open.name.stream, report);
            }
            Err(e) => {
                self.recorder.metrics.write_errors.inc();
                tracing::error!(stream = %self.stream, error = %e, "cannot close a segment");
            }
        }
    }
}
