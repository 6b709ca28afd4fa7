use super::*;
use cdnquota_core::model::{PoolKey, Region, Resource};
use cdnquota_core::settings::{OrderMode, PoolThresholds};
use chrono::TimeDelta;
use notify::SmtpTls;
use std::collections::HashMap;
use tencent_cdn_api::settings::{ApiVersion, HttpMethod, SignatureMethod, V2_ENDPOINT, V3_ENDPOINT};

fn env_with(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    move |name| map.get(name).cloned()
}

fn parse_ok(text: &str) -> Config {
    let env = env_with(&[]);
    match parse(text, Path::new("/etc/cdnquota/cdnquota.toml"), &env) {
        Ok(l) => l.config,
        Err(e) => panic!("{e}"),
    }
}

fn parse_err(text: &str) -> ConfigError {
    let env = env_with(&[]);
    match parse(text, Path::new("/etc/cdnquota/cdnquota.toml"), &env) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e,
    }
}

const MINIMAL: &str = r#"
[[accounts]]
name = "main"
secret_id = "AKIDexample0000000001"
secret_key = "k"
"#;

#[test]
fn defaults_fill_in() {
    let c = parse_ok(MINIMAL);
    assert_eq!(c.schedule.as_str(), "0 */10 * * * *");
    assert_eq!(c.listen.to_string(), "127.0.0.1:10787");
    assert_eq!(c.api_utc_offset, UtcOffset::default());
    let a = &c.accounts[0];
    assert_eq!(a.endpoint.0.as_str(), V2_ENDPOINT);
    assert_eq!(a.signature_method, SignatureMethod::HmacSha256);
    assert_eq!(a.http_method, HttpMethod::Post);
    assert_eq!(a.timeout, Duration::from_secs(15));
    assert_eq!(a.thresholds, PoolThresholds::default());
}

#[test]
fn account_thresholds_override_defaults_field_by_field() {
    let c = parse_ok(
        r#"
schedule = "*/5 * * * *"
[thresholds]
remaining_bytes_below = "1TB"
expires_within = "14d"
[[accounts]]
name = "a"
secret_id = "x"
secret_key = "k"
[accounts.thresholds]
remaining_ratio_below = 0.25
[[accounts]]
name = "b"
secret_id = "x"
secret_key = "k"
"#,
    );
    assert_eq!(c.schedule.as_str(), "0 */5 * * * *");
    let a = c.accounts[0].thresholds.traffic;
    assert_eq!(a.remaining_bytes_below, Some(1_000_000_000_000));
    assert_eq!(a.remaining_ratio_below, Some(0.25));
    assert_eq!(a.expires_within, Some(TimeDelta::days(14)));
    assert_eq!(c.accounts[1].thresholds.traffic.remaining_ratio_below, Some(0.10));
}

#[test]
fn regions_and_https_pools_have_thresholds_of_their_own() {
    let c = parse_ok(
        r#"
schedule = "*/5 * * * *"
[thresholds]
remaining_bytes_below = "1TB"
expires_within = "14d"
[thresholds.europe]
remaining_bytes_below = "10GB"
[thresholds.https]
remaining_requests_below = 2000000
[[accounts]]
name = "a"
secret_id = "x"
secret_key = "k"
[accounts.thresholds]
remaining_bytes_below = "5TB"
depletion_within = "5d"
[accounts.thresholds.europe]
remaining_ratio_below = 0.3
[accounts.thresholds.north_america]
remaining_bytes_below = "20GB"
[[accounts]]
name = "b"
secret_id = "x"
secret_key = "k"
"#,
    );
    let europe = PoolKey {
        resource: Resource::Traffic,
        region: Region::Europe,
    };
    let north_america = PoolKey {
        region: Region::NorthAmerica,
        ..europe
    };
    let https = PoolKey {
        resource: Resource::HttpsRequests,
        region: Region::Global,
    };
    let a = &c.accounts[0].thresholds;
    // Mainland: the account's over [thresholds].
    assert_eq!(
        a.of(PoolKey::MAINLAND_TRAFFIC).remaining_bytes_below,
        Some(5_000_000_000_000)
    );
    // Europe: [thresholds.europe] outranks the account's plain 5 TB, and
    // the account's own Europe table adds its ratio; the rest is inherited.
    let e = a.of(europe);
    assert_eq!(e.remaining_bytes_below, Some(10_000_000_000));
    assert_eq!(e.remaining_ratio_below, Some(0.3));
    assert_eq!(e.expires_within, Some(TimeDelta::days(14)));
    assert_eq!(e.depletion_within, Some(TimeDelta::days(5)));
    assert_eq!(a.of(north_america).remaining_bytes_below, Some(20_000_000_000));
    // HTTPS pools count requests.
    assert_eq!(a.of(https).remaining_bytes_below, Some(2_000_000));
    assert_eq!(a.of(https).expiring_unused_above, 1_000_000);
    // Account b has only the general tables.
    let b = &c.accounts[1].thresholds;
    assert_eq!(b.of(europe).remaining_bytes_below, Some(10_000_000_000));
    // A byte floor reaches an overseas pool only from its own region's
    // table: 1 TB is a mainland figure.
    assert_eq!(b.of(north_america).remaining_bytes_below, None);
    assert_eq!(b.of(north_america).expires_within, Some(TimeDelta::days(14)));
    // `cdnquota config` writes them back as they are read.
    let written = toml::to_string(&c.accounts[0].thresholds).unwrap();
    assert!(
        written.contains("[europe]") && written.contains("remaining_requests_below = 2000000"),
        "{written}"
    );
}

