//! What a session does once set up: a publisher's messages into the hub, or a player handed
//! to the fan-out.

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::AsyncReadExt;
use tokio::sync::Notify;

use super::{CMD_CSID, CONTROL_CSID, Conn, SessionError, on_status, parse_command};
use crate::fanout::Listen;
use crate::hub::Stream;
use crate::media::{Frame, TYPE_AUDIO, TYPE_DATA, TYPE_VIDEO};
use crate::relay::Relay;
use crate::rtmp::amf0::{self, metadata};
use crate::rtmp::{PLAY_STREAM_ID, RtmpWire};

impl Conn {
    /// Takes the publisher's messages into the hub until it stops, sends nothing for
    /// `timeout` (a phone gone from the network without closing), or a new publish of its
    /// stream replaces it.
    pub(super) async fn publish(
        &mut self,
        stream: &Arc<Stream>,
        replaced: &Notify,
        timeout: Duration,
    ) -> Result<(), SessionError> {
        loop {
            let next = tokio::select! {
                next = tokio::time::timeout(timeout, self.next_message()) => next,
                () = replaced.notified() => {
                    tracing::info!(stream = %stream.name, "publisher replaced by a new publish");
                    return Ok(());
                }
            };
            let m = match next {
                Ok(Ok(Some(m))) => m,
                Ok(Ok(None)) => return Ok(()),
                Ok(Err(e)) => return Err(e),
                Err(_) => {
                    self.metrics.silent_publishers_dropped.inc();
                    tracing::info!(stream = %stream.name, ?timeout, "silent publisher dropped");
                    return Err(SessionError::Timeout);
                }
            };
            stream.heard();
            if self.control(&m).await? {
                continue;
            }
            match m.type_id {
                TYPE_AUDIO | TYPE_VIDEO => {
                    self.metrics.messages_in.inc();
                    if stream.publish(Frame::new(m.type_id, m.timestamp, m.payload)) {
                        self.metrics.gop_cache_dropped.inc();
                    }
                }
                TYPE_DATA | 15 => {
                    if let Some(meta) = metadata(&m) {
                        stream.publish(Frame::new(TYPE_DATA, 0, meta));
                    }
                }
                17 | 20 => {
                    let cmd = parse_command(&m)?;
                    if matches!(
                        cmd.name.as_str(),
                        "deleteStream" | "FCUnpublish" | "closeStream"
                    ) {
                        return Ok(());
                    }
                }
                _ => {}
            }
        }
    }

    /// Plays to the client (from a fan-out shard) until the publisher stops
    /// (UnpublishNotify, StreamEOF, close), the client leaves (deleteStream, or the
    /// connection ends), or it falls too far behind.
    pub(super) async fn play(
        self,
        relay: &Relay,
        stream: &Arc<Stream>,
    ) -> Result<(), SessionError> {
        let Conn {
            rd,
            wr,
            mut reader,
            mut inbuf,
            framing,
            budget,
            held: _held,
            ..
        } = self;
        let mut preamble = BytesMut::new();
        // User Control StreamBegin (event 0) for stream 1, then Play.Reset and Play.Start.
        framing.encode(&mut preamble, CONTROL_CSID, 0, 4, 0, &[0, 0, 0, 0, 0, 1]);
        for code in ["NetStream.Play.Reset", "NetStream.Play.Start"] {
            let started = amf0::encode_all(&on_status("status", code, &stream.name));
            framing.encode(&mut preamble, CMD_CSID, 0, 20, PLAY_STREAM_ID, &started);
        }
        let mut end = BytesMut::new();
        let unpublished = amf0::encode_all(&on_status(
            "status",
            "NetStream.Play.UnpublishNotify",
            "the publisher stopped",
        ));
        framing.encode(&mut end, CMD_CSID, 0, 20, PLAY_STREAM_ID, &unpublished);
        // User Control StreamEOF (event 1) for stream 1.
        framing.encode(&mut end, CONTROL_CSID, 0, 4, 0, &[0, 1, 0, 0, 0, 1]);
        let mut idle = BytesMut::new();
        let not_found = amf0::encode_all(&on_status(
            "error",
            "NetStream.Play.StreamNotFound",
            "nobody published the stream",
        ));
        framing.encode(&mut idle, CMD_CSID, 0, 20, PLAY_STREAM_ID, &not_found);
        framing.encode(&mut idle, CONTROL_CSID, 0, 4, 0, &[0, 1, 0, 0, 0, 1]);
        let wire = RtmpWire {
            preamble: preamble.freeze(),
            framing,
            end: end.freeze(),
            idle: idle.freeze(),
        };
        // What the player sends while it plays: commands only (it keeps the setup budget);
        // it leaves with deleteStream/closeStream or by closing.
        let listen: Listen = Box::new(move |mut rd| {
            Box::pin(async move {
                loop {
                    match reader.read(&mut inbuf) {
                        Ok(Some(m)) if matches!(m.type_id, 17 | 20) => {
                            let leaving = parse_command(&m).is_ok_and(|c| {
                                matches!(c.name.as_str(), "deleteStream" | "closeStream")
                            });
                            if leaving {
                                return;
                            }
                        }
                        Ok(Some(m)) if m.type_id == 1 && m.payload.len() >= 4 => {
                            let size = u32::from_be_bytes(m.payload[..4].try_into().expect("4"));
                            reader.set_chunk_size(size & 0x7FFF_FFFF);
                        }
                        Ok(Some(_)) => {}
                        Ok(None) if reader.buffered() + inbuf.len() > budget => return,
                        Ok(None) => match rd.read_buf(&mut inbuf).await {
                            Ok(n) if n > 0 => {}
                            _ => return,
                        },
                        Err(_) => return,
                    }
                }
            })
        });
        let socket = rd
            .reunite(wr)
            .map_err(|e| SessionError::Protocol(e.to_string()))?;
        relay
            .fanout
            .play(
                socket,
                Box::new(wire),
                listen,
                relay.playing(stream),
                stream,
            )
            .await?;
        Ok(())
    }
}
