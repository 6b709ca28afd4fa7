//! A cycle by day of month: a batch job in the last days of every month
//! (billing runs, reports, backups shipped out) that a weekly profile
//! cannot hold, since the month's end falls on another weekday each time.
//!
//! **The rule.** For each of the last [`POSITIONS`] days of a month (the
//! last day, the one before, ...), every complete such day in the window
//! (at least [`MIN_HOURS`] hours observed, not a holiday) is compared with
//! what the weekly profile expects of it, and that with how the ordinary
//! days within a week either side ran against the profile: so growth or a
//! level shift, which move those days too, is not taken for a cycle. When
//! every one of them ran at least [`HIGH`] times (or at most [`LOW`]
//! times) the level around it, that
//! position is a monthly component: its hours are kept out of the weekly
//! profile, and the same day of this month is forecast at the mean ratio.
//! The profile's window is five weeks, so it holds last month's end from
//! the first day of a month on: a batch seen last month is expected this
//! month.

use crate::series::Series;
use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, Utc};

/// The last days of a month looked at.
pub const POSITIONS: usize = 5;
/// A day this many times the profile is part of a monthly cycle.
pub const HIGH: f64 = 1.5;
/// A day this fraction of the profile is part of one too (a quiet end).
pub const LOW: f64 = 0.67;
/// Hours of a day that must be observed for it to count.
const MIN_HOURS: usize = 20;
/// How far either side of a day its level is read: a week, so every
/// weekday weighs the same.
const AROUND_HOURS: usize = 7 * 24;
/// Ordinary hours (not the month's last days) that must be seen there.
const MIN_AROUND_HOURS: usize = 48;

/// Days from the end of the month of the local day holding `t` (0: the
/// last day), if it is one of the last [`POSITIONS`].
pub fn position(t: i64, offset: TimeDelta) -> Option<usize> {
    let local = (DateTime::<Utc>::from_timestamp(t, 0)? + offset).date_naive();
    let first_of_next = if local.month() == 12 {
        NaiveDate::from_ymd_opt(local.year() + 1, 1, 1)?
    } else {
        NaiveDate::from_ymd_opt(local.year(), local.month() + 1, 1)?
    };
    let left = (first_of_next - local).num_days() - 1;
    (0..POSITIONS as i64).contains(&left).then_some(left as usize)
}

/// The position of each hour of `series` (see [`position`]), worked out
/// once a day rather than once an hour.
pub fn positions(series: &Series, offset: TimeDelta) -> Vec<Option<usize>> {
    let mut cached: Option<(i64, Option<usize>)> = None;
    (0..series.len())
        .map(|i| {
            let t = series.start(i);
            let day = (t + offset.num_seconds()).div_euclid(86_400);
            match cached {
                Some((d, p)) if d == day => p,
                _ => {
                    let p = position(t, offset);
                    cached = Some((day, p));
                    p
                }
            }
        })
        .collect()
}

