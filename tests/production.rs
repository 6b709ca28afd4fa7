//! Running it in production: a real Prometheus scraping the daemon,
//! promtool on the metrics and rules, systemd-analyze on the unit, systemd
//! notifications, SIGHUP and SIGTERM, log formats.

mod common;

use common::*;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn daemon_with(sim: &Sim, dir: &Path, extra_top: &str) -> Daemon {
    let addr = format!("127.0.0.1:{}", free_port());
    let body = format!(
        "schedule = \"* * * * * *\"\nlisten = \"{addr}\"\n{extra_top}\n{}",
        account_toml("main", &sim.endpoint(), "")
    );
    Daemon::start(&write_config(dir, &body), &addr)
}

fn wait_success(d: &Daemon, account: &str) {
    let label = format!("account=\"{account}\"");
    assert!(
        wait_until(Duration::from_secs(10), || metric(
            &d.metrics(),
            "cdnquota_poll_success",
            &label
        ) == Some(1.0)),
        "{}",
        d.log()
    );
}

#[test]
fn promtool_finds_no_problem_in_the_metrics_and_the_rules_pass_their_tests() {
    if !have("promtool") {
        return;
    }
    let sim = Sim::with_packages(&[(1000 * GB, 100 * GB), (50 * GB, 0)]);
    let dir = tempfile::tempdir().unwrap();
    let d = daemon_with(&sim, dir.path(), "");
    wait_success(&d, "main");
    let mut check = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    check.stdin.take().unwrap().write_all(d.metrics().as_bytes()).unwrap();
    let out = check.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && report.trim().is_empty(),
        "promtool check metrics: {report}"
    );

    let deploy = Path::new(ROOT).join("deploy");
    let rules = Command::new("promtool")
        .args(["check", "rules", "cdnquota.rules.yml"])
        .current_dir(&deploy)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&rules.stdout);
    assert!(
        rules.status.success() && text.contains("SUCCESS: 11 rules found"),
        "{text}{}",
        String::from_utf8_lossy(&rules.stderr)
    );
    let tests = Command::new("promtool")
        .args(["test", "rules", "cdnquota.rules.test.yml"])
        .current_dir(&deploy)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&tests.stdout);
    assert!(
        tests.status.success() && text.contains("SUCCESS"),
        "{text}{}",
        String::from_utf8_lossy(&tests.stderr)
    );
    let groups = std::fs::read_to_string(deploy.join("cdnquota.rules.test.yml"))
        .unwrap()
        .matches("\n  - name:")
        .count();
    println!("promtool: 7 rules, {groups} rule test groups pass");
}

