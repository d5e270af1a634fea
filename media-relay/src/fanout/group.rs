//! One shard: its groups (the players of one stream on this shard, written from one loop):
//! admitting players, and the pass that writes a batch of messages to all of them (their own
//! state and tasks: `member`).
//!
//! Everything here runs on the shard's one thread, so players are shared by `Rc` and their
//! state is in a `RefCell` that no task holds across an `await`.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::os::fd::{AsRawFd, RawFd};
use std::rc::Rc;
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::{Notify, broadcast, mpsc};
use tokio::task::{LocalSet, spawn_local};

use super::Join;
use super::member::{Class, Player, State, Tally, listen_to, outcome, queue};
use super::uring::{Batch, MAX_PIECES};
use crate::hub::Stream;
use crate::media::Frame;
use crate::metrics::{Gauge, Metrics};
use crate::player::{Pace, PlayError};

/// Messages taken from the ring in one pass, at most.
pub(super) const MAX_BATCH: usize = 128;

type Groups = Rc<RefCell<HashMap<usize, Rc<Shared>>>>;
/// Every shard's player count, and which is this shard's.
pub(super) type ShardPlayers = (Arc<[Gauge]>, usize);

/// Runs a shard's thread: takes players and gives each to its stream's group.
pub(super) fn run_shard(
    runtime: tokio::runtime::Runtime,
    mut joins: mpsc::UnboundedReceiver<Join>,
    metrics: Arc<Metrics>,
    players: ShardPlayers,
    io_uring: bool,
) {
    let ring = if io_uring {
        match Batch::new() {
            Ok(ring) => {
                metrics.io_uring_shards.inc();
                Some(ring)
            }
            Err(e) => {
                tracing::warn!(error = %e, "io_uring unavailable: this shard sends with writev");
                None
            }
        }
    } else {
        None
    };
    let uring = Rc::new(RefCell::new(ring));
    let local = LocalSet::new();
    local.block_on(&runtime, async move {
        let groups: Groups = Rc::default();
        while let Some(join) = joins.recv().await {
            // The group holds its stream, so the address names one stream while it lives.
            let key = Arc::as_ptr(&join.stream) as usize;
            let existing = groups.borrow().get(&key).cloned();
            match existing {
                Some(group) => {
                    group.joins.borrow_mut().push(join);
                    group.wake.notify_one();
                }
                None => {
                    let stream = join.stream.clone();
                    let group = Rc::new(Shared {
                        joins: RefCell::new(vec![join]),
                        wake: Notify::new(),
                    });
                    groups.borrow_mut().insert(key, group.clone());
                    spawn_local(run_group(
                        group,
                        stream,
                        groups.clone(),
                        key,
                        uring.clone(),
                        metrics.clone(),
                        players.clone(),
                    ));
                }
            }
        }
    });
}

/// What a group shares with the shard and its players.
pub(super) struct Shared {
    /// Players handed over and not yet admitted.
    joins: RefCell<Vec<Join>>,
    /// Wakes the group: a player joined, or one finished.
    pub(super) wake: Notify,
}

/// A group's loop: admits players, and writes each message to every player of the stream on
/// this shard, until none is left.
async fn run_group(
    shared: Rc<Shared>,
    stream: Arc<Stream>,
    groups: Groups,
    key: usize,
    uring: Rc<RefCell<Option<Batch>>>,
    metrics: Arc<Metrics>,
    count: ShardPlayers,
) {
    let count = &count.0[count.1];
    let mut live: Option<(broadcast::Receiver<Frame>, u64)> = None;
    let mut players: Vec<Rc<Player>> = Vec::new();
    let mut batch: Vec<Frame> = Vec::with_capacity(MAX_BATCH);
    let mut scratch = Scratch::default();
    let mut tally = Tally::default();
    loop {
        let joins = std::mem::take(&mut *shared.joins.borrow_mut());
        for join in joins {
            if let Some(player) = admit(join, &shared, &stream, &mut live, &metrics, &mut tally) {
                players.push(player);
                count.inc();
            }
        }
        tally.record(&metrics);
        let before = players.len();
        players.retain(|p| !p.state.borrow().finished());
        count.add(players.len() as i64 - before as i64);
        if players.is_empty() && shared.joins.borrow().is_empty() {
            groups.borrow_mut().remove(&key);
            return;
        }
        let Some((rx, next)) = live.as_mut() else {
            unreachable!("a group with players has subscribed");
        };
        let mut lagged = None;
        tokio::select! {
            biased;
            () = shared.wake.notified() => continue,
            received = rx.recv() => match received {
                Ok(frame) => batch.push(frame),
                Err(RecvError::Lagged(missed)) => lagged = Some(missed),
                // The stream holds the sender, and the group holds the stream.
                Err(RecvError::Closed) => unreachable!("a stream outlives its groups"),
            },
        }
        while lagged.is_none() && batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(frame) => batch.push(frame),
                Err(TryRecvError::Lagged(missed)) => lagged = Some(missed),
                Err(_) => break,
            }
        }
        let first = *next;
        *next += batch.len() as u64;
        if !batch.is_empty() {
            scratch.pass(&players, &batch, first, &uring, &metrics, &mut tally);
            batch.clear();
            tally.record(&metrics);
        }
        if let Some(missed) = lagged {
            // The shard itself fell a ring behind: so did each of its players that was to get
            // the messages lost (not one that joined after them).
            *next += missed;
            let gap_end = *next;
            for player in &players {
                let mut state = player.state.borrow_mut();
                if !state.finished() && state.from < gap_end {
                    player.lagged(&mut state, missed);
                }
            }
        }
    }
}

