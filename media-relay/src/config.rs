//! The relay's configuration, from `RTCROOM_*` environment variables; a bad value stops the
//! start with a message naming the variable.

use std::net::SocketAddr;
use std::time::Duration;

use crate::front_ends::Configs;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayConfig {
    /// Each front end's own settings (its listen address, ...): `rtmp/`, `flv/`, `srt/`.
    pub front_ends: Configs,
    /// `RTCROOM_PUSH_KEY`: the key push URLs are signed with (required).
    pub push_key: String,
    /// `RTCROOM_PLAY_KEY` (default: the push key): the key play URLs are signed with. Set it
    /// apart from the push key, as the room service's, so that a play URL cannot publish.
    pub play_key: String,
    /// `RTCROOM_RELAY_GOP_CACHE` (default on): new players start at the last keyframe.
    pub gop_cache: bool,
    /// `RTCROOM_RELAY_MAX_CONNECTIONS` (default 10,000).
    pub max_connections: usize,
    /// `RTCROOM_RELAY_MAX_STREAMS` (default 1,000).
    pub max_streams: usize,
    /// `RTCROOM_RELAY_STALL_TIMEOUT_SECS` (default 10): a player whose socket takes nothing
    /// for this long is dropped.
    pub stall_timeout: Duration,
    /// `RTCROOM_RELAY_EVENTS_URL` + `RTCROOM_RELAY_EVENTS_SECRET`: where stream events go and
    /// the key they are signed with (no events without a URL).
    pub events: Option<(String, String)>,
    /// `RTCROOM_RELAY_ID` (default `relay`): names this relay in its events.
    pub relay_id: String,
    /// `RTCROOM_RELAY_LIVE_REPORT_SECS` (default 5): how often the `live` event lists the
    /// streams being published. Keep it well below the room service's heartbeat timeout.
    pub live_report_interval: Duration,
    /// Memory and time bounds on one connection and on the relay.
    pub limits: Limits,
}

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

impl RelayConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let err = |var: &'static str, problem: &str| ConfigError {
            var,
            problem: problem.into(),
        };
        let front_ends = Configs::from_lookup(&get)?;
        let push_key = get("RTCROOM_PUSH_KEY")
            .filter(|k| !k.is_empty())
            .ok_or_else(|| err("RTCROOM_PUSH_KEY", "is required"))?;
        let play_key = get("RTCROOM_PLAY_KEY")
            .filter(|k| !k.is_empty())
            .unwrap_or_else(|| push_key.clone());
        let gop_cache = match get("RTCROOM_RELAY_GOP_CACHE").as_deref() {
            None | Some("on" | "1" | "true") => true,
            Some("off" | "0" | "false") => false,
            Some(_) => return Err(err("RTCROOM_RELAY_GOP_CACHE", "on or off")),
        };
        let number = |var: &'static str, default: usize| positive(&get, var, default);
        Ok(Self {
            front_ends,
            push_key,
            play_key,
            gop_cache,
            max_connections: number("RTCROOM_RELAY_MAX_CONNECTIONS", 10_000)?,
            max_streams: number("RTCROOM_RELAY_MAX_STREAMS", 1_000)?,
            stall_timeout: Duration::from_secs(
                number("RTCROOM_RELAY_STALL_TIMEOUT_SECS", 10)? as u64
            ),
            events: match get("RTCROOM_RELAY_EVENTS_URL").filter(|u| !u.is_empty()) {
                None => None,
                Some(url) if !(url.starts_with("http://") || url.starts_with("https://")) => {
                    return Err(err(
                        "RTCROOM_RELAY_EVENTS_URL",
                        "an http:// or https:// URL",
                    ));
                }
                Some(url) => {
                    let secret = get("RTCROOM_RELAY_EVENTS_SECRET")
                        .filter(|s| s.len() >= 16)
                        .ok_or_else(|| {
                            err(
                                "RTCROOM_RELAY_EVENTS_SECRET",
                                "required with RTCROOM_RELAY_EVENTS_URL, at least 16 characters",
                            )
                        })?;
                    Some((url, secret))
                }
            },
            relay_id: get("RTCROOM_RELAY_ID")
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "relay".into()),
            live_report_interval: Duration::from_secs(
                number("RTCROOM_RELAY_LIVE_REPORT_SECS", 5)? as u64
            ),
            limits: {
                let d = Limits::default();
                let secs =
                    |var: &'static str, default: Duration| -> Result<Duration, ConfigError> {
                        Ok(Duration::from_secs(
                            number(var, default.as_secs() as usize)? as u64,
                        ))
                    };
                Limits {
                    setup_buffer_bytes: number(
                        "RTCROOM_RELAY_SETUP_BUFFER_BYTES",
                        d.setup_buffer_bytes,
                    )?,
                    publish_buffer_bytes: number(
                        "RTCROOM_RELAY_PUBLISH_BUFFER_BYTES",
                        d.publish_buffer_bytes,
                    )?,
                    max_buffered_bytes: number(
                        "RTCROOM_RELAY_MAX_BUFFERED_BYTES",
                        d.max_buffered_bytes,
                    )?,
                    idle_player: secs("RTCROOM_RELAY_IDLE_PLAYER_SECS", d.idle_player)?,
                    publish_timeout: secs("RTCROOM_RELAY_PUBLISH_TIMEOUT_SECS", d.publish_timeout)?,
                    takeover_after: secs("RTCROOM_RELAY_TAKEOVER_SECS", d.takeover_after)?,
                    gop_cache_bytes: number("RTCROOM_RELAY_GOP_CACHE_BYTES", d.gop_cache_bytes)?,
                }
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_bad_values() {
        let c =
            RelayConfig::from_lookup(|k| (k == "RTCROOM_PUSH_KEY").then(|| "k".into())).unwrap();
        assert_eq!(c.front_ends.rtmp.listen.to_string(), "127.0.0.1:1935");
        assert_eq!(
            c.front_ends.srt.listen.map(|a| a.to_string()).as_deref(),
            Some("127.0.0.1:9000")
        );
        assert!(c.gop_cache);
        let missing = RelayConfig::from_lookup(|_| None).unwrap_err();
        assert_eq!(missing.var, "RTCROOM_PUSH_KEY");
        let bad = RelayConfig::from_lookup(|k| match k {
            "RTCROOM_PUSH_KEY" => Some("k".into()),
            "RTCROOM_RELAY_MAX_STREAMS" => Some("lots".into()),
            _ => None,
        })
        .unwrap_err();
        assert_eq!(bad.var, "RTCROOM_RELAY_MAX_STREAMS");
    }
}
