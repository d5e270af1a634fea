//! rtcroom's media relay: RTMP, HTTP-FLV and SRT with Tencent-style signed URLs, verified
//! in-process, and copy-free fan-out of each stream to its players whatever their protocol.

pub mod client;
pub mod config;
pub mod fanout;
pub mod flv;
pub mod front_ends;
pub mod hub;
pub mod media;
pub mod metrics;
pub mod player;
pub mod protocol;
pub mod record;
pub mod relay;
pub mod rtmp;
pub mod server;
pub mod settings;
pub mod srt;
pub mod stream_events;
#[cfg(feature = "testing")]
pub mod testing;
