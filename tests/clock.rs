//! A wall clock that steps (NTP, a VM resumed, a clock set by hand) must not
//! stop polling, and must not hide that polling stopped. The daemon runs
//! under libfaketime with the offset in a file the test rewrites mid-run;
//! the monotonic clock is left real, as a real step leaves it.

mod common;

use cdnquota_sim::state::Fault;
use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// libfaketime's multi-threaded library, where Debian's `faketime` puts it.
fn libfaketime() -> Option<PathBuf> {
    let arch = std::env::consts::ARCH;
    let candidates = [
        format!("/usr/lib/{arch}-linux-gnu/faketime/libfaketimeMT.so.1"),
        "/usr/lib/faketime/libfaketimeMT.so.1".to_string(),
    ];
    let found = candidates.iter().map(PathBuf::from).find(|p| p.exists());
    let mut check = Command::new("test");
    check
        .arg("-e")
        .arg(found.clone().unwrap_or_else(|| PathBuf::from(&candidates[0])));
    available(check, "libfaketime is missing: apt-get install faketime (.ci/run does)").then_some(found?)
}

/// The offset of the daemon's wall clock, rewritten while it runs.
struct FakeClock(PathBuf);

impl FakeClock {
    fn set(&self, offset: &str) {
        let tmp = self.0.with_extension("tmp");
        std::fs::write(&tmp, format!("{offset}\n")).unwrap();
        std::fs::rename(&tmp, &self.0).unwrap();
    }
}

/// Starts the daemon with its wall clock at the clock file's offset.
fn start_faked(lib: &Path, clock: &FakeClock, cfg: &Path, addr: &str) -> Daemon {
    let mut cmd = cdnquota(&["run", "-c", cfg.to_str().unwrap()]);
    cmd.env("LD_PRELOAD", lib)
        .env("FAKETIME_TIMESTAMP_FILE", &clock.0)
        // Re-read the file at most every second, and leave CLOCK_MONOTONIC
        // alone: a real step moves the wall clock only.
        .env("FAKETIME_CACHE_DURATION", "1")
        .env("FAKETIME_DONT_FAKE_MONOTONIC", "1");
    Daemon::start_command(cmd, cfg, addr)
}

fn polls(sim: &Sim) -> usize {
    sim.state().arrivals.iter().filter(|a| *a == "GetPackage").count()
}

fn config(dir: &Path, sim: &Sim, addr: &str, schedule: &str, top: &str, account: &str) -> PathBuf {
    let body = format!(
        "schedule = \"{schedule}\"\nlisten = \"{addr}\"\n{top}\n{}",
        account_toml("main", &sim.endpoint(), account)
    );
    write_config(dir, &body)
}

/// A simulator that takes requests signed up to two hours off, so a daemon
/// an hour out is still answered: the test is about the schedule.
fn tolerant_sim() -> Sim {
    let sim = Sim::with_packages(&[(1000 * GB, 100 * GB)]);
    sim.state().timestamp_window = Duration::from_secs(2 * 3600);
    sim
}

fn expect_polls(what: &str, d: &Daemon, sim: &Sim, more: usize) {
    let from = polls(sim);
    // A 2 s schedule: `more` polls take 2 * more seconds; the bound is
    // generous for a loaded machine and far short of the step.
    assert!(
        wait_until(Duration::from_secs(4 * more as u64 + 10), || polls(sim) >= from + more),
        "{what}: {} poll(s) where {more} were due; log:\n{}",
        polls(sim) - from,
        d.log()
    );
}

#[test]
fn polling_goes_on_when_the_wall_clock_steps_back_and_forward_an_hour() {
    let Some(lib) = libfaketime() else { return };
    let dir = tempfile::tempdir().unwrap();
    let sim = tolerant_sim();
    let clock = FakeClock(dir.path().join("faketime"));
    clock.set("+0");
    let a = format!("127.0.0.1:{}", free_port());
    let cfg = config(
        dir.path(),
        &sim,
        &a,
        "*/2 * * * * *",
        "[alerts]\npoll_failure_after = \"1m\"",
        "",
    );
    let d = start_faked(&lib, &clock, &cfg, &a);
    expect_polls("before any step", &d, &sim, 2);

    clock.set("-1h");
    expect_polls("after the clock stepped back 1 h", &d, &sim, 3);
    assert!(
        wait_until(Duration::from_secs(5), || d
            .log()
            .contains("the wall clock stepped back by 1h")),
        "{}",
        d.log()
    );

    clock.set("+0");
    expect_polls("after the clock stepped forward 1 h", &d, &sim, 3);
    assert!(
        wait_until(Duration::from_secs(5), || d
            .log()
            .contains("the wall clock stepped forward by 1h")),
        "{}",
        d.log()
    );
    let log = d.log();
    assert_eq!(
        log.matches("the wall clock stepped").count(),
        2,
        "each step is logged once:\n{log}"
    );
    assert!(!log.contains("no poll has finished"), "polling never stopped:\n{log}");
    let m = d.metrics();
    assert_ne!(
        metric(
            &m,
            "cdnquota_alert_firing",
            "account=\"main\",alert=\"PollFailing\",region=\"\""
        ),
        Some(1.0),
        "{m}"
    );
}

#[test]
fn poll_failing_fires_after_the_clock_steps_back_if_polls_stop() {
    let Some(lib) = libfaketime() else { return };
    // Polls that hang (nothing finishes: the guard's case) and polls that
    // fail (the lifecycle's case).
    for hang in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let sim = tolerant_sim();
        let clock = FakeClock(dir.path().join("faketime"));
        clock.set("+0");
        let a = format!("127.0.0.1:{}", free_port());
        let cfg = config(
            dir.path(),
            &sim,
            &a,
            "* * * * * *",
            "[alerts]\npoll_failure_after = \"3s\"",
            "timeout = \"120s\"",
        );
        let d = start_faked(&lib, &clock, &cfg, &a);
        expect_polls("before the step", &d, &sim, 1);
        {
            let mut s = sim.state();
            if hang {
                s.faults
                    .push_back(Fault::HoldAction("GetPackage".into(), Duration::from_secs(120)));
            } else {
                s.faults.extend((0..200).map(|_| Fault::ApiCode(6000)));
            }
        }
        clock.set("-1h");
        assert!(
            wait_until(Duration::from_secs(30), || metric(
                &d.metrics(),
                "cdnquota_alert_firing",
                "account=\"main\",alert=\"PollFailing\",region=\"\""
            ) == Some(1.0)),
            "hang = {hang}: PollFailing did not fire; log:\n{}",
            d.log()
        );
    }
}