#[test]
fn a_region_that_does_not_exist_or_bytes_for_https_requests_are_refused_at_their_line() {
    let e = parse_err(&format!(
        "[thresholds.emea]\nremaining_bytes_below = \"10GB\"\n{MINIMAL}"
    ));
    assert_eq!(e.line, Some(1), "{e}");
    assert!(
        e.message.contains("unknown field `emea`") && e.message.contains("europe"),
        "{e}"
    );
    let e = parse_err(&format!(
        "{MINIMAL}[accounts.thresholds.https]\nremaining_bytes_below = \"10GB\"\n"
    ));
    assert_eq!(
        e.key.as_deref(),
        Some("accounts[0].thresholds.https.remaining_bytes_below"),
        "{e}"
    );
    assert!(e.message.contains("use remaining_requests_below"), "{e}");
    assert!(e.to_string().starts_with("/etc/cdnquota/cdnquota.toml:"), "{e}");
}

#[test]
fn errors_name_line_key_and_what_is_valid() {
    let e = parse_err(
        "schedule = \"0 */10 * * * *\"\n[thresholds]\nremaining_bytes_below = \"12XB\"\n[[accounts]]\nname='a'\n",
    );
    assert_eq!(e.line, Some(3), "{e}");
    assert_eq!(e.key.as_deref(), Some("thresholds.remaining_bytes_below"), "{e}");
    assert!(e.message.contains("e.g. \"200GB\""), "{e}");
    assert!(
        e.to_string()
            .starts_with("/etc/cdnquota/cdnquota.toml:3: thresholds.remaining_bytes_below: "),
        "{e}"
    );

    let e = parse_err(&format!(
        "{MINIMAL}[[accounts]]\nname = \"b\"\nendpoint = \"http://example.com/\"\n"
    ));
    assert_eq!(e.line, Some(8), "{e}");
    assert_eq!(e.key.as_deref(), Some("accounts[1].endpoint"), "{e}");
    assert!(e.message.contains("use https"), "{e}");

    let e = parse_err(&format!("{MINIMAL}sceret_key = 'typo'\n"));
    assert!(e.message.contains("unknown field `sceret_key`"), "{e}");

    let e = parse_err(&format!(
        "{MINIMAL}[accounts.thresholds]\nremaining_ratio_below = 1.5\n"
    ));
    assert_eq!(
        e.key.as_deref(),
        Some("accounts[0].thresholds.remaining_ratio_below"),
        "{e}"
    );
}

