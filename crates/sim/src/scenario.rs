//! Ready-made accounts for the simulator.

use super::settle::Settlement;
use super::state::{SimPackage, SimState};
use super::traffic::{Flow, TrafficShape};
use chrono::{DateTime, TimeDelta, Utc};
use std::time::Duration;

const GB: u64 = 1_000_000_000;
const DAY: u64 = 86_400;

/// The `Region` number of Europe.
const EUROPE: u8 = 6;

/// The demo account, in three pools, so that the first thing a newcomer
/// sees is a per-region alert. Mainland: 18 TB left at 20 MB/s on
/// average, ten days of it, and a 100 GB package expiring in five days that
/// is used up first. Europe: 50 GB, 6 GB left, with European traffic of about
/// 40 MB/s that empties it within minutes; no mainland byte ever pays for
/// it, and 30 s after it is empty a 50 TB Europe package appears. HTTPS:
/// 10 million requests, 30 % used, 20 a second. Traffic is deducted as it
/// flows, so the demo moves while it is watched.
pub fn demo(secret_id: &str, secret_key: &str, now: DateTime<Utc>) -> SimState {
    let mut s = SimState::new(secret_id, secret_key, now);
    let started = now - TimeDelta::days(20);
    let mut main = SimPackage::new(
        s.next_package_id(),
        20_000 * GB,
        2000 * GB,
        started,
        Duration::from_secs(365 * DAY),
    );
    main.created_at = started;
    let short = SimPackage::new(
        s.next_package_id(),
        100 * GB,
        20 * GB,
        started,
        Duration::from_secs(25 * DAY),
    );
    let europe = SimPackage::new(
        s.next_package_id(),
        50 * GB,
        44 * GB,
        started,
        Duration::from_secs(50 * DAY),
    )
    .in_region(EUROPE);
    let https = SimPackage::https_requests(
        s.next_package_id(),
        10_000_000,
        3_000_000,
        started,
        Duration::from_secs(365 * DAY),
    );
    s.packages = vec![main, short, europe, https];
    s.drain_bytes_per_second = 20e6;
    s.settlement = Settlement::IMMEDIATE;
    // About 40 MB/s, peaking in the European evening (UTC+1).
    s.regional.insert(
        EUROPE,
        Flow::Shaped(TrafficShape {
            utc_offset_hours: 1.0,
            ..TrafficShape::daily(40e6, 4.0, (now - TimeDelta::days(60)).timestamp())
        }),
    );
    s.https_requests = Some(Flow::Flat(20.0));
    // Real traffic's shape on the real clock: a 6x evening peak (21:00 in
    // UTC+8) and quieter weekends, averaging 20 MB/s on weekdays. Billing
    // data reports the same traffic back 60 days (the daemon reads 30), so
    // the mainland forecast has its weekly profile from the first poll.
    let mut traffic = crate::traffic::TrafficShape::daily(20e6, 6.0, (now - TimeDelta::days(60)).timestamp());
    traffic.weekend_factor = 0.8;
    s.traffic = Some(traffic);
    s.top_up_after_empty = Some((Duration::from_secs(30), 50_000 * GB));
    s.top_up_region = EUROPE;
    s
}

/// A quiet account for trying the daemon by hand: 1 TB, 10% used, a slow
/// steady drain.
pub fn steady(secret_id: &str, secret_key: &str, now: DateTime<Utc>) -> SimState {
    let mut s = SimState::new(secret_id, secret_key, now);
    let started = now - TimeDelta::days(10);
    let p = SimPackage::new(
        s.next_package_id(),
        1000 * GB,
        100 * GB,
        started,
        Duration::from_secs(365 * DAY),
    );
    s.packages = vec![p];
    s.drain_bytes_per_second = 1_000_000.0;
    s
}

