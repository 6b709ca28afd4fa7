//! The exporter-toolkit web config in front of every endpoint: a real
//! Prometheus scraping over TLS with basic auth (and failing as it should
//! with a wrong password or plain HTTP), a certificate rotated under a
//! running daemon, client certificates, headless Chromium on the status
//! page, and `cdnquota config` checking the file. Certificates are made by
//! openssl; requests go through curl and `openssl s_client`.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const USER: &str = "prometheus";
const PASSWORD: &str = "scrape-secret";

fn tools(extra: &[&str]) -> bool {
    // Each is checked, so that one run names every missing tool; openssl
    // has no --version.
    let mut openssl = Command::new("openssl");
    openssl.arg("version");
    let mut found = vec![available(openssl, "`openssl` is missing: .ci/run installs it")];
    found.extend(["curl"].iter().chain(extra).map(|t| have(t)));
    found.into_iter().all(|ok| ok)
}

fn openssl(dir: &Path, args: &[&str]) {
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
}

/// A CA named `name`: `name.pem` and `name.key` in `dir`.
fn ca(dir: &Path, name: &str) -> PathBuf {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &format!("/CN={name}"),
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.pem"),
        ],
    );
    dir.join(format!("{name}.pem"))
}

/// A certificate `name.pem` (key `name.key`) signed by CA `ca`, with
/// `serial`, for a server on 127.0.0.1 or a client.
fn issue(dir: &Path, ca: &str, name: &str, serial: u32, server: bool) -> (PathBuf, PathBuf) {
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-subj",
            &format!("/CN={name}"),
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
        ],
    );
    let ext = if server {
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
    } else {
        "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n"
    };
    std::fs::write(dir.join(format!("{name}.cnf")), ext).unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            &format!("{ca}.pem"),
            "-CAkey",
            &format!("{ca}.key"),
            "-set_serial",
            &serial.to_string(),
            "-days",
            "2",
            "-extfile",
            &format!("{name}.cnf"),
            "-out",
            &format!("{name}.pem"),
        ],
    );
    (dir.join(format!("{name}.pem")), dir.join(format!("{name}.key")))
}

/// A bcrypt hash of `password` (cost 4: the tests are about answers).
fn hash(password: &str) -> String {
    bcrypt::hash(password, 4).expect("bcrypt hashes")
}

/// What curl got: the HTTP status (0 when there was no HTTP answer), the
/// body, and curl's exit code.
struct Got {
    status: u16,
    body: String,
    exit: Option<i32>,
}

/// `GET https://addr/path` through curl, trusting `ca`, with optional
/// credentials and client certificate.
fn curl(url: &str, ca: &Path, user: Option<(&str, &str)>, client: Option<(&Path, &Path)>) -> Got {
    let mut cmd = Command::new("curl");
    cmd.args([
        "--silent",
        "--max-time",
        "10",
        "--output",
        "-",
        "--write-out",
        "\n%{http_code}",
    ])
    .arg("--cacert")
    .arg(ca);
    if let Some((u, p)) = user {
        cmd.arg("--user").arg(format!("{u}:{p}"));
    }
    if let Some((cert, key)) = client {
        cmd.arg("--cert").arg(cert).arg("--key").arg(key);
    }
    let out = cmd.arg(url).stdin(Stdio::null()).output().expect("curl runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    Got {
        status: code.trim().parse().unwrap_or(0),
        body: body.to_string(),
        exit: out.status.code(),
    }
}