#[test]
fn refuses_duplicates_missing_secrets_and_no_accounts() {
    let e = parse_err(&format!("{MINIMAL}{MINIMAL}"));
    assert!(e.message.contains("defined twice"), "{e}");
    assert_eq!(e.line, Some(8));

    let e = parse_err("[[accounts]]\nname = \"main\"\nsecret_id = \"x\"\n");
    assert!(
        e.message.contains("no secret_key") && e.message.contains(ENV_SECRET_KEY),
        "{e}"
    );

    let e = parse_err("accounts = []\n");
    assert!(e.message.contains("no accounts"), "{e}");

    let e = parse_err("schedule = '0 */10 * * * *'\n");
    assert!(e.message.contains("accounts"), "{e}");

    let e = parse_err(&MINIMAL.replace("secret_key = \"k\"", "secret_key = \"k\"\nsecret_key_file = \"/x\""));
    assert!(e.message.contains("not both"), "{e}");

    let e = parse_err(&format!("{MINIMAL}api = \"v4\"\n"));
    assert!(e.message.contains("unknown variant `v4`, expected `v2` or `v3`"), "{e}");
}

#[test]
fn secrets_from_env_and_credentials_directory() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("key"), "from-file\n").unwrap();
    let env = env_with(&[
        ("TENCENTCLOUD_SECRET_ID", "AKIDfromenv00000000"),
        ("TENCENTCLOUD_SECRET_KEY", "from-env"),
        ("CREDENTIALS_DIRECTORY", dir.path().to_str().unwrap()),
    ]);
    let text = "[[accounts]]\nname = \"a\"\n[[accounts]]\nname = \"b\"\nsecret_key_file = \"key\"\n";
    let c = parse(text, Path::new("/nowhere/c.toml"), &env).unwrap().config;
    assert_eq!(c.accounts[0].secret_id.expose(), "AKIDfromenv00000000");
    assert_eq!(c.accounts[0].secret_key.expose(), "from-env");
    assert_eq!(c.accounts[1].secret_key.expose(), "from-file");
    assert!(c.accounts[1].secret_key_source.contains(dir.path().to_str().unwrap()));
}

#[test]
fn secrets_never_printed() {
    let c = parse_ok(&MINIMAL.replace("secret_key = \"k\"", "secret_key = \"do-not-print-me\""));
    let debug = format!("{c:?}");
    let shown = toml::to_string(&c).unwrap();
    for text in [debug, shown] {
        assert!(!text.contains("do-not-print-me"), "{text}");
        assert!(!text.contains("AKIDexample0000000001"), "{text}");
    }
}

#[test]
fn warns_about_an_inline_key_in_a_readable_file() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(&path, MINIMAL).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let env = env_with(&[]);
    assert_eq!(load(&path, &env).unwrap().warnings.len(), 1);
    // An inline SMTP password counts too, and the warning names both.
    let with_password = format!(
        "[email]\nhost = \"h\"\nusername = \"u\"\npassword = \"p\"\nfrom = \"a@b.c\"\nto = [\"a@b.c\"]\n{MINIMAL}"
    );
    std::fs::write(&path, with_password).unwrap();
    let warnings = load(&path, &env).unwrap().warnings;
    assert!(warnings[0].contains("password, secret_key inline"), "{warnings:?}");
    // A key id alone is not a secret: the key in a file, no warning.
    std::fs::write(dir.path().join("key"), "k").unwrap();
    std::fs::write(
        &path,
        MINIMAL.replace("secret_key = \"k\"", "secret_key_file = \"key\""),
    )
    .unwrap();
    assert!(load(&path, &env).unwrap().warnings.is_empty());
    // The inline key again, in a private file: no warning.
    std::fs::write(&path, MINIMAL).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert!(load(&path, &env).unwrap().warnings.is_empty());
}

#[test]
fn v3_accounts_default_their_endpoint_and_refuse_v2_settings() {
    let c = parse_ok(&format!("{MINIMAL}api = \"v3\"\n"));
    assert_eq!(c.accounts[0].api, ApiVersion::V3);
    assert_eq!(c.accounts[0].endpoint.0.as_str(), V3_ENDPOINT);

    let e = parse_err(&format!("{MINIMAL}api = \"v3\"\nsignature_method = \"HmacSHA1\"\n"));
    assert_eq!(e.line, Some(7), "{e}");
    assert!(e.message.contains("TC3-HMAC-SHA256"), "{e}");
    let e = parse_err(&format!("{MINIMAL}api = \"v3\"\nhttp_method = \"GET\"\n"));
    assert!(e.message.contains("applies to api = \"v2\" only"), "{e}");

    let e = parse_err(&format!("{MINIMAL}session_token = \"t\"\n"));
    assert!(e.message.contains("v3"), "{e}");
    let env = env_with(&[("TENCENTCLOUD_SESSION_TOKEN", "tok")]);
    let c = parse(&format!("{MINIMAL}api = \"v3\"\n"), Path::new("c.toml"), &env)
        .unwrap()
        .config;
    assert_eq!(c.accounts[0].session_token.as_ref().map(Secret::expose), Some("tok"));
    assert!(!format!("{c:?}").contains("tok\""));
}

