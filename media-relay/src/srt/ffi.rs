//! libsrt, loaded at run time.
//!
//! The relay takes libsrt (Haivision's reference implementation, Debian's `libsrt1.5-gnutls`
//! or `-openssl`) rather than a Rust SRT crate: the one Rust implementation panics on
//! hostile handshakes and loses more under loss (ARCHITECTURE.md, "SRT"). The `libsrt-sys`
//! crate does not build here, and linking at build time would make every build of the relay
//! need the library's development package; so the few functions we use are looked up with
//! `dlopen` when the SRT front end starts, and a relay without libsrt says so and which
//! package gives it. Only the declarations below mirror `srt/srt.h` (1.5.x); nothing else of
//! the header is used.

use std::ffi::{c_char, c_int, c_void};
use std::sync::OnceLock;

pub type SrtSocket = c_int;
pub const INVALID: SrtSocket = -1;
pub const ERROR: c_int = -1;

/// `SRT_SOCKOPT` values (stable across 1.4 and 1.5).
#[allow(dead_code)]
pub mod opt {
    pub const SNDSYN: i32 = 1;
    pub const RCVSYN: i32 = 2;
    pub const SNDBUF: i32 = 5;
    pub const RCVBUF: i32 = 6;
    pub const SNDTIMEO: i32 = 13;
    pub const RCVTIMEO: i32 = 14;
    pub const LATENCY: i32 = 23;
    pub const PASSPHRASE: i32 = 26;
    pub const PBKEYLEN: i32 = 27;
    pub const STATE: i32 = 17;
    pub const KMSTATE: i32 = 28;
    pub const PEERVERSION: i32 = 35;
    pub const RCVLATENCY: i32 = 43;
    pub const PEERLATENCY: i32 = 44;
    pub const STREAMID: i32 = 46;
    pub const MESSAGEAPI: i32 = 48;
    pub const PAYLOADSIZE: i32 = 49;
    pub const TRANSTYPE: i32 = 50;
    pub const ENFORCEDENCRYPTION: i32 = 53;
    pub const PEERIDLETIMEO: i32 = 55;
}

/// `SRT_KM_STATE`: the key material was exchanged and decrypts.
pub const KM_SECURED: c_int = 2;

/// Reject reasons a listen callback may give (`srt/access_control.h`).
pub mod reject {
    pub const BAD_REQUEST: i32 = 1400;
    pub const UNAUTHORIZED: i32 = 1401;
    pub const OVERLOAD: i32 = 1402;
    pub const FORBIDDEN: i32 = 1403;
    pub const CONFLICT: i32 = 1409;
}

/// `SRT_EPOLL_EVENT`.
#[repr(C)]
#[derive(Default, Clone, Copy)]
pub struct EpollEvent {
    pub fd: SrtSocket,
    pub events: c_int,
}

/// `SRT_EPOLL_IN` (readable; for a listener: a connection to accept) and `SRT_EPOLL_ERR`.
pub const EPOLL_IN: c_int = 0x1;
pub const EPOLL_ERR: c_int = 0x8;

/// `SRT_MSGCTRL`.
#[repr(C)]
pub struct MsgCtrl {
    pub flags: c_int,
    pub msgttl: c_int,
    pub inorder: c_int,
    pub boundary: c_int,
    pub srctime: i64,
    pub pktseq: i32,
    pub msgno: i32,
    pub grpdata: *mut c_void,
    pub grpdata_size: usize,
}

