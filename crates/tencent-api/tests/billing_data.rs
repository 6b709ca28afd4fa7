//! `DescribeBillingData` over real HTTP against the simulator: traffic per
//! hour and per five minutes in each area, HTTPS requests, reported as the
//! traffic flows while packages are deducted hours later; and a key that may
//! not read it.

mod common;

use cdnquota_core::model::BillingArea;
use cdnquota_sim::state::SimPackage;
use cdnquota_sim::traffic::Flow;
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use common::*;
use std::time::Duration;
use tencent_cdn_api::v3::{BillingInterval, BillingMetric};

/// 1000 B/s in the mainland, 500 in Europe and 250 in North America; 2
/// HTTPS requests a second in the mainland and 1 overseas; settled hourly,
/// 3 h late.
fn account() -> cdnquota_sim::state::SimState {
    let mut state = empty_state();
    state.settlement = Default::default();
    state.drain_bytes_per_second = 1000.0;
    state.regional.insert(6, Flow::Flat(500.0));
    state.regional.insert(5, Flow::Flat(250.0));
    state.https_requests = Some(Flow::Flat(2.0));
    state.overseas_https_requests = Some(Flow::Flat(1.0));
    let id = state.next_package_id();
    state.packages.push(SimPackage::new(
        id,
        100 * GB,
        0,
        Utc::now() - TimeDelta::days(1),
        Duration::from_secs(30 * 86_400),
    ));
    state
}

/// The two whole hours before the current one: (their start, the last
/// second asked for).
fn two_hours_ago() -> (DateTime<Utc>, DateTime<Utc>) {
    let hour = Utc::now().duration_trunc(TimeDelta::hours(1)).expect("an hour");
    (hour - TimeDelta::hours(2), hour - TimeDelta::seconds(1))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_area_metric_and_interval_reports_what_flowed() {
    let sim = start(account()).await;
    let api = client(&sim);
    let (start, end) = two_hours_ago();
    let read = |area, metric, interval| api.billing_data(start, end, area, metric, interval);

    let hours = |amount: f64| vec![(start, amount), (start + TimeDelta::hours(1), amount)];
    let mainland = read(BillingArea::Mainland, BillingMetric::Flux, BillingInterval::Hour).await;
    assert_eq!(mainland.expect("mainland flux"), hours(3600.0 * 1000.0));
    let overseas = read(BillingArea::Overseas, BillingMetric::Flux, BillingInterval::Hour).await;
    assert_eq!(overseas.expect("overseas flux"), hours(3600.0 * 750.0));
    let https = read(BillingArea::Mainland, BillingMetric::Https, BillingInterval::Hour).await;
    assert_eq!(https.expect("mainland https"), hours(3600.0 * 2.0));
    let https = read(BillingArea::Overseas, BillingMetric::Https, BillingInterval::Hour).await;
    assert_eq!(https.expect("overseas https"), hours(3600.0));

    let points = read(BillingArea::Mainland, BillingMetric::Flux, BillingInterval::FiveMinutes)
        .await
        .expect("five-minute points");
    assert_eq!(points.len(), 24);
    assert!(points.iter().all(|(_, v)| *v == 300.0 * 1000.0), "{points:?}");
    assert_eq!(points[1].0 - points[0].0, TimeDelta::minutes(5));
    assert_eq!(points[0].0, start);
    assert_eq!(sim.state().count("DescribeBillingData"), 5);

    // The traffic is reported as it flows; the package is deducted only
    // once the hour is settled, three hours after it.
    let listed = api.get_packages().await.expect("the list");
    assert_eq!(listed.packages[0].used_bytes, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_refused_billing_data_is_not_permitted_and_asked_once() {
    let mut state = account();
    state.billing_refused = Some("AuthFailure.UnauthorizedOperation".into());
    let sim = start(state).await;
    let (start, end) = two_hours_ago();
    let err = client(&sim)
        .billing_data(
            start,
            end,
            BillingArea::Mainland,
            BillingMetric::Flux,
            BillingInterval::Hour,
        )
        .await
        .expect_err("refused");
    assert!(err.is_not_permitted(), "{err}");
    assert!(!err.is_transient());
    assert_eq!(sim.state().count("DescribeBillingData"), 1);

    // A wrong key is refused for every action, and says so.
    sim.state().billing_refused = None;
    let err = client_with_key(&sim, "not-the-key")
        .billing_data(
            start,
            end,
            BillingArea::Mainland,
            BillingMetric::Flux,
            BillingInterval::Hour,
        )
        .await
        .expect_err("a wrong key");
    assert!(err.is_not_permitted(), "{err}");
    assert!(err.to_string().contains("AuthFailure.SignatureFailure"), "{err}");
}
