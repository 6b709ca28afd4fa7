//! The forecast end to end: the history survives restarts, a bad history
//! file costs nothing but the history, API 3.0 billing data is used when the
//! key may read it and not missed when it may not, and `backtest` replays a
//! fixture to an exact alert timeline.

mod common;

use cdnquota_sim::traffic::TrafficShape;
use chrono::{TimeDelta, Utc};
use common::*;
use std::path::Path;
use std::time::Duration;

fn polls(d: &Daemon) -> f64 {
    metric(
        &d.metrics(),
        "cdnquota_api_requests_total",
        "account=\"main\",action=\"GetPackage\",outcome=\"success\"",
    )
    .or_else(|| {
        metric(
            &d.metrics(),
            "cdnquota_api_requests_total",
            "account=\"main\",action=\"DescribeTrafficPackages\",outcome=\"success\"",
        )
    })
    .unwrap_or(0.0)
}

/// Whether a poll's results are published (poll health is set last).
fn published(d: &Daemon) -> bool {
    metric(&d.metrics(), "cdnquota_poll_success", "account=\"main\"") == Some(1.0)
}

fn wait(what: &str, d: &Daemon, f: impl FnMut() -> bool) {
    d.wait_for(what, Duration::from_secs(20), f);
}

fn config(dir: &Path, endpoint: &str, account: &str, top: &str) -> std::path::PathBuf {
    let a = account_toml("main", endpoint, account);
    write_config(dir, &format!("schedule = \"* * * * * *\"\n{top}\n{a}"))
}

#[test]
fn the_first_poll_after_a_restart_has_the_rate_and_the_forecast() {
    let dir = tempfile::tempdir().unwrap();
    let sim = Sim::with_packages(&[(1000 * GB, 100 * GB)]);
    sim.state().drain_bytes_per_second = 100_000_000.0;
    sim.state().settlement = cdnquota_sim::settle::Settlement::IMMEDIATE;
    let a = loopback_addr();
    let cfg = config(dir.path(), &sim.endpoint(), "", &format!("listen = \"{a}\""));
    let mut d = Daemon::start(&cfg, &a);
    wait("a rate", &d, || {
        metric(
            &d.metrics(),
            "cdnquota_pool_consumption_bytes_per_second",
            "account=\"main\",region=\"mainland\"",
        )
        .is_some()
    });
    assert_eq!(d.terminate().code(), Some(0));
    assert!(dir.path().join("state/history/main.json").exists());

    // Restarted on an hourly schedule: the poll at start is the only one,
    // so what it shows cannot come from a second poll.
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("* * * * * *", "0 0 * * * *");
    std::fs::write(&cfg, text).unwrap();
    let d = Daemon::start(&cfg, &a);
    // The first poll after the restart: no second poll is needed for the
    // rate or the forecast.
    wait("the first poll", &d, || published(&d));
    let m = d.metrics();
    assert_eq!(polls(&d), 1.0, "more than one poll already; {m}");
    let rate = metric(
        &m,
        "cdnquota_pool_consumption_bytes_per_second",
        "account=\"main\",region=\"mainland\"",
    )
    .unwrap_or_else(|| panic!("no rate at the first poll after a restart:\n{m}"));
    assert!((rate - 1.0e8).abs() < 2.0e7, "{rate}");
    let dry = metric(
        &m,
        "cdnquota_pool_depletion_timestamp_seconds",
        "account=\"main\",region=\"mainland\"",
    )
    .expect("a forecast");
    // 900 GB at 100 MB/s: 2.5 hours.
    let hours = (dry - Utc::now().timestamp() as f64) / 3600.0;
    assert!((2.0..3.0).contains(&hours), "{hours} h");
    assert!(
        metric(
            &m,
            "cdnquota_pool_depletion_early_timestamp_seconds",
            "account=\"main\",region=\"mainland\""
        )
        .is_some()
    );
}

#[test]
fn a_corrupt_or_missing_history_starts_empty_with_one_error_line() {
    let dir = tempfile::tempdir().unwrap();
    let sim = Sim::with_packages(&[(1000 * GB, 100 * GB)]);
    let history = dir.path().join("state/history");
    std::fs::create_dir_all(&history).unwrap();
    std::fs::write(history.join("main.json"), b"{\"recent\": {\"polls\": [tr").unwrap();
    let a = loopback_addr();
    let cfg = config(dir.path(), &sim.endpoint(), "", &format!("listen = \"{a}\""));
    let d = Daemon::start(&cfg, &a);
    wait("three polls", &d, || polls(&d) >= 3.0);
    let log = d.log();
    assert_eq!(log.matches("consumption history").count(), 1, "{log}");
    assert!(log.contains("is unreadable") && log.contains("moved it to"), "{log}");
    assert_eq!(
        metric(&d.metrics(), "cdnquota_poll_success", "account=\"main\""),
        Some(1.0)
    );
    let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(history.join("main.json")).unwrap()).unwrap();
    assert_eq!(saved["version"], 1, "a fresh history is written: {saved}");

    // Missing: no complaint at all.
    let other = tempfile::tempdir().unwrap();
    let b = loopback_addr();
    let d = Daemon::start(
        &config(other.path(), &sim.endpoint(), "", &format!("listen = \"{b}\"")),
        &b,
    );
    wait("two polls", &d, || polls(&d) >= 2.0);
    assert!(!d.log().contains("consumption history"), "{}", d.log());
}

