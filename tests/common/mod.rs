//! Shared helpers: a simulator on its own runtime, config files, the real
//! binary, and a minimal HTTP client for scraping.

#![allow(dead_code)]

pub mod alertmanager;
pub mod bad_smtp;

use cdnquota_sim::Simulator;
use cdnquota_sim::state::{SimPackage, SimState};
use chrono::{TimeDelta, Utc};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::MutexGuard;
use std::time::{Duration, Instant};

pub const GB: u64 = 1_000_000_000;
pub const SECRET_ID: &str = "AKIDtestaccount0000000001";
pub const SECRET_KEY: &str = "test-secret-key-0123456789";

/// A simulator served from a runtime of its own, so tests can block.
pub struct Sim {
    pub sim: Simulator,
    _runtime: tokio::runtime::Runtime,
}

impl Sim {
    pub fn start(state: SimState) -> Sim {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a test runtime");
        let addr = SocketAddr::from(([127, 0, 0, 1], 0));
        let sim = runtime
            .block_on(Simulator::start(addr, state))
            .expect("the simulator binds");
        Sim { sim, _runtime: runtime }
    }

    /// An account with the given (size, used) packages, valid for a year.
    pub fn with_packages(packages: &[(u64, u64)]) -> Sim {
        Sim::start(state_with(packages))
    }

    pub fn state(&self) -> MutexGuard<'_, SimState> {
        self.sim.state()
    }

    pub fn endpoint(&self) -> String {
        self.sim.endpoint()
    }
}

/// Simulator state with packages of (size, used) bytes, valid for a year.
pub fn state_with(packages: &[(u64, u64)]) -> SimState {
    let now = Utc::now();
    let mut s = SimState::new(SECRET_ID, SECRET_KEY, now);
    for (size, used) in packages {
        let id = s.next_package_id();
        s.packages.push(SimPackage::new(
            id,
            *size,
            *used,
            now - TimeDelta::days(1),
            Duration::from_secs(365 * 86_400),
        ));
    }
    s
}

/// An `[[accounts]]` table for the simulator; lines in `extra` override the
/// defaults with the same key.
pub fn account_toml(name: &str, endpoint: &str, extra: &str) -> String {
    let defaults = [
        format!("name = \"{name}\""),
        format!("endpoint = \"{endpoint}\""),
        format!("secret_id = \"{SECRET_ID}\""),
        format!("secret_key = \"{SECRET_KEY}\""),
        "timeout = \"2s\"".to_string(),
        "max_attempts = 1".to_string(),
    ];
    let key = |line: &str| line.split('=').next().unwrap_or_default().trim().to_string();
    let overridden: Vec<String> = extra.lines().map(key).collect();
    let mut lines: Vec<String> = defaults.into_iter().filter(|d| !overridden.contains(&key(d))).collect();
    lines.extend(extra.lines().map(str::to_string));
    format!("[[accounts]]\n{}\n", lines.join("\n"))
}

/// Writes `body` as a private config file in `dir`, with a `state_dir`
/// inside `dir` unless the body names one: tests never share state.
pub fn write_config(dir: &Path, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("cdnquota.toml");
    let body = if body.contains("state_dir") {
        body.to_string()
    } else {
        format!("state_dir = \"{}\"\n{body}", dir.join("state").display())
    };
    std::fs::write(&path, body).expect("write config");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod config");
    path
}

/// The real binary, with a clean environment for credentials and logs.
pub fn cdnquota(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cdnquota"));
    cmd.args(args)
        .env_remove("TENCENTCLOUD_SECRET_ID")
        .env_remove("TENCENTCLOUD_SECRET_KEY")
        .env_remove("CREDENTIALS_DIRECTORY")
        .env_remove("JOURNAL_STREAM")
        .env("RUST_LOG", "info");
    cmd
}

/// Runs the binary to completion, bounded in time.
pub fn run_to_end(args: &[&str]) -> Output {
    run_command_to_end(cdnquota(args), args)
}

/// Runs `cmd` (the binary with `args`, see [`cdnquota`]) to completion,
/// bounded in time.
pub fn run_command_to_end(mut cmd: Command, args: &[&str]) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    // Both pipes are read while the command runs: output larger than a pipe
    // holds (64 KiB) would otherwise block the command on its write, and it
    // would never end.
    fn drain(pipe: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<Vec<u8>> {
        let mut pipe = pipe.expect("a piped stream");
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            bytes
        })
    }
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("cdnquota {args:?} did not finish within 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Output {
        status: child.wait().expect("wait"),
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    }
}

/// A free loopback port (bound and released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A `GET` over plain HTTP/1.0; `None` when nothing answers.
pub fn http_get(addr: &str, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Some((status, body))
}

