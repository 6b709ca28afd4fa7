//! The deduction lag: Tencent deducts traffic from packages when it settles
//! it, not when it flows (2–4 h after the hour when settled hourly, the next
//! day when daily, at the month's end when monthly), so near run-dry a pool
//! is emptier than `BytesUsed` says. This estimates what is billed but not
//! yet deducted, from billing data, and the rate billing data shows.

use crate::model::BillingCycle;
use chrono::{DateTime, Datelike, Duration, FixedOffset, NaiveDate, TimeDelta, TimeZone, Timelike, Utc};

/// The zone Tencent settles days and months in: China Standard Time.
pub const SETTLEMENT_ZONE: FixedOffset = match FixedOffset::east_opt(8 * 3600) {
    Some(zone) => zone,
    None => panic!("UTC+8 is a valid offset"),
};

/// How long after an hour ends it is deducted, when settled hourly: the
/// middle of Tencent's documented 2–4 h, so the estimate is off by at most
/// one hour of traffic either way.
pub const HOURLY_LAG: TimeDelta = TimeDelta::hours(3);

/// Hourly settlement moves the deducted total about once an hour; this many
/// rises within 70 minutes say the packages are deducted as traffic flows.
pub const CONTINUOUS_RISES: usize = 3;

/// What is owed reaches back at most this far: past it, a window would
/// count traffic no settlement is still to deduct (and ask for more billing
/// data than the API keeps).
pub fn longest_lag(cycle: BillingCycle) -> TimeDelta {
    match cycle {
        BillingCycle::Hour => TimeDelta::hours(6),
        BillingCycle::Day => TimeDelta::days(2),
        BillingCycle::Month => TimeDelta::days(62),
    }
}

/// How the pool's deducted total has moved, as polls saw it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// The first poll that saw the latest rise.
    pub last: Option<DateTime<Utc>>,
    /// Rises seen within the 70 minutes before now.
    pub within_the_hour: usize,
    /// Rises remembered in all.
    pub seen: usize,
    /// When the pool last had something left again after being empty:
    /// traffic before it was billed pay-as-you-go, owed to no package.
    pub refilled_at: Option<DateTime<Utc>>,
}

fn start_of_day(t: DateTime<Utc>) -> DateTime<Utc> {
    let local = t.with_timezone(&SETTLEMENT_ZONE).date_naive();
    midnight(local).unwrap_or(t)
}

fn midnight(day: NaiveDate) -> Option<DateTime<Utc>> {
    SETTLEMENT_ZONE
        .from_local_datetime(&day.and_hms_opt(0, 0, 0)?)
        .single()
        .map(|t| t.with_timezone(&Utc))
}

fn start_of_month(t: DateTime<Utc>) -> DateTime<Utc> {
    let local = t.with_timezone(&SETTLEMENT_ZONE).date_naive();
    local.with_day(1).and_then(midnight).unwrap_or(t)
}

fn previous(boundary: DateTime<Utc>, cycle: BillingCycle) -> DateTime<Utc> {
    let before = boundary - Duration::seconds(1);
    match cycle {
        BillingCycle::Hour => boundary - Duration::hours(1),
        BillingCycle::Day => start_of_day(before),
        BillingCycle::Month => start_of_month(before),
    }
}

/// Until when traffic is deducted at `now`, given when the pool's deducted
/// total last changed (`changes`); `None` when it cannot be told.
///
/// - Hourly: the hour that ended [`HOURLY_LAG`] before the last rise; or
///   the last rise itself where [`CONTINUOUS_RISES`] came within the hour
///   (deducted as it flows). Until three rises are seen it cannot be told
///   which, and nothing is assumed owed.
/// - Daily: a rise seen today (China time) settled yesterday, so today is
///   what is owed; with none seen today, yesterday is owed too.
/// - Monthly: likewise with months.
///
/// Never before [`longest_lag`] ago, nor before the pool was refilled.
pub fn settled_until(cycle: BillingCycle, changes: Changes, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let floor = (now - longest_lag(cycle)).max(changes.refilled_at.unwrap_or(DateTime::<Utc>::MIN_UTC));
    settled_until_unbounded(cycle, changes, now).map(|t| t.max(floor))
}

fn settled_until_unbounded(cycle: BillingCycle, changes: Changes, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let changed = changes.last.unwrap_or(now).min(now);
    Some(match cycle {
        BillingCycle::Hour => {
            let last = changes.last?;
            if changes.seen < CONTINUOUS_RISES {
                return None;
            }
            if changes.within_the_hour >= CONTINUOUS_RISES {
                return Some(last.min(now));
            }
            let t = changed - HOURLY_LAG;
            let hour = t
                .with_minute(0)
                .and_then(|t| t.with_second(0))
                .and_then(|t| t.with_nanosecond(0));
            hour.unwrap_or(t)
        }
        BillingCycle::Day | BillingCycle::Month => {
            let current = match cycle {
                BillingCycle::Day => start_of_day(now),
                _ => start_of_month(now),
            };
            if changed >= current {
                current
            } else {
                previous(current, cycle)
            }
        }
    })
}

/// Billed but not yet deducted at `now`: what `billed` (point start, amount;
/// oldest first) holds from [`settled_until`] on.
pub fn undeducted(cycle: BillingCycle, billed: &[(DateTime<Utc>, f64)], changes: Changes, now: DateTime<Utc>) -> u64 {
    let Some(from) = settled_until(cycle, changes, now) else {
        return 0;
    };
    let sum: f64 = billed
        .iter()
        .filter(|(start, _)| *start >= from && *start <= now)
        .map(|(_, amount)| amount.max(0.0))
        .sum();
    sum.round() as u64
}

