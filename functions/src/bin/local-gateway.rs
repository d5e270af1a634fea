//! The one-command local run: every room API on one port (default 127.0.0.1:5757) on the
//! embedded store, with the sweeper. Configuration: the `RTCROOM_*` variables (README).

use std::process::ExitCode;
use std::sync::Arc;

use rtcroom_functions::app::App;
use rtcroom_functions::{gateway, logging, sweeper};
use rtcroom_shared::config::{Config, Profile, StoreKind};
use tokio::net::TcpListener;

/// The gateway allocates a few short-lived buffers per request; mimalloc serves them faster
/// than glibc's allocator (measured in BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let _log_writer = logging::init_local();
    let config = match Config::from_env(Profile::LocalGateway) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    let listener = match TcpListener::bind(config.listen).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("cannot listen on {} (RTCROOM_LISTEN): {e}", config.listen);
            return ExitCode::from(1);
        }
    };
    if config.usersig_key_generated {
        println!(
            "RTCROOM_USERSIG_KEY not set: using a random key for this run: {}",
            config.usersig_key
        );
    }
    println!(
        "rtcroom local gateway on http://{} (sdkAppID {}, dev mode {}, store {})",
        config.listen,
        config.sdkappid,
        if config.dev_mode { "on" } else { "off" },
        match &config.store {
            StoreKind::Embedded => "embedded".to_owned(),
            StoreKind::DynamoDb { table, .. } => format!("DynamoDB table {table}"),
        }
    );
    let app = match App::connect(config).await {
        Ok(app) => Arc::new(app),
        Err(e) => {
            eprintln!("cannot start: {e}");
            return ExitCode::from(1);
        }
    };
    sweeper::spawn(app.clone());
    tokio::select! {
        _ = gateway::serve(listener, app) => ExitCode::FAILURE,
        _ = tokio::signal::ctrl_c() => ExitCode::SUCCESS,
    }
}
