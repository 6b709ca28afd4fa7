//! The burn rate and when the pool runs dry.
//!
//! The rate comes from the history of polls: bytes consumed between
//! consecutive polls, summed over the packages seen in both, so that a
//! package appearing, vanishing or being reset does not look like traffic.
//! The depletion forecast then drains the usable packages at that rate,
//! earliest-expiring first (bytes left in a package when it expires are
//! lost), until nothing is left.

use crate::core::pool::{is_usable, remaining_bytes};
use crate::model::{Package, Snapshot};
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// History kept for the rate is capped at this many polls; older ones go.
pub const MAX_SAMPLES: usize = 512;

/// What one package had used at one poll.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SampleEntry {
    /// Bytes used.
    pub used_bytes: u64,
    /// When the package was created, if known.
    pub created_at: Option<DateTime<Utc>>,
}

/// What every package had used at one poll.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// When the poll's answer arrived.
    pub at: DateTime<Utc>,
    /// Usage per package id.
    pub packages: BTreeMap<String, SampleEntry>,
}

impl Sample {
    /// The usage recorded in a snapshot.
    pub fn of(snapshot: &Snapshot) -> Sample {
        Sample {
            at: snapshot.taken_at,
            packages: snapshot
                .packages
                .iter()
                .map(|p| {
                    (
                        p.id.clone(),
                        SampleEntry {
                            used_bytes: p.used_bytes,
                            created_at: p.created_at,
                        },
                    )
                })
                .collect(),
        }
    }
}

/// Appends `sample` and drops what falls outside `window` or the cap.
pub fn record(history: &mut Vec<Sample>, sample: Sample, window: Duration) {
    // A clock step backwards would make intervals negative: start afresh.
    if history.last().is_some_and(|last| last.at >= sample.at) {
        history.clear();
    }
    let cutoff = sample.at - TimeDelta::from_std(window).unwrap_or(TimeDelta::MAX);
    history.push(sample);
    history.retain(|s| s.at >= cutoff);
    if history.len() > MAX_SAMPLES {
        let excess = history.len() - MAX_SAMPLES;
        history.drain(..excess);
    }
}

/// Bytes consumed from `prev` to `next`.
fn consumed(prev: &Sample, next: &Sample) -> u64 {
    next.packages
        .iter()
        .map(|(id, now)| match prev.packages.get(id) {
            // A drop in usage is a reset or a correction, not negative traffic.
            Some(before) => now.used_bytes.saturating_sub(before.used_bytes),
            // A package created since the last poll was used in between.
            None if now.created_at.is_some_and(|c| c > prev.at) => now.used_bytes,
            // Otherwise it was merely not listed before: no evidence of traffic.
            None => 0,
        })
        .fold(0u64, u64::saturating_add)
}

/// Bytes per second over the history; `None` with fewer than two polls.
pub fn consumption_rate(history: &[Sample]) -> Option<f64> {
    let (first, last) = (history.first()?, history.last()?);
    let span = (last.at - first.at).as_seconds_f64();
    if history.len() < 2 || span <= 0.0 {
        return None;
    }
    let total: u64 = history
        .windows(2)
        .map(|w| consumed(&w[0], &w[1]))
        .fold(0, u64::saturating_add);
    Some(total as f64 / span)
}

