//! A libsrt socket owned by Rust: options, messages, statistics, closed on drop.

use std::ffi::{c_int, c_void};
use std::net::SocketAddr;

use super::ffi::{self, Api, MsgCtrl, SrtSocket, Stats};

/// Why a libsrt call failed.
#[derive(Debug, thiserror::Error)]
pub enum SrtError {
    /// Nothing arrived (or nothing could be sent) within the socket's timeout.
    #[error("timed out")]
    Timeout,
    #[error("{0}")]
    Failed(String),
}

fn check(api: &Api, rc: c_int) -> Result<c_int, SrtError> {
    if rc != ffi::ERROR {
        return Ok(rc);
    }
    // SRT_EASYNC*/SRT_ETIMEOUT: major code 6 ("again").
    if api.last_error_code() / 1000 == 6 {
        Err(SrtError::Timeout)
    } else {
        Err(SrtError::Failed(api.last_error()))
    }
}

pub struct Socket {
    api: &'static Api,
    id: SrtSocket,
}

impl Socket {
    pub fn new(api: &'static Api) -> Result<Self, SrtError> {
        // SAFETY: plain call.
        let id = unsafe { (api.create_socket)() };
        if id == ffi::INVALID {
            return Err(SrtError::Failed(api.last_error()));
        }
        Ok(Self { api, id })
    }

    /// Takes over a socket libsrt handed out (an accepted one).
    pub fn from_raw(api: &'static Api, id: SrtSocket) -> Self {
        Self { api, id }
    }

    pub fn id(&self) -> SrtSocket {
        self.id
    }

    pub fn set_int(&self, opt: i32, value: i32) -> Result<(), SrtError> {
        set_int(self.api, self.id, opt, value)
    }

    pub fn set_bool(&self, opt: i32, value: bool) -> Result<(), SrtError> {
        // Boolean options take a C `bool` (one byte), as srt.h declares them.
        let v = u8::from(value);
        // SAFETY: the pointer and length describe `v`.
        check(self.api, unsafe {
            (self.api.setsockflag)(self.id, opt, (&raw const v).cast(), 1)
        })
        .map(drop)
    }

    pub fn get_int(&self, opt: i32) -> Result<i32, SrtError> {
        let mut v: c_int = 0;
        let mut len = size_of::<c_int>() as c_int;
        // SAFETY: the pointer and length describe `v`.
        check(self.api, unsafe {
            (self.api.getsockflag)(self.id, opt, (&raw mut v).cast(), &mut len)
        })?;
        Ok(v)
    }

    /// The stream id the caller sent (an accepted socket's).
    pub fn stream_id(&self) -> Result<String, SrtError> {
        let mut buf = [0u8; 768];
        let mut len = buf.len() as c_int;
        // SAFETY: the pointer and length describe `buf`; libsrt writes at most `len` bytes.
        check(self.api, unsafe {
            (self.api.getsockflag)(
                self.id,
                ffi::opt::STREAMID,
                buf.as_mut_ptr().cast(),
                &mut len,
            )
        })?;
        let len = (len.max(0) as usize).min(buf.len());
        let text = &buf[..len];
        let end = text.iter().position(|&b| b == 0).unwrap_or(len);
        Ok(String::from_utf8_lossy(&text[..end]).into_owned())
    }

    pub fn bind(&self, addr: SocketAddr) -> Result<(), SrtError> {
        let (raw, len) = sockaddr(addr);
        // SAFETY: `raw` holds a sockaddr_in/sockaddr_in6 of `len` bytes.
        check(self.api, unsafe {
            (self.api.bind)(self.id, raw.as_ptr().cast(), len)
        })
        .map(drop)
    }

    /// The address it is bound to.
    pub fn local_addr(&self) -> Result<SocketAddr, SrtError> {
        let mut raw = [0u8; 128];
        let mut len = raw.len() as c_int;
        // SAFETY: `raw` can take any sockaddr libsrt writes (at most `len` bytes).
        check(self.api, unsafe {
            (self.api.getsockname)(self.id, raw.as_mut_ptr().cast(), &mut len)
        })?;
        parse_sockaddr(&raw).ok_or_else(|| SrtError::Failed("unknown address family".into()))
    }

    pub fn listen(&self, backlog: i32) -> Result<(), SrtError> {
        // SAFETY: plain call.
        check(self.api, unsafe { (self.api.listen)(self.id, backlog) }).map(drop)
    }

    /// Waits for the next caller that passed the handshake.
    pub fn accept(&self) -> Result<Socket, SrtError> {
        let mut raw = [0u8; 128];
        let mut len = raw.len() as c_int;
        // SAFETY: `raw` can take any sockaddr libsrt writes (at most `len` bytes).
        let id = unsafe { (self.api.accept)(self.id, raw.as_mut_ptr().cast(), &mut len) };
        if id == ffi::INVALID {
            return Err(SrtError::Failed(self.api.last_error()));
        }
        Ok(Socket::from_raw(self.api, id))
    }

