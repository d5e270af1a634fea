//! Everything configurable, read once from the environment and validated at start. A bad value
//! stops the start with a message naming the variable.

use std::net::SocketAddr;
use std::time::Duration;

use crate::rooms::Limits;
use crate::store::StoreLimits;
use crate::urls::UrlSigner;

mod recording;
mod urls;

/// Where the configuration is used: the local gateway fills in development defaults (a random
/// key, dev mode on, URLs pointing at the in-process relay); the cloud functions require the
/// secrets and keep dev mode off unless told otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    LocalGateway,
    Cloud,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreKind {
    /// In memory, one process (the local gateway's default).
    Embedded,
    /// One DynamoDB table (the cloud functions' only store). `create_table` is for local use.
    DynamoDb { table: String, create_table: bool },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{var}: {message}")]
pub struct ConfigError {
    pub var: &'static str,
    pub message: String,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub sdkappid: u64,
    pub usersig_key: String,
    /// The key was made up at start because none was configured (local gateway only).
    pub usersig_key_generated: bool,
    /// `get_login_info` issues UserSigs for anyone.
    pub dev_mode: bool,
    pub token_ttl_secs: u64,
    pub urls: UrlSigner,
    pub limits: Limits,
    pub sweep_interval: Duration,
    pub store: StoreKind,
    pub max_body_bytes: usize,
    pub max_connections: usize,
    /// `RTCROOM_RELAY_EVENTS_SECRET`: the key the media relay signs its stream events with.
    /// Without it the relay_event endpoint is off (the local gateway makes one up and hands
    /// it to its in-process relay).
    pub relay_events_secret: Option<String>,
    /// `RTCROOM_ACCOUNT_TYPE`: the account type `get_login_info` answers as `accType`. The 2018
    /// clients hand it to their IM SDK, which refuses an empty one, so it is never empty.
    pub account_type: String,
    /// `RTCROOM_EVENTS_URL`: where clients open event WebSockets, when that is not the
    /// server's own `/ws` (the cloud's WebSocket API). `login` answers it as `eventsURL`.
    pub events_url: Option<String>,
    /// `RTCROOM_JOIN_WAIT_SECS`: how long a session connection's join waits for the user to
    /// become a member or viewer of the room (spec/events.md, EV-12).
    pub join_wait: Duration,
    /// What the embedded store may hold: `RTCROOM_MAX_ROOMS`, `RTCROOM_MAX_ROOMS_PER_USER`,
    /// `RTCROOM_MAX_EVENT_BYTES_PER_ROOM`, `RTCROOM_CLOSED_ROOM_KEEP_SECS`.
    pub store_limits: StoreLimits,
    /// What one request, connection or credential may take (the README's limits table).
    pub server_limits: ServerLimits,
    /// `RTCROOM_FUNCTION`: which function a Lambda instance runs (the cloud's one binary
    /// serves them all): an endpoint's name, or `relay_event`, `sweeper`, `ws_connect`,
    /// `ws_disconnect`, `ws_message`, `notifier`.
    pub function: Option<String>,
    /// `RTCROOM_WS_ENDPOINT`: the WebSocket API's Management API (`https://…`), where the
    /// cloud's `ws_message` and `notifier` post to connections.
    pub ws_endpoint: Option<String>,
    /// `RTCROOM_RELAY`: whether the local gateway runs the media relay in-process (default
    /// on; the relay reads its own `RTCROOM_RELAY_*` settings).
    pub local_relay: bool,
}

/// Bounds on what one request, connection or credential may take from the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerLimits {
    /// `RTCROOM_REQUEST_TIMEOUT_SECS`: a call's whole time, queueing for its room included;
    /// past it the caller gets code 100.
    pub request_timeout: Duration,
    /// `RTCROOM_WS_SEND_TIMEOUT_SECS`: how long a `/ws` client may leave a frame unread
    /// before its connection is dropped.
    pub ws_send_timeout: Duration,
    /// `RTCROOM_WS_MAX_PER_USER`: `/ws` connections one user may hold at once.
    pub ws_max_per_user: usize,
    /// `RTCROOM_MAX_CONNECTIONS_PER_IP`: HTTP connections one address may hold at once.
    pub max_connections_per_ip: usize,
    /// `RTCROOM_USERSIG_MAX_SKEW_SECS`: how far in the future a UserSig's `time` may be.
    pub usersig_max_skew_secs: u64,
    /// `RTCROOM_USERSIG_MAX_LIFETIME_SECS`: the longest `expire` a UserSig may carry.
    pub usersig_max_lifetime_secs: u64,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(4),
            ws_send_timeout: Duration::from_secs(10),
            ws_max_per_user: 8,
            max_connections_per_ip: 256,
            usersig_max_skew_secs: 300,
            usersig_max_lifetime_secs: 366 * 86_400,
        }
    }
}

