//! The defects a fault-injection campaign found, one test each: the daemon
//! must never spend money on a glitch and never go silent. Each test runs the
//! real binary against the simulator over HTTP, and against a real or a
//! deliberately misbehaving SMTP server on loopback.

mod common;

use cdnquota_sim::state::{Fault, SimPackage};
use common::bad_smtp::{BadSmtp, Misbehaviour};
use common::*;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A config polling every second with the given extra top-level lines and
/// account lines.
fn config(dir: &Path, sim: &Sim, addr: &str, top: &str, account: &str) -> std::path::PathBuf {
    let body = format!(
        "schedule = \"* * * * * *\"\nlisten = \"{addr}\"\n{top}\n{}",
        account_toml("main", &sim.endpoint(), account)
    );
    write_config(dir, &body)
}

fn arrivals(sim: &Sim, action: &str) -> usize {
    sim.state().arrivals.iter().filter(|a| *a == action).count()
}

// 1. A stalled SMTP relay silently stopped all alert mail until restart.

#[test]
fn a_stalled_relay_is_a_counted_failure_retried_until_mail_gets_through() {
    for how in [Misbehaviour::Silent, Misbehaviour::StallAfterData] {
        let dir = tempfile::tempdir().unwrap();
        let bad = BadSmtp::start(how);
        let sim = Sim::with_packages(&[(1000 * GB, 990 * GB)]);
        let a = loopback_addr();
        let email = email_toml(bad.port, "").replace("timeout = \"3s\"", "timeout = \"1s\"");
        let cfg = config(dir.path(), &sim, &a, &email, "");
        let d = Daemon::start(&cfg, &a);
        // Each stalled delivery ends at the timeout, counts as failed, and is
        // retried with backoff on a new connection.
        d.wait_for("two failed deliveries", Duration::from_secs(20), || {
            metric(&d.metrics(), "cdnquota_notifications_total", "outcome=\"failed\"").unwrap_or(0.0) >= 2.0
        });
        assert!(bad.connections() >= 2, "{how:?}: {} connection(s)", bad.connections());
        assert!(d.log().contains("the mail server stalled"), "{how:?}: {}", d.log());
        let m = d.metrics();
        assert_eq!(metric(&m, "cdnquota_outbox_pending", ""), Some(1.0), "{m}");
        assert!(metric(&m, "cdnquota_outbox_oldest_timestamp_seconds", "").unwrap_or(0.0) > 1.0e9);
        let (_, page) = http_get(&a, "/").expect("status page");
        assert!(page.contains("last delivery failure"), "{page}");
        // A working relay on the same port gets the mail on the next retry.
        let port = bad.port;
        drop(bad);
        if smtp_server_available() {
            let smtp = SmtpServer::start(dir.path(), port, None);
            d.wait_for("the mail", Duration::from_secs(20), || smtp.mails().len() == 1);
            d.wait_for("an empty outbox", Duration::from_secs(5), || {
                metric(&d.metrics(), "cdnquota_outbox_pending", "") == Some(0.0)
            });
        }
    }
}

#[test]
fn email_test_gives_up_on_a_stalled_relay_at_the_timeout() {
    for how in [Misbehaviour::Silent, Misbehaviour::StallAfterData] {
        let dir = tempfile::tempdir().unwrap();
        let bad = BadSmtp::start(how);
        let sim = Sim::with_packages(&[(1000 * GB, 0)]);
        let email = email_toml(bad.port, "").replace("timeout = \"3s\"", "timeout = \"2s\"");
        let cfg = config(dir.path(), &sim, &loopback_addr(), &email, "");
        let started = Instant::now();
        let out = run_to_end(&["email-test", "-c", cfg.to_str().unwrap()]);
        let took = started.elapsed();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{how:?}: {stderr}");
        assert!(stderr.contains("did not finish within timeout = 2s"), "{stderr}");
        assert!(took < Duration::from_secs(20), "{how:?}: took {took:?}");
    }
}

// 12. email-test echoed the relay's reply verbatim, credentials included.

