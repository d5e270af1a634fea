//! Test support shared by every crate's tests (feature `test-suite`).

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::{TcpListener, TcpStream};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

/// The endpoint of the test AWS stand-in (moto: DynamoDB and S3 on one port).
/// `RTCROOM_TEST_DYNAMODB_ENDPOINT` points at a running one (the test command starts one);
/// without it, the first caller in a test process starts `scripts/moto_server.py` (moto serving
/// one request at a time, so that each request is atomic as in DynamoDB) on a free port,
/// watched so that it stops when the test process ends.
pub fn moto_endpoint() -> String {
    static ENDPOINT: OnceLock<String> = OnceLock::new();
    ENDPOINT
        .get_or_init(|| {
            if let Ok(url) = std::env::var("RTCROOM_TEST_DYNAMODB_ENDPOINT") {
                return url;
            }
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free loopback port")
                .port();
            let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/moto_server.py");
            let watchdog = format!(
                "python3 {script} 127.0.0.1 {port} >/dev/null 2>&1 & server=$!; \
                 while kill -0 {parent} 2>/dev/null; do sleep 1; done; kill $server",
                parent = std::process::id()
            );
            let mut watchdog = std::process::Command::new("sh")
                .args(["-c", &watchdog])
                .spawn()
                .expect("sh starts");
            std::thread::spawn(move || watchdog.wait());
            let started = Instant::now();
            while TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(
                    started.elapsed() < Duration::from_secs(30),
                    "the moto server did not start on port {port}: install it with pip install 'moto[server]'"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
            format!("http://127.0.0.1:{port}")
        })
        .clone()
}

static LIVE: AtomicIsize = AtomicIsize::new(0);

/// The system allocator, counting live heap bytes (allocations minus frees) for tests that
/// bound memory. A test binary installs it with
/// `#[global_allocator] static A: LiveBytes = LiveBytes;` and reads [`LiveBytes::now`].
pub struct LiveBytes;

impl LiveBytes {
    /// Heap bytes in use now (since the process started).
    pub fn now() -> isize {
        LIVE.load(Ordering::Relaxed)
    }
}

// SAFETY: every call is passed to the system allocator unchanged; only a counter is added.
unsafe impl GlobalAlloc for LiveBytes {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}
