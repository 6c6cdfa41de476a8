//! Logging setup: `tracing` to stderr, text or JSON, filtered by `log.level` or `RUST_LOG`.

use roster_core::config::{LogConfig, LogFormat};
use tracing_subscriber::EnvFilter;

/// apalis logs each of its workers starting and stopping at INFO, dozens of lines per start:
/// unless a filter names apalis itself, those lines are left out (Roster logs one line per
/// pool, and its per-worker lines at DEBUG).
const QUIET_APALIS: &str = "apalis_core::worker=warn";

/// The filter: `RUST_LOG`, else `log.level`, with [`QUIET_APALIS`] added unless it names apalis.
fn filter(config: &LogConfig) -> EnvFilter {
    let text = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| config.level.clone());
    let text = if text.contains("apalis") {
        text
    } else {
        format!("{text},{QUIET_APALIS}")
    };
    EnvFilter::try_new(&text).unwrap_or_else(|_| EnvFilter::new(format!("info,{QUIET_APALIS}")))
}

/// Installs the global subscriber (once; later calls are ignored).
pub fn init(config: &LogConfig) {
    let filter = filter(config);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match config.format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