#[test]
fn email_test_never_shows_the_credentials_a_relay_echoes() {
    let dir = tempfile::tempdir().unwrap();
    let bad = BadSmtp::start(Misbehaviour::EchoAuth);
    let sim = Sim::with_packages(&[(1000 * GB, 0)]);
    let password = "s3cret-Pa55word";
    let email = email_toml(bad.port, &format!("username = \"alerts\"\npassword = \"{password}\""));
    let cfg = config(dir.path(), &sim, &loopback_addr(), &email, "");
    let out = run_to_end(&["email-test", "-c", cfg.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("535") && stderr.contains("[redacted]"), "{stderr}");
    use base64::Engine;
    let plain = base64::engine::general_purpose::STANDARD.encode(format!("\0alerts\0{password}"));
    for secret in [
        password.to_string(),
        plain.clone(),
        plain.trim_end_matches('=').to_string(),
    ] {
        assert!(!stderr.contains(&secret), "{secret} leaked: {stderr}");
    }
}

// 2. One empty package list from a single poll placed a live order.

#[test]
fn one_empty_package_list_orders_nothing_a_confirmed_shortfall_orders_once() {
    let dir = tempfile::tempdir().unwrap();
    let sim = Sim::with_packages(&[(1000 * GB, 400 * GB)]);
    let a = loopback_addr();
    let order = "[accounts.order]\nmode = \"live\"\nunit_gb = 100\nwhen_remaining_below = \"100GB\"\nwhen_depletion_within = \"0s\"\nmax_orders_per_30d = 5";
    let body = format!(
        "schedule = \"* * * * * *\"\nlisten = \"{a}\"\n{}{order}\n",
        account_toml("main", &sim.endpoint(), "")
    );
    let d = Daemon::start(&write_config(dir.path(), &body), &a);
    d.wait_for("a first poll", Duration::from_secs(10), || {
        metric(&d.metrics(), "cdnquota_poll_success", "account=\"main\"") == Some(1.0)
    });
    let before = arrivals(&sim, "GetPackage");
    sim.sim.inject(Fault::EmptyPackageList);
    // Four more polls: the empty one and three good ones after it.
    d.wait_for("four more polls", Duration::from_secs(15), || {
        arrivals(&sim, "GetPackage") >= before + 4
    });
    assert_eq!(
        arrivals(&sim, "OrderPackage"),
        0,
        "ordered on a glitch; log:\n{}",
        d.log()
    );
    assert!(d.log().contains("listed no packages"), "{}", d.log());
    let m = d.metrics();
    assert_eq!(
        metric(
            &m,
            "cdnquota_pool_remaining_bytes",
            "account=\"main\",region=\"mainland\""
        ),
        Some(600.0 * GB as f64)
    );
    assert_eq!(
        metric(
            &m,
            "cdnquota_alert_firing",
            "account=\"main\",alert=\"PoolExhausted\",region=\"mainland\""
        ),
        None,
        "{m}"
    );

    // A real shortfall, seen by two polls, still orders, exactly once.
    sim.state().packages[0].used_bytes = 950.0 * GB as f64;
    d.wait_for("an order", Duration::from_secs(15), || {
        arrivals(&sim, "OrderPackage") == 1
    });
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(arrivals(&sim, "OrderPackage"), 1);
}

#[test]
fn one_poll_reading_no_usage_orders_nothing() {
    // 600 GB left, draining slowly: no reason to order. One poll reads every
    // package's usage as 0; counted as traffic at the next poll, it would
    // make a huge burn rate and a forecast shortfall.
    let dir = tempfile::tempdir().unwrap();
    let sim = Sim::with_packages(&[(1000 * GB, 400 * GB)]);
    sim.state().drain_bytes_per_second = 1_000_000.0;
    let a = loopback_addr();
    let order = "[accounts.order]\nmode = \"live\"\nunit_gb = 100\nwhen_remaining_below = \"0\"\nwhen_depletion_within = \"2d\"\nmax_orders_per_30d = 5";
    let body = format!(
        "schedule = \"* * * * * *\"\nlisten = \"{a}\"\n{}{order}\n",
        account_toml("main", &sim.endpoint(), "")
    );
    let d = Daemon::start(&write_config(dir.path(), &body), &a);
    d.wait_for("a rate", Duration::from_secs(10), || {
        metric(
            &d.metrics(),
            "cdnquota_pool_consumption_bytes_per_second",
            "account=\"main\",region=\"mainland\"",
        )
        .is_some()
    });
    sim.sim.inject(Fault::UsageReadsZero);
    let before = arrivals(&sim, "GetPackage");
    d.wait_for("five more polls", Duration::from_secs(15), || {
        arrivals(&sim, "GetPackage") >= before + 5
    });
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        arrivals(&sim, "OrderPackage"),
        0,
        "ordered on a glitch; log:\n{}",
        d.log()
    );
    let rate = metric(
        &d.metrics(),
        "cdnquota_pool_consumption_bytes_per_second",
        "account=\"main\",region=\"mainland\"",
    )
    .unwrap();
    assert!(rate < 1.0e7, "the glitch counted as traffic: {rate} B/s");
    assert_eq!(
        metric(
            &d.metrics(),
            "cdnquota_alert_firing",
            "account=\"main\",alert=\"DepletionForecast\",region=\"mainland\""
        ),
        None
    );
}

