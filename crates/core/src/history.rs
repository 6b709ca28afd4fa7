//! What the daemon remembers of one pool's consumption, and keeps on disk
//! across restarts (a file per pool, so one damaged file costs one pool): the polls of the last hours (for the recent rate and the
//! next poll's delta, with each package's last usage) and the consumption by
//! the hour for weeks (for the daily and weekly cycle).
//!
//! It is one small record per poll interval and per hour, never one record
//! per package per poll.

use crate::forecast::History;
use crate::model::{BillingCycle, Snapshot};
use crate::pool::totals;
use crate::usage::HourlyUsage;
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// How far back the recent rate looks.
pub const RATE_WINDOW: TimeDelta = TimeDelta::hours(6);

/// One pool's consumption history.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PoolHistory {
    /// The format version.
    #[serde(default)]
    pub version: u32,
    /// The polls of the rate window and each package's last usage.
    pub recent: History,
    /// Consumption by the hour.
    pub hourly: HourlyUsage,
    /// Bytes left in the usable packages at the latest poll.
    #[serde(default)]
    pub last_remaining: Option<u64>,
    /// Bytes left at the last poll of each hour, oldest first (the status
    /// page's chart): `(hour start, bytes)`, at most [`KEEP_REMAINING`].
    #[serde(default)]
    pub remaining: VecDeque<(i64, u64)>,
    /// The pool's total deducted amount at the latest poll.
    #[serde(default)]
    pub last_used: Option<u64>,
    /// The first poll that saw that total: about when Tencent last settled
    /// (the deduction lag is measured from it).
    #[serde(default)]
    pub used_changed_at: Option<DateTime<Utc>>,
}

/// What the shell knows of a pool beyond its packages.
#[derive(Clone, Copy, Debug, Default)]
pub struct PoolFeed<'a> {
    /// How the pool's area is billed, when known.
    pub pay_type: Option<&'a crate::model::PayType>,
    /// Billed amounts of the last hours or days, `(start, amount)` of
    /// 5-minute (or hourly) points, oldest first; empty where the pool has
    /// no billing data.
    pub billed: &'a [(DateTime<Utc>, f64)],
    /// Whether its DepletionForecast is pending or firing.
    pub depletion_active: bool,
}

impl PoolFeed<'_> {
    /// The billing cycle, hourly unless the pay type says otherwise.
    fn cycle(&self) -> BillingCycle {
        self.pay_type
            .and_then(|p| p.billing_cycle)
            .unwrap_or(BillingCycle::Hour)
    }
}

/// Hours of the remaining-bytes series kept: five weeks.
pub const KEEP_REMAINING: usize = 35 * 24;

/// The on-disk format version.
pub const VERSION: u32 = 1;

impl PoolHistory {
    /// No history.
    pub fn new() -> Self {
        PoolHistory {
            version: VERSION,
            ..Self::default()
        }
    }

    /// Adds a successful poll. Its consumption since the previous poll goes
    /// into the hourly history only when the pool had bytes at both ends:
    /// with nothing left, traffic is billed pay-as-you-go and the package
    /// usage no longer shows the demand, which is then unknown, not zero.
    ///
    /// Under daily or monthly settlement (`cycle`), what the packages show
    /// between polls is a settlement, not the demand: it is not counted.
    pub fn record(&mut self, snapshot: &Snapshot, cycle: BillingCycle) {
        let previous = self.recent.last();
        self.recent.record(snapshot, RATE_WINDOW);
        let remaining = totals(&snapshot.packages, snapshot.taken_at).remaining_bytes;
        let used = snapshot
            .packages
            .iter()
            .fold(0u64, |sum, p| sum.saturating_add(p.used_bytes));
        if self.last_used != Some(used) {
            if self.last_used.is_some() {
                self.used_changed_at = Some(snapshot.taken_at);
            }
            self.last_used = Some(used);
        }
        if let (Some(previous), Some(latest)) = (previous, self.recent.last())
            && cycle == BillingCycle::Hour
            && latest.at > previous.at
            && self.last_remaining.is_some_and(|r| r > 0)
            && remaining > 0
        {
            self.hourly.add_interval(previous.at, latest.at, latest.consumed_bytes);
        }
        self.last_remaining = Some(remaining);
        let hour = snapshot.taken_at.timestamp().div_euclid(3600) * 3600;
        match self.remaining.back_mut() {
            Some(last) if last.0 == hour => last.1 = remaining,
            Some(last) if last.0 > hour => {}
            _ => self.remaining.push_back((hour, remaining)),
        }
        while self.remaining.len() > KEEP_REMAINING {
            self.remaining.pop_front();
        }
    }

