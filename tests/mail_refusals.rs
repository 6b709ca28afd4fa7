//! What a relay's refusal does to the alert mail. A refusal of the settings
//! (the login, the sender) keeps the mail queued, counted, shown and
//! retried, at once after a reload; only a refusal of the mail itself (too
//! big, a recipient unknown) drops it, and that shows too. Mail queued by
//! an earlier run is tried at start, not after its saved backoff. Each case
//! runs the real binary against the simulator and a misbehaving relay on
//! loopback.

mod common;

use common::bad_smtp::{BadSmtp, Misbehaviour};
use common::*;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A config polling every second with a pool that is low (PoolLow fires at
/// the second poll), mailing `port` with a login; `retry_backoff` is an
/// hour, so any attempt after the first within a test is not the backoff's.
fn config(dir: &Path, sim: &Sim, addr: &str, port: u16) -> PathBuf {
    let email = email_toml(port, "username = \"alerts\"\npassword = \"right-password\"")
        .replace("retry_backoff = \"1s\"", "retry_backoff = \"1h\"");
    let body = format!(
        "schedule = \"* * * * * *\"\nlisten = \"{addr}\"\n[alerts]\nrepeat_interval = \"24h\"\n{email}\n{}",
        account_toml("main", &sim.endpoint(), "")
    );
    write_config(dir, &body)
}

fn outcome(d: &Daemon, outcome: &str) -> f64 {
    metric(
        &d.metrics(),
        "cdnquota_notifications_total",
        &format!("outcome=\"{outcome}\""),
    )
    .unwrap_or(0.0)
}

fn wait(what: &str, d: &Daemon, f: impl FnMut() -> bool) {
    d.wait_for(what, Duration::from_secs(20), f);
}

/// The Message-IDs in the saved outbox.
fn queued(dir: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join("state/state.json")).unwrap_or_default();
    let state: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    state["outbox"]
        .as_array()
        .map(|o| {
            o.iter()
                .filter_map(|m| m["message_id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_refused_login_or_sender_keeps_the_mail_until_a_fixed_config_sends_it() {
    for how in [Misbehaviour::RefuseAuth, Misbehaviour::RefuseSender] {
        let dir = tempfile::tempdir().unwrap();
        let bad = BadSmtp::start(how);
        let good = BadSmtp::start(Misbehaviour::Accept);
        let sim = Sim::with_packages(&[(1000 * GB, 990 * GB)]);
        let a = loopback_addr();
        let cfg = config(dir.path(), &sim, &a, bad.port);
        let d = Daemon::start(&cfg, &a);
        wait("a failed delivery", &d, || outcome(&d, "failed") >= 1.0);
        let log = d.log();
        assert!(log.contains("stays in the outbox"), "{how:?}: {log}");
        assert!(!log.contains("dropped"), "{how:?}: {log}");
        assert_eq!(outcome(&d, "rejected"), 0.0, "{how:?}: {}", d.metrics());
        assert_eq!(metric(&d.metrics(), "cdnquota_outbox_pending", ""), Some(1.0));
        let held = queued(dir.path());
        assert_eq!(held.len(), 1, "{how:?}: {held:?}");
        let (_, page) = http_get(&a, "/").expect("the status page");
        assert!(
            page.contains("last delivery failure") && page.contains("failed attempt(s) since start"),
            "{how:?}: {page}"
        );
        assert!(
            page.contains(if matches!(how, Misbehaviour::RefuseAuth) {
                "535"
            } else {
                "553"
            }),
            "{page}"
        );

        // The operator fixes the settings (here: the relay) and reloads;
        // the backoff is an hour, so only the reload can send it now.
        let text = std::fs::read_to_string(&cfg)
            .unwrap()
            .replace(&format!("port = {}", bad.port), &format!("port = {}", good.port));
        std::fs::write(&cfg, text).unwrap();
        d.sighup();
        wait("the held mail sent after the reload", &d, || {
            !good.delivered().is_empty()
        });
        assert_eq!(good.delivered(), held, "{how:?}: the same mail, once");
        wait("an empty outbox", &d, || queued(dir.path()).is_empty());
    }
}

#[test]
fn a_refusal_of_the_mail_itself_drops_it_and_says_why() {
    for (how, code) in [(Misbehaviour::TooBig, "552"), (Misbehaviour::RefuseRecipient, "550")] {
        let dir = tempfile::tempdir().unwrap();
        let bad = BadSmtp::start(how);
        let sim = Sim::with_packages(&[(1000 * GB, 990 * GB)]);
        let a = loopback_addr();
        let d = Daemon::start(&config(dir.path(), &sim, &a, bad.port), &a);
        wait("a refusal", &d, || outcome(&d, "rejected") >= 1.0);
        assert_eq!(outcome(&d, "failed"), 0.0, "{how:?}: {}", d.metrics());
        wait("an empty outbox", &d, || queued(dir.path()).is_empty());
        let log = d.log();
        assert!(log.contains("it is dropped") && log.contains(code), "{how:?}: {log}");
        let (_, page) = http_get(&a, "/").expect("the status page");
        assert!(
            page.contains("id=\"dropped\"") && page.contains("[WARNING] main") && page.contains(code),
            "{how:?}: {page}"
        );
        assert_eq!(bad.connections(), 1, "{how:?}: not retried");
    }
}

#[test]
fn mail_queued_by_the_last_run_is_tried_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let sim = Sim::with_packages(&[(1000 * GB, 990 * GB)]);
    let a = loopback_addr();
    // No relay yet: the first attempt fails and the next waits an hour.
    let port = free_port();
    let cfg = config(dir.path(), &sim, &a, port);
    let mut d = Daemon::start(&cfg, &a);
    wait("a failed delivery", &d, || outcome(&d, "failed") >= 1.0);
    d.terminate();
    let held = queued(dir.path());
    assert_eq!(held.len(), 1, "{held:?}");

    let good = BadSmtp::start_on(port, Misbehaviour::Accept);
    let d = Daemon::start(&cfg, &a);
    wait("the queued mail at start", &d, || !good.delivered().is_empty());
    assert_eq!(good.delivered(), held);
}
