//! High availability through Alertmanager, against the real one: a
//! two-node cluster of Debian's prometheus-alertmanager gossiping over
//! loopback, a webhook receiver counting what it notifies, and two cdnquota
//! replicas polling one simulator and pushing to both nodes. Also, without
//! the binary: what a push carries and how the queue outlives an outage and
//! a restart, and that two replicas configured to order place one order.

mod common;

use chrono::{DateTime, Utc};
use common::alertmanager::*;
use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The webhook's group keys: the cluster groups by account.
const MAIN: &str = "{}:{account=\"main\"}";
const SPARE: &str = "{}:{account=\"spare\"}";
const GROUPS: [&str; 2] = [MAIN, SPARE];

/// One `cdnquota run` with its own directory, state and port.
struct Replica {
    name: String,
    config: PathBuf,
    addr: String,
    daemon: Option<Daemon>,
}

impl Replica {
    /// Writes the replica's config: `body` gets the replica's name and
    /// listen address, as config management would fill them in.
    fn new(dir: &Path, name: &str, body: impl Fn(&str, &str) -> String) -> Replica {
        let home = dir.join(name);
        std::fs::create_dir_all(&home).unwrap();
        let addr = format!("127.0.0.1:{}", free_port());
        let config = write_config(&home, &body(name, &addr));
        Replica {
            name: name.to_string(),
            config,
            addr,
            daemon: None,
        }
    }

    fn start(&mut self) {
        self.daemon = Some(Daemon::start(&self.config, &self.addr));
    }

    fn d(&self) -> &Daemon {
        self.daemon.as_ref().expect("the replica runs")
    }

    fn metric(&self, name: &str, labels: &str) -> Option<f64> {
        metric(&self.d().metrics(), name, labels)
    }

    fn pending(&self, url: &str) -> Option<f64> {
        self.metric("cdnquota_alertmanager_queue_pending", &format!("url=\"{url}\""))
    }

    fn pushes(&self, url: &str, outcome: &str) -> f64 {
        self.metric(
            "cdnquota_alertmanager_pushes_total",
            &format!("outcome=\"{outcome}\",url=\"{url}\""),
        )
        .unwrap_or(0.0)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.config.with_extension("log")).unwrap_or_default()
    }
}

/// The config both replicas share, but for their name and address: both
/// accounts read the same simulated pool, thresholds without the burn-rate
/// forecast (each replica's rate history is its own, and would differ).
fn replica_body(sim: &Sim, urls: &[String], name: &str, addr: &str) -> String {
    let urls: Vec<String> = urls.iter().map(|u| format!("\"{u}\"")).collect();
    format!(
        "replica_name = \"{name}\"\nschedule = \"* * * * * *\"\nlisten = \"{addr}\"\n[thresholds]\ndepletion_within = \"0s\"\n[alerts]\nrepeat_interval = \"1h\"\n[alertmanager]\nurls = [{}]\nresend_interval = \"5s\"\nretry_backoff = \"500ms\"\ntimeout = \"2s\"\nexternal_url = \"http://{addr}/\"\nlabels = {{ team = \"cdn\" }}\n{}{}",
        urls.join(", "),
        // Generous: on a loaded machine a poll cut short by a 2 s timeout
        // would keep an alert firing and read as a duplicate notification.
        account_toml("main", &sim.endpoint(), "timeout = \"10s\"\nmax_attempts = 3"),
        account_toml("spare", &sim.endpoint(), "timeout = \"10s\"\nmax_attempts = 3")
    )
}

fn set_used(sim: &Sim, used: u64) {
    for p in sim.state().packages.iter_mut() {
        p.used_bytes = used as f64;
    }
}

/// Everything the webhook got, one line each, for failure messages.
fn transcript(hook: &Webhook) -> String {
    hook.notifications()
        .iter()
        .map(|n| format!("{} {} {:?} from {}", n.group_key, n.status, n.alerts(), n.external_url))
        .collect::<Vec<_>>()
        .join("\n")
}

fn logs(replicas: &[&Replica], cluster: &Cluster) -> String {
    let tail = |text: String| {
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    };
    let mut out = String::new();
    for r in replicas {
        out.push_str(&format!("--- {}\n{}\n", r.name, tail(r.log())));
    }
    for (i, n) in cluster.nodes.iter().enumerate() {
        out.push_str(&format!("--- am{}\n{}\n", i + 1, tail(n.log())));
    }
    out
}