#[test]
fn a_real_prometheus_scrapes_the_daemon() {
    if !have("prometheus") {
        return;
    }
    // Two accounts: each family's samples come from both, in one block, and
    // Prometheus (which asks for gzip) reads the joined gzip body whole.
    let sim = Sim::with_packages(&[(1000 * GB, 123 * GB), (50 * GB, 5 * GB)]);
    let second = Sim::with_packages(&[(500 * GB, 7 * GB)]);
    let second_id = second.state().packages[0].id;
    let dir = tempfile::tempdir().unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let body = format!(
        "schedule = \"* * * * * *\"\nlisten = \"{addr}\"\n{}{}",
        account_toml("main", &sim.endpoint(), ""),
        account_toml("second", &second.endpoint(), "")
    );
    let d = Daemon::start(&write_config(dir.path(), &body), &addr);
    wait_success(&d, "main");
    wait_success(&d, "second");
    let prom_addr = format!("127.0.0.1:{}", free_port());
    std::fs::write(
        dir.path().join("prometheus.yml"),
        format!("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: cdnquota\n    static_configs:\n      - targets: [\"{}\"]\n", d.addr),
    )
    .unwrap();
    let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
    let mut prometheus = Command::new("prometheus")
        .arg(format!("--config.file={}", dir.path().join("prometheus.yml").display()))
        .arg(format!("--storage.tsdb.path={}", dir.path().join("tsdb").display()))
        .arg(format!("--web.listen-address={prom_addr}"))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let query = |q: &str| {
        let q = q.replace('{', "%7B").replace('}', "%7D").replace('"', "%22");
        http_get(&prom_addr, &format!("/api/v1/query?query={q}"))
            .map(|(_, body)| body)
            .unwrap_or_default()
    };
    let value = |body: &str| -> Option<f64> {
        let v: serde_json::Value = serde_json::from_str(body).ok()?;
        v["data"]["result"][0]["value"][1].as_str()?.parse().ok()
    };
    let up = wait_until(Duration::from_secs(30), || value(&query("up")) == Some(1.0));
    let remaining = value(&query("cdnquota_pool_remaining_bytes{account=\"main\"}"));
    let series = value(&query("count(cdnquota_package_used_bytes)"));
    let used = value(&query(&format!(
        "cdnquota_package_used_bytes{{account=\"second\",package_id=\"{second_id}\"}}"
    )));
    let scrape_samples = value(&query("scrape_samples_scraped"));
    let _ = prometheus.kill();
    let _ = prometheus.wait();
    assert!(
        up,
        "Prometheus never saw the daemon up: {}",
        std::fs::read_to_string(dir.path().join("prometheus.log")).unwrap_or_default()
    );
    assert_eq!(remaining, Some((1000 * GB - 123 * GB + 45 * GB) as f64));
    assert_eq!(series, Some(3.0));
    assert_eq!(used, Some((7 * GB) as f64));
    // Every sample of the text body reached Prometheus through gzip.
    let text = String::from_utf8_lossy(&request_body(&d.addr, "Accept-Encoding: identity")).into_owned();
    let samples = text.lines().filter(|l| !l.starts_with('#') && !l.is_empty()).count();
    assert!(
        scrape_samples.is_some_and(|n| (n - samples as f64).abs() <= 4.0),
        "Prometheus scraped {scrape_samples:?} samples, the body has {samples}"
    );
}

/// The body of GET /metrics sent with `header`.
fn request_body(addr: &str, header: &str) -> Vec<u8> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(stream, "GET /metrics HTTP/1.0\r\nHost: {addr}\r\n{header}\r\n\r\n").unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let at = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    raw[at + 4..].to_vec()
}

#[test]
fn the_unit_verifies_and_is_well_sandboxed() {
    if !have("systemd-analyze") {
        return;
    }
    let unit = Path::new(ROOT).join("systemd/cdnquota.service");
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=true"])
        .arg(&unit)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let score: f64 = text
        .lines()
        .find_map(|l| l.split("cdnquota.service: ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no exposure score in: {text}{}", String::from_utf8_lossy(&out.stderr)));
    println!("systemd-analyze security exposure: {score}");
    assert!(score <= 1.5, "exposure {score} > 1.5:\n{text}");

    // verify checks that ExecStart exists: point it at the built binary.
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(&unit)
        .unwrap()
        .replace("/usr/bin/cdnquota", env!("CARGO_BIN_EXE_cdnquota"));
    let copy = dir.path().join("cdnquota.service");
    std::fs::write(&copy, text).unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&copy)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "systemd-analyze verify: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).trim().is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn systemd_hears_ready_watchdog_and_stopping() {
    let sim = Sim::with_packages(&[(1000 * GB, 0)]);
    let dir = tempfile::tempdir().unwrap();
    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let body = format!(
        "schedule = \"0 0 0 1 1 *\"\nlisten = \"{addr}\"\n{}",
        account_toml("main", &sim.endpoint(), "")
    );
    let config = write_config(dir.path(), &body);
    let socket_env = socket_path.to_str().unwrap().to_string();
    let mut d = Daemon::start_with_env(
        &config,
        &addr,
        &[("NOTIFY_SOCKET", &socket_env), ("WATCHDOG_USEC", "400000")],
    );
    let mut messages = Vec::new();
    let mut buf = [0u8; 256];
    while messages.iter().filter(|m: &&String| m.as_str() == "WATCHDOG=1").count() < 3 {
        let n = socket.recv(&mut buf).expect("a notification within 10 s");
        messages.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    assert!(messages[0].starts_with("READY=1"), "{messages:?}");
    // Ready only after the first poll round.
    assert!(sim.state().count("GetPackage") >= 1);
    assert_eq!(d.terminate().code(), Some(0));
    let mut rest = Vec::new();
    while let Ok(n) = socket.recv(&mut buf) {
        rest.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        if rest.last().is_some_and(|m| m == "STOPPING=1") {
            break;
        }
    }
    assert_eq!(rest.last().map(String::as_str), Some("STOPPING=1"), "{rest:?}");
}

