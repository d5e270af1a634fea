//! A group's member: one player on a fan-out thread — its socket's write half and wire, its
//! state (pace, pending bytes, backlog while parked), how a send ends (taken whole, parked,
//! failed), the parked player's own task, and the listener task that reads what the player
//! sends.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::IoSlice;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::oneshot;
use tokio::task::{AbortHandle, spawn_local};

use super::group::{MAX_BATCH, Shared};
use crate::hub::Stream;
use crate::media::{Frame, TYPE_VIDEO};
use crate::metrics::Metrics;
use crate::player::{MAX_IOVECS, Pace, PlayError, Wire};

/// Players whose wires have the same class put the same bytes around every message.
pub(super) type Class = (u8, u32);

pub(super) struct Player {
    pub(super) wr: OwnedWriteHalf,
    pub(super) wire: Box<dyn Wire>,
    pub(super) class: Class,
    pub(super) stall: Duration,
    /// Messages it may fall behind (its backlog's bound while parked).
    pub(super) ring: usize,
    pub(super) group: Rc<Shared>,
    pub(super) metrics: Arc<Metrics>,
    pub(super) state: RefCell<State>,
}

pub(super) struct State {
    pub(super) pace: Pace,
    /// The number of the first live message this player gets (see `hub::Subscription`).
    pub(super) from: u64,
    /// Bytes the socket has not taken yet (the first one may be partly sent): while there
    /// are any, the player is parked.
    pub(super) pending: Vec<Bytes>,
    /// Messages that came while it was parked.
    pub(super) backlog: VecDeque<Frame>,
    pub(super) parked: bool,
    /// Its last bytes (the publisher's end) are in `pending`.
    pub(super) ending: bool,
    /// Taken when it finishes.
    pub(super) done: Option<oneshot::Sender<Result<bool, PlayError>>>,
    pub(super) listener: Option<AbortHandle>,
    /// Its task while parked.
    pub(super) parker: Option<AbortHandle>,
}

impl State {
    pub(super) fn finished(&self) -> bool {
        self.done.is_none()
    }

    /// Adds the pieces of `frames` (the pace's choice) to `out`, up to and including the
    /// publisher's end, if one comes.
    pub(super) fn pieces<'f>(
        &mut self,
        wire: &dyn Wire,
        frames: impl IntoIterator<Item = &'f Frame>,
        out: &mut Vec<Bytes>,
    ) {
        for frame in frames {
            if frame.is_end() {
                out.extend(wire.end().cloned());
                self.ending = true;
                return;
            }
            if self.pace.sends(frame) {
                wire.pieces(frame, out);
            }
        }
    }
}

impl Player {
    /// Ends the player with `result`: its session learns it, its listener stops, and its
    /// group lets it go (dropping its socket's write half shuts the connection down).
    pub(super) fn finish(&self, state: &mut State, result: Result<bool, PlayError>) {
        if let Some(done) = state.done.take() {
            let _ = done.send(result);
        }
        // Its tasks stop at once (they hold the socket): the connection closes when the
        // group lets the player go, not when a parked send gives up.
        for task in [state.listener.take(), state.parker.take()]
            .into_iter()
            .flatten()
        {
            task.abort();
        }
        state.pending.clear();
        state.backlog.clear();
        self.group.wake.notify_one();
    }

    /// The player missed `missed` messages: it skips video to the next keyframe, so the
    /// video it has queued goes too (what follows the gap refers to pictures it lost); one
    /// that lags too often is dropped (`Pace`).
    pub(super) fn lagged(&self, state: &mut State, missed: u64) {
        state.backlog.retain(|f| f.type_id != TYPE_VIDEO);
        if let Err(e) = state.pace.lagged(missed, &self.metrics) {
            self.finish(state, Err(e));
        }
    }

    /// Sends `pieces`: as much as the socket takes now; the rest waits in `pending`, and the
    /// player is parked until its socket takes it.
    pub(super) fn send(self: &Rc<Self>, state: &mut State, pieces: &[Bytes], tally: &mut Tally) {
        let outcome = write_now(&self.wr, pieces, tally);
        self.sent(state, pieces, outcome);
    }

