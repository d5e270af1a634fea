//! A minimal RTMP client (publish or play one stream), for the relay's tests and its load
//! tool. It speaks just enough of the protocol: the simple handshake, `connect`,
//! `createStream`, `publish`/`play`, and media messages.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::rtmp::amf0::{self, Amf};
use crate::rtmp::chunk::{ChunkReader, Framing, Message};
use crate::rtmp::handshake::SIZE;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("the relay refused: {0}")]
    Refused(String),
    #[error("the connection ended")]
    Closed,
    #[error("{0}")]
    Protocol(String),
}

pub struct Client {
    socket: TcpStream,
    reader: ChunkReader,
    buf: BytesMut,
    framing: Framing,
    out: BytesMut,
}

/// `rtmp://host:port/app/name?query` → (host:port, app, name?query).
pub fn split_url(url: &str) -> Option<(String, String, String)> {
    let rest = url.strip_prefix("rtmp://")?;
    let (host, path) = rest.split_once('/')?;
    let (app, name) = path.split_once('/')?;
    Some((host.to_owned(), app.to_owned(), name.to_owned()))
}

impl Client {
    /// Connects and completes the handshake and `connect`.
    pub async fn connect(url: &str) -> Result<(Client, String), ClientError> {
        let (host, app, name) = split_url(url)
            .ok_or_else(|| ClientError::Protocol(format!("not an RTMP URL: {url}")))?;
        let mut socket = TcpStream::connect(&host).await?;
        socket.set_nodelay(true)?;
        let mut c0c1 = vec![3u8; 1 + SIZE];
        c0c1[1..9].fill(0);
        socket.write_all(&c0c1).await?;
        let mut s0s1s2 = vec![0u8; 1 + 2 * SIZE];
        socket.read_exact(&mut s0s1s2).await?;
        socket.write_all(&s0s1s2[1..=SIZE]).await?;
        let mut client = Client {
            socket,
            reader: ChunkReader::default(),
            buf: BytesMut::with_capacity(256 * 1024),
            framing: Framing { chunk_size: 128 },
            out: BytesMut::with_capacity(256 * 1024),
        };
        // A large chunk size for what we send.
        client.control(1, &(1u32 << 20).to_be_bytes()).await?;
        client.framing = Framing {
            chunk_size: 1 << 20,
        };
        client
            .command(
                0,
                &[
                    Amf::String("connect".into()),
                    Amf::Number(1.0),
                    Amf::object(&[
                        ("app", Amf::String(app.clone())),
                        ("tcUrl", Amf::String(format!("rtmp://{host}/{app}"))),
                    ]),
                ],
            )
            .await?;
        client.expect_result().await?;
        client
            .command(
                0,
                &[
                    Amf::String("createStream".into()),
                    Amf::Number(2.0),
                    Amf::Null,
                ],
            )
            .await?;
        client.expect_result().await?;
        Ok((client, name))
    }

    async fn control(&mut self, type_id: u8, payload: &[u8]) -> Result<(), ClientError> {
        self.out.clear();
        self.framing
            .encode(&mut self.out, 2, 0, type_id, 0, payload);
        self.socket.write_all(&self.out).await?;
        Ok(())
    }

    async fn command(&mut self, stream_id: u32, values: &[Amf]) -> Result<(), ClientError> {
        self.out.clear();
        let payload = amf0::encode_all(values);
        self.framing
            .encode(&mut self.out, 3, 0, 20, stream_id, &payload);
        self.socket.write_all(&self.out).await?;
        Ok(())
    }

    /// The next message from the relay (protocol control messages applied and skipped).
    pub async fn next(&mut self) -> Result<Message, ClientError> {
        loop {
            let before = self.buf.len();
            match self.reader.read(&mut self.buf) {
                Ok(Some(m)) if m.type_id == 1 && m.payload.len() >= 4 => {
                    let size = u32::from_be_bytes(m.payload[..4].try_into().expect("4 bytes"));
                    self.reader.set_chunk_size(size);
                }
                Ok(Some(m)) if matches!(m.type_id, 3 | 5 | 6) => {}
                Ok(Some(m)) => return Ok(m),
                Ok(None) if self.buf.len() != before => {}
                Ok(None) => {
                    if self.socket.read_buf(&mut self.buf).await? == 0 {
                        return Err(ClientError::Closed);
                    }
                }
                Err(e) => return Err(ClientError::Protocol(e.to_string())),
            }
        }
    }

