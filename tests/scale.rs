//! 10,000 accounts: `config`, `check` and `run` finish (within 60 s, the
//! helpers' bound) rather than hang. Each account's HTTP client used to read every system CA
//! certificate again, and the duplicate-name check was quadratic.
//!
//! The endpoints are https on a loopback port where nothing listens, so that
//! every client is a TLS client (the slow set-up) and every poll fails at
//! once, without any traffic leaving the machine.

mod common;

use common::*;

const ACCOUNTS: usize = 10_000;

/// A config of [`ACCOUNTS`] https accounts, one attempt each.
fn ten_thousand_accounts(dir: &std::path::Path, head: &str) -> std::path::PathBuf {
    let refused = format!("https://127.0.0.1:{}/v2/index.php", free_port());
    let mut body = head.to_string();
    for i in 0..ACCOUNTS {
        body.push_str(&account_toml(&format!("a{i}"), &refused, ""));
    }
    write_config(dir, &body)
}

#[test]
fn config_and_check_finish_with_ten_thousand_accounts() {
    let dir = tempfile::tempdir().unwrap();
    let path = ten_thousand_accounts(dir.path(), "");
    let config = path.to_str().unwrap();

    let out = run_to_end(&["config", "-c", config]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let shown = String::from_utf8_lossy(&out.stdout);
    assert_eq!(shown.matches("[[accounts]]").count(), ACCOUNTS);

    let out = run_to_end(&["check", "-c", config, "--timeout", "50s"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        stdout.lines().next().unwrap_or_default()
    );
    let status = stdout.lines().next().unwrap_or_default();
    assert!(
        status.starts_with("CDNQUOTA UNKNOWN - a0: GetPackage failed: "),
        "{status}"
    );
    assert!(status.ends_with("; 9995 more account(s), 0 of them OK"), "{status}");
    // Every account was polled, none given up for time.
    assert_eq!(stdout.matches(": UNKNOWN - GetPackage failed").count(), ACCOUNTS);
    assert!(!stdout.contains("timed out"), "{status}");
}

#[test]
fn the_daemon_serves_ten_thousand_accounts() {
    let dir = tempfile::tempdir().unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let path = ten_thousand_accounts(dir.path(), &format!("listen = \"{addr}\"\n"));
    // Not Daemon::start, which allows 10 s: the first round of 10,000 polls
    // shares the daemon's one thread with /healthz, and a busy CI machine
    // may need longer than that. 60 s, as for the other commands.
    let log = path.with_extension("log");
    let child = cdnquota(&["run", "-c", path.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let daemon = Daemon {
        child,
        addr: addr.clone(),
        log,
    };
    assert!(
        wait_until(std::time::Duration::from_secs(60), || http_get(&addr, "/healthz")
            .is_some()),
        "the daemon did not serve /healthz within 60 s; log:\n{}",
        daemon.log().lines().take(20).collect::<Vec<_>>().join("\n")
    );
    let (status, page) = http_get(&addr, "/").expect("the status page answers");
    assert_eq!(status, 200);
    assert!(
        page.contains(&format!("{} more account(s)", ACCOUNTS - 50)),
        "the rest are rows"
    );
    assert!(
        page.matches("<svg class=\"chart\"").count() <= 50,
        "charts for the first 50 only"
    );
    drop(daemon);
}