    /// What follows a send of `pieces` that left the first piece not wholly sent and how
    /// much of it was (`None`: all sent), or failed.
    pub(super) fn sent(
        self: &Rc<Self>,
        state: &mut State,
        pieces: &[Bytes],
        outcome: std::io::Result<Option<(usize, usize)>>,
    ) {
        match outcome {
            Ok(None) if state.ending => self.finish(state, Ok(true)),
            Ok(None) => {}
            Ok(Some((first, offset))) => {
                state.pending.extend_from_slice(&pieces[first..]);
                state.pending[0].advance(offset);
                state.parked = true;
                state.parker = Some(spawn_local(park(self.clone())).abort_handle());
            }
            Err(e) => self.finish(state, Err(PlayError::Io(e))),
        }
    }
}

/// What a send that took `result` of `pieces` left: see [`Player::sent`].
pub(super) fn outcome(
    pieces: &[Bytes],
    result: std::io::Result<usize>,
) -> std::io::Result<Option<(usize, usize)>> {
    match result {
        Ok(written) => {
            let (first, offset) = advance(pieces, (0, 0), written);
            Ok((first < pieces.len()).then_some((first, offset)))
        }
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(Some((0, 0))),
        Err(e) => Err(e),
    }
}

/// Where a send of `written` bytes from `at` (a piece and how much of it was already sent)
/// leaves `pieces`: the first piece not wholly sent and how much of it is.
fn advance(pieces: &[Bytes], at: (usize, usize), mut written: usize) -> (usize, usize) {
    let (mut first, mut offset) = at;
    while first < pieces.len() && written >= pieces[first].len() - offset {
        written -= pieces[first].len() - offset;
        first += 1;
        offset = 0;
    }
    (first, offset + written)
}

/// Bytes and writes of one pass, added to the metrics once.
#[derive(Default)]
pub(super) struct Tally {
    pub(super) bytes: u64,
    pub(super) writes: u64,
}

impl Tally {
    pub(super) fn record(&mut self, metrics: &Metrics) {
        metrics.bytes_out.add(std::mem::take(&mut self.bytes));
        metrics.writes.add(std::mem::take(&mut self.writes));
    }
}

