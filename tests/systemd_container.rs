//! The .deb under a real systemd and dpkg: a minimal Debian 12 (systemd 252)
//! booted with systemd-nspawn, the package installed with apt, then start,
//! reload, watchdog, stop, upgrade, remove and purge, as an operator would.
//! The RPM the same way with Debian's rpm: install, start, upgrade, erase.
//!
//! Needs root, debootstrap, systemd-nspawn, nsenter and cargo-deb; without
//! them it says SKIPPED, and under CI it fails. The container shares the
//! host's network (nspawn without --private-network), so the daemon inside
//! reaches the simulator on the host's loopback, and the test scrapes the
//! daemon on loopback too.
//!
//! The debootstrap root is made once per machine and kept in
//! `$CDNQUOTA_TEST_CACHE` (default /var/cache/cdnquota-tests), outside any
//! clone; each run boots a fresh copy of it. Delete the folder to rebuild it.
//! `CDNQUOTA_TEST_DEBIAN_MIRROR` picks the Debian mirror for that one build.
//!
//! The .deb packages the binary the other tests run (the dev profile, so
//! that CI does not pay for a second, LTO, build); with
//! `CDNQUOTA_TEST_DEB_RELEASE=1` it is the release build `cargo deb` makes.

mod common;

use common::*;
use std::collections::BTreeSet;
use std::io::{Read, Seek};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");
/// Bumped whenever the way the cached root is made changes.
const ROOT_NAME: &str = "bookworm-minbase-systemd-rpm-v2";
const UNIT: &str = "cdnquota.service";
/// The drop-in the watchdog check makes: a short watchdog and a quick
/// restart, so that the check takes seconds rather than minutes.
const WATCHDOG_DROP_IN: &str = "[Service]\nWatchdogSec=3s\nRestartSec=1s\n";

/// The output of a command that ran to its end within its time limit.
struct Ran {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Ran {
    fn text(&self) -> String {
        format!(
            "exit {:?}\nstdout:\n{}\nstderr:\n{}",
            self.status.code(),
            self.stdout,
            self.stderr
        )
    }
}

/// One container at a time: two would share the host's two cores with
/// the builds, and the first run makes the cached root for both.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner())
}

/// Runs `cmd` with no input, killing it after `limit`.
fn run_bounded(cmd: &mut Command, limit: Duration) -> Ran {
    let mut out = tempfile::tempfile().expect("a temporary file for stdout");
    let mut err = tempfile::tempfile().expect("a temporary file for stderr");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("dup stdout file"))
        .stderr(err.try_clone().expect("dup stderr file"))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for a child") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let read = |f: &mut std::fs::File| {
        let mut text = String::new();
        f.rewind().expect("rewind an output file");
        f.read_to_string(&mut text).expect("read an output file");
        text
    };
    Ran {
        status,
        stdout: read(&mut out),
        stderr: read(&mut err),
    }
}

/// Runs `cmd` and panics unless it exits 0.
fn run_ok(cmd: &mut Command, limit: Duration) -> String {
    let ran = run_bounded(cmd, limit);
    assert!(ran.status.success(), "{cmd:?} failed: {}", ran.text());
    ran.stdout
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("Uid:").map(str::to_string)))
        .and_then(|uids| uids.split_whitespace().nth(1).map(|euid| euid == "0"))
        .unwrap_or(false)
}

/// Whether everything the test needs is here; under CI a missing piece
/// is a failure, elsewhere the test is skipped, saying so.
fn prerequisites() -> bool {
    if !is_root() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but the test does not run as root, which systemd-nspawn needs"
        );
        eprintln!("SKIPPED: systemd-nspawn needs root");
        return false;
    }
    // Each one reports what is missing; all are checked so that one run
    // names every missing tool.
    let tools = ["debootstrap", "systemd-nspawn", "nsenter", "dpkg-deb", "cargo-deb"];
    let found: Vec<bool> = tools.iter().map(|t| have(t)).collect();
    found.into_iter().all(|ok| ok)
}

fn cache_dir() -> PathBuf {
    std::env::var_os("CDNQUOTA_TEST_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/cdnquota-tests"))
}

