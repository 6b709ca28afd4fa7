//! `cdnquota check` against the simulator over HTTP: exit codes, output,
//! and every combination of HTTP method and signature method.

mod common;

use common::*;

fn check(sim: &Sim, extra: &str, json: bool) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &account_toml("main", &sim.endpoint(), extra));
    let mut args = vec!["check", "-c", config.to_str().unwrap()];
    if json {
        args.push("--json");
    }
    let out = run_to_end(&args);
    (
        out.status.code().expect("an exit code"),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn healthy_pool_exits_0_with_a_table() {
    let sim = Sim::with_packages(&[(1000 * GB, 100 * GB)]);
    let (code, out, err) = check(&sim, "", false);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("ACCOUNT  PACKAGE"), "{out}");
    assert!(out.contains("900 GB"), "{out}");
    assert!(out.contains("10.0%"), "{out}");
    assert!(
        out.contains("main: OK - 900 GB left of 1.00 TB (90.0%) in 1 usable package(s)"),
        "{out}"
    );
}

#[test]
fn low_pool_exits_1() {
    let sim = Sim::with_packages(&[(1000 * GB, 850 * GB)]);
    let (code, out, _) = check(&sim, "", false);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("WARNING PoolLow: 150 GB left"), "{out}");
}

#[test]
fn exhausted_pool_exits_2() {
    let sim = Sim::with_packages(&[(100 * GB, 100 * GB)]);
    let (code, out, _) = check(&sim, "", false);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("CRITICAL PoolExhausted"), "{out}");
    // An account with no package at all is just as exhausted.
    let empty = Sim::with_packages(&[]);
    let (code, out, _) = check(&empty, "", false);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("no usable traffic package"), "{out}");
}

#[test]
fn bad_key_exits_3_with_the_api_code() {
    let sim = Sim::with_packages(&[(1000 * GB, 0)]);
    let dir = tempfile::tempdir().unwrap();
    let body = account_toml("main", &sim.endpoint(), "").replace(SECRET_KEY, "wrong-key");
    let config = write_config(dir.path(), &body);
    let out = run_to_end(&["check", "-c", config.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{stdout}");
    assert!(
        stdout.contains("main: UNKNOWN - GetPackage failed: API error code 4100"),
        "{stdout}"
    );
    assert!(stdout.contains("check secret_id and secret_key"), "{stdout}");
    assert!(!stdout.contains("wrong-key"), "the key leaked: {stdout}");
    // Permanent: asked once, not retried.
    assert_eq!(sim.state().count("GetPackage"), 1);
}

#[test]
fn unknown_secret_id_exits_3_with_4104() {
    let sim = Sim::with_packages(&[(1000 * GB, 0)]);
    let dir = tempfile::tempdir().unwrap();
    let body = account_toml("main", &sim.endpoint(), "").replace(SECRET_ID, "AKIDnobodyknowsthis01");
    let config = write_config(dir.path(), &body);
    let out = run_to_end(&["check", "-c", config.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stdout).contains("API error code 4104"));
}

#[test]
fn every_http_and_signature_method_is_accepted() {
    for http in ["GET", "POST"] {
        for signature in ["HmacSHA1", "HmacSHA256"] {
            let sim = Sim::with_packages(&[(1000 * GB, 1)]);
            let extra = format!("http_method = \"{http}\"\nsignature_method = \"{signature}\"");
            let (code, out, err) = check(&sim, &extra, false);
            assert_eq!(code, 0, "{http} {signature}: {out}{err}");
            let state = sim.state();
            let request = &state.requests[0];
            assert_eq!(request.http_method, http);
            assert_eq!(request.answered, "0");
            let expected = (signature == "HmacSHA256").then(|| "HmacSHA256".to_string());
            assert_eq!(request.signature_method, expected, "{http} {signature}");
        }
    }
}

#[test]
fn json_output_carries_state_and_numbers() {
    let sim = Sim::with_packages(&[(1000 * GB, 860 * GB), (50 * GB, 0)]);
    let (code, out, _) = check(&sim, "", true);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).expect("valid JSON");
    assert_eq!(v["state"], "WARNING");
    assert_eq!(v["exit_code"], 1);
    let a = &v["accounts"][0];
    assert_eq!(a["account"], "main");
    assert_eq!(a["assessment"]["totals"]["remaining_bytes"], 190 * GB);
    assert_eq!(a["assessment"]["totals"]["usable_packages"], 2);
    assert_eq!(a["assessment"]["findings"][0]["rule"], "PoolLow");
    assert_eq!(a["assessment"]["packages"].as_array().unwrap().len(), 2);
}

#[test]
fn several_accounts_report_the_worst_state() {
    let ok = Sim::with_packages(&[(1000 * GB, 0)]);
    let exhausted = Sim::with_packages(&[(1000 * GB, 1000 * GB)]);
    let dir = tempfile::tempdir().unwrap();
    let body = format!(
        "{}{}",
        account_toml("ok", &ok.endpoint(), ""),
        account_toml("empty", &exhausted.endpoint(), "")
    );
    let config = write_config(dir.path(), &body);
    let out = run_to_end(&["check", "-c", config.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{stdout}");
    assert!(
        stdout.contains("ok: OK") && stdout.contains("empty: CRITICAL"),
        "{stdout}"
    );
}

#[test]
fn endpoint_failing_every_attempt_exits_3() {
    let sim = Sim::with_packages(&[(1000 * GB, 0)]);
    for _ in 0..3 {
        sim.sim.inject(cdnquota::sim::state::Fault::HttpStatus(502));
    }
    let dir = tempfile::tempdir().unwrap();
    let body = account_toml("main", &sim.endpoint(), "retry_backoff = \"50ms\"\nmax_attempts = 3");
    let config = write_config(dir.path(), &body);
    let output = run_to_end(&["check", "-c", config.to_str().unwrap()]);
    let (code, out, err) = (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    assert_eq!(code, Some(3), "{out}{err}");
    assert!(out.contains("HTTP status 502"), "{out}");
    assert_eq!(sim.state().count("GetPackage"), 3);
}