// 3. A ledger out of reach read as "an order was interrupted".

#[test]
fn a_ledger_out_of_reach_never_claims_an_interrupted_order() {
    for (mode, expect) in [("off", None), ("dry-run", Some("OrderLedgerUnavailable"))] {
        let dir = tempfile::tempdir().unwrap();
        let sim = Sim::with_packages(&[(1000 * GB, 950 * GB)]);
        // A directory where the lock file goes: it cannot be opened.
        std::fs::create_dir_all(dir.path().join("state/orders.lock/x")).unwrap();
        let a = loopback_addr();
        let body = format!(
            "schedule = \"* * * * * *\"\nlisten = \"{a}\"\n{}[accounts.order]\nmode = \"{mode}\"\n",
            account_toml("main", &sim.endpoint(), "")
        );
        let d = Daemon::start(&write_config(dir.path(), &body), &a);
        let before = arrivals(&sim, "GetPackage");
        d.wait_for("three polls", Duration::from_secs(10), || {
            arrivals(&sim, "GetPackage") >= before + 3
        });
        std::thread::sleep(Duration::from_millis(300));
        let m = d.metrics();
        let firing = |alert: &str| {
            metric(
                &m,
                "cdnquota_alert_firing",
                &format!("account=\"main\",alert=\"{alert}\",region=\"\""),
            )
        };
        assert_eq!(firing("OrderOutcomeUnknown"), None, "{mode}: {m}");
        assert!(!d.log().contains("interrupted"), "{mode}: {}", d.log());
        match expect {
            Some(alert) => {
                assert_eq!(firing(alert), Some(1.0), "{mode}: {m}");
                assert!(d.log().contains("out of reach"), "{}", d.log());
            }
            None => assert_eq!(firing("OrderLedgerUnavailable"), None, "{mode}: {m}"),
        }
    }
}

// 4. SIGHUP during a mail delivery sent the mail twice.

#[test]
fn a_reload_during_a_delivery_sends_the_mail_once() {
    let dir = tempfile::tempdir().unwrap();
    let slow = BadSmtp::start(Misbehaviour::SlowAfterData(Duration::from_secs(5)));
    let sim = Sim::with_packages(&[(1000 * GB, 990 * GB)]);
    let a = loopback_addr();
    let email = email_toml(slow.port, "").replace("timeout = \"3s\"", "timeout = \"15s\"");
    let cfg = config(dir.path(), &sim, &a, &email, "");
    let d = Daemon::start(&cfg, &a);
    // The first alert mail is on its way once the relay has a connection.
    d.wait_for("a delivery under way", Duration::from_secs(15), || {
        slow.connections() >= 1
    });
    std::thread::sleep(Duration::from_millis(500));
    d.sighup();
    d.wait_for("the reload", Duration::from_secs(30), || d.log().contains("reloading"));
    d.wait_for("the delivery", Duration::from_secs(30), || !slow.delivered().is_empty());
    d.wait_for("the reloaded daemon serving", Duration::from_secs(30), || {
        metric(&d.metrics(), "cdnquota_poll_success", "account=\"main\"") == Some(1.0)
    });
    std::thread::sleep(Duration::from_secs(8));
    let delivered = slow.delivered();
    assert_eq!(delivered.len(), 1, "{delivered:?}; log:\n{}", d.log());
}