fn v3_sim(refused: Option<&str>) -> Sim {
    let sim = Sim::with_packages(&[(1000 * GB, 100 * GB)]);
    {
        let mut s = sim.state();
        s.traffic = Some(TrafficShape::daily(
            50_000_000.0,
            5.0,
            (Utc::now() - TimeDelta::days(60)).timestamp(),
        ));
        s.billing_refused = refused.map(str::to_string);
        s.settlement = cdnquota_sim::settle::Settlement::IMMEDIATE;
    }
    sim
}

#[test]
fn billing_data_gives_the_forecast_a_month_of_history_at_the_first_poll() {
    let dir = tempfile::tempdir().unwrap();
    let sim = v3_sim(None);
    let a = loopback_addr();
    let cfg = config(
        dir.path(),
        &sim.sim.endpoint_v3(),
        "api = \"v3\"",
        &format!("listen = \"{a}\""),
    );
    let d = Daemon::start(&cfg, &a);
    wait("the first poll", &d, || published(&d));
    let m = d.metrics();
    let history = metric(
        &m,
        "cdnquota_pool_forecast_history_seconds",
        "account=\"main\",region=\"mainland\"",
    )
    .unwrap_or(0.0);
    assert!(history >= 29.0 * 86_400.0, "{history} s of history; {m}");
    assert!(
        metric(
            &m,
            "cdnquota_pool_depletion_timestamp_seconds",
            "account=\"main\",region=\"mainland\""
        )
        .is_some(),
        "{m}"
    );
    let billed = sim
        .state()
        .arrivals
        .iter()
        .filter(|a| *a == "DescribeBillingData")
        .count();
    // Once for the hours of the last 30 days, once for the recent 5-minute
    // points that measure the deduction lag.
    assert_eq!(billed, 2, "billing data is read once of each kind at start");
    assert!(d.log().contains("hour(s) of billing data"), "{}", d.log());
}

#[test]
fn a_v3_key_refused_billing_data_still_polls_and_forecasts() {
    for refusal in ["AuthFailure.UnauthorizedOperation", "InvalidAction"] {
        let dir = tempfile::tempdir().unwrap();
        let sim = v3_sim(Some(refusal));
        let a = loopback_addr();
        let cfg = config(
            dir.path(),
            &sim.sim.endpoint_v3(),
            "api = \"v3\"",
            &format!("listen = \"{a}\""),
        );
        let d = Daemon::start(&cfg, &a);
        wait("a forecast from the daemon's own polls", &d, || {
            metric(
                &d.metrics(),
                "cdnquota_pool_depletion_timestamp_seconds",
                "account=\"main\",region=\"mainland\"",
            )
            .is_some()
        });
        wait("four polls", &d, || polls(&d) >= 4.0);
        let log = d.log();
        assert_eq!(
            log.matches("DescribeBillingData is not available").count(),
            1,
            "{refusal}: {log}"
        );
        assert!(log.contains(refusal), "{log}");
        assert_eq!(
            metric(&d.metrics(), "cdnquota_poll_success", "account=\"main\""),
            Some(1.0)
        );
        let asked = sim
            .state()
            .arrivals
            .iter()
            .filter(|a| *a == "DescribeBillingData")
            .count();
        assert_eq!(asked, 1, "{refusal}: asked again after a refusal");
    }
}

/// The fixture: 1 TB draining 10 GB an hour after a 500 GB package that
/// expires at hour 30 with 200 GB left; dry at hour 130; a 5 TB package at
/// hour 140.
const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/backtest-small.jsonl");