/// Waits (bounded) until each group has `n` notifications of `status`.
fn wait_for_each_group(hook: &Webhook, status: &str, n: usize, what: &str, context: &dyn Fn() -> String) {
    assert!(
        wait_until(Duration::from_secs(30), || GROUPS
            .iter()
            .all(|g| hook.count(g, status) >= n)),
        "{what}: expected {n} {status} notification(s) per group; got:\n{}\n{}",
        transcript(hook),
        context()
    );
}

/// Lets several group intervals pass, then checks nothing more arrived.
fn assert_quiet(hook: &Webhook, total: usize, what: &str, context: &dyn Fn() -> String) {
    std::thread::sleep(Duration::from_secs(7));
    assert_eq!(
        hook.notifications().len(),
        total,
        "{what}: a notification more than expected:\n{}\n{}",
        transcript(hook),
        context()
    );
}

fn ends_at(n: &Notification) -> Vec<DateTime<Utc>> {
    n.body["alerts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["endsAt"].as_str())
        .filter_map(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
        .collect()
}

#[test]
fn two_replicas_behind_a_two_node_cluster_notify_each_group_once_through_kills_restarts_and_outages() {
    if !alertmanager_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let hook = Webhook::start();
    let mut cluster = Cluster::start(dir.path(), &hook);
    let urls = [cluster.nodes[0].url(), cluster.nodes[1].url()];
    // 150 GB left of 1 TB: PoolLow on both accounts, nothing else.
    let sim = Sim::with_packages(&[(1000 * GB, 850 * GB)]);
    let mut a = Replica::new(dir.path(), "replica-a", |n, addr| replica_body(&sim, &urls, n, addr));
    let mut b = Replica::new(dir.path(), "replica-b", |n, addr| replica_body(&sim, &urls, n, addr));
    a.start();
    b.start();
    let started = Instant::now();

    // 1. Both replicas push to both Alertmanagers; each group notifies once.
    wait_for_each_group(&hook, "firing", 1, "step 1", &|| logs(&[&a, &b], &cluster));
    assert_quiet(&hook, 2, "step 1", &|| logs(&[&a, &b], &cluster));
    for r in [&a, &b] {
        for url in &urls {
            assert!(r.pushes(url, "sent") >= 1.0, "{} pushed to {url}:\n{}", r.name, r.log());
        }
    }
    let first = hook.notifications();
    for n in &first {
        assert_eq!(n.alerts(), [("PoolLow".to_string(), "firing".to_string())], "{n:?}");
        let labels = &n.body["alerts"][0]["labels"];
        assert_eq!(labels["team"], "cdn");
        assert_eq!(labels["severity"], "warning");
        assert!(labels.get("replica").is_none(), "replicas push identical label sets");
        let annotations = &n.body["alerts"][0]["annotations"];
        assert_eq!(annotations["remaining_bytes"], "150000000000", "{annotations}");
    }
    for node in &cluster.nodes {
        let mut held = node.alerts();
        held.sort();
        assert_eq!(
            held,
            [("main".into(), "PoolLow".into()), ("spare".into(), "PoolLow".into())],
            "four pushers, two alerts"
        );
    }
    let after_step_1 = hook.notifications().len();

    // 2. SIGKILL one replica; the other resolves it, once per group.
    a.daemon.as_mut().unwrap().kill_hard();
    let resolved_at = Utc::now();
    set_used(&sim, 0);
    wait_for_each_group(&hook, "resolved", 1, "step 2", &|| logs(&[&b], &cluster));
    for n in hook.notifications().iter().filter(|n| n.status == "resolved") {
        // Resolved by the live replica's poll, not by the dead one's endsAt
        // (at least 15 s after the kill) running out.
        for end in ends_at(n) {
            assert!(
                end >= resolved_at - chrono::TimeDelta::seconds(1)
                    && end < resolved_at + chrono::TimeDelta::seconds(10),
                "resolved at {end}, the pool was refilled at {resolved_at}"
            );
        }
    }
    // The killed replica comes back with its stale "firing" on disk: its
    // first poll resolves it before anything is pushed.
    a.start();
    assert_quiet(&hook, after_step_1 + 2, "step 2 restart", &|| logs(&[&a, &b], &cluster));
    assert!(a.log().contains("alert resolved"), "{}", a.log());
    let after_step_2 = hook.notifications().len();

    // 3. Fires again (notified once per group), then both replicas restart:
    // no new notification, since the first firing is kept on disk.
    set_used(&sim, 850 * GB);
    wait_for_each_group(&hook, "firing", 2, "step 3", &|| logs(&[&a, &b], &cluster));
    assert_quiet(&hook, after_step_2 + 2, "step 3", &|| logs(&[&a, &b], &cluster));
    for r in [&mut a, &mut b] {
        assert_eq!(r.daemon.as_mut().unwrap().terminate().code(), Some(0));
    }
    a.start();
    b.start();
    assert_quiet(&hook, after_step_2 + 2, "step 3 restart", &|| logs(&[&a, &b], &cluster));
    assert!(a.pushes(&urls[0], "sent") >= 1.0 && b.pushes(&urls[1], "sent") >= 1.0);
    let after_step_3 = hook.notifications().len();

    // 4. One Alertmanager down for a while: the other notifies; the queue
    // for the one that is down fills, and empties once it is back; it
    // notifies nothing twice, and alone it resolves what fired while it was away.
    cluster.nodes[1].stop();
    set_used(&sim, 1000 * GB);
    assert!(
        wait_until(Duration::from_secs(30), || GROUPS.iter().all(|g| {
            hook.notifications()
                .iter()
                .any(|n| &n.group_key == g && n.alerts().iter().any(|(name, _)| name == "PoolExhausted"))
        })),
        "step 4: PoolExhausted was not notified:\n{}\n{}",
        transcript(&hook),
        logs(&[&a, &b], &cluster)
    );
    for r in [&a, &b] {
        assert!(
            wait_until(Duration::from_secs(20), || r.pending(&urls[1]).unwrap_or(0.0) >= 2.0
                && r.pushes(&urls[1], "failed") >= 3.0),
            "{} queues for the Alertmanager that is down:\n{}",
            r.name,
            r.d().metrics()
        );
    }
    let from = |n: &Notification, node: &Node| n.external_url.contains(&format!(":{}", node.web_port));
    let exhausted = &hook.notifications()[after_step_3..];
    assert_eq!(exhausted.len(), 2, "{}", transcript(&hook));
    assert!(
        exhausted.iter().all(|n| from(n, &cluster.nodes[0])),
        "{}",
        transcript(&hook)
    );
    cluster.nodes[1].start();
    cluster.wait_formed();
    for r in [&a, &b] {
        assert!(
            wait_until(Duration::from_secs(20), || r.pending(&urls[1]) == Some(0.0)),
            "{} did not deliver its queue to the Alertmanager that came back:\n{}",
            r.name,
            r.d().metrics()
        );
    }
    let held = cluster.nodes[1].alerts();
    for account in ["main", "spare"] {
        assert!(
            held.contains(&(account.to_string(), "PoolExhausted".to_string())),
            "the Alertmanager that was down holds {held:?}"
        );
    }
    assert_quiet(&hook, after_step_3 + 2, "step 4 return", &|| logs(&[&a, &b], &cluster));
    cluster.nodes[0].stop();
    set_used(&sim, 0);
    wait_for_each_group(&hook, "resolved", 2, "step 4 resolve", &|| logs(&[&a, &b], &cluster));
    assert_quiet(&hook, after_step_3 + 4, "step 4 resolve", &|| logs(&[&a, &b], &cluster));
    let last = &hook.notifications()[after_step_3 + 2..];
    assert!(last.iter().all(|n| from(n, &cluster.nodes[1])), "{}", transcript(&hook));

    let total = hook.notifications().len();
    eprintln!(
        "notifications per step (two groups): 1 firing {after_step_1}, 2 after SIGKILL {}, 3 refire and restart {}, 4 outage {}; total {total} in {:?}\n{}",
        after_step_2 - after_step_1,
        after_step_3 - after_step_2,
        total - after_step_3,
        started.elapsed(),
        transcript(&hook)
    );
    assert_eq!(total, 10);
}

/// A config for the fake Alertmanager `sink`, with basic auth.
fn fake_body(sim: &Sim, sink: &HttpSink, name: &str, addr: &str) -> String {
    format!(
        "replica_name = \"{name}\"\nschedule = \"* * * * * *\"\nlisten = \"{addr}\"\n[thresholds]\ndepletion_within = \"0s\"\n[alertmanager]\nurls = [\"http://127.0.0.1:{}/prefix\"]\nresend_interval = \"2s\"\nretry_backoff = \"200ms\"\ntimeout = \"2s\"\nusername = \"cdnquota\"\npassword = \"push-secret\"\n{}",
        sink.port,
        account_toml("main", &sim.endpoint(), "")
    )
}

/// The PoolLow alerts among a push.
fn pool_low(request: &Request) -> Vec<serde_json::Value> {
    request
        .body
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["labels"]["alertname"] == "PoolLow")
        .cloned()
        .collect()
}

fn time(v: &serde_json::Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(v.as_str().unwrap_or_default())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|e| panic!("{v} is not a time: {e}"))
}

