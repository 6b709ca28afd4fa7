//! `examples/list_packages.rs` against the simulator over real HTTP: the
//! example `cargo test` builds lists the simulated account's packages, and a
//! wrong key is refused in one line.

use cdnquota_sim::Simulator;
use cdnquota_sim::state::{SimPackage, SimState};
use chrono::{TimeDelta, Utc};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

const SECRET_ID: &str = "AKIDexample000000000001";
const SECRET_KEY: &str = "example-secret-key-0123";

/// The example binary: `cargo test` builds examples beside the test binaries.
fn example() -> PathBuf {
    let test = std::env::current_exe().expect("the test binary's path");
    let target = test
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps");
    target.join("examples").join("list_packages")
}

async fn run(sim: &Simulator, key: &str) -> Output {
    let mut cmd = Command::new(example());
    cmd.arg(sim.endpoint_v3())
        .env("TENCENTCLOUD_SECRET_ID", SECRET_ID)
        .env("TENCENTCLOUD_SECRET_KEY", key);
    // The simulator answers on this runtime, so the example runs off it.
    tokio::task::spawn_blocking(move || cmd.output().expect("the example runs"))
        .await
        .expect("the example's thread")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_lists_the_simulated_packages() {
    let now = Utc::now();
    let mut state = SimState::new(SECRET_ID, SECRET_KEY, now);
    for (size, used) in [(100_000_000_000u64, 40_000_000_000u64), (500_000_000_000, 0)] {
        let id = state.next_package_id();
        let valid = Duration::from_secs(30 * 86_400);
        state
            .packages
            .push(SimPackage::new(id, size, used, now - TimeDelta::days(1), valid));
    }
    let sim = Simulator::start(SocketAddr::from(([127, 0, 0, 1], 0)), state)
        .await
        .expect("the simulator starts");

    let out = run(&sim, SECRET_KEY).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("60000000000 bytes left"), "{stdout}");
    assert!(stdout.contains("500000000000 bytes left"), "{stdout}");
    assert!(stdout.trim_end().ends_with("2 packages"), "{stdout}");
    assert_eq!(sim.state().count("DescribeTrafficPackages"), 1);

    let refused = run(&sim, "not-the-key").await;
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(stderr.contains("AuthFailure.SignatureFailure"), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(!stderr.contains("not-the-key"), "the key is never shown: {stderr}");
}