impl Config {
    pub fn from_env(profile: Profile) -> Result<Self, ConfigError> {
        Self::from_lookup(profile, |name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(
        profile: Profile,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let env = Env(&lookup);
        let local = profile == Profile::LocalGateway;

        let listen = env
            .parse("RTCROOM_LISTEN", "an address like 127.0.0.1:5757")?
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 5757)));
        let sdkappid = match env.parse::<u64>("RTCROOM_SDKAPPID", "a positive integer")? {
            Some(0) => return Err(env.error("RTCROOM_SDKAPPID", "must be a positive integer")),
            Some(n) => n,
            None if local => 1_400_000_000,
            None => return Err(env.error("RTCROOM_SDKAPPID", "is required")),
        };
        let (usersig_key, usersig_key_generated) = match env.string("RTCROOM_USERSIG_KEY") {
            Some(k) if k.len() < 16 => {
                return Err(env.error("RTCROOM_USERSIG_KEY", "must be at least 16 characters"));
            }
            Some(k) => (k, false),
            None if local => (random_hex(32), true),
            None => return Err(env.error("RTCROOM_USERSIG_KEY", "is required")),
        };
        let dev_mode = env.flag("RTCROOM_DEV_MODE")?.unwrap_or(local);
        let urls = urls::url_signer(&env, local)?;

        let timeout = env.secs("RTCROOM_HEARTBEAT_TIMEOUT_SECS", 20)?;
        let mut limits = Limits {
            audience_ttl_ms: env.secs("RTCROOM_AUDIENCE_TTL_SECS", 7_200)? * 1000,
            ..Limits::default()
        };
        for (i, (timeout_var, members_var)) in [
            (
                "RTCROOM_DOUBLE_ROOM_HEARTBEAT_TIMEOUT_SECS",
                "RTCROOM_DOUBLE_ROOM_MAX_MEMBERS",
            ),
            (
                "RTCROOM_MULTI_ROOM_HEARTBEAT_TIMEOUT_SECS",
                "RTCROOM_MULTI_ROOM_MAX_MEMBERS",
            ),
            (
                "RTCROOM_LIVE_ROOM_HEARTBEAT_TIMEOUT_SECS",
                "RTCROOM_LIVE_ROOM_MAX_MEMBERS",
            ),
        ]
        .into_iter()
        .enumerate()
        {
            limits.heartbeat_timeout_ms[i] = env.secs(timeout_var, timeout)? * 1000;
            limits.max_members[i] = env.bounded(members_var, limits.max_members[i], 1, 1000)?;
        }
        limits.max_audiences = env.bounded("RTCROOM_LIVE_ROOM_MAX_AUDIENCES", 30, 0, 100_000)?;
        recording::read(&env, &mut limits, &urls)?;

        let create_table = env.flag("RTCROOM_CREATE_TABLE")?.unwrap_or(false);
        let store = match env.string("RTCROOM_STORE").as_deref() {
            None if local => StoreKind::Embedded,
            Some("embedded") if local => StoreKind::Embedded,
            Some("embedded") => {
                return Err(env.error(
                    "RTCROOM_STORE",
                    "embedded gives every function instance rooms of its own; use dynamodb",
                ));
            }
            None | Some("dynamodb") => {
                if create_table && !local {
                    return Err(env.error(
                        "RTCROOM_CREATE_TABLE",
                        "is for local use; the deployment (template.yaml) owns the table",
                    ));
                }
                let table = match env.string("RTCROOM_TABLE") {
                    Some(t) => t,
                    None if local => "rtcroom".to_owned(),
                    None => return Err(env.error("RTCROOM_TABLE", "is required")),
                };
                StoreKind::DynamoDb {
                    table,
                    create_table,
                }
            }
            Some(other) => {
                return Err(env.error(
                    "RTCROOM_STORE",
                    &format!("unknown store {other:?} (embedded or dynamodb)"),
                ));
            }
        };