#[test]
fn email_and_alerts_sections() {
    let c = parse_ok(&format!(
        "[alerts]\nrepeat_interval = \"12h\"\n[email]\nhost = \"smtp.example.com\"\nusername = \"u\"\npassword = \"smtp-secret\"\nfrom = \"cdnquota <alerts@example.com>\"\nto = [\"ops@example.com\"]\n{MINIMAL}"
    ));
    assert_eq!(c.alerts.repeat_interval, TimeDelta::hours(12));
    assert!(c.alerts.send_resolved);
    let e = c.email.as_ref().unwrap();
    assert_eq!((e.port, e.tls), (587, SmtpTls::Starttls));
    assert_eq!(e.folder, PathBuf::from("/var/lib/cdnquota/mail"));
    let shown = toml::to_string(&c).unwrap();
    assert!(
        !shown.contains("smtp-secret") && !format!("{c:?}").contains("smtp-secret"),
        "{shown}"
    );

    let e = parse_err(&format!(
        "[email]\nhost = \"h\"\nfrom = \"not an address\"\nto = [\"a@b.c\"]\n{MINIMAL}"
    ));
    assert_eq!((e.line, e.key.as_deref()), (Some(3), Some("email.from")), "{e}");
    let e = parse_err(&format!("[email]\nfrom = \"a@b.c\"\nto = [\"a@b.c\"]\n{MINIMAL}"));
    assert!(e.message.contains("needs host"), "{e}");
    assert_eq!(e.line, Some(1), "{e}");
    let e = parse_err(&format!(
        "[email]\nhost = \"smtp.example.com\"\ntls = \"none\"\nusername = \"u\"\npassword = \"p\"\nfrom = \"a@b.c\"\nto = [\"a@b.c\"]\n{MINIMAL}"
    ));
    assert!(e.message.contains("in the clear"), "{e}");
    let e = parse_err(&format!("[email]\nhost = \"h\"\nfrom = \"a@b.c\"\nto = []\n{MINIMAL}"));
    assert!(e.message.contains("at least one recipient"), "{e}");
}

#[test]
fn order_section_with_account_overrides_and_refusals() {
    let c = parse_ok(&format!(
        "[order]\nmode = \"dry-run\"\nunit_gb = 500\n{MINIMAL}[accounts.order]\nmode = \"live\"\nnumber = 2\n"
    ));
    let o = &c.accounts[0].order;
    assert_eq!(
        (o.mode, o.unit_gb, o.number, o.max_orders_per_30d),
        (OrderMode::Live, 500, 2, 2)
    );
    assert_eq!(parse_ok(MINIMAL).accounts[0].order.mode, OrderMode::Off);

    let e = parse_err(&format!("[order]\nnumber = 6\n{MINIMAL}"));
    assert_eq!((e.line, e.key.as_deref()), (Some(2), Some("order.number")), "{e}");
    assert!(e.message.contains("1 to 5"), "{e}");
    let e = parse_err(&format!("{MINIMAL}[accounts.order]\nnumber = 0\n"));
    assert_eq!(e.key.as_deref(), Some("accounts[0].order.number"), "{e}");

    let e = parse_err(&format!("[order]\nmode = \"live\"\n{MINIMAL}api = \"v3\"\n"));
    assert!(
        e.message.contains("no purchase action") && e.message.contains("console"),
        "{e}"
    );
    let e = parse_err(&format!(
        "{MINIMAL}api = \"v3\"\n[accounts.order]\nmode = \"dry-run\"\n"
    ));
    assert!(e.message.contains("no purchase action"), "{e}");
    // A v3 account is fine while ordering stays off.
    parse_ok(&format!("[order]\nunit_gb = 50\n{MINIMAL}api = \"v3\"\n"));
}