/// The value of the sample `name{labels}` in a metrics text, labels written
/// exactly as exported (e.g. `account="main"`).
pub fn metric(text: &str, name: &str, labels: &str) -> Option<f64> {
    let prefix = if labels.is_empty() {
        format!("{name} ")
    } else {
        format!("{name}{{{labels}}} ")
    };
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
}

/// Polls `f` every 50 ms until it is true or `timeout` passes.
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    f()
}

/// A running `cdnquota run`, killed when dropped.
pub struct Daemon {
    pub child: Child,
    pub addr: String,
    pub log: PathBuf,
}

/// A free loopback address, `127.0.0.1:PORT`, for a daemon's `listen`.
pub fn loopback_addr() -> String {
    format!("127.0.0.1:{}", free_port())
}

impl Daemon {
    /// Sends SIGHUP: the daemon reloads its config.
    pub fn sighup(&self) {
        let ok = Command::new("kill")
            .args(["-HUP", &self.child.id().to_string()])
            .status()
            .expect("kill runs")
            .success();
        assert!(ok, "kill -HUP failed");
    }

    /// Waits (bounded) until `f` holds; on a time-out fails with the log.
    pub fn wait_for(&self, what: &str, timeout: Duration, f: impl FnMut() -> bool) {
        assert!(
            wait_until(timeout, f),
            "timed out waiting for {what}; log:\n{}",
            self.log()
        );
    }

    /// Starts `cdnquota run -c config`, logging to a file beside it.
    pub fn start(config: &Path, addr: &str) -> Daemon {
        Daemon::start_with_env(config, addr, &[])
    }

    /// Starts the daemon with extra environment variables; each start
    /// appends to the same log file.
    pub fn start_with_env(config: &Path, addr: &str, env: &[(&str, &str)]) -> Daemon {
        let mut cmd = cdnquota(&["run", "-c", config.to_str().expect("utf-8 path")]);
        cmd.envs(env.iter().copied());
        Daemon::start_command(cmd, config, addr)
    }

    /// Starts `cmd` (`cdnquota run` for `config`, see [`cdnquota`]), logging
    /// to a file beside the config.
    pub fn start_command(mut cmd: Command, config: &Path, addr: &str) -> Daemon {
        let log = config.with_extension("log");
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("log file");
        let child = cmd
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .expect("the daemon starts");
        let daemon = Daemon {
            child,
            addr: addr.to_string(),
            log,
        };
        assert!(
            wait_until(Duration::from_secs(10), || http_get(&daemon.addr, "/healthz").is_some()),
            "the daemon did not serve /healthz; log:\n{}",
            daemon.log()
        );
        daemon
    }

    pub fn metrics(&self) -> String {
        http_get(&self.addr, "/metrics")
            .map(|(_, body)| body)
            .unwrap_or_default()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Kills the daemon with SIGKILL, as a crash would.
    pub fn kill_hard(&mut self) {
        self.child.kill().expect("SIGKILL");
        let _ = self.child.wait();
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the daemon did not stop within 15 s of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether `check` runs and succeeds. When it does not, that is a failure
/// under CI (`CI` set: .ci/run installs everything) and elsewhere a skip
/// that says `why`.
pub fn available(mut check: Command, why: &str) -> bool {
    let ok = check
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(std::env::var_os("CI").is_none(), "CI is set but {why}");
        eprintln!("SKIPPED: {why}");
    }
    ok
}

/// Whether `tool` can run; missing under CI is a failure, elsewhere a
/// loud skip.
pub fn have(tool: &str) -> bool {
    let mut check = Command::new(tool);
    check.arg("--version");
    available(check, &format!("`{tool}` is missing: .ci/run installs it"))
}

/// Debian's python, which has `python3-aiosmtpd` (the machine's default
/// python3 may be another one).
const SYSTEM_PYTHON: &str = "/usr/bin/python3";

/// Whether a real SMTP server can be started. Missing under CI is a
/// failure; elsewhere the caller skips, saying so.
pub fn smtp_server_available() -> bool {
    let mut check = Command::new(SYSTEM_PYTHON);
    check.args(["-c", "import aiosmtpd"]);
    available(
        check,
        &format!("{SYSTEM_PYTHON} cannot import aiosmtpd: apt-get install python3-aiosmtpd (.ci/run does)"),
    )
}

/// A real SMTP server (aiosmtpd) on loopback, storing mail in a Maildir.
pub struct SmtpServer {
    child: Child,
    pub port: u16,
    pub maildir: PathBuf,
}

impl SmtpServer {
    /// Starts the server on `port`; with `tls` = (cert, key) it offers and
    /// requires STARTTLS.
    pub fn start(dir: &Path, port: u16, tls: Option<(&Path, &Path)>) -> SmtpServer {
        let maildir = dir.join("maildir");
        let mut cmd = Command::new(SYSTEM_PYTHON);
        cmd.args([
            "-m",
            "aiosmtpd",
            "-n",
            "-l",
            &format!("127.0.0.1:{port}"),
            "-c",
            "aiosmtpd.handlers.Mailbox",
        ]);
        if let Some((cert, key)) = tls {
            cmd.arg("--tlscert").arg(cert).arg("--tlskey").arg(key);
        }
        let child = cmd
            .arg(&maildir)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("smtp.log")).expect("smtp log"))
            .spawn()
            .expect("aiosmtpd starts");
        let server = SmtpServer { child, port, maildir };
        assert!(
            wait_until(Duration::from_secs(10), || TcpStream::connect(("127.0.0.1", port))
                .is_ok()),
            "aiosmtpd did not listen on {port}"
        );
        server
    }

