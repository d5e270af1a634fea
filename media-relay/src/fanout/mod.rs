//! Fan-out: the relay's hot path, where one published message goes to every TCP player of
//! its stream (RTMP and HTTP-FLV; SRT players frame per connection and keep a thread each).
//!
//! ```text
//!  publisher task ──Stream::publish──▶ broadcast ring ──one wake per shard──▶ group (stream, shard)
//!                                                                             │ for each player:
//!                                                                             │  one non-blocking writev
//!                                                                             ▼  of shared bytes
//!                                                                            sockets
//! ```
//!
//! The relay runs one *shard* per core (`RTCROOM_RELAY_FANOUT_THREADS`, default: the cores the
//! process may run on): a thread with its own single-threaded runtime. A player, once its
//! session has set up (`play` answered), is handed to a shard, round robin, so a stream's
//! players spread over every core. On each shard, the players of one stream form a *group*:
//! one task that holds the stream's broadcast receiver and, for every message, writes each
//! player directly from its loop. A message costs one wake-up per shard and one `writev` per
//! player (or one io_uring submission for all of them: `uring`); nothing is copied per player
//! (the framing is built once per message and front end, the pieces once per pass and wire
//! class: `group`).
//!
//! A player whose socket is full is *parked*: what the socket did not take waits with it, and
//! the frames that come meanwhile queue (as shared handles) in its backlog, bounded by the
//! ring: one that falls a whole ring behind skips video to the next keyframe, one that does so
//! [`crate::player::MAX_LAGS`] times or takes nothing for the stall timeout is dropped. A
//! parked player has a task of its own, waiting for its socket, until it has caught up and
//! rejoins the group's loop. The publisher never waits for anyone.

mod group;
mod member;
mod uring;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::net::tcp::OwnedReadHalf;
use tokio::sync::{mpsc, oneshot};

use crate::hub::Stream;
use crate::metrics::{Gauge, Metrics};
use crate::player::{PlayError, Playing, Wire};

/// What a front end does with a player's input while it plays: returns when the player
/// leaves (its connection ends, or it says so).
pub type Listen = Box<dyn FnOnce(OwnedReadHalf) -> Pin<Box<dyn Future<Output = ()>>> + Send>;

/// A player handed to a shard.
struct Join {
    stream: Arc<Stream>,
    socket: std::net::TcpStream,
    wire: Box<dyn Wire>,
    listen: Listen,
    stall: Duration,
    idle: Duration,
    done: oneshot::Sender<Result<bool, PlayError>>,
}

/// The shards (see the module's documentation).
pub struct Fanout {
    shards: Vec<mpsc::UnboundedSender<Join>>,
    next: AtomicUsize,
}

impl Fanout {
    /// Starts `threads` shards. They end once the `Fanout` is dropped and their players are
    /// gone.
    pub fn start(threads: usize, io_uring: bool, metrics: Arc<Metrics>) -> std::io::Result<Self> {
        let mut shards = Vec::with_capacity(threads);
        let players: Arc<[Gauge]> = (0..threads.max(1)).map(|_| Gauge::default()).collect();
        let counts = players.clone();
        metrics.sections.add(Box::new(move |out: &mut String| {
            out.push_str(
                "# HELP rtcroom_relay_fanout_players Players each fan-out thread writes to.\n",
            );
            out.push_str("# TYPE rtcroom_relay_fanout_players gauge\n");
            for (shard, gauge) in counts.iter().enumerate() {
                out.push_str(&format!(
                    "rtcroom_relay_fanout_players{{shard=\"{shard}\"}} {}\n",
                    gauge.get()
                ));
            }
        }));
        for index in 0..threads.max(1) {
            let (tx, rx) = mpsc::unbounded_channel();
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let metrics = metrics.clone();
            let players = players.clone();
            std::thread::Builder::new()
                .name(format!("fanout-{index}"))
                .spawn(move || {
                    group::run_shard(runtime, rx, metrics, (players, index), io_uring);
                })?;
            shards.push(tx);
        }
        Ok(Self {
            shards,
            next: AtomicUsize::new(0),
        })
    }

    /// How many shards there are.
    pub fn threads(&self) -> usize {
        self.shards.len()
    }

    /// Plays `stream` to `socket` (whose session is set up) on the next shard, until the
    /// publisher ends the stream (`Ok(true)`), the player leaves (`listen` returns:
    /// `Ok(false)`), or it fails. `wire` puts the messages on the wire, starting with its
    /// preamble.
    pub async fn play(
        &self,
        socket: TcpStream,
        wire: Box<dyn Wire>,
        listen: Listen,
        limits: Playing<'_>,
        stream: &Arc<Stream>,
    ) -> Result<bool, PlayError> {
        // Leaves this runtime's reactor (staying non-blocking) for the shard's.
        let socket = socket.into_std()?;
        let (done, result) = oneshot::channel();
        let shard = self.next.fetch_add(1, Ordering::Relaxed) % self.shards.len();
        let join = Join {
            stream: stream.clone(),
            socket,
            wire,
            listen,
            stall: limits.stall,
            idle: limits.idle,
            done,
        };
        if self.shards[shard].send(join).is_err() {
            return Err(PlayError::Io(std::io::Error::other(
                "the fan-out has stopped",
            )));
        }
        result
            .await
            .unwrap_or_else(|_| Err(PlayError::Io(std::io::Error::other("the fan-out stopped"))))
    }
}

/// The default number of shards: the cores this process may run on (its CPU affinity).
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