#[test]
fn sighup_applies_a_good_config_and_refuses_a_bad_one() {
    let first = Sim::with_packages(&[(1000 * GB, 0)]);
    let second = Sim::with_packages(&[(500 * GB, 0)]);
    let dir = tempfile::tempdir().unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let top = format!("schedule = \"* * * * * *\"\nlisten = \"{addr}\"\n");
    let config = write_config(
        dir.path(),
        &format!("{top}{}", account_toml("main", &first.endpoint(), "")),
    );
    let d = Daemon::start(&config, &addr);
    wait_success(&d, "main");
    let hup = || {
        assert!(
            Command::new("kill")
                .args(["-HUP", &d.child.id().to_string()])
                .status()
                .unwrap()
                .success()
        )
    };

    write_config(
        dir.path(),
        &format!(
            "{top}{}{}",
            account_toml("main", &first.endpoint(), ""),
            account_toml("second", &second.endpoint(), "")
        ),
    );
    hup();
    wait_success(&d, "second");
    assert_eq!(
        metric(
            &d.metrics(),
            "cdnquota_pool_remaining_bytes",
            "account=\"second\",region=\"mainland\""
        ),
        Some((500 * GB) as f64)
    );

    std::fs::write(&config, format!("{top}[thresholds]\nremaining_ratio_below = 2\n")).unwrap();
    hup();
    assert!(
        wait_until(Duration::from_secs(5), || d
            .log()
            .contains("SIGHUP: the new config is refused")),
        "{}",
        d.log()
    );
    assert!(d.log().contains("remaining_ratio_below"), "{}", d.log());
    // Still running the previous config, both accounts polled.
    let before = second.state().count("GetPackage");
    assert!(wait_until(Duration::from_secs(5), || second
        .state()
        .count("GetPackage")
        > before));
    assert_eq!(http_get(&d.addr, "/healthz").map(|r| r.0), Some(200));
}

#[test]
fn sigterm_exits_0_with_the_state_flushed() {
    let sim = Sim::with_packages(&[(1000 * GB, 990 * GB)]);
    let dir = tempfile::tempdir().unwrap();
    let mut d = daemon_with(&sim, dir.path(), "");
    // Two polls: PoolLow goes pending, then fires.
    assert!(
        wait_until(Duration::from_secs(10), || d.log().contains("alert firing")),
        "{}",
        d.log()
    );
    let started = std::time::Instant::now();
    assert_eq!(d.terminate().code(), Some(0));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("state/state.json")).unwrap()).unwrap();
    assert_eq!(
        state["alerts"]["alerts"]["main/PoolLow@mainland"]["phase"], "firing",
        "{state}"
    );
}

#[test]
fn logs_as_json_and_without_timestamps_under_journald() {
    let sim = Sim::with_packages(&[(1000 * GB, 0)]);
    let dir = tempfile::tempdir().unwrap();
    let d = daemon_with(&sim, dir.path(), "log_format = \"json\"");
    wait_success(&d, "main");
    let log = d.log();
    let line = log.lines().find(|l| l.contains("left of")).expect("a poll line");
    let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    assert_eq!(v["level"], "INFO");
    assert!(v["fields"]["message"].as_str().unwrap().contains("left of"), "{v}");
    drop(d);

    let dir = tempfile::tempdir().unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let body = format!(
        "schedule = \"* * * * * *\"\nlisten = \"{addr}\"\n{}",
        account_toml("main", &sim.endpoint(), "")
    );
    let d = Daemon::start_with_env(&write_config(dir.path(), &body), &addr, &[("JOURNAL_STREAM", "8:1234")]);
    wait_success(&d, "main");
    let log = d.log();
    let line = log.lines().find(|l| l.contains("left of")).expect("a poll line");
    assert!(
        line.starts_with(" INFO") || line.starts_with("INFO"),
        "a timestamp under journald: {line}"
    );
}

