//! `cdnquota check` against the simulator over HTTP: exit codes, output,
//! and every combination of HTTP method and signature method.

mod common;

use common::*;

fn check(sim: &Sim, extra: &str, json: bool) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &account_toml("main", &sim.endpoint(), extra));
    let mut args = vec!["check", "-c", config.to_str().unwrap()];
    if json {
        args.push("--json");
    }
    let out = run_to_end(&args);
    (
        out.status.code().expect("an exit code"),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn healthy_pool_exits_0_with_a_table() {
    let sim = Sim::with_packages(&[(1000 * GB, 100 * GB)]);
    let (code, out, err) = check(&sim, "", false);
    assert_eq!(code, 0, "{out}{err}");
    // The status line first, as the monitoring system shows it, with the
    // perfdata; the table is the long output after it.
    let mut lines = out.lines();
    let status = lines.next().unwrap_or_default();
    let (text, perf) = status.split_once(" | ").expect("perfdata after ` | `");
    assert_eq!(text, "CDNQUOTA OK - main: 900 GB left of 1.00 TB (90.0%)");
    let perf: Vec<&str> = perf.split(' ').collect();
    assert_eq!(
        perf[0],
        "'main_remaining'=900000000000B;200000000000:;1:;0;1000000000000"
    );
    assert_eq!(perf[1], "'main_used'=10.00%;90;;0;100");
    assert!(
        perf[2].starts_with("'main_expiry_in'=") && perf[2].ends_with("s;604800:;;0"),
        "{status}"
    );
    // One poll and no daemon history: no rate, so no run-dry countdown.
    assert_eq!(perf.len(), 3, "{status}");
    assert!(
        lines.next().unwrap_or_default().starts_with("ACCOUNT  PACKAGE"),
        "{out}"
    );
    assert!(out.contains("900 GB"), "{out}");
    assert!(out.contains("10.0%"), "{out}");
    assert!(
        out.contains("main: OK - 900 GB left of 1.00 TB (90.0%) in 1 usable package(s)"),
        "{out}"
    );
}

#[test]
fn low_pool_exits_1() {
    let sim = Sim::with_packages(&[(1000 * GB, 850 * GB)]);
    let (code, out, _) = check(&sim, "", false);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.starts_with("CDNQUOTA WARNING - main: 150 GB left of 1.00 TB (15.0%), PoolLow | "),
        "{out}"
    );
    assert!(out.contains("WARNING PoolLow: 150 GB left"), "{out}");
}

#[test]
fn exhausted_pool_exits_2() {
    let sim = Sim::with_packages(&[(100 * GB, 100 * GB)]);
    let (code, out, _) = check(&sim, "", false);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.starts_with("CDNQUOTA CRITICAL - main: 0 B left of 100 GB (0.0%), PoolExhausted, PoolLow | "),
        "{out}"
    );
    assert!(
        out.lines().next().unwrap().contains("'main_dry_in'=0s;259200:;;0"),
        "an empty pool is dry now: {out}"
    );
    assert!(out.contains("CRITICAL PoolExhausted"), "{out}");
    // An account with no package at all is just as exhausted.
    let empty = Sim::with_packages(&[]);
    let (code, out, _) = check(&empty, "", false);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("no usable traffic package"), "{out}");
}