#[test]
fn a_section_error_names_that_section_wherever_it_stands() {
    // [email] after [[accounts]]: the error is about email, not accounts[0].
    let e = parse_err(&format!("{MINIMAL}\n[email]\nfrom = \"a@b.c\"\nto = [\"a@b.c\"]\n"));
    assert!(e.message.contains("needs host"), "{e}");
    assert_eq!(e.key.as_deref(), Some("email"), "{e}");
    let e = parse_err(&format!(
        "{MINIMAL}\n[email]\nhost = \"h\"\nfrom = \"a@b.c\"\nto = []\n"
    ));
    assert_eq!(e.key.as_deref(), Some("email"), "{e}");
}

#[test]
fn values_that_would_break_the_daemon_are_refused_with_a_reason() {
    for (text, key) in [
        (format!("{MINIMAL}timeout = \"0s\"\n"), "accounts[0].timeout"),
        (
            format!("{MINIMAL}retry_backoff = \"0s\"\n"),
            "accounts[0].retry_backoff",
        ),
        (
            format!("[alerts]\nrepeat_interval = \"0s\"\n{MINIMAL}"),
            "alerts.repeat_interval",
        ),
        (
            format!("[email]\nhost = \"h\"\ntimeout = \"0s\"\nfrom = \"a@b.c\"\nto = [\"a@b.c\"]\n{MINIMAL}"),
            "email.timeout",
        ),
        (
            format!("[email]\nhost = \"h\"\nretry_backoff = 0\nfrom = \"a@b.c\"\nto = [\"a@b.c\"]\n{MINIMAL}"),
            "email.retry_backoff",
        ),
    ] {
        let e = parse_err(&text);
        assert_eq!(e.key.as_deref(), Some(key), "{e}");
        assert!(e.message.contains("positive duration"), "{e}");
    }
    let e = parse_err(&format!("state_dir = \"\"\n{MINIMAL}"));
    assert_eq!((e.line, e.key.as_deref()), (Some(1), Some("state_dir")), "{e}");
    assert!(e.message.contains("absolute path"), "{e}");
}

#[test]
fn a_schedule_that_never_fires_is_refused() {
    for never in ["0 0 0 30 2 *", "0 0 12 31 4 *"] {
        let e = parse_err(&format!("schedule = \"{never}\"\n{MINIMAL}"));
        assert_eq!(e.key.as_deref(), Some("schedule"), "{e}");
        assert!(e.message.contains("never fires"), "{e}");
    }
    // Rare is not never: 29 February comes every four years.
    let c = parse_ok(&format!("schedule = \"0 0 0 29 2 *\"\n{MINIMAL}"));
    let next = c.schedule.next_after(chrono::Utc::now()).unwrap();
    assert_eq!(next.format("%m-%d").to_string(), "02-29");
}

