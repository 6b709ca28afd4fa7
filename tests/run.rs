//! `cdnquota run` against the simulator, scraped over HTTP.

mod common;

use cdnquota_sim::state::Fault;
use common::*;
use std::time::Duration;

const EVERY_SECOND: &str = "schedule = \"* * * * * *\"\n";

fn start(sim: &Sim, extra: &str) -> (tempfile::TempDir, Daemon) {
    let dir = tempfile::tempdir().unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let body = format!(
        "{EVERY_SECOND}listen = \"{addr}\"\n{}",
        account_toml("main", &sim.endpoint(), extra)
    );
    let config = write_config(dir.path(), &body);
    let daemon = Daemon::start(&config, &addr);
    (dir, daemon)
}

fn label(id: &str, title: &str) -> String {
    format!("account=\"main\",package_id=\"{id}\",region=\"mainland\",title=\"{title}\"")
}

fn wait_for_success(d: &Daemon) {
    assert!(
        wait_until(Duration::from_secs(10), || metric(
            &d.metrics(),
            "cdnquota_poll_success",
            "account=\"main\""
        ) == Some(1.0)),
        "no successful poll; log:\n{}",
        d.log()
    );
}

#[test]
fn gauges_match_the_scenario() {
    let sim = Sim::with_packages(&[(1000 * GB, 123_456_789_012), (50 * GB, 0)]);
    sim.state().packages[1].enabled = false;
    let packages = sim.state().packages.clone();
    let (_dir, d) = start(&sim, "");
    wait_for_success(&d);
    let m = d.metrics();
    for p in &packages {
        let l = label(&p.id.to_string(), &p.title);
        assert_eq!(
            metric(&m, "cdnquota_package_size_bytes", &l),
            Some(p.size_bytes as f64),
            "{m}"
        );
        assert_eq!(metric(&m, "cdnquota_package_used_bytes", &l), Some(p.used_bytes));
        assert_eq!(
            metric(&m, "cdnquota_package_remaining_bytes", &l),
            Some(p.size_bytes as f64 - p.used_bytes)
        );
        assert_eq!(
            metric(&m, "cdnquota_package_expiry_timestamp_seconds", &l),
            Some(p.expires_at.timestamp() as f64)
        );
        assert_eq!(
            metric(&m, "cdnquota_package_enable_timestamp_seconds", &l),
            Some(p.enabled_at.timestamp() as f64)
        );
        assert_eq!(
            metric(&m, "cdnquota_package_usable", &l),
            Some(if p.enabled { 1.0 } else { 0.0 })
        );
    }
    // Only the enabled package counts toward the pool.
    assert_eq!(
        metric(
            &m,
            "cdnquota_pool_remaining_bytes",
            "account=\"main\",region=\"mainland\""
        ),
        Some((1000 * GB - 123_456_789_012) as f64)
    );
    assert_eq!(
        metric(&m, "cdnquota_pool_size_bytes", "account=\"main\",region=\"mainland\""),
        Some((1000 * GB) as f64)
    );
    // The commit the tests were built from, as git says it now (a tree
    // built outside git, or with CDNQUOTA_REVISION set, says otherwise).
    let revision = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success() && std::env::var_os("CDNQUOTA_REVISION").is_none())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    let build = m
        .lines()
        .find(|l| l.starts_with("cdnquota_build_info{"))
        .unwrap_or_default();
    assert!(
        build.contains(&format!("version=\"{}\"", env!("CARGO_PKG_VERSION"))) && build.ends_with("} 1"),
        "{build}"
    );
    match revision {
        Some(r) => assert!(build.contains(&format!("revision=\"{r}\"")), "{build}: HEAD is {r}"),
        None => assert!(!build.contains("revision=\"\""), "{build}"),
    }
    let rustc = build
        .split("rustc=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or_default();
    assert!(
        rustc.split('.').count() == 3
            && rustc
                .split('.')
                .all(|n| n.chars().next().is_some_and(|c| c.is_ascii_digit())),
        "{build}"
    );
    assert!(
        metric(
            &m,
            "cdnquota_api_requests_total",
            "account=\"main\",action=\"GetPackage\",outcome=\"success\""
        )
        .unwrap()
            >= 1.0
    );
    assert!(m.contains("# HELP cdnquota_package_remaining_bytes") && m.contains("as of the last successful poll"));
    assert_eq!(http_get(&d.addr, "/readyz").map(|r| r.0), Some(200));
    let (status, page) = http_get(&d.addr, "/").unwrap();
    assert_eq!(status, 200);
    assert!(
        page.contains("id=\"account-main\"") && page.contains("877 GB"),
        "{page}"
    );
}

