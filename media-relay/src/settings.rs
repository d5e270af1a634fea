//! What the core and every front end read settings with: the error naming a variable, the
//! per-connection limits, and the parsers of a listen address and a positive number. A leaf
//! module, so that front ends parse their own settings without depending on `config`, which
//! gathers them all.

use std::net::SocketAddr;
use std::time::Duration;

/// What one connection may hold and how long it may idle (each `RTCROOM_RELAY_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// `_SETUP_BUFFER_BYTES` (default 128 KiB): unfinished messages and unread bytes a
    /// connection may hold before its `publish` is authorised (and always, for a player).
    pub setup_buffer_bytes: usize,
    /// `_PUBLISH_BUFFER_BYTES` (default 24 MiB): the same for an authorised publisher (two
    /// largest messages interleaved, and a chunk).
    pub publish_buffer_bytes: usize,
    /// `_MAX_BUFFERED_BYTES` (default 512 MiB): the same over every connection of the relay.
    pub max_buffered_bytes: usize,
    /// `_IDLE_PLAYER_SECS` (default 30): a player of a stream nobody publishes waits this
    /// long, then is told and closed, releasing its stream slot.
    pub idle_player: Duration,
    /// `_PUBLISH_TIMEOUT_SECS` (default 10): a publisher that sends nothing this long is
    /// dropped.
    pub publish_timeout: Duration,
    /// `_TAKEOVER_SECS` (default 3): a publisher silent this long gives way to a new publish
    /// of its stream with a valid signature (a phone that changed networks).
    pub takeover_after: Duration,
    /// `_GOP_CACHE_BYTES` (default 16 MiB): a stream's GOP cache is dropped beyond this (new
    /// players then start at the next keyframe).
    pub gop_cache_bytes: usize,
    /// `_RING_MESSAGES` (default 1,024): messages a player may fall behind (its socket full)
    /// before it skips video to the next keyframe; also the GOP cache's length.
    pub ring_messages: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            setup_buffer_bytes: 128 << 10,
            publish_buffer_bytes: 24 << 20,
            max_buffered_bytes: 512 << 20,
            idle_player: Duration::from_secs(30),
            publish_timeout: Duration::from_secs(10),
            takeover_after: Duration::from_secs(3),
            gop_cache_bytes: 16 << 20,
            ring_messages: 1024,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{var}: {problem}")]
pub struct ConfigError {
    pub var: &'static str,
    pub problem: String,
}

/// A listen address from `var` (`default` when unset); `None` for `off` when `may_be_off`.
pub fn listen_address(
    get: &dyn Fn(&str) -> Option<String>,
    var: &'static str,
    default: SocketAddr,
    may_be_off: bool,
) -> Result<Option<SocketAddr>, ConfigError> {
    match get(var).as_deref() {
        None | Some("") => Ok(Some(default)),
        Some("off") if may_be_off => Ok(None),
        Some(v) => v.parse().map(Some).map_err(|_| ConfigError {
            var,
            problem: if may_be_off {
                format!("an address like 0.0.0.0:{}, or off", default.port())
            } else {
                format!("an address like 0.0.0.0:{}", default.port())
            },
        }),
    }
}

/// A positive whole number from `var` (`default` when unset).
pub fn positive(
    get: &dyn Fn(&str) -> Option<String>,
    var: &'static str,
    default: usize,
) -> Result<usize, ConfigError> {
    match get(var) {
        None => Ok(default),
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or(ConfigError {
                var,
                problem: "a positive integer".into(),
            }),
    }
}
