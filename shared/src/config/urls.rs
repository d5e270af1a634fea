//! The URL settings: signing keys, bizid, where pushes and plays go (RTMP, HTTP-FLV, SRT) and
//! how long signatures last, read into one `UrlSigner`.

use std::net::{Ipv6Addr, SocketAddr};

use super::{ConfigError, Env, random_hex};
use crate::urls::UrlSigner;

/// The SRT port the cloud profile's default SRT host uses (Tencent's, and the relay's default).
const SRT_PORT: u16 = 9000;

pub(super) fn url_signer(env: &Env, local: bool) -> Result<UrlSigner, ConfigError> {
    let push_key = match env.string("RTCROOM_PUSH_KEY") {
        Some(k) => k,
        None if local => random_hex(16),
        None => return Err(env.error("RTCROOM_PUSH_KEY", "is required")),
    };
    // Play URLs get their own key, so that a play URL cannot publish. Locally the relay
    // is ours, so a separate one is made up; in the cloud the default stays the push key,
    // as Tencent's original deployments signed play URLs.
    let play_key = match env.string("RTCROOM_PLAY_KEY") {
        Some(k) => k,
        None if local => random_hex(16),
        None => push_key.clone(),
    };
    let bizid = match env.string("RTCROOM_BIZID") {
        Some(b) if !b.bytes().all(|c| c.is_ascii_alphanumeric()) => {
            return Err(env.error("RTCROOM_BIZID", "must be letters and digits"));
        }
        Some(b) => b,
        None if local => "8888".to_owned(),
        None => return Err(env.error("RTCROOM_BIZID", "is required")),
    };
    // Locally the URLs point at the in-process relay, wherever it listens (on every
    // interface: at this machine's loopback, on the same port).
    let relay_address = |var: &str, default: &str| match env.string(var) {
        None => default.to_owned(),
        Some(a) => match (a.strip_prefix("0.0.0.0:"), a.strip_prefix("[::]:")) {
            (Some(port), _) => format!("127.0.0.1:{port}"),
            (_, Some(port)) => format!("[::1]:{port}"),
            _ => a,
        },
    };
    let push_host = env.string("RTCROOM_PUSH_HOST").unwrap_or_else(|| {
        if local {
            relay_address("RTCROOM_RELAY_RTMP_LISTEN", "127.0.0.1:1935")
        } else {
            format!("{bizid}.livepush.myqcloud.com")
        }
    });
    let play_host = env.string("RTCROOM_PLAY_HOST").unwrap_or_else(|| {
        if local {
            relay_address("RTCROOM_RELAY_RTMP_LISTEN", "127.0.0.1:1935")
        } else {
            format!("{bizid}.liveplay.myqcloud.com")
        }
    });
    let flv_base = match env.string("RTCROOM_FLV_BASE") {
        Some(b) if !(b.starts_with("http://") || b.starts_with("https://")) => {
            return Err(env.error("RTCROOM_FLV_BASE", "must start with http:// or https://"));
        }
        Some(b) => b.trim_end_matches('/').to_owned(),
        None if local => format!(
            "http://{}",
            relay_address("RTCROOM_RELAY_HTTP_LISTEN", "127.0.0.1:8081")
        ),
        None => format!("https://{play_host}"),
    };
    // SRT (an rtcroom extension): locally the in-process relay's SRT listener; in the cloud
    // the push host on the SRT port when the push host is the operator's own relay (Tencent's
    // default domains would refuse rtcroom's stream ids and passphrases: no SRT addresses
    // then); `off` for no SRT addresses at all.
    let srt_host = match env.string("RTCROOM_SRT_HOST") {
        Some(h) if h.eq_ignore_ascii_case("off") => None,
        Some(h) if is_host_port(&h) => Some(h),
        Some(_) => {
            return Err(env.error(
                "RTCROOM_SRT_HOST",
                "must be host:port (e.g. srt.example.com:9000), or off",
            ));
        }
        // The relay reads the same variable: `off` there means no SRT listener, so no SRT here.
        None if local => match relay_address("RTCROOM_RELAY_SRT_LISTEN", "127.0.0.1:9000") {
            off if off.eq_ignore_ascii_case("off") => None,
            listen if listen.parse::<SocketAddr>().is_ok() => Some(listen),
            _ => {
                return Err(env.error(
                    "RTCROOM_RELAY_SRT_LISTEN",
                    "must be an address like 127.0.0.1:9000, or off",
                ));
            }
        },
        None if env.string("RTCROOM_PUSH_HOST").is_none() => None,
        None => {
            let host = format!("{}:{SRT_PORT}", host_part(&push_host));
            if !is_host_port(&host) {
                return Err(env.error(
                    "RTCROOM_SRT_HOST",
                    "has no default: RTCROOM_PUSH_HOST is not host[:port]; set host:port, or off",
                ));
            }
            Some(host)
        }
    };
    Ok(UrlSigner {
        push_key,
        play_key,
        bizid,
        push_host,
        play_host,
        flv_base,
        srt_host,
        ttl_secs: env.secs("RTCROOM_URL_TTL_SECS", 604_800)?,
    })
}

/// `host[:port]` without its port: `[::1]:1935` → `[::1]`, `push.example:1935` →
/// `push.example`, `push.example` as it is.
fn host_part(address: &str) -> &str {
    if address.starts_with('[') {
        return address.find(']').map_or(address, |end| &address[..=end]);
    }
    address.split_once(':').map_or(address, |(host, _)| host)
}

