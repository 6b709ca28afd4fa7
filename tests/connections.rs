//! The daemon's HTTP server under a flood of idle connections: under
//! systemd's default limit of 1,024 file descriptors, 1,100 connections
//! that send nothing leave it answering `/healthz`, with its descriptors
//! bounded by the connection cap.

mod common;

use common::*;
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

/// The server's caps (src/http/server.rs): 256 kept, 320 at most open.
const HARD_LIMIT: usize = 256 + 64;

/// The soft limit on open files of process `pid`.
fn open_files_limit(pid: &str) -> Option<usize> {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

#[test]
fn a_flood_of_idle_connections_leaves_the_daemon_healthy() {
    // This test itself holds 1,100 sockets: raise its own soft limit if
    // needed (up to the hard one, which needs no privilege).
    let me = std::process::id().to_string();
    if open_files_limit(&me).unwrap_or(0) < 1_300 {
        let _ = Command::new("prlimit").args(["--pid", &me, "--nofile=4096:"]).status();
    }
    if open_files_limit(&me).unwrap_or(0) < 1_300 {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but this test cannot open 1,300 files"
        );
        eprintln!("SKIPPED: the open files limit is too low to hold 1,100 connections");
        return;
    }
    let sim = Sim::with_packages(&[(1000 * GB, 0)]);
    let dir = tempfile::tempdir().unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let body = format!("listen = \"{addr}\"\n{}", account_toml("main", &sim.endpoint(), ""));
    let config = write_config(dir.path(), &body);
    // systemd's default: 1,024 descriptors.
    let log = std::fs::File::create(dir.path().join("daemon.log")).unwrap();
    let mut daemon = Command::new("prlimit")
        .args(["--nofile=1024:1024", "--"])
        .arg(env!("CARGO_BIN_EXE_cdnquota"))
        .args(["run", "-c", config.to_str().unwrap()])
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("prlimit runs the daemon");
    // prlimit execs the daemon: the same process.
    let pid = daemon.id();
    let healthy = || http_get(&addr, "/healthz").map(|r| r.0) == Some(200);
    assert!(wait_until(Duration::from_secs(10), healthy));
    assert_eq!(open_files_limit(&pid.to_string()), Some(1024));
    let base = fd_count(pid);

    let mut idle = Vec::new();
    for _ in 0..1_100 {
        match TcpStream::connect(&addr) {
            Ok(s) => idle.push(s),
            Err(e) => panic!("connection {} refused: {e}", idle.len()),
        }
    }
    // Still answering while all 1,100 are held open on this side.
    assert!(
        wait_until(Duration::from_secs(5), healthy),
        "no /healthz with 1,100 idle connections"
    );
    let most = (0..20)
        .map(|_| {
            std::thread::sleep(Duration::from_millis(50));
            fd_count(pid)
        })
        .max()
        .unwrap_or(0);
    assert!(most <= HARD_LIMIT + base + 8, "{most} descriptors open (base {base})");
    drop(idle);
    assert!(wait_until(Duration::from_secs(5), healthy));
    let log = std::fs::read_to_string(dir.path().join("daemon.log")).unwrap();
    assert!(
        !log.contains("accepting a connection failed"),
        "out of descriptors:\n{log}"
    );
    let _ = daemon.kill();
    let _ = daemon.wait();
}
