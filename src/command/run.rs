//! `cdnquota run`: the daemon.

use crate::daemon::{Daemon, stop_signal};
use std::path::Path;
use std::process::ExitCode;

/// Runs the daemon with the config at `path` until SIGTERM or Ctrl-C.
pub fn run(path: &Path) -> ExitCode {
    crate::logging::init();
    let Some(config) = super::load_config(path) else {
        return ExitCode::from(1);
    };
    let runtime = match super::runtime() {
        Ok(r) => r,
        Err(code) => return code,
    };
    runtime.block_on(async {
        let result = match Daemon::bind(config).await {
            Ok(daemon) => daemon.run(stop_signal()).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("cdnquota: {e}");
                ExitCode::from(1)
            }
        }
    })
}
