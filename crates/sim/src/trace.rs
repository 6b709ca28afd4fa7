//! Recorded-looking histories for `cdnquota backtest`: weeks of 10-minute
//! polls of an account whose traffic has a daily and weekly cycle, noise,
//! growth and surges, and whose operator buys packages as the pool runs low,
//! often late enough that it runs dry first. Some packages are bought too
//! big for their term and expire with bytes left. Fixed seeds give fixed
//! traces, so a forecast can be measured and compared on them.

use super::state::SimPackage;
use super::traffic::{SplitMix, Surge, TrafficShape};
use chrono::{DateTime, FixedOffset, TimeDelta, Utc};
use std::time::Duration;

pub use super::trace_shapes::{Shape, generate_shaped};

/// One generated history.
pub struct Trace {
    /// The seed it was made from.
    pub seed: u64,
    /// The traffic it follows.
    pub shape: TrafficShape,
    /// Every poll: its time and the packages as GetPackage lists them.
    pub polls: Vec<(DateTime<Utc>, Vec<SimPackage>)>,
}

/// Time between two recorded polls.
pub const POLL_EVERY: i64 = 600;

pub(crate) fn package(id: u64, size: f64, start: DateTime<Utc>, days: i64, title: &str) -> SimPackage {
    let mut p = SimPackage::new(id, size as u64, 0, start, Duration::from_secs(days as u64 * 86_400));
    p.title = title.to_string();
    p
}

/// A package the operator buys: its size, term in days and title.
pub(crate) struct Purchase {
    pub(crate) size: f64,
    pub(crate) days: i64,
    pub(crate) title: &'static str,
}

/// When and what the operator buys, asked by [`run`] as the pool runs low.
pub(crate) trait Operator {
    /// The pool just fell below two days of traffic: hours until an on-time
    /// purchase, if this time the operator buys in time.
    fn on_time(&mut self, rng: &mut SplitMix) -> Option<i64>;
    /// The pool ran dry at `at`: hours until the late purchase.
    fn late(&mut self, rng: &mut SplitMix, at: DateTime<Utc>) -> i64;
    /// What to buy at `at`, with `left` bytes still in the pool.
    fn buy(&mut self, rng: &mut SplitMix, at: DateTime<Utc>, left: f64) -> Purchase;
}

/// The operator of [`generate`]: buys late once the pool is dry, or
/// (sometimes) in time when it is low, a monthly or a half-year package.
pub(crate) struct Usual {
    /// A day of traffic at the base level, what package sizes are counted in.
    pub(crate) daily: f64,
}

impl Operator for Usual {
    fn on_time(&mut self, rng: &mut SplitMix) -> Option<i64> {
        (rng.unit() < 0.3).then(|| rng.range(1.0, 12.0) as i64)
    }

    fn late(&mut self, rng: &mut SplitMix, _at: DateTime<Utc>) -> i64 {
        rng.range(6.0, 36.0) as i64
    }

    fn buy(&mut self, rng: &mut SplitMix, _at: DateTime<Utc>, _left: f64) -> Purchase {
        let daily = self.daily;
        if rng.unit() < 0.3 {
            Purchase {
                size: daily * rng.range(32.0, 40.0),
                days: 30,
                title: "月包",
            }
        } else {
            Purchase {
                size: daily * rng.range(8.0, 18.0),
                days: 180,
                title: "半年包",
            }
        }
    }
}

/// Polls every [`POLL_EVERY`] from `first` to `end`: each interval's traffic
/// deducted from `packages`, earliest expiry first, and what `operator`
/// buys added (ids from `next_id` on).
#[allow(clippy::too_many_arguments)]
pub(crate) fn run(
    shape: &TrafficShape,
    first: DateTime<Utc>,
    end: DateTime<Utc>,
    mut packages: Vec<SimPackage>,
    mut next_id: u64,
    daily: f64,
    rng: &mut SplitMix,
    operator: &mut impl Operator,
) -> Vec<(DateTime<Utc>, Vec<SimPackage>)> {
    let mut polls = Vec::new();
    let mut buy_at: Option<DateTime<Utc>> = None;
    let mut low_checked = false;
    let mut t = first;
    while t < end {
        let next = t + TimeDelta::seconds(POLL_EVERY);
        // Deduct this interval's traffic, earliest expiry first.
        let mut demand = shape.bytes_between(t.timestamp(), next.timestamp());
        let mut order: Vec<usize> = (0..packages.len())
            .filter(|i| {
                let p = &packages[*i];
                p.enabled_at <= t && t < p.expires_at && p.used_bytes < p.size_bytes as f64
            })
            .collect();
        order.sort_by_key(|i| packages[*i].expires_at);
        for i in order {
            let p = &mut packages[i];
            let take = demand.min(p.size_bytes as f64 - p.used_bytes);
            p.used_bytes += take;
            demand -= take;
            if demand <= 0.0 {
                break;
            }
        }
        let left: f64 = packages
            .iter()
            .filter(|p| p.enabled_at <= next && next < p.expires_at)
            .map(|p| (p.size_bytes as f64 - p.used_bytes).max(0.0))
            .sum();
        if left < daily * 2.0 && !low_checked {
            low_checked = true;
            if let Some(hours) = operator.on_time(rng) {
                buy_at = Some(next + TimeDelta::hours(hours));
            }
        }
        if left <= 0.0 && buy_at.is_none() {
            buy_at = Some(next + TimeDelta::hours(operator.late(rng, next)));
        }
        if buy_at.is_some_and(|b| next >= b) {
            let p = operator.buy(rng, next, left);
            packages.push(package(next_id, p.size, next, p.days, p.title));
            next_id += 1;
            buy_at = None;
            low_checked = false;
        }
        polls.push((next, packages.clone()));
        t = next;
    }
    polls
}