// 5. Nothing stopped two daemons sharing one state_dir.

#[test]
fn a_second_daemon_on_the_same_state_dir_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let sim = Sim::with_packages(&[(1000 * GB, 0)]);
    let a = loopback_addr();
    let first = Daemon::start(&config(dir.path(), &sim, &a, "", ""), &a);
    let other = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let b = loopback_addr();
    let second = config(
        other.path(),
        &sim,
        &b,
        &format!("state_dir = \"{}\"", state.display()),
        "",
    );
    let out = run_to_end(&["run", "-c", second.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("another cdnquota daemon is using this state_dir"),
        "{stderr}"
    );
    assert!(http_get(&first.addr, "/healthz").is_some());
}

// 6. Each SIGHUP leaked memory and API sockets.

fn proc_status(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

#[test]
fn reloads_cost_nothing_lasting() {
    let dir = tempfile::tempdir().unwrap();
    let sim = Sim::with_packages(&[(1000 * GB, 100 * GB)]);
    let a = loopback_addr();
    let cfg = config(dir.path(), &sim, &a, "", "");
    let d = Daemon::start(&cfg, &a);
    let pid = d.child.id();
    // Scrapers holding keep-alive connections open, as Prometheus does:
    // one opened before each reload, never closed by the client.
    let mut scrapers = Vec::new();
    let mut reload = |n: usize| {
        for _ in 0..n {
            let mut scraper = std::net::TcpStream::connect(&a).unwrap();
            let request = format!("GET /metrics HTTP/1.1\r\nHost: {a}\r\n\r\n");
            std::io::Write::write_all(&mut scraper, request.as_bytes()).unwrap();
            scrapers.push(scraper);
            let started = d.log().matches("serving /metrics").count();
            d.sighup();
            d.wait_for("a reload", Duration::from_secs(15), || {
                d.log().matches("serving /metrics").count() > started
            });
        }
    };
    reload(10);
    std::thread::sleep(Duration::from_secs(1));
    let (rss_before, fds_before) = (proc_status(pid, "VmRSS:"), open_fds(pid));
    reload(60);
    std::thread::sleep(Duration::from_secs(1));
    let (rss_after, fds_after) = (proc_status(pid, "VmRSS:"), open_fds(pid));
    eprintln!("after 10 reloads: {rss_before} KiB, {fds_before} fds; after 70: {rss_after} KiB, {fds_after} fds");
    assert!(fds_after <= fds_before + 2, "fds grew from {fds_before} to {fds_after}");
    // 60 reloads at the old 370 KB each would be 22 MB.
    assert!(
        rss_after < rss_before + 4 * 1024,
        "RSS grew from {rss_before} KiB to {rss_after} KiB over 60 reloads"
    );
}

// 7. Values that broke the daemon were accepted; polling could go silent.

#[test]
fn values_that_break_the_daemon_are_refused_with_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let sim = Sim::with_packages(&[(1000 * GB, 0)]);
    for (top, account, expect) in [
        ("", "timeout = \"0s\"", "accounts[0].timeout: 0 is not allowed"),
        (
            "",
            "retry_backoff = \"0s\"",
            "accounts[0].retry_backoff: 0 is not allowed",
        ),
        (
            "[alerts]\nrepeat_interval = \"0s\"",
            "",
            "alerts.repeat_interval: 0 is not allowed",
        ),
        ("state_dir = \"\"", "", "state_dir: an empty path"),
    ] {
        let cfg = config(dir.path(), &sim, &loopback_addr(), top, account);
        let out = run_to_end(&["config", "-c", cfg.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(expect), "{expect}: {stderr}");
    }
    let never = config(dir.path(), &sim, &loopback_addr(), "", "")
        .to_str()
        .unwrap()
        .to_string();
    let text = std::fs::read_to_string(&never)
        .unwrap()
        .replace("* * * * * *", "0 0 0 30 2 *");
    std::fs::write(&never, text).unwrap();
    let out = run_to_end(&["config", "-c", &never]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("schedule: `0 0 0 30 2 *` never fires"), "{stderr}");
}

#[test]
fn polling_that_stops_fires_poll_failing_whatever_the_schedule() {
    let dir = tempfile::tempdir().unwrap();
    let smtp = smtp_server_available().then(|| SmtpServer::start(dir.path(), free_port(), None));
    let sim = Sim::with_packages(&[(1000 * GB, 0)]);
    // The first poll hangs for a minute: no poll finishes, none fails.
    sim.sim
        .inject(Fault::HoldAction("GetPackage".into(), Duration::from_secs(60)));
    let a = loopback_addr();
    let mut top = "[alerts]\npoll_failure_after = \"2s\"\n".to_string();
    if let Some(s) = &smtp {
        top.push_str(&email_toml(s.port, ""));
    }
    let cfg = config(dir.path(), &sim, &a, &top, "timeout = \"60s\"");
    let d = Daemon::start(&cfg, &a);
    d.wait_for("PollFailing", Duration::from_secs(15), || {
        metric(
            &d.metrics(),
            "cdnquota_alert_firing",
            "account=\"main\",alert=\"PollFailing\",region=\"\"",
        ) == Some(1.0)
    });
    assert!(d.log().contains("no poll has finished"), "{}", d.log());
    if let Some(s) = &smtp {
        d.wait_for("the PollFailing mail", Duration::from_secs(10), || {
            s.subjects()
                .iter()
                .any(|m| m.contains("cannot read the CDN traffic packages"))
        });
    }
}

// 8. Crash loop at start when state.json is a directory, or is corrupt in a
// read-only state_dir.

#[test]
fn a_state_json_directory_is_moved_aside_and_the_daemon_watches() {
    let dir = tempfile::tempdir().unwrap();
    let sim = Sim::with_packages(&[(1000 * GB, 100 * GB)]);
    std::fs::create_dir_all(dir.path().join("state/state.json/inside")).unwrap();
    let a = loopback_addr();
    let d = Daemon::start(&config(dir.path(), &sim, &a, "", ""), &a);
    d.wait_for("a poll", Duration::from_secs(10), || {
        metric(
            &d.metrics(),
            "cdnquota_pool_remaining_bytes",
            "account=\"main\",region=\"mainland\"",
        ) == Some(900.0 * GB as f64)
    });
    assert_eq!(metric(&d.metrics(), "cdnquota_state_save_success", ""), Some(1.0));
    assert!(d.log().contains("moved it to"), "{}", d.log());
}

/// Whether this process may make a read-only bind mount in a private mount
/// namespace. CI runs as root, where it must work.
fn can_mount_read_only() -> bool {
    let mut check = Command::new("unshare");
    check.args(["-m", "sh", "-c", "mount --bind -o ro / / 2>/dev/null"]);
    available(
        check,
        "a read-only bind mount in a private mount namespace failed: run as root (unshare -m)",
    )
}

#[test]
fn a_corrupt_state_in_a_read_only_state_dir_runs_from_memory_and_says_so() {
    if !can_mount_read_only() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let sim = Sim::with_packages(&[(1000 * GB, 950 * GB)]);
    let state = dir.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    std::fs::write(state.join("state.json"), b"{\"alerts\": [trunc").unwrap();
    let a = loopback_addr();
    let cfg = config(dir.path(), &sim, &a, "", "");
    let log = dir.path().join("ro.log");
    let script = format!(
        "mount --bind -o ro '{s}' '{s}' && exec '{bin}' run -c '{cfg}'",
        s = state.display(),
        bin = env!("CARGO_BIN_EXE_cdnquota"),
        cfg = cfg.display()
    );
    let child = Command::new("unshare")
        .args(["-m", "sh", "-c", &script])
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut d = Daemon {
        child,
        addr: a.clone(),
        log,
    };
    d.wait_for("the pool values", Duration::from_secs(15), || {
        metric(
            &d.metrics(),
            "cdnquota_pool_remaining_bytes",
            "account=\"main\",region=\"mainland\"",
        ) == Some(50.0 * GB as f64)
    });
    // Alerts still fire from memory.
    d.wait_for("PoolLow firing", Duration::from_secs(10), || {
        metric(
            &d.metrics(),
            "cdnquota_alert_firing",
            "account=\"main\",alert=\"PoolLow\",region=\"mainland\"",
        ) == Some(1.0)
    });
    assert_eq!(metric(&d.metrics(), "cdnquota_state_save_success", ""), Some(0.0));
    assert!(d.log().contains("NOT being saved"), "{}", d.log());
    let (_, page) = http_get(&a, "/").unwrap();
    assert!(page.contains("state NOT saved"), "{page}");
    assert_eq!(std::fs::read(state.join("state.json")).unwrap(), b"{\"alerts\": [trunc");
    assert!(d.child.try_wait().unwrap().is_none(), "the daemon exited");
    d.kill_hard();
}

// 9. Duplicate v2 package ids were counted twice.

#[test]
fn a_v2_package_listed_twice_is_counted_once_and_said() {
    let dir = tempfile::tempdir().unwrap();
    let sim = Sim::with_packages(&[(900 * GB, 100 * GB)]);
    {
        let mut s = sim.state();
        let twin: SimPackage = s.packages[0].clone();
        s.packages.push(twin);
    }
    let a = loopback_addr();
    let d = Daemon::start(&config(dir.path(), &sim, &a, "", ""), &a);
    d.wait_for("a poll", Duration::from_secs(10), || {
        metric(&d.metrics(), "cdnquota_poll_success", "account=\"main\"") == Some(1.0)
    });
    let m = d.metrics();
    assert_eq!(
        metric(&m, "cdnquota_pool_size_bytes", "account=\"main\",region=\"mainland\""),
        Some(900.0 * GB as f64),
        "{m}"
    );
    assert!(d.log().contains("more than once"), "{}", d.log());
}

// 10. A huge API error text went verbatim everywhere.

#[test]
fn a_huge_api_error_text_is_cut_everywhere_it_shows() {
    let dir = tempfile::tempdir().unwrap();
    let sim = Sim::with_packages(&[(900 * GB, 100 * GB)]);
    let huge = "E".repeat(1_000_000);
    for _ in 0..20 {
        sim.sim.inject(Fault::ApiMessage(5100, huge.clone()));
    }
    let a = loopback_addr();
    let top = "[alerts]\npoll_failure_after = \"1s\"\n[email]\ntransport = \"file\"\nfrom = \"a@example.com\"\nto = [\"ops@example.com\"]";
    let d = Daemon::start(&config(dir.path(), &sim, &a, top, ""), &a);
    d.wait_for("PollFailing", Duration::from_secs(15), || {
        metric(
            &d.metrics(),
            "cdnquota_alert_firing",
            "account=\"main\",alert=\"PollFailing\",region=\"\"",
        ) == Some(1.0)
    });
    let longest = d.log().lines().map(str::len).max().unwrap_or(0);
    assert!(longest < 2_000, "a log line of {longest} bytes");
    assert!(d.log().contains("more bytes cut"), "{}", d.log());
    let (_, page) = http_get(&a, "/").unwrap();
    assert!(page.len() < 20_000, "a status page of {} bytes", page.len());
    let state = std::fs::metadata(dir.path().join("state/state.json")).unwrap().len();
    assert!(state < 50_000, "a state file of {state} bytes");
    for mail in std::fs::read_dir(dir.path().join("state/mail")).unwrap() {
        let size = mail.unwrap().metadata().unwrap().len();
        assert!(size < 50_000, "a mail of {size} bytes");
    }
}

// 11. `[email]` errors were labelled with the account before them.

#[test]
fn an_email_error_names_the_email_section() {
    let dir = tempfile::tempdir().unwrap();
    let sim = Sim::with_packages(&[(900 * GB, 0)]);
    let body = format!(
        "{}\n[email]\nfrom = \"a@example.com\"\nto = [\"ops@example.com\"]\n",
        account_toml("main", &sim.endpoint(), "")
    );
    let cfg = write_config(dir.path(), &body);
    let out = run_to_end(&["config", "-c", cfg.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(": email: transport = \"smtp\" needs host"), "{stderr}");
    assert!(!stderr.contains("accounts[0]"), "{stderr}");
}

// Also: state.json was rewritten after every poll.

#[test]
fn quiet_polls_do_not_rewrite_the_state_file() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    let sim = Sim::with_packages(&[(1000 * GB, 950 * GB)]);
    let a = loopback_addr();
    let top = "[email]\ntransport = \"file\"\nfrom = \"a@example.com\"\nto = [\"ops@example.com\"]";
    let d = Daemon::start(&config(dir.path(), &sim, &a, top, ""), &a);
    d.wait_for("PoolLow firing", Duration::from_secs(10), || {
        metric(
            &d.metrics(),
            "cdnquota_alert_firing",
            "account=\"main\",alert=\"PoolLow\",region=\"mainland\"",
        ) == Some(1.0)
    });
    std::thread::sleep(Duration::from_secs(1));
    let path = dir.path().join("state/state.json");
    let inode = std::fs::metadata(&path).unwrap().ino();
    let polls = arrivals(&sim, "GetPackage");
    d.wait_for("three more polls", Duration::from_secs(10), || {
        arrivals(&sim, "GetPackage") >= polls + 3
    });
    assert_eq!(
        std::fs::metadata(&path).unwrap().ino(),
        inode,
        "state.json was rewritten"
    );
}

// Also: a v3 TotalCount the pages never reach cost 1,000 requests a poll.

#[test]
fn a_v3_total_count_the_pages_never_reach_costs_two_requests_not_a_thousand() {
    for (overstate, ignore_offset) in [(5_000, false), (5_000, true)] {
        let dir = tempfile::tempdir().unwrap();
        let sim = Sim::with_packages(&[(900 * GB, 0), (100 * GB, 0)]);
        {
            let mut s = sim.state();
            s.v3_overstate_total = overstate;
            s.v3_ignore_offset = ignore_offset;
        }
        let cfg = write_config(
            dir.path(),
            &account_toml("main", &sim.sim.endpoint_v3(), "api = \"v3\""),
        );
        let out = run_to_end(&["check", "-c", cfg.to_str().unwrap()]);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let requests = arrivals(&sim, "DescribeTrafficPackages");
        assert!(requests <= 2, "{requests} requests: {text}");
        assert!(text.contains("TotalCount is 5002"), "{text}");
        assert_eq!(out.status.code(), Some(3), "{text}");
    }
}

// Issue 21, 3. A v3 page that repeated the one before it was accepted, and
// half the pool vanished without a word.

/// `cdnquota check` against a v3 simulator set up by `setup`: its output,
/// exit code and the DescribeTrafficPackages requests it cost.
fn check_v3(sim: &Sim) -> (String, Option<i32>, usize) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        &account_toml("main", &sim.sim.endpoint_v3(), "api = \"v3\""),
    );
    let out = run_to_end(&["check", "-c", cfg.to_str().unwrap()]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (text, out.status.code(), arrivals(sim, "DescribeTrafficPackages"))
}

