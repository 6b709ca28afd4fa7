//! Alert mail end to end: the daemon polls the simulator and mails a real
//! SMTP server (aiosmtpd) on loopback. Each test counts the mails the server
//! stored, so a lost or duplicated mail fails it.

mod common;

use common::*;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Starts the daemon polling every second against `sim`, mailing `port`.
fn daemon(dir: &Path, sim: &Sim, port: u16, alerts: &str) -> Daemon {
    let addr = format!("127.0.0.1:{}", free_port());
    let body = format!(
        "schedule = \"* * * * * *\"\nlisten = \"{addr}\"\n[alerts]\n{alerts}\n{}{}",
        email_toml(port, ""),
        account_toml("main", &sim.endpoint(), "")
    );
    Daemon::start(&write_config(dir, &body), &addr)
}

fn wait_for_mails(smtp: &SmtpServer, n: usize, d: &Daemon) -> Vec<String> {
    assert!(
        wait_until(Duration::from_secs(15), || smtp.mails().len() >= n),
        "expected {n} mail(s), got {:?}; log:\n{}",
        smtp.subjects(),
        d.log()
    );
    smtp.mails()
}

#[test]
fn a_low_pool_mails_once_then_resolves_once() {
    if !smtp_server_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let smtp = SmtpServer::start(dir.path(), free_port(), None);
    let sim = Sim::with_packages(&[(1000 * GB, 850 * GB)]);
    let d = daemon(dir.path(), &sim, smtp.port, "repeat_interval = \"1h\"");

    let mails = wait_for_mails(&smtp, 1, &d);
    let mail = &mails[0];
    assert_eq!(
        header(mail, "Subject"),
        "[WARNING] main: CDN traffic pool low: 150 GB left (15.0% of 1.00 TB), below 200 GB"
    );
    assert!(
        header(mail, "Content-Type").starts_with("multipart/alternative"),
        "{mail}"
    );
    assert!(
        mail.contains("Content-Type: text/plain") && mail.contains("Content-Type: text/html"),
        "{mail}"
    );
    assert!(header(mail, "Message-ID").starts_with('<'), "{mail}");
    assert!(!mail.contains(SECRET_KEY));
    // Polls go on every second; nothing more is sent while it fires.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(smtp.mails().len(), 1, "{:?}", smtp.subjects());

    sim.state().packages[0].used_bytes = 0.0;
    let mails = wait_for_mails(&smtp, 2, &d);
    // What is true now, not the figure of when it fired (150 GB).
    assert_eq!(
        header(&mails[1], "Subject"),
        "[RESOLVED] main: CDN traffic pool no longer low: 1.00 TB left",
        "{:?}",
        smtp.subjects()
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(smtp.mails().len(), 2, "{:?}", smtp.subjects());
    let m = d.metrics();
    assert_eq!(
        metric(&m, "cdnquota_notifications_total", "outcome=\"sent\""),
        Some(2.0),
        "{m}"
    );
    assert_eq!(metric(&m, "cdnquota_outbox_pending", ""), Some(0.0));
}

#[test]
fn a_restart_while_firing_neither_repeats_early_nor_forgets_to_repeat() {
    if !smtp_server_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let smtp = SmtpServer::start(dir.path(), free_port(), None);
    let sim = Sim::with_packages(&[(1000 * GB, 1000 * GB)]);
    let mut first = daemon(dir.path(), &sim, smtp.port, "repeat_interval = \"8s\"");
    let mails = wait_for_mails(&smtp, 1, &first);
    let fired = std::time::Instant::now();
    assert!(header(&mails[0], "Subject").starts_with("[CRITICAL] main: CDN traffic pool exhausted (+1 more)"));
    let m = first.metrics();
    assert_eq!(
        metric(
            &m,
            "cdnquota_alert_firing",
            "account=\"main\",alert=\"PoolExhausted\",region=\"mainland\""
        ),
        Some(1.0),
        "{m}"
    );
    assert_eq!(first.terminate().code(), Some(0));

    let second = daemon(dir.path(), &sim, smtp.port, "repeat_interval = \"8s\"");
    // The restarted daemon knows the alert fired: it stays quiet until the
    // repeat interval is up.
    while fired.elapsed() < Duration::from_secs(6) {
        assert_eq!(
            smtp.mails().len(),
            1,
            "sent early after the restart: {:?}\n{}",
            smtp.subjects(),
            second.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let mails = wait_for_mails(&smtp, 2, &second);
    // `fired` is when the test saw the first mail, later than when the
    // daemon sent it by the delivery's latency (up to a second on a loaded
    // machine); the repeat is due 8 s after the send.
    assert!(
        fired.elapsed() >= Duration::from_secs(7),
        "repeated after {:?}",
        fired.elapsed()
    );
    assert!(
        header(&mails[1], "Subject").starts_with("[CRITICAL] main: still: CDN traffic pool exhausted"),
        "{:?}",
        smtp.subjects()
    );
    // A repeat is a new mail, not a re-send of the first.
    assert_ne!(header(&mails[0], "Message-ID"), header(&mails[1], "Message-ID"));
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(smtp.mails().len(), 2, "{:?}", smtp.subjects());
}

#[test]
fn mail_waits_while_the_server_is_down_and_arrives_exactly_once() {
    if !smtp_server_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let sim = Sim::with_packages(&[(1000 * GB, 850 * GB)]);
    let d = daemon(dir.path(), &sim, port, "repeat_interval = \"1h\"");
    assert!(
        wait_until(Duration::from_secs(15), || d.log().contains("mailing \"[WARNING] main")),
        "{}",
        d.log()
    );
    assert!(wait_until(Duration::from_secs(5), || {
        metric(&d.metrics(), "cdnquota_notifications_total", "outcome=\"failed\"").unwrap_or(0.0) >= 2.0
    }));
    assert_eq!(metric(&d.metrics(), "cdnquota_outbox_pending", ""), Some(1.0));

    let smtp = SmtpServer::start(dir.path(), port, None);
    let mails = wait_for_mails(&smtp, 1, &d);
    assert!(header(&mails[0], "Subject").starts_with("[WARNING] main: CDN traffic pool low"));
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(smtp.mails().len(), 1, "{:?}", smtp.subjects());
    let m = d.metrics();
    assert_eq!(
        metric(&m, "cdnquota_notifications_total", "outcome=\"sent\""),
        Some(1.0)
    );
    assert_eq!(metric(&m, "cdnquota_outbox_pending", ""), Some(0.0));
}

/// A CA and a server certificate it signs for 127.0.0.1, made by openssl.
fn make_certificates(dir: &Path, name: &str) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let p = |f: &str| dir.join(format!("{name}-{f}"));
    let openssl = |args: &[&str]| {
        let status = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl runs (apt-get install openssl)");
        assert!(
            status.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&status.stderr)
        );
    };
    let s = |x: std::path::PathBuf| x.to_str().unwrap().to_string();
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        &format!("/CN={name} test CA"),
        "-keyout",
        &s(p("ca.key")),
        "-out",
        &s(p("ca.pem")),
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        &s(p("server.key")),
        "-out",
        &s(p("server.csr")),
    ]);
    std::fs::write(
        p("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        &s(p("server.csr")),
        "-CA",
        &s(p("ca.pem")),
        "-CAkey",
        &s(p("ca.key")),
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        &s(p("ext.cnf")),
        "-out",
        &s(p("server.pem")),
    ]);
    (p("ca.pem"), p("server.pem"), p("server.key"))
}