/// An account's traffic drawn from `rng`: its level, daily cycle, weekend,
/// growth up to `max_growth` a day from `origin`, and noise; no surges or
/// calendar yet. The draws are in a fixed order: traces depend on it.
pub(crate) fn seeded_shape(rng: &mut SplitMix, max_growth: f64, origin: i64) -> TrafficShape {
    let mean = rng.range(20e6, 200e6);
    TrafficShape {
        mean_bytes_per_second: mean,
        peak_ratio: rng.range(4.0, 8.0),
        peak_hour: rng.range(19.0, 22.0),
        utc_offset_hours: 8.0,
        weekend_factor: rng.range(0.6, 0.85),
        growth_per_day: rng.range(0.0, max_growth),
        origin,
        noise: 0.2,
        noise_seed: rng.next_u64(),
        ..TrafficShape::daily(mean, 1.0, origin)
    }
}

/// Makes the trace of `seed`: 28 to 60 days of polls.
pub fn generate(seed: u64) -> Trace {
    let mut rng = SplitMix::new(seed.wrapping_mul(0x9E37_79B9).wrapping_add(1));
    let days = 28 + (rng.next_u64() % 33) as i64;
    // A Monday, 00:00 in UTC+8, shifted by the seed.
    let first =
        DateTime::<Utc>::from_timestamp(1_772_380_800, 0).unwrap_or_default() + TimeDelta::days((seed % 7) as i64);
    let mut shape = seeded_shape(&mut rng, 0.03, first.timestamp());
    let daily = shape.mean_bytes_per_second * 86_400.0;
    let mut day = rng.range(2.0, 6.0);
    while day < days as f64 {
        shape.surges.push(Surge {
            start: first.timestamp() + (day * 86_400.0) as i64 / 3600 * 3600,
            hours: rng.range(2.0, 6.0).round(),
            factor: 3.0,
        });
        day += rng.range(5.0, 9.0);
    }

    let mut next_id = 1000;
    let mut packages = vec![package(
        next_id,
        daily * rng.range(8.0, 14.0),
        first - TimeDelta::days(3),
        365,
        "年包",
    )];
    next_id += 1;
    if rng.unit() < 0.6 {
        // A monthly package bought too big: part of it will expire unused.
        packages.push(package(
            next_id,
            daily * rng.range(34.0, 45.0),
            first - TimeDelta::days(1),
            30,
            "月包",
        ));
        next_id += 1;
    }

    let end = first + TimeDelta::days(days);
    let polls = run(
        &shape,
        first,
        end,
        packages,
        next_id,
        daily,
        &mut rng,
        &mut Usual { daily },
    );
    Trace { seed, shape, polls }
}

impl Trace {
    /// The trace as `cdnquota backtest` reads it: one JSON object per line,
    /// `{"at": ..., "data": [...]}`, `data` exactly as GetPackage sends it,
    /// times in `offset`.
    pub fn to_jsonl(&self, offset: FixedOffset) -> String {
        let mut out = String::new();
        for (at, packages) in &self.polls {
            let data: Vec<serde_json::Value> = packages
                .iter()
                .map(|p| super::v2::package_json(p, *at, offset))
                .collect();
            let line = serde_json::json!({"at": at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true), "data": data});
            out.push_str(&line.to_string());
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trace_is_fixed_by_its_seed_and_looks_like_a_real_account() {
        let a = generate(3);
        let b = generate(3);
        assert_eq!(a.polls.len(), b.polls.len());
        assert_eq!(a.polls.last().map(|p| p.1.clone()), b.polls.last().map(|p| p.1.clone()));
        let days = a.polls.len() as i64 * POLL_EVERY / 86_400;
        assert!((28..=60).contains(&days), "{days}");
        // The operator bought packages along the way.
        assert!(a.polls.last().unwrap().1.len() >= 3);
        let line = a.to_jsonl(crate::wire::CHINA_STANDARD_TIME);
        let first: serde_json::Value = serde_json::from_str(line.lines().next().unwrap()).unwrap();
        assert!(first["at"].as_str().unwrap().ends_with('Z'));
        assert!(first["data"][0]["flux_byte"].as_u64().unwrap() > 0);
    }

    #[test]
    fn the_old_traces_are_unchanged() {
        use sha2::{Digest, Sha256};
        // The first 8 bytes of each trace's SHA-256, recorded before the
        // traffic calendar and the shaped traces were added.
        let recorded = [
            "0ed420b6c68f3da3",
            "e492d3025453b273",
            "e715fd1583da99cf",
            "efa7c34a9df5d575",
            "9001d5d299973215",
            "a63445c6c2b7fd86",
            "af31358a859a0395",
            "2e09de151e0f3241",
        ];
        for (seed, want) in (1..=8).zip(recorded) {
            let jsonl = generate(seed).to_jsonl(crate::wire::CHINA_STANDARD_TIME);
            let hash: String = Sha256::digest(jsonl.as_bytes())
                .iter()
                .take(8)
                .map(|b| format!("{b:02x}"))
                .collect();
            assert_eq!(hash, want, "seed {seed}");
        }
    }
}
