//! One accepted SRT connection, in a thread of its own: a publisher's TS demuxed into the
//! hub, or the hub's stream muxed to TS for a player.

use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::broadcast::error::RecvError;

use rtcroom_shared::urls::record::RecordPolicy;
use rtcroom_shared::urls::srt::{SRT_KEY_LEN, SrtMode, parse_srt_stream_id};

use super::context::{Context, check};
use super::ffi::{self, opt};
use super::socket::{Socket, SrtError};
use super::stats::{Peer, Slot};
use super::ts::{Tag, TsDemuxer, TsError, TsMuxer};
use crate::media::Frame;
use crate::player::{Pace, PlayError};

/// How often a blocked read or wait looks up (replaced publisher, idle stream, gone peer).
const TICK: Duration = Duration::from_millis(500);
/// Bytes per SRT message in live mode: 7 TS packets.
const MESSAGE: usize = 7 * 188;
/// Frames a player takes from the broadcast per round, at most.
const BATCH: usize = 64;
/// `SRTS_CONNECTED`.
const CONNECTED: i32 = 5;

#[derive(Debug, thiserror::Error)]
enum SessionError {
    #[error("refused: {0}")]
    Refused(&'static str),
    #[error("{0}")]
    Srt(#[from] SrtError),
    #[error("{0}")]
    Ended(String),
}

pub(super) fn serve(context: &Context, socket: Socket, mut slot: Slot) {
    let metrics = &context.relay.metrics;
    if let Err(e) = run(context, &socket, &mut slot) {
        if let SessionError::Refused(why) = e {
            context.connections.refused(why);
        } else {
            metrics.sessions_failed.inc();
        }
        tracing::debug!(error = %e, "SRT session ended");
    }
}

fn run(context: &Context, socket: &Socket, slot: &mut Slot) -> Result<(), SessionError> {
    // The handshake checked all this; the key exchange has happened since: media flows only
    // over a connection encrypted as the stream's URLs say.
    if socket.get_int(opt::PBKEYLEN)? != SRT_KEY_LEN as i32 {
        return Err(SessionError::Refused("key length"));
    }
    if socket.get_int(opt::KMSTATE)? != ffi::KM_SECURED {
        return Err(SessionError::Refused("unencrypted"));
    }
    let id = parse_srt_stream_id(&socket.stream_id()?)
        .map_err(|_| SessionError::Refused("stream id"))?;
    let (_, record) = check(&context.relay, &id).map_err(|(_, why)| SessionError::Refused(why))?;
    let side = match id.mode {
        SrtMode::Publish => "publish",
        SrtMode::Request => "play",
    };
    slot.describe(
        socket.id(),
        Peer {
            stream: id.stream.clone(),
            side,
        },
    );
    match id.mode {
        SrtMode::Publish => publish(context, socket, &id.stream, record),
        SrtMode::Request => play(context, socket, &id.stream),
    }
}

/// Reads TS until the caller leaves, goes silent for the publish timeout, or a new publish
/// takes the stream over.
fn publish(
    context: &Context,
    socket: &Socket,
    name: &str,
    record: Option<RecordPolicy>,
) -> Result<(), SessionError> {
    let relay = &context.relay;
    let metrics = &relay.metrics;
    let (claim, _replaced) = relay
        .start_publishing(name)
        .map_err(|e| SessionError::Ended(e.to_string()))?;
    if let Some(policy) = record {
        relay.recorder.record(&claim.stream, policy);
    }
    socket.set_int(opt::RCVTIMEO, TICK.as_millis() as i32)?;
    let mut demuxer = TsDemuxer::new();
    let mut tags: Vec<Tag> = Vec::new();
    let mut buf = vec![0u8; 1500];
    let mut heard = Instant::now();
    loop {
        match socket.recv(&mut buf) {
            Ok(n) => {
                heard = Instant::now();
                metrics.bytes_in.add(n as u64);
                claim.stream.heard();
                match demuxer.push(&buf[..n], &mut tags) {
                    Ok(()) => {}
                    // One frame over the cap is dropped (the demuxer resumes at the next);
                    // the stream goes on.
                    Err(TsError::TooLarge { .. }) => context.connections.frame_dropped(),
                    Err(e) => {
                        tracing::info!(stream = name, error = %e, "SRT publish refused");
                        return Err(SessionError::Refused("codec"));
                    }
                }
                for tag in tags.drain(..) {
                    metrics.messages_in.inc();
                    if claim
                        .stream
                        .publish(Frame::new(tag.type_id, tag.timestamp, tag.payload))
                    {
                        metrics.gop_cache_dropped.inc();
                    }
                }
            }
            Err(SrtError::Timeout) => {}
            Err(SrtError::Failed(_)) => return Ok(()),
        }
        if !claim.is_current() {
            return Ok(());
        }
        if heard.elapsed() >= relay.limits.publish_timeout {
            metrics.silent_publishers_dropped.inc();
            return Err(SessionError::Ended("silent publisher".into()));
        }
    }
}

/// Sends the stream as TS until the publisher stops, the player leaves or stalls, or it
/// falls too far behind (the same rules as the TCP players': see `player`).
fn play(context: &Context, socket: &Socket, name: &str) -> Result<(), SessionError> {
    let relay = &context.relay;
    let metrics = &relay.metrics;
    let claim = relay
        .start_playing(name)
        .map_err(|e| SessionError::Ended(e.to_string()))?;
    let mut sub = claim.stream.subscribe();
    socket.set_int(opt::SNDTIMEO, relay.stall_timeout.as_millis() as i32)?;
    // A player has nothing to send: whatever it sends anyway is read and thrown away, so it
    // cannot fill libsrt's receive buffer (non-blocking reads for that).
    socket.set_bool(opt::RCVSYN, false)?;
    let mut sink = vec![0u8; 1500];
    let mut muxer = TsMuxer::new();
    let mut out = Vec::with_capacity(64 * 1024);
    let mut batch: Vec<Frame> = std::mem::take(&mut sub.start);
    let mut pace = Pace::default();
    let too_far = |e: PlayError| SessionError::Ended(e.to_string());
    let mut waiting_since = Instant::now();
    loop {
        for frame in batch.drain(..) {
            if frame.is_end() {
                return Ok(());
            }
            if !pace.sends(&frame) {
                continue;
            }
            let tag = Tag {
                type_id: frame.type_id,
                timestamp: frame.timestamp,
                payload: Bytes::clone(&frame.payload),
            };
            muxer.mux(&tag, &mut out);
            for message in out.chunks(MESSAGE) {
                socket.send(message)?;
                metrics.bytes_out.add(message.len() as u64);
                metrics.writes.inc();
            }
            out.clear();
        }
        while socket.recv(&mut sink).is_ok() {}
        let next = context
            .runtime
            .block_on(async { tokio::time::timeout(TICK, sub.live.recv()).await });
        match next {
            Ok(Ok(frame)) => batch.push(frame),
            Ok(Err(RecvError::Lagged(missed))) => pace.lagged(missed, metrics).map_err(too_far)?,
            Ok(Err(RecvError::Closed)) => return Ok(()),
            Err(_) => {
                if socket.get_int(opt::STATE)? != CONNECTED {
                    return Ok(());
                }
                if claim.stream.is_publishing() {
                    waiting_since = Instant::now();
                } else if waiting_since.elapsed() >= relay.limits.idle_player {
                    metrics.idle_players_closed.inc();
                    return Err(SessionError::Ended("nobody published".into()));
                }
            }
        }
        pace.take_queued(&mut sub.live, &mut batch, BATCH, metrics)
            .map_err(too_far)?;
    }
}
