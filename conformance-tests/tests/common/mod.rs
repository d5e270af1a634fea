//! In-process local gateways on the wall clock, for running the suite as a third party would:
//! over real HTTP, against the same code the `local-gateway` binary serves.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use rtcroom_conformance::case::{Fault, Options};
use rtcroom_conformance::client::Target;
use rtcroom_conformance::runner::{self, Report};
use rtcroom_functions::app::App;
use rtcroom_functions::testing;
use rtcroom_shared::clock::SystemClock;
use rtcroom_shared::store::RoomStore;

pub const KEY: &str = "conformance-usersig-key-0123456789";
pub const PUSH_KEY: &str = "conformance-push-key";
pub const PLAY_KEY: &str = "conformance-play-key";
pub const SDKAPPID: u64 = 1_400_000_001;
/// The heartbeat timeout the test gateways run with: presence cases take about 2.5× this, less
/// than the 32 s reclaim case; long enough that a loaded CI machine does not time members out.
pub const HEARTBEAT_TIMEOUT_SECS: u64 = 6;
/// The join wait of session connections (EV-12): the time-out case waits this long.
pub const JOIN_WAIT_SECS: u64 = 3;

/// Starts a gateway on `store` configured by `vars` over the test defaults; its base URL.
pub async fn gateway(vars: &[(&str, &str)], store: Arc<dyn RoomStore>) -> String {
    let (sdkappid, timeout, wait) = (
        SDKAPPID.to_string(),
        HEARTBEAT_TIMEOUT_SECS.to_string(),
        JOIN_WAIT_SECS.to_string(),
    );
    let defaults = [
        ("RTCROOM_USERSIG_KEY", KEY),
        ("RTCROOM_SDKAPPID", sdkappid.as_str()),
        ("RTCROOM_PUSH_KEY", PUSH_KEY),
        ("RTCROOM_PLAY_KEY", PLAY_KEY),
        ("RTCROOM_HEARTBEAT_TIMEOUT_SECS", timeout.as_str()),
        ("RTCROOM_JOIN_WAIT_SECS", wait.as_str()),
    ];
    let config = testing::config(&defaults, vars);
    testing::serve_app(Arc::new(App::new(config, store, Arc::new(SystemClock)))).await
}

pub fn target(base_url: &str) -> Target {
    Target {
        base_url: base_url.into(),
        sdkappid: SDKAPPID,
        key: KEY.into(),
        push_key: Some(PUSH_KEY.into()),
        play_key: Some(PLAY_KEY.into()),
    }
}

pub fn options(fault: Option<Fault>) -> Options {
    Options {
        heartbeat_timeout: Duration::from_secs(HEARTBEAT_TIMEOUT_SECS),
        join_wait: Duration::from_secs(JOIN_WAIT_SECS),
        // The embedded store's default; DynamoDB runs set None (it does not limit rooms).
        rooms_per_user: Some(rtcroom_shared::store::StoreLimits::default().max_rooms_per_user),
        fault,
        ..Options::default()
    }
}

/// Runs the selected cases, 8 at a time, printing each result line as the CLI does.
pub async fn run(base_url: &str, options: Options, only: Option<&str>) -> Report {
    run_parallel(base_url, options, only, 8).await
}

/// The same with `parallel` cases at a time.
pub async fn run_parallel(
    base_url: &str,
    options: Options,
    only: Option<&str>,
    parallel: usize,
) -> Report {
    let report = runner::run(
        target(base_url),
        options,
        rtcroom_conformance::all_cases(),
        only,
        parallel,
        |r| println!("{}", rtcroom_conformance::report::text_line(r)),
    )
    .await;
    println!("{}", rtcroom_conformance::report::summary(&report));
    report
}
