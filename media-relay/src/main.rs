//! `media-relay`: the relay as a long-running process (a container in the cloud).

use rtcroom_relay::config::RelayConfig;
use rtcroom_relay::server::start;

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let config = RelayConfig::from_env().unwrap_or_else(|e| {
        eprintln!("media-relay: {e}");
        std::process::exit(2)
    });
    let (_handle, listening) = start(&config).await.unwrap_or_else(|e| {
        eprintln!("media-relay: {e}");
        std::process::exit(1)
    });
    println!("rtcroom media relay: {listening} (HTTP: HTTP-FLV and /metrics)");
    tokio::signal::ctrl_c().await.ok();
}
