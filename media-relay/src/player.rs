//! Sending a stream to one player over TCP (RTMP or HTTP-FLV): the hot path of the relay.
//!
//! The player waits for the next frame, then takes whatever else is already queued (no
//! waiting for more, so no added latency), and writes the batch with vectored writes of the
//! frames' shared bytes: its own per-message headers are shared too (built once per message
//! by the hub), so nothing is copied per player. A player that falls a whole ring behind skips
//! video to the next keyframe (audio and metadata continue); one that keeps falling behind,
//! or whose socket takes nothing for the stall timeout, is dropped. It never slows the
//! publisher: the broadcast does not wait for anyone.

use std::future::Future;
use std::io::IoSlice;
use std::time::Duration;

use bytes::{Buf, Bytes};
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

use crate::hub::{Stream, Subscription};
use crate::media::{Frame, TYPE_VIDEO};
use crate::metrics::Metrics;

/// Times a player may fall a whole ring behind before it is dropped.
pub const MAX_LAGS: u32 = 8;
/// Frames gathered into one batch, at most.
const MAX_BATCH: usize = 128;
/// Slices per `writev` (Linux allows 1024), on the stack.
const MAX_IOVECS: usize = 256;

/// How a player's frames go on the wire (each TCP front end has one).
pub trait Wire {
    /// The pieces of one frame, in order (shared bytes: its framing and payload).
    fn pieces(&self, frame: &Frame, out: &mut Vec<Bytes>);
    /// What to send when the publisher stops.
    fn end(&self) -> Option<&Bytes> {
        None
    }
    /// What to send when nobody published within the idle time.
    fn idle(&self) -> Option<&Bytes> {
        None
    }
}