/// The factor of each position (1.0: none), learnt from `series` against
/// `expected` per hour, at the hours' `positions`; hours `usable` says no
/// to are left out. `None` when no position is a cycle.
pub fn learn(
    series: &Series,
    expected: &[f64],
    usable: &[bool],
    positions: &[Option<usize>],
) -> Option<[f64; POSITIONS]> {
    // Per position, the ratio of each complete day: runs of hours with the
    // same position are one day (positions change every local day).
    let mut ratios: [Vec<f64>; POSITIONS] = Default::default();
    let n = series.len().min(expected.len()).min(usable.len()).min(positions.len());
    // The level of the ordinary days around each month end, prefix-summed:
    // actual and expected traffic, and hours, outside the last days.
    let (mut actual_sum, mut wanted_sum, mut count) = (vec![0.0; n + 1], vec![0.0; n + 1], vec![0usize; n + 1]);
    for k in 0..n {
        let seen = series.rates[k].filter(|_| usable[k] && positions[k].is_none() && expected[k] > 0.0);
        actual_sum[k + 1] = actual_sum[k] + seen.unwrap_or(0.0);
        wanted_sum[k + 1] = wanted_sum[k] + seen.map_or(0.0, |_| expected[k]);
        count[k + 1] = count[k] + usize::from(seen.is_some());
    }
    let level = |from: usize, to: usize| {
        let (lo, hi) = (from.saturating_sub(AROUND_HOURS), (to + AROUND_HOURS).min(n));
        let wanted = wanted_sum[hi] - wanted_sum[lo];
        (count[hi] - count[lo] >= MIN_AROUND_HOURS && wanted > 0.0).then(|| (actual_sum[hi] - actual_sum[lo]) / wanted)
    };
    let mut i = 0;
    while i < n {
        let Some(p) = positions[i] else {
            i += 1;
            continue;
        };
        let (mut actual, mut wanted, mut hours) = (0.0, 0.0, 0);
        let mut j = i;
        while j < n && positions[j] == Some(p) && j - i < 24 {
            if let (Some(rate), true) = (series.rates[j], usable[j]) {
                actual += rate;
                wanted += expected[j];
                hours += 1;
            }
            j += 1;
        }
        // A day cut by the window's ends is not complete: left out; so is
        // one without ordinary days around it to say what level it ran at.
        if j - i == 24
            && hours >= MIN_HOURS
            && wanted > 0.0
            && let Some(around) = level(i, j).filter(|l| *l > 0.0)
        {
            ratios[p].push(actual / wanted / around);
        }
        i = j;
    }
    let mut factors = [1.0; POSITIONS];
    let mut any = false;
    for (f, r) in factors.iter_mut().zip(&ratios) {
        if !r.is_empty() && (r.iter().all(|x| *x >= HIGH) || r.iter().all(|x| *x <= LOW)) {
            *f = r.iter().sum::<f64>() / r.len() as f64;
            any = true;
        }
    }
    any.then_some(factors)
}

