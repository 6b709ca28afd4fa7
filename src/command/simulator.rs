//! `cdnquota simulator` (hidden): the API simulator (v2 and v3) on its own,
//! to point a separately started daemon at, e.g. for measuring it.

use crate::daemon::stop_signal;
use cdnquota_sim::{Simulator, scenario};
use chrono::Utc;
use std::net::SocketAddr;
use std::process::ExitCode;

/// Serves the named scenario on `listen` until SIGTERM or Ctrl-C;
/// `packages` sizes the `many` and `years` scenarios.
pub fn simulator(
    listen: SocketAddr,
    scenario_name: &str,
    packages: usize,
    secret_id: &str,
    secret_key: &str,
) -> ExitCode {
    crate::logging::init();
    let now = Utc::now();
    let state = match scenario_name {
        "demo" => scenario::demo(secret_id, secret_key, now),
        "steady" => scenario::steady(secret_id, secret_key, now),
        "many" => scenario::many(secret_id, secret_key, now, packages),
        "years" => scenario::years(secret_id, secret_key, now, packages),
        other => {
            eprintln!("cdnquota: unknown scenario `{other}`: use demo, steady, many or years");
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
                println!(
                    "simulator serving scenario `{scenario_name}` ({} packages) at {} (v2) and {} (v3)",
                    sim.state().packages.len(),
                    sim.endpoint(),
                    sim.endpoint_v3()
                );
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
