//! Counters and gauges, rendered in the Prometheus text format at `/metrics`.

use std::fmt::Write;

pub use rtcroom_shared::metrics::{Counter, Gauge};

#[derive(Debug, Default)]
pub struct Metrics {
    pub connections: Gauge,
    pub connections_refused: Counter,
    pub publishers: Gauge,
    pub players: Gauge,
    pub bytes_in: Counter,
    pub bytes_out: Counter,
    pub messages_in: Counter,
    /// Vectored writes to players (each carries one or more messages).
    pub writes: Counter,
    /// Players whose socket was full, waiting for it to take more (see `fanout`).
    pub parked_players: Gauge,
    /// Fan-out shards (`RTCROOM_RELAY_FANOUT_THREADS`), and those sending through io_uring.
    pub fanout_threads: Gauge,
    pub io_uring_shards: Gauge,
    /// Messages players skipped because they fell a whole ring behind.
    pub dropped_to_keyframe: Counter,
    pub auth_refused: Counter,
    pub sessions_failed: Counter,
    /// Connections closed for holding more than their buffer budget, or for pushing the
    /// relay past its total.
    pub over_connection_budget: Counter,
    pub over_relay_budget: Counter,
    /// Bytes held in unfinished messages and unread input, over every connection.
    pub buffered_bytes: Gauge,
    /// Players of a stream nobody published within the idle time.
    pub idle_players_closed: Counter,
    /// Publishers that sent nothing for the publish timeout.
    pub silent_publishers_dropped: Counter,
    /// Silent publishers that gave way to a new publish of their stream.
    pub publishers_replaced: Counter,
    /// GOP caches dropped for growing past their byte cap.
    pub gop_cache_dropped: Counter,
    /// Stream events delivered to the room service, given up on, and dropped (queue full).
    pub events_sent: Counter,
    pub events_failed: Counter,
    pub events_dropped: Counter,
    /// What front ends add of their own (SRT's per-connection statistics).
    pub sections: Sections,
}

/// A front end's own part of `/metrics`, rendered after the relay's counters.
pub type Section = Box<dyn Fn(&mut String) + Send + Sync>;

#[derive(Default)]
pub struct Sections(parking_lot::Mutex<Vec<Section>>);

impl Sections {
    pub fn add(&self, section: Section) {
        self.0.lock().push(section);
    }
}

impl std::fmt::Debug for Sections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sections({})", self.0.lock().len())
    }
}

/// One metric in Prometheus' text format: `rtcroom_relay_{name}`, its help, type and value.
pub fn metric(out: &mut String, name: &str, kind: &str, help: &str, value: i128) {
    let _ = writeln!(out, "# HELP rtcroom_relay_{name} {help}");
    let _ = writeln!(out, "# TYPE rtcroom_relay_{name} {kind}");
    let _ = writeln!(out, "rtcroom_relay_{name} {value}");
}

impl Metrics {
    pub fn render(&self, streams: usize) -> String {
        let mut out = String::new();
        let mut line = |name: &str, kind: &str, help: &str, value: i128| {
            metric(&mut out, name, kind, help, value)
        };
        line(
            "connections",
            "gauge",
            "Open RTMP connections.",
            self.connections.get().into(),
        );
        line(
            "connections_refused_total",
            "counter",
            "Connections refused at the limit.",
            self.connections_refused.get().into(),
        );
        line(
            "streams",
            "gauge",
            "Streams published or played.",
            streams as i128,
        );
        line(
            "publishers",
            "gauge",
            "Connections publishing.",
            self.publishers.get().into(),
        );
        line(
            "players",
            "gauge",
            "Connections playing.",
            self.players.get().into(),
        );
        line(
            "bytes_in_total",
            "counter",
            "Bytes received.",
            self.bytes_in.get().into(),
        );
        line(
            "bytes_out_total",
            "counter",
            "Bytes sent.",
            self.bytes_out.get().into(),
        );
        line(
            "messages_in_total",
            "counter",
            "Media messages received from publishers.",
            self.messages_in.get().into(),
        );
        line(
            "player_writes_total",
            "counter",
            "Vectored writes to players.",
            self.writes.get().into(),
        );
        line(
            "parked_players",
            "gauge",
            "Players whose socket is full, waiting for it to take more.",
            self.parked_players.get().into(),
        );
        line(
            "fanout_threads",
            "gauge",
            "Threads writing to players (RTCROOM_RELAY_FANOUT_THREADS).",
            self.fanout_threads.get().into(),
        );
        line(
            "io_uring_shards",
            "gauge",
            "Fan-out threads sending through io_uring (the others use writev).",
            self.io_uring_shards.get().into(),
        );
        line(
            "dropped_to_keyframe_total",
            "counter",
            "Messages players skipped after falling behind.",
            self.dropped_to_keyframe.get().into(),
        );
        line(
            "auth_refused_total",
            "counter",
            "Publish/play refused for a bad or expired signature.",
            self.auth_refused.get().into(),
        );
        line(
            "sessions_failed_total",
            "counter",
            "Connections ended by a protocol or I/O error.",
            self.sessions_failed.get().into(),
        );
        line(
            "over_connection_budget_total",
            "counter",
            "Connections closed for holding more than their buffer budget.",
            self.over_connection_budget.get().into(),
        );
        line(
            "over_relay_budget_total",
            "counter",
            "Connections closed because the relay held its total buffer budget.",
            self.over_relay_budget.get().into(),
        );
        line(
            "buffered_bytes",
            "gauge",
            "Bytes held in unfinished messages and unread input.",
            self.buffered_bytes.get().into(),
        );
        line(
            "idle_players_closed_total",
            "counter",
            "Players closed after waiting the idle time for a publisher.",
            self.idle_players_closed.get().into(),
        );
        line(
            "silent_publishers_dropped_total",
            "counter",
            "Publishers dropped after sending nothing for the publish timeout.",
            self.silent_publishers_dropped.get().into(),
        );
        line(
            "publishers_replaced_total",
            "counter",
            "Silent publishers replaced by a new publish of their stream.",
            self.publishers_replaced.get().into(),
        );
        line(
            "gop_cache_dropped_total",
            "counter",
            "GOP caches dropped for growing past their byte cap.",
            self.gop_cache_dropped.get().into(),
        );
        for section in self.sections.0.lock().iter() {
            section(&mut out);
        }
        out
    }
}
