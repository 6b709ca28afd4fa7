//! `DescribeHttpsPackages` over real HTTP against the simulator: every
//! HTTPS request package over more pages than one page holds, in the
//! global HTTPS pool and apart from the traffic list, with the traffic
//! list's retries and its refusal of overlapping pages.

mod common;

use cdnquota_core::model::{Region, Resource};
use cdnquota_sim::state::{Fault, SimPackage};
use chrono::{TimeDelta, Utc};
use common::*;
use std::time::Duration;

const HTTPS_PACKAGES: u64 = 23;

/// 23 HTTPS packages of (i + 1) million requests, i thousand used, and two
/// traffic packages (one in Europe), at most 10 packages a page.
fn account() -> cdnquota_sim::state::SimState {
    let mut state = empty_state();
    let started = Utc::now() - TimeDelta::days(1);
    let year = Duration::from_secs(365 * 86_400);
    for i in 0..HTTPS_PACKAGES {
        let id = state.next_package_id();
        state.packages.push(SimPackage::https_requests(
            id,
            (i + 1) * 1_000_000,
            i * 1000,
            started,
            year,
        ));
    }
    let id = state.next_package_id();
    state.packages.push(SimPackage::new(id, 100 * GB, GB, started, year));
    let id = state.next_package_id();
    state
        .packages
        .push(SimPackage::new(id, 50 * GB, 45 * GB, started, year).in_region(6));
    state.v3_page_cap = 10;
    state
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_https_package_is_listed_over_several_pages_as_requests() {
    let sim = start(account()).await;
    let packages = client(&sim).https_packages().await.expect("the HTTPS list");

    assert_eq!(packages.len() as u64, HTTPS_PACKAGES);
    assert_eq!(
        sim.state().count("DescribeHttpsPackages"),
        3,
        "23 packages at 10 a page"
    );
    let mut sizes: Vec<(u64, u64)> = packages.iter().map(|p| (p.size_bytes, p.used_bytes)).collect();
    sizes.sort();
    let expected: Vec<(u64, u64)> = (0..HTTPS_PACKAGES).map(|i| ((i + 1) * 1_000_000, i * 1000)).collect();
    assert_eq!(sizes, expected);
    for p in &packages {
        assert_eq!(
            (p.resource, p.region),
            (Resource::HttpsRequests, Region::Global),
            "{p:?}"
        );
        assert_eq!(p.area.as_deref(), Some("global"));
        assert_eq!(p.status.as_deref(), Some("enabled"));
    }
    // The traffic list holds the other two, each in its own region.
    let traffic = client(&sim).get_packages().await.expect("the traffic list").packages;
    let mut regions: Vec<(Region, u64)> = traffic.iter().map(|p| (p.region, p.size_bytes)).collect();
    regions.sort();
    assert_eq!(regions, vec![(Region::Mainland, 100 * GB), (Region::Europe, 50 * GB)]);
    assert!(traffic.iter().all(|p| p.resource == Resource::Traffic));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_page_is_retried_and_overlapping_pages_fail_the_list() {
    let sim = start(account()).await;
    sim.inject(Fault::HttpStatus(502));
    let packages = client(&sim).https_packages().await.expect("retried past the 502");
    assert_eq!(packages.len() as u64, HTTPS_PACKAGES);
    let answered: Vec<String> = sim
        .state()
        .requests
        .iter()
        .filter(|r| r.action == "DescribeHttpsPackages")
        .map(|r| r.answered.clone())
        .collect();
    assert_eq!(answered, vec!["502", "0", "0", "0"]);

    sim.state().v3_ignore_offset = true;
    let err = client(&sim)
        .https_packages()
        .await
        .expect_err("every page is the first");
    assert!(err.to_string().contains("repeats"), "{err}");
    assert!(!err.is_transient());

    sim.state().v3_ignore_offset = false;
    sim.state().v3_overstate_total = 5;
    let err = client(&sim)
        .https_packages()
        .await
        .expect_err("TotalCount is never reached");
    assert!(err.to_string().contains("TotalCount is 28"), "{err}");
}
