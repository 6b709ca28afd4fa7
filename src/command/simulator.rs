//! `cdnquota simulator` (hidden): the API v2 simulator on its own, to point a
//! separately started daemon at, e.g. for measuring it.

use crate::daemon::stop_signal;
use crate::sim::{Simulator, scenario};
use chrono::Utc;
use std::net::SocketAddr;
use std::process::ExitCode;

/// Serves the named scenario on `listen` until SIGTERM or Ctrl-C.
pub fn simulator(listen: SocketAddr, scenario_name: &str, secret_id: &str, secret_key: &str) -> ExitCode {
    crate::logging::init();
    let state = match scenario_name {
        "demo" => scenario::demo(secret_id, secret_key, Utc::now()),
        "steady" => scenario::steady(secret_id, secret_key, Utc::now()),
        other => {
            eprintln!("cdnquota: unknown scenario `{other}`: use demo or steady");
            return ExitCode::from(2);
        }
    };
    let runtime = match super::runtime() {
        Ok(r) => r,
        Err(code) => return code,
    };
    runtime.block_on(async {
        match Simulator::start(listen, state).await {
            Ok(sim) => {
                println!("simulator serving scenario `{scenario_name}` at {}", sim.endpoint());
                stop_signal().await;
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("cdnquota: cannot listen on {listen}: {e}");
                ExitCode::from(1)
            }
        }
    })
}