#[test]
fn pushes_carry_stable_labels_and_the_queue_outlives_an_outage_and_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let sink = HttpSink::start();
    let sim = Sim::with_packages(&[(1000 * GB, 850 * GB)]);
    let mut r = Replica::new(dir.path(), "solo", |n, addr| fake_body(&sim, &sink, n, addr));
    r.start();
    let url = format!("http://127.0.0.1:{}/prefix/", sink.port);
    let firing = |sink: &HttpSink| -> Option<(Request, serde_json::Value)> {
        sink.requests()
            .into_iter()
            .rev()
            .find_map(|req| pool_low(&req).first().cloned().map(|a| (req, a)))
    };
    assert!(
        wait_until(Duration::from_secs(15), || firing(&sink).is_some()),
        "no PoolLow push: {:?}\n{}",
        sink.requests(),
        r.log()
    );
    let (request, alert) = firing(&sink).unwrap();
    let pushed_at = Utc::now();
    assert_eq!(request.path, "/prefix/api/v2/alerts");
    assert_eq!(
        request.authorization.as_deref(),
        Some("Basic Y2RucXVvdGE6cHVzaC1zZWNyZXQ="),
        "basic auth as configured"
    );
    let labels: Vec<&String> = alert["labels"].as_object().unwrap().keys().collect();
    assert_eq!(labels, ["account", "alertname", "region", "resource", "severity"]);
    assert_eq!(alert["labels"]["region"], "mainland");
    assert_eq!(alert["labels"]["resource"], "traffic");
    assert!(
        alert["annotations"]["summary"]
            .as_str()
            .unwrap()
            .starts_with("CDN traffic pool low")
    );
    let starts = time(&alert["startsAt"]);
    let ends = time(&alert["endsAt"]);
    // Four resend intervals of 2 s ahead of the push.
    let ahead = (ends - starts).num_seconds();
    assert!((7..=12).contains(&ahead), "endsAt {ends} vs startsAt {starts}");
    assert!(
        pushed_at - starts < chrono::TimeDelta::seconds(5),
        "startsAt is the firing, {starts}"
    );

    // Re-sent every interval while firing, with the same startsAt.
    let count = sink.requests().len();
    assert!(
        wait_until(Duration::from_secs(10), || sink.requests().len() >= count + 2),
        "no resend"
    );
    assert_eq!(time(&firing(&sink).unwrap().1["startsAt"]), starts);

    // The Alertmanager fails; the pool is refilled; the resolution waits in
    // the queue, through a restart, until the Alertmanager is back.
    sink.answer(503);
    set_used(&sim, 0);
    assert!(
        wait_until(Duration::from_secs(15), || r.pending(&url) == Some(1.0)
            && r.pushes(&url, "failed") >= 2.0),
        "the resolution is not queued:\n{}",
        r.d().metrics()
    );
    let resolved_by = Utc::now();
    assert_eq!(r.daemon.as_mut().unwrap().terminate().code(), Some(0));
    let queue = std::fs::read_to_string(r.config.parent().unwrap().join("state/alertmanager.json")).unwrap();
    assert!(queue.contains("resolved_at"), "{queue}");
    r.start();
    assert!(
        wait_until(Duration::from_secs(15), || r.pushes(&url, "failed") >= 1.0),
        "the restarted replica did not try: {}",
        r.log()
    );
    let before_return = sink.requests().len();
    sink.answer(200);
    assert!(
        wait_until(Duration::from_secs(15), || r.pending(&url) == Some(0.0)),
        "the queue did not drain: {}",
        r.d().metrics()
    );
    let resolved = sink.requests()[before_return..]
        .iter()
        .flat_map(pool_low)
        .next()
        .expect("the resolution was pushed");
    assert_eq!(time(&resolved["startsAt"]), starts, "the same alert");
    let end = time(&resolved["endsAt"]);
    assert!(end <= resolved_by && end > starts, "endsAt {end} is the resolution");
    assert!(r.log().contains("takes pushes again"), "{}", r.log());
}