    /// Receives one message into `buf`: its length.
    pub fn recv(&self, buf: &mut [u8]) -> Result<usize, SrtError> {
        let mut ctrl = msg_ctrl();
        let len = buf.len().min(i32::MAX as usize) as c_int;
        // SAFETY: the pointer and length describe `buf`.
        let n = check(self.api, unsafe {
            (self.api.recvmsg2)(self.id, buf.as_mut_ptr().cast(), len, &mut ctrl)
        })?;
        Ok(n as usize)
    }

    /// Sends one message (at most the payload size, 1316 bytes in live mode).
    pub fn send(&self, message: &[u8]) -> Result<(), SrtError> {
        let mut ctrl = msg_ctrl();
        // SAFETY: the pointer and length describe `message`.
        check(self.api, unsafe {
            (self.api.sendmsg2)(
                self.id,
                message.as_ptr().cast(),
                message.len() as c_int,
                &mut ctrl,
            )
        })
        .map(drop)
    }

    /// The connection's statistics since it opened.
    pub fn stats(&self) -> Result<Stats, SrtError> {
        stats(self.api, self.id)
    }
}

/// Statistics of the socket `id` (which may have closed meanwhile: then an error).
pub fn stats(api: &Api, id: SrtSocket) -> Result<Stats, SrtError> {
    let mut stats = Stats::default();
    // SAFETY: `stats` has the layout of SRT_TRACEBSTATS.
    check(api, unsafe { (api.bstats)(id, &mut stats, 0) })?;
    Ok(stats)
}

/// Sets an integer option on any socket, including one still in its handshake.
pub fn set_int(api: &Api, id: SrtSocket, opt: i32, value: i32) -> Result<(), SrtError> {
    let v: c_int = value;
    // SAFETY: the pointer and length describe `v`.
    check(api, unsafe {
        (api.setsockflag)(id, opt, (&raw const v).cast(), size_of::<c_int>() as c_int)
    })
    .map(drop)
}

/// Sets a string option (the passphrase) on a socket in its handshake.
pub fn set_str(api: &Api, id: SrtSocket, opt: i32, value: &str) -> Result<(), SrtError> {
    // SAFETY: the pointer and length describe `value`'s bytes.
    check(api, unsafe {
        (api.setsockflag)(
            id,
            opt,
            value.as_ptr().cast::<c_void>(),
            value.len() as c_int,
        )
    })
    .map(drop)
}

fn msg_ctrl() -> MsgCtrl {
    MsgCtrl {
        flags: 0,
        msgttl: -1,
        inorder: 0,
        boundary: 0,
        srctime: 0,
        pktseq: -1,
        msgno: -1,
        grpdata: std::ptr::null_mut(),
        grpdata_size: 0,
    }
}

/// A `sockaddr_in`/`sockaddr_in6` in bytes, as Linux lays them out.
fn sockaddr(addr: SocketAddr) -> ([u8; 28], c_int) {
    let mut raw = [0u8; 28];
    match addr {
        SocketAddr::V4(a) => {
            raw[..2].copy_from_slice(&2u16.to_ne_bytes()); // AF_INET
            raw[2..4].copy_from_slice(&a.port().to_be_bytes());
            raw[4..8].copy_from_slice(&a.ip().octets());
            (raw, 16)
        }
        SocketAddr::V6(a) => {
            raw[..2].copy_from_slice(&10u16.to_ne_bytes()); // AF_INET6
            raw[2..4].copy_from_slice(&a.port().to_be_bytes());
            raw[4..8].copy_from_slice(&a.flowinfo().to_be_bytes());
            raw[8..24].copy_from_slice(&a.ip().octets());
            raw[24..28].copy_from_slice(&a.scope_id().to_ne_bytes());
            (raw, 28)
        }
    }
}

fn parse_sockaddr(raw: &[u8; 128]) -> Option<SocketAddr> {
    let port = u16::from_be_bytes([raw[2], raw[3]]);
    match u16::from_ne_bytes([raw[0], raw[1]]) {
        2 => {
            let ip: [u8; 4] = raw[4..8].try_into().ok()?;
            Some(SocketAddr::from((ip, port)))
        }
        10 => {
            let ip: [u8; 16] = raw[8..24].try_into().ok()?;
            Some(SocketAddr::from((ip, port)))
        }
        _ => None,
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        // SAFETY: the socket is ours and closed once.
        unsafe {
            (self.api.close)(self.id);
        }
    }
}
