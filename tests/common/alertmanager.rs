//! A real Alertmanager (Debian's `prometheus-alertmanager`) on loopback, a
//! two-node cluster of them, and a webhook receiver that counts what they
//! notify.

use super::{free_port, http_get, wait_until};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Debian's Alertmanager binary.
pub const ALERTMANAGER: &str = "/usr/bin/prometheus-alertmanager";

/// Whether the Alertmanager binary is there. Missing under CI is a
/// failure; elsewhere the caller skips, saying so.
pub fn alertmanager_available() -> bool {
    let mut check = Command::new(ALERTMANAGER);
    check.arg("--version");
    super::available(
        check,
        &format!("{ALERTMANAGER} does not run: apt-get install prometheus-alertmanager (.ci/run does)"),
    )
}

/// One notification the webhook received.
#[derive(Clone, Debug)]
pub struct Notification {
    /// Alertmanager's group key, e.g. `{}:{account="main"}`.
    pub group_key: String,
    /// `firing` or `resolved`.
    pub status: String,
    /// The notifying Alertmanager's external URL.
    pub external_url: String,
    /// The whole body.
    pub body: serde_json::Value,
}

impl Notification {
    /// The `alertname`s in the notification, with their status.
    pub fn alerts(&self) -> Vec<(String, String)> {
        self.body["alerts"]
            .as_array()
            .map(|alerts| {
                alerts
                    .iter()
                    .map(|a| {
                        (
                            a["labels"]["alertname"].as_str().unwrap_or_default().to_string(),
                            a["status"].as_str().unwrap_or_default().to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// One HTTP request an [`HttpSink`] received.
#[derive(Clone, Debug)]
pub struct Request {
    /// The request line's path.
    pub path: String,
    /// The `Authorization` header, if sent.
    pub authorization: Option<String>,
    /// The JSON body (`Null` when it was not JSON).
    pub body: serde_json::Value,
}

/// A tiny HTTP server on loopback that records every POST and answers it
/// with a settable status; its thread stops when it is dropped.
pub struct HttpSink {
    pub port: u16,
    received: Arc<Mutex<Vec<Request>>>,
    status: Arc<AtomicU16>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl HttpSink {
    pub fn start() -> HttpSink {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the sink");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("addr").port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let status = Arc::new(AtomicU16::new(200));
        let stop = Arc::new(AtomicBool::new(false));
        let (r, st, s) = (received.clone(), status.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        if let Some(request) = read_post(stream, st.load(Ordering::SeqCst)) {
                            r.lock().unwrap().push(request);
                        }
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        HttpSink {
            port,
            received,
            status,
            stop,
            thread: Some(thread),
        }
    }

    /// Every request so far, oldest first.
    pub fn requests(&self) -> Vec<Request> {
        self.received.lock().unwrap().clone()
    }

    /// Answers every later request with `status`.
    pub fn answer(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }
}

impl Drop for HttpSink {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Reads one HTTP request (bounded by a read timeout), answers `status`,
/// and returns what it carried.
fn read_post(stream: TcpStream, status: u16) -> Option<Request> {
    stream.set_nonblocking(false).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut first = String::new();
    reader.read_line(&mut first).ok()?;
    let path = first.split_whitespace().nth(1).unwrap_or_default().to_string();
    let mut length = 0usize;
    let mut authorization = None;
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let trimmed = line.trim_end();
        if trimmed.is_empty() {
            break;
        }
        if let Some((name, value)) = trimmed.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().ok()?;
            } else if name.eq_ignore_ascii_case("authorization") {
                authorization = Some(value.trim().to_string());
            }
        }
    }
    let mut body = vec![0; length.min(10 << 20)];
    reader.read_exact(&mut body).ok()?;
    let mut stream = stream;
    let _ = write!(
        stream,
        "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    Some(Request {
        path,
        authorization,
        body: serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
    })
}

/// A webhook receiver: what Alertmanager notifies, counted.
pub struct Webhook {
    sink: HttpSink,
}

impl Webhook {
    pub fn start() -> Webhook {
        Webhook {
            sink: HttpSink::start(),
        }
    }

    pub fn port(&self) -> u16 {
        self.sink.port
    }

    /// Every notification so far, oldest first.
    pub fn notifications(&self) -> Vec<Notification> {
        self.sink
            .requests()
            .into_iter()
            .map(|r| Notification {
                group_key: r.body["groupKey"].as_str().unwrap_or_default().to_string(),
                status: r.body["status"].as_str().unwrap_or_default().to_string(),
                external_url: r.body["externalURL"].as_str().unwrap_or_default().to_string(),
                body: r.body,
            })
            .collect()
    }

    /// How many notifications of `group_key` with `status` arrived.
    pub fn count(&self, group_key: &str, status: &str) -> usize {
        self.notifications()
            .iter()
            .filter(|n| n.group_key == group_key && n.status == status)
            .count()
    }
}

/// The route and receiver every node of the test cluster uses: one group
/// per account, fast timers, the webhook as the receiver.
pub fn cluster_config(webhook_port: u16) -> String {
    format!(
        "route:\n  receiver: hook\n  group_by: ['account']\n  group_wait: 1s\n  group_interval: 2s\n  repeat_interval: 1h\nreceivers:\n  - name: hook\n    webhook_configs:\n      - url: http://127.0.0.1:{webhook_port}/\n        send_resolved: true\n"
    )
}

/// One Alertmanager process.
pub struct Node {
    pub web_port: u16,
    pub cluster_port: u16,
    peer_ports: Vec<u16>,
    config: PathBuf,
    storage: PathBuf,
    web_config: Option<PathBuf>,
    log: PathBuf,
    child: Option<Child>,
}

impl Node {
    /// A node listening on fresh ports; `start` runs it.
    pub fn new(dir: &Path, name: &str, config: &Path) -> Node {
        Node {
            web_port: free_port(),
            cluster_port: free_port(),
            peer_ports: Vec::new(),
            config: config.to_path_buf(),
            storage: dir.join(format!("{name}-data")),
            web_config: None,
            log: dir.join(format!("{name}.log")),
            child: None,
        }
    }

    /// Serves with this `--web.config.file` (TLS, basic auth).
    pub fn with_web_config(mut self, path: &Path) -> Node {
        self.web_config = Some(path.to_path_buf());
        self
    }

    /// The base URL cdnquota pushes to.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.web_port)
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.web_port)
    }

    /// Starts the process (again, on the same ports and storage).
    pub fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("alertmanager log");
        let mut cmd = Command::new(ALERTMANAGER);
        cmd.arg(format!("--config.file={}", self.config.display()))
            .arg(format!("--storage.path={}", self.storage.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{}", self.web_port))
            .arg(format!("--web.external-url=http://127.0.0.1:{}/", self.web_port))
            .arg("--log.level=debug");
        if let Some(web) = &self.web_config {
            cmd.arg(format!("--web.config.file={}", web.display()));
        }
        if self.peer_ports.is_empty() {
            cmd.arg("--cluster.listen-address=");
        } else {
            cmd.arg(format!("--cluster.listen-address=127.0.0.1:{}", self.cluster_port))
                .arg(format!("--cluster.advertise-address=127.0.0.1:{}", self.cluster_port))
                .args(["--cluster.peer-timeout=2s", "--cluster.gossip-interval=100ms"])
                .args(["--cluster.pushpull-interval=1s", "--cluster.settle-timeout=2s"])
                .args(["--cluster.probe-interval=200ms", "--cluster.reconnect-interval=1s"]);
            for p in &self.peer_ports {
                cmd.arg(format!("--cluster.peer=127.0.0.1:{p}"));
            }
        }
        let child = cmd
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("alertmanager starts");
        self.child = Some(child);
    }

    /// Whether `/-/ready` answers 200 (plain HTTP only).
    pub fn ready(&self) -> bool {
        http_get(&self.addr(), "/-/ready").is_some_and(|(status, _)| status == 200)
    }

    /// The cluster members this node sees (itself included).
    pub fn peers(&self) -> usize {
        http_get(&self.addr(), "/api/v2/status")
            .and_then(|(_, body)| serde_json::from_str::<serde_json::Value>(&body).ok())
            .and_then(|v| v["cluster"]["peers"].as_array().map(Vec::len))
            .unwrap_or(0)
    }

    /// The active alerts this node holds, as (account, alertname) pairs.
    pub fn alerts(&self) -> Vec<(String, String)> {
        http_get(&self.addr(), "/api/v2/alerts")
            .and_then(|(_, body)| serde_json::from_str::<serde_json::Value>(&body).ok())
            .and_then(|v| {
                v.as_array().map(|alerts| {
                    alerts
                        .iter()
                        .map(|a| {
                            (
                                a["labels"]["account"].as_str().unwrap_or_default().to_string(),
                                a["labels"]["alertname"].as_str().unwrap_or_default().to_string(),
                            )
                        })
                        .collect()
                })
            })
            .unwrap_or_default()
    }

    /// Stops the process with SIGTERM (it saves its notification log and
    /// leaves the cluster), bounded in time.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
            let stopped = wait_until(Duration::from_secs(10), || child.try_wait().ok().flatten().is_some());
            if !stopped {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Two Alertmanagers gossiping over loopback, notifying `webhook`.
pub struct Cluster {
    pub nodes: [Node; 2],
}

impl Cluster {
    pub fn start(dir: &Path, webhook: &Webhook) -> Cluster {
        let config = dir.join("alertmanager.yml");
        std::fs::write(&config, cluster_config(webhook.port())).expect("write alertmanager.yml");
        let mut one = Node::new(dir, "am1", &config);
        let mut two = Node::new(dir, "am2", &config);
        one.peer_ports = vec![two.cluster_port];
        two.peer_ports = vec![one.cluster_port];
        one.start();
        two.start();
        let cluster = Cluster { nodes: [one, two] };
        cluster.wait_formed();
        cluster
    }

    /// Waits until every running node is ready and sees both members.
    pub fn wait_formed(&self) {
        for node in &self.nodes {
            assert!(
                wait_until(Duration::from_secs(20), || node.ready() && node.peers() == 2),
                "Alertmanager on {} did not join a two-node cluster; log:\n{}",
                node.web_port,
                node.log()
            );
        }
    }
}
