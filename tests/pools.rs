//! One pool per (account, resource, billing region), against the
//! simulator's API 3.0 over HTTP and the real binary: a dry Europe pool
//! beside a full mainland one, a package bought ahead, billing by
//! bandwidth, HTTPS request packages, and each pool's history across a
//! restart and a damaged file.

mod common;

use cdnquota_sim::settle::Settlement;
use cdnquota_sim::state::{SimPackage, SimPayType, SimState};
use cdnquota_sim::traffic::Flow;
use chrono::{TimeDelta, Utc};
use common::alertmanager::{Node, Webhook, alertmanager_available, cluster_config};
use common::*;
use std::path::Path;
use std::time::Duration;

const EUROPE: u8 = 6;

fn package(s: &mut SimState, size: u64, used: u64, started_days_ago: i64, valid_days: u64) -> SimPackage {
    let start = Utc::now() - TimeDelta::days(started_days_ago);
    SimPackage::new(
        s.next_package_id(),
        size,
        used,
        start,
        Duration::from_secs(valid_days * 86_400),
    )
}

/// An account with 1 TB in mainland, 10 % used, and 50 GB in Europe, 95 %
/// used, Europe's traffic flowing at `europe_rate` bytes a second; traffic
/// deducted as it flows, so that a few polls see the rate.
fn two_regions(europe_rate: f64) -> SimState {
    let mut s = SimState::new(SECRET_ID, SECRET_KEY, Utc::now());
    s.settlement = Settlement::IMMEDIATE;
    let mainland = package(&mut s, 1000 * GB, 100 * GB, 10, 365);
    let mut europe = package(&mut s, 50 * GB, 47_500_000_000, 10, 365);
    europe.region = EUROPE;
    s.packages = vec![mainland, europe];
    s.regional.insert(EUROPE, Flow::Flat(europe_rate));
    s
}

fn v3_daemon(sim: &Sim, dir: &Path, extra: &str, account_extra: &str) -> Daemon {
    let addr = loopback_addr();
    let body = format!(
        "schedule = \"* * * * * *\"\nlisten = \"{addr}\"\n{extra}\n{}",
        account_toml(
            "main",
            &sim.sim.endpoint_v3(),
            &format!("api = \"v3\"\n{account_extra}")
        )
    );
    let config = write_config(dir, &body);
    Daemon::start(&config, &addr)
}

fn firing(m: &str, alert: &str, region: &str) -> bool {
    metric(
        m,
        "cdnquota_alert_firing",
        &format!("account=\"main\",alert=\"{alert}\",region=\"{region}\""),
    ) == Some(1.0)
}