#[test]
fn a_bare_number_for_a_size_or_duration_is_refused_where_it_stands() {
    let email = "host = \"h\"\nfrom = \"a@b.c\"\nto = [\"a@b.c\"]\n";
    let alertmanager = "urls = [\"http://am1:9093\"]\n";
    let cases: Vec<(String, &str, &str)> = vec![
        (
            format!("[thresholds]\nexpires_within = 7\n{MINIMAL}"),
            "thresholds.expires_within",
            "\"7d\"",
        ),
        (
            format!("[thresholds]\nremaining_bytes_below = 200\n{MINIMAL}"),
            "thresholds.remaining_bytes_below",
            "\"200GB\"",
        ),
        (
            format!("[thresholds]\nremaining_bytes_below = \"200\"\n{MINIMAL}"),
            "thresholds.remaining_bytes_below",
            "\"200GB\"",
        ),
        (
            format!("[thresholds]\nexpiring_unused_above = 1.5\n{MINIMAL}"),
            "thresholds.expiring_unused_above",
            "\"1.5GB\"",
        ),
        (
            format!("[thresholds]\ndepletion_within = 3\n{MINIMAL}"),
            "thresholds.depletion_within",
            "\"3d\"",
        ),
        (format!("{MINIMAL}timeout = 15\n"), "accounts[0].timeout", "\"15s\""),
        (
            format!("{MINIMAL}retry_backoff = 1\n"),
            "accounts[0].retry_backoff",
            "\"1s\"",
        ),
        (
            format!("{MINIMAL}max_answer_size = 4096\n"),
            "accounts[0].max_answer_size",
            "\"4096MB\"",
        ),
        (
            format!("{MINIMAL}[accounts.thresholds]\nexpires_within = 7\n"),
            "accounts[0].thresholds.expires_within",
            "\"7d\"",
        ),
        (
            format!("[order]\nwhen_remaining_below = 100\n{MINIMAL}"),
            "order.when_remaining_below",
            "\"100GB\"",
        ),
        (
            format!("[order]\nwhen_depletion_within = 2\n{MINIMAL}"),
            "order.when_depletion_within",
            "\"2d\"",
        ),
        (
            format!("[order]\nfulfilment_grace = 1\n{MINIMAL}"),
            "order.fulfilment_grace",
            "\"1d\"",
        ),
        (
            format!("{MINIMAL}[accounts.order]\nwhen_remaining_below = 50\n"),
            "accounts[0].order.when_remaining_below",
            "\"50GB\"",
        ),
        (
            format!("[alerts]\nrepeat_interval = 24\n{MINIMAL}"),
            "alerts.repeat_interval",
            "\"24h\"",
        ),
        (
            format!("[alerts]\npoll_failure_after = 30\n{MINIMAL}"),
            "alerts.poll_failure_after",
            "\"30m\"",
        ),
        (
            format!("[email]\n{email}timeout = 30\n{MINIMAL}"),
            "email.timeout",
            "\"30s\"",
        ),
        (
            format!("[email]\n{email}retry_backoff = 30\n{MINIMAL}"),
            "email.retry_backoff",
            "\"30s\"",
        ),
        (
            format!("[alertmanager]\n{alertmanager}resend_interval = 60\n{MINIMAL}"),
            "alertmanager.resend_interval",
            "\"60s\"",
        ),
        (
            format!("[alertmanager]\n{alertmanager}timeout = 10\n{MINIMAL}"),
            "alertmanager.timeout",
            "\"10s\"",
        ),
        (
            format!("[alertmanager]\n{alertmanager}retry_backoff = 5\n{MINIMAL}"),
            "alertmanager.retry_backoff",
            "\"5s\"",
        ),
    ];
    for (text, key, form) in cases {
        let e = parse_err(&text);
        assert_eq!(e.key.as_deref(), Some(key), "{e}");
        assert!(e.line.is_some(), "{e}");
        assert!(
            e.message.contains("bare number") && e.message.contains(form),
            "{key}: {e}"
        );
    }
    // 0 means the same in every unit, and turns a rule off.
    let c = parse_ok(&format!(
        "[thresholds]\nexpires_within = 0\nremaining_bytes_below = \"0\"\n[order]\nwhen_depletion_within = 0\n{MINIMAL}"
    ));
    assert_eq!(c.accounts[0].thresholds.traffic.expires_within, None);
    assert_eq!(c.accounts[0].thresholds.traffic.remaining_bytes_below, None);
    assert_eq!(c.accounts[0].order.when_depletion_within, None);
    let e = parse_err(&format!("[thresholds]\nexpires_within = -7\n{MINIMAL}"));
    assert!(e.message.contains("negative"), "{e}");
    let e = parse_err(&format!("[thresholds]\nexpires_within = true\n{MINIMAL}"));
    assert!(e.message.contains("a duration such as \"7d\""), "{e}");
}

#[test]
fn listen_takes_localhost_and_says_what_form_is_valid() {
    assert_eq!(
        parse_ok(&format!("listen = \"localhost:10787\"\n{MINIMAL}"))
            .listen
            .to_string(),
        "127.0.0.1:10787"
    );
    let e = parse_err(&format!("listen = \"cdnquota.example.com:10787\"\n{MINIMAL}"));
    assert_eq!((e.line, e.key.as_deref()), (Some(1), Some("listen")), "{e}");
    assert!(e.message.contains("e.g. \"127.0.0.1:10787\""), "{e}");
}

#[test]
fn a_single_accounts_table_is_told_to_use_two_brackets() {
    let e = parse_err("[accounts]\nname = \"main\"\nsecret_id = \"x\"\nsecret_key = \"k\"\n");
    assert!(e.message.contains("write [[accounts]], with two brackets"), "{e}");
    assert_eq!(e.line, Some(1), "{e}");
    assert!(!e.message.contains("invalid type"), "{e}");
}