/// Removes what runs that were killed left in the cache: a half-made
/// root whose maker is gone, and scratch copies over two hours old.
fn remove_leftovers(cache: &Path) {
    let Ok(entries) = std::fs::read_dir(cache) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name().to_string_lossy().into_owned();
        let maker_gone = name
            .rsplit_once(".partial-")
            .is_some_and(|(_, pid)| !Path::new("/proc").join(pid).exists());
        let old_scratch = name.starts_with("run-")
            && entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t.elapsed().is_ok_and(|age| age > Duration::from_secs(2 * 3600)));
        if maker_gone || old_scratch {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Builds the first .deb and an upgrade of a higher version into `out`.
fn build_debs(out: &Path) -> (PathBuf, PathBuf, String) {
    let release = std::env::var_os("CDNQUOTA_TEST_DEB_RELEASE").is_some_and(|v| v == "1");
    let upgrade_version = format!("{}-2", env!("CARGO_PKG_VERSION"));
    let make = |version: Option<&str>, dir: &Path| -> PathBuf {
        std::fs::create_dir_all(dir).expect("a folder for the .deb");
        let mut cmd = Command::new("cargo");
        cmd.current_dir(MANIFEST_DIR)
            .args(["deb", "--quiet", "--output"])
            .arg(dir);
        if let Some(v) = version {
            cmd.args(["--deb-version", v]);
        }
        if !release {
            // cargo-deb takes target/release/cdnquota from the target
            // folder: give it one holding the binary these tests built.
            let target = out.join("target");
            std::fs::create_dir_all(target.join("release")).expect("a target folder");
            let binary = target.join("release/cdnquota");
            if !binary.exists() {
                std::fs::copy(env!("CARGO_BIN_EXE_cdnquota"), &binary).expect("copy the binary");
            }
            // --fast: a larger .deb, made in a fraction of the time.
            cmd.env("CARGO_TARGET_DIR", &target)
                .args(["--no-build", "--strip", "--fast"]);
        }
        run_ok(&mut cmd, Duration::from_secs(1200));
        let mut debs: Vec<PathBuf> = std::fs::read_dir(dir)
            .expect("read the .deb folder")
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "deb"))
            .collect();
        assert_eq!(debs.len(), 1, "one .deb expected in {}: {debs:?}", dir.display());
        debs.remove(0)
    };
    let first = make(None, &out.join("first"));
    let upgrade = make(Some(&upgrade_version), &out.join("upgrade"));
    (first, upgrade, upgrade_version)
}

