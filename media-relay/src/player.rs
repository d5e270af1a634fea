//! What a player is to the relay, whatever its protocol: how its messages go on the wire
//! ([`Wire`], for the TCP front ends), how it is bounded ([`Playing`]), how it fails, and
//! how far behind it may fall ([`Pace`]). A player that falls a whole ring behind skips
//! video to the next keyframe (audio and metadata continue); one that keeps falling behind,
//! or whose socket takes nothing for the stall timeout, is dropped. It never slows the
//! publisher: the broadcast does not wait for anyone. TCP players are written by `fanout`,
//! SRT players by their own thread (`srt::session`).

use std::time::Duration;

use bytes::Bytes;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::TryRecvError;

use crate::hub::Stream;
use crate::media::{Frame, TYPE_VIDEO};
use crate::metrics::Metrics;

/// Times a player may fall a whole ring behind before it is dropped.
pub const MAX_LAGS: u32 = 8;
/// Slices per `writev` (Linux allows 1024), on the stack.
pub(crate) const MAX_IOVECS: usize = 256;

/// How a player's frames go on the wire (each TCP front end has one).
pub trait Wire: Send + 'static {
    /// Players whose wires have the same class put the same bytes around every frame, so
    /// the fan-out builds a message's pieces once for all of them: the front end's own
    /// number and whatever of its settings changes the pieces (RTMP: the chunk size).
    fn class(&self) -> (u8, u32);
    /// What goes before everything else, knowing the frames the player starts with (the
    /// cached metadata, sequence headers and GOP): HTTP-FLV's response head and FLV header.
    fn preamble(&self, _start: &[Frame]) -> Option<Bytes> {
        None
    }
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

    /// Whether it skips video up to the next keyframe now.
    pub(crate) fn is_skipping(&self) -> bool {
        self.skipping_video
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