#[test]
fn a_failed_poll_keeps_the_values_and_flips_poll_success() {
    let sim = Sim::with_packages(&[(1000 * GB, 400 * GB)]);
    let (_dir, d) = start(&sim, "");
    wait_for_success(&d);
    let remaining = |m: &str| {
        metric(
            m,
            "cdnquota_pool_remaining_bytes",
            "account=\"main\",region=\"mainland\"",
        )
    };
    assert_eq!(remaining(&d.metrics()), Some((600 * GB) as f64));
    // Change the truth, then fail every poll: the old value must stand.
    {
        let mut s = sim.state();
        s.packages[0].used_bytes = (999 * GB) as f64;
        for fault in [
            Fault::HttpStatus(500),
            Fault::ApiCode(6000),
            Fault::TruncatedJson,
            Fault::HttpStatus(503),
        ] {
            s.faults.push_back(fault);
        }
    }
    let mut failed = String::new();
    assert!(
        wait_until(Duration::from_secs(10), || {
            failed = d.metrics();
            metric(&failed, "cdnquota_poll_success", "account=\"main\"") == Some(0.0)
        }),
        "poll_success never went to 0"
    );
    assert_eq!(
        remaining(&failed),
        Some((600 * GB) as f64),
        "a failed poll changed the values:\n{failed}"
    );
    let last_poll = metric(&failed, "cdnquota_last_poll_timestamp_seconds", "account=\"main\"").unwrap();
    let last_success = metric(&failed, "cdnquota_last_success_timestamp_seconds", "account=\"main\"").unwrap();
    assert!(last_success < last_poll, "{last_success} !< {last_poll}");
    // Once the faults are used up the next poll brings the new truth.
    assert!(
        wait_until(Duration::from_secs(15), || remaining(&d.metrics()) == Some((GB) as f64)),
        "{}",
        d.log()
    );
    assert_eq!(
        metric(&d.metrics(), "cdnquota_poll_success", "account=\"main\""),
        Some(1.0)
    );
    let log = d.log();
    assert!(log.contains("GetPackage failed: HTTP status 500"), "{log}");
    assert!(log.contains("API error code 6000"), "{log}");
    assert!(log.contains("malformed response"), "{log}");
}

#[test]
fn a_vanished_package_loses_its_series() {
    let sim = Sim::with_packages(&[(1000 * GB, 0), (500 * GB, 0)]);
    let gone = sim.state().packages[1].id.to_string();
    let (_dir, d) = start(&sim, "");
    wait_for_success(&d);
    assert!(d.metrics().contains(&format!("package_id=\"{gone}\"")));
    sim.state().packages.remove(1);
    assert!(
        wait_until(Duration::from_secs(10), || {
            let m = d.metrics();
            !m.contains(&format!("package_id=\"{gone}\"")) && m.contains("cdnquota_package_size_bytes{")
        }),
        "the vanished package's series stayed:\n{}",
        d.metrics()
    );
    assert_eq!(
        metric(
            &d.metrics(),
            "cdnquota_pool_remaining_bytes",
            "account=\"main\",region=\"mainland\""
        ),
        Some((1000 * GB) as f64)
    );
}

#[test]
fn not_ready_and_no_pool_values_until_a_poll_succeeds() {
    let sim = Sim::with_packages(&[(1000 * GB, 0)]);
    sim.state().credentials.clear();
    let (_dir, d) = start(&sim, "");
    assert!(wait_until(Duration::from_secs(10), || metric(
        &d.metrics(),
        "cdnquota_poll_success",
        "account=\"main\""
    ) == Some(0.0)));
    let (status, body) = http_get(&d.addr, "/readyz").unwrap();
    assert_eq!(status, 503);
    assert!(body.contains("main"), "{body}");
    // Missing data is never shown as "0 bytes left".
    let m = d.metrics();
    assert_eq!(
        metric(
            &m,
            "cdnquota_pool_remaining_bytes",
            "account=\"main\",region=\"mainland\""
        ),
        None,
        "{m}"
    );
    assert!(d.log().contains("API error code 4104"), "{}", d.log());
}

#[test]
fn sigterm_stops_with_exit_0() {
    let sim = Sim::with_packages(&[(1000 * GB, 0)]);
    let (_dir, mut d) = start(&sim, "");
    wait_for_success(&d);
    let status = d.terminate();
    assert_eq!(status.code(), Some(0), "{}", d.log());
    assert!(d.log().contains("stopped"));
}