/// The serial of the certificate a new TLS connection to `addr` is served.
fn served_serial(addr: &str) -> String {
    let s_client = Command::new("openssl")
        .args(["s_client", "-connect", addr, "-servername", "localhost"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .expect("openssl s_client runs");
    let mut x509 = Command::new("openssl")
        .args(["x509", "-noout", "-serial"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl x509 runs");
    use std::io::Write;
    let _ = x509.stdin.take().expect("stdin").write_all(&s_client.stdout);
    let out = x509.wait_with_output().expect("openssl x509 ends");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Writes `text` to `path` as a rotation tool does: a new file renamed over
/// the old one.
fn replace(path: &Path, text: &[u8]) {
    let tmp = path.with_extension("new");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// A daemon on the simulator behind the web config `web`.
fn daemon(dir: &Path, sim: &Sim, web: &str) -> (Daemon, PathBuf) {
    let web_path = dir.join("web.yml");
    std::fs::write(&web_path, web).unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let body = format!(
        "listen = \"{addr}\"\nschedule = \"* * * * * *\"\n[http]\nweb_config_file = \"web.yml\"\n{}",
        account_toml("main", &sim.endpoint(), "")
    );
    // Daemon::start waits for plain /healthz, which a TLS port never
    // answers: wait for the TLS port instead.
    let config = write_config(dir, &body);
    let log = config.with_extension("log");
    let child = cdnquota(&["run", "-c", config.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("the daemon starts");
    let d = Daemon {
        child,
        addr: addr.clone(),
        log,
    };
    assert!(
        wait_until(Duration::from_secs(10), || std::net::TcpStream::connect(&addr).is_ok()),
        "the daemon did not listen; log:\n{}",
        d.log()
    );
    (d, web_path)
}

fn tls_web(cert: &Path, key: &Path, extra: &str) -> String {
    format!(
        "tls_server_config:\n  cert_file: {}\n  key_file: {}\n{extra}",
        cert.display(),
        key.display()
    )
}

#[test]
fn a_real_prometheus_scrapes_over_tls_with_basic_auth_and_a_wrong_password_or_plain_http_fails() {
    if !tools(&["prometheus"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ca_pem = ca(dir.path(), "ca");
    let (cert, key) = issue(dir.path(), "ca", "server", 1001, true);
    let sim = Sim::with_packages(&[(1000 * GB, 123 * GB)]);
    let web = tls_web(
        &cert,
        &key,
        &format!(
            "basic_auth_users:\n  {USER}: {}\nhttp_server_config:\n  headers:\n    X-Frame-Options: deny\n    Content-Security-Policy: \"default-src 'none'\"\n",
            hash(PASSWORD)
        ),
    );
    let (d, _) = daemon(dir.path(), &sim, &web);
    let url = format!("https://{}", d.addr);
    // Every endpoint is behind the login, and says how to log in.
    for path in ["/metrics", "/", "/healthz", "/readyz"] {
        let refused = curl(&format!("{url}{path}"), &ca_pem, None, None);
        assert_eq!(refused.status, 401, "{path}: {}", refused.body);
    }
    let ok = curl(&format!("{url}/healthz"), &ca_pem, Some((USER, PASSWORD)), None);
    assert_eq!((ok.status, ok.body.as_str()), (200, "ok\n"));

    let prom_addr = format!("127.0.0.1:{}", free_port());
    let job = |name: &str, scheme: &str, password: &str| {
        format!(
            "  - job_name: {name}\n    scheme: {scheme}\n    tls_config:\n      ca_file: {}\n    basic_auth:\n      username: {USER}\n      password: {password}\n    static_configs:\n      - targets: [\"{}\"]\n",
            ca_pem.display(),
            d.addr
        )
    };
    std::fs::write(
        dir.path().join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n{}{}{}",
            job("good", "https", PASSWORD),
            job("wrong", "https", "not-the-password"),
            job("plain", "http", PASSWORD)
        ),
    )
    .unwrap();
    let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
    let mut prometheus = Command::new("prometheus")
        .arg(format!("--config.file={}", dir.path().join("prometheus.yml").display()))
        .arg(format!("--storage.tsdb.path={}", dir.path().join("tsdb").display()))
        .arg(format!("--web.listen-address={prom_addr}"))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let targets = || -> Vec<(String, String, String)> {
        let body = http_get(&prom_addr, "/api/v1/targets")
            .map(|(_, b)| b)
            .unwrap_or_default();
        let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        v["data"]["activeTargets"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|t| {
                        (
                            t["labels"]["job"].as_str().unwrap_or_default().to_string(),
                            t["health"].as_str().unwrap_or_default().to_string(),
                            t["lastError"].as_str().unwrap_or_default().to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    // Each target scraped at least once: none is "unknown" any more.
    let scraped = wait_until(Duration::from_secs(30), || {
        let t = targets();
        t.len() == 3 && t.iter().all(|(_, health, _)| health != "unknown")
    });
    let query = |q: &str| {
        let q = q
            .replace('{', "%7B")
            .replace('}', "%7D")
            .replace('"', "%22")
            .replace(' ', "%20");
        let body = http_get(&prom_addr, &format!("/api/v1/query?query={q}"))
            .map(|(_, b)| b)
            .unwrap_or_default();
        let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        v["data"]["result"][0]["value"][1]
            .as_str()
            .and_then(|s| s.parse::<f64>().ok())
    };
    let remaining_seen = wait_until(Duration::from_secs(30), || {
        query("cdnquota_pool_remaining_bytes{job=\"good\"}") == Some((877 * GB) as f64)
    });
    // The dashboard's process panel: the daemon's own series, joined.
    let resident = query("process_resident_memory_bytes{job=\"good\"} and on(job, instance) cdnquota_build_info");
    let found = targets();
    let _ = prometheus.kill();
    let _ = prometheus.wait();
    assert!(
        scraped && remaining_seen,
        "{found:?}\n{}",
        std::fs::read_to_string(dir.path().join("prometheus.log")).unwrap_or_default()
    );
    assert!(resident.is_some_and(|r| r > 1_000_000.0), "{resident:?}");
    let by_job = |job: &str| found.iter().find(|(j, _, _)| j == job).cloned().unwrap_or_default();
    let good = by_job("good");
    assert_eq!(good.1, "up", "{good:?}");
    let wrong = by_job("wrong");
    assert_eq!(wrong.1, "down", "{wrong:?}");
    assert!(wrong.2.contains("401"), "{wrong:?}");
    let plain = by_job("plain");
    assert_eq!(plain.1, "down", "{plain:?}");
    assert!(plain.2.contains("400"), "{plain:?}");
    println!("wrong password: {}\nplain HTTP: {}", wrong.2, plain.2);
    // And the daemon kept serving through it all.
    let after = curl(&format!("{url}/metrics"), &ca_pem, Some((USER, PASSWORD)), None);
    assert_eq!(after.status, 200);
    assert!(after.body.contains("process_resident_memory_bytes"));
    let headers = Command::new("curl")
        .args(["--silent", "--head", "--cacert"])
        .arg(&ca_pem)
        .args(["--user", &format!("{USER}:{PASSWORD}"), &format!("{url}/")])
        .output()
        .unwrap();
    let headers = String::from_utf8_lossy(&headers.stdout).to_lowercase();
    assert!(headers.contains("x-frame-options: deny"), "{headers}");
    assert!(
        headers.contains("content-security-policy: default-src 'none'"),
        "{headers}"
    );
    assert!(!d.log().contains(PASSWORD), "{}", d.log());
}

#[test]
fn a_rotated_certificate_is_served_at_once_and_a_bad_file_keeps_the_last_good_one() {
    if !tools(&[]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ca_pem = ca(dir.path(), "ca");
    let (cert, key) = issue(dir.path(), "ca", "server", 1001, true);
    let sim = Sim::with_packages(&[(1000 * GB, 0)]);
    let (d, web) = daemon(dir.path(), &sim, &tls_web(&cert, &key, ""));
    assert_eq!(served_serial(&d.addr), "serial=03E9"); // 1001
    // A new pair, written over the old files as a renewal tool does.
    let (new_cert, new_key) = issue(dir.path(), "ca", "renewed", 2002, true);
    replace(&key, &std::fs::read(&new_key).unwrap());
    replace(&cert, &std::fs::read(&new_cert).unwrap());
    // The next connection already gets it: nothing to wait for.
    assert_eq!(served_serial(&d.addr), "serial=07D2"); // 2002
    let url = format!("https://{}/healthz", d.addr);
    assert_eq!(curl(&url, &ca_pem, None, None).status, 200);

    // A web config that turns bad: refused once, the last good one serves.
    let good = std::fs::read_to_string(&web).unwrap();
    replace(&web, format!("{good}  min_verison: TLS13\n").as_bytes());
    for _ in 0..3 {
        assert_eq!(served_serial(&d.addr), "serial=07D2");
        assert_eq!(curl(&url, &ca_pem, None, None).status, 200);
    }
    let said = |log: &str| {
        log.lines()
            .filter(|l| l.contains("the last good web config stays in force"))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let lines = said(&d.log());
    assert_eq!(lines.len(), 1, "{}", d.log());
    assert!(
        lines[0].contains("web.yml:4") && lines[0].contains("min_verison"),
        "{lines:?}"
    );
    // A key that is not the certificate's: refused too, never quoted.
    let (_, stray_key) = issue(dir.path(), "ca", "stray", 3003, true);
    replace(&web, good.as_bytes());
    replace(&key, &std::fs::read(&stray_key).unwrap());
    assert_eq!(served_serial(&d.addr), "serial=07D2");
    let lines = said(&d.log());
    assert_eq!(lines.len(), 2, "{}", d.log());
    assert!(
        lines[1].contains("is not the key of cert_file's certificate"),
        "{lines:?}"
    );
    let stray = std::fs::read_to_string(&stray_key).unwrap();
    let secret_line = stray.lines().nth(1).unwrap();
    assert!(!d.log().contains(secret_line), "the key was logged");
    // Fixed: read again and served.
    replace(&key, &std::fs::read(&new_key).unwrap());
    assert_eq!(curl(&url, &ca_pem, None, None).status, 200);
    assert!(d.log().contains("changed and was read again"), "{}", d.log());
}

#[test]
fn client_certificates_are_required_and_verified_against_the_client_ca() {
    if !tools(&[]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ca_pem = ca(dir.path(), "ca");
    let (cert, key) = issue(dir.path(), "ca", "server", 1001, true);
    let client_ca = ca(dir.path(), "clients");
    let (client, client_key) = issue(dir.path(), "clients", "scraper", 5, false);
    ca(dir.path(), "other");
    let (stranger, stranger_key) = issue(dir.path(), "other", "stranger", 6, false);
    let sim = Sim::with_packages(&[(1000 * GB, 0)]);
    let web = tls_web(
        &cert,
        &key,
        &format!(
            "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {}\n  min_version: TLS13\n",
            client_ca.display()
        ),
    );
    let (d, _) = daemon(dir.path(), &sim, &web);
    let url = format!("https://{}/metrics", d.addr);
    let none = curl(&url, &ca_pem, None, None);
    assert_eq!(none.status, 0, "served without a client certificate: {}", none.body);
    assert_ne!(none.exit, Some(0));
    let foreign = curl(&url, &ca_pem, None, Some((&stranger, &stranger_key)));
    assert_eq!(foreign.status, 0, "served a certificate of another CA");
    let signed = curl(&url, &ca_pem, None, Some((&client, &client_key)));
    assert_eq!(signed.status, 200, "exit {:?}", signed.exit);
    assert!(signed.body.contains("cdnquota_build_info"));
    // min_version: TLS13 refuses a TLS 1.2 client.
    let tls12 = Command::new("curl")
        .args(["--silent", "--tlsv1.2", "--tls-max", "1.2", "--cacert"])
        .arg(&ca_pem)
        .arg("--cert")
        .arg(&client)
        .arg("--key")
        .arg(&client_key)
        .arg(&url)
        .output()
        .unwrap();
    assert!(!tls12.status.success(), "TLS 1.2 was accepted");
}

#[test]
fn chromium_loads_the_status_page_over_tls_with_credentials_in_the_url() {
    if !tools(&["chromium"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    ca(dir.path(), "ca");
    let (cert, key) = issue(dir.path(), "ca", "server", 1001, true);
    let sim = Sim::with_packages(&[(1000 * GB, 123 * GB)]);
    let web = tls_web(
        &cert,
        &key,
        &format!("basic_auth_users:\n  {USER}: {}\n", hash(PASSWORD)),
    );
    let (d, _) = daemon(dir.path(), &sim, &web);
    // Chromium trusts exactly this server key (its SPKI hash), not a CA
    // installed for the test.
    let spki = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "openssl x509 -pubkey -noout -in {} | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | openssl base64",
            cert.display()
        ))
        .output()
        .unwrap();
    let spki = String::from_utf8_lossy(&spki.stdout).trim().to_string();
    assert!(!spki.is_empty());
    assert!(
        wait_until(Duration::from_secs(20), || {
            curl(
                &format!("https://{}/readyz", d.addr),
                &dir.path().join("ca.pem"),
                Some((USER, PASSWORD)),
                None,
            )
            .status
                == 200
        }),
        "never ready: {}",
        d.log()
    );
    let load = |credentials: &str| {
        let profile = tempfile::tempdir().unwrap();
        let started = Instant::now();
        let out = Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-quic",
            ])
            .arg(format!("--ignore-certificate-errors-spki-list={spki}"))
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("--dump-dom")
            .arg(format!("https://{credentials}{}/", d.addr))
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .expect("chromium runs");
        println!("chromium took {:.1?}", started.elapsed());
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let dom = load(&format!("{USER}:{PASSWORD}@"));
    assert!(dom.contains("<title>") && dom.contains("cdnquota"), "{dom}");
    assert!(dom.contains("main"), "the account is not on the page: {dom}");
    let refused = load(&format!("{USER}:wrong@"));
    assert!(!refused.contains("main"), "shown with a wrong password: {refused}");
}

#[test]
fn cdnquota_config_checks_the_web_config() {
    if !tools(&[]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    ca(dir.path(), "ca");
    let (cert, key) = issue(dir.path(), "ca", "server", 1001, true);
    let web = dir.path().join("web.yml");
    let config = write_config(
        dir.path(),
        &format!(
            "[http]\nweb_config_file = \"web.yml\"\n{}",
            account_toml("main", "http://127.0.0.1:9/", "")
        ),
    );
    let config = config.to_str().unwrap();
    std::fs::write(
        &web,
        tls_web(
            &cert,
            &key,
            &format!("basic_auth_users:\n  {USER}: {}\n", hash(PASSWORD)),
        ),
    )
    .unwrap();
    let ok = run_to_end(&["config", "-c", config]);
    let out = String::from_utf8_lossy(&ok.stdout);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    assert!(
        out.contains("TLS 1.2 and 1.3, no client certificates, basic auth for 1 user(s)"),
        "{out}"
    );
    assert!(!out.contains("$2"), "a hash was printed: {out}");

    std::fs::write(&web, format!("{}basic_auth_user:\n  x: y\n", tls_web(&cert, &key, ""))).unwrap();
    let bad = run_to_end(&["config", "-c", config]);
    let err = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(bad.status.code(), Some(1));
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(&format!("{}:4: ", web.display())) && err.contains("basic_auth_user"),
        "{err}"
    );
    // The daemon refuses it at start with the same line.
    let run = run_to_end(&["run", "-c", config]);
    assert_eq!(run.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&run.stderr).contains("basic_auth_user"));

    // Basic auth without TLS: served, with a warning.
    let addr = format!("127.0.0.1:{}", free_port());
    let clear = write_config(
        dir.path(),
        &format!(
            "listen = \"{addr}\"\n[http]\nweb_config_file = \"web.yml\"\n{}",
            account_toml("main", "http://127.0.0.1:9/", "")
        ),
    );
    std::fs::write(&web, format!("basic_auth_users:\n  {USER}: {}\n", hash(PASSWORD))).unwrap();
    let d = Daemon::start(&clear, &addr);
    assert_eq!(http_get(&addr, "/healthz").map(|(status, _)| status), Some(401));
    assert!(
        d.log().contains("passwords cross the network in the clear"),
        "{}",
        d.log()
    );
    drop(d);
    let config = write_config(
        dir.path(),
        &format!(
            "[http]\nweb_config_file = \"web.yml\"\n{}",
            account_toml("main", "http://127.0.0.1:9/", "")
        ),
    );
    let config = config.to_str().unwrap();

    // --web.config.file names another file, checked the same way.
    let other = dir.path().join("other.yml");
    std::fs::write(&other, tls_web(&cert, &dir.path().join("missing.key"), "")).unwrap();
    let missing = run_to_end(&["config", "-c", config, "--web.config.file", other.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&missing.stderr);
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        err.contains("key_file: cannot read") && err.contains("missing.key"),
        "{err}"
    );
}