    /// Waits for a command reply; a failed `onStatus` is a refusal.
    async fn expect_result(&mut self) -> Result<Vec<Amf>, ClientError> {
        loop {
            let m = tokio::time::timeout(Duration::from_secs(10), self.next())
                .await
                .map_err(|_| ClientError::Protocol("no answer".into()))??;
            if m.type_id != 20 {
                continue;
            }
            let values =
                amf0::decode_all(&m.payload).map_err(|e| ClientError::Protocol(e.to_string()))?;
            match values.first().and_then(Amf::str) {
                Some("_result") => return Ok(values),
                Some("_error") => return Err(ClientError::Refused("_error".into())),
                Some("onStatus") => {
                    let info = values.get(3);
                    let level = info.and_then(|i| i.get("level")).and_then(Amf::str);
                    let code = info.and_then(|i| i.get("code")).and_then(Amf::str);
                    if level == Some("error") {
                        let why = info
                            .and_then(|i| i.get("description"))
                            .and_then(Amf::str)
                            .unwrap_or("");
                        return Err(ClientError::Refused(format!(
                            "{}: {why}",
                            code.unwrap_or("")
                        )));
                    }
                    return Ok(values);
                }
                _ => {}
            }
        }
    }

    /// `publish`: then send media with [`Client::send_media`].
    pub async fn publish(&mut self, name: &str) -> Result<(), ClientError> {
        self.command(
            1,
            &[
                Amf::String("publish".into()),
                Amf::Number(3.0),
                Amf::Null,
                Amf::String(name.into()),
                Amf::String("live".into()),
            ],
        )
        .await?;
        self.expect_result().await.map(drop)
    }

    /// `play`: then read media with [`Client::next`].
    pub async fn play(&mut self, name: &str) -> Result<(), ClientError> {
        self.command(
            1,
            &[
                Amf::String("play".into()),
                Amf::Number(3.0),
                Amf::Null,
                Amf::String(name.into()),
            ],
        )
        .await?;
        // Servers differ in what comes first (Play.Reset, StreamBegin, ...): wait for Start.
        loop {
            let values = self.expect_result().await?;
            let code = values.get(3).and_then(|i| i.get("code")).and_then(Amf::str);
            if code == Some("NetStream.Play.Start") {
                return Ok(());
            }
        }
    }

    pub async fn send_media(
        &mut self,
        type_id: u8,
        timestamp: u32,
        payload: &[u8],
    ) -> Result<(), ClientError> {
        self.out.clear();
        let csid = if type_id == 8 { 4 } else { 6 };
        self.framing
            .encode(&mut self.out, csid, timestamp, type_id, 1, payload);
        self.socket.write_all(&self.out).await?;
        Ok(())
    }

    /// The socket, for tests that stop reading it.
    pub fn into_socket(self) -> (TcpStream, Bytes) {
        (self.socket, self.buf.freeze())
    }
}

/// A connection that has done the RTMP handshake and nothing else: what a hostile client
/// starts from (tests and `scripts/soak.sh`).
pub async fn handshake_only(addr: &str) -> std::io::Result<TcpStream> {
    let mut socket = TcpStream::connect(addr).await?;
    let mut c0c1 = vec![3u8];
    c0c1.extend(std::iter::repeat_n(7u8, SIZE));
    socket.write_all(&c0c1).await?;
    let mut s0s1s2 = vec![0u8; 1 + 2 * SIZE];
    socket.read_exact(&mut s0s1s2).await?;
    socket.write_all(&s0s1s2[1..1 + SIZE]).await?;
    Ok(socket)
}

/// Hostile chunks: `streams` chunk streams opened, each with the first `chunks` 128-byte
/// chunks of a video message declared 8 MiB long (RTMP's default chunk size, no `connect`
/// first). A reader that reserved what messages declare would hold 8 MiB per stream.
pub fn declared_but_unsent(streams: u32, chunks: usize) -> BytesMut {
    use bytes::BufMut;
    let mut wire = BytesMut::new();
    for csid in 3..3 + streams {
        for i in 0..chunks {
            if i == 0 {
                wire.put_u8(csid as u8);
                wire.put_slice(&[0, 0, 0]);
                wire.put_slice(&(8u32 << 20).to_be_bytes()[1..]);
                wire.put_u8(9);
                wire.put_u32_le(1);
            } else {
                wire.put_u8(0xC0 | csid as u8);
            }
            wire.put_slice(&[0x27; 128]);
        }
    }
    wire
}
