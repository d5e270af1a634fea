//! One RTMP connection: handshake, `connect`, then either publishing a stream or playing one.
//!
//! ```text
//! client                                     relay
//! connect(app, tcUrl)                   →    Window Ack Size, Set Peer Bandwidth,
//!                                       ←    Set Chunk Size, _result(NetConnection.Connect.Success)
//! releaseStream / FCPublish / createStream → _result (stream id 1)
//! publish(name?bizid&txSecret&txTime)   →    onStatus NetStream.Publish.Start
//!                                            (BadName and close: bad signature, expired, taken)
//! audio / video / @setDataFrame         →    into the hub
//! play(name?bizid&txSecret&txTime)      →    StreamBegin, onStatus NetStream.Play.Reset/Start,
//!                                       ←    metadata, sequence headers, GOP, live messages
//!                                            (Play.Failed and close on a bad signature)
//! publisher gone                        ←    onStatus NetStream.Play.UnpublishNotify, StreamEOF,
//!                                            and the connection closes
//! ```

mod roles;

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::Notify;

use crate::metrics::Metrics;
use crate::player::PlayError;
use crate::relay::{Access, Claim, Relay, authorise_url, split_name};
use crate::rtmp::PLAY_STREAM_ID;
use crate::rtmp::amf0::{self, Amf, status};
use crate::rtmp::chunk::{ChunkError, ChunkReader, Framing, Message};
use crate::rtmp::handshake;
use rtcroom_shared::urls::record::RecordPolicy;

/// The chunk size the relay writes with: most media messages fit one chunk.
pub const OUT_CHUNK_SIZE: usize = 65_536;
const WINDOW_ACK_SIZE: u32 = 2_500_000;
/// A connection that has not published or played this long after connecting is dropped.
const SETUP_TIMEOUT: Duration = Duration::from_secs(15);