#[test]
fn no_accounts_blames_no_other_key() {
    for text in [
        "schedule = '0 */10 * * * *'\n",
        "",
        "[thresholds]\nexpires_within = \"7d\"\n",
    ] {
        let e = parse_err(text);
        assert_eq!(e.key.as_deref(), Some("accounts"), "{e}");
        assert_eq!(e.line, None, "{e}");
        assert!(e.message.contains("add an [[accounts]] table"), "{e}");
        assert_eq!(
            e.to_string(),
            format!("/etc/cdnquota/cdnquota.toml: accounts: {}", e.message)
        );
    }
}

#[test]
fn a_cron_step_out_of_range_is_refused() {
    let e = parse_err(&format!("schedule = \"0 */70 * * * *\"\n{MINIMAL}"));
    assert_eq!((e.line, e.key.as_deref()), (Some(1), Some("schedule")), "{e}");
    assert!(e.message.contains("minute field is out of range: use 1 to 59"), "{e}");
}

#[test]
fn ten_thousand_accounts_load_and_a_duplicate_among_them_is_found() {
    let mut text = String::new();
    for i in 0..10_000 {
        text.push_str(&format!(
            "[[accounts]]\nname = \"a{i}\"\nsecret_id = \"x\"\nsecret_key = \"k\"\n"
        ));
    }
    assert_eq!(parse_ok(&text).accounts.len(), 10_000);
    text.push_str("[[accounts]]\nname = \"a9999\"\nsecret_id = \"x\"\nsecret_key = \"k\"\n");
    let e = parse_err(&text);
    assert!(e.message.contains("`a9999` is defined twice"), "{e}");
    assert_eq!(e.line, Some(40_002), "{e}");
    assert_eq!(e.key.as_deref(), Some("accounts[10000].name"), "{e}");
}

#[test]
fn pricing_starts_from_the_list_prices_and_overrides_entry_by_entry() {
    use cdnquota_core::pricing::PriceTable;
    let c = parse_ok(MINIMAL);
    assert_eq!(c.pricing, PriceTable::list_prices());
    let c = parse_ok(&format!(
        r#"
[pricing.mainland]
packages = [{{ size = "10TB", months = 12, cny = 1600 }}, {{ size = "300GB", months = 12, cny = 50 }}]
[pricing.europe]
payg = [{{ up_to = "10TB", cny_per_gb = 0.5 }}, {{ cny_per_gb = 0.4 }}]
[pricing.africa]
replace = true
{MINIMAL}"#
    ));
    let mainland = &c.pricing.regions[&Region::Mainland];
    let ten = mainland
        .offers
        .iter()
        .find(|o| o.size_bytes == 10_000_000_000_000 && o.months == 12);
    assert_eq!(ten.map(|o| o.cny), Some(1600.0));
    // The one-month 10 TB keeps its list price; 300 GB is added.
    let ten_month = mainland
        .offers
        .iter()
        .find(|o| o.size_bytes == 10_000_000_000_000 && o.months == 1);
    assert_eq!(ten_month.map(|o| o.cny), Some(1592.0));
    assert!(mainland.offers.iter().any(|o| o.size_bytes == 300_000_000_000));
    // Europe keeps its packages and now has pay-as-you-go: advice there.
    assert!(c.pricing.complete(Region::Europe).is_some());
    assert_eq!(c.pricing.regions[&Region::Europe].payg.len(), 2);
    assert!(c.pricing.complete(Region::Africa).is_none());
}

#[test]
fn bad_pricing_is_refused_at_its_line_and_key() {
    for (text, line, says) in [
        (
            "[pricing.mars]\npayg = [{ cny_per_gb = 1.0 }]\n",
            1,
            "not a billing region",
        ),
        (
            "[pricing.global]\npayg = [{ cny_per_gb = 1.0 }]\n",
            1,
            "not a billing region",
        ),
        (
            "[pricing.mainland]\npackages = [{ size = \"1TB\", months = 12, cny = -5 }]\n",
            2,
            "0 or more",
        ),
        (
            "[pricing.mainland]\npayg = [{ cny_per_gb = 0.2 }, { up_to = \"2TB\", cny_per_gb = 0.1 }]\n",
            2,
            "only the last",
        ),
        (
            "[pricing.mainland]\npayg = [{ up_to = \"2TB\", cny_per_gb = 0.2 }, { up_to = \"1TB\", cny_per_gb = 0.1 }, { cny_per_gb = 0.1 }]\n",
            2,
            "must rise",
        ),
    ] {
        let e = parse_err(&format!("{text}{MINIMAL}"));
        assert_eq!(e.line, Some(line), "{e}");
        assert!(e.message.contains(says), "{e}");
    }
}