        let relay_events_secret = match env.string("RTCROOM_RELAY_EVENTS_SECRET") {
            Some(s) if s.len() < 16 => {
                return Err(env.error(
                    "RTCROOM_RELAY_EVENTS_SECRET",
                    "must be at least 16 characters",
                ));
            }
            Some(s) => Some(s),
            None if local => Some(random_hex(32)),
            None => None,
        };

        let account_type = match env.string("RTCROOM_ACCOUNT_TYPE") {
            Some(t) if t.len() > 32 || t.chars().any(char::is_control) => {
                return Err(env.error(
                    "RTCROOM_ACCOUNT_TYPE",
                    "must be at most 32 characters without control characters",
                ));
            }
            Some(t) => t,
            None => DEFAULT_ACCOUNT_TYPE.to_owned(),
        };
        let events_url = match env.string("RTCROOM_EVENTS_URL") {
            Some(u) if !(u.starts_with("ws://") || u.starts_with("wss://")) => {
                return Err(env.error("RTCROOM_EVENTS_URL", "must start with ws:// or wss://"));
            }
            other => other,
        };
        let ws_endpoint = match env.string("RTCROOM_WS_ENDPOINT") {
            Some(u) if !u.starts_with("https://") && !u.starts_with("http://") => {
                return Err(env.error(
                    "RTCROOM_WS_ENDPOINT",
                    "must start with https:// (http:// for a local stand-in)",
                ));
            }
            other => other,
        };
        let join_wait_secs = env.bounded("RTCROOM_JOIN_WAIT_SECS", 30, 1, 600)?;
        let d = StoreLimits::default();
        let store_limits = StoreLimits {
            max_rooms: env.bounded("RTCROOM_MAX_ROOMS", d.max_rooms as u32, 1, 100_000_000)?
                as usize,
            max_rooms_per_user: env.bounded(
                "RTCROOM_MAX_ROOMS_PER_USER",
                d.max_rooms_per_user as u32,
                1,
                100_000,
            )? as usize,
            max_event_bytes_per_room: env.bounded(
                "RTCROOM_MAX_EVENT_BYTES_PER_ROOM",
                d.max_event_bytes_per_room as u32,
                16 * 1024,
                1 << 30,
            )? as usize,
            closed_room_keep_ms: env.secs(
                "RTCROOM_CLOSED_ROOM_KEEP_SECS",
                d.closed_room_keep_ms / 1000,
            )? * 1000,
            max_revoked_users: env.bounded(
                "RTCROOM_MAX_REVOKED_USERS",
                d.max_revoked_users as u32,
                1,
                100_000_000,
            )? as usize,
        };

        let d = ServerLimits::default();
        let server_limits = ServerLimits {
            request_timeout: Duration::from_secs(u64::from(env.bounded(
                "RTCROOM_REQUEST_TIMEOUT_SECS",
                d.request_timeout.as_secs() as u32,
                1,
                600,
            )?)),
            ws_send_timeout: Duration::from_secs(u64::from(env.bounded(
                "RTCROOM_WS_SEND_TIMEOUT_SECS",
                d.ws_send_timeout.as_secs() as u32,
                1,
                300,
            )?)),
            ws_max_per_user: env.bounded(
                "RTCROOM_WS_MAX_PER_USER",
                d.ws_max_per_user as u32,
                1,
                10_000,
            )? as usize,
            max_connections_per_ip: env.bounded(
                "RTCROOM_MAX_CONNECTIONS_PER_IP",
                d.max_connections_per_ip as u32,
                1,
                1_000_000,
            )? as usize,
            usersig_max_skew_secs: env
                .secs("RTCROOM_USERSIG_MAX_SKEW_SECS", d.usersig_max_skew_secs)?,
            usersig_max_lifetime_secs: env.secs(
                "RTCROOM_USERSIG_MAX_LIFETIME_SECS",
                d.usersig_max_lifetime_secs,
            )?,
        };

