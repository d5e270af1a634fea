//! The room service's counters, served by the local gateway at `GET /metrics` (Prometheus text
//! format). Every refusal of a limit or a check has its own `reason`, so an operator sees which
//! limit is being reached and by how much.

use std::fmt::Write;

use rtcroom_shared::metrics::{Counter, Gauge};

/// Why a request or connection was refused (the `reason` label of `rtcroom_refusals_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// UserSig, token, revoked token, userID mismatch (code 7, or HTTP 401 on `/ws`).
    Auth,
    /// A missing or invalid parameter (code 1).
    Invalid,
    /// A body or query that is not JSON, a form, or UTF-8; too long or too large (code 10).
    Malformed,
    /// A member of a room the caller is not in, a room that does not exist (codes 3, 5).
    NotAllowed,
    /// `RTCROOM_MAX_ROOMS` (code 104).
    RoomsInAll,
    /// `RTCROOM_MAX_ROOMS_PER_USER` (code 104).
    RoomsPerUser,
    /// `RTCROOM_MAX_REVOKED_USERS` (logout answers 104).
    Revocations,
    /// `RTCROOM_REQUEST_TIMEOUT_SECS` ran out (code 100).
    RequestTimeout,
    /// The store failed or was contended (code 100).
    StoreUnavailable,
    /// `RTCROOM_WS_MAX_PER_USER` (HTTP 429 on `/ws`).
    WsPerUser,
    /// `RTCROOM_MAX_CONNECTIONS` for `/ws` (HTTP 503).
    WsAtCapacity,
    /// A `/ws` client left frames unread for `RTCROOM_WS_SEND_TIMEOUT_SECS` (dropped).
    WsSendTimeout,
    /// A `/ws` client broke the WebSocket protocol (close 1002 or 1007) or flooded (4008).
    WsProtocol,
    /// `RTCROOM_MAX_CONNECTIONS_PER_IP` (the connection is closed at once).
    ConnectionsPerIp,
    /// An idle keep-alive connection closed to make room near `RTCROOM_MAX_CONNECTIONS`.
    IdleConnectionClosed,
}

impl Refusal {
    pub const ALL: [Refusal; 15] = [
        Refusal::Auth,
        Refusal::Invalid,
        Refusal::Malformed,
        Refusal::NotAllowed,
        Refusal::RoomsInAll,
        Refusal::RoomsPerUser,
        Refusal::Revocations,
        Refusal::RequestTimeout,
        Refusal::StoreUnavailable,
        Refusal::WsPerUser,
        Refusal::WsAtCapacity,
        Refusal::WsSendTimeout,
        Refusal::WsProtocol,
        Refusal::ConnectionsPerIp,
        Refusal::IdleConnectionClosed,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Refusal::Auth => "auth",
            Refusal::Invalid => "invalid",
            Refusal::Malformed => "malformed",
            Refusal::NotAllowed => "not_allowed",
            Refusal::RoomsInAll => "rooms_in_all",
            Refusal::RoomsPerUser => "rooms_per_user",
            Refusal::Revocations => "revocations",
            Refusal::RequestTimeout => "request_timeout",
            Refusal::StoreUnavailable => "store_unavailable",
            Refusal::WsPerUser => "ws_per_user",
            Refusal::WsAtCapacity => "ws_at_capacity",
            Refusal::WsSendTimeout => "ws_send_timeout",
            Refusal::WsProtocol => "ws_protocol",
            Refusal::ConnectionsPerIp => "connections_per_ip",
            Refusal::IdleConnectionClosed => "idle_connection_closed",
        }
    }
}

#[derive(Debug, Default)]
pub struct Metrics {
    pub requests: Counter,
    refusals: [Counter; Refusal::ALL.len()],
    /// Open HTTP connections of the gateway (before any upgrade).
    pub http_connections: Gauge,
    /// Open `/ws` connections.
    pub ws_connections: Gauge,
}

impl Metrics {
    pub fn refused(&self, why: Refusal) {
        self.refusals[why as usize].inc();
    }

    pub fn refusals(&self, why: Refusal) -> u64 {
        self.refusals[why as usize].get()
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut head = |name: &str, kind: &str, help: &str| {
            let _ = writeln!(out, "# HELP rtcroom_{name} {help}");
            let _ = writeln!(out, "# TYPE rtcroom_{name} {kind}");
        };
        head("requests_total", "counter", "API calls answered.");
        head(
            "refusals_total",
            "counter",
            "Requests and connections refused or closed, by the limit or check that refused them.",
        );
        head("http_connections", "gauge", "Open HTTP connections.");
        head("ws_connections", "gauge", "Open /ws connections.");
        let _ = writeln!(out, "rtcroom_requests_total {}", self.requests.get());
        for why in Refusal::ALL {
            let _ = writeln!(
                out,
                "rtcroom_refusals_total{{reason=\"{}\"}} {}",
                why.label(),
                self.refusals(why)
            );
        }
        let _ = writeln!(
            out,
            "rtcroom_http_connections {}",
            self.http_connections.get()
        );
        let _ = writeln!(out, "rtcroom_ws_connections {}", self.ws_connections.get());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_is_rendered_with_its_count() {
        let m = Metrics::default();
        m.refused(Refusal::WsSendTimeout);
        m.refused(Refusal::WsSendTimeout);
        let text = m.render();
        assert!(text.contains("rtcroom_refusals_total{reason=\"ws_send_timeout\"} 2\n"));
        for why in Refusal::ALL {
            assert!(text.contains(&format!("reason=\"{}\"", why.label())));
        }
    }
}
