//! Log output to stderr. Under systemd (`JOURNAL_STREAM` set) lines carry no
//! timestamp, since journald adds its own. `RUST_LOG` picks levels, e.g.
//! `debug` or `cdnquota=debug,reqwest=info`.

use tracing::Level;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::prelude::*;

/// Installs the global subscriber; later calls do nothing.
pub fn init() {
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
    let result = if under_journald {
        tracing_subscriber::registry()
            .with(layer.without_time())
            .with(filter)
            .try_init()
    } else {
        tracing_subscriber::registry().with(layer).with(filter).try_init()
    };
    // Already installed (tests, or demo after another command): keep it.
    drop(result);
}
