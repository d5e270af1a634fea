//! `media-relay`: the relay as a long-running process (a container in the cloud).

use rtcroom_relay::config::RelayConfig;
use rtcroom_relay::server::{RelayHandle, serve_rtmp};
use tokio::net::TcpListener;

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
    let listener = TcpListener::bind(config.rtmp_listen)
        .await
        .unwrap_or_else(|e| {
            eprintln!("media-relay: cannot listen on {}: {e}", config.rtmp_listen);
            std::process::exit(1)
        });
    let handle = RelayHandle::new(&config);
    println!("rtcroom media relay: RTMP on rtmp://{}", config.rtmp_listen);
    serve_rtmp(listener, handle.relay, config.max_connections).await;
}