/// Region split: Europe runs dry while mainland has plenty: Europe alone is low and
/// forecast to run dry, the mail names Europe, and Alertmanager gets the
/// `region` label.
#[test]
fn a_dry_europe_pool_alerts_while_the_mainland_pool_is_silent() {
    if !smtp_server_available() || !alertmanager_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let hook = Webhook::start();
    let am_config = dir.path().join("alertmanager.yml");
    std::fs::write(&am_config, cluster_config(hook.port())).unwrap();
    let mut am = Node::new(dir.path(), "am", &am_config);
    am.start();
    assert!(wait_until(Duration::from_secs(20), || am.ready()), "{}", am.log());
    let smtp = SmtpServer::start(dir.path(), free_port(), None);
    // 2.5 GB left in Europe at 5 MB/s: dry in about 8 minutes.
    let sim = Sim::start(two_regions(5e6));
    let extra = format!(
        "{}\n[alertmanager]\nurls = [\"{}\"]\nresend_interval = \"2s\"\nretry_backoff = \"200ms\"\n",
        email_toml(smtp.port, ""),
        am.url()
    );
    let d = v3_daemon(&sim, dir.path(), &extra, "");
    d.wait_for(
        "Europe's PoolLow and DepletionForecast",
        Duration::from_secs(20),
        || {
            let m = d.metrics();
            firing(&m, "PoolLow", "europe") && firing(&m, "DepletionForecast", "europe")
        },
    );
    let m = d.metrics();
    let left = |region: &str| {
        metric(
            &m,
            "cdnquota_pool_remaining_bytes",
            &format!("account=\"main\",region=\"{region}\""),
        )
    };
    assert_eq!(left("mainland"), Some((900 * GB) as f64), "{m}");
    let europe = left("europe").expect("a Europe pool");
    assert!(europe > 0.0 && europe < 2.5e9, "{europe}");
    for alert in ["PoolLow", "PoolExhausted", "DepletionForecast"] {
        assert!(!firing(&m, alert, "mainland"), "{alert} for mainland: {m}");
    }
    let rate = metric(
        &m,
        "cdnquota_pool_consumption_bytes_per_second",
        "account=\"main\",region=\"europe\"",
    )
    .expect("Europe's own rate");
    assert!((rate - 5e6).abs() < 1e6, "Europe's rate {rate}");
    assert_eq!(
        metric(
            &m,
            "cdnquota_pool_consumption_bytes_per_second",
            "account=\"main\",region=\"mainland\""
        ),
        Some(0.0),
        "{m}"
    );
    assert!(
        wait_until(Duration::from_secs(15), || {
            smtp.subjects()
                .iter()
                .any(|s| s.starts_with("[WARNING] main · Europe: "))
        }),
        "subjects: {:?}",
        smtp.subjects()
    );
    assert!(
        smtp.subjects().iter().all(|s| !s.contains("Mainland")),
        "mainland is silent: {:?}",
        smtp.subjects()
    );
    assert!(
        wait_until(Duration::from_secs(20), || {
            hook.notifications().iter().any(|n| {
                n.body["alerts"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|a| a["labels"]["alertname"] == "PoolLow" && a["labels"]["region"] == "europe")
            })
        }),
        "Alertmanager notified: {:?}; its log:\n{}",
        hook.notifications()
            .iter()
            .map(|n| n.body.to_string())
            .collect::<Vec<_>>(),
        am.log()
    );
    for n in hook.notifications() {
        for a in n.body["alerts"].as_array().into_iter().flatten() {
            assert_eq!(a["labels"]["region"], "europe", "only Europe alerts: {a}");
            assert_eq!(a["labels"]["resource"], "traffic", "{a}");
        }
    }
    am.stop();
}

/// Not yet started: a pool kept alive only by a package starting in 2 days is not
/// forecast to run dry, and that package is not "expiring" before it
/// starts; the same pool without it is forecast to run dry.
#[test]
fn a_package_bought_ahead_keeps_the_forecast_quiet() {
    let pool = |ahead: bool| {
        let mut s = SimState::new(SECRET_ID, SECRET_KEY, Utc::now());
        s.settlement = Settlement::IMMEDIATE;
        // 60 GB left at 250 kB/s: dry in about 2.8 days, within 3.
        let now = package(&mut s, 100 * GB, 40 * GB, 10, 365);
        s.packages = vec![now];
        if ahead {
            // Starts in 2 days, valid 3: 5 days out, with 1 TB unused.
            let start = Utc::now() + TimeDelta::days(2);
            let id = s.next_package_id();
            s.packages.push(SimPackage::new(
                id,
                1000 * GB,
                0,
                start,
                Duration::from_secs(3 * 86_400),
            ));
        }
        s.drain_bytes_per_second = 250e3;
        Sim::start(s)
    };
    let (with, without) = (pool(true), pool(false));
    let dir = tempfile::tempdir().unwrap();
    let addr = loopback_addr();
    let body = format!(
        "schedule = \"* * * * * *\"\nlisten = \"{addr}\"\n{}{}",
        account_toml("with", &with.sim.endpoint_v3(), "api = \"v3\""),
        account_toml("without", &without.sim.endpoint_v3(), "api = \"v3\"")
    );
    let d = Daemon::start(&write_config(dir.path(), &body), &addr);
    let forecast = |m: &str, account: &str| {
        metric(
            m,
            "cdnquota_alert_firing",
            &format!("account=\"{account}\",alert=\"DepletionForecast\",region=\"mainland\""),
        )
    };
    d.wait_for(
        "DepletionForecast for the account without",
        Duration::from_secs(20),
        || forecast(&d.metrics(), "without") == Some(1.0),
    );
    // Three polls more for the other.
    std::thread::sleep(Duration::from_secs(3));
    let m = d.metrics();
    assert_eq!(forecast(&m, "with"), None, "{m}");
    let upcoming = with.state().packages[1].id.to_string();
    // API 3.0 titles a package by its Type.
    let title = "日常流量包";
    let labels = format!("account=\"with\",package_id=\"{upcoming}\",region=\"mainland\",title=\"{title}\"");
    assert_eq!(metric(&m, "cdnquota_package_usable", &labels), Some(0.0), "{m}");
    let starts = metric(&m, "cdnquota_package_enable_timestamp_seconds", &labels).expect("its start");
    assert!(starts > Utc::now().timestamp() as f64 + 86_400.0, "{starts}");
    assert!(!m.contains("alert=\"PackageExpiringSoon\""), "{m}");
    let page = http_get(&addr, "/").unwrap().1;
    assert!(
        page.contains(&format!("Not started yet: {title} ({upcoming})")),
        "{page}"
    );
}

