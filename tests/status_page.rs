//! The status page in a real browser: headless Chromium (Debian's
//! `chromium`) loads it from a daemon watching the simulator, at three
//! moments of a draining pool (plenty left, low, exhausted). Each moment
//! checks the title, the banner, the account's state, the chart, the
//! package states, that no console message appeared (the page has no script,
//! so any would be a blocked injection or a failed load), and that a package
//! title full of HTML and script stays text. The screenshots are kept in
//! `target/status-page-screenshots/` for CI to collect.

mod common;

use cdnquota_core::history::PoolHistory;
use cdnquota_core::ledger::{Ledger, LedgerEntry, OrderState};
use cdnquota_sim::state::SimPackage;
use chrono::{TimeDelta, Utc};
use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The title an attacker would give a package.
const HOSTILE_TITLE: &str = "<script>alert(1)</script><img src=x onerror=alert(2)>";
/// A long title in Chinese, as Tencent's console names packages.
const CJK_TITLE: &str = "日常流量包（中国大陆通用，按月结算）全国 CDN 加速流量包 1TB 超长名称用于检查换行是否正常";

/// Where the screenshots go: `target/status-page-screenshots/`, beside the
/// binary's build folder, so CI keeps them as artifacts.
fn screenshot_dir() -> PathBuf {
    let binary = Path::new(env!("CARGO_BIN_EXE_cdnquota"));
    // target/<profile>/cdnquota -> target/
    let target = binary
        .parent()
        .and_then(Path::parent)
        .expect("the binary sits in target/<profile>/");
    let dir = target.join("status-page-screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot folder");
    dir
}

/// What one Chromium run printed.
struct Browser {
    stdout: String,
    stderr: String,
}

impl Browser {
    /// The console messages of the page: Chromium logs each as
    /// `INFO:CONSOLE(...)] "message", source: ...` with `--enable-logging`.
    fn console(&self) -> Vec<&str> {
        self.stderr.lines().filter(|l| l.contains(":CONSOLE")).collect()
    }
}

