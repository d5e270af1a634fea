//! Child processes for the tests that run the real `local-gateway` binary.

use std::net::TcpListener;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A child process, killed when dropped.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until something listens on `port`, at most 20 s.
pub fn wait_for_port(port: u16) {
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "nothing listens on {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `curl -sf {url}`'s JSON (`null` when it fails).
pub fn get(url: &str) -> Value {
    let out = Command::new("curl").args(["-sf", url]).output().unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
}

/// `curl -sf -X POST -d {body} {url}`'s JSON (`null` when it fails).
pub fn post(url: &str, body: &str) -> Value {
    let out = Command::new("curl")
        .args(["-sf", "-X", "POST", "-d", body, url])
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
}

/// A dev-mode UserSig for `user`, then a login under `room_type`: its token.
pub fn log_in(base: &str, room_type: &str, user: &str) -> String {
    let sig = get(&format!("{base}/utils/get_login_info?userID={user}"))["userSig"]
        .as_str()
        .unwrap()
        .to_owned();
    post(
        &format!("{base}/{room_type}/login?sdkAppID=1400000000&userID={user}&userSig={sig}"),
        "{}",
    )["token"]
        .as_str()
        .unwrap()
        .to_owned()
}
