//! rtcroom's media relay: RTMP publish and play with Tencent-style signed URLs, verified
//! in-process, and copy-free fan-out of each stream to its players.

pub mod client;
pub mod config;
pub mod http;
pub mod hub;
pub mod metrics;
pub mod player;
pub mod relay;
pub mod rtmp;
pub mod server;
pub mod stream_events;
#[cfg(feature = "testing")]
pub mod testing;
