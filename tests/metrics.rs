//! `/metrics` as a scraper sees it: gzip negotiation and the exact headers,
//! the exposition matching the simulated accounts sample for sample, one
//! family block per metric across accounts, and which packages have series
//! (vanished ones never, long-expired ones as `[metrics]` says).

mod common;

use cdnquota_sim::state::{SimPackage, SimState};
use chrono::{DateTime, TimeDelta, Utc};
use common::*;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

const DAY: u64 = 86_400;

/// A response: status, headers (lower-case names), body.
struct Response {
    status: u16,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

/// One HTTP/1.1 request with `Connection: close`, read to the end.
fn request(addr: &str, method: &str, path: &str, headers: &[&str]) -> Response {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for h in headers {
        head.push_str(h);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("a header block");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Response {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}

/// gzip with one member only (flate2's GzDecoder stops after the first):
/// what any client can read.
fn gunzip(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(body)
        .read_to_end(&mut out)
        .expect("valid gzip");
    out
}

/// A package valid from `from_days` (negative: in the past) for `days`.
fn package(s: &mut SimState, size: u64, used: u64, from_days: i64, days: u64, now: DateTime<Utc>) -> String {
    let id = s.next_package_id();
    s.packages.push(SimPackage::new(
        id,
        size,
        used,
        now + TimeDelta::days(from_days),
        Duration::from_secs(days * DAY),
    ));
    id.to_string()
}

/// A daemon polling once (its schedule never fires again), so every scrape
/// sees the same values.
fn daemon_polling_once(dir: &std::path::Path, accounts: &str, top: &str) -> Daemon {
    let addr = format!("127.0.0.1:{}", free_port());
    let body = format!("schedule = \"0 0 0 1 1 *\"\nlisten = \"{addr}\"\n{top}\n{accounts}");
    let d = Daemon::start(&write_config(dir, &body), &addr);
    assert!(
        wait_until(Duration::from_secs(10), || http_get(&d.addr, "/readyz").map(|r| r.0)
            == Some(200)),
        "{}",
        d.log()
    );
    d
}

#[test]
fn gzip_is_sent_when_asked_for_with_exact_headers_and_head_works() {
    let sim = Sim::with_packages(&[(1000 * GB, 100 * GB), (50 * GB, 0)]);
    let dir = tempfile::tempdir().unwrap();
    let d = daemon_polling_once(dir.path(), &account_toml("main", &sim.endpoint(), ""), "");
    let text = request(&d.addr, "GET", "/metrics", &[]);
    assert_eq!(text.status, 200);
    assert_eq!(
        text.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    assert_eq!(text.header("vary"), Some("Accept-Encoding"));
    assert_eq!(text.header("content-encoding"), None);
    assert_eq!(
        text.header("content-length"),
        Some(text.body.len().to_string().as_str())
    );
    assert!(String::from_utf8_lossy(&text.body).contains("cdnquota_package_size_bytes{"));

    let gzip = request(&d.addr, "GET", "/metrics", &["Accept-Encoding: gzip, deflate"]);
    assert_eq!(gzip.status, 200);
    assert_eq!(gzip.header("content-encoding"), Some("gzip"));
    assert_eq!(gzip.header("vary"), Some("Accept-Encoding"));
    assert_eq!(gzip.header("content-type"), text.header("content-type"));
    assert_eq!(
        gzip.header("content-length"),
        Some(gzip.body.len().to_string().as_str())
    );
    assert_eq!(gunzip(&gzip.body), text.body, "the gzip body is the text body");
    assert!(
        gzip.body.len() < text.body.len(),
        "{} vs {}",
        gzip.body.len(),
        text.body.len()
    );

    for (accept, gzipped) in [
        ("Accept-Encoding: gzip;q=0", false),
        ("Accept-Encoding: identity", false),
        ("Accept-Encoding: br", false),
        ("Accept-Encoding: *", true),
        ("Accept-Encoding: x-gzip;q=0.8, identity;q=0.5", true),
    ] {
        let r = request(&d.addr, "GET", "/metrics", &[accept]);
        assert_eq!(r.header("content-encoding").is_some(), gzipped, "{accept}");
        let body = if gzipped { gunzip(&r.body) } else { r.body };
        assert_eq!(body, text.body, "{accept}");
    }

    for (accept, like) in [(None, &text), (Some("Accept-Encoding: gzip"), &gzip)] {
        let head = request(&d.addr, "HEAD", "/metrics", accept.as_slice());
        assert_eq!(head.status, 200);
        assert!(head.body.is_empty(), "HEAD has no body");
        for name in ["content-type", "content-encoding", "content-length", "vary"] {
            assert_eq!(head.header(name), like.header(name), "HEAD {name} ({accept:?})");
        }
    }
    let other = request(&d.addr, "HEAD", "/healthz", &[]);
    assert_eq!((other.status, other.header("content-length")), (200, Some("3")));
}

/// The sample `name{labels}` of `text`, if present.
fn sample(text: &str, name: &str, labels: &str) -> Option<f64> {
    metric(text, name, labels)
}

/// Checks the text format's structure: one TYPE and HELP per family, before
/// its samples, and all samples of a family together.
fn check_families(text: &str) -> BTreeSet<String> {
    let mut done = BTreeSet::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let name = rest.split_whitespace().next().unwrap().to_string();
            assert!(done.insert(name.clone()), "second TYPE for {name}");
            current = Some(name);
        } else if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split_whitespace().next().unwrap();
            assert!(!done.contains(name), "HELP for {name} after its TYPE or twice");
        } else if !line.is_empty() {
            let name = line.split(['{', ' ']).next().unwrap();
            let family = current.as_deref().unwrap_or_default();
            assert!(
                name == family || name.strip_suffix("_total") == Some(family) || name.starts_with(family),
                "sample {name} outside its family block (in {family})"
            );
        }
    }
    done
}

fn promtool_check(text: &str) {
    if Command::new("promtool").arg("--version").output().is_err() {
        assert!(std::env::var_os("CI").is_none(), "CI is set but promtool is missing");
        eprintln!("SKIPPED: promtool is not installed");
        return;
    }
    let mut check = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    check.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
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
}

#[test]
fn the_exposition_says_what_the_accounts_hold() {
    let now = Utc::now();
    let mut a = SimState::new(SECRET_ID, SECRET_KEY, now);
    let big = package(&mut a, 1000 * GB, 100 * GB, -10, 365, now);
    let small = package(&mut a, 50 * GB, 0, -10, 365, now);
    let future = package(&mut a, 200 * GB, 0, 5, 365, now);
    let recent = package(&mut a, 100 * GB, 30 * GB, -40, 30, now); // expired 10 days ago
    let old = package(&mut a, 100 * GB, 100 * GB, -400, 30, now); // expired 370 days ago
    let sim_a = Sim::start(a);
    let sim_b = Sim::with_packages(&[(500 * GB, GB)]);
    let (b_id, b_title) = {
        let s = sim_b.state();
        (s.packages[0].id.to_string(), s.packages[0].title.clone())
    };
    let dir = tempfile::tempdir().unwrap();
    let accounts = format!(
        "{}{}",
        account_toml("main", &sim_a.endpoint(), ""),
        account_toml("second", &sim_b.endpoint(), "")
    );
    let d = daemon_polling_once(dir.path(), &accounts, "");
    let text = String::from_utf8(request(&d.addr, "GET", "/metrics", &[]).body).unwrap();
    let families = check_families(&text);
    promtool_check(&text);
    for f in [
        "package_size_bytes",
        "package_used_bytes",
        "package_remaining_bytes",
        "package_enable_timestamp_seconds",
        "package_expiry_timestamp_seconds",
        "package_usable",
        "package_info",
        "pool_remaining_bytes",
        "pool_size_bytes",
        "pool_undeducted_bytes",
        "poll_success",
        "build_info",
    ] {
        assert!(families.contains(&format!("cdnquota_{f}")), "{f} missing: {families:?}");
    }
    // The process collector's families, unprefixed, as every client names them.
    for f in [
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_max_fds",
        "process_start_time_seconds",
    ] {
        assert!(families.contains(f), "{f} missing: {families:?}");
    }
    // The daemon inherits this process's soft limit on open files.
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
    let soft: f64 = limits
        .lines()
        .find_map(|l| l.strip_prefix("Max open files"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("a soft limit on open files");
    assert_eq!(metric(&text, "process_max_fds", ""), Some(soft), "{limits}");
    assert!(metric(&text, "process_open_fds", "").is_some_and(|n| n >= 3.0 && n < soft));
    // HELP says the values are from the last poll.
    for line in text
        .lines()
        .filter(|l| l.starts_with("# HELP cdnquota_package_") && !l.contains("_info "))
    {
        assert!(line.contains("the last successful poll"), "{line}");
    }

    let packages = sim_a.state().packages.clone();
    let find = |id: &str| packages.iter().find(|p| p.id.to_string() == id).unwrap().clone();
    for (id, usable) in [(&big, 1.0), (&small, 1.0), (&future, 0.0), (&recent, 0.0)] {
        let p = find(id);
        let labels = format!(
            "account=\"main\",package_id=\"{id}\",region=\"mainland\",title=\"{}\"",
            p.title
        );
        let value = |name: &str| sample(&text, &format!("cdnquota_package_{name}"), &labels);
        assert_eq!(value("size_bytes"), Some(p.size_bytes as f64), "{id}");
        assert_eq!(value("used_bytes"), Some(p.used_bytes), "{id}");
        assert_eq!(
            value("remaining_bytes"),
            Some(p.size_bytes as f64 - p.used_bytes),
            "{id}"
        );
        assert_eq!(value("usable"), Some(usable), "{id}");
        assert_eq!(
            value("enable_timestamp_seconds"),
            Some(p.enabled_at.timestamp() as f64),
            "{id}"
        );
        assert_eq!(
            value("expiry_timestamp_seconds"),
            Some(p.expires_at.timestamp() as f64),
            "{id}"
        );
        assert!(
            text.contains(&format!(
                "package_id=\"{id}\",package_type=\"\",region=\"mainland\",resource=\"traffic\",status=\"\",title=\"{}\"}} 1",
                p.title
            )),
            "{id}"
        );
    }
    // Expired over 30 days ago: no series at all; the totals are unchanged.
    assert!(
        !text.contains(&format!("package_id=\"{old}\"")),
        "{old} has series:\n{text}"
    );
    assert_eq!(
        sample(
            &text,
            "cdnquota_pool_size_bytes",
            "account=\"main\",region=\"mainland\""
        ),
        Some((1050 * GB) as f64)
    );
    assert_eq!(
        sample(
            &text,
            "cdnquota_pool_remaining_bytes",
            "account=\"main\",region=\"mainland\""
        ),
        Some((950 * GB) as f64)
    );
    // The second account is in the same family blocks.
    let labels = format!("account=\"second\",package_id=\"{b_id}\",region=\"mainland\",title=\"{b_title}\"");
    assert_eq!(
        sample(&text, "cdnquota_package_used_bytes", &labels),
        Some(GB as f64),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "cdnquota_pool_remaining_bytes",
            "account=\"second\",region=\"mainland\""
        ),
        Some((499 * GB) as f64)
    );
    // The status page leaves the long-expired package out too, and says so.
    let page = http_get(&d.addr, "/").unwrap().1;
    assert!(page.contains(&big) && !page.contains(&old), "{page}");
    assert!(page.contains("1 expired long ago"), "{page}");
}

#[test]
fn expired_series_follow_the_setting() {
    let now = Utc::now();
    let mut s = SimState::new(SECRET_ID, SECRET_KEY, now);
    let live = package(&mut s, 100 * GB, 0, -1, 365, now);
    let recent = package(&mut s, 100 * GB, 0, -40, 30, now);
    let old = package(&mut s, 100 * GB, 0, -400, 30, now);
    let sim = Sim::start(s);
    let has = |text: &str, id: &str| {
        text.contains(&format!(
            "cdnquota_package_size_bytes{{account=\"main\",package_id=\"{id}\""
        ))
    };
    for (setting, expect) in [
        ("", [true, true, false]),
        ("[metrics]\nexpired_package_series = \"all\"", [true, true, true]),
        ("[metrics]\nexpired_package_series = \"0s\"", [true, false, false]),
        ("[metrics]\nexpired_package_series = \"400d\"", [true, true, true]),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let d = daemon_polling_once(dir.path(), &account_toml("main", &sim.endpoint(), ""), setting);
        let text = d.metrics();
        assert_eq!(
            [has(&text, &live), has(&text, &recent), has(&text, &old)],
            expect,
            "{setting}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let bad = write_config(
        dir.path(),
        &format!(
            "[metrics]\nexpired_package_series = \"soon\"\n{}",
            account_toml("main", &sim.endpoint(), "")
        ),
    );
    let out = run_to_end(&["config", "-c", bad.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("expired_package_series") && err.contains("\"all\""),
        "{err}"
    );
}

#[test]
fn a_package_no_longer_listed_loses_its_series() {
    let sim = Sim::with_packages(&[(1000 * GB, 0), (50 * GB, 0)]);
    let (kept, gone) = {
        let s = sim.state();
        (s.packages[0].id.to_string(), s.packages[1].id.to_string())
    };
    let dir = tempfile::tempdir().unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let body = format!(
        "schedule = \"* * * * * *\"\nlisten = \"{addr}\"\n{}",
        account_toml("main", &sim.endpoint(), "")
    );
    let d = Daemon::start(&write_config(dir.path(), &body), &addr);
    let listed = |id: &str| d.metrics().contains(&format!("package_id=\"{id}\""));
    assert!(wait_until(Duration::from_secs(10), || listed(&gone)), "{}", d.log());
    sim.state().packages.retain(|p| p.id.to_string() != gone);
    assert!(
        wait_until(Duration::from_secs(10), || !listed(&gone)),
        "{}",
        d.metrics()
    );
    assert!(listed(&kept));
    let gzip = gunzip(&request(&d.addr, "GET", "/metrics", &["Accept-Encoding: gzip"]).body);
    assert!(!String::from_utf8_lossy(&gzip).contains(&format!("package_id=\"{gone}\"")));
}