/// The cached minimal root (minbase plus systemd, dbus and Debian's rpm),
/// made on first use; the packages the .deb `deb()` gives depends on are
/// downloaded into it (not installed), so that a run installs the .deb
/// without the network.
fn pristine_root(deb: impl FnOnce() -> PathBuf) -> PathBuf {
    let cache = cache_dir();
    remove_leftovers(&cache);
    let root = cache.join(ROOT_NAME);
    if root.is_dir() {
        return root;
    }
    let deb = deb();
    std::fs::create_dir_all(&cache).expect("create the cache folder");
    let started = Instant::now();
    // Made under another name and renamed when complete, so that a run
    // cut short never leaves a half-made root to be used.
    let partial = cache.join(format!("{ROOT_NAME}.partial-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&partial);
    let mirror = std::env::var("CDNQUOTA_TEST_DEBIAN_MIRROR").unwrap_or_else(|_| "http://deb.debian.org/debian".into());
    run_ok(
        Command::new("debootstrap")
            .args(["--variant=minbase", "--include=systemd,dbus,rpm", "bookworm"])
            .arg(&partial)
            .arg(&mirror),
        Duration::from_secs(900),
    );
    let chroot = |args: &[&str]| {
        run_ok(
            Command::new("chroot")
                .arg(&partial)
                .args(args)
                .env_clear()
                .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
                .env("DEBIAN_FRONTEND", "noninteractive"),
            Duration::from_secs(600),
        )
    };
    // debootstrap leaves the packages it installed in apt's cache: not
    // needed, and every run would copy them.
    chroot(&["apt-get", "clean"]);
    std::fs::copy(&deb, partial.join("tmp/cdnquota.deb")).expect("copy the .deb into the root");
    chroot(&[
        "apt-get",
        "install",
        "--download-only",
        "--no-install-recommends",
        "-y",
        "/tmp/cdnquota.deb",
    ]);
    std::fs::remove_file(partial.join("tmp/cdnquota.deb")).expect("remove the .deb from the root");
    if std::fs::rename(&partial, &root).is_err() {
        // Another run made it first.
        let _ = std::fs::remove_dir_all(&partial);
    }
    println!(
        "made the cached root {} in {:.0?} (debootstrap from {mirror})",
        root.display(),
        started.elapsed()
    );
    root
}

/// A booted container, stopped and deleted when dropped.
struct Container {
    nspawn: Child,
    leader: u32,
    root: PathBuf,
    log: PathBuf,
    // Dropped after `drop` has stopped the container.
    _scratch: tempfile::TempDir,
}

impl Container {
    /// Copies `pristine` to a scratch folder and boots it.
    fn boot(pristine: &Path) -> Container {
        let scratch = tempfile::Builder::new()
            .prefix("run-")
            .tempdir_in(cache_dir())
            .expect("a scratch folder in the cache");
        let root = scratch.path().join("root");
        let started = Instant::now();
        run_ok(
            Command::new("cp").arg("-a").arg(pristine).arg(&root),
            Duration::from_secs(300),
        );
        println!("copied the root in {:.1?}", started.elapsed());
        let log = scratch.path().join("nspawn.log");
        // Unique while the tests take turns (one_at_a_time).
        let machine = format!("cdnquota-test-{}", std::process::id());
        let started = Instant::now();
        let nspawn = Command::new("systemd-nspawn")
            .arg("--directory")
            .arg(&root)
            .args(["--boot", "--register=no", "--keep-unit", "--console=passive"])
            .arg(format!("--machine={machine}"))
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).expect("nspawn log"))
            .stderr(std::fs::File::create(scratch.path().join("nspawn.err")).expect("nspawn log"))
            .spawn()
            .expect("systemd-nspawn starts");
        let mut container = Container {
            leader: 0,
            nspawn,
            root,
            log,
            _scratch: scratch,
        };
        let children = format!("/proc/{0}/task/{0}/children", container.nspawn.id());
        let found = wait_until(Duration::from_secs(30), || {
            let leader = std::fs::read_to_string(&children)
                .ok()
                .and_then(|c| c.split_whitespace().next().and_then(|p| p.parse().ok()));
            // The child is PID 1 of the container once it runs systemd.
            if let Some(pid) = leader
                && std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "systemd")
            {
                container.leader = pid;
            }
            container.leader != 0
        });
        assert!(
            found,
            "the container's systemd did not start: {}",
            container.nspawn_log()
        );
        let booted = wait_until(Duration::from_secs(90), || {
            let state = container.run(&["systemctl", "is-system-running"], Duration::from_secs(10));
            matches!(state.stdout.trim(), "running" | "degraded")
        });
        assert!(
            booted,
            "the container did not finish booting: {}\n{}",
            container
                .run(&["systemctl", "--failed", "--no-pager"], Duration::from_secs(10))
                .text(),
            container.nspawn_log()
        );
        println!("booted systemd in the container in {:.1?}", started.elapsed());
        container
    }

    fn nspawn_log(&self) -> String {
        let err = self.log.with_file_name("nspawn.err");
        format!(
            "nspawn: {}{}",
            std::fs::read_to_string(&self.log).unwrap_or_default(),
            std::fs::read_to_string(err).unwrap_or_default()
        )
    }

    /// A path inside the container, as seen from the host.
    fn path(&self, inside: &str) -> PathBuf {
        self.root.join(inside.trim_start_matches('/'))
    }

    /// Runs a command inside the container, as root, in a clean environment.
    fn run(&self, args: &[&str], limit: Duration) -> Ran {
        run_bounded(
            Command::new("nsenter")
                .args(["-t", &self.leader.to_string(), "-m", "-u", "-i", "-n", "-p", "--"])
                .args(args)
                .env_clear()
                .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
                .env("LANG", "C.UTF-8")
                .env("DEBIAN_FRONTEND", "noninteractive")
                .env("SYSTEMD_PAGER", "")
                .env("SYSTEMD_COLORS", "0"),
            limit,
        )
    }

    /// Runs a command inside the container and panics unless it exits 0.
    fn ok(&self, args: &[&str]) -> String {
        let ran = self.run(args, Duration::from_secs(120));
        if !ran.status.success() {
            // What systemd and the daemon said is what explains a failure.
            let journal = self.run(
                &["journalctl", "-u", UNIT, "-n", "40", "--no-pager"],
                Duration::from_secs(20),
            );
            panic!(
                "{args:?} in the container: {}\njournal:\n{}",
                ran.text(),
                journal.stdout
            );
        }
        ran.stdout
    }

    /// `systemctl show -p NAME --value` for the unit.
    fn prop(&self, name: &str) -> String {
        self.ok(&["systemctl", "show", UNIT, "-p", name, "--value"])
            .trim()
            .to_string()
    }

    /// The unit's journal, messages only.
    fn journal(&self) -> String {
        self.ok(&["journalctl", "-u", UNIT, "-o", "cat", "--no-pager"])
    }

    /// Installed packages and their versions.
    fn packages(&self) -> BTreeSet<String> {
        self.ok(&["dpkg-query", "-W", "-f", "${db:Status-Status} ${Package}\n"])
            .lines()
            .filter_map(|l| l.strip_prefix("installed "))
            .map(str::to_string)
            .collect()
    }

    /// Installs a .deb from the host with apt, which also installs what it depends on.
    fn apt_install(&self, deb: &Path) {
        let name = deb.file_name().and_then(|n| n.to_str()).expect("a .deb file name");
        std::fs::copy(deb, self.path("/root").join(name)).expect("copy the .deb into the container");
        let ran = self.run(
            &[
                "apt-get",
                "install",
                "-y",
                "--no-install-recommends",
                "-o",
                "Dpkg::Options::=--force-confold",
                &format!("/root/{name}"),
            ],
            Duration::from_secs(300),
        );
        assert!(
            ran.status.success(),
            "apt-get install {name}: {}\n(a stale cached root can fail here: delete {} to rebuild it)",
            ran.text(),
            cache_dir().join(ROOT_NAME).display()
        );
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        // SIGTERM makes nspawn shut the container down cleanly; if that
        // hangs, killing its PID 1 ends every process inside.
        let nspawn = self.nspawn.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &nspawn]).status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.nspawn.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        if self.leader != 0 {
            let _ = Command::new("kill").args(["-KILL", &self.leader.to_string()]).status();
        }
        let _ = self.nspawn.kill();
        let _ = self.nspawn.wait();
    }
}

