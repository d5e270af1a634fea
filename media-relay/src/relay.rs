//! What every connection shares, whatever its protocol: the relay (its hub, limits, keys,
//! metrics, events), the claims a session holds on a stream, and the check of a stream's
//! signature. Each front end (`front_ends`) is a protocol over these.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use crate::fanout::Fanout;
use crate::hub::{Hub, HubError, Publishing, Stream};
use crate::metrics::{Gauge, Metrics};
use crate::player::Playing;
use crate::record::Recorder;
use crate::settings::Limits;
use crate::stream_events::EventSink;
use rtcroom_shared::stream_events::StreamEventKind;
use rtcroom_shared::urls::query_param;
use rtcroom_shared::urls::record::{RECORD_PARAM, RecordPolicy};

/// What a session needs from the relay.
pub struct Relay {
    pub hub: Arc<Hub>,
    /// Checks publish URLs.
    pub push_key: String,
    /// Checks play URLs (RTMP and HTTP-FLV); the push key unless configured apart.
    pub play_key: String,
    pub metrics: Arc<Metrics>,
    /// A player whose socket takes nothing for this long is dropped.
    pub stall_timeout: Duration,
    /// Connections per front end at once.
    pub max_connections: usize,
    /// Memory and idle-time bounds per connection.
    pub limits: Limits,
    /// Stream events to the room service.
    pub events: Arc<EventSink>,
    /// Writes the streams whose push URLs ask for it (`record`).
    pub recorder: Arc<Recorder>,
    /// Where TCP players are written from (`fanout`).
    pub fanout: Fanout,
}

impl Relay {
    /// Claims `name` for a publisher (counted and reported); the claim ends when the returned
    /// guard is dropped, however the session ends.
    pub fn start_publishing(&self, name: &str) -> Result<(Claim<'_>, Arc<Notify>), HubError> {
        let Publishing {
            stream,
            generation,
            replaced,
            took_over,
        } = self.hub.start_publishing(name)?;
        if took_over {
            self.metrics.publishers_replaced.inc();
        }
        Ok((self.claimed(Side::Publisher(generation), stream), replaced))
    }

    /// A player joins `name` (counted and reported) until the guard is dropped; it then
    /// subscribes to the claim's stream (or has the fan-out do it: `fanout`).
    pub fn start_playing(&self, name: &str) -> Result<Claim<'_>, HubError> {
        let stream = self.hub.play(name)?;
        Ok(self.claimed(Side::Player, stream))
    }

    fn claimed(&self, side: Side, stream: Arc<Stream>) -> Claim<'_> {
        side.gauge(self).inc();
        self.events.emit(side.events().0, &stream.name);
        Claim {
            relay: self,
            side,
            stream,
        }
    }

    /// The key URLs for `what` are signed with.
    pub fn key(&self, what: Access) -> &str {
        match what {
            Access::Publish => &self.push_key,
            Access::Play => &self.play_key,
        }
    }

    /// How a player of `stream` is bounded.
    pub fn playing<'s>(&self, stream: &'s Stream) -> Playing<'s> {
        Playing {
            stream,
            stall: self.stall_timeout,
            idle: self.limits.idle_player,
        }
    }
}

/// Which side of a stream a claim is on (a publisher with its generation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Publisher(u64),
    Player,
}

impl Side {
    fn gauge(self, relay: &Relay) -> &Gauge {
        match self {
            Side::Publisher(_) => &relay.metrics.publishers,
            Side::Player => &relay.metrics.players,
        }
    }

    /// The events reported when a claim starts and when it ends.
    fn events(self) -> (StreamEventKind, StreamEventKind) {
        match self {
            Side::Publisher(_) => (StreamEventKind::Publish, StreamEventKind::Unpublish),
            Side::Player => (StreamEventKind::Play, StreamEventKind::Stop),
        }
    }
}

/// A publisher's or a player's claim on a stream. Dropping a publisher's ends the stream for
/// its players; dropping a player's leaves.
pub struct Claim<'a> {
    relay: &'a Relay,
    side: Side,
    pub stream: Arc<Stream>,
}