/// Runs headless Chromium on `url` with `action` (`--dump-dom` or
/// `--screenshot=PATH`) and a fresh profile, bounded in time. A page that
/// opened an alert dialog would never finish loading: it is killed at the
/// deadline and the test fails saying so.
fn chromium(action: &str, url: &str) -> Browser {
    let profile = tempfile::tempdir().expect("a profile folder");
    let mut child = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-quic",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1280,2000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(action)
        .arg(url)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("chromium starts");
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!(
                "chromium {action} did not finish within 60 s (a dialog opened by a script would hold it): {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().expect("output");
    assert!(
        out.status.success(),
        "chromium {action} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Browser {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The text of the first element with `id="ID"`, tags dropped.
fn text_of(dom: &str, id: &str) -> String {
    let start = dom
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id} in the page"));
    let open_end = start + dom[start..].find('>').unwrap_or(0) + 1;
    let tag = dom[..start].rsplit('<').next().unwrap_or_default();
    let name = tag.split_whitespace().next().unwrap_or_default();
    let close = dom[open_end..]
        .find(&format!("</{name}>"))
        .map_or(dom.len(), |i| open_end + i);
    let mut text = String::new();
    let mut inside = false;
    for c in dom[open_end..close].chars() {
        match c {
            '<' => inside = true,
            '>' => inside = false,
            c if !inside => text.push(c),
            _ => {}
        }
    }
    text
}

/// The `<title>` of a page.
fn title_of(html: &str) -> String {
    html.split("<title>")
        .nth(1)
        .and_then(|t| t.split("</title>").next())
        .unwrap_or_default()
        .to_string()
}

/// A history for the chart: ten days from 1 TB down to 900 GB, hour by hour.
fn ten_days_of_history(state_dir: &Path) {
    let mut history = PoolHistory::new();
    let now = Utc::now().timestamp();
    let hour = now - now.rem_euclid(3600);
    for h in (1..=240i64).rev() {
        let left = 900 * GB + (h as u64) * 100 * GB / 240;
        history.remaining.push_back((hour - h * 3600, left));
    }
    let dir = state_dir.join("history");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("main.json"), serde_json::to_vec(&history).unwrap()).unwrap();
}

/// A ledger with one order of `main`, placed an hour ago and not yet paid.
fn a_placed_order(state_dir: &Path) {
    let ledger = Ledger {
        entries: vec![LedgerEntry {
            id: "ord-20260601T000000Z-main-0001".into(),
            account: "main".into(),
            unit_gb: 100,
            number: 1,
            by_hand: true,
            reason: "test".into(),
            intent_at: Utc::now() - TimeDelta::hours(1),
            known_packages: vec![],
            notified: true,
            state: OrderState::Placed {
                order_ids: vec!["20260601000001".into()],
                placed_at: Utc::now() - TimeDelta::hours(1),
            },
        }],
    };
    std::fs::write(state_dir.join("orders.json"), serde_json::to_vec(&ledger).unwrap()).unwrap();
}

/// Waits until the page (read over plain HTTP) satisfies `ready`.
fn page_when(daemon: &Daemon, what: &str, ready: impl Fn(&str) -> bool) -> String {
    let mut last = String::new();
    let ok = wait_until(Duration::from_secs(30), || {
        last = http_get(&daemon.addr, "/").map(|(_, b)| b).unwrap_or_default();
        ready(&last)
    });
    assert!(
        ok,
        "the page never showed {what}; last title {:?}; log:\n{}",
        title_of(&last),
        daemon.log()
    );
    last
}

/// One moment: the DOM as Chromium built it, checked, and a screenshot.
fn look(daemon: &Daemon, moment: &str) -> String {
    let url = format!("http://{}/", daemon.addr);
    let dom = chromium("--dump-dom", &url);
    assert!(
        dom.console().is_empty(),
        "{moment}: console messages: {:#?}",
        dom.console()
    );
    let html = dom.stdout;
    // The hostile title is text: the browser made no element of it.
    assert!(!html.contains("<script"), "{moment}: a script element in the page");
    assert!(!html.contains("<img"), "{moment}: an img element in the page");
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;"),
        "{moment}: the hostile title is not shown as text"
    );
    assert!(
        html.contains(CJK_TITLE),
        "{moment}: the Chinese title is not shown whole"
    );
    // The chart: history and axes.
    assert!(html.contains("<svg class=\"chart\""), "{moment}: no chart");
    assert!(
        html.contains("<polyline class=\"history\""),
        "{moment}: no history line"
    );
    let path = screenshot_dir().join(format!("{moment}.png"));
    let shot = chromium(&format!("--screenshot={}", path.display()), &url);
    assert!(
        shot.console().is_empty(),
        "{moment}: console messages: {:#?}",
        shot.console()
    );
    let png = std::fs::read(&path).expect("the screenshot was written");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "{moment}: not a real screenshot"
    );
    html
}

/// A draining account with a Chinese and a hostile package title, ten
/// days of history and a placed order, watched by a daemon polling every
/// second.
struct Scene {
    sim: Sim,
    daemon: Daemon,
    _dir: tempfile::TempDir,
}

fn scene() -> Scene {
    let now = Utc::now();
    let mut state = state_with(&[]);
    let mut main = SimPackage::new(
        state.next_package_id(),
        1000 * GB,
        100 * GB,
        now - TimeDelta::days(10),
        Duration::from_secs(60 * 86_400),
    );
    main.title = CJK_TITLE.into();
    let mut hostile = SimPackage::new(
        state.next_package_id(),
        10 * GB,
        10 * GB,
        now - TimeDelta::days(10),
        Duration::from_secs(365 * 86_400),
    );
    hostile.title = HOSTILE_TITLE.into();
    state.packages = vec![main, hostile];
    // 1 MB/s: 900 GB last ten days, well past the 3-day forecast threshold.
    state.drain_bytes_per_second = 1e6;
    state.settlement = cdnquota_sim::settle::Settlement::IMMEDIATE;
    let sim = Sim::start(state);

    let dir = tempfile::tempdir().unwrap();
    let state_dir = dir.path().join("state");
    ten_days_of_history(&state_dir);
    a_placed_order(&state_dir);
    let addr = format!("127.0.0.1:{}", free_port());
    let config = write_config(
        dir.path(),
        &format!(
            "listen = \"{addr}\"\nschedule = \"* * * * * *\"\n{}",
            account_toml("main", &sim.endpoint(), "")
        ),
    );
    let daemon = Daemon::start(&config, &addr);
    Scene { sim, daemon, _dir: dir }
}

