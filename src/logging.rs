//! Log output to stderr. Under systemd (`JOURNAL_STREAM` set) lines carry no
//! timestamp, since journald adds its own; `log_format = "json"` writes one
//! JSON object per line for log shippers. `RUST_LOG` picks levels, e.g.
//! `debug` or `cdnquota=debug,reqwest=info`.

use serde::{Deserialize, Serialize};
use tracing::Level;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::prelude::*;

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Installs the global subscriber with text lines; later calls do nothing.
pub fn init() {
    init_with(LogFormat::Text);
}

/// Installs the global subscriber; later calls do nothing.
pub fn init_with(format: LogFormat) {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|spec| spec.parse::<Targets>().ok())
        .unwrap_or_else(|| {
            Targets::new()
                .with_target("cdnquota", Level::INFO)
                .with_default(Level::WARN)
        });
    let under_journald = std::env::var_os("JOURNAL_STREAM").is_some();
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(false);
    let registry = tracing_subscriber::registry().with(filter);
    // Already installed (tests, or a command run after another): keep it.
    let _ = match (format, under_journald) {
        (LogFormat::Json, _) => registry.with(layer.json()).try_init(),
        (LogFormat::Text, true) => registry.with(layer.without_time()).try_init(),
        (LogFormat::Text, false) => registry.with(layer).try_init(),
    };
}