/// An account of `n` packages that are all current (usable, or starting
/// within the month), of assorted sizes and expiries: the most series the
/// daemon can have to export for `n` packages.
pub fn many(secret_id: &str, secret_key: &str, now: DateTime<Utc>, n: usize) -> SimState {
    let mut s = SimState::new(secret_id, secret_key, now);
    for i in 0..n as u64 {
        let size = [50, 100, 500, 1000, 5000][(i % 5) as usize] * GB;
        // Spread over the last year, each valid for a year or two.
        let enabled = now - TimeDelta::seconds((i * 7919 % (330 * DAY)) as i64);
        let valid = Duration::from_secs((400 + i % 300) * DAY);
        let used = size / 100 * (i % 90);
        let id = s.next_package_id();
        let mut p = SimPackage::new(id, size, used, enabled, valid);
        if i % 50 == 0 {
            // A few bought ahead, starting within the month.
            p.enabled_at = now + TimeDelta::seconds((i % (30 * DAY)) as i64);
            p.expires_at = p.enabled_at + TimeDelta::days(365);
            p.used_bytes = 0.0;
        }
        s.packages.push(p);
    }
    s.drain_bytes_per_second = 10.0 * 1_000_000.0;
    s
}

/// An account of `n` packages bought over ten years, each valid for 30
/// days, as DescribeTrafficPackages lists them: all but the last month's
/// expired long ago. With the default `[metrics]` only the last two
/// months' get series.
pub fn years(secret_id: &str, secret_key: &str, now: DateTime<Utc>, n: usize) -> SimState {
    let mut s = SimState::new(secret_id, secret_key, now);
    let span = 3650 * DAY;
    for i in 0..n as u64 {
        // Evenly over ten years, oldest first, each valid for 30 days.
        let age = span - span * i / (n as u64).max(1);
        let enabled = now - TimeDelta::seconds(age as i64);
        let id = s.next_package_id();
        let mut p = SimPackage::new(id, 100 * GB, 0, enabled, Duration::from_secs(30 * DAY));
        p.used_bytes = if p.expires_at <= now { 100.0 * GB as f64 } else { 0.0 };
        s.packages.push(p);
    }
    s.drain_bytes_per_second = 1_000_000.0;
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_europe_pool_runs_dry_in_minutes_mainland_lasts_and_https_requests_are_used() {
        let now = Utc::now();
        let mut s = demo("id", "key", now);
        let left = |s: &SimState, pick: &dyn Fn(&SimPackage) -> bool| -> f64 {
            s.packages
                .iter()
                .filter(|p| pick(p) && p.usable(now + TimeDelta::minutes(20)))
                .map(|p| p.size_bytes as f64 - p.used_bytes)
                .sum()
        };
        let europe = |p: &SimPackage| p.region == EUROPE && !p.https;
        let mainland = |p: &SimPackage| p.region == 0 && !p.https;
        let https = |p: &SimPackage| p.https;
        assert_eq!(left(&s, &europe), 6.0 * GB as f64);
        let mainland_at_start = left(&s, &mainland);
        s.advance(now + TimeDelta::seconds(30));
        let after_half_a_minute = left(&s, &europe);
        assert!(
            after_half_a_minute > 0.0 && after_half_a_minute < 6.0 * GB as f64,
            "{after_half_a_minute}"
        );
        // Europe's traffic (at most 4x its 40 MB/s at the evening peak)
        // empties 6 GB within ten minutes; then a 50 TB package comes.
        s.advance(now + TimeDelta::minutes(10));
        assert_eq!(left(&s, &europe), 0.0);
        s.advance(now + TimeDelta::minutes(11));
        assert!(
            s.packages
                .iter()
                .any(|p| europe(p) && p.size_bytes == 50_000 * GB && p.used_bytes == 0.0),
            "a Europe top-up half a minute after the pool ran dry"
        );
        // Mainland has lost ten minutes of 20 MB/s (at most 6x at its peak).
        let used = mainland_at_start - left(&s, &mainland);
        assert!(used > 0.0 && used < 6.0 * 20e6 * 660.0, "{used}");
        assert!(left(&s, &mainland) > 17_000.0 * GB as f64);
        let used = 10_000_000.0 - left(&s, &https) - 3_000_000.0;
        assert!((used - 20.0 * 660.0).abs() < 1.0, "{used}");
    }
}