/// Metric names the daemon defines, read from its metrics sources.
fn defined_metrics() -> std::collections::BTreeSet<String> {
    let mut names = std::collections::BTreeSet::new();
    for entry in std::fs::read_dir(Path::new(ROOT).join("src/metrics")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        // Every metric is created from a literal name right after an opening
        // quote: "package_size_bytes", ... and "{}outbox_pending".
        for piece in text.split('"').skip(1).step_by(2) {
            let name = piece.trim_start_matches("{}");
            if !name.is_empty() && name.chars().all(|c| c.is_ascii_lowercase() || c == '_') && name.contains('_') {
                names.insert(format!("cdnquota_{name}"));
            }
        }
    }
    names
}

#[test]
fn the_dashboard_and_the_rules_use_only_metrics_that_exist() {
    let defined = defined_metrics();
    assert!(
        defined.contains("cdnquota_pool_remaining_bytes") && defined.contains("cdnquota_outbox_pending"),
        "{defined:?}"
    );
    for file in ["deploy/grafana-dashboard.json", "deploy/cdnquota.rules.yml"] {
        let text = std::fs::read_to_string(Path::new(ROOT).join(file)).unwrap();
        if file.ends_with(".json") {
            let v: serde_json::Value = serde_json::from_str(&text).expect("the dashboard is valid JSON");
            assert!(v["panels"].as_array().is_some_and(|p| p.len() >= 10));
        }
        let used: std::collections::BTreeSet<String> = text
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| w.starts_with("cdnquota_"))
            .map(str::to_string)
            .collect();
        let unknown: Vec<&String> = used.difference(&defined).collect();
        assert!(
            unknown.is_empty(),
            "{file} uses metrics the daemon does not export: {unknown:?}"
        );
    }
}

#[test]
fn sigterm_during_a_slow_first_poll_is_heard_at_once() {
    let sim = Sim::with_packages(&[(1000 * GB, 0)]);
    sim.sim
        .inject(cdnquota_sim::state::Fault::Delay(Duration::from_secs(20)));
    let dir = tempfile::tempdir().unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let body = format!(
        "listen = \"{addr}\"\n{}",
        account_toml("main", &sim.endpoint(), "timeout = \"30s\"")
    );
    let mut d = Daemon::start(&write_config(dir.path(), &body), &addr);
    assert!(wait_until(Duration::from_secs(5), || sim.state().arrived("GetPackage") == 1));
    let started = std::time::Instant::now();
    assert_eq!(d.terminate().code(), Some(0));
    // Polls in flight get at most the 5 s grace, not the request's 30 s.
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn the_reload_command_signals_the_daemon_and_nothing_else() {
    let first = Sim::with_packages(&[(1000 * GB, 0)]);
    let second = Sim::with_packages(&[(500 * GB, 0)]);
    let dir = tempfile::tempdir().unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let top = format!("schedule = \"* * * * * *\"\nlisten = \"{addr}\"\n");
    let config = write_config(
        dir.path(),
        &format!("{top}{}", account_toml("main", &first.endpoint(), "")),
    );
    let d = Daemon::start(&config, &addr);
    wait_success(&d, "main");
    write_config(
        dir.path(),
        &format!(
            "{top}{}{}",
            account_toml("main", &first.endpoint(), ""),
            account_toml("second", &second.endpoint(), "")
        ),
    );
    let out = run_to_end(&["reload", "--pid", &d.child.id().to_string()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    wait_success(&d, "second");

    // A PID that is not a cdnquota is left alone: SIGHUP would end it.
    let mut other = Command::new("sleep").arg("30").spawn().unwrap();
    let out = run_to_end(&["reload", "--pid", &other.id().to_string()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is `sleep`, not cdnquota; nothing sent"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(other.try_wait().unwrap().is_none(), "the other program was signalled");
    let _ = other.kill();
    let _ = other.wait();
    for pid in ["0", "1"] {
        assert_ne!(
            run_to_end(&["reload", "--pid", pid]).status.code(),
            Some(0),
            "pid {pid}"
        );
    }
}
