//! The HTTP-FLV front end, on the relay's HTTP port (which also serves the Prometheus
//! metrics and a health check).
//!
//! ```text
//! GET /live/{stream}.flv?bizid=&txSecret=&txTime=   200 video/x-flv: FLV header, then tags
//!                                                   (403 bad or expired signature, 404 bad name)
//! GET /record/{path}?txSecret=&txTime=             a recording segment (`record::serve`)
//! GET /metrics                                      200 text/plain (Prometheus)
//! GET /healthz                                      200 ok
//! ```
//!
//! The FLV body is raw bytes until the stream ends (`Connection: close`, no chunked framing),
//! written by the same fan-out as RTMP (`fanout`). The request head is parsed with httparse;
//! at most 8 KiB within 10 s.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use bytes::Bytes;

use crate::fanout::Listen;
use crate::media::{Frame, Framed, Media, TYPE_AUDIO, TYPE_VIDEO, flv_tag_header};
use crate::player::Wire;
use crate::protocol::FrontEnd;
use crate::record::serve::{Downloads, serve as serve_download};
use crate::relay::{Access, Relay, authorise_url};
use crate::settings::{ConfigError, listen_address};

pub struct Flv;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlvConfig {
    /// `RTCROOM_RELAY_HTTP_LISTEN` (default `127.0.0.1:8081`): HTTP-FLV and `/metrics`.
    pub listen: std::net::SocketAddr,
}

impl FrontEnd for Flv {
    const NAME: &'static str = "http";
    type Config = FlvConfig;

    fn configure(get: &dyn Fn(&str) -> Option<String>) -> Result<FlvConfig, ConfigError> {
        let default = std::net::SocketAddr::from(([127, 0, 0, 1], 8081));
        let listen = listen_address(get, "RTCROOM_RELAY_HTTP_LISTEN", default, false)?;
        Ok(FlvConfig {
            listen: listen.unwrap_or(default),
        })
    }

    async fn start(
        relay: Arc<Relay>,
        config: &FlvConfig,
    ) -> Result<Option<std::net::SocketAddr>, String> {
        let listener = TcpListener::bind(config.listen).await.map_err(|e| {
            format!(
                "HTTP cannot listen on {} (RTCROOM_RELAY_HTTP_LISTEN): {e}",
                config.listen
            )
        })?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        tokio::spawn(serve_http(listener, relay));
        Ok(Some(addr))
    }

    /// The FLV tag header (11 bytes) and the PreviousTagSize after the body (4 bytes).
    fn frame(media: &Media) -> Framed {
        let len = media.payload.len() as u32;
        let head = flv_tag_header(media.type_id, media.payload.len(), media.timestamp);
        Framed {
            head: Bytes::copy_from_slice(&head),
            tail: Bytes::copy_from_slice(&(11 + len).to_be_bytes()),
        }
    }
}

/// The response head, the FLV header, then FLV tags.
struct FlvWire;

const RESPONSE_HEAD: &str = "HTTP/1.1 200 OK\r\nContent-Type: video/x-flv\r\nCache-Control: no-cache\r\n\
                             Access-Control-Allow-Origin: *\r\nConnection: close\r\n\r\n";

impl Wire for FlvWire {
    fn class(&self) -> (u8, u32) {
        (2, 0)
    }

    fn preamble(&self, start: &[Frame]) -> Option<Bytes> {
        let mut head = RESPONSE_HEAD.as_bytes().to_vec();
        head.extend_from_slice(&flv_header(start));
        Some(Bytes::from(head))
    }

    fn pieces(&self, frame: &Frame, out: &mut Vec<Bytes>) {
        let framed = frame.framed::<Flv>();
        out.push(framed.head.clone());
        out.push(frame.payload.clone());
        out.push(framed.tail.clone());
    }
}

const MAX_HEAD: usize = 8 * 1024;
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// The FLV header and PreviousTagSize0, flagging the tracks the stream has so far (its cached
/// sequence headers and frames): a player told of an audio track that never comes waits for
/// it (ffmpeg does, until the stream ends). Both when nothing is known yet (played before
/// publishing).
fn flv_header(start: &[Frame]) -> [u8; 13] {
    let has = |type_id| start.iter().any(|f| f.type_id == type_id);
    let flags = match (has(TYPE_AUDIO), has(TYPE_VIDEO)) {
        (false, false) | (true, true) => 0x05,
        (true, false) => 0x04,
        (false, true) => 0x01,
    };
    [b'F', b'L', b'V', 1, flags, 0, 0, 0, 9, 0, 0, 0, 0]
}

