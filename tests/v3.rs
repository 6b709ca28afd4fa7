//! API 3.0 (`DescribeTrafficPackages`, TC3-HMAC-SHA256) against the
//! simulator's v3 endpoint: `check`, `run`, paging, errors.

mod common;

use cdnquota_sim::state::{Fault, SimPackage};
use chrono::Utc;
use common::*;
use std::time::Duration;

const V3: &str = "api = \"v3\"";

fn check_v3(sim: &Sim, extra: &str) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &account_toml("main", &sim.endpoint_v3(), &format!("{V3}\n{extra}")),
    );
    let out = run_to_end(&["check", "-c", config.to_str().unwrap()]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().expect("an exit code"), text)
}

trait V3Endpoint {
    fn endpoint_v3(&self) -> String;
}

impl V3Endpoint for Sim {
    fn endpoint_v3(&self) -> String {
        self.sim.endpoint_v3()
    }
}

#[test]
fn check_exit_codes_match_v2() {
    for (packages, code, text) in [
        (vec![(1000 * GB, 100 * GB)], 0, "main: OK - 900 GB left"),
        (vec![(1000 * GB, 850 * GB)], 1, "WARNING PoolLow: 150 GB left"),
        (vec![(100 * GB, 100 * GB)], 2, "CRITICAL PoolExhausted"),
    ] {
        let sim = Sim::with_packages(&packages);
        let (got, out) = check_v3(&sim, "");
        assert_eq!(got, code, "{out}");
        assert!(out.contains(text), "{out}");
        let state = sim.state();
        assert_eq!(state.requests[0].action, "DescribeTrafficPackages");
        assert_eq!(state.requests[0].answered, "0");
    }
}

#[test]
fn auth_error_exits_3_with_the_request_id() {
    let sim = Sim::with_packages(&[(1000 * GB, 0)]);
    let (code, out) = check_v3(&sim, "secret_key = \"wrong\"\nmax_attempts = 3");
    assert_eq!(code, 3, "{out}");
    assert!(
        out.contains("DescribeTrafficPackages failed: API error AuthFailure.SignatureFailure"),
        "{out}"
    );
    let request_id = out
        .split("[RequestId ")
        .nth(1)
        .and_then(|r| r.split(']').next())
        .unwrap_or_default();
    assert_eq!(request_id.len(), 36, "no RequestId in: {out}");
    assert!(out.contains("check secret_id and secret_key"), "{out}");
    assert!(!out.contains("wrong"), "the key leaked: {out}");
    // An auth error is permanent: one request despite max_attempts = 3.
    assert_eq!(sim.state().count("DescribeTrafficPackages"), 1);
}

#[test]
fn transient_errors_are_retried() {
    let sim = Sim::with_packages(&[(1000 * GB, 0)]);
    sim.sim.inject(Fault::ApiCode(6000));
    sim.sim.inject(Fault::ApiCode(4400));
    sim.sim.inject(Fault::HttpStatus(502));
    let (code, out) = check_v3(&sim, "max_attempts = 4\nretry_backoff = \"10ms\"");
    assert_eq!(code, 0, "{out}");
    let answered: Vec<(String, String)> = sim
        .state()
        .requests
        .iter()
        .map(|r| (r.action.clone(), r.answered.clone()))
        .collect();
    let traffic = |answered: &str| ("DescribeTrafficPackages".to_string(), answered.to_string());
    // The traffic list, retried to success; then the HTTPS request list.
    assert_eq!(
        answered,
        [
            traffic("InternalError"),
            traffic("RequestLimitExceeded"),
            traffic("502"),
            traffic("0"),
            ("DescribeHttpsPackages".to_string(), "0".to_string())
        ]
    );
}

#[test]
fn status_words_and_auto_renewal_are_shown() {
    let sim = Sim::with_packages(&[(1000 * GB, 0), (500 * GB, 0)]);
    {
        let mut s = sim.state();
        s.packages[0].auto_extension = true;
        s.packages[1].status_override = Some("frozen".into());
    }
    let (code, out) = check_v3(&sim, "");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("usable, auto-renews"), "{out}");
    assert!(out.contains("not usable (frozen)"), "{out}");
    assert!(
        out.contains("900 GB") || out.contains("1.00 TB left of 1.00 TB"),
        "{out}"
    );
}