        Ok(Self {
            listen,
            sdkappid,
            usersig_key,
            usersig_key_generated,
            dev_mode,
            token_ttl_secs: env.secs("RTCROOM_TOKEN_TTL_SECS", 86_400)?,
            urls,
            limits,
            sweep_interval: Duration::from_secs(env.secs("RTCROOM_SWEEP_INTERVAL_SECS", 5)?),
            store,
            max_body_bytes: env.bounded("RTCROOM_MAX_BODY_BYTES", 65_536, 1024, 16 << 20)? as usize,
            max_connections: env.bounded("RTCROOM_MAX_CONNECTIONS", 10_000, 1, 1_000_000)? as usize,
            relay_events_secret,
            account_type,
            events_url,
            join_wait: Duration::from_secs(u64::from(join_wait_secs)),
            store_limits,
            server_limits,
            function: env.string("RTCROOM_FUNCTION"),
            ws_endpoint,
            local_relay: local && env.flag("RTCROOM_RELAY")?.unwrap_or(true),
        })
    }
}

/// The `accType` answered when `RTCROOM_ACCOUNT_TYPE` is not set: any non-empty value works
/// for our own event channel; a deployment that keeps Tencent IM sets its real one.
pub const DEFAULT_ACCOUNT_TYPE: &str = "1";

struct Env<'a>(&'a dyn Fn(&str) -> Option<String>);

impl Env<'_> {
    fn string(&self, var: &str) -> Option<String> {
        (self.0)(var)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    fn error(&self, var: &'static str, message: &str) -> ConfigError {
        ConfigError {
            var,
            message: message.to_owned(),
        }
    }

    fn parse<T: std::str::FromStr>(
        &self,
        var: &'static str,
        what: &str,
    ) -> Result<Option<T>, ConfigError> {
        self.string(var)
            .map(|v| {
                v.parse()
                    .map_err(|_| self.error(var, &format!("{v:?} is not {what}")))
            })
            .transpose()
    }

    /// A positive number of seconds.
    fn secs(&self, var: &'static str, default: u64) -> Result<u64, ConfigError> {
        match self.parse::<u64>(var, "a number of seconds")? {
            Some(0) => Err(self.error(var, "must be at least 1 second")),
            Some(n) if n > 10 * 365 * 86_400 => Err(self.error(var, "is implausibly large")),
            Some(n) => Ok(n),
            None => Ok(default),
        }
    }

    fn bounded(
        &self,
        var: &'static str,
        default: u32,
        min: u32,
        max: u32,
    ) -> Result<u32, ConfigError> {
        match self.parse::<u32>(var, "a whole number")? {
            Some(n) if n < min || n > max => {
                Err(self.error(var, &format!("must be between {min} and {max}")))
            }
            Some(n) => Ok(n),
            None => Ok(default),
        }
    }

    fn flag(&self, var: &'static str) -> Result<Option<bool>, ConfigError> {
        match self.string(var).as_deref() {
            None => Ok(None),
            Some("1" | "true" | "on" | "yes") => Ok(Some(true)),
            Some("0" | "false" | "off" | "no") => Ok(Some(false)),
            Some(v) => Err(self.error(var, &format!("{v:?} is not 0/1"))),
        }
    }
}