/// The daemon's config inside the container: the accounts given, polled
/// every second, mail written as files under the state directory.
fn config_toml(listen: &str, accounts: &[(&str, &str)], extra: &str) -> String {
    let mut text = format!("schedule = \"* * * * * *\"\nlisten = \"{listen}\"\n{extra}\n");
    for (name, endpoint) in accounts {
        // The key comes from $CREDENTIALS_DIRECTORY, i.e. LoadCredential=.
        text.push_str(&format!(
            "[[accounts]]\nname = \"{name}\"\nendpoint = \"{endpoint}\"\nsecret_id = \"{SECRET_ID}\"\nsecret_key_file = \"secret_key\"\ntimeout = \"2s\"\nmax_attempts = 1\n\n"
        ));
    }
    text.push_str(
        "[email]\ntransport = \"file\"\nfolder = \"/var/lib/cdnquota/mail\"\nfrom = \"cdnquota <alerts@example.com>\"\nto = [\"ops@example.com\"]\n",
    );
    text
}

fn write_file(path: &Path, text: &str, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// How many alert mails the daemon has written.
fn mails(c: &Container) -> usize {
    std::fs::read_dir(c.path("/var/lib/private/cdnquota/mail"))
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
                .count()
        })
        .unwrap_or(0)
}

fn scrape(addr: &str) -> String {
    http_get(addr, "/metrics").map(|(_, body)| body).unwrap_or_default()
}

/// Waits until the daemon has polled `account` successfully `polls` more times.
fn wait_polls(addr: &str, account: &str, polls: f64) {
    let label = format!("account=\"{account}\",action=\"GetPackage\",outcome=\"success\"");
    let count = || metric(&scrape(addr), "cdnquota_api_requests_total", &label).unwrap_or(0.0);
    let start = count();
    assert!(
        wait_until(Duration::from_secs(20), || count() >= start + polls),
        "{account} was not polled {polls} more times: {}",
        scrape(addr)
    );
}

fn remaining(addr: &str, account: &str) -> Option<f64> {
    metric(
        &scrape(addr),
        "cdnquota_pool_remaining_bytes",
        &format!("account=\"{account}\",region=\"mainland\""),
    )
}