/// The billed rate per second over the `window` before `now`, from points
/// (start, amount); `None` with less than a quarter of the window covered.
pub fn billed_rate(billed: &[(DateTime<Utc>, f64)], now: DateTime<Utc>, window: TimeDelta) -> Option<f64> {
    let from = now - window;
    let inside: Vec<&(DateTime<Utc>, f64)> = billed.iter().filter(|(t, _)| *t >= from && *t < now).collect();
    let first = inside.first()?.0;
    let covered = (now - first).as_seconds_f64();
    if covered < window.as_seconds_f64() / 4.0 {
        return None;
    }
    Some(inside.iter().map(|(_, a)| a.max(0.0)).sum::<f64>() / covered)
}

/// Where billing data must start for [`undeducted`] at `now`: the earliest
/// [`settled_until`] could be.
pub fn window_start(cycle: BillingCycle, now: DateTime<Utc>) -> DateTime<Utc> {
    now - longest_lag(cycle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::at;

    fn five_minute_points(from: &str, to: &str, amount: f64) -> Vec<(DateTime<Utc>, f64)> {
        let (mut t, end) = (at(from), at(to));
        let mut points = Vec::new();
        while t < end {
            points.push((t, amount));
            t += TimeDelta::minutes(5);
        }
        points
    }

    #[test]
    fn hourly_settlement_owes_the_hours_after_the_one_last_deducted() {
        // The 09:00 hour was deducted at 13:04 (3 h after it ended): from
        // 10:00 on is owed.
        let changes = Changes {
            last: Some(at("2026-06-01 13:04:00")),
            within_the_hour: 1,
            seen: 5,
            refilled_at: None,
        };
        let now = at("2026-06-01 13:30:00");
        assert_eq!(
            settled_until(BillingCycle::Hour, changes, now),
            Some(at("2026-06-01 10:00:00"))
        );
        let billed = five_minute_points("2026-06-01 08:00:00", "2026-06-01 13:30:00", 1000.0);
        // 10:00 to 13:30 is 42 five-minute points.
        assert_eq!(undeducted(BillingCycle::Hour, &billed, changes, now), 42_000);
        // Changes ten minutes apart: deducted as it flows, nothing owed but
        // what came since the last poll that saw one.
        let flowing = Changes {
            last: Some(at("2026-06-01 13:20:00")),
            within_the_hour: 6,
            ..changes
        };
        assert_eq!(undeducted(BillingCycle::Hour, &billed, flowing, now), 2_000);
        // Two rises seen: it cannot be told which, and nothing is assumed.
        let early = Changes { seen: 2, ..changes };
        assert_eq!(undeducted(BillingCycle::Hour, &billed, early, now), 0);
        // Refilled at 12:30 after running dry: what came before was billed
        // pay-as-you-go, and is owed to no package.
        let refilled = Changes {
            refilled_at: Some(at("2026-06-01 12:30:00")),
            ..changes
        };
        assert_eq!(undeducted(BillingCycle::Hour, &billed, refilled, now), 12_000);
        // A last rise days ago reaches back no further than the longest lag.
        let old = Changes {
            last: Some(at("2026-05-20 00:00:00")),
            ..changes
        };
        let long = five_minute_points("2026-05-19 00:00:00", "2026-06-01 13:30:00", 1000.0);
        assert_eq!(undeducted(BillingCycle::Hour, &long, old, now), 72_000);
    }

    #[test]
    fn daily_and_monthly_settlement_owe_today_or_since_yesterday() {
        // 2026-06-02 00:00 China time is 2026-06-01 16:00 UTC.
        let now = at("2026-06-02 03:00:00"); // 11:00 China time on the 2nd
        let changed = |t: &str| Changes {
            last: Some(at(t)),
            ..Changes::default()
        };
        let today = at("2026-06-01 16:00:00");
        assert_eq!(
            settled_until(BillingCycle::Day, changed("2026-06-01 20:00:00"), now),
            Some(today)
        );
        assert_eq!(
            settled_until(BillingCycle::Day, changed("2026-06-01 10:00:00"), now),
            Some(at("2026-05-31 16:00:00"))
        );
        // June began at 2026-05-31 16:00 UTC.
        assert_eq!(
            settled_until(BillingCycle::Month, changed("2026-06-01 00:00:00"), now),
            Some(at("2026-05-31 16:00:00"))
        );
        assert_eq!(
            settled_until(BillingCycle::Month, changed("2026-05-20 00:00:00"), now),
            Some(at("2026-04-30 16:00:00"))
        );
    }

    #[test]
    fn the_billed_rate_needs_enough_of_the_window() {
        let now = at("2026-06-01 12:00:00");
        let billed = five_minute_points("2026-06-01 06:00:00", "2026-06-01 12:00:00", 300.0);
        assert_eq!(billed_rate(&billed, now, TimeDelta::hours(6)), Some(1.0));
        let short = five_minute_points("2026-06-01 11:30:00", "2026-06-01 12:00:00", 300.0);
        assert_eq!(billed_rate(&short, now, TimeDelta::hours(6)), None);
        assert_eq!(billed_rate(&[], now, TimeDelta::hours(6)), None);
    }
}
