//! What happens to a closed segment: uploaded (when a bucket is set), then told to the room
//! service; at least once, across crashes.
//!
//! A closed segment has an `.unreported` marker beside it, holding its report, until the room
//! service confirms its `recorded` event. With S3, the upload comes first and is retried with
//! back-off (1 s doubling to 60 s) until S3 confirms it; then the marker's report is rewritten
//! in place with where the segment is kept (its one block is never given back, so this works
//! on a full disk), and only then is the local copy removed. At start every marker is taken
//! up where it was: a report not yet stored is uploaded (when a bucket is set) and told, a
//! stored one is told (and a local copy a crash left is removed).

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
    /// A segment of `stream` was closed (its marker holds `report`): counted, then delivered
    /// in the background.
    pub(super) fn closed(self: &Arc<Self>, stream: &str, report: SegmentReport) {
        self.metrics.segments.inc();
        let Some(dir) = self.config.dir.clone() else {
            return;
        };
        let recorder = self.clone();
        let stream = stream.to_owned();
        self.runtime
            .spawn(async move { recorder.deliver(dir, stream, report).await });
    }

    /// At start: a closed segment whose marker is still there, delivered from where it was.
    /// A marker without a report (from before markers held one) is measured from its file.
    pub(super) fn redeliver(self: &Arc<Self>, dir: &Path, marker: &Path) {
        let segment = marker.with_extension("");
        let relative = segment
            .strip_prefix(dir)
            .map(|p| p.to_string_lossy().replace(std::path::MAIN_SEPARATOR, "/"));
        let Some(name) = relative.ok().and_then(|r| SegmentName::parse(&r)) else {
            let _ = std::fs::remove_file(marker);
            return;
        };
        let report = file::read_marker(marker).or_else(|| {
            let (bytes, duration) = file::measure(&segment, name.format).ok()?;
            Some(name.report(bytes, duration))
        });
        match report {
            Some(report) => {
                tracing::warn!(path = %report.path, uploaded = report.stored.is_some(),
                    "delivering a segment the room service never confirmed");
                let recorder = self.clone();
                let dir = dir.to_owned();
                self.runtime
                    .spawn(async move { recorder.deliver(dir, name.stream, report).await });
            }
            None => {
                let _ = std::fs::remove_file(marker);
            }
        }
    }

    async fn deliver(self: Arc<Self>, dir: PathBuf, stream: String, mut report: SegmentReport) {
        if self.config.s3.is_some() && report.stored.is_none() {
            report.stored = Some(self.upload(&dir, &report).await);
        }
        self.tell(&dir, &stream, report).await;
    }

    /// Tells the room service; once it confirms (or with events off), the marker goes, and
    /// with it a local copy of an uploaded segment that a crash left.
    async fn tell(&self, dir: &Path, stream: &str, report: SegmentReport) {
        let segment = dir.join(&report.path);
        let uploaded = report.stored.is_some();
        let answer = self.events.recorded(stream, report);
        if !self.events.is_enabled() || answer.await == Ok(true) {
            let _ = tokio::task::spawn_blocking(move || {
                if uploaded {
                    let _ = std::fs::remove_file(&segment);
                }
                std::fs::remove_file(file::unreported(&segment))
            })
            .await;
        }
    }

    /// The bucket's client, when one is set (made on first use).
    pub(super) async fn bucket(&self) -> Option<&S3Store> {
        let config = self.config.s3.clone()?;
        Some(self.s3.get_or_init(|| S3Store::connect(config)).await)
    }

    /// Uploads the segment, retrying until S3 confirms it; then its marker's report says
    /// where it is kept and the local copy is removed. Where it is kept.
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
        let kept = tokio::task::spawn_blocking(move || {
            file::write_marker(&file::unreported(&segment), &told)?;
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