/// The body both ordering replicas share, but for their name and address.
fn ordering_body(sim: &Sim, name: &str, addr: &str) -> String {
    format!(
        "replica_name = \"{name}\"\nschedule = \"* * * * * *\"\nlisten = \"{addr}\"\n[order]\nmode = \"live\"\nordering_replica = \"replica-a\"\nunit_gb = 100\nnumber = 1\nwhen_depletion_within = \"0s\"\nmax_orders_per_30d = 5\n[alertmanager]\nurls = [\"http://127.0.0.1:{}/\"]\nresend_interval = \"5s\"\n{}",
        free_port(),
        account_toml("main", &sim.endpoint(), "")
    )
}

#[test]
fn two_replicas_configured_to_order_place_exactly_one_order() {
    let dir = tempfile::tempdir().unwrap();
    // 50 GB left: below the 100 GB trigger, for both replicas.
    let sim = Sim::with_packages(&[(1000 * GB, 950 * GB)]);
    let mut a = Replica::new(dir.path(), "replica-a", |n, addr| ordering_body(&sim, n, addr));
    let mut b = Replica::new(dir.path(), "replica-b", |n, addr| ordering_body(&sim, n, addr));
    b.start();
    a.start();
    assert!(
        wait_until(Duration::from_secs(15), || sim.state().arrived("OrderPackage") >= 1),
        "no order:\n{}\n{}",
        a.log(),
        b.log()
    );
    // Both poll every second: several more rounds, and still one order.
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(sim.state().arrived("OrderPackage"), 1, "{}\n{}", a.log(), b.log());
    assert_eq!(
        a.metric("cdnquota_replica_info", "ordering=\"live\",replica=\"replica-a\""),
        Some(1.0)
    );
    assert_eq!(
        b.metric("cdnquota_replica_info", "ordering=\"standby\",replica=\"replica-b\""),
        Some(1.0)
    );
    assert!(b.log().contains("not the ordering replica"), "{}", b.log());
    let (_, page) = http_get(&b.addr, "/").unwrap();
    assert!(page.contains("not the ordering replica"), "{page}");
    assert_eq!(
        b.metric("cdnquota_orders_total", "account=\"main\",outcome=\"placed\""),
        None
    );

    // The standby's ledger is not the one that orders, and says so; a hand
    // order there is refused.
    let config = b.config.to_str().unwrap();
    let list = run_to_end(&["order", "-c", config, "--list"]);
    let text = String::from_utf8_lossy(&list.stdout);
    assert!(
        list.status.success() && text.contains("not the ordering replica"),
        "{text}"
    );
    let by_hand = run_to_end(&[
        "order",
        "-c",
        config,
        "--account",
        "main",
        "--unit",
        "100",
        "--number",
        "1",
        "--yes",
    ]);
    let err = String::from_utf8_lossy(&by_hand.stderr);
    assert_eq!(by_hand.status.code(), Some(1), "{err}");
    assert!(err.contains("order by hand on the ordering replica"), "{err}");
    assert_eq!(sim.state().arrived("OrderPackage"), 1);

    // The same config without a named replica is refused outright.
    let unnamed = std::fs::read_to_string(&b.config)
        .unwrap()
        .replace("ordering_replica = \"replica-a\"\n", "");
    let path = dir.path().join("unnamed.toml");
    std::fs::write(&path, unnamed).unwrap();
    let refused = run_to_end(&["config", "-c", path.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1));
    assert!(err.contains("ordering_replica = \"replica-b\""), "{err}");
}