impl Claim<'_> {
    /// Whether this claim still holds its side: false for a publisher another publish has
    /// taken over from (it should end).
    pub fn is_current(&self) -> bool {
        match self.side {
            Side::Publisher(generation) => self.stream.generation() == generation,
            Side::Player => true,
        }
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        // A replaced publisher's end is not the stream's: its successor goes on publishing.
        let ended = match self.side {
            Side::Publisher(generation) => self.relay.hub.stop_publishing(&self.stream, generation),
            Side::Player => {
                self.relay.hub.stop_playing(&self.stream);
                true
            }
        };
        if ended {
            self.relay
                .events
                .emit(self.side.events().1, &self.stream.name);
        }
        self.side.gauge(self.relay).dec();
    }
}

/// `name?query` → (name, query).
pub(crate) fn split_name(s: &str) -> (&str, Option<&str>) {
    match s.split_once('?') {
        Some((name, query)) => (name, Some(query)),
        None => (s, None),
    }
}

fn valid_stream_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 256
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// What a URL is asked to open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Publish,
    Play,
}

/// Checks a stream name and its `txSecret`/`txTime` (from `query`) for publish (against the
/// push key) or play (the play key); the reason when refused (counted, and logged for the
/// operator). A push URL may carry a recording policy (`record`), which its signature then
/// covers: the policy, to record the stream by.
pub fn authorise_url(
    relay: &Relay,
    name: &str,
    query: Option<&str>,
    what: Access,
) -> Result<Option<RecordPolicy>, String> {
    let param = |key: &str| query.and_then(|q| query_param(q, key));
    authorise(
        relay,
        name,
        Signature {
            secret: param("txSecret").as_deref(),
            time: param("txTime").as_deref(),
            record: param(RECORD_PARAM).as_deref(),
        },
        what,
    )
}

/// A URL's signature, taken apart (SRT carries it in the stream id).
#[derive(Debug, Clone, Copy, Default)]
pub struct Signature<'a> {
    pub secret: Option<&'a str>,
    pub time: Option<&'a str>,
    /// A recorded stream's policy (publish only), which `secret` then covers.
    pub record: Option<&'a str>,
}

/// [`authorise_url`] with the signature already taken apart: the recording policy of a
/// recorded publish.
pub fn authorise(
    relay: &Relay,
    name: &str,
    signature: Signature<'_>,
    what: Access,
) -> Result<Option<RecordPolicy>, String> {
    let Signature {
        secret,
        time,
        record,
    } = signature;
    let checked = if !valid_stream_name(name) {
        Err("bad stream name".to_owned())
    } else {
        match (what, record) {
            (Access::Publish, Some(policy)) => rtcroom_shared::urls::record::verify_recorded(
                relay.key(what),
                name,
                secret,
                time,
                policy,
                now_secs(),
            )
            .map(Some),
            _ => rtcroom_shared::urls::verify(relay.key(what), name, secret, time, now_secs())
                .map(|()| None),
        }
        .map_err(|e| e.to_string())
    };
    checked.map_err(|why| refused(relay, name, what, why))
}

/// A refusal, counted and logged; its reason.
fn refused(relay: &Relay, name: &str, what: Access, why: String) -> String {
    relay.metrics.auth_refused.inc();
    tracing::info!(stream = name, action = ?what, why, "refused");
    why
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_names_and_signatures_come_from_the_name_or_the_connect_url() {
        assert_eq!(
            split_name("8888_alice_3f2a?bizid=8888&txSecret=ab&txTime=5C271099"),
            (
                "8888_alice_3f2a",
                Some("bizid=8888&txSecret=ab&txTime=5C271099")
            )
        );
        assert_eq!(
            query_param("a=1&txTime=5C", "txTime").as_deref(),
            Some("5C")
        );
        assert!(valid_stream_name("8888_alice_3f2a"));
        assert!(!valid_stream_name("../x"));
        assert!(!valid_stream_name(""));
    }
}