#[test]
fn the_deb_under_a_real_systemd_starts_reloads_restarts_upgrades_and_is_removed() {
    if !prerequisites() {
        return;
    }
    let _one = one_at_a_time();
    let test_started = Instant::now();
    let debs_dir = tempfile::tempdir().expect("a folder for the .debs");
    let started = Instant::now();
    let (deb, upgrade_deb, upgrade_version) = build_debs(debs_dir.path());
    println!(
        "built {} ({} bytes) and the upgrade in {:.1?}",
        deb.display(),
        std::fs::metadata(&deb).map(|m| m.len()).unwrap_or(0),
        started.elapsed()
    );
    let pristine = pristine_root(|| deb.clone());
    let main_sim = Sim::with_packages(&[(1000 * GB, 950 * GB)]);
    let second_sim = Sim::with_packages(&[(500 * GB, 0)]);
    let c = Container::boot(&pristine);

    // 7. Dependencies, before: the image is minimal, without the
    // programs the unit used to need (procps for /bin/kill) or the
    // package the .deb must bring (ca-certificates).
    let before = c.packages();
    for absent in ["procps", "ca-certificates"] {
        assert!(!before.contains(absent), "the minimal image has {absent}");
    }
    // Missing CA certificates, on a real system without them: one clear
    // line for an https endpoint; a loopback http:// endpoint needs none.
    run_ok(
        Command::new("dpkg-deb")
            .arg("-x")
            .arg(&deb)
            .arg(c.path("/opt/unpacked")),
        Duration::from_secs(60),
    );
    let listen = format!("127.0.0.1:{}", free_port());
    write_file(
        &c.path("/opt/https.toml"),
        &format!(
            "listen = \"{listen}\"\nstate_dir = \"/opt/state\"\n[[accounts]]\nname = \"main\"\nendpoint = \"https://127.0.0.1:9/v2/index.php\"\nsecret_id = \"{SECRET_ID}\"\nsecret_key = \"{SECRET_KEY}\"\n"
        ),
        0o600,
    );
    let no_ca = c.run(
        &["/opt/unpacked/usr/bin/cdnquota", "run", "-c", "/opt/https.toml"],
        Duration::from_secs(30),
    );
    assert_eq!(no_ca.status.code(), Some(1), "{}", no_ca.text());
    let line = no_ca
        .stderr
        .lines()
        .find(|l| l.contains("CA certificates"))
        .unwrap_or_default();
    assert!(
        line.contains("CA certificates are missing") && line.contains("install the ca-certificates package"),
        "{}",
        no_ca.text()
    );
    println!("without ca-certificates: {line}");
    write_file(
        &c.path("/opt/http.toml"),
        &format!(
            "state_dir = \"/opt/state\"\n[[accounts]]\nname = \"main\"\nendpoint = \"{}\"\nsecret_id = \"{SECRET_ID}\"\nsecret_key = \"{SECRET_KEY}\"\n",
            main_sim.endpoint()
        ),
        0o600,
    );
    let check = c.run(
        &["/opt/unpacked/usr/bin/cdnquota", "check", "-c", "/opt/http.toml"],
        Duration::from_secs(30),
    );
    // PoolLow: a warning (exit 1) is a successful read.
    assert_eq!(check.status.code(), Some(1), "{}", check.text());
    std::fs::remove_dir_all(c.path("/opt")).expect("remove /opt/unpacked");

    // Install: apt brings what Depends names, and nothing else.
    let started = Instant::now();
    c.apt_install(&deb);
    println!("installed the .deb in {:.1?}", started.elapsed());
    let after = c.packages();
    let added: BTreeSet<&String> = after.difference(&before).collect();
    let closure: BTreeSet<String> = c
        .ok(&[
            "apt-cache",
            "depends",
            "--recurse",
            "--installed",
            "--no-recommends",
            "--no-suggests",
            "--no-conflicts",
            "--no-breaks",
            "--no-replaces",
            "--no-enhances",
            "cdnquota",
        ])
        .lines()
        .filter(|l| !l.starts_with(' '))
        .map(|l| l.trim().to_string())
        .collect();
    assert!(added.contains(&"cdnquota".to_string()) && added.contains(&"ca-certificates".to_string()));
    let extra: Vec<&&String> = added.iter().filter(|p| !closure.contains(p.as_str())).collect();
    assert!(extra.is_empty(), "apt installed more than Depends pulls in: {extra:?}");
    assert!(!after.contains("procps"), "procps came in");
    println!("the .deb brought: {added:?}");
    // Installed disabled and stopped.
    assert_eq!(
        c.run(&["systemctl", "is-enabled", UNIT], Duration::from_secs(10))
            .stdout
            .trim(),
        "disabled"
    );
    assert_eq!(c.prop("ActiveState"), "inactive");

    // 1. Start: ready, serving the simulator's numbers, the key through
    // LoadCredential, the state directory the dynamic user's.
    let addr = format!("127.0.0.1:{}", free_port());
    let good = config_toml(&addr, &[("main", &main_sim.endpoint())], "");
    assert!(!good.contains(SECRET_KEY));
    write_file(&c.path("/etc/cdnquota/cdnquota.toml"), &good, 0o644);
    write_file(&c.path("/etc/cdnquota/secret_key"), SECRET_KEY, 0o600);
    let started = Instant::now();
    c.ok(&["systemctl", "start", UNIT]);
    println!("systemctl start returned after {:.1?}", started.elapsed());
    assert_eq!(c.prop("ActiveState"), "active");
    assert_eq!(c.prop("SubState"), "running");
    assert_eq!(c.prop("StatusText"), "watching; first poll round done");
    assert_eq!(remaining(&addr, "main"), Some((50 * GB) as f64), "{}", scrape(&addr));
    assert_eq!(
        metric(&scrape(&addr), "cdnquota_poll_success", "account=\"main\""),
        Some(1.0)
    );
    let pid = c.prop("MainPID");
    let environ = c.ok(&["cat", &format!("/proc/{pid}/environ")]);
    assert!(
        environ
            .split('\0')
            .any(|v| v == "CREDENTIALS_DIRECTORY=/run/credentials/cdnquota.service"),
        "{environ}"
    );
    c.ok(&["test", "-f", "/run/credentials/cdnquota.service/secret_key"]);
    let status = c.ok(&["cat", &format!("/proc/{pid}/status")]);
    let uid: u32 = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|u| u.split_whitespace().next())
        .and_then(|u| u.parse().ok())
        .expect("the daemon's uid");
    assert!((61184..=65519).contains(&uid), "not a dynamic uid: {uid}");
    assert_eq!(
        c.ok(&["stat", "-c", "%u %a", "/var/lib/private/cdnquota"]).trim(),
        format!("{uid} 700")
    );
    assert_eq!(c.ok(&["readlink", "/var/lib/cdnquota"]).trim(), "private/cdnquota");
    let security = c.ok(&["systemd-analyze", "security", "--no-pager", UNIT]);
    let score: f64 = security
        .lines()
        .find_map(|l| l.split("cdnquota.service: ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no exposure score in: {security}"));
    println!("systemd-analyze security in the container: {score}");
    assert!(score <= 1.5, "exposure {score}:\n{security}");
    // PoolLow goes pending, then fires and is mailed once.
    assert!(
        wait_until(Duration::from_secs(20), || mails(&c) == 1),
        "no alert mail:\n{}",
        c.journal()
    );

    // 2. Reload: a good config is applied by the same process; a bad one
    // is refused with one line and the running config stays.
    let both = config_toml(
        &addr,
        &[("main", &main_sim.endpoint()), ("second", &second_sim.endpoint())],
        "",
    );
    write_file(&c.path("/etc/cdnquota/cdnquota.toml"), &both, 0o644);
    c.ok(&["systemctl", "reload", UNIT]);
    assert!(
        wait_until(Duration::from_secs(20), || remaining(&addr, "second")
            == Some((500 * GB) as f64)),
        "the reload was not applied: {}\n{}",
        scrape(&addr),
        c.journal()
    );
    assert_eq!(c.prop("MainPID"), pid, "a reload restarted the daemon");
    let bad = format!("{both}\n[thresholds]\nremaining_ratio_below = 2\n");
    write_file(&c.path("/etc/cdnquota/cdnquota.toml"), &bad, 0o644);
    c.ok(&["systemctl", "reload", UNIT]);
    let refused = || {
        c.journal()
            .lines()
            .filter(|l| l.contains("the new config is refused"))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert!(
        wait_until(Duration::from_secs(20), || !refused().is_empty()),
        "{}",
        c.journal()
    );
    let lines = refused();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("remaining_ratio_below"), "{lines:?}");
    println!("a bad reload logs: {}", lines[0]);
    wait_polls(&addr, "second", 2.0);
    assert_eq!(c.prop("MainPID"), pid);
    assert_eq!(c.prop("ActiveState"), "active");
    write_file(&c.path("/etc/cdnquota/cdnquota.toml"), &both, 0o644);

    // 3. Watchdog: a daemon that stops answering (SIGSTOP) is killed and
    // restarted, once.
    let drop_in = c.path("/etc/systemd/system/cdnquota.service.d");
    std::fs::create_dir_all(&drop_in).expect("the drop-in folder");
    write_file(&drop_in.join("watchdog.conf"), WATCHDOG_DROP_IN, 0o644);
    c.ok(&["systemctl", "daemon-reload"]);
    c.ok(&["systemctl", "restart", UNIT]);
    assert_eq!(c.prop("WatchdogUSec"), "3s");
    let restarts_before: u32 = c.prop("NRestarts").parse().expect("NRestarts");
    let stopped_pid = c.prop("MainPID");
    let stopped_at = Instant::now();
    c.ok(&["systemctl", "kill", "--kill-whom=main", "--signal=SIGSTOP", UNIT]);
    let restarted = wait_until(Duration::from_secs(30), || {
        c.prop("NRestarts").parse::<u32>().unwrap_or(0) > restarts_before
            && c.prop("SubState") == "running"
            && c.prop("MainPID") != stopped_pid
    });
    assert!(restarted, "the watchdog did not restart the daemon:\n{}", c.journal());
    let took = stopped_at.elapsed();
    // Watch a few more watchdog periods: the new process keeps it fed.
    std::thread::sleep(Duration::from_secs(8));
    let restarts = c.prop("NRestarts").parse::<u32>().expect("NRestarts") - restarts_before;
    println!("watchdog: {restarts} restart(s), the first {took:.1?} after SIGSTOP");
    assert_eq!(restarts, 1, "{}", c.journal());
    assert!(c.journal().contains("Watchdog timeout"), "{}", c.journal());
    wait_polls(&addr, "main", 1.0);
    std::fs::remove_dir_all(&drop_in).expect("remove the drop-in");
    c.ok(&["systemctl", "daemon-reload"]);

    // 4. Stop: clean, the state saved; the next start keeps the alert
    // state, so the firing alert is not mailed again.
    c.ok(&["systemctl", "stop", UNIT]);
    assert_eq!(c.prop("ActiveState"), "inactive");
    assert_eq!(c.prop("Result"), "success");
    assert_eq!(c.prop("ExecMainStatus"), "0");
    let state: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(c.path("/var/lib/private/cdnquota/state.json")).expect("the state file"),
    )
    .expect("the state is JSON");
    assert_eq!(
        state["alerts"]["alerts"]["main/PoolLow@mainland"]["phase"], "firing",
        "{state}"
    );
    c.ok(&["systemctl", "start", UNIT]);
    assert_eq!(
        metric(
            &scrape(&addr),
            "cdnquota_alert_firing",
            "account=\"main\",alert=\"PoolLow\",region=\"mainland\""
        ),
        Some(1.0),
        "{}",
        scrape(&addr)
    );
    wait_polls(&addr, "main", 3.0);
    assert_eq!(mails(&c), 1, "an alert was mailed again after a restart");

    // 5. Upgrade: a higher version restarts the running service.
    let pid = c.prop("MainPID");
    let invocation = c.prop("InvocationID");
    c.apt_install(&upgrade_deb);
    assert_eq!(
        c.ok(&["dpkg-query", "-W", "-f", "${Version}", "cdnquota"]).trim(),
        upgrade_version
    );
    assert_ne!(
        c.prop("InvocationID"),
        invocation,
        "the upgrade did not restart the service"
    );
    assert_ne!(c.prop("MainPID"), pid);
    assert_eq!(c.prop("SubState"), "running");
    assert_eq!(
        c.run(&["systemctl", "is-enabled", UNIT], Duration::from_secs(10))
            .stdout
            .trim(),
        "disabled"
    );
    wait_polls(&addr, "second", 1.0);
    assert_eq!(mails(&c), 1);

    // 6. Remove stops the service and keeps the config; purge removes it.
    c.ok(&["apt-get", "remove", "-y", "cdnquota"]);
    assert_eq!(c.prop("ActiveState"), "inactive");
    assert!(
        http_get(&addr, "/healthz").is_none(),
        "the daemon still answers after removal"
    );
    assert!(
        c.path("/etc/cdnquota/cdnquota.toml").exists(),
        "remove deleted the config"
    );
    assert!(!c.path("/usr/bin/cdnquota").exists());
    c.ok(&["apt-get", "purge", "-y", "cdnquota"]);
    assert!(!c.path("/etc/cdnquota/cdnquota.toml").exists(), "purge kept the config");
    let status = c.run(
        &["dpkg-query", "-W", "-f", "${db:Status-Status}", "cdnquota"],
        Duration::from_secs(10),
    );
    assert!(
        !status.status.success() || status.stdout.trim() == "not-installed",
        "{}",
        status.text()
    );
    println!("the test took {:.0?} in all", test_started.elapsed());
}

