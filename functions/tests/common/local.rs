//! The real `local-gateway` binary as a child process (its path is known to integration
//! tests only).

use std::process::{Command, Stdio};

use rtcroom_functions::testing::process::{Killed, free_port, wait_for_port};

/// Where a test gateway's relay listens.
pub struct Ports {
    pub rtmp: u16,
    pub http: u16,
    pub srt: u16,
}

/// The `local-gateway` binary on free ports, its relay in-process, configured by `vars` as
/// well: the process, the API base (`http://127.0.0.1:{port}/weapp`) and the relay's ports.
pub fn gateway(vars: &[(&str, &str)]) -> (Killed, String, Ports) {
    let (api, rtmp, http, srt) = (free_port(), free_port(), free_port(), free_port());
    let process = Killed(
        Command::new(env!("CARGO_BIN_EXE_local-gateway"))
            .env_clear()
            .env("RTCROOM_LISTEN", format!("127.0.0.1:{api}"))
            .env("RTCROOM_RELAY_RTMP_LISTEN", format!("127.0.0.1:{rtmp}"))
            .env("RTCROOM_RELAY_HTTP_LISTEN", format!("127.0.0.1:{http}"))
            .env("RTCROOM_RELAY_SRT_LISTEN", format!("127.0.0.1:{srt}"))
            .env("RTCROOM_RELAY_LIVE_REPORT_SECS", "1")
            .env("RUST_LOG", "warn")
            .envs(vars.iter().copied())
            .stdout(Stdio::null())
            .spawn()
            .expect("the local-gateway binary starts"),
    );
    wait_for_port(api);
    (
        process,
        format!("http://127.0.0.1:{api}/weapp"),
        Ports { rtmp, http, srt },
    )
}