/// Pay type: billing by bandwidth fires PackagesNotDeducting once, and it resolves
/// once the account is billed by traffic again (read at the next start); a
/// key that may not ask alerts nothing and says so in one line.
#[test]
fn bandwidth_billing_fires_packages_not_deducting_once() {
    if !smtp_server_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let smtp = SmtpServer::start(dir.path(), free_port(), None);
    let mut s = SimState::new(SECRET_ID, SECRET_KEY, Utc::now());
    s.packages = vec![package(&mut s, 1000 * GB, 100 * GB, 10, 365)];
    s.pay_types.insert(
        ("mainland".into(), "flux".into()),
        SimPayType::new("bandwidth", "month"),
    );
    let sim = Sim::start(s);
    let extra = email_toml(smtp.port, "");
    let mut d = v3_daemon(&sim, dir.path(), &extra, "");
    d.wait_for("PackagesNotDeducting", Duration::from_secs(15), || {
        firing(&d.metrics(), "PackagesNotDeducting", "mainland")
    });
    std::thread::sleep(Duration::from_secs(3));
    let m = d.metrics();
    assert_eq!(
        metric(
            &m,
            "cdnquota_account_pay_type_info",
            "account=\"main\",area=\"mainland\",pay_type=\"bandwidth\",resource=\"traffic\""
        ),
        Some(1.0),
        "{m}"
    );
    let about = |subjects: &[String]| {
        subjects
            .iter()
            .filter(|s| s.contains("packages are not deducting") || s.contains("packages deduct again"))
            .cloned()
            .collect::<Vec<_>>()
    };
    assert!(
        wait_until(Duration::from_secs(10), || about(&smtp.subjects()).len() == 1),
        "{:?}",
        smtp.subjects()
    );
    assert_eq!(
        sim.state().arrived("DescribePayType"),
        3,
        "asked once each for mainland, overseas and HTTPS"
    );
    assert_eq!(d.terminate().code(), Some(0));
    sim.state()
        .pay_types
        .insert(("mainland".into(), "flux".into()), SimPayType::new("flux", "hour"));
    let d = Daemon::start(&dir.path().join("cdnquota.toml"), &d.addr);
    d.wait_for("the pay type read again", Duration::from_secs(15), || {
        metric(
            &d.metrics(),
            "cdnquota_account_pay_type_info",
            "account=\"main\",area=\"mainland\",pay_type=\"flux\",resource=\"traffic\"",
        ) == Some(1.0)
    });
    assert!(
        wait_until(Duration::from_secs(15), || about(&smtp.subjects()).len() == 2),
        "{:?}",
        smtp.subjects()
    );
    let subjects = about(&smtp.subjects());
    assert!(
        subjects[0].starts_with("[WARNING] main: packages are not deducting"),
        "{subjects:?}"
    );
    assert!(
        subjects[1].starts_with("[RESOLVED] main: packages deduct again"),
        "{subjects:?}"
    );
    assert!(!firing(&d.metrics(), "PackagesNotDeducting", "mainland"));

    // A key that may not ask: nothing fires, one line says why.
    let dir = tempfile::tempdir().unwrap();
    let mut s = SimState::new(SECRET_ID, SECRET_KEY, Utc::now());
    s.packages = vec![package(&mut s, 1000 * GB, 100 * GB, 10, 365)];
    s.pay_type_refused = Some("UnauthorizedOperation.CdnCamUnauthorized".into());
    let sim = Sim::start(s);
    let d = v3_daemon(&sim, dir.path(), "", "");
    d.wait_for("five polls", Duration::from_secs(15), || {
        sim.state().arrived("DescribeTrafficPackages") >= 5
    });
    let log = d.log();
    assert_eq!(log.matches("DescribePayType is not available").count(), 1, "{log}");
    assert_eq!(
        sim.state().arrived("DescribePayType"),
        3,
        "each area asked once, never again"
    );
    assert!(!d.metrics().contains("PackagesNotDeducting"), "{}", d.metrics());
    assert!(
        !d.metrics().contains("cdnquota_account_pay_type_info{"),
        "{}",
        d.metrics()
    );
}

