//! The recent burn rate, from the history of polls: bytes consumed between
//! consecutive polls, summed over the packages seen in both, so that a
//! package appearing or vanishing does not look like traffic and a reading
//! that drops is a glitch, not negative traffic. (The daemon's run-dry
//! forecast follows the daily cycle: `demand`, `drain`, `projection`;
//! [`depletion_time`] is that drain at one flat rate.)
//!
//! The daemon keeps a [`History`]: one small entry per poll and one map of
//! each package's last usage, so its size is a few bytes per poll plus one
//! entry per listed package, however often it polls. [`Sample`] and
//! [`consumption_rate`] keep every poll whole; they serve one-off
//! assessments and are the reference the compact history is tested against.

use crate::model::{Package, Snapshot};
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};

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

/// Bytes one package consumed since the poll at `prev_at`, given what it had
/// used then (`None`: it was not listed).
fn package_consumed(
    before: Option<u64>,
    now_used: u64,
    created_at: Option<DateTime<Utc>>,
    prev_at: DateTime<Utc>,
) -> u64 {
    match before {
        // A drop in usage is a reset or a correction, not negative traffic.
        Some(before) => now_used.saturating_sub(before),
        // A package created since the last poll was used in between.
        None if created_at.is_some_and(|c| c > prev_at) => now_used,
        // Otherwise it was merely not listed before: no evidence of traffic.
        None => 0,
    }
}

/// Bytes consumed from `prev` to `next`.
fn consumed(prev: &Sample, next: &Sample) -> u64 {
    next.packages
        .iter()
        .map(|(id, now)| {
            package_consumed(
                prev.packages.get(id).map(|e| e.used_bytes),
                now.used_bytes,
                now.created_at,
                prev.at,
            )
        })
        .fold(0u64, u64::saturating_add)
}

/// Bytes per second over whole samples; `None` with fewer than two polls.
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

/// One poll in the [`History`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PollUsage {
    /// When the poll's answer arrived.
    pub at: DateTime<Utc>,
    /// Bytes consumed since the poll before (0 for the first one known).
    pub consumed_bytes: u64,
}

/// The polls of the rate window, compact: one [`PollUsage`] per poll and
/// each package's usage at the latest poll, the baseline for the next.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    /// Polls inside the window, oldest first.
    polls: VecDeque<PollUsage>,
    /// Bytes used per package id at the latest poll.
    last_used: BTreeMap<Box<str>, u64>,
}

impl History {
    /// An empty history.
    pub fn new() -> History {
        History::default()
    }

    /// Adds the poll `snapshot` and drops polls that fall outside `window`
    /// or beyond [`MAX_SAMPLES`].
    pub fn record(&mut self, snapshot: &Snapshot, window: TimeDelta) {
        let at = snapshot.taken_at;
        // A clock step backwards would make intervals negative: start afresh.
        if self.polls.back().is_some_and(|last| last.at >= at) {
            self.polls.clear();
            self.last_used.clear();
        }
        let prev_at = self.polls.back().map(|p| p.at);
        // Keyed by id so that a package listed twice counts once, the last
        // listing winning, as in a whole sample.
        let mut next: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
        for p in &snapshot.packages {
            let consumed = prev_at.map_or(0, |prev_at| {
                package_consumed(
                    self.last_used.get(p.id.as_str()).copied(),
                    p.used_bytes,
                    p.created_at,
                    prev_at,
                )
            });
            // A package's usage only grows: a lower reading is a glitch of
            // the API, so the baseline stays at the highest seen. Were it to
            // follow the glitch down, the next poll would count the whole
            // usage again as traffic, a surge out of nothing that could buy
            // a package. No interval deducts more than the package holds.
            let baseline = self
                .last_used
                .get(p.id.as_str())
                .copied()
                .unwrap_or(0)
                .max(p.used_bytes);
            next.insert(p.id.as_str(), (baseline, consumed.min(p.size_bytes)));
        }
        let consumed_bytes = next.values().map(|(_, c)| *c).fold(0u64, u64::saturating_add);
        self.last_used = next.into_iter().map(|(id, (used, _))| (Box::from(id), used)).collect();
        self.polls.push_back(PollUsage { at, consumed_bytes });
        let cutoff = at.checked_sub_signed(window).unwrap_or(DateTime::<Utc>::MIN_UTC);
        while self.polls.front().is_some_and(|p| p.at < cutoff) {
            self.polls.pop_front();
        }
        while self.polls.len() > MAX_SAMPLES {
            self.polls.pop_front();
        }
    }

