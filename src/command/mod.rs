//! The subcommands behind `main.rs`: each sets up what it needs, runs, and
//! returns the process exit code.

pub mod advise;
pub mod backtest;
pub mod check;
pub mod check_report;
#[cfg(feature = "demo")]
pub mod demo;
pub mod email_test;
pub mod nagios;
pub mod order;
pub mod output;
pub mod reload;
pub mod run;
pub mod show_config;
#[cfg(feature = "demo")]
pub mod simulator;

use std::process::ExitCode;

/// A small single-threaded runtime: the daemon does a few requests per
/// poll, and one thread keeps its footprint down.
fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("cdnquota: cannot start the async runtime: {e}");
            ExitCode::from(1)
        })
}

/// Reads the config at `path`, printing warnings; `None` after printing why
/// it was refused.
fn load_config(path: &std::path::Path) -> Option<crate::config::Config> {
    load_config_with(path, None)
}

/// [`load_config`], with `--web.config.file` in place of `[http]
/// web_config_file` when given.
fn load_config_with(path: &std::path::Path, web_config: Option<&std::path::Path>) -> Option<crate::config::Config> {
    match crate::config::load(path, &crate::config::process_env) {
        Ok(loaded) => {
            for warning in &loaded.warnings {
                tracing::warn!("{warning}");
            }
            let mut config = loaded.config;
            if let Some(web) = web_config {
                config.http.web_config_file = Some(web.to_path_buf());
            }
            Some(config)
        }
        Err(e) => {
            eprintln!("cdnquota: invalid config: {e}");
            None
        }
    }
}