/// The stripped binary the tests built, where cargo-generate-rpm and
/// cargo-deb look for it (`target/release/cdnquota`) under `target`.
fn binary_in(target: &Path) {
    let binary = target.join("release/cdnquota");
    if binary.exists() {
        return;
    }
    std::fs::create_dir_all(target.join("release")).expect("a target folder");
    std::fs::copy(env!("CARGO_BIN_EXE_cdnquota"), &binary).expect("copy the binary");
    // Unstripped, rpmlint rightly calls it an error.
    run_ok(Command::new("strip").arg(&binary), Duration::from_secs(60));
}

/// Builds the RPM of release `release` into `out`.
fn build_rpm(out: &Path, release: &str) -> PathBuf {
    let release_build = std::env::var_os("CDNQUOTA_TEST_DEB_RELEASE").is_some_and(|v| v == "1");
    let dir = out.join(format!("rpm-{release}"));
    std::fs::create_dir_all(&dir).expect("a folder for the RPM");
    let overwrite = out.join(format!("release-{release}.toml"));
    std::fs::write(&overwrite, format!("release = \"{release}\"\n")).expect("write the release");
    let mut cmd = Command::new("cargo");
    cmd.current_dir(MANIFEST_DIR)
        .args(["generate-rpm", "--output"])
        .arg(&dir)
        .arg("--metadata-overwrite")
        .arg(&overwrite);
    if release_build {
        run_ok(
            Command::new("cargo")
                .current_dir(MANIFEST_DIR)
                .args(["build", "--release"]),
            Duration::from_secs(1800),
        );
    } else {
        let target = out.join("target");
        binary_in(&target);
        // gzip: a larger RPM, made in 2 s where zstd takes 12.
        cmd.arg("--target-dir")
            .arg(&target)
            .args(["--payload-compress", "gzip"]);
    }
    run_ok(&mut cmd, Duration::from_secs(300));
    let mut rpms: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("read the RPM folder")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "rpm"))
        .collect();
    assert_eq!(rpms.len(), 1, "one RPM expected in {}: {rpms:?}", dir.display());
    rpms.remove(0)
}

