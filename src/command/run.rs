//! `cdnquota run`: the daemon, with SIGHUP reloading the config and SIGTERM
//! or Ctrl-C stopping it.

use crate::config::{self, Config};
use crate::daemon::{Daemon, Handover, systemd};
use std::path::Path;
use std::process::ExitCode;
use tokio::signal::unix::{Signal, SignalKind, signal};

/// Why a running daemon was asked to stop.
enum Next {
    Exit,
    Reload(Box<Config>),
}

struct Signals {
    term: Signal,
    hup: Signal,
}

impl Signals {
    fn new() -> std::io::Result<Signals> {
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            hup: signal(SignalKind::hangup())?,
        })
    }

    /// Waits for SIGTERM/SIGINT, or for a SIGHUP bringing a valid config;
    /// a SIGHUP with a bad one is refused and the daemon keeps its config.
    async fn next(&mut self, path: &Path, web_config: Option<&Path>) -> Next {
        loop {
            tokio::select! {
                _ = self.term.recv() => return Next::Exit,
                _ = tokio::signal::ctrl_c() => return Next::Exit,
                _ = self.hup.recv() => match config::load(path, &config::process_env) {
                    Ok(loaded) => {
                        for warning in &loaded.warnings {
                            tracing::warn!("{warning}");
                        }
                        tracing::info!("SIGHUP: {} is valid; reloading", path.display());
                        let mut config = loaded.config;
                        if let Some(web) = web_config {
                            config.http.web_config_file = Some(web.to_path_buf());
                        }
                        return Next::Reload(Box::new(config));
                    }
                    Err(e) => tracing::error!("SIGHUP: the new config is refused, the running one stays: {e}"),
                },
            }
        }
    }
}

/// Runs the daemon with the config at `path` until SIGTERM or Ctrl-C;
/// `web_config` (`--web.config.file`) replaces `[http] web_config_file`.
pub fn run(path: &Path, web_config: Option<&Path>) -> ExitCode {
    let Some(config) = super::load_config_with(path, web_config) else {
        return ExitCode::from(1);
    };
    crate::logging::init_with(config.log_format);
    crate::memory::tune_allocator();
    let runtime = match super::runtime() {
        Ok(r) => r,
        Err(code) => return code,
    };
    runtime.block_on(async move {
        let mut signals = match Signals::new() {
            Ok(s) => s,
            Err(e) => {
                eprintln!("cdnquota: cannot listen for signals: {e}");
                return ExitCode::from(1);
            }
        };
        let mut running = config;
        let mut previous: Option<Config> = None;
        let mut handover = Handover::default();
        loop {
            let daemon = match Daemon::bind_after(running.clone(), &mut handover).await {
                Ok(d) => d,
                Err(e) => match previous.take() {
                    // A reloaded config that cannot start: back to the last one.
                    Some(old) => {
                        tracing::error!("the reloaded config cannot start ({e}); keeping the previous one");
                        running = old;
                        continue;
                    }
                    None => {
                        eprintln!("cdnquota: {e}");
                        handover.finish().await;
                        return ExitCode::from(1);
                    }
                },
            };
            let mut next = Next::Exit;
            handover = match daemon
                .run_until(async { next = signals.next(path, web_config).await })
                .await
            {
                Ok(h) => h,
                Err(e) => {
                    eprintln!("cdnquota: {e}");
                    return ExitCode::from(1);
                }
            };
            match next {
                Next::Exit => {
                    systemd::notify("STOPPING=1");
                    handover.finish().await;
                    return ExitCode::SUCCESS;
                }
                Next::Reload(new) => {
                    systemd::notify("RELOADING=1");
                    previous = Some(std::mem::replace(&mut running, *new));
                }
            }
        }
    })
}