/// Takes a player into the group: subscribes it (the group's receiver is the first
/// player's), sends its preamble and start, and starts listening to it.
fn admit(
    join: Join,
    shared: &Rc<Shared>,
    stream: &Arc<Stream>,
    live: &mut Option<(broadcast::Receiver<Frame>, u64)>,
    metrics: &Arc<Metrics>,
    tally: &mut Tally,
) -> Option<Rc<Player>> {
    let Join {
        socket,
        wire,
        listen,
        stall,
        idle,
        done,
        ..
    } = join;
    let socket = match tokio::net::TcpStream::from_std(socket) {
        Ok(s) => s,
        Err(e) => {
            let _ = done.send(Err(PlayError::Io(e)));
            return None;
        }
    };
    let (rd, wr) = socket.into_split();
    let mut subscription = stream.subscribe();
    let from = subscription.next;
    if live.is_none() {
        *live = Some((subscription.live, from));
    }
    let start = std::mem::take(&mut subscription.start);
    let player = Rc::new(Player {
        class: wire.class(),
        wr,
        wire,
        stall,
        ring: stream.ring,
        group: shared.clone(),
        metrics: metrics.clone(),
        state: RefCell::new(State {
            pace: Pace::default(),
            from,
            pending: Vec::new(),
            backlog: VecDeque::new(),
            parked: false,
            ending: false,
            done: Some(done),
            listener: None,
            parker: None,
        }),
    });
    let listener = spawn_local(listen_to(
        player.clone(),
        rd,
        listen,
        idle,
        stream.clone(),
        metrics.clone(),
    ));
    let mut state = player.state.borrow_mut();
    state.listener = Some(listener.abort_handle());
    let mut pieces: Vec<Bytes> = player.wire.preamble(&start).into_iter().collect();
    state.pieces(&*player.wire, &start, &mut pieces);
    player.send(&mut state, &pieces, tally);
    drop(state);
    Some(player)
}

/// What a pass keeps between players: per wire class, the pieces of the batch (built once)
/// and the players that take all of them.
#[derive(Default)]
struct Scratch {
    shared: Vec<(Class, Vec<Bytes>, Vec<usize>)>,
    own: Vec<Bytes>,
    fds: Vec<RawFd>,
    results: Vec<std::io::Result<usize>>,
}

impl Scratch {
    /// Writes `batch` (numbered from `first`) to every player of the group: the players that
    /// take all of it as their class frames it with one submission per class (`uring`, when
    /// the shard has a ring) or one `writev` each.
    fn pass(
        &mut self,
        players: &[Rc<Player>],
        batch: &[Frame],
        first: u64,
        uring: &RefCell<Option<Batch>>,
        metrics: &Metrics,
        tally: &mut Tally,
    ) {
        self.shared.clear();
        let ends = batch.iter().any(Frame::is_end);
        for (index, player) in players.iter().enumerate() {
            let mut state = player.state.borrow_mut();
            if state.finished() {
                continue;
            }
            let skip = state.from.saturating_sub(first).min(batch.len() as u64) as usize;
            let frames = &batch[skip..];
            if frames.is_empty() {
                continue;
            }
            if state.parked {
                queue(player, &mut state, frames);
            } else if skip == 0 && !ends && !state.pace.is_skipping() {
                // The common case: the player takes the whole batch as its class frames it.
                match self.shared.iter_mut().find(|(c, ..)| *c == player.class) {
                    Some((.., members)) => members.push(index),
                    None => {
                        let mut pieces = Vec::with_capacity(batch.len() * 3);
                        for frame in batch {
                            player.wire.pieces(frame, &mut pieces);
                        }
                        self.shared.push((player.class, pieces, vec![index]));
                    }
                }
            } else {
                self.own.clear();
                state.pieces(&*player.wire, frames, &mut self.own);
                if !self.own.is_empty() {
                    player.send(&mut state, &self.own, tally);
                } else if state.ending {
                    player.finish(&mut state, Ok(true));
                }
            }
        }
        for (_, pieces, members) in &self.shared {
            let mut ring = uring.borrow_mut();
            if let Some(batch) = ring.as_mut().filter(|_| pieces.len() <= MAX_PIECES) {
                self.fds.clear();
                self.fds
                    .extend(members.iter().map(|&i| players[i].wr.as_ref().as_raw_fd()));
                match batch.send(pieces, &self.fds, &mut self.results) {
                    Ok(()) => {
                        for (&i, result) in members.iter().zip(self.results.drain(..)) {
                            let player = &players[i];
                            if let Ok(n) = result {
                                tally.bytes += n as u64;
                                tally.writes += 1;
                            }
                            let mut state = player.state.borrow_mut();
                            player.sent(&mut state, pieces, outcome(pieces, result));
                        }
                        continue;
                    }
                    Err(e) => {
                        // Some of these players may have been sent the batch and some not:
                        // they are dropped rather than sent a broken stream (they reconnect).
                        tracing::warn!(error = %e, "io_uring failed: this shard sends with writev from now on");
                        if let Some(broken) = ring.take() {
                            broken.abandon();
                        }
                        metrics.io_uring_shards.dec();
                        for &i in members {
                            let mut state = players[i].state.borrow_mut();
                            let failed = std::io::Error::other(format!("io_uring failed: {e}"));
                            players[i].finish(&mut state, Err(PlayError::Io(failed)));
                        }
                        continue;
                    }
                }
            }
            drop(ring);
            for &i in members {
                let player = &players[i];
                let mut state = player.state.borrow_mut();
                player.send(&mut state, pieces, tally);
            }
        }
    }
}