/// Writes what the socket takes now, without waiting: `None` when it took everything, else
/// the first piece not wholly sent and how much of it was.
pub(super) fn write_now(
    wr: &OwnedWriteHalf,
    pieces: &[Bytes],
    tally: &mut Tally,
) -> std::io::Result<Option<(usize, usize)>> {
    let (mut first, mut offset) = (0, 0);
    while first < pieces.len() {
        let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
        let n = (pieces.len() - first).min(MAX_IOVECS);
        slices[0] = IoSlice::new(&pieces[first][offset..]);
        for (slot, piece) in slices[1..n].iter_mut().zip(&pieces[first + 1..]) {
            *slot = IoSlice::new(piece);
        }
        match wr.try_write_vectored(&slices[..n]) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(written) => {
                tally.bytes += written as u64;
                tally.writes += 1;
                (first, offset) = advance(pieces, (first, offset), written);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                return Ok(Some((first, offset)));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}

/// Queues `frames` for a parked player. One that falls a whole ring behind loses the video
/// of its backlog and skips video to the next keyframe; its audio and metadata stay (and if
/// even they fill the ring, the older half of them goes).
pub(super) fn queue(player: &Player, state: &mut State, frames: &[Frame]) {
    // Nothing after the publisher's end: the player ends there.
    if state.backlog.back().is_some_and(|f| f.is_end()) {
        return;
    }
    let upto = frames
        .iter()
        .position(Frame::is_end)
        .map_or(frames.len(), |at| at + 1);
    state.backlog.extend(frames[..upto].iter().cloned());
    if state.backlog.len() > player.ring {
        let before = state.backlog.len();
        state.backlog.retain(|f| f.type_id != TYPE_VIDEO);
        // The end, if it came, is the newest: kept.
        let keep = (player.ring / 2).max(1);
        if state.backlog.len() > keep {
            let excess = state.backlog.len() - keep;
            state.backlog.drain(..excess);
        }
        let missed = (before - state.backlog.len()) as u64;
        player.lagged(state, missed);
    }
}

/// A parked player's task: waits for its socket to take more, then sends what waits and its
/// backlog, until it has caught up (it goes back to its group's loop), it has sent the end,
/// or it fails (stalled for the stall timeout, or a socket error).
async fn park(player: Rc<Player>) {
    let metrics = player.metrics.clone();
    let _parked = Parked::count(&metrics);
    let mut tally = Tally::default();
    let mut pieces = Vec::new();
    loop {
        let ready = tokio::time::timeout(player.stall, player.wr.writable()).await;
        let mut state = player.state.borrow_mut();
        if state.finished() {
            break;
        }
        match ready {
            Err(_) => {
                player.finish(&mut state, Err(PlayError::Stalled(player.stall)));
                break;
            }
            Ok(Err(e)) => {
                player.finish(&mut state, Err(PlayError::Io(e)));
                break;
            }
            Ok(Ok(())) => {}
        }
        match catch_up(&player, &mut state, &mut pieces, &mut tally) {
            Ok(true) => {}
            Ok(false) => continue,
            Err(e) => {
                player.finish(&mut state, Err(PlayError::Io(e)));
                break;
            }
        }
        tally.record(&metrics);
        if state.ending {
            player.finish(&mut state, Ok(true));
        } else {
            state.parked = false;
            state.parker = None;
        }
        break;
    }
    tally.record(&metrics);
}

/// Counts a parked player in `parked_players` for as long as its task lives (however it
/// ends, aborted included).
struct Parked<'m>(&'m Metrics);

impl<'m> Parked<'m> {
    fn count(metrics: &'m Metrics) -> Self {
        metrics.parked_players.inc();
        Self(metrics)
    }
}

impl Drop for Parked<'_> {
    fn drop(&mut self) {
        self.0.parked_players.dec();
    }
}

/// Sends what waits, then the backlog: whether all of it went (`false`: the socket is full
/// again).
fn catch_up(
    player: &Player,
    state: &mut State,
    pieces: &mut Vec<Bytes>,
    tally: &mut Tally,
) -> std::io::Result<bool> {
    loop {
        if !state.pending.is_empty() {
            match write_now(&player.wr, &state.pending, tally)? {
                None => state.pending.clear(),
                Some((first, offset)) => {
                    state.pending.drain(..first);
                    state.pending[0].advance(offset);
                    return Ok(false);
                }
            }
        }
        if state.ending || state.backlog.is_empty() {
            return Ok(true);
        }
        let take = state.backlog.len().min(MAX_BATCH);
        let frames: Vec<Frame> = state.backlog.drain(..take).collect();
        pieces.clear();
        state.pieces(&*player.wire, &frames, pieces);
        std::mem::swap(&mut state.pending, pieces);
    }
}

/// A player's listener: runs its front end's `listen` on the connection's input, and closes
/// a player whose stream nobody publishes within the idle time (telling it, where its
/// protocol can).
pub(super) async fn listen_to(
    player: Rc<Player>,
    rd: tokio::net::tcp::OwnedReadHalf,
    listen: super::Listen,
    idle: Duration,
    stream: Arc<Stream>,
    metrics: Arc<Metrics>,
) {
    let idle_watch = async {
        loop {
            tokio::time::sleep(idle).await;
            if !stream.is_publishing() {
                return;
            }
        }
    };
    tokio::select! {
        () = listen(rd) => {
            let mut state = player.state.borrow_mut();
            player.finish(&mut state, Ok(false));
        }
        () = idle_watch => {
            metrics.idle_players_closed.inc();
            let mut state = player.state.borrow_mut();
            if !state.parked && let Some(idle) = player.wire.idle() {
                let _ = player.wr.try_write(idle);
            }
            player.finish(&mut state, Err(PlayError::Idle(idle)));
        }
    }
}