/// `host:port`: a DNS name or IPv4 address (letters, digits, `-`, `.`) or a bracketed IPv6
/// address, and a port from 1 to 65535.
fn is_host_port(address: &str) -> bool {
    let Some((host, port)) = address.rsplit_once(':') else {
        return false;
    };
    let port_ok = !port.is_empty()
        && port.bytes().all(|b| b.is_ascii_digit())
        && port.parse::<u16>().is_ok_and(|p| p > 0);
    let host_ok = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(v6) => v6.parse::<Ipv6Addr>().is_ok(),
        None => {
            !host.is_empty()
                && host.len() <= 253
                && host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
                && !host.starts_with(['-', '.'])
        }
    };
    port_ok && host_ok
}

#[cfg(test)]
mod tests {
    use super::super::tests::config;
    use super::*;
    use crate::config::Profile;

    const CLOUD: [(&str, &str); 5] = [
        ("RTCROOM_SDKAPPID", "1400"),
        ("RTCROOM_USERSIG_KEY", "0123456789abcdef0123"),
        ("RTCROOM_PUSH_KEY", "k"),
        ("RTCROOM_BIZID", "8888"),
        ("RTCROOM_TABLE", "rooms"),
    ];

    fn srt_host(profile: Profile, vars: &[(&str, &str)]) -> Result<Option<String>, ConfigError> {
        let mut all = if profile == Profile::Cloud {
            CLOUD.to_vec()
        } else {
            Vec::new()
        };
        all.extend_from_slice(vars);
        config(profile, &all).map(|c| c.urls.srt_host)
    }

    #[test]
    fn the_local_srt_host_follows_the_relays_srt_listener() {
        let local = Profile::LocalGateway;
        assert_eq!(srt_host(local, &[]), Ok(Some("127.0.0.1:9000".into())));
        assert_eq!(
            srt_host(local, &[("RTCROOM_RELAY_SRT_LISTEN", "127.0.0.2:9100")]),
            Ok(Some("127.0.0.2:9100".into()))
        );
        // A wildcard listener is not an address to dial: loopback on its port, as for RTMP.
        assert_eq!(
            srt_host(local, &[("RTCROOM_RELAY_SRT_LISTEN", "0.0.0.0:9100")]),
            Ok(Some("127.0.0.1:9100".into()))
        );
        assert_eq!(
            srt_host(local, &[("RTCROOM_RELAY_SRT_LISTEN", "[::]:9100")]),
            Ok(Some("[::1]:9100".into()))
        );
        assert_eq!(
            srt_host(local, &[("RTCROOM_SRT_HOST", "media.example:10080")]),
            Ok(Some("media.example:10080".into()))
        );
        assert_eq!(srt_host(local, &[("RTCROOM_SRT_HOST", "off")]), Ok(None));
        // No SRT listener in the relay, no SRT addresses; unless they point elsewhere.
        assert_eq!(
            srt_host(local, &[("RTCROOM_RELAY_SRT_LISTEN", "off")]),
            Ok(None)
        );
        assert_eq!(
            srt_host(
                local,
                &[
                    ("RTCROOM_RELAY_SRT_LISTEN", "off"),
                    ("RTCROOM_SRT_HOST", "srt.example:9000")
                ]
            ),
            Ok(Some("srt.example:9000".into()))
        );
        assert_eq!(
            srt_host(local, &[("RTCROOM_RELAY_SRT_LISTEN", "nine thousand")])
                .unwrap_err()
                .var,
            "RTCROOM_RELAY_SRT_LISTEN"
        );
    }

    #[test]
    fn the_cloud_srt_host_is_the_operators_push_host_on_the_srt_port() {
        let cloud = Profile::Cloud;
        // Tencent's default push domain would refuse rtcroom's SRT stream ids.
        assert_eq!(srt_host(cloud, &[]), Ok(None));
        assert_eq!(
            srt_host(cloud, &[("RTCROOM_PUSH_HOST", "relay.example:1935")]),
            Ok(Some("relay.example:9000".into()))
        );
        assert_eq!(
            srt_host(cloud, &[("RTCROOM_PUSH_HOST", "[2001:db8::1]:1935")]),
            Ok(Some("[2001:db8::1]:9000".into()))
        );
        assert_eq!(
            srt_host(cloud, &[("RTCROOM_SRT_HOST", "[2001:db8::2]:9001")]),
            Ok(Some("[2001:db8::2]:9001".into()))
        );
        assert_eq!(srt_host(cloud, &[("RTCROOM_SRT_HOST", "OFF")]), Ok(None));
        assert_eq!(
            srt_host(cloud, &[("RTCROOM_PUSH_HOST", "push.example/app")])
                .unwrap_err()
                .var,
            "RTCROOM_SRT_HOST"
        );
    }

    #[test]
    fn a_bad_srt_host_names_its_variable() {
        for bad in [
            "srt.example",
            "srt://srt.example:9000",
            "srt.example:0",
            "srt.example:65536",
            "srt.example:+9000",
            ":9000",
            "srt.example:9000/live",
            "[::1:9000",
            "[nope]:9000",
            "user@srt.example:9000",
        ] {
            let err = srt_host(Profile::LocalGateway, &[("RTCROOM_SRT_HOST", bad)]).unwrap_err();
            assert_eq!(err.var, "RTCROOM_SRT_HOST", "{bad}");
        }
    }
}