/// `SRT_TRACEBSTATS` (`struct CBytePerfMon`, 1.5.x layout): read whole, used in part.
#[repr(C)]
#[derive(Default, Clone, Copy)]
pub struct Stats {
    pub ms_timestamp: i64,
    pub pkt_sent_total: i64,
    pub pkt_recv_total: i64,
    pub pkt_snd_loss_total: c_int,
    pub pkt_rcv_loss_total: c_int,
    pub pkt_retrans_total: c_int,
    pub pkt_sent_ack_total: c_int,
    pub pkt_recv_ack_total: c_int,
    pub pkt_sent_nak_total: c_int,
    pub pkt_recv_nak_total: c_int,
    pub us_snd_duration_total: i64,
    pub pkt_snd_drop_total: c_int,
    pub pkt_rcv_drop_total: c_int,
    pub pkt_rcv_undecrypt_total: c_int,
    pub byte_sent_total: u64,
    pub byte_recv_total: u64,
    pub byte_rcv_loss_total: u64,
    pub byte_retrans_total: u64,
    pub byte_snd_drop_total: u64,
    pub byte_rcv_drop_total: u64,
    pub byte_rcv_undecrypt_total: u64,
    pub pkt_sent: i64,
    pub pkt_recv: i64,
    pub pkt_snd_loss: c_int,
    pub pkt_rcv_loss: c_int,
    pub pkt_retrans: c_int,
    pub pkt_rcv_retrans: c_int,
    pub pkt_sent_ack: c_int,
    pub pkt_recv_ack: c_int,
    pub pkt_sent_nak: c_int,
    pub pkt_recv_nak: c_int,
    pub mbps_send_rate: f64,
    pub mbps_recv_rate: f64,
    pub us_snd_duration: i64,
    pub pkt_reorder_distance: c_int,
    pub pkt_rcv_avg_belated_time: f64,
    pub pkt_rcv_belated: i64,
    pub pkt_snd_drop: c_int,
    pub pkt_rcv_drop: c_int,
    pub pkt_rcv_undecrypt: c_int,
    pub byte_sent: u64,
    pub byte_recv: u64,
    pub byte_rcv_loss: u64,
    pub byte_retrans: u64,
    pub byte_snd_drop: u64,
    pub byte_rcv_drop: u64,
    pub byte_rcv_undecrypt: u64,
    pub us_pkt_snd_period: f64,
    pub pkt_flow_window: c_int,
    pub pkt_congestion_window: c_int,
    pub pkt_flight_size: c_int,
    pub ms_rtt: f64,
    pub mbps_bandwidth: f64,
    pub byte_avail_snd_buf: c_int,
    pub byte_avail_rcv_buf: c_int,
    pub mbps_max_bw: f64,
    pub byte_mss: c_int,
    pub pkt_snd_buf: c_int,
    pub byte_snd_buf: c_int,
    pub ms_snd_buf: c_int,
    pub ms_snd_tsbpd_delay: c_int,
    pub pkt_rcv_buf: c_int,
    pub byte_rcv_buf: c_int,
    pub ms_rcv_buf: c_int,
    pub ms_rcv_tsbpd_delay: c_int,
    pub filter: [c_int; 9],
    pub pkt_sent_unique_total: i64,
    pub pkt_recv_unique_total: i64,
    pub byte_sent_unique_total: u64,
    pub byte_recv_unique_total: u64,
    pub pkt_sent_unique: i64,
    pub pkt_recv_unique: i64,
    pub byte_sent_unique: u64,
    pub byte_recv_unique: u64,
}

pub type ListenHook = unsafe extern "C" fn(
    opaque: *mut c_void,
    ns: SrtSocket,
    hs_version: c_int,
    peer: *const c_void,
    stream_id: *const c_char,
) -> c_int;

/// The libsrt functions the relay calls.
pub struct Api {
    pub startup: unsafe extern "C" fn() -> c_int,
    pub create_socket: unsafe extern "C" fn() -> SrtSocket,
    pub bind: unsafe extern "C" fn(SrtSocket, *const c_void, c_int) -> c_int,
    pub listen: unsafe extern "C" fn(SrtSocket, c_int) -> c_int,
    pub listen_callback: unsafe extern "C" fn(SrtSocket, ListenHook, *mut c_void) -> c_int,
    pub accept: unsafe extern "C" fn(SrtSocket, *mut c_void, *mut c_int) -> SrtSocket,
    pub close: unsafe extern "C" fn(SrtSocket) -> c_int,
    pub getsockname: unsafe extern "C" fn(SrtSocket, *mut c_void, *mut c_int) -> c_int,
    pub setsockflag: unsafe extern "C" fn(SrtSocket, c_int, *const c_void, c_int) -> c_int,
    pub getsockflag: unsafe extern "C" fn(SrtSocket, c_int, *mut c_void, *mut c_int) -> c_int,
    pub recvmsg2: unsafe extern "C" fn(SrtSocket, *mut c_char, c_int, *mut MsgCtrl) -> c_int,
    pub sendmsg2: unsafe extern "C" fn(SrtSocket, *const c_char, c_int, *mut MsgCtrl) -> c_int,
    pub bstats: unsafe extern "C" fn(SrtSocket, *mut Stats, c_int) -> c_int,
    pub getlasterror_str: unsafe extern "C" fn() -> *const c_char,
    pub getlasterror: unsafe extern "C" fn(*mut c_int) -> c_int,
    pub setrejectreason: unsafe extern "C" fn(SrtSocket, c_int) -> c_int,
    pub setloglevel: unsafe extern "C" fn(c_int),
    pub epoll_create: unsafe extern "C" fn() -> c_int,
    pub epoll_add_usock: unsafe extern "C" fn(c_int, SrtSocket, *const c_int) -> c_int,
    pub epoll_uwait: unsafe extern "C" fn(c_int, *mut EpollEvent, c_int, i64) -> c_int,
    _library: libloading::Library,
}