#[test]
fn the_page_as_served_escapes_every_title_and_carries_the_state() {
    // Every field bound, the folder first: dropped last, after the daemon.
    let Scene {
        _dir,
        sim: _sim,
        daemon,
    } = scene();
    let html = page_when(&daemon, "OK", |p| title_of(p) == "OK · cdnquota");
    assert!(
        html.contains("<meta http-equiv=\"refresh\" content=\"30\">"),
        "it reloads itself"
    );
    assert!(
        html.contains("Content-Security-Policy\" content=\"default-src 'none'"),
        "no script may run"
    );
    assert!(
        !html.contains("<script") && !html.contains("<img"),
        "the hostile title became markup"
    );
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;"));
    assert!(html.contains(CJK_TITLE));
    assert!(
        html.contains("<header id=\"banner\" class=\"banner state-ok\""),
        "the banner"
    );
    assert!(html.contains("<svg class=\"chart\""), "the chart");
}

#[test]
fn the_status_page_in_a_real_browser_while_the_pool_drains() {
    if !have("chromium") {
        return;
    }
    let Scene { _dir, sim, daemon } = scene();

    // Plenty left.
    page_when(&daemon, "OK with a forecast", |p| {
        title_of(p) == "OK · cdnquota" && p.contains("id=\"run-dry\"") && !p.contains("not forecast")
    });
    let html = look(&daemon, "1-plenty");
    assert_eq!(title_of(&html), "OK · cdnquota");
    let banner = text_of(&html, "banner");
    assert!(
        banner.starts_with("OK") && banner.contains("all 1 account(s) OK"),
        "{banner}"
    );
    assert!(
        html.contains("<meta http-equiv=\"refresh\" content=\"30\">"),
        "it reloads itself"
    );
    let account = text_of(&html, "account-main");
    assert!(account.contains("main OK"), "{account}");
    assert!(account.contains("left of 1.01 TB"), "{account}");
    assert!(
        text_of(&html, "run-dry").contains("in 10d"),
        "{}",
        text_of(&html, "run-dry")
    );
    // The package expiring in 49 days holds bytes now, but the pool runs
    // dry in 10: the forecast loses nothing, and the page says so rather
    // than show bytes that will be used.
    assert!(
        text_of(&html, "next-expiry").contains("all used before expiry"),
        "{}",
        text_of(&html, "next-expiry")
    );
    assert!(account.contains("none pending or firing"), "{account}");
    assert!(
        account.contains("placed 1h ago, waiting for payment: order id(s) 20260601000001"),
        "the ledger: {account}"
    );
    assert!(
        html.contains("<td class=\"package-state\">used up</td>"),
        "the empty package"
    );
    assert!(
        html.contains("<td class=\"package-state\">usable</td>"),
        "the main package"
    );
    assert!(
        text_of(&html, "outbox").contains("0 pending"),
        "{}",
        text_of(&html, "outbox")
    );

    // Low: 150 GB left, PoolLow fires at the second poll that sees it.
    sim.state().packages[0].used_bytes = 850.0 * GB as f64;
    page_when(&daemon, "PoolLow firing", |p| {
        title_of(p) == "WARNING · cdnquota" && p.contains("PoolLow</td><td>WARNING</td><td>firing")
    });
    let html = look(&daemon, "2-low");
    assert_eq!(title_of(&html), "WARNING · cdnquota");
    let banner = text_of(&html, "banner");
    assert!(banner.starts_with("WARNING") && banner.contains("main: "), "{banner}");
    assert!(banner.contains("PoolLow"), "{banner}");
    let account = text_of(&html, "account-main");
    assert!(
        account.contains("main WARNING") && account.contains("150 GB"),
        "{account}"
    );

    // Exhausted: nothing left, billed pay-as-you-go.
    sim.state().packages[0].used_bytes = 1000.0 * GB as f64;
    page_when(&daemon, "PoolExhausted firing", |p| {
        title_of(p) == "CRITICAL · cdnquota" && p.contains("PoolExhausted</td><td>CRITICAL</td><td>firing")
    });
    let html = look(&daemon, "3-exhausted");
    assert_eq!(title_of(&html), "CRITICAL · cdnquota");
    let banner = text_of(&html, "banner");
    assert!(
        banner.starts_with("CRITICAL") && banner.contains("PoolExhausted"),
        "{banner}"
    );
    assert!(
        text_of(&html, "run-dry").contains("now: nothing left"),
        "{}",
        text_of(&html, "run-dry")
    );
    assert!(
        !html.contains("<td class=\"package-state\">usable</td>"),
        "no package has bytes left"
    );
    assert!(
        text_of(&html, "next-expiry").contains("none"),
        "{}",
        text_of(&html, "next-expiry")
    );
}