#[test]
fn starttls_with_the_right_ca_works_and_a_wrong_one_fails_clearly() {
    if !smtp_server_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = make_certificates(dir.path(), "good");
    let (other_ca, _, _) = make_certificates(dir.path(), "other");
    let smtp = SmtpServer::start(dir.path(), free_port(), Some((&cert, &key)));
    let email_test = |ca_file: &Path| {
        let body = format!(
            "[email]\nhost = \"127.0.0.1\"\nport = {}\ntls = \"starttls\"\nca_file = \"{}\"\ntimeout = \"5s\"\nfrom = \"alerts@example.com\"\nto = [\"ops@example.com\"]\n{}",
            smtp.port,
            ca_file.display(),
            account_toml("main", "https://cdn.api.qcloud.com/v2/index.php", "")
        );
        let config = write_config(dir.path(), &body);
        run_to_end(&["email-test", "-c", config.to_str().unwrap()])
    };

    let ok = email_test(&ca);
    assert_eq!(ok.status.code(), Some(0), "{}", String::from_utf8_lossy(&ok.stderr));
    assert!(String::from_utf8_lossy(&ok.stdout).contains("sent a test mail to ops@example.com through smtp 127.0.0.1"));
    assert!(wait_until(Duration::from_secs(5), || smtp.mails().len() == 1));
    assert!(
        smtp.subjects()[0].starts_with("[TEST] cdnquota on "),
        "{:?}",
        smtp.subjects()
    );

    let bad = email_test(&other_ca);
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(bad.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.contains("sending through smtp 127.0.0.1") && stderr.contains("certificate"),
        "{stderr}"
    );
    assert_eq!(smtp.mails().len(), 1);
}