#[test]
fn bad_key_exits_3_with_the_api_code() {
    let sim = Sim::with_packages(&[(1000 * GB, 0)]);
    let dir = tempfile::tempdir().unwrap();
    let body = account_toml("main", &sim.endpoint(), "").replace(SECRET_KEY, "wrong-key");
    let config = write_config(dir.path(), &body);
    let out = run_to_end(&["check", "-c", config.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{stdout}");
    assert!(
        stdout.starts_with("CDNQUOTA UNKNOWN - main: GetPackage failed: API error code 4100"),
        "{stdout}"
    );
    assert!(
        !stdout.lines().next().unwrap().contains(" | "),
        "no data, no perfdata: {stdout}"
    );
    assert!(
        stdout.contains("main: UNKNOWN - GetPackage failed: API error code 4100"),
        "{stdout}"
    );
    assert!(stdout.contains("check secret_id and secret_key"), "{stdout}");
    assert!(!stdout.contains("wrong-key"), "the key leaked: {stdout}");
    // Permanent: asked once, not retried.
    assert_eq!(sim.state().count("GetPackage"), 1);
}

#[test]
fn unknown_secret_id_exits_3_with_4104() {
    let sim = Sim::with_packages(&[(1000 * GB, 0)]);
    let dir = tempfile::tempdir().unwrap();
    let body = account_toml("main", &sim.endpoint(), "").replace(SECRET_ID, "AKIDnobodyknowsthis01");
    let config = write_config(dir.path(), &body);
    let out = run_to_end(&["check", "-c", config.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stdout).contains("API error code 4104"));
}

#[test]
fn every_http_and_signature_method_is_accepted() {
    for http in ["GET", "POST"] {
        for signature in ["HmacSHA1", "HmacSHA256"] {
            let sim = Sim::with_packages(&[(1000 * GB, 1)]);
            let extra = format!("http_method = \"{http}\"\nsignature_method = \"{signature}\"");
            let (code, out, err) = check(&sim, &extra, false);
            assert_eq!(code, 0, "{http} {signature}: {out}{err}");
            let state = sim.state();
            let request = &state.requests[0];
            assert_eq!(request.http_method, http);
            assert_eq!(request.answered, "0");
            let expected = (signature == "HmacSHA256").then(|| "HmacSHA256".to_string());
            assert_eq!(request.signature_method, expected, "{http} {signature}");
        }
    }
}

#[test]
fn json_output_carries_state_and_numbers() {
    let sim = Sim::with_packages(&[(1000 * GB, 860 * GB), (50 * GB, 0)]);
    let (code, out, _) = check(&sim, "", true);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).expect("valid JSON");
    assert_eq!(v["state"], "WARNING");
    assert_eq!(v["exit_code"], 1);
    let a = &v["accounts"][0];
    assert_eq!(a["account"], "main");
    // One pool per billing region; a v2 account has the mainland one.
    let pool = &a["assessment"]["pools"][0];
    assert_eq!(a["assessment"]["pools"].as_array().unwrap().len(), 1);
    assert_eq!(pool["pool"]["region"], "mainland");
    assert_eq!(pool["pool"]["resource"], "traffic");
    assert_eq!(pool["totals"]["remaining_bytes"], 190 * GB);
    assert_eq!(pool["totals"]["usable_packages"], 2);
    assert_eq!(pool["findings"][0]["rule"], "PoolLow");
    assert_eq!(pool["findings"][0]["pool"]["region"], "mainland");
    assert_eq!(pool["packages"].as_array().unwrap().len(), 2);
    assert_eq!(pool["packages"][0]["region"], "mainland");
}

#[test]
fn several_accounts_report_the_worst_state() {
    let ok = Sim::with_packages(&[(1000 * GB, 0)]);
    let exhausted = Sim::with_packages(&[(1000 * GB, 1000 * GB)]);
    let dir = tempfile::tempdir().unwrap();
    let body = format!(
        "{}{}",
        account_toml("ok", &ok.endpoint(), ""),
        account_toml("empty", &exhausted.endpoint(), "")
    );
    let config = write_config(dir.path(), &body);
    let out = run_to_end(&["check", "-c", config.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{stdout}");
    assert!(
        stdout.contains("ok: OK") && stdout.contains("empty: CRITICAL"),
        "{stdout}"
    );
    // The worst account leads the status line; both have perfdata.
    let status = stdout.lines().next().unwrap();
    assert!(
        status.starts_with(
            "CDNQUOTA CRITICAL - empty: 0 B left of 1.00 TB (0.0%), PoolExhausted, PoolLow; ok: 1.00 TB left"
        ),
        "{status}"
    );
    assert!(
        status.contains("'empty_remaining'=0B;") && status.contains("'ok_remaining'=1000000000000B;"),
        "{status}"
    );
}

#[test]
fn endpoint_failing_every_attempt_exits_3() {
    let sim = Sim::with_packages(&[(1000 * GB, 0)]);
    for _ in 0..3 {
        sim.sim.inject(cdnquota_sim::state::Fault::HttpStatus(502));
    }
    let dir = tempfile::tempdir().unwrap();
    let body = account_toml("main", &sim.endpoint(), "retry_backoff = \"50ms\"\nmax_attempts = 3");
    let config = write_config(dir.path(), &body);
    let output = run_to_end(&["check", "-c", config.to_str().unwrap()]);
    let (code, out, err) = (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    assert_eq!(code, Some(3), "{out}{err}");
    assert!(out.contains("HTTP status 502"), "{out}");
    assert_eq!(sim.state().count("GetPackage"), 3);
}

/// A TCP port that accepts connections and never answers, as a hung API or
/// a black-holing proxy does. The connections stay open for the test's life.
fn silent_endpoint() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    format!("http://{addr}/v2/index.php")
}

#[test]
fn timeout_ends_the_check_as_unknown_naming_the_silent_account() {
    let sim = Sim::with_packages(&[(1000 * GB, 100 * GB)]);
    let dir = tempfile::tempdir().unwrap();
    // Three attempts of 20 s: without --timeout this check would run past
    // the 60 s that run_to_end allows (and Nagios too).
    let body = format!(
        "{}{}",
        account_toml("silent", &silent_endpoint(), "timeout = \"20s\"\nmax_attempts = 3"),
        account_toml("fine", &sim.endpoint(), "")
    );
    let config = write_config(dir.path(), &body);
    let out = run_to_end(&["check", "-c", config.to_str().unwrap(), "--timeout", "2s"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{stdout}");
    let status = stdout.lines().next().unwrap();
    assert!(
        status.starts_with(
            "CDNQUOTA UNKNOWN - silent: timed out: no answer from GetPackage within --timeout 2s; fine: 900 GB left"
        ),
        "{status}"
    );
    // The account that answered is reported as usual.
    assert!(status.contains("'fine_remaining'=900000000000B"), "{status}");
    assert!(stdout.contains("fine: OK - 900 GB left"), "{stdout}");

    // With --json the same, as data.
    let out = run_to_end(&["check", "-c", config.to_str().unwrap(), "--timeout", "1s", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(v["accounts"][0]["state"], "UNKNOWN");
    assert!(
        v["accounts"][0]["error"]
            .as_str()
            .unwrap()
            .contains("within --timeout 1s"),
        "{v}"
    );

    let bad = run_to_end(&["check", "-c", config.to_str().unwrap(), "--timeout", "30"]);
    assert_eq!(bad.status.code(), Some(2), "clap refuses a bare number");
    assert!(String::from_utf8_lossy(&bad.stderr).contains("\"30s\""));
}

#[test]
fn an_unreadable_config_is_unknown_on_stdout_in_text_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "[thresholds]\nexpires_within = 7\n");
    let out = run_to_end(&["check", "-c", config.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{stdout}");
    assert!(
        stdout.starts_with(&format!(
            "CDNQUOTA UNKNOWN - invalid config: {}:3: thresholds.expires_within: 7 is a bare number",
            config.display()
        )),
        "{stdout}"
    );
    assert_eq!(stdout.lines().count(), 1, "{stdout}");

    let out = run_to_end(&["check", "-c", config.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(3));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("a JSON object on stdout");
    assert_eq!(v["state"], "UNKNOWN");
    assert_eq!(v["exit_code"], 3);
    assert!(v["error"].as_str().unwrap().contains("expires_within"), "{v}");

    let out = run_to_end(&["check", "-c", "/nonexistent/cdnquota.toml", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("a JSON object on stdout");
    assert!(
        v["error"].as_str().unwrap().contains("cannot read the config file"),
        "{v}"
    );
}

#[test]
fn with_the_daemons_history_the_check_forecasts_the_run_dry() {
    let sim = Sim::with_packages(&[(1000 * GB, 100 * GB)]);
    sim.state().drain_bytes_per_second = GB as f64;
    sim.state().settlement = cdnquota_sim::settle::Settlement::IMMEDIATE;
    let dir = tempfile::tempdir().unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let body = format!(
        "listen = \"{addr}\"\nschedule = \"* * * * * *\"\n{}",
        account_toml("main", &sim.endpoint(), "")
    );
    let config = write_config(dir.path(), &body);
    let args = ["check", "-c", config.to_str().unwrap()];
    let status = |out: &std::process::Output| {
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .unwrap_or_default()
            .to_string()
    };

    // No history yet: one poll gives no rate.
    let before = run_to_end(&args);
    assert!(!status(&before).contains("main_dry_in"), "{}", status(&before));

    // The daemon polls every second and keeps the history in state_dir.
    let mut daemon = Daemon::start(&config, &addr);
    let history = dir.path().join("state/history/main.json");
    assert!(
        wait_until(std::time::Duration::from_secs(20), || {
            metric(
                &daemon.metrics(),
                "cdnquota_pool_depletion_timestamp_seconds",
                "account=\"main\",region=\"mainland\"",
            )
            .is_some()
                && history.exists()
        }),
        "the daemon forecast nothing; log:\n{}",
        daemon.log()
    );
    daemon.terminate();

    // About 900 GB left at 1 GB/s: dry in about a quarter of an hour.
    let after = run_to_end(&args);
    let line = status(&after);
    let dry_in: i64 = line
        .split(' ')
        .find_map(|p| p.strip_prefix("'main_dry_in'="))
        .and_then(|v| v.split('s').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no run-dry countdown: {line}"));
    assert!((600..=1000).contains(&dry_in), "{line}");
    assert!(line.contains("DepletionForecast"), "{line}");
    assert_eq!(after.status.code(), Some(1), "{line}");
}
