//! What happens to a closed segment: uploaded (when a bucket is set), then told to the room
//! service; at least once, across crashes.
//!
//! A closed segment carries an `.unreported` marker until the room service confirms its
//! `recorded` event. With S3, the upload comes first and is retried with back-off (1 s
//! doubling to 60 s) until S3 confirms it; then the segment's report, with where it is kept,
//! is written into the marker, and only then is the local copy removed. At start every
//! marker is delivered again: one that holds a report is told as it says, an empty one is
//! measured from its file (and uploaded first).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rtcroom_shared::stream_events::SegmentReport;

use super::Recorder;
use super::file::{self, SegmentName};
use super::s3::S3Store;

/// The longest wait between two upload attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

impl Recorder {
    /// A segment was closed: counted, then delivered in the background.
    pub(super) fn closed(self: &Arc<Self>, name: &SegmentName, bytes: u64, duration_ms: u64) {
        self.metrics.segments.inc();
        let Some(dir) = self.config.dir.clone() else {
            return;
        };
        let report = SegmentReport {
            path: name.relative(),
            room_type: name.room_type,
            room_id: name.room_id.clone(),
            user_id: name.user_id.clone(),
            index: name.index,
            start: name.start_ms,
            duration: duration_ms,
            bytes,
            format: name.format.token().to_owned(),
            stored: None,
        };
        let recorder = self.clone();
        let stream = name.stream.clone();
        tokio::spawn(async move { recorder.deliver(dir, stream, report).await });
    }

    /// At start: a closed segment whose marker is still there. A marker with a report was
    /// uploaded already (its local copy may be gone): told again as it says; an empty one is
    /// measured from its file and delivered like a segment just closed.
    pub(super) fn redeliver(self: &Arc<Self>, dir: &Path, marker: &Path) {
        let told = std::fs::read(marker)
            .ok()
            .and_then(|b| serde_json::from_slice::<SegmentReport>(&b).ok());
        if let Some(report) = told
            && let Some(name) = SegmentName::parse(&report.path)
        {
            tracing::warn!(path = %report.path, "telling the room service of an uploaded segment it never confirmed");
            let recorder = self.clone();
            let dir = dir.to_owned();
            tokio::spawn(async move { recorder.tell(&dir, &name.stream, report).await });
            return;
        }
        let segment = marker.with_extension("");
        let relative = segment
            .strip_prefix(dir)
            .map(|p| p.to_string_lossy().replace(std::path::MAIN_SEPARATOR, "/"));
        let name = relative.ok().and_then(|r| SegmentName::parse(&r));
        match name.map(|n| (file::measure(&segment, n.format), n)) {
            Some((Ok((bytes, duration)), name)) => {
                tracing::warn!(path = %segment.display(), "delivering a segment the room service never confirmed");
                self.closed(&name, bytes, duration);
            }
            _ => {
                let _ = std::fs::remove_file(marker);
            }
        }
    }

    async fn deliver(self: Arc<Self>, dir: PathBuf, stream: String, mut report: SegmentReport) {
        if self.config.s3.is_some() {
            report.stored = Some(self.upload(&dir, &report).await);
        }
        self.tell(&dir, &stream, report).await;
    }

    /// Tells the room service; once it confirms (or with events off), the marker goes.
    async fn tell(&self, dir: &Path, stream: &str, report: SegmentReport) {
        let marker = file::unreported(&dir.join(&report.path));
        let answer = self.events.recorded(stream, report);
        if !self.events.is_enabled() || answer.await == Ok(true) {
            let _ = tokio::task::spawn_blocking(move || std::fs::remove_file(marker)).await;
        }
    }

    /// The bucket's client, when one is set (made on first use).
    pub(super) async fn bucket(&self) -> Option<&S3Store> {
        let config = self.config.s3.clone()?;
        Some(self.s3.get_or_init(|| S3Store::connect(config)).await)
    }

    /// Uploads the segment, retrying until S3 confirms it; then its report (with where it is
    /// kept) goes into its marker and the local copy is removed. Where it is kept.
    async fn upload(&self, dir: &Path, report: &SegmentReport) -> String {
        let s3 = self.bucket().await.expect("called with a bucket set");
        let segment = dir.join(&report.path);
        let format = SegmentName::parse(&report.path).map(|n| n.format);
        self.metrics.uploads_pending.inc();
        let mut backoff = Duration::from_secs(1);
        loop {
            let attempt = match format {
                Some(format) => {
                    let _slot = self.upload_slots.acquire().await;
                    s3.upload(&segment, &report.path, format).await
                }
                None => Err("not a segment's name".to_owned()),
            };
            match attempt {
                Ok(()) => break,
                Err(e) => {
                    self.metrics.upload_failures.inc();
                    tracing::warn!(path = %report.path, error = %e, retry_in_secs = backoff.as_secs(),
                        "segment upload failed; the local file stays");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
        self.metrics.uploads_pending.dec();
        self.metrics.uploads.inc();
        let stored = s3.location(&report.path);
        let told = SegmentReport {
            stored: Some(stored.clone()),
            ..report.clone()
        };
        let marker = file::unreported(&segment);
        let kept = tokio::task::spawn_blocking(move || {
            std::fs::write(
                &marker,
                serde_json::to_vec(&told).expect("a report serialises"),
            )?;
            std::fs::File::open(&marker)?.sync_all()?;
            std::fs::remove_file(&segment)
        })
        .await;
        if let Ok(Err(e)) | Err(e) = kept.map_err(std::io::Error::other) {
            tracing::error!(path = %report.path, error = %e, "uploaded, but the local copy could not be removed");
        }
        tracing::info!(path = %report.path, %stored, "segment uploaded");
        stored
    }
}