#[test]
fn a_relay_demanding_tls_holds_the_mail_and_retries_it() {
    if !smtp_server_available() {
        return;
    }
    // The server demands STARTTLS and the daemon is set to send in the
    // clear: every command is answered 530. That refuses the settings, not
    // the mail: it stays queued, counted as failed, and is retried.
    let dir = tempfile::tempdir().unwrap();
    let (_, cert, key) = make_certificates(dir.path(), "strict");
    let smtp = SmtpServer::start(dir.path(), free_port(), Some((&cert, &key)));
    let sim = Sim::with_packages(&[(1000 * GB, 850 * GB)]);
    let d = daemon(dir.path(), &sim, smtp.port, "repeat_interval = \"1h\"");
    // retry_backoff = 1s: a second attempt comes a second after the first.
    assert!(
        wait_until(Duration::from_secs(15), || metric(
            &d.metrics(),
            "cdnquota_notifications_total",
            "outcome=\"failed\""
        )
        .unwrap_or(0.0)
            >= 2.0),
        "{}",
        d.log()
    );
    let m = d.metrics();
    assert_eq!(
        metric(&m, "cdnquota_notifications_total", "outcome=\"rejected\"").unwrap_or(0.0),
        0.0,
        "{m}"
    );
    assert_eq!(metric(&m, "cdnquota_outbox_pending", ""), Some(1.0));
    assert!(
        d.log().contains("530") && d.log().contains("stays in the outbox"),
        "{}",
        d.log()
    );
    assert!(!d.log().contains("dropped"), "{}", d.log());
    assert!(smtp.mails().is_empty());
}

#[test]
fn the_file_transport_writes_eml_files() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("mail");
    let body = format!(
        "[email]\ntransport = \"file\"\nfolder = \"{}\"\nfrom = \"alerts@example.com\"\nto = [\"ops@example.com\"]\n{}",
        folder.display(),
        account_toml("main", "https://cdn.api.qcloud.com/v2/index.php", "")
    );
    let config = write_config(dir.path(), &body);
    let out = run_to_end(&["email-test", "-c", config.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let files: Vec<_> = std::fs::read_dir(&folder).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(files[0].extension().and_then(|e| e.to_str()), Some("eml"));
    let mail = std::fs::read_to_string(&files[0]).unwrap();
    assert!(header(&mail, "Subject").starts_with("[TEST] cdnquota on "), "{mail}");
    assert_eq!(header(&mail, "To"), "ops@example.com");
}
