//! Downloads of closed segments over the relay's HTTP port:
//!
//! ```text
//! GET /record/{path}?txSecret=&txTime=   200 (or 206 for a Range) video/mp4 | video/x-flv
//!                                        302 to a presigned S3 URL, once uploaded
//!                                        403 bad or expired signature, 404 no such segment,
//!                                        416 a range outside the file (or several ranges)
//! ```
//!
//! `{path}` is the segment's path under `RTCROOM_RECORD_DIR` as the `recorded` event told it,
//! its `%` written `%25`; the signature is the room service's (`urls::record::download_secret`,
//! the play key). Only closed segments with a segment's name are served: nothing else under
//! the directory, never a `.part`.

use std::io::SeekFrom;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rtcroom_shared::urls::query_param;
use rtcroom_shared::urls::record::verify_download;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::file::percent_decode;
use super::s3::content_type;
use super::{Recorder, SegmentName};
use rtcroom_shared::metrics::Counter;

/// `bytes=a-b`, `bytes=a-` or `bytes=-n` within a file of `len` bytes: the first and last
/// byte. `Err`: not satisfiable.
fn range(header: &str, len: u64) -> Result<(u64, u64), ()> {
    let spec = header.trim().strip_prefix("bytes=").ok_or(())?;
    let (from, to) = spec.split_once('-').ok_or(())?;
    let (first, last) = match (from.trim(), to.trim()) {
        ("", n) => {
            let n: u64 = n.parse().map_err(|_| ())?;
            (len.saturating_sub(n), len.checked_sub(1).ok_or(())?)
        }
        (a, "") => (a.parse().map_err(|_| ())?, len.checked_sub(1).ok_or(())?),
        (a, b) => (
            a.parse().map_err(|_| ())?,
            b.parse::<u64>().map_err(|_| ())?.min(len.saturating_sub(1)),
        ),
    };
    if first > last || first >= len {
        return Err(());
    }
    Ok((first, last))
}

async fn status(socket: &mut TcpStream, status: &str, body: &str) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    socket.write_all(head.as_bytes()).await?;
    socket.shutdown().await
}

/// Where downloads come from and how they are checked: the recorder's directory, the key
/// download URLs are signed with (the play key), and the counter of refused signatures.
pub struct Downloads<'a> {
    pub recorder: &'a Recorder,
    pub key: &'a str,
    pub refused: &'a Counter,
}

/// Serves `GET /record/{raw path}?{query}` (with the request's `Range`, if any).
pub async fn serve(
    downloads: Downloads<'_>,
    socket: &mut TcpStream,
    raw_path: &str,
    query: &str,
    range_header: Option<&str>,
) -> std::io::Result<()> {
    let Some(dir) = &downloads.recorder.config.dir else {
        return status(socket, "404 Not Found", "recording is off\n").await;
    };
    let name =
        percent_decode(raw_path).and_then(|p| SegmentName::parse(&p).filter(|n| n.relative() == p));
    let Some(name) = name else {
        return status(socket, "404 Not Found", "not a segment\n").await;
    };
    let path = name.relative();
    let param = |key: &str| query_param(query, key);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    if let Err(e) = verify_download(
        downloads.key,
        &path,
        param("txSecret").as_deref(),
        param("txTime").as_deref(),
        now,
    ) {
        downloads.refused.inc();
        return status(socket, "403 Forbidden", &format!("{e}\n")).await;
    }
    let opened = tokio::fs::File::open(dir.join(&path)).await;
    let mut file = match opened {
        Ok(file) => file,
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            tracing::error!(%path, error = %e, "cannot open a segment");
            return status(socket, "503 Service Unavailable", "try again later\n").await;
        }
        Err(_) => {
            let until = param("txTime")
                .and_then(|t| u64::from_str_radix(&t, 16).ok())
                .unwrap_or(now);
            let ttl = Duration::from_secs(until.saturating_sub(now));
            return redirect_or_not_found(&downloads, socket, &path, ttl).await;
        }
    };
    let len = file.metadata().await?.len();
    let (first, last, partial) = match range_header.map(|h| range(h, len)) {
        None => (0, len.saturating_sub(1), false),
        Some(Ok((first, last))) => (first, last, true),
        Some(Err(())) => {
            let head = format!(
                "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */{len}\r\n\
                 Content-Length: 0\r\nConnection: close\r\n\r\n"
            );
            socket.write_all(head.as_bytes()).await?;
            return socket.shutdown().await;
        }
    };
    let count = if len == 0 { 0 } else { last - first + 1 };
    let content_type = content_type(name.format);
    let mut head = format!(
        "HTTP/1.1 {}\r\nContent-Type: {content_type}\r\nContent-Length: {count}\r\n\
         Accept-Ranges: bytes\r\nAccess-Control-Allow-Origin: *\r\nConnection: close\r\n",
        if partial {
            "206 Partial Content"
        } else {
            "200 OK"
        }
    );
    if partial {
        head.push_str(&format!("Content-Range: bytes {first}-{last}/{len}\r\n"));
    }
    head.push_str("\r\n");
    socket.write_all(head.as_bytes()).await?;
    file.seek(SeekFrom::Start(first)).await?;
    tokio::io::copy(&mut file.take(count), socket).await?;
    socket.shutdown().await
}

/// A segment not on disk: once uploaded, a 302 to a presigned S3 GET URL valid for `ttl`, what
/// is left of the signed URL's (at most 7 days, SigV4's limit; with the role's temporary
/// credentials, at most until they expire); else 404.
async fn redirect_or_not_found(
    downloads: &Downloads<'_>,
    socket: &mut TcpStream,
    path: &str,
    ttl: Duration,
) -> std::io::Result<()> {
    let Some(s3) = downloads.recorder.bucket().await else {
        return status(socket, "404 Not Found", "no such segment\n").await;
    };
    match s3.presigned_get(path, ttl).await {
        Ok(url) => {
            let head = format!(
                "HTTP/1.1 302 Found\r\nLocation: {url}\r\nContent-Length: 0\r\n\
                 Access-Control-Allow-Origin: *\r\nConnection: close\r\n\r\n"
            );
            socket.write_all(head.as_bytes()).await?;
            socket.shutdown().await
        }
        Err(e) => {
            tracing::error!(%path, error = %e, "cannot presign a segment's download");
            status(socket, "503 Service Unavailable", "try again later\n").await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_within_the_file() {
        assert_eq!(range("bytes=0-99", 1000), Ok((0, 99)));
        assert_eq!(range("bytes=900-", 1000), Ok((900, 999)));
        assert_eq!(range("bytes=-100", 1000), Ok((900, 999)));
        assert_eq!(range("bytes=990-5000", 1000), Ok((990, 999)));
        assert_eq!(range("bytes=1000-", 1000), Err(()));
        assert_eq!(range("bytes=5-1", 1000), Err(()));
        assert_eq!(range("items=0-1", 1000), Err(()));
        assert_eq!(range("bytes=0-0", 0), Err(()));
        assert_eq!(range("bytes=0-1,5-9", 1000), Err(()), "one range at most");
        assert_eq!(
            percent_decode("double_room/r%25201/a"),
            Some("double_room/r%201/a".into())
        );
        assert_eq!(percent_decode("bad%zz"), None);
    }
}
