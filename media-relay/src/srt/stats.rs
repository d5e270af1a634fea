//! SRT's part of `/metrics`: the open connections with libsrt's statistics for each (RTT,
//! loss, retransmissions, drops, bandwidth), and handshake refusals by reason.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Arc;

use parking_lot::Mutex;

use super::ffi::{Api, SrtSocket};
use super::socket;
use crate::metrics::Metrics;

/// One open connection, as `/metrics` labels it.
#[derive(Debug, Clone)]
pub(super) struct Peer {
    pub stream: String,
    pub side: &'static str,
}

#[derive(Default)]
struct State {
    /// Accepted connections (a slot each), and the ones whose stream is known.
    open: usize,
    peers: BTreeMap<SrtSocket, Peer>,
    refused: BTreeMap<&'static str, u64>,
    /// Publishers' frames over the demuxer's cap, dropped.
    frames_dropped: u64,
}

/// The SRT connections of a relay.
pub(super) struct Connections {
    state: Arc<Mutex<State>>,
    metrics: Arc<Metrics>,
}

/// A connection's place; freed when dropped.
pub(super) struct Slot {
    state: Arc<Mutex<State>>,
    id: Option<SrtSocket>,
}

impl Slot {
    /// Names the connection in `/metrics` from now on.
    pub fn describe(&mut self, id: SrtSocket, peer: Peer) {
        self.state.lock().peers.insert(id, peer);
        self.id = Some(id);
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut state = self.state.lock();
        state.open -= 1;
        if let Some(id) = self.id {
            state.peers.remove(&id);
        }
    }
}

impl Connections {
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Self {
            state: Arc::default(),
            metrics,
        }
    }

    pub fn count(&self) -> usize {
        self.state.lock().open
    }

    /// A place for one more connection, unless `max` are open.
    pub fn open(&self, max: usize) -> Option<Slot> {
        let mut state = self.state.lock();
        if state.open >= max {
            return None;
        }
        state.open += 1;
        Some(Slot {
            state: self.state.clone(),
            id: None,
        })
    }

    /// A caller refused (in the handshake or right after it), by reason.
    pub fn refused(&self, why: &'static str) {
        *self.state.lock().refused.entry(why).or_default() += 1;
    }

    /// A publisher's frame over the size cap was dropped.
    pub fn frame_dropped(&self) {
        self.state.lock().frames_dropped += 1;
    }

    /// Adds SRT's section to the relay's `/metrics`.
    pub fn register_metrics(&self, api: &'static Api) {
        let state = self.state.clone();
        self.metrics
            .sections
            .add(Box::new(move |out| render(api, &state, out)));
    }
}

fn render(api: &Api, state: &Mutex<State>, out: &mut String) {
    // Copied out, so that libsrt's statistics are read without the lock the handshake
    // callback takes.
    let (open, peers, refused, frames_dropped) = {
        let s = state.lock();
        (s.open, s.peers.clone(), s.refused.clone(), s.frames_dropped)
    };
    family(out, "connections", "gauge", "Open SRT connections.");
    let _ = writeln!(out, "rtcroom_relay_srt_connections {open}");
    family(
        out,
        "refused_total",
        "counter",
        "SRT callers refused, by reason (stream id, mode, signature, taken, limit, key length, unencrypted, codec).",
    );
    for (why, n) in &refused {
        let _ = writeln!(
            out,
            "rtcroom_relay_srt_refused_total{{reason=\"{why}\"}} {n}"
        );
    }
    family(
        out,
        "frames_dropped_total",
        "counter",
        "Publishers' frames over the 4 MiB cap, dropped.",
    );
    let _ = writeln!(
        out,
        "rtcroom_relay_srt_frames_dropped_total {frames_dropped}"
    );
    let stats: Vec<_> = peers
        .iter()
        .filter_map(|(id, peer)| Some((id, peer, socket::stats(api, *id).ok()?)))
        .collect();
    type Get = fn(&super::ffi::Stats) -> f64;
    let families: [(&str, &str, &str, Get); 9] = [
        (
            "rtt_ms",
            "gauge",
            "Round-trip time per SRT connection (ms).",
            |s| s.ms_rtt,
        ),
        (
            "bandwidth_mbps",
            "gauge",
            "Estimated link bandwidth per SRT connection (Mbit/s).",
            |s| s.mbps_bandwidth,
        ),
        (
            "send_rate_mbps",
            "gauge",
            "Sending rate per SRT connection (Mbit/s).",
            |s| s.mbps_send_rate,
        ),
        (
            "receive_rate_mbps",
            "gauge",
            "Receiving rate per SRT connection (Mbit/s).",
            |s| s.mbps_recv_rate,
        ),
        (
            "packets_received_lost_total",
            "counter",
            "Packets found lost on receipt (before retransmission).",
            |s| f64::from(s.pkt_rcv_loss_total),
        ),
        (
            "packets_sent_lost_total",
            "counter",
            "Packets the peer reported lost.",
            |s| f64::from(s.pkt_snd_loss_total),
        ),
        (
            "packets_retransmitted_total",
            "counter",
            "Packets sent again.",
            |s| f64::from(s.pkt_retrans_total),
        ),
        (
            "packets_dropped_total",
            "counter",
            "Packets given up as too late (received and sent).",
            |s| f64::from(s.pkt_rcv_drop_total) + f64::from(s.pkt_snd_drop_total),
        ),
        ("bytes_total", "counter", "Bytes received and sent.", |s| {
            (s.byte_recv_total + s.byte_sent_total) as f64
        }),
    ];
    for (name, kind, help, get) in families {
        family(out, name, kind, help);
        for (id, peer, s) in &stats {
            let _ = writeln!(
                out,
                "rtcroom_relay_srt_{name}{{conn=\"{id}\",side=\"{}\",stream=\"{}\"}} {}",
                peer.side,
                peer.stream,
                get(s)
            );
        }
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP rtcroom_relay_srt_{name} {help}");
    let _ = writeln!(out, "# TYPE rtcroom_relay_srt_{name} {kind}");
}
