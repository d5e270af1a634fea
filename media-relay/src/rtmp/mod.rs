//! The RTMP front end: handshake, chunk stream, AMF0 commands, and a connection's session;
//! the listener takes one task per connection, at most `RTCROOM_RELAY_MAX_CONNECTIONS` at
//! once (beyond that a new connection is closed at once and counted).

pub mod amf0;
pub mod chunk;
pub mod handshake;
pub mod session;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::media::{Frame, Framed, Media, TYPE_AUDIO, TYPE_VIDEO};
use crate::player::Wire;
use crate::protocol::FrontEnd;
use crate::relay::Relay;
use crate::settings::{ConfigError, listen_address};
use chunk::Framing;

/// Chunk stream ids the relay sends media on (one per kind, as nginx-rtmp and ffmpeg do).
const CSID_DATA: u32 = 5;
const CSID_AUDIO: u32 = 6;
const CSID_VIDEO: u32 = 7;
/// The message stream every player's `createStream` gets.
pub const PLAY_STREAM_ID: u32 = 1;

pub struct Rtmp;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtmpConfig {
    /// `RTCROOM_RELAY_RTMP_LISTEN` (default `127.0.0.1:1935`).
    pub listen: SocketAddr,
}

impl FrontEnd for Rtmp {
    const NAME: &'static str = "rtmp";
    type Config = RtmpConfig;

    fn configure(get: &dyn Fn(&str) -> Option<String>) -> Result<RtmpConfig, ConfigError> {
        let default = SocketAddr::from(([127, 0, 0, 1], 1935));
        let listen = listen_address(get, "RTCROOM_RELAY_RTMP_LISTEN", default, false)?;
        Ok(RtmpConfig {
            listen: listen.unwrap_or(default),
        })
    }

    async fn start(relay: Arc<Relay>, config: &RtmpConfig) -> Result<Option<SocketAddr>, String> {
        let listener = TcpListener::bind(config.listen).await.map_err(|e| {
            format!(
                "RTMP cannot listen on {} (RTCROOM_RELAY_RTMP_LISTEN): {e}",
                config.listen
            )
        })?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        tokio::spawn(serve(listener, relay));
        Ok(Some(addr))
    }

    /// The chunk headers of a media message (fmt 0 first, fmt 3 for each further chunk).
    fn frame(media: &Media) -> Framed {
        let csid = match media.type_id {
            TYPE_AUDIO => CSID_AUDIO,
            TYPE_VIDEO => CSID_VIDEO,
            _ => CSID_DATA,
        };
        Framing::headers(
            csid,
            media.timestamp,
            media.type_id,
            PLAY_STREAM_ID,
            media.payload.len(),
        )
    }
}

/// How a player's messages go on the wire: chunks at the relay's chunk size; `end` is what
/// to send when the publisher stops, `idle` when nobody published within the idle time.
pub struct RtmpWire {
    pub framing: Framing,
    /// StreamBegin and `NetStream.Play.Reset`/`Start`: sent by the fan-out once the player
    /// is subscribed, so nothing published after the client hears `Play.Start` misses it.
    pub preamble: Bytes,
    pub end: Bytes,
    pub idle: Bytes,
}

impl Wire for RtmpWire {
    fn class(&self) -> (u8, u32) {
        (1, self.framing.chunk_size as u32)
    }

    fn preamble(&self, _start: &[Frame]) -> Option<Bytes> {
        Some(self.preamble.clone())
    }

    fn pieces(&self, frame: &Frame, out: &mut Vec<Bytes>) {
        self.framing
            .pieces(frame.framed::<Rtmp>(), &frame.payload, out);
    }

    fn end(&self) -> Option<&Bytes> {
        Some(&self.end)
    }

    fn idle(&self) -> Option<&Bytes> {
        Some(&self.idle)
    }
}

/// Accepts RTMP connections until the listener fails.
pub async fn serve(listener: TcpListener, relay: Arc<Relay>) {
    let slots = Arc::new(Semaphore::new(relay.max_connections));
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