/// rpmlint's findings `(E or W, name)`, with or without the repo's config.
fn rpmlint(rpm: &Path, with_config: bool) -> (Vec<(String, String)>, String) {
    let mut cmd = Command::new("rpmlint");
    if with_config {
        cmd.arg("-c")
            .arg(Path::new(MANIFEST_DIR).join("systemd/rpm/rpmlint.toml"));
    }
    let ran = run_bounded(cmd.arg(rpm), Duration::from_secs(120));
    let findings = ran
        .stdout
        .lines()
        .filter_map(|l| {
            let (_, rest) = l.split_once(": ")?;
            let (level, name) = rest.split_once(": ")?;
            let name = name.split_whitespace().next()?.to_string();
            matches!(level, "E" | "W").then(|| (level.to_string(), name))
        })
        .collect();
    (findings, ran.text())
}

#[test]
fn the_rpm_under_a_real_systemd_installs_starts_upgrades_and_is_erased() {
    if !prerequisites() {
        return;
    }
    let mut generate_rpm = Command::new("cargo");
    generate_rpm.args(["generate-rpm", "--version"]);
    let tools = [
        have("rpm"),
        have("rpmlint"),
        have("strip"),
        available(
            generate_rpm,
            "cargo-generate-rpm is missing: .ci/run installs the pinned version",
        ),
    ];
    if !tools.iter().all(|ok| *ok) {
        return;
    }
    let _one = one_at_a_time();
    let test_started = Instant::now();
    let out = tempfile::tempdir().expect("a folder for the RPMs");
    let started = Instant::now();
    let rpm = build_rpm(out.path(), "1");
    let upgrade = build_rpm(out.path(), "2");
    println!("built {} and the upgrade in {:.1?}", rpm.display(), started.elapsed());

    // rpmlint: no error with the repo's filters, and without them only the
    // header tags and signature they filter, each explained there.
    let (findings, text) = rpmlint(&rpm, true);
    assert!(findings.iter().all(|(level, _)| level == "W"), "{text}");
    let warnings: BTreeSet<&str> = findings.iter().map(|(_, n)| n.as_str()).collect();
    let explained = [
        "only-non-binary-in-usr-lib",
        "no-url-tag",
        "no-manual-page-for-binary",
        "invalid-license",
    ];
    for w in &warnings {
        assert!(
            explained.contains(w),
            "a warning the README does not explain: {w}\n{text}"
        );
    }
    println!("rpmlint: 0 errors, warnings {warnings:?}");
    let (bare, text) = rpmlint(&rpm, false);
    let errors: BTreeSet<&str> = bare.iter().filter(|(l, _)| l == "E").map(|(_, n)| n.as_str()).collect();
    let filtered = BTreeSet::from([
        "no-signature",
        "no-packager-tag",
        "no-group-tag",
        "no-buildhost-tag",
        "no-changelogname-tag",
    ]);
    assert!(errors.is_subset(&filtered), "{text}");

    let pristine = pristine_root(|| {
        let debs = out.path().join("debs");
        build_debs(&debs).0
    });
    let sim = Sim::with_packages(&[(1000 * GB, 400 * GB)]);
    let c = Container::boot(&pristine);
    let copy_in = |rpm: &Path| -> String {
        let name = rpm.file_name().and_then(|n| n.to_str()).expect("an RPM file name");
        std::fs::copy(rpm, c.path("/root").join(name)).expect("copy the RPM into the container");
        format!("/root/{name}")
    };
    // --nodeps: Debian's rpm database is empty (dpkg, not rpm, installed
    // libc, /bin/sh and ca-certificates), so every Requires would be
    // missing. On TencentOS or OpenCloudOS, dnf resolves them.
    let first = copy_in(&rpm);
    c.ok(&["rpm", "-i", "--nodeps", &first]);
    assert_eq!(c.ok(&["rpm", "-q", "cdnquota"]).trim(), "cdnquota-0.1.0-1.x86_64");
    let config_files = c.ok(&["rpm", "-qc", "cdnquota"]);
    assert_eq!(config_files.trim(), "/etc/cdnquota/cdnquota.toml");
    let flags = c.ok(&["rpm", "-q", "--qf", "[%{FILEFLAGS:fflags} %{FILENAMES}\n]", "cdnquota"]);
    assert!(
        flags.contains("cn /etc/cdnquota/cdnquota.toml"),
        "not %config(noreplace):\n{flags}"
    );
    for file in [
        "/usr/bin/cdnquota",
        "/usr/lib/systemd/system/cdnquota.service",
        "/usr/share/doc/cdnquota/README.md",
        "/usr/share/doc/cdnquota/examples/cdnquota.rules.yml",
        "/usr/share/doc/cdnquota/examples/grafana-dashboard.json",
    ] {
        assert!(c.path(file).exists(), "{file} not installed");
    }
    // Installed, neither enabled nor started; systemd has read the unit.
    assert_eq!(
        c.run(&["systemctl", "is-enabled", UNIT], Duration::from_secs(10))
            .stdout
            .trim(),
        "disabled"
    );
    assert_eq!(c.prop("ActiveState"), "inactive");
    assert_eq!(c.prop("LoadState"), "loaded");

    let addr = format!("127.0.0.1:{}", free_port());
    let config = config_toml(&addr, &[("main", &sim.endpoint())], "");
    write_file(&c.path("/etc/cdnquota/cdnquota.toml"), &config, 0o644);
    write_file(&c.path("/etc/cdnquota/secret_key"), SECRET_KEY, 0o600);
    c.ok(&["systemctl", "start", UNIT]);
    assert_eq!(c.prop("SubState"), "running");
    assert_eq!(remaining(&addr, "main"), Some((600 * GB) as f64), "{}", scrape(&addr));

    // Upgrade to a higher release: the running service is restarted on it,
    // still disabled, and the edited config is kept.
    let pid = c.prop("MainPID");
    let invocation = c.prop("InvocationID");
    let second = copy_in(&upgrade);
    c.ok(&["rpm", "-U", "--nodeps", &second]);
    assert_eq!(c.ok(&["rpm", "-q", "cdnquota"]).trim(), "cdnquota-0.1.0-2.x86_64");
    assert_ne!(
        c.prop("InvocationID"),
        invocation,
        "the upgrade did not restart the service"
    );
    assert_ne!(c.prop("MainPID"), pid);
    assert_eq!(c.prop("SubState"), "running");
    assert_eq!(
        c.run(&["systemctl", "is-enabled", UNIT], Duration::from_secs(10))
            .stdout
            .trim(),
        "disabled"
    );
    assert_eq!(
        std::fs::read_to_string(c.path("/etc/cdnquota/cdnquota.toml")).expect("the config"),
        config
    );
    wait_polls(&addr, "main", 1.0);

    // Erase: stopped, no unit left, the edited config saved aside.
    c.ok(&["systemctl", "enable", UNIT]);
    c.ok(&["rpm", "-e", "cdnquota"]);
    assert!(
        http_get(&addr, "/healthz").is_none(),
        "the daemon still answers after rpm -e"
    );
    assert!(!c.path("/usr/lib/systemd/system/cdnquota.service").exists());
    assert!(!c.path("/usr/bin/cdnquota").exists());
    let wants = c.path("/etc/systemd/system/multi-user.target.wants/cdnquota.service");
    assert!(!wants.exists(), "rpm -e left the unit enabled");
    assert_eq!(c.prop("LoadState"), "not-found", "systemd still knows the unit");
    assert!(
        c.path("/etc/cdnquota/cdnquota.toml.rpmsave").exists(),
        "the edited config was lost"
    );
    let gone = c.run(&["rpm", "-q", "cdnquota"], Duration::from_secs(10));
    assert!(!gone.status.success(), "{}", gone.text());
    println!("the RPM test took {:.0?} in all", test_started.elapsed());
}
