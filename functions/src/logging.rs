//! Structured logs. One line per request (target `rtcroom::request`: endpoint, scope, code,
//! latency_us, user); UserSigs and tokens are never logged. `RUST_LOG` filters as usual
//! (default `info`).

use std::io::BufWriter;

use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;

fn filter() -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"))
}

/// Human-readable lines for a terminal or a log file. Lines are written by a background thread
/// in batches (one `write` per burst, not per line), which keeps logging off the request path:
/// it cost a fifth of the gateway's throughput when every line was its own `write`. Keep the
/// returned guard alive: dropping it flushes what is pending.
pub fn init_local() -> WorkerGuard {
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let (writer, guard) =
        tracing_appender::non_blocking(BufWriter::with_capacity(64 * 1024, std::io::stdout()));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter())
        .with_target(false)
        .with_ansi(ansi)
        .with_writer(writer)
        .try_init();
    guard
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
