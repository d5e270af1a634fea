//! Stream events to the room service: `publish`, `unpublish`, `play`, `stop`, and the periodic
//! `live` list, POSTed as signed JSON (`rtcroom_shared::stream_events`) to
//! `RTCROOM_RELAY_EVENTS_URL`.
//!
//! Sessions hand events over with [`EventSink::emit`], which never waits: a bounded queue
//! (1,024 events) feeds one sender task, and when the room service is down long enough for the
//! queue to fill, further events are dropped and counted rather than slowing any stream. The
//! sender retries each event with exponential backoff (0.2 s doubling, 6 attempts, about 12 s)
//! and then gives up on it; a retry carries the same `seq`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rtcroom_shared::stream_events::{self, SegmentReport, StreamEvent, StreamEventKind};
use tokio::sync::{mpsc, oneshot};

use crate::metrics::Metrics;

const QUEUE: usize = 1024;
const ATTEMPTS: u32 = 6;
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Where events go; a disabled sink (no URL configured) drops them silently.
/// An event to deliver, and who wants to know whether it was (`recorded` events).
type Queued = (StreamEvent, Option<oneshot::Sender<bool>>);

pub struct EventSink {
    tx: Option<mpsc::Sender<Queued>>,
    relay_id: String,
    seq: AtomicU64,
    metrics: Arc<Metrics>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl EventSink {
    pub fn disabled(metrics: Arc<Metrics>) -> Self {
        Self {
            tx: None,
            relay_id: String::new(),
            seq: AtomicU64::new(0),
            metrics,
        }
    }

    /// Starts the sender task (call inside a tokio runtime).
    pub fn start(url: String, secret: String, relay_id: String, metrics: Arc<Metrics>) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(deliver(rx, url, secret, metrics.clone()));
        Self {
            tx: Some(tx),
            relay_id,
            seq: AtomicU64::new(0),
            metrics,
        }
    }

    pub fn is_enabled(&self) -> bool {
        self.tx.is_some()
    }

    pub fn emit(&self, event: StreamEventKind, stream: &str) {
        self.send(event, stream.to_owned(), Vec::new(), None, None);
    }

    /// A `recorded` event: a segment of `stream` was closed. The answer says whether the room
    /// service took it (`false`, or dropped: it was given up on, or events are off).
    pub fn recorded(&self, stream: &str, segment: SegmentReport) -> oneshot::Receiver<bool> {
        let (ack, answer) = oneshot::channel();
        self.send(
            StreamEventKind::Recorded,
            stream.to_owned(),
            Vec::new(),
            Some(segment),
            Some(ack),
        );
        answer
    }

    /// The `live` report: the streams published now, in events of at most
    /// [`stream_events::MAX_LIVE_STREAMS`].
    pub fn report_live(&self, mut streams: Vec<String>) {
        streams.sort_unstable();
        for chunk in streams.chunks(stream_events::MAX_LIVE_STREAMS) {
            self.send(
                StreamEventKind::Live,
                String::new(),
                chunk.to_vec(),
                None,
                None,
            );
        }
    }

    fn send(
        &self,
        event: StreamEventKind,
        stream: String,
        streams: Vec<String>,
        segment: Option<SegmentReport>,
        ack: Option<oneshot::Sender<bool>>,
    ) {
        let Some(tx) = &self.tx else { return };
        let event = StreamEvent {
            event,
            stream,
            streams,
            relay: self.relay_id.clone(),
            seq: self.seq.fetch_add(1, Ordering::Relaxed) + 1,
            at: now_ms(),
            segment,
        };
        if tx.try_send((event, ack)).is_err() {
            self.metrics.events_dropped.inc();
        }
    }
}

async fn deliver(
    mut rx: mpsc::Receiver<Queued>,
    url: String,
    secret: String,
    metrics: Arc<Metrics>,
) {
    let http = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .build()
        .expect("an HTTP client builds");
    while let Some((event, ack)) = rx.recv().await {
        let body = serde_json::to_vec(&event).expect("events serialise");
        let mut backoff = FIRST_BACKOFF;
        let mut delivered = false;
        for attempt in 1..=ATTEMPTS {
            let t = now_ms() / 1000;
            let sent = http
                .post(&url)
                .header("content-type", "application/json")
                .header(
                    stream_events::SIGNATURE_HEADER,
                    stream_events::sign(&secret, t, &body),
                )
                .body(body.clone())
                .send()
                .await;
            match sent {
                Ok(response) if response.status().is_success() => {
                    delivered = true;
                    break;
                }
                Ok(response) => {
                    tracing::warn!(status = %response.status(), attempt, seq = event.seq, "event refused")
                }
                Err(e) => {
                    tracing::warn!(error = %e, attempt, seq = event.seq, "event not delivered")
                }
            }
            if attempt < ATTEMPTS {
                tokio::time::sleep(backoff).await;
                backoff *= 2;
            }
        }
        if delivered {
            metrics.events_sent.inc();
        } else {
            metrics.events_failed.inc();
        }
        if let Some(ack) = ack {
            let _ = ack.send(delivered);
        }
    }
}
