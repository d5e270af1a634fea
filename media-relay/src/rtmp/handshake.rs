//! The RTMP handshake, server side, in its simple form (what ffmpeg's own server does, and
//! what ffmpeg, librtmp/OBS and the mini-program pusher accept):
//!
//! ```text
//! C0 (1: version 3) C1 (1536: time, zero, random)  →
//!                                                   ←  S0 (1: 3) S1 (1536: time, zero, random)
//!                                                      S2 (1536: C1 echoed)
//! C2 (1536: S1 echoed)                             →
//! ```
//!
//! Zeros in S1's bytes 4..8 tell a client that no digest is to be validated.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

pub const SIZE: usize = 1536;

#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    #[error("RTMP version {0} is not 3")]
    Version(u8),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

pub async fn accept<S: AsyncRead + AsyncWrite + Unpin>(
    socket: &mut S,
) -> Result<(), HandshakeError> {
    let mut c0c1 = vec![0u8; 1 + SIZE];
    socket.read_exact(&mut c0c1).await?;
    // 3 is plain RTMP; 6 would be RTMPE, which we do not speak.
    if c0c1[0] != 3 {
        return Err(HandshakeError::Version(c0c1[0]));
    }
    let mut reply = Vec::with_capacity(1 + 2 * SIZE);
    reply.push(3);
    reply.extend_from_slice(&c0c1[1..5]);
    reply.extend_from_slice(&[0, 0, 0, 0]);
    reply.extend((0..SIZE - 8).map(|_| rand::random::<u8>()));
    reply.extend_from_slice(&c0c1[1..]);
    socket.write_all(&reply).await?;
    let mut c2 = vec![0u8; SIZE];
    socket.read_exact(&mut c2).await?;
    Ok(())
}