const CMD_CSID: u32 = 3;
const CONTROL_CSID: u32 = 2;

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Handshake(#[from] handshake::HandshakeError),
    #[error(transparent)]
    Chunk(#[from] ChunkError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Protocol(String),
    #[error("timed out")]
    Timeout,
    #[error("holds more than its {0} bytes of unfinished input")]
    OverBudget(usize),
    #[error("the relay holds its {0} bytes of unfinished input")]
    OverRelayBudget(usize),
    #[error(transparent)]
    Play(#[from] PlayError),
}

/// The bytes a connection holds (unfinished messages and unread input), as counted in the
/// relay's total; given back when the connection ends.
struct Held {
    metrics: Arc<Metrics>,
    bytes: usize,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.metrics.buffered_bytes.add(-(self.bytes as i64));
    }
}

struct Conn {
    rd: OwnedReadHalf,
    wr: OwnedWriteHalf,
    reader: ChunkReader,
    inbuf: BytesMut,
    framing: Framing,
    received: u64,
    acked: u64,
    peer_window: u64,
    /// The query part of `connect`'s tcUrl/app, for clients that put the signature there.
    connect_query: Option<String>,
    metrics: Arc<Metrics>,
    /// What the connection may hold now: the setup budget, or a publisher's once authorised.
    budget: usize,
    /// The relay's total budget over every connection.
    relay_budget: usize,
    held: Held,
}

pub async fn serve(relay: Arc<Relay>, mut socket: TcpStream) -> Result<(), SessionError> {
    let _ = socket.set_nodelay(true);
    tokio::time::timeout(SETUP_TIMEOUT, handshake::accept(&mut socket))
        .await
        .map_err(|_| SessionError::Timeout)??;
    let (rd, wr) = socket.into_split();
    let mut conn = Conn {
        rd,
        wr,
        reader: ChunkReader::default(),
        inbuf: BytesMut::with_capacity(64 * 1024),
        framing: Framing { chunk_size: 128 },
        received: 0,
        acked: 0,
        peer_window: u64::from(WINDOW_ACK_SIZE),
        connect_query: None,
        metrics: relay.metrics.clone(),
        budget: relay.limits.setup_buffer_bytes,
        relay_budget: relay.limits.max_buffered_bytes,
        held: Held {
            metrics: relay.metrics.clone(),
            bytes: 0,
        },
    };
    let role = tokio::time::timeout(SETUP_TIMEOUT, conn.setup(&relay))
        .await
        .map_err(|_| SessionError::Timeout)??;
    // The claims in `role` end when it drops, at the end of this function.
    match role {
        Role::Publish(publishing, replaced) => {
            conn.budget = relay.limits.publish_buffer_bytes;
            let timeout = relay.limits.publish_timeout;
            conn.publish(&publishing.stream, &replaced, timeout).await
        }
        Role::Play(playing) => conn.play(&relay, &playing.stream).await,
        Role::Done => Ok(()),
    }
}

enum Role<'a> {
    Publish(Claim<'a>, Arc<Notify>),
    Play(Claim<'a>),
    Done,
}

/// A command: name, transaction id, and the rest.
/// An `onStatus` command's values.
fn on_status(level: &str, code: &str, description: &str) -> [Amf; 4] {
    [
        Amf::String("onStatus".into()),
        Amf::Number(0.0),
        Amf::Null,
        status(level, code, description),
    ]
}

struct Command {
    name: String,
    txn: f64,
    args: Vec<Amf>,
}

fn parse_command(message: &Message) -> Result<Command, SessionError> {
    // AMF3 commands (type 17) are AMF0 after a leading format byte.
    let body = if message.type_id == 17 {
        message.payload.get(1..).unwrap_or(&[])
    } else {
        &message.payload[..]
    };
    let mut values = amf0::decode_all(body)
        .map_err(|e| SessionError::Protocol(format!("bad command: {e}")))?
        .into_iter();
    let name = values
        .next()
        .and_then(|v| v.str().map(str::to_owned))
        .ok_or_else(|| SessionError::Protocol("command without a name".into()))?;
    let txn = values.next().and_then(|v| v.number()).unwrap_or(0.0);
    Ok(Command {
        name,
        txn,
        args: values.collect(),
    })
}

impl Conn {
    /// The next whole message, or `None` at the end of the connection. Cancel-safe (it only
    /// awaits a read), so a player can wait on it and on the broadcast at once.
    async fn next_message(&mut self) -> Result<Option<Message>, SessionError> {
        loop {
            let before = self.inbuf.len();
            if let Some(m) = self.reader.read(&mut self.inbuf)? {
                return Ok(Some(m));
            }
            if self.inbuf.len() != before {
                // A chunk of an unfinished message: the next may already be buffered.
                continue;
            }
            self.account()?;
            if self.inbuf.capacity() - self.inbuf.len() < 16 * 1024 {
                self.inbuf.reserve(64 * 1024);
            }
            let n = self.rd.read_buf(&mut self.inbuf).await?;
            if n == 0 {
                return Ok(None);
            }
            self.received += n as u64;
            self.metrics.bytes_in.add(n as u64);
        }
    }

    /// Counts what the connection holds (unfinished messages and unread input) against its
    /// budget and the relay's, before it reads more.
    fn account(&mut self) -> Result<(), SessionError> {
        let bytes = self.reader.buffered() + self.inbuf.len();
        if bytes > self.budget {
            self.metrics.over_connection_budget.inc();
            return Err(SessionError::OverBudget(self.budget));
        }
        let grew = bytes > self.held.bytes;
        let total = self
            .metrics
            .buffered_bytes
            .add(bytes as i64 - self.held.bytes as i64);
        self.held.bytes = bytes;
        if grew && total > self.relay_budget as i64 {
            self.metrics.over_relay_budget.inc();
            return Err(SessionError::OverRelayBudget(self.relay_budget));
        }
        Ok(())
    }

    /// Acknowledges what the peer sent once a window's worth has arrived.
    async fn acknowledge(&mut self) -> Result<(), SessionError> {
        if self.received - self.acked >= self.peer_window {
            self.acked = self.received;
            let seq = (self.received & 0xFFFF_FFFF) as u32;
            self.send(CONTROL_CSID, 3, 0, &seq.to_be_bytes()).await?;
        }
        Ok(())
    }

    async fn send(
        &mut self,
        csid: u32,
        type_id: u8,
        stream_id: u32,
        payload: &[u8],
    ) -> Result<(), SessionError> {
        let mut out = BytesMut::with_capacity(payload.len() + 32);
        self.framing
            .encode(&mut out, csid, 0, type_id, stream_id, payload);
        self.wr.write_all(&out).await?;
        self.metrics.bytes_out.add(out.len() as u64);
        Ok(())
    }

    async fn command(&mut self, stream_id: u32, values: &[Amf]) -> Result<(), SessionError> {
        self.send(CMD_CSID, 20, stream_id, &amf0::encode_all(values))
            .await
    }

    async fn on_status(
        &mut self,
        level: &str,
        code: &str,
        description: &str,
    ) -> Result<(), SessionError> {
        self.command(PLAY_STREAM_ID, &on_status(level, code, description))
            .await
    }

    /// Handles a protocol control message; `true` when it was one.
    async fn control(&mut self, m: &Message) -> Result<bool, SessionError> {
        self.acknowledge().await?;
        let word = m
            .payload
            .get(..4)
            .map(|b| u32::from_be_bytes(b.try_into().expect("4 bytes")));
        match (m.type_id, word) {
            (1, Some(size)) => self.reader.set_chunk_size(size & 0x7FFF_FFFF),
            (2, Some(csid)) => self.reader.abort(csid),
            (5, Some(window)) => self.peer_window = u64::from(window.max(1)),
            // Ping request → ping response with the same time.
            (4, _) if m.payload.len() >= 6 && m.payload[..2] == [0, 6] => {
                let mut p = vec![0, 7];
                p.extend_from_slice(&m.payload[2..6]);
                self.send(CONTROL_CSID, 4, 0, &p).await?;
            }
            (3 | 4 | 6, _) => {}
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// From `connect` to a successful `publish` or `play`.
    async fn setup<'r>(&mut self, relay: &'r Relay) -> Result<Role<'r>, SessionError> {
        while let Some(m) = self.next_message().await? {
            if self.control(&m).await? || !matches!(m.type_id, 17 | 20) {
                continue;
            }
            let cmd = parse_command(&m)?;
            match cmd.name.as_str() {
                "connect" => self.connect(&cmd).await?,
                "createStream" => {
                    self.command(
                        0,
                        &[
                            Amf::String("_result".into()),
                            Amf::Number(cmd.txn),
                            Amf::Null,
                            Amf::Number(f64::from(PLAY_STREAM_ID)),
                        ],
                    )
                    .await?
                }
                "releaseStream" | "FCPublish" | "FCUnpublish" | "_checkbw" | "getStreamLength" => {
                    if cmd.txn != 0.0 {
                        self.command(
                            0,
                            &[
                                Amf::String("_result".into()),
                                Amf::Number(cmd.txn),
                                Amf::Null,
                                Amf::Undefined,
                            ],
                        )
                        .await?;
                    }
                }
                "publish" => {
                    return match self.authorise(relay, &cmd, Access::Publish).await? {
                        Some((name, record)) => match relay.start_publishing(&name) {
                            Ok((publishing, replaced)) => {
                                if let Some(policy) = record {
                                    relay.recorder.record(&publishing.stream, policy);
                                }
                                self.on_status("status", "NetStream.Publish.Start", &name)
                                    .await?;
                                Ok(Role::Publish(publishing, replaced))
                            }
                            Err(e) => {
                                self.on_status(
                                    "error",
                                    "NetStream.Publish.BadName",
                                    &e.to_string(),
                                )
                                .await?;
                                Ok(Role::Done)
                            }
                        },
                        None => Ok(Role::Done),
                    };
                }
                "play" => {
                    return match self.authorise(relay, &cmd, Access::Play).await? {
                        Some((name, _)) => match relay.start_playing(&name) {
                            // StreamBegin and Play.Reset/Start go out from the fan-out,
                            // once the player is subscribed (`roles.rs`).
                            Ok(playing) => Ok(Role::Play(playing)),
                            Err(e) => {
                                self.on_status("error", "NetStream.Play.Failed", &e.to_string())
                                    .await?;
                                Ok(Role::Done)
                            }
                        },
                        None => Ok(Role::Done),
                    };
                }
                "deleteStream" | "closeStream" => {}
                other => tracing::debug!(command = other, "ignored"),
            }
        }
        Ok(Role::Done)
    }

    async fn connect(&mut self, cmd: &Command) -> Result<(), SessionError> {
        let props = cmd.args.first();
        for key in ["tcUrl", "app"] {
            if let Some((_, query)) = props
                .and_then(|p| p.get(key))
                .and_then(Amf::str)
                .and_then(|s| s.split_once('?'))
            {
                self.connect_query = Some(query.to_owned());
            }
        }
        self.send(CONTROL_CSID, 5, 0, &WINDOW_ACK_SIZE.to_be_bytes())
            .await?;
        let mut bw = WINDOW_ACK_SIZE.to_be_bytes().to_vec();
        bw.push(2);
        self.send(CONTROL_CSID, 6, 0, &bw).await?;
        self.send(CONTROL_CSID, 1, 0, &(OUT_CHUNK_SIZE as u32).to_be_bytes())
            .await?;
        self.framing = Framing {
            chunk_size: OUT_CHUNK_SIZE,
        };
        self.command(
            0,
            &[
                Amf::String("_result".into()),
                Amf::Number(cmd.txn),
                Amf::object(&[
                    ("fmsVer", Amf::String("FMS/3,0,1,123".into())),
                    ("capabilities", Amf::Number(31.0)),
                ]),
                Amf::object(&[
                    ("level", Amf::String("status".into())),
                    ("code", Amf::String("NetConnection.Connect.Success".into())),
                    ("description", Amf::String("Connection succeeded.".into())),
                    ("objectEncoding", Amf::Number(0.0)),
                ]),
            ],
        )
        .await
    }

    /// Checks `publish`/`play`'s stream name and signature; on refusal tells the client
    /// (`NetStream.{what}.BadName` / `.Failed`) and answers `None`.
    async fn authorise(
        &mut self,
        relay: &Relay,
        cmd: &Command,
        what: Access,
    ) -> Result<Option<(String, Option<RecordPolicy>)>, SessionError> {
        // publish/play: null, name, ...
        let raw = cmd.args.get(1).and_then(Amf::str).unwrap_or("");
        let (name, query) = split_name(raw);
        let query = query
            .map(str::to_owned)
            .or_else(|| self.connect_query.clone());
        match authorise_url(relay, name, query.as_deref(), what) {
            Ok(record) => Ok(Some((name.to_owned(), record))),
            Err(why) => {
                let code = if what == Access::Publish {
                    "NetStream.Publish.BadName"
                } else {
                    "NetStream.Play.Failed"
                };
                self.on_status("error", code, &why).await?;
                Ok(None)
            }
        }
    }
}
