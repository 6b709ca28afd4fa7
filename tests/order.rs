//! Ordering against the simulator: the daemon orders when it should, once
//! per shortfall, never after a crash on a guess, and always says so. Mail
//! goes through the `file` transport so each test can count it.

mod common;

use cdnquota_sim::state::Fault;
use chrono::Utc;
use common::*;
use std::path::{Path, PathBuf};
use std::time::Duration;

const ORDER: &str = "OrderPackage";

struct Setup {
    dir: tempfile::TempDir,
    config: PathBuf,
    addr: String,
}

/// A config polling `sim` every second, ordering per `order` (lines of an
/// `[accounts.order]` table), mailing into `dir/mail`.
fn setup(sim: &Sim, order: &str) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let body = format!(
        "schedule = \"* * * * * *\"\nlisten = \"{addr}\"\n[alerts]\nrepeat_interval = \"1h\"\n[email]\ntransport = \"file\"\nfolder = \"{}\"\nfrom = \"alerts@example.com\"\nto = [\"ops@example.com\"]\n{}[accounts.order]\n{order}\n",
        dir.path().join("mail").display(),
        account_toml("main", &sim.endpoint(), "")
    );
    let config = write_config(dir.path(), &body);
    Setup { dir, config, addr }
}

/// The subjects of the mails written so far, oldest first, with bodies.
fn mails(dir: &Path) -> Vec<(String, String)> {
    let Ok(entries) = std::fs::read_dir(dir.join("mail")) else {
        return Vec::new();
    };
    let mut files: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| (e.metadata().unwrap().modified().unwrap(), e.path()))
        .collect();
    files.sort();
    files
        .into_iter()
        .filter_map(|(_, p)| std::fs::read_to_string(p).ok())
        .map(|m| (header(&m, "Subject"), decode_quoted_printable(&m)))
        .collect()
}

fn subjects(dir: &Path) -> Vec<String> {
    mails(dir).into_iter().map(|(s, _)| s).collect()
}

fn low_pool() -> Sim {
    // 50 GB left of 1 TB: below the default trigger of 100 GB.
    Sim::with_packages(&[(1000 * GB, 950 * GB)])
}

const LIVE: &str = "mode = \"live\"\nunit_gb = 100\nnumber = 1\nwhen_depletion_within = \"0s\"\nmax_orders_per_30d = 5";

fn wait(what: &str, d: &Daemon, f: impl FnMut() -> bool) {
    d.wait_for(what, Duration::from_secs(15), f);
}

fn pay_and_drain(sim: &Sim) {
    let mut s = sim.state();
    let id = s
        .orders
        .iter()
        .find(|o| !o.paid)
        .map(|o| o.id.clone())
        .expect("an unpaid order");
    assert!(s.mark_paid(&id, Utc::now()));
}

/// Uses every package up: nothing left, well below any trigger.
fn drain_all(sim: &Sim) {
    for p in sim.state().packages.iter_mut() {
        p.used_bytes = p.size_bytes as f64;
    }
}

