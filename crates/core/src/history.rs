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
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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
    /// The polls that saw the latest rises of that total, oldest first (at
    /// most [`KEEP_CHANGES`]): several within an hour say the packages are
    /// deducted as traffic flows, not settled hours late.
    #[serde(default)]
    pub used_changes: VecDeque<DateTime<Utc>>,
    /// The first poll that found something left after the pool had been
    /// empty: traffic billed before it went pay-as-you-go and is owed to no
    /// package.
    #[serde(default)]
    pub refilled_at: Option<DateTime<Utc>>,
    /// Written by a build that keeps a history per pool. A history without
    /// it is an account's from before pools, mixing its regions.
    #[serde(default)]
    pub per_pool: bool,
}

/// How many rises of the deducted total are remembered.
pub const KEEP_CHANGES: usize = 8;

/// An empty history of the current format, as [`PoolHistory::new`].
impl Default for PoolHistory {
    fn default() -> Self {
        PoolHistory::new()
    }
}

/// What the shell knows of a pool beyond its packages.
#[derive(Clone, Copy, Debug)]
pub struct PoolFeed<'a> {
    /// How the forecast reads the calendar.
    pub forecast: &'a crate::settings::ForecastSettings,
    /// How the pool's area is billed, when known.
    pub pay_type: Option<&'a crate::model::PayType>,
    /// Billed amounts of the last hours or days, `(start, amount)` of
    /// 5-minute (or hourly) points, oldest first; empty where the pool has
    /// no billing data.
    pub billed: &'a [(DateTime<Utc>, f64)],
    /// Whether its DepletionForecast is pending or firing.
    pub depletion_active: bool,
    /// The packages are the last good poll's, not this one's (their list
    /// failed this time): assessed, not recorded.
    pub stale: bool,
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
            recent: History::default(),
            hourly: HourlyUsage::default(),
            last_remaining: None,
            remaining: VecDeque::new(),
            last_used: None,
            used_changed_at: None,
            used_changes: VecDeque::new(),
            refilled_at: None,
            per_pool: true,
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
        // Only a rise is a deduction: a fall is a package no longer listed.
        if let Some(before) = self.last_used
            && used > before
        {
            self.used_changed_at = Some(snapshot.taken_at);
            self.used_changes.push_back(snapshot.taken_at);
            while self.used_changes.len() > KEEP_CHANGES {
                self.used_changes.pop_front();
            }
        }
        self.last_used = Some(used);
        if remaining > 0 && self.last_remaining == Some(0) {
            self.refilled_at = Some(snapshot.taken_at);
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
        let now = snapshot.taken_at;
        // Packages the poll could not read fresh (the last good ones) say
        // nothing of this poll's demand: not recorded.
        if !feed.stale {
            self.record(&snapshot, cycle);
        }
        // Billed hours are the demand as it flowed; polls see it as it was
        // deducted, hours later: the billed figure replaces the polls'.
        self.add_billing(&settled_hours(feed.billed, now));
        let nothing_left = self.last_remaining == Some(0);
        let undeducted = if feed.billed.is_empty() || nothing_left {
            0
        } else {
            let changes = crate::lag::Changes {
                last: self.used_changed_at,
                within_the_hour: self
                    .used_changes
                    .iter()
                    .filter(|t| now - **t <= TimeDelta::minutes(70))
                    .count(),
                seen: self.used_changes.len(),
                refilled_at: self.refilled_at,
            };
            crate::lag::undeducted(cycle, feed.billed, changes, now)
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
            forecast: feed.forecast,
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

/// Billed figures of the latest hours are not final yet: hours are taken
/// from 5-minute points once they are this old.
pub const BILLING_SETTLED: TimeDelta = TimeDelta::hours(2);

/// The whole hours in 5-minute `points` (start, amount), each with all 12
/// of its points and ended [`BILLING_SETTLED`] before `now`.
pub fn settled_hours(points: &[(DateTime<Utc>, f64)], now: DateTime<Utc>) -> Vec<(DateTime<Utc>, f64)> {
    let mut hours: std::collections::BTreeMap<i64, (usize, f64)> = std::collections::BTreeMap::new();
    for (t, amount) in points {
        let hour = t.timestamp().div_euclid(3600) * 3600;
        let entry = hours.entry(hour).or_default();
        entry.0 += 1;
        entry.1 += amount.max(0.0);
    }
    hours
        .into_iter()
        .filter(|(_, (n, _))| *n == 12)
        .filter_map(|(start, (_, amount))| Some((DateTime::from_timestamp(start, 0)?, amount)))
        .filter(|(start, _)| *start + TimeDelta::hours(1) + BILLING_SETTLED <= now)
        .collect()
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
    fn whole_settled_hours_come_from_five_minute_points() {
        let mut points = Vec::new();
        let mut t = at("2026-06-01 00:30:00");
        while t < at("2026-06-01 04:00:00") {
            points.push((t, 100.0));
            t += TimeDelta::minutes(5);
        }
        // 00:xx has half its points; 01:xx is whole and ended 2 h before
        // 03:00... 02:xx ended only 1 h before.
        let hours = settled_hours(&points, at("2026-06-01 04:00:00"));
        assert_eq!(hours, vec![(at("2026-06-01 01:00:00"), 1200.0)]);
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