/// The library names tried, in order: Debian's two builds, then a plain one.
const NAMES: [&str; 4] = [
    "libsrt-gnutls.so.1.5",
    "libsrt-openssl.so.1.5",
    "libsrt.so.1.5",
    "libsrt.so",
];

/// libsrt, loaded and started once per process; why not, when it cannot be.
pub fn api() -> Result<&'static Api, String> {
    static API: OnceLock<Result<Api, String>> = OnceLock::new();
    API.get_or_init(load).as_ref().map_err(Clone::clone)
}

fn load() -> Result<Api, String> {
    let library = NAMES
        .iter()
        // SAFETY: loading libsrt runs its initialisers, which only set up its own state.
        .find_map(|name| unsafe { libloading::Library::new(*name) }.ok())
        .ok_or_else(|| {
            format!(
                "libsrt 1.5 not found (tried {}): install it with \
                 `apt-get install libsrt1.5-gnutls` (or libsrt1.5-openssl), or turn SRT off \
                 with RTCROOM_RELAY_SRT_LISTEN=off",
                NAMES.join(", ")
            )
        })?;
    macro_rules! symbol {
        ($name:literal) => {
            // SAFETY: the type each field declares is the function's C signature in srt.h.
            *unsafe { library.get(concat!($name, "\0").as_bytes()) }
                .map_err(|e| format!("libsrt lacks {}: {e}", $name))?
        };
    }
    let api = Api {
        startup: symbol!("srt_startup"),
        create_socket: symbol!("srt_create_socket"),
        bind: symbol!("srt_bind"),
        listen: symbol!("srt_listen"),
        listen_callback: symbol!("srt_listen_callback"),
        accept: symbol!("srt_accept"),
        close: symbol!("srt_close"),
        getsockname: symbol!("srt_getsockname"),
        setsockflag: symbol!("srt_setsockflag"),
        getsockflag: symbol!("srt_getsockflag"),
        recvmsg2: symbol!("srt_recvmsg2"),
        sendmsg2: symbol!("srt_sendmsg2"),
        bstats: symbol!("srt_bstats"),
        getlasterror_str: symbol!("srt_getlasterror_str"),
        getlasterror: symbol!("srt_getlasterror"),
        setrejectreason: symbol!("srt_setrejectreason"),
        setloglevel: symbol!("srt_setloglevel"),
        epoll_create: symbol!("srt_epoll_create"),
        epoll_add_usock: symbol!("srt_epoll_add_usock"),
        epoll_uwait: symbol!("srt_epoll_uwait"),
        _library: library,
    };
    // SAFETY: plain calls into the loaded library.
    unsafe {
        if (api.startup)() < 0 {
            return Err("srt_startup failed".into());
        }
        // Errors only (LOG_ERR): libsrt logs every refused handshake at warning level.
        (api.setloglevel)(3);
    }
    Ok(api)
}

impl Api {
    /// The calling thread's last libsrt error.
    pub fn last_error(&self) -> String {
        // SAFETY: libsrt returns a thread-local, NUL-terminated string.
        unsafe {
            let s = (self.getlasterror_str)();
            if s.is_null() {
                return "unknown SRT error".into();
            }
            std::ffi::CStr::from_ptr(s).to_string_lossy().into_owned()
        }
    }

    /// The calling thread's last libsrt error code (`SRT_ERRNO`).
    pub fn last_error_code(&self) -> c_int {
        // SAFETY: a null errno pointer is allowed.
        unsafe { (self.getlasterror)(std::ptr::null_mut()) }
    }
}
