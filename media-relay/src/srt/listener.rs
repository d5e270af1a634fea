//! The SRT listener: the handshake check (libsrt's listen callback) and the accept loop.

use std::ffi::{CStr, c_char, c_int, c_void};
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use rtcroom_shared::urls::srt::{SRT_KEY_LEN, StreamIdError, parse_srt_stream_id, srt_passphrase};

use super::SrtConfig;
use super::context::{Context, Refusal, check};
use super::ffi::{self, Api, SrtSocket, opt, reject};
use super::session;
use super::socket::{self, Socket};
use super::stats::Connections;
use crate::relay::Relay;

/// The runtime SRT sessions wait on the hub with (a timer and the broadcast): one worker
/// of its own, for the life of the process, so a session never depends on the runtime
/// that started the relay still being there (tests start and drop many).
fn timers() -> Result<tokio::runtime::Handle, String> {
    static RUNTIME: std::sync::OnceLock<Result<tokio::runtime::Runtime, String>> =
        std::sync::OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("srt-timers")
                .enable_time()
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map(|r| r.handle().clone())
        .map_err(Clone::clone)
}

/// Binds, listens and accepts in a thread of its own; the bound address.
pub(super) fn start(
    api: &'static Api,
    relay: Arc<Relay>,
    config: &SrtConfig,
    addr: SocketAddr,
) -> Result<SocketAddr, String> {
    let listener = Socket::new(api).map_err(|e| e.to_string())?;
    let setup = || -> Result<(), socket::SrtError> {
        listener.set_int(opt::TRANSTYPE, 0)?; // live
        listener.set_int(opt::RCVLATENCY, config.latency.as_millis() as i32)?;
        listener.set_int(opt::PEERLATENCY, config.latency.as_millis() as i32)?;
        listener.set_bool(opt::ENFORCEDENCRYPTION, true)?;
        listener.set_int(opt::PBKEYLEN, SRT_KEY_LEN as i32)?;
        listener.set_bool(opt::RCVSYN, false)?;
        listener.bind(addr)
    };
    setup().map_err(|e| e.to_string())?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    let context = Arc::new(Context {
        api,
        connections: Connections::new(relay.metrics.clone()),
        relay,
        runtime: timers()?,
        config: config.clone(),
    });
    context.connections.register_metrics(api);
    // The callback's context lives as long as the process: libsrt may call it until the
    // listener is gone, and the listener lives as long as the relay.
    let opaque = Arc::into_raw(context.clone()) as *mut c_void;
    // SAFETY: `on_handshake` has the callback's C signature, and `opaque` stays valid.
    let rc = unsafe { (api.listen_callback)(listener.id(), on_handshake, opaque) };
    if rc == ffi::ERROR {
        return Err(api.last_error());
    }
    // SAFETY: plain calls; `events` lives across the call.
    let eid = unsafe { (api.epoll_create)() };
    let events = ffi::EPOLL_IN | ffi::EPOLL_ERR;
    if eid < 0 || unsafe { (api.epoll_add_usock)(eid, listener.id(), &events) } < 0 {
        return Err(format!("cannot wait for callers: {}", api.last_error()));
    }
    // Only now, with the check in place, do callers get in.
    listener.listen(128).map_err(|e| e.to_string())?;
    std::thread::Builder::new()
        .name("srt-accept".into())
        .spawn(move || accept_loop(&context, &listener, eid))
        .map_err(|e| e.to_string())?;
    Ok(bound)
}

/// Accepts what the handshake admitted. The listener is non-blocking and waited on with
/// libsrt's epoll, so no call of ours sits inside libsrt indefinitely (libsrt's exit-time
/// cleanup waits for such calls to return).
fn accept_loop(context: &Arc<Context>, listener: &Socket, eid: c_int) {
    let api = context.api;
    let mut ready = [ffi::EpollEvent::default(); 4];
    loop {
        // SAFETY: `ready` holds `ready.len()` events.
        let n = unsafe { (api.epoll_uwait)(eid, ready.as_mut_ptr(), ready.len() as c_int, 500) };
        if n < 0 {
            tracing::warn!(error = %api.last_error(), "SRT listener wait failed");
            std::thread::sleep(std::time::Duration::from_millis(100));
            continue;
        }
        if n == 0 {
            continue;
        }
        while let Ok(socket) = listener.accept() {
            admit_connection(context, socket);
        }
    }
}