#[test]
fn unit_gb_auto_takes_priced_sizes_and_refuses_unpriced_or_missing_ones() {
    let c = parse_ok(&format!(
        "[order]\nmode = \"dry-run\"\nunit_gb = \"auto\"\nsizes = [100, 1000, 5000]\n{MINIMAL}"
    ));
    let auto = c.accounts[0].order.auto_sizes.as_ref().expect("auto sizes");
    let sizes: Vec<u64> = auto.offers.iter().map(|o| o.size_bytes / 1_000_000_000).collect();
    assert_eq!(sizes, [100, 1000, 5000]);
    assert!(auto.offers.iter().all(|o| o.months == 12));
    assert!(!auto.payg.is_empty());
    // A fixed size behaves as before.
    let c = parse_ok(&format!("[order]\nmode = \"dry-run\"\nunit_gb = 500\n{MINIMAL}"));
    assert_eq!(c.accounts[0].order.unit_gb, 500);
    assert!(c.accounts[0].order.auto_sizes.is_none());

    for (text, line, says) in [
        ("[order]\nunit_gb = \"auto\"\n", 2, "needs sizes"),
        (
            "[order]\nunit_gb = \"auto\"\nsizes = [300]\n",
            3,
            "no 12-month mainland price",
        ),
        ("[order]\nunit_gb = 100\nsizes = [100]\n", 3, "sizes is for unit_gb"),
        ("[order]\nunit_gb = \"big\"\n", 2, "not a size"),
    ] {
        let e = parse_err(&format!("{text}{MINIMAL}"));
        assert_eq!(e.line, Some(line), "{text}: {e}");
        assert!(e.message.contains(says), "{e}");
    }
}

#[test]
fn forecast_ships_china_s_calendar_and_takes_the_operator_s_days() {
    let noon_cst = |d: &str| {
        chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d")
            .expect("a test date")
            .and_hms_opt(4, 0, 0)
            .expect("04:00 UTC")
            .and_utc()
            .timestamp()
    };
    let c = parse_ok(MINIMAL).forecast.settings();
    assert!(c.calendar.is_holiday(noon_cst("2026-10-02")));
    assert_eq!(c.holiday_factor, 1.0);
    // 2027's notice is not shipped: the operator adds Spring Festival's
    // week and a make-up Saturday, as TOML dates and as strings.
    let c = parse_ok(&format!(
        r#"
[forecast]
holiday_factor = 0.6
holidays = [{{ from = 2027-02-05, to = 2027-02-11, name = "春节" }}]
workdays = [{{ date = "2027-02-20", name = "春节" }}]
{MINIMAL}"#
    ));
    let s = c.forecast.settings();
    assert_eq!(s.holiday_factor, 0.6);
    assert!(s.calendar.is_holiday(noon_cst("2027-02-10")));
    assert!(s.calendar.is_working_day(noon_cst("2027-02-20")));
    // `calendar = "none"` leaves China's days out.
    let c = parse_ok(&format!("[forecast]\ncalendar = \"none\"\n{MINIMAL}"));
    assert!(!c.forecast.settings().calendar.is_holiday(noon_cst("2026-10-02")));
    for (text, line, says) in [
        ("[forecast]\nholiday_factor = 0\n", 2, "from 0.05 to 20"),
        (
            "[forecast]\nholidays = [{ from = \"2027-02-11\", to = \"2027-02-05\", name = \"x\" }]\n",
            2,
            "ends before it starts",
        ),
        (
            "[forecast]\nholidays = [{ from = \"11 Feb\", name = \"x\" }]\n",
            2,
            "not a date",
        ),
        ("[forecast]\ncalendar = \"mars\"\n", 2, "china"),
    ] {
        let e = parse_err(&format!("{text}{MINIMAL}"));
        assert!(e.message.contains(says), "{text}: {e}");
        assert_eq!(e.line, Some(line), "{text}: {e}");
    }
}
