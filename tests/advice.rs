//! Purchase advice against the simulator over real HTTP: the daemon's mail,
//! status page and metrics carry the money at stake and the advice, `advise`
//! and `check` print them, and `unit_gb = "auto"` orders the advised size.

mod common;

use common::*;
use std::path::Path;
use std::time::Duration;

/// 15 GB a day, in bytes per second.
const DRAIN: f64 = 15.0 * GB as f64 / 86_400.0;

/// Every mail written so far, decoded, joined.
fn all_mail(dir: &Path) -> String {
    let Ok(entries) = std::fs::read_dir(dir.join("mail")) else {
        return String::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .map(|m| decode_quoted_printable(&m))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A daemon polling `sim` every second, mailing into `dir/mail`, with
/// `after` (e.g. an `[accounts.order]` table) after its account table.
fn start(sim: &Sim, dir: &Path, after: &str) -> (std::path::PathBuf, Daemon) {
    let addr = loopback_addr();
    let body = format!(
        "schedule = \"* * * * * *\"\nlisten = \"{addr}\"\n[alerts]\nrepeat_interval = \"1h\"\n[email]\ntransport = \"file\"\nfolder = \"{}\"\nfrom = \"alerts@example.com\"\nto = [\"ops@example.com\"]\n{}{after}\n",
        dir.join("mail").display(),
        account_toml("main", &sim.endpoint(), "")
    );
    let config = write_config(dir, &body);
    let daemon = Daemon::start(&config, &addr);
    (config, daemon)
}

/// 50 GB left of 1 TB (below PoolLow's 200 GB), draining 15 GB a day.
fn low_pool() -> Sim {
    let sim = Sim::with_packages(&[(1000 * GB, 950 * GB)]);
    sim.state().drain_bytes_per_second = DRAIN;
    sim.state().settlement = cdnquota_sim::settle::Settlement::IMMEDIATE;
    sim
}

#[test]
fn a_low_pool_gets_the_advice_in_mail_status_page_metrics_advise_and_check() {
    let sim = low_pool();
    let dir = tempfile::tempdir().unwrap();
    let (config, mut daemon) = start(&sim, dir.path(), "");
    daemon.wait_for("the advice in the mail", Duration::from_secs(20), || {
        all_mail(dir.path()).contains("PURCHASE")
    });
    let mail = all_mail(dir.path());
    assert!(mail.contains("Money at stake:"), "{mail}");
    assert!(mail.contains("advised: 1 × 500 GB, 1 month"), "{mail}");
    assert!(mail.contains("https://buy.cloud.tencent.com/cdn_package"), "{mail}");

    // Dry in about 3.3 days, then about 26.7 days × 15 GB = 400 GB
    // pay-as-you-go, all under 2 TB: about ¥84.
    let overage = metric(
        &daemon.metrics(),
        "cdnquota_pool_overage_cost_30d_cny",
        "account=\"main\",region=\"mainland\"",
    );
    assert!(overage.is_some_and(|c| (60.0..110.0).contains(&c)), "{overage:?}");
    let page = http_get(&daemon.addr, "/").map(|(_, b)| b).unwrap_or_default();
    assert!(page.contains("class=\"advice\""), "{page}");
    assert!(page.contains("1 × 500 GB, 1 month"), "{page}");
    daemon.terminate();

    // `advise` from the daemon's history. A year at the early bound for
    // 30 days (15 GB a day × 1.25) and 15 GB after wants about 5,540 GB
    // beyond the 50 GB held. The going rate for what is bought later is a
    // 1-month 100 GB package, ¥17 for 100 GB used (¥0.17/GB; a month of
    // pay-as-you-go is 0.21, 5 TB for 12 months 945 / 5,000 = 0.189).
    // 5 TB for 12 months: ¥945 + 540 GB × 0.17 = ¥1,037. 500 GB for a
    // month (¥84) covers the first month: ¥84 + 5,040 × 0.17 = ¥941; it
    // beats 1 × 100 GB for a month (¥17 + 5,440 × 0.17 = ¥942) by a yuan.
    let out = run_to_end(&["advise", "-c", config.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let pool = &v["pools"][0];
    assert_eq!(pool["pool"]["region"], "mainland", "{v:#}");
    let best = &pool["advice"]["best"];
    assert_eq!(best["offer"]["size_bytes"], 500 * GB, "{v:#}");
    assert_eq!(best["offer"]["months"], 1);
    assert_eq!(best["count"], 1);
    let total = |p: &serde_json::Value| p["total_cny"].as_f64().unwrap_or(f64::NAN);
    assert!((900.0..1_000.0).contains(&total(best)), "{v:#}");
    let next = pool["advice"]["next"].as_array().expect("next best");
    assert_eq!(next.len(), 2);
    assert!(next.iter().all(|p| total(p) >= total(best)), "{v:#}");
    assert!(total(&pool["advice"]["nothing"]) > total(best), "{v:#}");
    assert!(pool["money"]["overage_cost_30d_cny"].as_f64().unwrap_or(0.0) > 0.0);

    // `check` shows it in the long output, as PoolLow fires.
    let out = run_to_end(&["check", "-c", config.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("purchase advice:"), "{text}");
    assert!(text.contains("money at stake:"), "{text}");
}

#[test]
fn an_unpriced_region_gets_no_advice_and_says_so() {
    let sim = low_pool();
    let dir = tempfile::tempdir().unwrap();
    let body = format!(
        "[pricing.mainland]\nreplace = true\n{}",
        account_toml("main", &sim.endpoint(), "")
    );
    let config = write_config(dir.path(), &body);
    let out = run_to_end(&["advise", "-c", config.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("no advice: [pricing.mainland] lacks"), "{text}");
    let out = run_to_end(&["check", "-c", config.to_str().unwrap(), "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let pool = &v["accounts"][0]["assessment"]["pools"][0];
    assert!(pool.get("advice").is_none() && pool.get("money").is_none(), "{pool:#}");
}

/// The cheapest (size GB, count) among `sizes` for a year at `early` GB a
/// day for 30 days and `central` after, with `held` GB left, worked out
/// here on its own: every purchase covers its bytes, the rest is bought
/// later at the going rate, the least per GB of a month's pay-as-you-go
/// (0.21, under 2 TB a month at these rates) and of any one purchase by
/// what a year's central demand uses of it. Offers at the list prices for
/// 12 months; none runs short in its first week here.
fn expected_auto(central: f64, early: f64, held: f64, sizes: &[(u64, f64)]) -> (u64, u32) {
    let need = (early * 30.0 + central * 335.0 - held).max(0.0);
    let mut rate: f64 = 0.21;
    for &(gb, cny) in sizes {
        for count in 1..=5u32 {
            let used = ((gb * u64::from(count)) as f64).min(central * 365.0);
            rate = rate.min(cny * f64::from(count) / used);
        }
    }
    let mut best = (0, 0, f64::INFINITY);
    for &(gb, cny) in sizes {
        for count in 1..=5u32 {
            let bought = (gb * u64::from(count)) as f64;
            let total = cny * f64::from(count) + (need - bought).max(0.0) * rate;
            if total < best.2 {
                best = (gb, count, total);
            }
        }
    }
    (best.0, best.1)
}

#[test]
fn unit_gb_auto_places_one_order_of_the_advised_size() {
    let sim = low_pool();
    let dir = tempfile::tempdir().unwrap();
    let order = "[accounts.order]\nmode = \"live\"\nunit_gb = \"auto\"\nsizes = [100, 5000]\nnumber = 5\nwhen_depletion_within = \"0s\"";
    let (_, daemon) = start(&sim, dir.path(), order);
    daemon.wait_for("the order", Duration::from_secs(20), || sim.state().orders.len() == 1);
    std::thread::sleep(Duration::from_secs(3));
    let orders: Vec<(u32, u32)> = sim.state().orders.iter().map(|o| (o.unit_gb, o.number)).collect();
    // 15 GB a day, the recent-rate forecast's early bound × 1.25, 50 GB
    // held: 100 GB at ¥20 and 5 TB at ¥945 for 12 months. The going rate
    // is the 5 TB's, 945 / 5,000 = 0.189 (100 GB: 0.20). About 5,540 GB
    // wanted: one 5 TB and 540 GB later, ¥1,047; 5 × 100 GB leave
    // 5,040 GB, ¥1,053.
    let expected = expected_auto(15.0, 15.0 * 1.25, 50.0, &[(100, 20.0), (5000, 945.0)]);
    assert_eq!(expected, (5000, 1));
    assert_eq!(orders, vec![(5000, 1)], "log:\n{}", daemon.log());
    assert_eq!(sim.state().arrived("OrderPackage"), 1);
}

/// 2.75 GB a day (about 1 TB a year), in bytes per second.
const YEAR_OF_1_TB: f64 = 2.75 * GB as f64 / 86_400.0;

#[test]
fn a_package_bought_twice_too_big_is_refundable_until_its_window_closes() {
    use cdnquota_core::history::PoolHistory;
    use cdnquota_sim::state::SimPackage;
    use chrono::{TimeDelta, Utc};

    // An older package with 100 GB left that expires first (so it deducts
    // first) and a 2 TB package bought 2 days ago, still unused: Tencent
    // would refund it. At about 1 TB a year, and even at the early bound,
    // it expires with far more than expiring_unused_above (10 GB) unused.
    let now = Utc::now();
    let mut state = state_with(&[]);
    let year = Duration::from_secs(365 * 86_400);
    state
        .packages
        .push(SimPackage::new(1, 1000 * GB, 900 * GB, now - TimeDelta::days(30), year));
    let bought = now - TimeDelta::days(2);
    state.packages.push(SimPackage::new(2, 2000 * GB, 0, bought, year));
    state.drain_bytes_per_second = YEAR_OF_1_TB;
    state.settlement = cdnquota_sim::settle::Settlement::IMMEDIATE;
    // The daemon learns from its own polls and the history below, not
    // from billing data for hours before the simulator started.
    state.billing_refused = Some("UnauthorizedOperation".into());
    let sim = Sim::start(state);

    // Three days of that traffic behind the daemon: advice on a refund
    // needs a day of history at least.
    let dir = tempfile::tempdir().unwrap();
    let mut history = PoolHistory::new();
    let hour = now.timestamp() - now.timestamp().rem_euclid(3600);
    for h in 1..=72 {
        let start = chrono::DateTime::from_timestamp(hour - h * 3600, 0).unwrap();
        history.hourly.set_billed(start, 2.75 * GB as f64 / 24.0);
    }
    let histories = dir.path().join("state/history");
    std::fs::create_dir_all(&histories).unwrap();
    std::fs::write(histories.join("main.json"), serde_json::to_vec(&history).unwrap()).unwrap();

    let addr = loopback_addr();
    let body = format!(
        "schedule = \"* * * * * *\"\nlisten = \"{addr}\"\n{}",
        account_toml("main", &sim.sim.endpoint_v3(), "api = \"v3\"")
    );
    let config = write_config(dir.path(), &body);
    let mut daemon = Daemon::start(&config, &addr);
    let firing = |log: &str| {
        log.lines()
            .find(|l| l.contains("alert firing") && l.contains("alert=PackageRefundable"))
            .map(str::to_string)
    };
    daemon.wait_for("PackageRefundable", Duration::from_secs(20), || {
        firing(&daemon.log()).is_some()
    });
    let line = firing(&daemon.log()).unwrap_or_default();
    // The window closes 15 days after the purchase.
    let deadline = (bought + TimeDelta::days(15)).format("%Y-%m-%d %H:%M UTC").to_string();
    assert!(line.contains(&deadline), "want {deadline}: {line}");

    // Day 16 after the purchase: Tencent no longer refunds it, and the
    // warning resolves.
    {
        let mut s = sim.state();
        let p = s.packages.iter_mut().find(|p| p.id == 2).expect("package 2");
        p.created_at = now - TimeDelta::days(16);
    }
    daemon.wait_for("PackageRefundable resolved", Duration::from_secs(20), || {
        daemon
            .log()
            .lines()
            .any(|l| l.contains("alert resolved") && l.contains("alert=PackageRefundable"))
    });
    daemon.terminate();
}