fn random_hex(bytes: usize) -> String {
    (0..bytes)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    pub(super) fn config(profile: Profile, vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(profile, |k| map.get(k).cloned())
    }

    #[test]
    fn local_gateway_starts_with_no_configuration() {
        let c = config(Profile::LocalGateway, &[]).unwrap();
        assert!(c.dev_mode && c.usersig_key_generated);
        assert_eq!(c.listen.to_string(), "127.0.0.1:5757");
        assert_eq!(c.limits.max_members, [2, 4, 4]);
        assert_eq!(c.limits.heartbeat_timeout_ms, [20_000; 3]);
        assert_eq!(c.urls.push_host, "127.0.0.1:1935");
        assert_eq!(c.account_type, "1", "a non-empty accType by default");
        assert_eq!(c.events_url, None);
        assert_eq!(c.join_wait, Duration::from_secs(30));
    }

    #[test]
    fn cloud_requires_its_secrets_and_keeps_dev_mode_off() {
        let err = config(Profile::Cloud, &[]).unwrap_err();
        assert_eq!(err.var, "RTCROOM_SDKAPPID");
        let c = config(
            Profile::Cloud,
            &[
                ("RTCROOM_SDKAPPID", "1400"),
                ("RTCROOM_USERSIG_KEY", "0123456789abcdef0123"),
                ("RTCROOM_PUSH_KEY", "k"),
                ("RTCROOM_BIZID", "8888"),
                ("RTCROOM_TABLE", "rooms"),
            ],
        )
        .unwrap();
        assert!(!c.dev_mode);
        assert_eq!(
            c.store,
            StoreKind::DynamoDb {
                table: "rooms".into(),
                create_table: false
            }
        );
        assert_eq!(c.urls.push_host, "8888.livepush.myqcloud.com");
        assert_eq!(c.urls.flv_base, "https://8888.liveplay.myqcloud.com");
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (var, value) in [
            ("RTCROOM_LISTEN", "nowhere"),
            ("RTCROOM_MULTI_ROOM_MAX_MEMBERS", "0"),
            ("RTCROOM_HEARTBEAT_TIMEOUT_SECS", "soon"),
            ("RTCROOM_DEV_MODE", "maybe"),
            ("RTCROOM_STORE", "postgres"),
            ("RTCROOM_USERSIG_KEY", "short"),
            ("RTCROOM_CREATE_TABLE", "perhaps"),
            ("RTCROOM_EVENTS_URL", "http://example.com/ws"),
            ("RTCROOM_JOIN_WAIT_SECS", "0"),
            ("RTCROOM_ACCOUNT_TYPE", "a\nb"),
        ] {
            let err = config(Profile::LocalGateway, &[(var, value)]).unwrap_err();
            assert_eq!(err.var, var, "{err}");
        }
    }

    #[test]
    fn cloud_functions_refuse_the_embedded_store_and_table_creation() {
        let base = [
            ("RTCROOM_SDKAPPID", "1400"),
            ("RTCROOM_USERSIG_KEY", "0123456789abcdef0123"),
            ("RTCROOM_PUSH_KEY", "k"),
            ("RTCROOM_BIZID", "8888"),
            ("RTCROOM_TABLE", "rooms"),
        ];
        let with = |extra: (&'static str, &'static str)| {
            let mut vars = base.to_vec();
            vars.push(extra);
            config(Profile::Cloud, &vars)
        };
        assert_eq!(
            with(("RTCROOM_STORE", "embedded")).unwrap_err().var,
            "RTCROOM_STORE"
        );
        assert_eq!(
            with(("RTCROOM_CREATE_TABLE", "1")).unwrap_err().var,
            "RTCROOM_CREATE_TABLE"
        );
        let local = config(
            Profile::LocalGateway,
            &[("RTCROOM_STORE", "dynamodb"), ("RTCROOM_CREATE_TABLE", "1")],
        )
        .unwrap();
        assert_eq!(
            local.store,
            StoreKind::DynamoDb {
                table: "rtcroom".into(),
                create_table: true
            }
        );
    }

    #[test]
    fn per_type_timeout_overrides_the_shared_one() {
        let c = config(
            Profile::LocalGateway,
            &[
                ("RTCROOM_HEARTBEAT_TIMEOUT_SECS", "30"),
                ("RTCROOM_LIVE_ROOM_HEARTBEAT_TIMEOUT_SECS", "60"),
            ],
        )
        .unwrap();
        assert_eq!(c.limits.heartbeat_timeout_ms, [30_000, 30_000, 60_000]);
    }
}