#[test]
fn a_shortfall_orders_once_and_again_only_after_fulfilment() {
    let sim = low_pool();
    let s = setup(&sim, LIVE);
    let d = Daemon::start(&s.config, &s.addr);
    wait("the order", &d, || sim.state().arrived(ORDER) == 1);
    wait("the OrderPlaced mail", &d, || {
        subjects(s.dir.path()).iter().any(|m| m.starts_with("[ORDER]"))
    });
    let order_id = sim.state().orders[0].id.clone();
    let (subject, body) = mails(s.dir.path())
        .into_iter()
        .find(|(m, _)| m.starts_with("[ORDER]"))
        .unwrap();
    assert_eq!(subject, "[ORDER] main: ordered 1 x 100 GB; it must be paid");
    assert!(
        body.contains(&order_id) && body.contains("not a purchase") && body.contains("50.0 GB left, below 100 GB"),
        "{body}"
    );

    // Polls go on every second; the outstanding order holds the next one.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(sim.state().arrived(ORDER), 1);
    assert_eq!(
        metric(&d.metrics(), "cdnquota_order_outstanding", "account=\"main\""),
        Some(1.0)
    );

    // Paid: the package appears, the order is fulfilled, no new order
    // (150 GB left is above the trigger).
    pay_and_drain(&sim);
    wait("fulfilment", &d, || {
        metric(&d.metrics(), "cdnquota_order_outstanding", "account=\"main\"") == Some(0.0)
    });
    assert_eq!(
        metric(
            &d.metrics(),
            "cdnquota_orders_total",
            "account=\"main\",outcome=\"fulfilled\""
        ),
        Some(1.0)
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(sim.state().arrived(ORDER), 1);

    // A later shortfall may order again.
    drain_all(&sim);
    wait("the second order", &d, || sim.state().arrived(ORDER) == 2);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(sim.state().arrived(ORDER), 2);
    assert_eq!(
        subjects(s.dir.path())
            .iter()
            .filter(|m| m.starts_with("[ORDER]"))
            .count(),
        2,
        "{:?}",
        subjects(s.dir.path())
    );
}

#[test]
fn dry_run_mails_what_it_would_order_and_never_orders() {
    let sim = low_pool();
    let s = setup(&sim, &LIVE.replace("\"live\"", "\"dry-run\""));
    let d = Daemon::start(&s.config, &s.addr);
    wait("the dry-run mail", &d, || {
        mails(s.dir.path()).iter().any(|(_, body)| body.contains("OrderDryRun"))
    });
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(sim.state().arrived(ORDER), 0);
    let body = mails(s.dir.path())
        .into_iter()
        .map(|(_, b)| b)
        .find(|b| b.contains("dry run: would order 1 x 100 GB"))
        .unwrap();
    assert!(body.contains("50.0 GB left, below 100 GB"), "{body}");
    assert!(d.log().contains("dry run: would order"));
}

#[test]
fn the_cap_stops_a_third_order_and_alerts() {
    let sim = low_pool();
    let s = setup(&sim, &LIVE.replace("max_orders_per_30d = 5", "max_orders_per_30d = 2"));
    let d = Daemon::start(&s.config, &s.addr);
    for n in 1..=2 {
        wait("an order", &d, || sim.state().arrived(ORDER) == n);
        pay_and_drain(&sim);
        wait("fulfilment", &d, || {
            metric(&d.metrics(), "cdnquota_order_outstanding", "account=\"main\"") == Some(0.0)
        });
        drain_all(&sim);
    }
    wait("the cap alert", &d, || {
        metric(
            &d.metrics(),
            "cdnquota_alert_firing",
            "account=\"main\",alert=\"OrderCapReached\",region=\"\"",
        ) == Some(1.0)
    });
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(sim.state().arrived(ORDER), 2);
    // The cap alert may share its mail with PoolExhausted; it is in the body.
    assert!(
        mails(s.dir.path())
            .iter()
            .any(|(_, body)| body.contains("OrderCapReached")
                && body.contains("reach max_orders_per_30d = 2: no order placed")),
        "{:?}",
        subjects(s.dir.path())
    );
}

#[test]
fn an_api_refusal_is_recorded_mailed_not_retried_until_settled() {
    let sim = low_pool();
    sim.state().on_sale_gb = vec![50, 500];
    let s = setup(&sim, LIVE);
    let d = Daemon::start(&s.config, &s.addr);
    wait("the failure mail", &d, || {
        subjects(s.dir.path())
            .iter()
            .any(|m| m == "[CRITICAL] main: ordering 1 x 100 GB failed")
    });
    let body = mails(s.dir.path())
        .into_iter()
        .map(|(_, b)| b)
        .find(|b| b.contains("The API refused"))
        .unwrap();
    assert!(
        body.contains("API error code 4000") && body.contains("GetPackagePrice"),
        "{body}"
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(sim.state().arrived(ORDER), 1, "retried");
    assert_eq!(
        metric(
            &d.metrics(),
            "cdnquota_orders_total",
            "account=\"main\",outcome=\"failed\""
        ),
        Some(1.0)
    );

    // A person fixes the size on sale and settles the failed order.
    sim.state().on_sale_gb.push(100);
    let listed = run_to_end(&["order", "-c", s.config.to_str().unwrap(), "--list"]);
    let listing = String::from_utf8_lossy(&listed.stdout).to_string();
    let id = listing.split_whitespace().next().unwrap().to_string();
    assert!(listing.contains("FAILED"), "{listing}");
    let out = run_to_end(&[
        "order",
        "-c",
        s.config.to_str().unwrap(),
        "--resolve",
        &id,
        "--not-placed",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    wait("the order after settling", &d, || sim.state().arrived(ORDER) == 2);
    assert_eq!(sim.state().orders.len(), 1);
}

#[test]
fn hand_orders_go_through_the_same_ledger_rules_and_cap() {
    let sim = low_pool();
    let s = setup(&sim, "mode = \"off\"\nmax_orders_per_30d = 1");
    let cfg = s.config.to_str().unwrap();
    let order = |extra: &[&str]| {
        let mut args = vec![
            "order",
            "-c",
            cfg,
            "--account",
            "main",
            "--unit",
            "100",
            "--number",
            "1",
        ];
        args.extend_from_slice(extra);
        run_to_end(&args)
    };
    // Without --yes and with no answer on stdin: nothing is ordered.
    let out = order(&[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not confirmed"));
    assert_eq!(sim.state().arrived(ORDER), 0);

    let out = order(&["--yes"]);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        stdout.contains(&sim.state().orders[0].id) && stdout.contains("pay it"),
        "{stdout}"
    );
    // One outstanding order per account, hand orders included.
    let out = order(&["--yes"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("waiting for payment"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Fulfilled, the cap of one in 30 days still holds.
    pay_and_drain(&sim);
    let d = Daemon::start(&s.config, &s.addr);
    wait("fulfilment and the OrderPlaced mail of the hand order", &d, || {
        subjects(s.dir.path())
            .iter()
            .any(|m| m.starts_with("[ORDER] main: ordered 1 x 100 GB"))
            && metric(
                &d.metrics(),
                "cdnquota_orders_total",
                "account=\"main\",outcome=\"fulfilled\"",
            ) == Some(1.0)
    });
    drop(d);
    let out = order(&["--yes"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("the cap (max_orders_per_30d = 1)"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(sim.state().arrived(ORDER), 1);
}

/// Kills the daemon with SIGKILL at each step of the order protocol, several
/// times, restarts it, and counts OrderPackage requests at the simulator.
#[test]
fn a_crash_at_any_step_never_orders_twice() {
    const TRIALS: usize = 3;
    let mut trials = 0;
    let mut duplicates = 0;
    for point in ["after-intent", "during", "after-answer", "after-ids"] {
        for _ in 0..TRIALS {
            let sim = low_pool();
            let s = setup(&sim, LIVE);
            let mut env = Vec::new();
            if point == "during" {
                sim.sim.inject(Fault::HoldAction(ORDER.into(), Duration::from_secs(4)));
            } else {
                env.push((cdnquota::order::PAUSE_ENV, point));
            }
            let mut first = Daemon::start_with_env(&s.config, &s.addr, &env);
            if point == "during" {
                wait("the held request", &first, || sim.state().arrived(ORDER) == 1);
            } else {
                wait(point, &first, || first.log().contains(&format!("pausing at {point}")));
            }
            first.kill_hard();
            let sent_before_crash = sim.state().arrived(ORDER);
            let second = Daemon::start(&s.config, &s.addr);
            // Several polls, each with the pool still short.
            std::thread::sleep(Duration::from_secs(5));
            let sent = sim.state().arrived(ORDER);
            trials += 1;
            duplicates += sent - sent_before_crash;
            let m = second.metrics();
            let unknown = metric(
                &m,
                "cdnquota_alert_firing",
                "account=\"main\",alert=\"OrderOutcomeUnknown\",region=\"\"",
            );
            if point == "after-ids" {
                // The outcome was recorded: an outstanding order, and its
                // mail, queued after the restart, not lost.
                assert_eq!(unknown, None, "{m}");
                assert_eq!(metric(&m, "cdnquota_order_outstanding", "account=\"main\""), Some(1.0));
                assert_eq!(
                    subjects(s.dir.path())
                        .iter()
                        .filter(|m| m.starts_with("[ORDER]"))
                        .count(),
                    1
                );
            } else {
                assert_eq!(
                    unknown,
                    Some(1.0),
                    "no OrderOutcomeUnknown after a crash {point}:\n{}",
                    second.log()
                );
                assert!(
                    subjects(s.dir.path())
                        .iter()
                        .any(|m| m.starts_with("[CRITICAL] main: an order was interrupted")),
                    "{:?}",
                    subjects(s.dir.path())
                );
            }
            let expected = if point == "after-intent" { 0 } else { 1 };
            assert_eq!(sent, expected, "crash {point}: {sent} OrderPackage request(s)");
        }
    }
    println!("crash trials: {trials}, duplicate orders: {duplicates}");
    assert_eq!((trials, duplicates), (4 * TRIALS, 0));
}

/// While `cdnquota order` holds the ledger, the daemon cannot read it; an
/// order alert must keep firing, not be mailed as resolved.
#[test]
fn a_busy_ledger_does_not_resolve_order_alerts() {
    let sim = low_pool();
    let s = setup(&sim, LIVE);
    let mut first = Daemon::start_with_env(&s.config, &s.addr, &[(cdnquota::order::PAUSE_ENV, "after-intent")]);
    wait("the pause", &first, || first.log().contains("pausing at after-intent"));
    first.kill_hard();
    let d = Daemon::start(&s.config, &s.addr);
    let firing = || {
        metric(
            &d.metrics(),
            "cdnquota_alert_firing",
            "account=\"main\",alert=\"OrderOutcomeUnknown\",region=\"\"",
        ) == Some(1.0)
    };
    wait("OrderOutcomeUnknown", &d, firing);
    {
        let lock = std::fs::File::open(s.dir.path().join("state/orders.lock")).unwrap();
        lock.lock().unwrap();
        // Several polls find the ledger busy.
        std::thread::sleep(Duration::from_secs(3));
    }
    assert!(d.log().contains("the order ledger is locked"), "{}", d.log());
    assert!(firing(), "{}", d.log());
    assert!(
        !d.log()
            .contains("alert resolved account=main alert=OrderOutcomeUnknown"),
        "{}",
        d.log()
    );
    assert_eq!(sim.state().arrived(ORDER), 0);
}
