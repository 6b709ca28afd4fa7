//! `cdnquota config`: the effective config, secrets redacted, and refusals
//! that name the file, line and key.

mod common;

use common::*;

#[test]
fn prints_the_effective_config_without_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let body = format!(
        "[thresholds]\nremaining_bytes_below = \"1.5TB\"\n{}",
        account_toml("main", "https://cdn.api.qcloud.com/v2/index.php", "")
    );
    let path = write_config(dir.path(), &body);
    let out = run_to_end(&["config", "-c", path.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("remaining_bytes_below = \"1500GB\""), "{stdout}");
    assert!(stdout.contains("schedule = \"0 */10 * * * *\""), "{stdout}");
    assert!(stdout.contains("secret_key = \"<redacted>\""), "{stdout}");
    assert!(!stdout.contains(SECRET_KEY), "{stdout}");
    assert!(!stdout.contains(SECRET_ID), "{stdout}");
    // The printed config is itself a valid config once secrets are given.
    let reread = stdout
        .replace("secret_key = \"<redacted>\"", "secret_key = \"k\"")
        .replace("secret_id = \"AKIDte…0001\"", "secret_id = \"x\"");
    let reread = reread
        .lines()
        .filter(|l| !l.starts_with("secret_key_source"))
        .collect::<Vec<_>>()
        .join("\n");
    let again = write_config(dir.path(), &reread);
    let out = run_to_end(&["config", "-c", again.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{reread}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn refuses_a_bad_value_with_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cdnquota.toml");
    std::fs::write(
        &path,
        "schedule = \"*/5 * * * *\"\n[thresholds]\nexpires_within = \"a week\"\n",
    )
    .unwrap();
    let out = run_to_end(&["config", "-c", path.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    let expected = format!(
        "{}:3: thresholds.expires_within: `a week` is not a duration",
        path.display()
    );
    assert!(stderr.contains(&expected), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
}

#[test]
fn a_missing_file_says_how_to_point_at_one() {
    let out = run_to_end(&["config", "-c", "/nonexistent/cdnquota.toml"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains("/nonexistent/cdnquota.toml: cannot read the config file") && stderr.contains("-c FILE"),
        "{stderr}"
    );
}

#[test]
fn warns_when_an_inline_key_is_readable_by_others() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(
        dir.path(),
        &account_toml("main", "https://cdn.api.qcloud.com/v2/index.php", ""),
    );
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = run_to_end(&["config", "-c", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("readable by group or others"));
}

#[test]
fn secrets_from_env_and_credentials_directory() {
    let dir = tempfile::tempdir().unwrap();
    let creds = dir.path().join("creds");
    std::fs::create_dir(&creds).unwrap();
    std::fs::write(creds.join("secret_key"), "file-key\n").unwrap();
    let path = write_config(
        dir.path(),
        "[[accounts]]\nname = \"main\"\nsecret_key_file = \"secret_key\"\n",
    );
    let out = cdnquota(&["config", "-c", path.to_str().unwrap()])
        .env("TENCENTCLOUD_SECRET_ID", "AKIDfromtheenvironment")
        .env("CREDENTIALS_DIRECTORY", &creds)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        stdout.contains(&format!("secret_key_source = \"file {}/secret_key\"", creds.display())),
        "{stdout}"
    );
    assert!(!stdout.contains("file-key"));
}

#[test]
fn the_shipped_example_config_is_valid() {
    let creds = tempfile::tempdir().unwrap();
    std::fs::write(creds.path().join("secret_key"), "example-key\n").unwrap();
    std::fs::write(creds.path().join("smtp_password"), "example-password\n").unwrap();
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/cdnquota.toml");
    let out = cdnquota(&["config", "-c", example])
        .env("CREDENTIALS_DIRECTORY", creds.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        stdout.contains("api = \"v3\"") && stdout.contains("https://cdn.tencentcloudapi.com/"),
        "{stdout}"
    );
}

/// A config of `n` accounts, all on the simulator's address form.
fn many_accounts(n: usize, endpoint: &str, extra: &str) -> String {
    (0..n)
        .map(|i| account_toml(&format!("a{i}"), endpoint, extra))
        .collect::<Vec<_>>()
        .join("")
}

#[test]
fn a_reader_that_stops_early_ends_the_output_quietly() {
    use std::io::Read;
    use std::process::Stdio;
    let dir = tempfile::tempdir().unwrap();
    // Far more than a pipe holds (64 KiB): writes go on after the reader left.
    let path = write_config(
        dir.path(),
        &many_accounts(2000, "https://cdn.api.qcloud.com/v2/index.php", ""),
    );
    let mut child = cdnquota(&["config", "-c", path.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // As `head -c 100` does: read a little, then close the pipe.
    let mut stdout = child.stdout.take().unwrap();
    let mut start = [0u8; 100];
    stdout.read_exact(&mut start).unwrap();
    drop(stdout);
    assert!(
        wait_until(std::time::Duration::from_secs(60), || child
            .try_wait()
            .unwrap()
            .is_some()),
        "`config` did not end after its reader left"
    );
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(String::from_utf8_lossy(&start).starts_with("# effective configuration"));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn help_lists_the_environment_the_order_modes_and_the_simulator() {
    let out = run_to_end(&["--help"]);
    let help = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0));
    for name in [
        "TENCENTCLOUD_SECRET_ID",
        "TENCENTCLOUD_SECRET_KEY",
        "TENCENTCLOUD_SESSION_TOKEN",
        "CDNQUOTA_SMTP_PASSWORD",
        "CDNQUOTA_ALERTMANAGER_PASSWORD",
        "CREDENTIALS_DIRECTORY",
        "RUST_LOG",
    ] {
        assert!(help.contains(name), "{name} missing:\n{help}");
    }
    assert!(help.contains("\n  simulator "), "{help}");
    let order = String::from_utf8_lossy(&run_to_end(&["order", "--help"]).stdout).into_owned();
    for mode in [
        "--account NAME --unit GB --number N",
        "--list",
        "--resolve ID (--placed",
    ] {
        assert!(
            order.contains(&format!("cdnquota order [-c FILE] {mode}")),
            "{mode}:\n{order}"
        );
    }
    let check = String::from_utf8_lossy(&run_to_end(&["check", "--help"]).stdout).into_owned();
    assert!(
        check.contains("--timeout <DURATION>") && check.contains("[default: 30s]"),
        "{check}"
    );
}