/// HTTPS requests: an HTTPS request pool running dry fires HttpsDepletionForecast, with
/// its metrics and perfdata in requests.
#[test]
fn an_https_request_pool_running_dry_fires_its_own_forecast() {
    let mut s = SimState::new(SECRET_ID, SECRET_KEY, Utc::now());
    s.settlement = Settlement::IMMEDIATE;
    let traffic = package(&mut s, 1000 * GB, 0, 10, 365);
    // 10 million requests, 9.5 million used, 1,000 a second: dry in 8 min.
    let mut https = package(&mut s, 10_000_000, 9_500_000, 10, 365);
    https.https = true;
    s.packages = vec![traffic, https];
    s.https_requests = Some(Flow::Flat(1000.0));
    let sim = Sim::start(s);
    let dir = tempfile::tempdir().unwrap();
    let d = v3_daemon(&sim, dir.path(), "", "");
    d.wait_for("HttpsDepletionForecast", Duration::from_secs(20), || {
        firing(&d.metrics(), "HttpsDepletionForecast", "global")
    });
    let m = d.metrics();
    let left = metric(
        &m,
        "cdnquota_https_pool_remaining_requests",
        "account=\"main\",region=\"global\"",
    )
    .expect("requests left");
    assert!(left > 0.0 && left < 500_000.0, "{left}");
    assert_eq!(
        metric(
            &m,
            "cdnquota_https_pool_size_requests",
            "account=\"main\",region=\"global\""
        ),
        Some(10_000_000.0)
    );
    let dry = metric(
        &m,
        "cdnquota_https_pool_depletion_timestamp_seconds",
        "account=\"main\",region=\"global\"",
    )
    .expect("a run-dry time");
    assert!(dry < (Utc::now() + TimeDelta::hours(1)).timestamp() as f64, "{dry}");
    assert!(firing(&m, "HttpsPoolLow", "global"), "5 % left: {m}");
    assert!(
        !m.contains("cdnquota_pool_remaining_bytes{account=\"main\",region=\"global\"}"),
        "{m}"
    );
    // `check` reads the daemon's history: perfdata in requests.
    let out = run_to_end(&["check", "-c", dir.path().join("cdnquota.toml").to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    let first = text.lines().next().unwrap_or_default();
    assert!(first.contains("'main/https_global_remaining'="), "{first}");
    let remaining = first
        .split("'main/https_global_remaining'=")
        .nth(1)
        .and_then(|v| v.split(';').next())
        .unwrap_or_default();
    assert!(remaining.parse::<u64>().is_ok(), "a count without a unit: {remaining}");
    assert!(first.contains("'main/https_global_dry_in'="), "{first}");
    assert!(text.contains("HttpsDepletionForecast"), "{text}");
    assert!(text.contains(" requests left"), "{text}");
}

/// Restart, and a damaged file: every pool's history survives a restart, so the first poll
/// after it has every pool's rate; a damaged history file costs only its
/// own pool.
#[test]
fn each_pools_history_survives_a_restart_and_a_damaged_file_costs_only_its_pool() {
    let mut s = two_regions(1e6);
    s.drain_bytes_per_second = 2e6;
    let mut https = package(&mut s, 100_000_000, 0, 10, 365);
    https.https = true;
    s.packages.push(https);
    s.https_requests = Some(Flow::Flat(500.0));
    let sim = Sim::start(s);
    let dir = tempfile::tempdir().unwrap();
    let mut d = v3_daemon(&sim, dir.path(), "", "");
    let rate = |m: &str, region: &str| {
        metric(
            m,
            "cdnquota_pool_consumption_bytes_per_second",
            &format!("account=\"main\",region=\"{region}\""),
        )
    };
    let https_dry = |m: &str| {
        metric(
            m,
            "cdnquota_https_pool_depletion_timestamp_seconds",
            "account=\"main\",region=\"global\"",
        )
    };
    d.wait_for("every pool's rate", Duration::from_secs(20), || {
        let m = d.metrics();
        rate(&m, "mainland").is_some_and(|r| r > 0.0)
            && rate(&m, "europe").is_some_and(|r| r > 0.0)
            && https_dry(&m).is_some()
    });
    assert_eq!(d.terminate().code(), Some(0));
    let history = dir.path().join("state/history");
    let mut files: Vec<String> = std::fs::read_dir(&history)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(files, ["main.json", "main@europe.json", "main@https_global.json"]);

    // 6. Restarted, with the schedule a minute apart: the first poll after
    // the restart has every pool's rate from the saved history.
    let config = dir.path().join("cdnquota.toml");
    let body = std::fs::read_to_string(&config)
        .unwrap()
        .replace("schedule = \"* * * * * *\"", "schedule = \"0 0 0 1 1 *\"");
    std::fs::write(&config, &body).unwrap();
    let polls = sim.state().arrived("DescribeTrafficPackages");
    let mut d = Daemon::start(&config, &d.addr);
    d.wait_for("the first poll after the restart", Duration::from_secs(10), || {
        metric(&d.metrics(), "cdnquota_poll_success", "account=\"main\"") == Some(1.0)
    });
    assert_eq!(sim.state().arrived("DescribeTrafficPackages"), polls + 1, "one poll");
    let m = d.metrics();
    assert!(rate(&m, "mainland").is_some_and(|r| r > 0.0), "{m}");
    assert!(rate(&m, "europe").is_some_and(|r| r > 0.0), "{m}");
    assert!(https_dry(&m).is_some(), "{m}");
    assert_eq!(d.terminate().code(), Some(0));

    // 7. Europe's file damaged: Europe starts afresh (its file moved
    // aside); mainland and HTTPS keep theirs. Then Europe's file missing:
    // the same.
    for damage in ["damaged", "missing"] {
        let europe_file = history.join("main@europe.json");
        match damage {
            "damaged" => std::fs::write(&europe_file, b"{\"recent\": [tru").unwrap(),
            _ => std::fs::remove_file(&europe_file).unwrap(),
        }
        let mut d = Daemon::start(&config, &d.addr);
        d.wait_for("the first poll after the damage", Duration::from_secs(10), || {
            metric(&d.metrics(), "cdnquota_poll_success", "account=\"main\"") == Some(1.0)
        });
        let m = d.metrics();
        assert_eq!(rate(&m, "europe"), None, "{damage}: Europe has no history: {m}");
        assert!(rate(&m, "mainland").is_some_and(|r| r > 0.0), "{damage}: {m}");
        assert!(https_dry(&m).is_some(), "{damage}: HTTPS keeps its history: {m}");
        assert!(
            metric(
                &m,
                "cdnquota_pool_remaining_bytes",
                "account=\"main\",region=\"europe\""
            )
            .is_some(),
            "{damage}: Europe's pool is still watched: {m}"
        );
        if damage == "damaged" {
            let log = d.log();
            assert!(
                log.contains("main@europe.json") && log.contains("the other pools keep theirs"),
                "{log}"
            );
            let aside = std::fs::read_dir(&history)
                .unwrap()
                .filter_map(|e| e.ok())
                .any(|e| e.file_name().to_string_lossy().starts_with("main@europe.json.corrupt-"));
            assert!(aside, "the damaged file is kept aside");
        }
        assert_eq!(d.terminate().code(), Some(0));
    }
}