/// A CA and a server certificate for 127.0.0.1, made by openssl.
fn certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl runs (apt-get install openssl)");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=am test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    ]);
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
        "-out",
        "server.pem",
    ]);
    (dir.join("ca.pem"), dir.join("server.pem"), dir.join("server.key"))
}

#[test]
fn pushes_over_tls_with_basic_auth_and_a_wrong_password_is_refused() {
    if !alertmanager_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = certificates(dir.path());
    // bcrypt of "push-secret", cost 4 (made with Python's crypt module).
    let web = dir.path().join("web.yml");
    std::fs::write(
        &web,
        format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: {}\nbasic_auth_users:\n  cdnquota: $2b$04$70XQ.zzOo4YuMFCn.qieIu1BjLKYPChxhIJfop8lhDnUmDuN4rPbW\n",
            cert.display(),
            key.display()
        ),
    )
    .unwrap();
    let hook = Webhook::start();
    let am_config = dir.path().join("alertmanager.yml");
    std::fs::write(&am_config, cluster_config(hook.port())).unwrap();
    let mut node = Node::new(dir.path(), "am-tls", &am_config).with_web_config(&web);
    node.start();
    let url = format!("https://127.0.0.1:{}/", node.web_port);
    let sim = Sim::with_packages(&[(1000 * GB, 850 * GB)]);
    let body = |password: &str, name: &str, addr: &str| {
        format!(
            "replica_name = \"{name}\"\nschedule = \"* * * * * *\"\nlisten = \"{addr}\"\n[alertmanager]\nurls = [\"{url}\"]\nresend_interval = \"2s\"\nretry_backoff = \"200ms\"\nca_file = \"{}\"\nusername = \"cdnquota\"\npassword = \"{password}\"\n{}",
            ca.display(),
            account_toml("main", &sim.endpoint(), "")
        )
    };
    let mut good = Replica::new(dir.path(), "good", |n, addr| body("push-secret", n, addr));
    let mut bad = Replica::new(dir.path(), "bad", |n, addr| body("wrong", n, addr));
    good.start();
    bad.start();
    assert!(
        // The log line may land a moment after the counter: wait for both.
        wait_until(Duration::from_secs(20), || good.pushes(&url, "sent") >= 1.0
            && bad.pushes(&url, "rejected") >= 1.0
            && bad.log().contains("401")),
        "good:\n{}\nbad:\n{}\nam:\n{}",
        good.log(),
        bad.log(),
        node.log()
    );
    assert_eq!(bad.pushes(&url, "sent"), 0.0);
    assert!(bad.log().contains("401"), "{}", bad.log());
    // The alert reaches the receiver through the authenticated pusher.
    assert!(
        wait_until(Duration::from_secs(20), || hook.count(MAIN, "firing") == 1),
        "{}\n{}",
        transcript(&hook),
        good.log()
    );
}