    /// Records the successful poll `snapshot` and assesses it with this
    /// history: the one path from a poll to an assessment, shared by the
    /// daemon, `check` and `backtest`.
    pub fn record_and_assess(
        &mut self,
        pool: crate::model::PoolKey,
        snapshot: Snapshot,
        thresholds: &crate::settings::Thresholds,
        model: crate::assess::ForecastModel,
        feed: PoolFeed,
    ) -> crate::assess::Assessment {
        let cycle = feed.cycle();
        self.record(&snapshot, cycle);
        let now = snapshot.taken_at;
        let undeducted = if feed.billed.is_empty() {
            0
        } else {
            crate::lag::undeducted(cycle, feed.billed, self.used_changed_at, now)
        };
        // Under daily or monthly settlement only billing data shows the rate.
        let recent_rate = match cycle {
            BillingCycle::Hour => self.recent_rate(),
            _ => None,
        }
        .or_else(|| crate::lag::billed_rate(feed.billed, now, RATE_WINDOW));
        let input = crate::assess::ForecastInput {
            usage: &self.hourly,
            recent_rate,
            model,
            depletion_active: feed.depletion_active,
            undeducted,
            pay_type: feed.pay_type,
        };
        crate::assess::assess_with(pool, snapshot, &input, thresholds, now)
    }

    /// Amount per second over the recent polls.
    pub fn recent_rate(&self) -> Option<f64> {
        self.recent.consumption_rate()
    }

    /// Adds Tencent's billed traffic, hour by hour: final figures that
    /// replace what polls estimated, and demand even while the pool is empty.
    pub fn add_billing(&mut self, hours: &[(DateTime<Utc>, f64)]) {
        for (start, bytes) in hours {
            self.hourly.set_billed(*start, *bytes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{at, package};

    const GB: u64 = 1_000_000_000;

    fn snap(when: &str, used: u64) -> Snapshot {
        Snapshot {
            taken_at: at(when),
            packages: vec![package(
                "p",
                1000 * GB,
                used,
                "2026-01-01 00:00:00",
                "2027-01-01 00:00:00",
            )],
        }
    }

    #[test]
    fn polls_fill_the_hours_and_an_empty_pool_leaves_them_unknown() {
        let mut h = PoolHistory::new();
        h.record(&snap("2026-06-01 00:00:00", 0), BillingCycle::Hour);
        h.record(&snap("2026-06-01 01:00:00", 36 * GB), BillingCycle::Hour);
        assert_eq!(h.hourly.hours().count(), 1);
        assert_eq!(h.hourly.hours().next().unwrap().rate(), Some(10_000_000.0));
        assert_eq!(h.recent_rate(), Some(10_000_000.0));
        assert_eq!(
            h.remaining.back(),
            Some(&(at("2026-06-01 01:00:00").timestamp(), 964 * GB))
        );
        // Used up: the next hour's traffic is not what the packages show.
        h.record(&snap("2026-06-01 02:00:00", 1000 * GB), BillingCycle::Hour);
        h.record(&snap("2026-06-01 03:00:00", 1000 * GB), BillingCycle::Hour);
        assert!(
            h.hourly
                .hours()
                .all(|x| x.start < at("2026-06-01 01:00:00").timestamp())
        );
    }

    #[test]
    fn it_survives_a_round_trip_through_json() {
        let mut h = PoolHistory::new();
        h.record(&snap("2026-06-01 00:00:00", 0), BillingCycle::Hour);
        h.record(&snap("2026-06-01 00:10:00", GB), BillingCycle::Hour);
        h.add_billing(&[(at("2026-05-31 23:00:00"), 5.0e9)]);
        let json = serde_json::to_string(&h).unwrap();
        let back: PoolHistory = serde_json::from_str(&json).unwrap();
        assert_eq!(back, h);
        assert_eq!(back.recent_rate(), h.recent_rate());
    }
}