/// How one player is bounded.
pub struct Playing<'a> {
    pub stream: &'a Stream,
    /// A socket that takes nothing this long.
    pub stall: Duration,
    /// Waiting this long for a publisher that does not come.
    pub idle: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum PlayError {
    #[error("player too far behind")]
    TooFarBehind,
    #[error("player's socket took nothing for {0:?}")]
    Stalled(Duration),
    #[error("nobody published the stream within {0:?}")]
    Idle(Duration),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Plays `sub` to `wr` until the publisher ends the stream (then `Ok(true)`), `closed`
/// resolves (the player left: `Ok(false)`), or the player fails.
pub async fn play(
    wr: &mut OwnedWriteHalf,
    wire: &impl Wire,
    mut sub: Subscription,
    metrics: &Metrics,
    limits: Playing<'_>,
    closed: impl Future<Output = ()>,
) -> Result<bool, PlayError> {
    let stall_timeout = limits.stall;
    tokio::pin!(closed);
    let mut pace = Pace::default();
    let mut batch: Vec<Frame> = std::mem::take(&mut sub.start);
    let mut pieces: Vec<Bytes> = Vec::with_capacity(MAX_BATCH * 3);
    loop {
        if batch.is_empty() {
            tokio::select! {
                frame = sub.live.recv() => match frame {
                    Ok(f) => batch.push(f),
                    Err(RecvError::Lagged(missed)) => {
                        pace.lagged(missed, metrics)?;
                        continue;
                    }
                    Err(RecvError::Closed) => return Ok(true),
                },
                () = &mut closed => return Ok(false),
                // A player of a stream nobody publishes holds a stream slot: not for ever.
                () = tokio::time::sleep(limits.idle), if !limits.stream.is_publishing() => {
                    if limits.stream.is_publishing() {
                        continue;
                    }
                    metrics.idle_players_closed.inc();
                    if let Some(idle) = wire.idle() {
                        let _ = tokio::time::timeout(stall_timeout, wr.write_all(idle)).await;
                    }
                    let _ = wr.shutdown().await;
                    return Err(PlayError::Idle(limits.idle));
                }
            }
        }
        pace.take_queued(&mut sub.live, &mut batch, MAX_BATCH, metrics)?;
        let mut ended = false;
        for frame in batch.drain(..) {
            if frame.is_end() {
                ended = true;
                break;
            }
            if pace.sends(&frame) {
                wire.pieces(&frame, &mut pieces);
            }
        }
        if ended && let Some(end) = wire.end() {
            pieces.push(end.clone());
        }
        if !pieces.is_empty() {
            // Most writes go straight into the socket buffer: only a socket that is full gets
            // a timer and a wait.
            let first = try_write_pieces(wr, &mut pieces, metrics)?;
            if first < pieces.len() {
                tokio::time::timeout(
                    stall_timeout,
                    write_pieces(wr, &mut pieces[first..], metrics),
                )
                .await
                .map_err(|_| PlayError::Stalled(stall_timeout))??;
            }
            pieces.clear();
        }
        if ended {
            wr.shutdown().await?;
            return Ok(true);
        }
    }
}

/// How far behind a player is, whatever its protocol: one that falls a whole ring behind
/// skips video to the next keyframe (audio and metadata go on); one that does so more than
/// [`MAX_LAGS`] times is dropped.
#[derive(Debug, Default)]
pub(crate) struct Pace {
    skipping_video: bool,
    lags: u32,
}

impl Pace {
    /// The player missed `missed` messages.
    pub(crate) fn lagged(&mut self, missed: u64, metrics: &Metrics) -> Result<(), PlayError> {
        self.lags += 1;
        metrics.dropped_to_keyframe.add(missed);
        self.skipping_video = true;
        if self.lags > MAX_LAGS {
            return Err(PlayError::TooFarBehind);
        }
        Ok(())
    }

    /// Whether `frame` goes to the player (not while skipping video up to a keyframe).
    pub(crate) fn sends(&mut self, frame: &Frame) -> bool {
        if frame.type_id == TYPE_VIDEO && self.skipping_video {
            if !frame.keyframe {
                return false;
            }
            self.skipping_video = false;
        }
        true
    }

    /// Adds what is already queued for the player to `batch`, up to `max` frames, without
    /// waiting.
    pub(crate) fn take_queued(
        &mut self,
        live: &mut broadcast::Receiver<Frame>,
        batch: &mut Vec<Frame>,
        max: usize,
        metrics: &Metrics,
    ) -> Result<(), PlayError> {
        while batch.len() < max {
            match live.try_recv() {
                Ok(f) => batch.push(f),
                Err(TryRecvError::Lagged(missed)) => self.lagged(missed, metrics)?,
                Err(_) => break,
            }
        }
        Ok(())
    }
}

/// The iovecs for `pieces`, at most [`MAX_IOVECS`] of them, on the stack.
fn io_slices(pieces: &[Bytes]) -> ([IoSlice<'_>; MAX_IOVECS], usize) {
    let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
    let n = pieces.len().min(MAX_IOVECS);
    for (slot, piece) in slices.iter_mut().zip(&pieces[..n]) {
        *slot = IoSlice::new(piece);
    }
    (slices, n)
}

/// Consumes `written` bytes from the front of `pieces`; the index of the first unfinished one.
fn advance(pieces: &mut [Bytes], mut first: usize, mut written: usize) -> usize {
    while first < pieces.len() && written >= pieces[first].len() {
        written -= pieces[first].len();
        first += 1;
    }
    if written > 0 {
        pieces[first].advance(written);
    }
    first
}

/// Writes what the socket takes now, without waiting; the index of the first piece not
/// (completely) written.
fn try_write_pieces(
    wr: &mut OwnedWriteHalf,
    pieces: &mut [Bytes],
    metrics: &Metrics,
) -> Result<usize, PlayError> {
    let mut first = 0;
    while first < pieces.len() {
        let (slices, n) = io_slices(&pieces[first..]);
        match wr.try_write_vectored(&slices[..n]) {
            Ok(0) => return Err(PlayError::Io(std::io::ErrorKind::WriteZero.into())),
            Ok(written) => {
                metrics.bytes_out.add(written as u64);
                metrics.writes.inc();
                first = advance(pieces, first, written);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) => return Err(PlayError::Io(e)),
        }
    }
    Ok(first)
}

/// Writes the pieces with as few vectored writes as the socket allows, waiting for room.
async fn write_pieces(
    wr: &mut OwnedWriteHalf,
    pieces: &mut [Bytes],
    metrics: &Metrics,
) -> Result<(), PlayError> {
    let mut first = 0;
    while first < pieces.len() {
        let (slices, n) = io_slices(&pieces[first..]);
        let written = wr.write_vectored(&slices[..n]).await?;
        if written == 0 {
            return Err(PlayError::Io(std::io::ErrorKind::WriteZero.into()));
        }
        metrics.bytes_out.add(written as u64);
        metrics.writes.inc();
        first = advance(pieces, first, written);
    }
    Ok(())
}
