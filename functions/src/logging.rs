//! Structured logs. One line per request (target `rtcroom::request`: endpoint, scope, code,
//! latency_us, user); UserSigs and tokens are never logged. `RUST_LOG` filters as usual
//! (default `info`).

use tracing_subscriber::EnvFilter;

fn filter() -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"))
}

/// Human-readable lines for a terminal.
pub fn init_local() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter())
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .try_init();
}

/// JSON lines, as CloudWatch Logs Insights wants them (it adds its own timestamp).
pub fn init_json() {
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter())
        .with_current_span(false)
        .without_time()
        .with_ansi(false)
        .try_init();
}