    /// Every mail received, oldest first, as raw text.
    pub fn mails(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.maildir.join("new")) else {
            return Vec::new();
        };
        let mut files: Vec<(std::time::SystemTime, PathBuf)> = entries
            .filter_map(Result::ok)
            .map(|e| {
                (
                    e.metadata().and_then(|m| m.modified()).unwrap_or(std::time::UNIX_EPOCH),
                    e.path(),
                )
            })
            .collect();
        files.sort();
        files
            .into_iter()
            .filter_map(|(_, p)| std::fs::read_to_string(p).ok())
            .collect()
    }

    /// The decoded `Subject:` of each mail.
    pub fn subjects(&self) -> Vec<String> {
        self.mails()
            .iter()
            .map(|m| decode_encoded_words(&header(m, "Subject")))
            .collect()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A header's value, unfolded, with RFC 2047 encoded words left as sent.
pub fn header(mail: &str, name: &str) -> String {
    let mut value = String::new();
    let mut inside = false;
    for line in mail.lines() {
        if inside && (line.starts_with(' ') || line.starts_with('\t')) {
            // Unfolding removes the line break only (RFC 5322 2.2.3).
            value.push_str(line);
            continue;
        }
        if inside || line.is_empty() {
            break;
        }
        if let Some(rest) = line.strip_prefix(&format!("{name}: ")) {
            value.push_str(rest);
            inside = true;
        }
    }
    value
}

/// A header value with its RFC 2047 encoded words (`=?utf-8?b?...?=`,
/// `=?utf-8?q?...?=`) decoded; the space between two of them goes, as the
/// RFC says.
pub fn decode_encoded_words(value: &str) -> String {
    use base64::Engine;
    let mut out = String::new();
    let mut rest = value;
    let mut last_was_word = false;
    while let Some(start) = rest.find("=?") {
        let before = &rest[..start];
        let Some(end) = rest[start + 2..].find("?=").map(|e| start + 2 + e) else {
            break;
        };
        let word = &rest[start + 2..end];
        let mut parts = word.splitn(3, '?');
        let (_charset, encoding, text) = (parts.next(), parts.next(), parts.next());
        let decoded = match (encoding.map(str::to_ascii_lowercase).as_deref(), text) {
            (Some("b"), Some(t)) => base64::engine::general_purpose::STANDARD
                .decode(t)
                .ok()
                .and_then(|b| String::from_utf8(b).ok()),
            (Some("q"), Some(t)) => Some(decode_quoted_printable(&t.replace('_', " "))),
            _ => None,
        };
        match decoded {
            Some(d) => {
                if !(last_was_word && before.trim().is_empty()) {
                    out.push_str(before);
                }
                out.push_str(&d);
                last_was_word = true;
            }
            None => {
                out.push_str(&rest[..end + 2]);
                last_was_word = false;
            }
        }
        rest = &rest[end + 2..];
    }
    out.push_str(rest);
    out
}

/// An `[email]` section for a plain SMTP server on loopback.
pub fn email_toml(port: u16, extra: &str) -> String {
    format!(
        "[email]\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"none\"\ntimeout = \"3s\"\nfrom = \"cdnquota <alerts@example.com>\"\nto = [\"ops@example.com\"]\nretry_backoff = \"1s\"\n{extra}\n"
    )
}

/// Decodes quoted-printable text (soft line breaks and `=XX` escapes), as
/// mail parts are often sent; other text passes through unchanged.
pub fn decode_quoted_printable(text: &str) -> String {
    let joined = text.replace("=\r\n", "").replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = joined.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'=', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
