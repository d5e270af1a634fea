//! The relay's configuration, from `RTCROOM_*` environment variables; a bad value stops the
//! start with a message naming the variable.

use std::time::Duration;

use crate::front_ends::Configs;
use crate::record::RecordConfig;
use crate::settings::positive;
pub use crate::settings::{ConfigError, Limits};

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
    /// `RTCROOM_RELAY_FANOUT_THREADS` (default: the cores the relay may run on): threads
    /// writing to RTMP and HTTP-FLV players, each with its share of every stream's players.
    pub fanout_threads: usize,
    /// `RTCROOM_RELAY_IO_URING` (default on): the fan-out sends through io_uring where the
    /// kernel allows it (`writev` otherwise, or when off).
    pub io_uring: bool,
    /// Memory and time bounds on one connection and on the relay.
    pub limits: Limits,
    /// Recording (`RTCROOM_RECORD_*`).
    pub record: RecordConfig,
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
        let switch = |var: &'static str| match get(var).as_deref() {
            None | Some("on" | "1" | "true") => Ok(true),
            Some("off" | "0" | "false") => Ok(false),
            Some(_) => Err(err(var, "on or off")),
        };
        let gop_cache = switch("RTCROOM_RELAY_GOP_CACHE")?;
        let io_uring = switch("RTCROOM_RELAY_IO_URING")?;
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
            io_uring,
            fanout_threads: number(
                "RTCROOM_RELAY_FANOUT_THREADS",
                crate::fanout::default_threads(),
            )?,
            record: RecordConfig::from_lookup(&get)?,
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
                    ring_messages: number("RTCROOM_RELAY_RING_MESSAGES", d.ring_messages)?,
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