/// When the pool runs dry at `rate` bytes per second; `None` when nothing is
/// being consumed. Packages not yet started join the pool when they start;
/// a gap with nothing usable counts as dry.
pub fn depletion_time(packages: &[Package], now: DateTime<Utc>, rate: f64) -> Option<DateTime<Utc>> {
    if !(rate > 0.0 && rate.is_finite()) {
        return None;
    }
    let secs = |t: DateTime<Utc>| (t - now).as_seconds_f64();
    // (start, end, bytes left), in seconds from now.
    let mut pool: Vec<(f64, f64, f64)> = packages
        .iter()
        .filter(|p| p.enabled && !p.expired && p.expires_at > now && remaining_bytes(p) > 0)
        .filter(|p| is_usable(p, now) || p.enabled_at > now)
        .map(|p| {
            (
                secs(p.enabled_at).max(0.0),
                secs(p.expires_at),
                remaining_bytes(p) as f64,
            )
        })
        .collect();
    let mut t = 0.0f64;
    // Each step ends with a package emptied, expired or started: bounded.
    for _ in 0..=3 * pool.len() + 1 {
        let active = pool
            .iter()
            .enumerate()
            .filter(|(_, (start, end, left))| *start <= t && t < *end && *left > 0.0)
            .min_by(|a, b| a.1.1.total_cmp(&b.1.1))
            .map(|(i, _)| i);
        let Some(i) = active else {
            return Some(now + TimeDelta::milliseconds((t * 1000.0) as i64));
        };
        let (_, end, left) = pool[i];
        let next_start = pool
            .iter()
            .map(|p| p.0)
            .filter(|s| *s > t)
            .fold(f64::INFINITY, f64::min);
        let step_end = (t + left / rate).min(end).min(next_start);
        pool[i].2 = (left - (step_end - t) * rate).max(0.0);
        if step_end >= t + left / rate {
            pool[i].2 = 0.0;
        }
        t = step_end;
    }
    Some(now + TimeDelta::milliseconds((t * 1000.0) as i64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::testing::{at, package};

    fn snap(when: &str, packages: Vec<Package>) -> Sample {
        Sample::of(&Snapshot {
            taken_at: at(when),
            packages,
        })
    }

    const FROM: &str = "2026-01-01 00:00:00";
    const TO: &str = "2027-01-01 00:00:00";

    #[test]
    fn rate_from_steady_usage() {
        let h = vec![
            snap("2026-06-01 00:00:00", vec![package("a", 1000, 100, FROM, TO)]),
            snap("2026-06-01 00:10:00", vec![package("a", 1000, 400, FROM, TO)]),
            snap("2026-06-01 00:20:00", vec![package("a", 1000, 700, FROM, TO)]),
        ];
        assert_eq!(consumption_rate(&h), Some(600.0 / 1200.0));
        assert_eq!(consumption_rate(&h[..1]), None);
        assert_eq!(consumption_rate(&[]), None);
    }

    #[test]
    fn appearing_vanishing_and_reset_packages_are_not_traffic() {
        let mut new_pkg = package("new", 1000, 50, FROM, TO);
        new_pkg.created_at = Some(at("2025-01-01 00:00:00"));
        let h = vec![
            snap(
                "2026-06-01 00:00:00",
                vec![package("a", 1000, 500, FROM, TO), package("gone", 1000, 10, FROM, TO)],
            ),
            // "a" reset to 0 and "gone" vanished: nothing consumed.
            snap(
                "2026-06-01 00:10:00",
                vec![package("a", 1000, 0, FROM, TO), new_pkg.clone()],
            ),
            // 100 on "a", 20 on "new".
            snap(
                "2026-06-01 00:20:00",
                vec![package("a", 1000, 100, FROM, TO), package("new", 1000, 70, FROM, TO)],
            ),
        ];
        assert_eq!(consumption_rate(&h), Some(120.0 / 1200.0));
    }

    #[test]
    fn a_package_created_between_polls_counts_its_usage() {
        let mut fresh = package("fresh", 1000, 60, "2026-06-01 00:05:00", TO);
        fresh.created_at = Some(at("2026-06-01 00:05:00"));
        let h = vec![
            snap("2026-06-01 00:00:00", vec![]),
            snap("2026-06-01 00:10:00", vec![fresh]),
        ];
        assert_eq!(consumption_rate(&h), Some(60.0 / 600.0));
    }

    #[test]
    fn record_keeps_the_window_and_survives_a_clock_step_back() {
        let mut h = Vec::new();
        for minute in 0..30 {
            record(
                &mut h,
                snap(&format!("2026-06-01 00:{minute:02}:00"), vec![]),
                Duration::from_secs(600),
            );
        }
        assert_eq!(h.len(), 11);
        assert_eq!(h[0].at, at("2026-06-01 00:19:00"));
        record(&mut h, snap("2026-06-01 00:00:00", vec![]), Duration::from_secs(600));
        assert_eq!(h.len(), 1);
    }

    #[test]
    fn depletion_is_remaining_over_rate_for_one_package() {
        let now = at("2026-06-01 00:00:00");
        let p = vec![package("a", 1000, 400, FROM, TO)];
        assert_eq!(depletion_time(&p, now, 1.0), Some(at("2026-06-01 00:10:00")));
        assert_eq!(depletion_time(&p, now, 0.0), None);
        assert_eq!(depletion_time(&p, now, f64::NAN), None);
    }

    #[test]
    fn bytes_lost_at_expiry_bring_depletion_forward() {
        let now = at("2026-06-01 00:00:00");
        // 600 s of traffic in "soon", but it expires after 100 s: 500 lost.
        let p = vec![
            package("soon", 600, 0, FROM, "2026-06-01 00:01:40"),
            package("later", 300, 0, FROM, TO),
        ];
        assert_eq!(depletion_time(&p, now, 1.0), Some(at("2026-06-01 00:06:40")));
    }

    #[test]
    fn a_gap_before_a_future_package_is_dry() {
        let now = at("2026-06-01 00:00:00");
        let p = vec![
            package("now", 60, 0, FROM, TO),
            package("future", 10_000, 0, "2026-06-01 01:00:00", TO),
        ];
        assert_eq!(depletion_time(&p, now, 1.0), Some(at("2026-06-01 00:01:00")));
        // With nothing usable now the pool is already dry.
        assert_eq!(depletion_time(&p[1..], now, 1.0), Some(now));
        assert_eq!(depletion_time(&[], now, 1.0), Some(now));
    }

    #[test]
    fn a_future_package_that_starts_in_time_extends_the_pool() {
        let now = at("2026-06-01 00:00:00");
        let p = vec![
            package("now", 120, 0, FROM, TO),
            package("next", 60, 0, "2026-06-01 00:01:00", TO),
        ];
        assert_eq!(depletion_time(&p, now, 1.0), Some(at("2026-06-01 00:03:00")));
    }
}
