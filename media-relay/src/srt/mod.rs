//! The SRT front end: publish and play over SRT (UDP, live mode, MPEG-TS payload, AES
//! required), bridged with every other front end through the hub.
//!
//! ```text
//! caller                                         relay
//! handshake, streamid                        →   listen callback (libsrt's thread): parse the
//!   #!::r=live/S,m=publish|request,                stream id, check its signature (push key to
//!   txSecret=..,txTime=..                          publish, play key to play), a publish of a
//!                                                  stream already held, the connection limit;
//!                                                  refused with an SRT reject code (1400 bad
//!                                                  request, 1401 signature, 1402 limit, 1403
//!                                                  forbidden, 1409 taken), or the stream's
//!                                                  passphrase set for the key exchange
//! key material (AES, pbkeylen 16)            →   libsrt refuses a wrong or missing passphrase
//! accepted                                        the key length and encryption state are
//!                                                  checked before any media is read
//! m=publish: TS (H.264 + AAC)                →   demuxed to FLV tags, into the hub
//! m=request                                  ←   the stream as TS, muxed per connection
//! ```
//!
//! libsrt runs its own threads; each accepted connection gets one thread of ours doing
//! blocking reads (publisher) or blocking sends (player), at most
//! `RTCROOM_RELAY_SRT_MAX_CONNECTIONS` of them.

mod context;
pub mod ffi;
mod listener;
mod session;
pub mod socket;
mod stats;
pub mod ts;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::protocol::FrontEnd;
use crate::relay::Relay;
use crate::settings::{ConfigError, listen_address, positive};

pub struct Srt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SrtConfig {
    /// `RTCROOM_RELAY_SRT_LISTEN` (UDP; default `127.0.0.1:9000`; `off`: no SRT).
    pub listen: Option<SocketAddr>,
    /// `RTCROOM_RELAY_SRT_LATENCY_MS` (default 120, libsrt's): the least receive latency the
    /// relay asks for; a caller may ask for more (the larger wins), as lossy links should.
    pub latency: Duration,
    /// `RTCROOM_RELAY_SRT_MAX_CONNECTIONS` (default 256): SRT connections at once (each
    /// holds a thread); beyond it a caller is refused in the handshake (1402).
    pub max_connections: usize,
}

impl FrontEnd for Srt {
    const NAME: &'static str = "srt";
    type Config = SrtConfig;

    fn configure(get: &dyn Fn(&str) -> Option<String>) -> Result<SrtConfig, ConfigError> {
        let default = SocketAddr::from(([127, 0, 0, 1], 9000));
        Ok(SrtConfig {
            listen: listen_address(get, "RTCROOM_RELAY_SRT_LISTEN", default, true)?,
            latency: Duration::from_millis(
                positive(get, "RTCROOM_RELAY_SRT_LATENCY_MS", 120)? as u64
            ),
            max_connections: positive(get, "RTCROOM_RELAY_SRT_MAX_CONNECTIONS", 256)?,
        })
    }

    async fn start(relay: Arc<Relay>, config: &SrtConfig) -> Result<Option<SocketAddr>, String> {
        let Some(addr) = config.listen else {
            return Ok(None);
        };
        let api = ffi::api().map_err(|e| format!("SRT (RTCROOM_RELAY_SRT_LISTEN={addr}): {e}"))?;
        listener::start(api, relay, config, addr)
            .map(Some)
            .map_err(|e| format!("SRT cannot listen on {addr} (RTCROOM_RELAY_SRT_LISTEN): {e}"))
    }
}