#[test]
fn backtest_replays_the_fixture_to_the_exact_alert_timeline() {
    let out = run_to_end(&["backtest", "--history", FIXTURE, "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON lines"))
        .collect();
    let polls: Vec<&serde_json::Value> = lines.iter().filter(|l| l["type"] == "poll").collect();
    assert_eq!(polls.len(), 151);
    assert_eq!(polls[0]["at"], "2026-05-01T00:00:00Z");
    assert_eq!(polls[0]["remaining_bytes"], 1500 * GB);
    assert!(polls[0]["rate_bytes_per_second"].is_null());
    assert_eq!(polls[130]["remaining_bytes"], 0);
    assert!(polls[50]["depletion_at"].as_str().is_some());
    let alerts: Vec<(String, String, String, String)> = lines
        .iter()
        .filter(|l| l["type"] == "alert")
        .map(|l| {
            let s = |k: &str| l[k].as_str().unwrap_or_default().to_string();
            (s("at"), s("alert"), s("state"), s("package_id"))
        })
        .collect();
    let want = |at: &str, alert: &str, state: &str, package: &str| {
        (
            at.to_string(),
            alert.to_string(),
            state.to_string(),
            package.to_string(),
        )
    };
    assert_eq!(
        alerts,
        vec![
            // Hour 1: even at the early bound's demand, 128 GB of the 500 GB
            // package cannot be used in the 29 h it has left.
            want("2026-05-01T01:00:00Z", "PackageExpiringSoon", "firing", "2"),
            want("2026-05-02T06:00:00Z", "PackageExpiringSoon", "resolved", "2"),
            // Hour 41: 890 GB left runs dry within 3 days at the early
            // bound (1.25 x 10 GB/h); fires at the next poll.
            want("2026-05-02T18:00:00Z", "DepletionForecast", "firing", ""),
            // Hour 111: 190 GB left, below 200 GB; fires at the next poll.
            want("2026-05-05T16:00:00Z", "PoolLow", "firing", ""),
            want("2026-05-06T11:00:00Z", "PoolExhausted", "firing", ""),
            // Hour 140: the 5 TB package resolves all three.
            want("2026-05-06T20:00:00Z", "DepletionForecast", "resolved", ""),
            want("2026-05-06T20:00:00Z", "PoolExhausted", "resolved", ""),
            want("2026-05-06T20:00:00Z", "PoolLow", "resolved", ""),
        ]
    );

    // The last line sums up the money: advice against the recorded
    // purchases. The history shows one purchase (the 5 TB) and 35 GB run
    // pay-as-you-go while the pool was empty (hours 130 to 140 at the
    // last rate); the advice bought before it ran dry, so none.
    let last = lines.last().expect("a summary line");
    assert_eq!(last["type"], "summary", "{last}");
    assert_eq!(last["payg_bytes"]["advice"], 0.0, "{last}");
    assert!(last["payg_bytes"]["recorded"].as_f64().unwrap_or(0.0) > 0.0, "{last}");
    for key in ["cost_cny", "wasted_bytes"] {
        assert!(
            last[key]["advice"].is_number() && last[key]["recorded"].is_number(),
            "{last}"
        );
    }

    // Without a price table: said, and no cost.
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &format!(
            "[pricing.mainland]\nreplace = true\n{}",
            account_toml("main", "https://cdn.api.qcloud.com/v2/index.php", "")
        ),
    );
    let out = run_to_end(&[
        "backtest",
        "--history",
        FIXTURE,
        "--json",
        "-c",
        config.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no advice and no cost"));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("\"summary\""));

    let summary = run_to_end(&["backtest", "--history", FIXTURE]);
    let text = String::from_utf8_lossy(&summary.stdout);
    assert!(text.contains("ran dry at 2026-05-06T10:00:00Z"), "{text}");
    assert!(text.contains("DepletionForecast fired 88 h ahead"), "{text}");
}

#[test]
fn backtest_says_where_a_record_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.jsonl");
    let good = std::fs::read_to_string(FIXTURE).unwrap();
    let first = good.lines().next().unwrap();
    std::fs::write(
        &bad,
        format!("{first}\n{{\"at\": \"2026-05-01T01:00:00Z\", \"data\": [{{\"id\": 1}}]}}\n"),
    )
    .unwrap();
    let out = run_to_end(&["backtest", "--history", bad.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("bad.jsonl:2: ") && stderr.contains("data[0]"),
        "{stderr}"
    );
}

#[test]
fn run_records_its_polls_and_backtest_reads_them() {
    let dir = tempfile::tempdir().unwrap();
    let sim = Sim::with_packages(&[(1000 * GB, 100 * GB)]);
    sim.state().drain_bytes_per_second = 10_000_000.0;
    let a = loopback_addr();
    let cfg = config(
        dir.path(),
        &sim.endpoint(),
        "",
        &format!("listen = \"{a}\"\nrecord_polls = true"),
    );
    let d = Daemon::start(&cfg, &a);
    wait("three polls", &d, || polls(&d) >= 3.0);
    let recording = dir.path().join("state/polls/main.jsonl");
    let out = run_to_end(&[
        "backtest",
        "--history",
        recording.to_str().unwrap(),
        "--json",
        "-c",
        cfg.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(first["type"], "poll");
    let left = first["remaining_bytes"].as_u64().unwrap();
    assert!(left <= 900 * GB && left > 899 * GB, "{left}");
}