fn admit_connection(context: &Arc<Context>, socket: Socket) {
    {
        let Some(slot) = context.connections.open(context.config.max_connections) else {
            context.connections.refused("limit");
            return;
        };
        // Accepted sockets inherit the listener's non-blocking reads: sessions block (with
        // timeouts).
        if let Err(e) = socket.set_bool(opt::RCVSYN, true) {
            tracing::warn!(error = %e, "SRT connection closed: cannot make its reads blocking");
            return;
        }
        let context = context.clone();
        let spawned = std::thread::Builder::new()
            .name("srt-conn".into())
            .spawn(move || session::serve(&context, socket, slot));
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "no thread for an SRT connection");
        }
    }
}

/// libsrt's listen callback: runs in libsrt's receiving thread during each handshake,
/// before any media is accepted. 0 admits (with the stream's passphrase set), -1 refuses.
unsafe extern "C" fn on_handshake(
    opaque: *mut c_void,
    ns: SrtSocket,
    _hs_version: c_int,
    _peer: *const c_void,
    stream_id: *const c_char,
) -> c_int {
    // SAFETY: `opaque` is the context `start` leaked; it is never freed.
    let context = unsafe { &*(opaque as *const Context) };
    let id = if stream_id.is_null() {
        None
    } else {
        // SAFETY: libsrt passes a NUL-terminated string (at most 512 bytes).
        Some(unsafe { CStr::from_ptr(stream_id) }.to_bytes())
    };
    // A panic must not cross into C: it refuses the caller instead.
    let verdict = std::panic::catch_unwind(AssertUnwindSafe(|| match admit(context, ns, id) {
        Ok(()) => Ok(()),
        Err((code, why)) => {
            context.connections.refused(why);
            tracing::info!(
                resource = %resource_of(id.unwrap_or_default()),
                why,
                code,
                "SRT caller refused"
            );
            Err(code)
        }
    }))
    .unwrap_or(Err(reject::BAD_REQUEST));
    match verdict {
        Ok(()) => 0,
        Err(code) => {
            // SAFETY: plain call on the socket in its handshake.
            unsafe { (context.api.setrejectreason)(ns, code) };
            -1
        }
    }
}

fn admit(context: &Context, ns: SrtSocket, id: Option<&[u8]>) -> Result<(), Refusal> {
    let id = id
        .and_then(|b| std::str::from_utf8(b).ok())
        .ok_or((reject::BAD_REQUEST, "stream id"))?;
    let parsed = parse_srt_stream_id(id).map_err(|e| match e {
        StreamIdError::BadMode => (reject::BAD_REQUEST, "mode"),
        _ => (reject::BAD_REQUEST, "stream id"),
    })?;
    if context.connections.count() >= context.config.max_connections {
        return Err((reject::OVERLOAD, "limit"));
    }
    let (access, _) = check(&context.relay, &parsed)?;
    let passphrase = srt_passphrase(context.relay.key(access), &parsed.stream);
    socket::set_str(context.api, ns, opt::PASSPHRASE, &passphrase)
        .and_then(|()| socket::set_int(context.api, ns, opt::PBKEYLEN, SRT_KEY_LEN as i32))
        .map_err(|_| (reject::BAD_REQUEST, "options"))?;
    Ok(())
}

/// What a refused stream id asked for, for the log: its `r=` value, at most 300 bytes. Never
/// the signature: a refused second publisher may hold a valid one.
fn resource_of(id: &[u8]) -> String {
    let id = String::from_utf8_lossy(&id[..id.len().min(512)]).into_owned();
    let resource = id
        .split([',', ':'])
        .find_map(|kv| kv.strip_prefix("r="))
        .map(|r| r.split(['?', '&']).next().unwrap_or(r))
        .unwrap_or("(none)");
    resource.chars().take(300).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn refusals_log_the_resource_but_never_the_signature() {
        let id = b"#!::r=live/s1,m=publish,txSecret=abc,txTime=1F";
        assert_eq!(super::resource_of(id), "live/s1");
        assert_eq!(
            super::resource_of(b"#!::r=live/s1?txSecret=abc,m=publish"),
            "live/s1"
        );
        assert_eq!(super::resource_of(b"garbage"), "(none)");
        assert_eq!(
            super::resource_of(b"#!::r=live/s1&txSecret=abc,m=publish"),
            "live/s1"
        );
    }
}