#[test]
fn a_v3_page_repeating_the_one_before_fails_the_poll_and_says_so() {
    // TotalCount says 4; page 2 holds page 1's two packages again.
    let sim = Sim::with_packages(&[(900 * GB, 850 * GB), (100 * GB, 0)]);
    {
        let mut s = sim.state();
        s.v3_overstate_total = 2;
        s.v3_ignore_offset = true;
    }
    let (text, code, requests) = check_v3(&sim);
    assert_eq!(code, Some(3), "UNKNOWN, not a verdict on half the pool: {text}");
    assert!(text.contains("repeats 2 package(s) of the pages before it"), "{text}");
    assert_eq!(requests, 2, "{text}");
}

// Issue 21, 8. A TotalCount that grew with every page cost 1,000 requests.

#[test]
fn a_v3_total_count_that_grows_with_every_page_stops_after_one_page_more() {
    // Pages of one package; every page asked for adds one at the end, so
    // the list never ends. The first TotalCount (3) needs 3 pages.
    let sim = Sim::with_packages(&[(900 * GB, 0), (100 * GB, 0)]);
    {
        let mut s = sim.state();
        s.v3_grow_per_page = 1;
        s.v3_page_cap = 1;
    }
    let (text, code, requests) = check_v3(&sim);
    assert_eq!(code, Some(3), "{text}");
    assert!(text.contains("TotalCount grows as the list is read"), "{text}");
    assert_eq!(
        requests, 5,
        "3 pages needed, one more allowed, then the one that shows it: {text}"
    );
}

