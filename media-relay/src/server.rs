//! Starting a relay: its shared parts, every registered front end, the live report.

use std::sync::Arc;
use std::time::Duration;

use crate::config::RelayConfig;
use crate::fanout::Fanout;
use crate::front_ends::{self, Listening};
use crate::hub::{Hub, HubConfig};
use crate::metrics::Metrics;
use crate::record::Recorder;
use crate::relay::Relay;
use crate::stream_events::EventSink;

/// A running relay's shared parts.
pub struct RelayHandle {
    pub relay: Arc<Relay>,
}

impl RelayHandle {
    /// The relay's shared parts and its fan-out threads; with events configured, starts
    /// their sender (so call it inside a tokio runtime). Fails only if a thread cannot start.
    pub fn new(config: &RelayConfig) -> Result<Self, String> {
        let metrics = Arc::new(Metrics::default());
        let fanout = Fanout::start(config.fanout_threads, config.io_uring, metrics.clone())
            .map_err(|e| format!("cannot start the fan-out threads: {e}"))?;
        metrics.fanout_threads.add(fanout.threads() as i64);
        let events = Arc::new(match &config.events {
            Some((url, secret)) => EventSink::start(
                url.clone(),
                secret.clone(),
                config.relay_id.clone(),
                metrics.clone(),
            ),
            None => EventSink::disabled(metrics.clone()),
        });
        let recorder = Recorder::new(config.record.clone(), events.clone(), &metrics);
        Ok(Self {
            relay: Arc::new(Relay {
                hub: Hub::new(HubConfig {
                    gop_cache: config.gop_cache,
                    gop_cache_bytes: config.limits.gop_cache_bytes,
                    max_streams: config.max_streams,
                    takeover_after: config.limits.takeover_after,
                    ring: config.limits.ring_messages,
                }),
                push_key: config.push_key.clone(),
                play_key: config.play_key.clone(),
                metrics,
                stall_timeout: config.stall_timeout,
                max_connections: config.max_connections,
                limits: config.limits,
                events,
                recorder,
                fanout,
            }),
        })
    }
}

/// Starts every front end (RTMP, HTTP-FLV, SRT: see `front_ends`) in the background and the
/// live report; where each listens, or why one could not start.
pub async fn start(config: &RelayConfig) -> Result<(RelayHandle, Listening), String> {
    let handle = RelayHandle::new(config)?;
    // Segments a crash left open are closed before anything new is recorded.
    let recorder = handle.relay.recorder.clone();
    tokio::task::spawn_blocking(move || recorder.recover())
        .await
        .map_err(|e| format!("closing leftover recording segments failed: {e}"))?;
    let listening = front_ends::start_all(&handle.relay, &config.front_ends).await?;
    if handle.relay.events.is_enabled() {
        tokio::spawn(report_live(
            handle.relay.clone(),
            config.live_report_interval,
        ));
    }
    Ok((handle, listening))
}

/// Lists the published streams to the room service every `interval`, for as long as the
/// relay runs (the room service keeps their members present only while these keep coming).
async fn report_live(relay: Arc<Relay>, interval: Duration) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let streams = relay.hub.publishing();
        if !streams.is_empty() {
            relay.events.report_live(streams);
        }
    }
}
