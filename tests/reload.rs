//! What a reload (SIGHUP) costs: nothing an operator can see. Counters go
//! on, the listening socket stays open, accounts whose API settings did not
//! change are not polled again, and polling goes on while the old config's
//! sender finishes a mail. Each test runs the real binary against the
//! simulator, and a misbehaving relay on loopback where mail is involved.

mod common;

use common::bad_smtp::{BadSmtp, Misbehaviour};
use common::*;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Sends SIGHUP and waits until the new config serves.
fn reload(d: &Daemon) {
    let started = d.log().matches("serving /metrics").count();
    d.sighup();
    d.wait_for("a reload", Duration::from_secs(20), || {
        d.log().matches("serving /metrics").count() > started
    });
}

fn polls(sim: &Sim) -> usize {
    sim.state().arrivals.iter().filter(|a| *a == "GetPackage").count()
}

fn config(dir: &Path, addr: &str, schedule: &str, top: &str, accounts: &[String]) -> PathBuf {
    let body = format!(
        "schedule = \"{schedule}\"\nlisten = \"{addr}\"\n{top}\n{}",
        accounts.join("\n")
    );
    write_config(dir, &body)
}

// Issue 21, 4. Counters went back to 0 on every reload.

#[test]
fn counters_go_on_across_reloads() {
    let dir = tempfile::tempdir().unwrap();
    let relay = BadSmtp::start(Misbehaviour::Accept);
    let sim = Sim::with_packages(&[(1000 * GB, 990 * GB)]);
    let a = loopback_addr();
    let cfg = config(
        dir.path(),
        &a,
        "* * * * * *",
        &email_toml(relay.port, ""),
        &[account_toml("main", &sim.endpoint(), "")],
    );
    let d = Daemon::start(&cfg, &a);
    let sent = || metric(&d.metrics(), "cdnquota_notifications_total", "outcome=\"sent\"");
    let requests = || {
        metric(
            &d.metrics(),
            "cdnquota_api_requests_total",
            "account=\"main\",action=\"GetPackage\",outcome=\"success\"",
        )
        .unwrap_or(0.0)
    };
    d.wait_for("the alert mail", Duration::from_secs(20), || sent() == Some(1.0));
    let mut last = requests();
    assert!(last >= 2.0, "{}", d.metrics());
    for _ in 0..3 {
        reload(&d);
        assert_eq!(sent(), Some(1.0), "mail sent before the reload: {}", d.metrics());
        let now = requests();
        assert!(now >= last, "api_requests_total went from {last} to {now}");
        last = now;
    }
}

// Issue 21, 5. The listener refused connections for a moment during a
// reload.

/// The inode of the socket listening on `addr`, from /proc/net/tcp.
fn listening_inode(addr: &str) -> Option<String> {
    let port: u16 = addr.rsplit(':').next()?.parse().ok()?;
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    table.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        let local_port = u16::from_str_radix(f.get(1)?.rsplit(':').next()?, 16).ok()?;
        (local_port == port && *f.get(3)? == "0A").then(|| f.get(9).map(|s| s.to_string()))?
    })
}

#[test]
fn the_listening_socket_stays_open_across_reloads() {
    let dir = tempfile::tempdir().unwrap();
    let sim = Sim::with_packages(&[(1000 * GB, 100 * GB)]);
    let a = loopback_addr();
    let cfg = config(
        dir.path(),
        &a,
        "* * * * * *",
        "",
        &[account_toml("main", &sim.endpoint(), "")],
    );
    let d = Daemon::start(&cfg, &a);
    let socket = listening_inode(&a).expect("a listening socket");
    // A prober connecting all through the reloads.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let prober = {
        let (stop, a) = (stop.clone(), a.clone());
        std::thread::spawn(move || {
            let (mut ok, mut refused) = (0, 0);
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                match http_get(&a, "/healthz") {
                    Some(_) => ok += 1,
                    None => refused += 1,
                }
            }
            (ok, refused)
        })
    };
    for _ in 0..20 {
        reload(&d);
        assert_eq!(
            listening_inode(&a).as_deref(),
            Some(socket.as_str()),
            "the socket was closed and another opened; log:\n{}",
            d.log()
        );
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let (ok, refused) = prober.join().unwrap();
    assert!(ok > 0);
    assert_eq!(refused, 0, "{refused} of {} probes went unanswered", ok + refused);
}