#[test]
fn pages_over_2500_packages() {
    let mut state = state_with(&[]);
    let now = Utc::now();
    for i in 0..2500u64 {
        let id = state.next_package_id();
        state.packages.push(SimPackage::new(
            id,
            10 * GB,
            i * 1000,
            now - chrono::TimeDelta::days(1),
            Duration::from_secs(86_400 * (30 + i % 300)),
        ));
    }
    let expected_left: u64 = state.packages.iter().map(|p| p.size_bytes - p.used_bytes as u64).sum();
    let sim = Sim::start(state);
    let dir = tempfile::tempdir().unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let body = format!(
        "schedule = \"0 0 0 1 1 *\"\nlisten = \"{addr}\"\n{}",
        account_toml("main", &sim.endpoint_v3(), &format!("{V3}\ntimeout = \"10s\""))
    );
    let config = write_config(dir.path(), &body);
    let d = Daemon::start(&config, &addr);
    assert!(
        wait_until(Duration::from_secs(20), || metric(
            &d.metrics(),
            "cdnquota_poll_success",
            "account=\"main\""
        ) == Some(1.0)),
        "{}",
        d.log()
    );
    let m = d.metrics();
    // 2 500 packages at 1 000 a page: exactly three requests.
    assert_eq!(sim.state().count("DescribeTrafficPackages"), 3);
    assert_eq!(m.matches("cdnquota_package_size_bytes{").count(), 2500);
    assert_eq!(
        metric(
            &m,
            "cdnquota_pool_remaining_bytes",
            "account=\"main\",region=\"mainland\""
        ),
        Some(expected_left as f64)
    );
    assert_eq!(
        metric(&m, "cdnquota_pool_size_bytes", "account=\"main\",region=\"mainland\""),
        Some((2500 * 10 * GB) as f64)
    );
}

#[test]
fn run_with_a_v2_and_a_v3_account_side_by_side() {
    let v2 = Sim::with_packages(&[(1000 * GB, 100 * GB)]);
    let v3 = Sim::with_packages(&[(500 * GB, 50 * GB)]);
    v3.state().packages[0].auto_extension = true;
    let v3_id = v3.state().packages[0].id;
    let dir = tempfile::tempdir().unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let body = format!(
        "schedule = \"* * * * * *\"\nlisten = \"{addr}\"\n{}{}",
        account_toml("old", &v2.endpoint(), ""),
        account_toml("new", &v3.endpoint_v3(), V3)
    );
    let config = write_config(dir.path(), &body);
    let d = Daemon::start(&config, &addr);
    let ready = || http_get(&d.addr, "/readyz").map(|r| r.0) == Some(200);
    assert!(wait_until(Duration::from_secs(10), ready), "{}", d.log());
    let m = d.metrics();
    assert_eq!(
        metric(
            &m,
            "cdnquota_pool_remaining_bytes",
            "account=\"old\",region=\"mainland\""
        ),
        Some((900 * GB) as f64)
    );
    assert_eq!(
        metric(
            &m,
            "cdnquota_pool_remaining_bytes",
            "account=\"new\",region=\"mainland\""
        ),
        Some((450 * GB) as f64)
    );
    let info = format!(
        "account=\"new\",area=\"mainland\",auto_extension=\"true\",package_id=\"{v3_id}\",package_type=\"日常流量包\",region=\"mainland\",resource=\"traffic\",status=\"enabled\",title=\"日常流量包\""
    );
    assert_eq!(metric(&m, "cdnquota_package_info", &info), Some(1.0), "{m}");
    assert!(
        metric(
            &m,
            "cdnquota_api_requests_total",
            "account=\"new\",action=\"DescribeTrafficPackages\",outcome=\"success\""
        )
        .is_some()
    );

    // A failing v3 poll keeps its values, like v2.
    v3.state().packages[0].used_bytes = (499 * GB) as f64;
    for _ in 0..3 {
        v3.sim.inject(Fault::ApiCode(6000));
    }
    let mut seen = String::new();
    assert!(wait_until(Duration::from_secs(10), || {
        seen = d.metrics();
        metric(&seen, "cdnquota_poll_success", "account=\"new\"") == Some(0.0)
    }));
    assert_eq!(
        metric(
            &seen,
            "cdnquota_pool_remaining_bytes",
            "account=\"new\",region=\"mainland\""
        ),
        Some((450 * GB) as f64)
    );
    assert!(
        d.log()
            .contains("DescribeTrafficPackages failed: API error InternalError"),
        "{}",
        d.log()
    );
    assert!(wait_until(Duration::from_secs(10), || {
        metric(
            &d.metrics(),
            "cdnquota_pool_remaining_bytes",
            "account=\"new\",region=\"mainland\"",
        ) == Some(GB as f64)
    }));
}