pub async fn serve_http(listener: TcpListener, relay: Arc<Relay>) {
    let slots = Arc::new(Semaphore::new(relay.max_connections));
    loop {
        let Ok((socket, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            relay.metrics.connections_refused.inc();
            continue;
        };
        let relay = relay.clone();
        tokio::spawn(async move {
            if let Err(e) = serve_one(&relay, socket).await {
                tracing::debug!(error = %e, "HTTP connection ended");
            }
            drop(permit);
        });
    }
}

async fn respond(
    socket: &mut TcpStream,
    status: &str,
    content_type: &str,
    body: &[u8],
) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Access-Control-Allow-Origin: *\r\nConnection: close\r\n\r\n",
        body.len()
    );
    socket.write_all(head.as_bytes()).await?;
    socket.write_all(body).await?;
    socket.shutdown().await
}

/// The request's method, target and `Range` header.
type Head = (String, String, Option<String>);

async fn read_head(socket: &mut TcpStream) -> std::io::Result<Option<Head>> {
    let mut buf = Vec::with_capacity(1024);
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut request = httparse::Request::new(&mut headers);
        match request.parse(&buf) {
            Ok(httparse::Status::Complete(_)) => {
                let method = request.method.unwrap_or("").to_owned();
                let path = request.path.unwrap_or("").to_owned();
                let range = request
                    .headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case("range"))
                    .map(|h| String::from_utf8_lossy(h.value).into_owned());
                return Ok(Some((method, path, range)));
            }
            Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => {}
            _ => return Ok(None),
        }
        let mut chunk = [0u8; 1024];
        let n = socket.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

async fn serve_one(relay: &Relay, mut socket: TcpStream) -> std::io::Result<()> {
    let _ = socket.set_nodelay(true);
    let head = tokio::time::timeout(HEAD_TIMEOUT, read_head(&mut socket))
        .await
        .unwrap_or(Ok(None))?;
    let Some((method, target, range)) = head else {
        return respond(
            &mut socket,
            "400 Bad Request",
            "text/plain",
            b"bad request\n",
        )
        .await;
    };
    if method != "GET" {
        return respond(
            &mut socket,
            "405 Method Not Allowed",
            "text/plain",
            b"GET only\n",
        )
        .await;
    }
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    match path {
        "/healthz" => respond(&mut socket, "200 OK", "text/plain", b"ok\n").await,
        "/metrics" => {
            let text = relay.metrics.render(relay.hub.stream_count());
            respond(
                &mut socket,
                "200 OK",
                "text/plain; version=0.0.4",
                text.as_bytes(),
            )
            .await
        }
        _ if path.starts_with("/record/") => {
            let raw = &path["/record/".len()..];
            let downloads = Downloads {
                recorder: &relay.recorder,
                key: &relay.play_key,
                refused: &relay.metrics.auth_refused,
            };
            serve_download(downloads, &mut socket, raw, query, range.as_deref()).await
        }
        _ => {
            let Some(name) = path
                .strip_prefix("/live/")
                .and_then(|p| p.strip_suffix(".flv"))
            else {
                return respond(&mut socket, "404 Not Found", "text/plain", b"not found\n").await;
            };
            if let Err(why) = authorise_url(relay, name, Some(query), Access::Play) {
                let status = if why == "bad stream name" {
                    "404 Not Found"
                } else {
                    "403 Forbidden"
                };
                return respond(
                    &mut socket,
                    status,
                    "text/plain",
                    format!("{why}\n").as_bytes(),
                )
                .await;
            }
            play_flv(relay, socket, name).await
        }
    }
}

async fn play_flv(relay: &Relay, mut socket: TcpStream, name: &str) -> std::io::Result<()> {
    let playing = match relay.start_playing(name) {
        Ok(joined) => joined,
        Err(e) => {
            let body = format!("{e}\n");
            return respond(
                &mut socket,
                "503 Service Unavailable",
                "text/plain",
                body.as_bytes(),
            )
            .await;
        }
    };
    // The client sends nothing more; a read that ends means it left.
    let listen: Listen = Box::new(|mut rd| {
        Box::pin(async move {
            let mut sink = [0u8; 512];
            while matches!(rd.read(&mut sink).await, Ok(n) if n > 0) {}
        })
    });
    relay
        .fanout
        .play(
            socket,
            Box::new(FlvWire),
            listen,
            relay.playing(&playing.stream),
            &playing.stream,
        )
        .await
        .map(drop)
        .map_err(std::io::Error::other)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flv_header_flags_the_tracks_the_stream_has() {
        let frame = |type_id| Frame::new(type_id, 0, Bytes::from_static(&[0x17, 0, 0, 0, 0]));
        assert_eq!(flv_header(&[])[4], 0x05);
        assert_eq!(flv_header(&[frame(TYPE_VIDEO)])[4], 0x01);
        assert_eq!(flv_header(&[frame(TYPE_AUDIO)])[4], 0x04);
        assert_eq!(flv_header(&[frame(TYPE_AUDIO), frame(TYPE_VIDEO)])[4], 0x05);
        assert_eq!(&flv_header(&[])[..4], b"FLV\x01");
    }
}