// Issue 21, 6. Every SIGHUP polled every account.

#[test]
fn a_reload_polls_only_the_accounts_whose_api_settings_changed() {
    let dir = tempfile::tempdir().unwrap();
    let (one, two) = (
        Sim::with_packages(&[(1000 * GB, 100 * GB)]),
        Sim::with_packages(&[(1000 * GB, 200 * GB)]),
    );
    let a = loopback_addr();
    // Once a day: any poll in the test is the start's or a reload's.
    let write = |one_extra: &str, two_extra: &str| {
        config(
            dir.path(),
            &a,
            "0 0 0 * * *",
            "",
            &[
                account_toml("one", &one.endpoint(), one_extra),
                account_toml("two", &two.endpoint(), two_extra),
            ],
        )
    };
    let cfg = write("", "");
    let d = Daemon::start(&cfg, &a);
    d.wait_for("the first polls", Duration::from_secs(20), || {
        metric(&d.metrics(), "cdnquota_poll_success", "account=\"two\"") == Some(1.0)
    });
    assert_eq!((polls(&one), polls(&two)), (1, 1));
    for _ in 0..3 {
        reload(&d);
    }
    // A threshold is not an API setting either.
    write("[accounts.thresholds]\nremaining_bytes_below = \"100GB\"", "");
    reload(&d);
    let m = d.metrics();
    assert_eq!((polls(&one), polls(&two)), (1, 1), "{}", d.log());
    for account in ["one", "two"] {
        assert_eq!(
            metric(&m, "cdnquota_poll_success", &format!("account=\"{account}\"")),
            Some(1.0),
            "{m}"
        );
        assert!(
            metric(
                &m,
                "cdnquota_pool_remaining_bytes",
                &format!("account=\"{account}\",region=\"mainland\"")
            )
            .is_some(),
            "the carried results are published: {m}"
        );
    }
    assert!(m.contains("cdnquota_package_remaining_bytes{account=\"two\""), "{m}");
    // Account two's timeout is an API setting.
    write("", "timeout = \"3s\"");
    reload(&d);
    d.wait_for("two polled", Duration::from_secs(20), || polls(&two) == 2);
    assert_eq!(polls(&one), 1, "{}", d.log());
}

// Issue 21, 7. A reload waited for the mail under way, and polling paused.

#[test]
fn polling_goes_on_while_the_old_config_finishes_a_mail() {
    let dir = tempfile::tempdir().unwrap();
    let slow = BadSmtp::start(Misbehaviour::SlowAfterData(Duration::from_secs(10)));
    let sim = Sim::with_packages(&[(1000 * GB, 990 * GB)]);
    let a = loopback_addr();
    let email = email_toml(slow.port, "").replace("timeout = \"3s\"", "timeout = \"20s\"");
    let cfg = config(
        dir.path(),
        &a,
        "* * * * * *",
        &email,
        &[account_toml("main", &sim.endpoint(), "")],
    );
    let d = Daemon::start(&cfg, &a);
    d.wait_for("a delivery under way", Duration::from_secs(20), || {
        slow.connections() >= 1
    });
    d.sighup();
    d.wait_for("the reload", Duration::from_secs(30), || d.log().contains("reloading"));
    let before = polls(&sim);
    // Polls every second from the new config, or the mail first if the
    // reload waits for it.
    d.wait_for("polls or the delivery", Duration::from_secs(30), || {
        polls(&sim) >= before + 3 || !slow.delivered().is_empty()
    });
    assert!(
        slow.delivered().is_empty(),
        "no poll while the old config finished its mail; log:\n{}",
        d.log()
    );
    d.wait_for("the delivery", Duration::from_secs(30), || !slow.delivered().is_empty());
    d.wait_for("the outcome recorded", Duration::from_secs(10), || {
        metric(&d.metrics(), "cdnquota_notifications_total", "outcome=\"sent\"") == Some(1.0)
    });
    assert_eq!(metric(&d.metrics(), "cdnquota_outbox_pending", ""), Some(0.0));
    assert_eq!(slow.delivered().len(), 1, "{:?}", slow.delivered());
}