/// Whether `tool` runs; missing under CI is a failure, elsewhere a skip.
fn have(tool: &str) -> bool {
    let ok = Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but `{tool}` is missing: .ci/run installs it"
        );
        eprintln!("SKIPPED: `{tool}` is not installed");
    }
    ok
}

#[test]
fn the_high_availability_examples_are_valid() {
    let ha = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/ha");
    let check = |cmd: &mut Command| {
        let out = cmd.current_dir(&ha).output().expect("runs");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{cmd:?}: {text}");
        text
    };
    // The replica config loads; on a host not named cdnquota-1 it stands by.
    let creds = tempfile::tempdir().unwrap();
    std::fs::write(creds.path().join("secret_key"), "k").unwrap();
    let shown = check(
        cdnquota(&["config", "-c", "cdnquota.toml"])
            .env("CREDENTIALS_DIRECTORY", creds.path())
            .env_remove("TENCENTCLOUD_SECRET_KEY"),
    );
    assert!(
        shown.contains("[alertmanager]") && shown.contains("ordering_replica = \"cdnquota-1\""),
        "{shown}"
    );
    if have("amtool") {
        check(Command::new("amtool").args(["check-config", "alertmanager.yml"]));
    }
    if have("promtool") {
        check(Command::new("promtool").args(["check", "config", "prometheus.yml"]));
        let tested = check(Command::new("promtool").args(["test", "rules", "cdnquota-ha.rules.test.yml"]));
        assert!(tested.contains("SUCCESS"), "{tested}");
    }
}
