//! The one-command local run: every room API on one port (default 127.0.0.1:5757) on the
//! embedded store, with the sweeper, and the media relay in-process (RTMP on 127.0.0.1:1935,
//! HTTP-FLV on 127.0.0.1:8081, where the URLs the gateway signs point; `RTCROOM_RELAY=off`
//! leaves it out; it reports its streams to this gateway's `/relay/event`). Configuration: the
//! `RTCROOM_*` variables (README).

use std::process::ExitCode;
use std::sync::Arc;

use rtcroom_functions::app::App;
use rtcroom_functions::{gateway, logging, stream_events, sweeper};
use rtcroom_relay::config::RelayConfig;
use rtcroom_relay::server::RelayHandle;
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
    let _relay = match start_relay(&app.config).await {
        Ok(relay) => relay,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(1);
        }
    };
    sweeper::spawn(app.clone());
    tokio::select! {
        _ = gateway::serve(listener, app) => ExitCode::FAILURE,
        _ = tokio::signal::ctrl_c() => ExitCode::SUCCESS,
    }
}

/// The in-process relay, unless `RTCROOM_RELAY=off`; it checks URLs with the gateway's push
/// and play keys.
async fn start_relay(config: &Config) -> Result<Option<RelayHandle>, String> {
    if !config.local_relay {
        return Ok(None);
    }
    let push_key = config.urls.push_key.clone();
    let play_key = config.urls.play_key.clone();
    // The relay reports its streams to this gateway, signed with the gateway's secret.
    let mut events_to = config.listen;
    if events_to.ip().is_unspecified() {
        events_to.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let events_url = format!("http://{events_to}{}", stream_events::PATH);
    let events_secret = config.relay_events_secret.clone();
    // The relay's own settings (`RTCROOM_RELAY_*`) from the environment, but the keys and the
    // events' destination and secret are the gateway's.
    let relay_config = RelayConfig::from_lookup(|k| match k {
        "RTCROOM_PUSH_KEY" => Some(push_key.clone()),
        "RTCROOM_PLAY_KEY" => Some(play_key.clone()),
        "RTCROOM_RELAY_EVENTS_URL" => std::env::var(k).ok().or(Some(events_url.clone())),
        "RTCROOM_RELAY_EVENTS_SECRET" => events_secret.clone(),
        other => std::env::var(other).ok(),
    })
    .map_err(|e| format!("configuration error: {e}"))?;
    let (handle, listening) = rtcroom_relay::server::start(&relay_config)
        .await
        .map_err(|e| {
            format!("cannot start the media relay (RTCROOM_RELAY=off to run without it): {e}")
        })?;
    println!("media relay: {listening} (HTTP: HTTP-FLV and /metrics)");
    Ok(Some(handle))
}
