//! The RTMP listener: one task per connection, at most `max_connections` at once (beyond that
//! a new connection is closed at once and counted).

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::config::RelayConfig;
use crate::hub::{Hub, HubConfig};
use crate::metrics::Metrics;
use crate::relay::Relay;
use crate::rtmp::session;
use crate::stream_events::EventSink;

/// A running relay's shared parts.
pub struct RelayHandle {
    pub relay: Arc<Relay>,
}

impl RelayHandle {
    /// The relay's shared parts; with events configured, starts their sender (so call it
    /// inside a tokio runtime).
    pub fn new(config: &RelayConfig) -> Self {
        let metrics = Arc::new(Metrics::default());
        let events = match &config.events {
            Some((url, secret)) => EventSink::start(
                url.clone(),
                secret.clone(),
                config.relay_id.clone(),
                metrics.clone(),
            ),
            None => EventSink::disabled(metrics.clone()),
        };
        Self {
            relay: Arc::new(Relay {
                hub: Hub::new(HubConfig {
                    gop_cache: config.gop_cache,
                    gop_cache_bytes: config.limits.gop_cache_bytes,
                    max_streams: config.max_streams,
                    takeover_after: config.limits.takeover_after,
                }),
                push_key: config.push_key.clone(),
                play_key: config.play_key.clone(),
                metrics,
                stall_timeout: config.stall_timeout,
                limits: config.limits,
                events,
            }),
        }
    }
}

/// Binds the RTMP and HTTP ports and serves both in the background; the bound addresses.
pub async fn start(
    config: &RelayConfig,
) -> std::io::Result<(RelayHandle, std::net::SocketAddr, std::net::SocketAddr)> {
    let rtmp = TcpListener::bind(config.rtmp_listen).await?;
    let http = TcpListener::bind(config.http_listen).await?;
    let (rtmp_addr, http_addr) = (rtmp.local_addr()?, http.local_addr()?);
    let handle = RelayHandle::new(config);
    if handle.relay.events.is_enabled() {
        tokio::spawn(report_live(
            handle.relay.clone(),
            config.live_report_interval,
        ));
    }
    tokio::spawn(serve_rtmp(
        rtmp,
        handle.relay.clone(),
        config.max_connections,
    ));
    tokio::spawn(crate::http::serve_http(
        http,
        handle.relay.clone(),
        config.max_connections,
    ));
    Ok((handle, rtmp_addr, http_addr))
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

/// Accepts RTMP connections until the listener fails.
pub async fn serve_rtmp(listener: TcpListener, relay: Arc<Relay>, max_connections: usize) {
    let slots = Arc::new(Semaphore::new(max_connections));
    loop {
        let (socket, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            relay.metrics.connections_refused.inc();
            drop(socket);
            continue;
        };
        let relay = relay.clone();
        tokio::spawn(async move {
            relay.metrics.connections.inc();
            if let Err(e) = session::serve(relay.clone(), socket).await {
                relay.metrics.sessions_failed.inc();
                tracing::debug!(%peer, error = %e, "RTMP session ended");
            }
            relay.metrics.connections.dec();
            drop(permit);
        });
    }
}