/// The days of the months from `from` to `to` (Unix seconds) whose
/// position has a factor, as `(start, end, factor)` in UTC seconds, sorted.
pub fn spans(factors: &[f64; POSITIONS], from: i64, to: i64, offset: TimeDelta) -> Vec<(i64, i64, f64)> {
    let local = |t: i64| DateTime::<Utc>::from_timestamp(t, 0).map(|d| (d + offset).date_naive());
    let (Some(mut month), Some(last)) = (local(from), local(to)) else {
        return Vec::new();
    };
    month = month.with_day(1).unwrap_or(month);
    let mut out = Vec::new();
    while month <= last {
        let next = month.checked_add_months(chrono::Months::new(1)).unwrap_or(last);
        for p in (0..POSITIONS).rev().filter(|p| factors[*p] != 1.0) {
            let day = next - TimeDelta::days(p as i64 + 1);
            let start = day.and_time(chrono::NaiveTime::MIN).and_utc().timestamp() - offset.num_seconds();
            if start + 86_400 > from && start < to {
                out.push((start, start + 86_400, factors[p]));
            }
        }
        if next <= month {
            break;
        }
        month = next;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> i64 {
        DateTime::parse_from_rfc3339(s).expect("a test time").timestamp()
    }

    #[test]
    fn positions_count_back_from_the_month_s_last_local_day() {
        let cst = TimeDelta::hours(8);
        // 31 July 2026 in China starts 30 July 16:00 UTC.
        assert_eq!(position(utc("2026-07-30T16:00:00Z"), cst), Some(0));
        assert_eq!(position(utc("2026-07-30T15:00:00Z"), cst), Some(1));
        assert_eq!(position(utc("2026-07-27T12:00:00Z"), cst), Some(4));
        assert_eq!(position(utc("2026-07-26T12:00:00Z"), cst), None);
        // February 2026 has 28 days; December rolls into January.
        assert_eq!(position(utc("2026-02-28T12:00:00Z"), TimeDelta::zero()), Some(0));
        assert_eq!(position(utc("2026-12-30T12:00:00Z"), TimeDelta::zero()), Some(1));
        assert_eq!(position(utc("2027-01-01T12:00:00Z"), TimeDelta::zero()), None);
    }

    /// `days` UTC days of 100 B/s from `first`, at 300 from `from` to `to`.
    fn with_batch(first: &str, days: usize, from: &str, to: &str) -> Series {
        let (first, batch) = (utc(first), utc(from)..utc(to));
        let rates = (0..days as i64 * 24)
            .map(|h| {
                Some(if batch.contains(&(first + h * 3600)) {
                    300.0
                } else {
                    100.0
                })
            })
            .collect();
        Series::from_rates(first, rates)
    }

    /// What [`learn`] finds in `s` against a flat profile of 100.
    fn learnt(s: &Series) -> Option<[f64; POSITIONS]> {
        let n = s.len();
        learn(s, &vec![100.0; n], &vec![true; n], &positions(s, TimeDelta::zero()))
    }

    #[test]
    fn a_batch_in_the_last_three_days_of_last_month_is_found() {
        // 20 June to 20 July 2026 (UTC days), 100 B/s against a profile of
        // 100, with 28-30 June at 300: positions 0-2 of June (30 days).
        let s = with_batch(
            "2026-06-20T00:00:00Z",
            30,
            "2026-06-28T00:00:00Z",
            "2026-07-01T00:00:00Z",
        );
        let f = learnt(&s).expect("a cycle");
        // 30 June is position 0, 29 June 1, 28 June 2: each 300 / 100; 27
        // and 26 June ran at 1.0, under 1.5: no factor.
        assert_eq!(f, [3.0, 3.0, 3.0, 1.0, 1.0]);
        // Next month's last three days, in UTC, take the factors.
        let next = spans(
            &f,
            utc("2026-07-20T00:00:00Z"),
            utc("2026-08-10T00:00:00Z"),
            TimeDelta::zero(),
        );
        assert_eq!(
            next,
            [
                (utc("2026-07-29T00:00:00Z"), utc("2026-07-30T00:00:00Z"), 3.0),
                (utc("2026-07-30T00:00:00Z"), utc("2026-07-31T00:00:00Z"), 3.0),
                (utc("2026-07-31T00:00:00Z"), utc("2026-08-01T00:00:00Z"), 3.0),
            ]
        );
        // Without the batch there is no cycle.
        let flat = with_batch(
            "2026-06-20T00:00:00Z",
            30,
            "2026-06-20T00:00:00Z",
            "2026-06-20T00:00:00Z",
        );
        assert_eq!(learnt(&flat), None);
    }

    #[test]
    fn a_month_end_is_measured_against_the_level_around_it() {
        // 20 June to 20 July at 100 B/s, with 28-30 June at 300, against a
        // profile of 160 (one that has learnt a higher level since, as
        // after a doubling): every day ran low against the profile.
        let s = with_batch(
            "2026-06-20T00:00:00Z",
            30,
            "2026-06-28T00:00:00Z",
            "2026-07-01T00:00:00Z",
        );
        let n = s.len();
        let positions = positions(&s, TimeDelta::zero());
        let f = learn(&s, &vec![160.0; n], &vec![true; n], &positions).expect("a cycle");
        // The ordinary days within a week ran at 100 / 160: the batch days
        // are (300 / 160) / (100 / 160) = 3, and 26-27 June 1, not the
        // 0.625 of 100 against 160 that would read as a quiet month end.
        assert!(f[..3].iter().all(|x| (x - 3.0).abs() < 1e-9), "{f:?}");
        assert_eq!(&f[3..], &[1.0, 1.0]);
        let flat = with_batch(
            "2026-06-20T00:00:00Z",
            30,
            "2026-06-20T00:00:00Z",
            "2026-06-20T00:00:00Z",
        );
        assert_eq!(learn(&flat, &vec![160.0; n], &vec![true; n], &positions), None);
    }

    #[test]
    fn a_month_end_that_did_not_repeat_is_no_cycle() {
        // Two month ends: May's last day at 300, June's at 100.
        let s = with_batch(
            "2026-05-25T00:00:00Z",
            40,
            "2026-05-31T00:00:00Z",
            "2026-06-01T00:00:00Z",
        );
        assert_eq!(learnt(&s), None);
    }
}