    /// Bytes per second over the window; `None` with fewer than two polls.
    pub fn consumption_rate(&self) -> Option<f64> {
        let (first, last) = (self.polls.front()?, self.polls.back()?);
        let span = (last.at - first.at).as_seconds_f64();
        if self.polls.len() < 2 || span <= 0.0 {
            return None;
        }
        // The first poll's delta reaches back before the window: not counted.
        let total = self
            .polls
            .iter()
            .skip(1)
            .map(|p| p.consumed_bytes)
            .fold(0u64, u64::saturating_add);
        Some(total as f64 / span)
    }

    /// How many polls are kept.
    pub fn len(&self) -> usize {
        self.polls.len()
    }

    /// The latest poll, with what it consumed since the one before.
    pub fn last(&self) -> Option<PollUsage> {
        self.polls.back().copied()
    }

    /// Whether no poll is kept.
    pub fn is_empty(&self) -> bool {
        self.polls.is_empty()
    }

    /// How many packages the baseline holds.
    pub fn packages(&self) -> usize {
        self.last_used.len()
    }
}

/// When the pool runs dry at a flat `rate` bytes per second; `None` when
/// nothing is being consumed. The daemon's forecast follows the daily and
/// weekly cycle instead (`projection`); this is the same drain at one rate,
/// for one-off answers and as what the randomised tests check it against.
pub fn depletion_time(packages: &[Package], now: DateTime<Utc>, rate: f64) -> Option<DateTime<Utc>> {
    let demand = crate::demand::Demand::flat(Some(rate).filter(|r| r.is_finite()), now);
    crate::projection::project(packages, &demand, now, 0).0.depletion_at
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pool::{is_usable, remaining_bytes};
    use crate::testing::{at, package};

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

    /// The history as it used to be kept, every poll whole: the reference.
    fn record_whole(history: &mut Vec<Sample>, sample: Sample, window: TimeDelta) {
        if history.last().is_some_and(|last| last.at >= sample.at) {
            history.clear();
        }
        let cutoff = sample.at.checked_sub_signed(window).unwrap_or(DateTime::<Utc>::MIN_UTC);
        history.push(sample);
        history.retain(|s| s.at >= cutoff);
        if history.len() > MAX_SAMPLES {
            let excess = history.len() - MAX_SAMPLES;
            history.drain(..excess);
        }
    }

    fn history_of(samples: &[(&str, Vec<Package>)], window: TimeDelta) -> History {
        let mut h = History::new();
        for (when, packages) in samples {
            h.record(
                &Snapshot {
                    taken_at: at(when),
                    packages: packages.clone(),
                },
                window,
            );
        }
        h
    }

    #[test]
    fn the_compact_history_gives_the_same_rates() {
        let mut fresh = package("fresh", 1000, 60, "2026-06-01 00:05:00", TO);
        fresh.created_at = Some(at("2026-06-01 00:05:00"));
        let polls = vec![
            ("2026-06-01 00:00:00", vec![package("a", 1000, 500, FROM, TO)]),
            ("2026-06-01 00:10:00", vec![package("a", 1000, 0, FROM, TO), fresh]),
            (
                "2026-06-01 00:20:00",
                vec![package("a", 1000, 100, FROM, TO), package("fresh", 1000, 70, FROM, TO)],
            ),
        ];
        let h = history_of(&polls, TimeDelta::days(1));
        // "a" reads lower (a glitch: nothing, and its baseline stays at
        // 500, so 100 is no traffic either), "fresh" created in between
        // (60), then 10 more on it.
        assert_eq!(h.consumption_rate(), Some(70.0 / 1200.0));
        assert_eq!((h.len(), h.packages()), (3, 2));
        assert_eq!(history_of(&polls[..1], TimeDelta::days(1)).consumption_rate(), None);
        assert_eq!(History::new().consumption_rate(), None);
    }

    #[test]
    fn a_lower_reading_is_not_counted_twice() {
        let polls = vec![
            ("2026-06-01 00:00:00", vec![package("a", 1000, 500, FROM, TO)]),
            // A glitch: the API reports nothing used for one poll.
            ("2026-06-01 00:10:00", vec![package("a", 1000, 0, FROM, TO)]),
            ("2026-06-01 00:20:00", vec![package("a", 1000, 520, FROM, TO)]),
        ];
        let h = history_of(&polls, TimeDelta::days(1));
        // 20 bytes in 20 minutes, not 520.
        assert_eq!(h.consumption_rate(), Some(20.0 / 1200.0));
    }

    #[test]
    fn record_keeps_the_window_and_survives_a_clock_step_back() {
        let mut h = History::new();
        for minute in 0..30 {
            h.record(
                &Snapshot {
                    taken_at: at(&format!("2026-06-01 00:{minute:02}:00")),
                    packages: vec![package("a", 1000, minute * 10, FROM, TO)],
                },
                TimeDelta::minutes(10),
            );
        }
        assert_eq!(h.len(), 11);
        // Ten intervals of 10 bytes over 600 s; the oldest poll's delta is
        // from before the window.
        assert_eq!(h.consumption_rate(), Some(100.0 / 600.0));
        h.record(
            &Snapshot {
                taken_at: at("2026-06-01 00:00:00"),
                packages: vec![],
            },
            TimeDelta::minutes(10),
        );
        assert_eq!((h.len(), h.packages()), (1, 0));
    }

    #[test]
    fn the_history_stays_small_however_often_it_is_polled() {
        let packages: Vec<Package> = (0..100).map(|i| package(&i.to_string(), 1000, 0, FROM, TO)).collect();
        let mut h = History::new();
        for second in 0..2000u32 {
            h.record(
                &Snapshot {
                    taken_at: at("2026-06-01 00:00:00") + TimeDelta::seconds(second.into()),
                    packages: packages.clone(),
                },
                TimeDelta::days(1),
            );
        }
        assert_eq!((h.len(), h.packages()), (MAX_SAMPLES, 100));
    }

    #[test]
    fn the_history_survives_serde() {
        let h = history_of(
            &[
                ("2026-06-01 00:00:00", vec![package("a", 1000, 100, FROM, TO)]),
                ("2026-06-01 00:10:00", vec![package("a", 1000, 400, FROM, TO)]),
            ],
            TimeDelta::days(1),
        );
        let text = serde_json::to_string(&h).unwrap();
        let back: History = serde_json::from_str(&text).unwrap();
        assert_eq!(back, h);
        assert_eq!(back.consumption_rate(), Some(300.0 / 600.0));
    }

    /// A small deterministic generator for the equivalence tests.
    struct Lcg(u64);

    impl Lcg {
        fn below(&mut self, n: u64) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (self.0 >> 33) % n.max(1)
        }
    }

    #[test]
    fn compact_and_whole_histories_agree_on_random_polls() {
        let mut rng = Lcg(7);
        for round in 0..200 {
            let window = TimeDelta::minutes(1 + rng.below(60) as i64);
            let mut whole = Vec::new();
            let mut compact = History::new();
            let mut t = at("2026-06-01 00:00:00");
            let mut used = [0u64; 8];
            for _ in 0..(1 + rng.below(40)) {
                // Mostly forward, sometimes a step back or a repeat.
                t += TimeDelta::seconds(rng.below(900) as i64 - if rng.below(10) == 0 { 1200 } else { 0 });
                let mut packages = Vec::new();
                for (i, u) in used.iter_mut().enumerate() {
                    match rng.below(6) {
                        0 => continue, // not listed this time
                        // Usage never drops (a lower reading is treated as a
                        // glitch; see a_lower_reading_is_not_counted_twice).
                        1 => {}
                        _ => *u += rng.below(500),
                    }
                    let mut p = package(&format!("p{i}"), 10_000, *u, FROM, TO);
                    p.created_at = Some(t - TimeDelta::seconds(rng.below(1800) as i64));
                    packages.push(p);
                    if rng.below(20) == 0 {
                        packages.push(packages[packages.len() - 1].clone()); // listed twice
                    }
                }
                let snapshot = Snapshot { taken_at: t, packages };
                record_whole(&mut whole, Sample::of(&snapshot), window);
                compact.record(&snapshot, window);
                assert_eq!(compact.consumption_rate(), consumption_rate(&whole), "round {round}");
                assert_eq!(compact.len(), whole.len(), "round {round}");
            }
        }
    }

    /// The forecast as first written, O(n^2): the reference for the drain.
    fn depletion_reference(packages: &[Package], now: DateTime<Utc>, rate: f64) -> Option<DateTime<Utc>> {
        if !(rate > 0.0 && rate.is_finite()) {
            return None;
        }
        let secs = |t: DateTime<Utc>| (t - now).as_seconds_f64();
        let mut pool: Vec<(f64, f64, f64)> = packages
            .iter()
            .filter(|p| remaining_bytes(p) > 0)
            .filter(|p| is_usable(p, now) || crate::pool::is_upcoming(p, now))
            .map(|p| {
                (
                    secs(p.enabled_at).max(0.0),
                    secs(p.expires_at),
                    remaining_bytes(p) as f64,
                )
            })
            .collect();
        let mut t = 0.0f64;
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

    #[test]
    fn the_fast_forecast_agrees_with_the_reference() {
        let mut rng = Lcg(11);
        let now = at("2026-06-01 00:00:00");
        for round in 0..500 {
            let packages: Vec<Package> = (0..rng.below(12))
                .map(|i| {
                    let start = now + TimeDelta::seconds(rng.below(4000) as i64 - 2000);
                    // Whole hours often, so that ends and starts coincide.
                    let end = start
                        + TimeDelta::seconds(if rng.below(2) == 0 {
                            3600
                        } else {
                            1 + rng.below(7200) as i64
                        });
                    let size = 1 + rng.below(5000);
                    let mut p = package(&i.to_string(), size, rng.below(size + 10), FROM, TO);
                    p.enabled_at = start;
                    p.expires_at = end;
                    p.enabled = rng.below(10) != 0;
                    p.expired = rng.below(10) == 0;
                    p
                })
                .collect();
            let rate = [0.5, 1.0, 3.0, 10.0][rng.below(4) as usize];
            assert_eq!(
                depletion_time(&packages, now, rate),
                depletion_reference(&packages, now, rate),
                "round {round}: {packages:?}"
            );
        }
    }

    #[test]
    fn the_forecast_of_100_000_packages_is_quick() {
        let now = at("2026-06-01 00:00:00");
        let packages: Vec<Package> = (0..100_000i64)
            .map(|i| {
                let mut p = package(&i.to_string(), 1_000_000, 0, FROM, TO);
                p.expires_at = now + TimeDelta::seconds(10 + i);
                p
            })
            .collect();
        // Not timed (tests are not benchmarks): the old O(n^2) walk would
        // take minutes here; this one finishes in well under a second.
        let dry = depletion_time(&packages, now, 1_000.0).unwrap();
        assert!(dry > now, "{dry}");
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