// Issue 21, 9. A self-signed certificate gave the TLS library's debug text
// and was retried.

/// `openssl s_server` with a self-signed certificate for 127.0.0.1 behind
/// a loopback proxy that counts connections; both end when dropped.
struct SelfSignedServer {
    server: std::process::Child,
    port: u16,
    connections: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl SelfSignedServer {
    fn start(dir: &Path) -> SelfSignedServer {
        let (cert, key) = (dir.join("self.pem"), dir.join("self.key"));
        let made = Command::new("openssl")
            .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"])
            .args(["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .output()
            .expect("openssl runs");
        assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
        let backend = free_port();
        let server = Command::new("openssl")
            .args(["s_server", "-quiet", "-www", "-accept", &backend.to_string()])
            .arg("-cert")
            .arg(&cert)
            .arg("-key")
            .arg(&key)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("openssl s_server starts");
        assert!(
            wait_until(Duration::from_secs(10), || std::net::TcpStream::connect((
                "127.0.0.1",
                backend
            ))
            .is_ok()),
            "openssl s_server did not listen"
        );
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let connections = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = connections.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let Ok(upstream) = std::net::TcpStream::connect(("127.0.0.1", backend)) else {
                    continue;
                };
                let pipe = |mut from: std::net::TcpStream, mut to: std::net::TcpStream| {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(std::net::Shutdown::Both);
                    })
                };
                if let (Ok(c2), Ok(u2)) = (client.try_clone(), upstream.try_clone()) {
                    pipe(client, upstream);
                    pipe(u2, c2);
                }
            }
        });
        SelfSignedServer {
            server,
            port,
            connections,
        }
    }
}

impl Drop for SelfSignedServer {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

#[test]
fn a_self_signed_certificate_is_one_line_that_says_what_to_do_and_is_not_retried() {
    let mut version = Command::new("openssl");
    version.arg("version");
    if !available(version, "`openssl` is missing: .ci/run installs it") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let tls = SelfSignedServer::start(dir.path());
    let cfg = write_config(
        dir.path(),
        &account_toml(
            "main",
            &format!("https://127.0.0.1:{}/", tls.port),
            "api = \"v3\"\nmax_attempts = 4\nretry_backoff = \"100ms\"",
        ),
    );
    let out = run_to_end(&["check", "-c", cfg.to_str().unwrap()]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(3), "{text}");
    // One line says what is wrong and what to do (the plugin's first line
    // is cut to fit; the full one follows).
    assert!(
        text.lines()
            .any(|l| l.contains("self-signed or signed by a CA this host does not trust")
                && l.contains("add the CA that signed its certificate")),
        "{text}"
    );
    for debug in ["OtherError", "CaUsedAsEndEntity", "InvalidCertificate", "Other("] {
        assert!(!text.contains(debug), "{debug}: {text}");
    }
    assert_eq!(
        tls.connections.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "tried once: {text}"
    );
}