#[test]
fn a_slow_poll_is_never_overlapped() {
    let sim = Sim::with_packages(&[(1000 * GB, 0)]);
    let (_dir, d) = start(&sim, "timeout = \"5s\"");
    wait_for_success(&d);
    let before = sim.state().count("GetPackage");
    sim.sim.inject(Fault::Delay(Duration::from_millis(3500)));
    assert!(
        wait_until(Duration::from_secs(8), || d
            .log()
            .contains("previous poll still running")),
        "{}",
        d.log()
    );
    // While one request was held for 3.5 s, no second one was sent.
    std::thread::sleep(Duration::from_millis(500));
    let during = sim.state().count("GetPackage") - before;
    assert!(during <= 3, "{during} requests while a poll was held");
}

#[test]
fn burn_rate_and_forecast_from_a_draining_pool() {
    let sim = Sim::with_packages(&[(1000 * GB, 0)]);
    sim.state().drain_bytes_per_second = GB as f64;
    sim.state().settlement = cdnquota_sim::settle::Settlement::IMMEDIATE;
    let (_dir, d) = start(&sim, "");
    let rate = |m: &str| {
        metric(
            m,
            "cdnquota_pool_consumption_bytes_per_second",
            "account=\"main\",region=\"mainland\"",
        )
    };
    assert!(wait_until(Duration::from_secs(15), || {
        let m = d.metrics();
        metric(
            &m,
            "cdnquota_api_requests_total",
            "account=\"main\",action=\"GetPackage\",outcome=\"success\"",
        )
        .unwrap_or(0.0)
            >= 4.0
            && rate(&m).is_some()
    }));
    let m = d.metrics();
    let r = rate(&m).unwrap();
    assert!((r / GB as f64 - 1.0).abs() < 0.05, "rate {r}");
    let dry = metric(
        &m,
        "cdnquota_pool_depletion_timestamp_seconds",
        "account=\"main\",region=\"mainland\"",
    )
    .unwrap();
    let left = metric(
        &m,
        "cdnquota_pool_remaining_bytes",
        "account=\"main\",region=\"mainland\"",
    )
    .unwrap();
    let polled = metric(&m, "cdnquota_last_success_timestamp_seconds", "account=\"main\"").unwrap();
    let expected = polled + left / r;
    assert!((dry - expected).abs() < 3.0, "depletion {dry} vs {expected}");
    assert!(d.log().contains("DepletionForecast"), "{}", d.log());
}

/// The binary as on a system without CA certificates: rustls-native-certs
/// reads `SSL_CERT_FILE` instead of the system's store when it is set, and
/// an empty file holds none.
fn without_ca_certificates(args: &[&str]) -> std::process::Output {
    let mut cmd = cdnquota(args);
    cmd.env("SSL_CERT_FILE", "/dev/null").env_remove("SSL_CERT_DIR");
    run_command_to_end(cmd, args)
}

#[test]
fn without_ca_certificates_https_fails_at_start_in_one_line_and_loopback_http_works() {
    let sim = Sim::with_packages(&[(1000 * GB, 0)]);
    let dir = tempfile::tempdir().unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let https = write_config(
        dir.path(),
        &format!(
            "listen = \"{addr}\"\n{}",
            account_toml("main", "https://127.0.0.1:9/v2/index.php", "")
        ),
    );
    let out = without_ca_certificates(&["run", "-c", https.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("cdnquota: ")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(
        errors[0].contains("the system's CA certificates are missing")
            && errors[0].contains("install the ca-certificates package")
            && errors[0].contains("an http:// endpoint on loopback needs none"),
        "{stderr}"
    );
    assert!(!stderr.contains("builder error"), "{stderr}");

    let http = write_config(
        dir.path(),
        &format!("listen = \"{addr}\"\n{}", account_toml("main", &sim.endpoint(), "")),
    );
    let out = without_ca_certificates(&["check", "-c", http.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // A mail relay over TLS needs them too, unless ca_file names its CA.
    let mail = write_config(
        dir.path(),
        &format!(
            "listen = \"{addr}\"\n{}\n{}",
            account_toml("main", &sim.endpoint(), ""),
            email_toml(2525, "").replace("tls = \"none\"", "tls = \"starttls\"")
        ),
    );
    let out = without_ca_certificates(&["run", "-c", mail.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("cannot set up TLS for 127.0.0.1: the system's CA certificates are missing")
            && stderr.contains("or name the relay's CA with ca_file"),
        "{stderr}"
    );
}
