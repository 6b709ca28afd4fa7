//! The expected demand, hour by hour, from now on: what the depletion
//! forecast drains the packages with.
//!
//! CDN traffic has a daily cycle (an evening peak several times the night
//! trough), a weekly one, slow growth and surges. A straight line through
//! the last hours swings with the hour of day, so the model is a profile:
//!
//! - **hour of week** from a week of history on (weeks weighted towards
//!   the recent ones), else **hour of day** from two days on, else the
//!   plain recent rate;
//! - **scaled** to the level of the last day (growth since the profile's
//!   weeks), and carried forward with the day-over-day growth of the last
//!   two weeks (at most 4 % a day, for two weeks ahead);
//! - a **surge** (the last hours well above the profile) is carried into
//!   the next hours and fades with a half-life of three hours.
//!
//! The early bound is the same demand raised by how far three days of real
//! traffic ran above the profile in the last two weeks (mean plus one
//! standard deviation, 5 to 35 %), with a surge fading half as fast.

use crate::usage::{HOUR, HourlyUsage};
use chrono::{DateTime, Utc};
use std::time::Duration;

/// What the demand model could be built from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// A week or more: hour-of-week profile.
    HourOfWeek,
    /// Two days or more: hour-of-day profile.
    HourOfDay,
    /// Less: the rate of the recent polls, flat.
    RecentRate,
    /// Nothing consumed or nothing known.
    Nothing,
}

impl Basis {
    /// How the forecast is made, in words for people.
    pub fn describe(self, history: Duration) -> String {
        let days = history.as_secs_f64() / 86_400.0;
        match self {
            Basis::HourOfWeek => format!("hour-of-week profile from {days:.0} days of history"),
            Basis::HourOfDay => {
                format!("hour-of-day profile from {days:.1} days of history (no weekly cycle until 7 days)")
            }
            Basis::RecentRate => format!(
                "recent rate only: {:.1} h of history (a daily profile needs 2 days)",
                days * 24.0
            ),
            Basis::Nothing => "no consumption seen yet".into(),
        }
    }

    /// Whether the history is short of what a full profile needs.
    pub fn is_short(self) -> bool {
        !matches!(self, Basis::HourOfWeek)
    }
}

/// Demand from `now` on.
#[derive(Clone, Debug, PartialEq)]
pub struct Demand {
    /// When the forecast starts.
    pub now: DateTime<Utc>,
    /// What it stands on.
    pub basis: Basis,
    /// How much history it had.
    pub history: Duration,
    /// Bytes per second per hour slot: 168 slots (hour of week), 24 (hour
    /// of day) or 1 (flat), already scaled to the current level.
    profile: Vec<f64>,
    /// Day-over-day growth factor carried forward (1.0 = none).
    growth_per_day: f64,
    /// Surge factor at `now` (1.0 = none).
    surge: f64,
    /// The early bound's factor over the central demand.
    early_factor: f64,
}

const SURGE_HALF_LIFE_HOURS: f64 = 3.0;
/// The last hours this much above the profile are a surge.
const SURGE_THRESHOLD: f64 = 1.4;
const WEEK_HOURS: i64 = 168;
const GROWTH_HORIZON_HOURS: f64 = 14.0 * 24.0;

fn slot_of(hour_start: i64, slots: usize) -> usize {
    // Unix time 0 is a Thursday 00:00 UTC; any fixed origin gives the same
    // cycle, so slots are simply counted from it.
    (hour_start.div_euclid(HOUR)).rem_euclid(slots as i64) as usize
}

/// A weighted mean per slot over the hours in `[from, to)`, recent hours
/// weighing more: each step of `period` back multiplies the weight by `decay`.
fn profile(usage: &HourlyUsage, from: i64, to: i64, slots: usize, decay: f64) -> Vec<Option<f64>> {
    let period = slots as i64 * HOUR;
    let mut sum = vec![0.0; slots];
    let mut weight = vec![0.0; slots];
    for (start, rate) in usage.rates(from, to) {
        let age = ((to - start) / period) as i32;
        let w = decay.powi(age);
        let s = slot_of(start, slots);
        sum[s] += rate * w;
        weight[s] += w;
    }
    sum.iter()
        .zip(&weight)
        .map(|(s, w)| (*w > 0.0).then(|| s / w))
        .collect()
}

/// Fills missing slots from their neighbours, so one unobserved hour does
/// not read as an hour without traffic.
fn fill_gaps(p: Vec<Option<f64>>) -> Option<Vec<f64>> {
    let known: Vec<(usize, f64)> = p.iter().enumerate().filter_map(|(i, v)| Some((i, (*v)?))).collect();
    if known.is_empty() {
        return None;
    }
    let n = p.len();
    Some(
        (0..n)
            .map(|i| match p[i] {
                Some(v) => v,
                None => {
                    let dist = |j: usize| {
                        let d = i.abs_diff(j);
                        d.min(n - d)
                    };
                    known.iter().min_by_key(|(j, _)| dist(*j)).map_or(0.0, |(_, v)| *v)
                }
            })
            .collect(),
    )
}

impl Demand {
    /// Builds the demand model at `now` from hourly `usage`, with
    /// `recent_rate` (bytes per second over the last polls) as the fallback.
    pub fn build(usage: &HourlyUsage, recent_rate: Option<f64>, now: DateTime<Utc>) -> Demand {
        let history = usage.span(now);
        let t = now.timestamp();
        let current_hour = t.div_euclid(HOUR) * HOUR;
        let nothing = |basis| Demand {
            now,
            basis,
            history,
            profile: vec![recent_rate.unwrap_or(0.0).max(0.0)],
            growth_per_day: 1.0,
            surge: 1.0,
            early_factor: 1.25,
        };
        let days = history.as_secs_f64() / 86_400.0;
        // Span alone could mislead (one hour seen ten days ago and today's):
        // a profile also needs half its hours observed.
        let observed = usage.rates(current_hour - 35 * 24 * HOUR, current_hour).count();
        let (slots, decay, basis) = if days >= 7.0 && observed >= 84 {
            (WEEK_HOURS as usize, 0.7, Basis::HourOfWeek)
        } else if days >= 2.0 && observed >= 24 {
            (24, 0.8, Basis::HourOfDay)
        } else {
            return match recent_rate {
                Some(r) if r > 0.0 => nothing(Basis::RecentRate),
                _ => nothing(Basis::Nothing),
            };
        };
        // The last three hours are left out of the profile: they are what a
        // surge is measured on, against it.
        let window_start = current_hour - 35 * 24 * HOUR;
        let window_end = current_hour - 3 * HOUR;
        let Some(mut profile) = fill_gaps(self::profile(usage, window_start, window_end, slots, decay)) else {
            return nothing(Basis::Nothing);
        };
        let expected = |start: i64, p: &[f64]| p[slot_of(start, p.len())];

        // Level: the day before the last three hours, against the profile,
        // leaving out hours far off it (a surge, an outage) so that they do
        // not lift or sink the whole forecast.
        let (mut actual, mut predicted, mut hours) = (0.0, 0.0, 0);
        for (start, rate) in usage.rates(current_hour - 27 * HOUR, current_hour - 3 * HOUR) {
            let p = expected(start, &profile);
            if p > 0.0 && (0.4..1.8).contains(&(rate / p)) {
                actual += rate;
                predicted += p;
                hours += 1;
            }
        }
        let level = if hours >= 12 && predicted > 0.0 {
            (actual / predicted).clamp(0.3, 3.0)
        } else {
            1.0
        };
        for p in &mut profile {
            *p *= level;
        }
        if profile.iter().all(|p| *p <= 0.0) {
            return nothing(Basis::Nothing);
        }

        // Surge: the last three hours against the scaled profile.
        let (mut actual, mut predicted, mut hours) = (0.0, 0.0, 0);
        for (start, rate) in usage.rates(current_hour - 3 * HOUR, current_hour + HOUR) {
            actual += rate;
            predicted += expected(start, &profile);
            hours += 1;
        }
        // One hour is not a surge: it could be one odd reading.
        let ratio = if predicted > 0.0 && hours >= 2 {
            actual / predicted
        } else {
            1.0
        };
        let surge = if ratio >= SURGE_THRESHOLD { ratio.min(10.0) } else { 1.0 };

        // Growth: the last week against the week before, per day, damped.
        let week = 7 * 24 * HOUR;
        let mean = |from: i64, to: i64| {
            let (sum, n) = usage.rates(from, to).fold((0.0, 0), |(s, n), (_, r)| (s + r, n + 1));
            (n >= 24 * 5).then(|| sum / n as f64)
        };
        let growth_per_day = match (
            mean(current_hour - week, current_hour),
            mean(current_hour - 2 * week, current_hour - week),
        ) {
            (Some(last), Some(before)) if before > 0.0 => (last / before).powf(1.0 / 7.0).clamp(0.96, 1.04),
            _ => 1.0,
        };

        // Early bound: how far three days of real traffic ran above the
        // profile over the last two weeks (surges included), one standard
        // deviation above the mean.
        let mut errors = Vec::new();
        for end in (1..=11).map(|d| current_hour - d * 24 * HOUR) {
            let (mut a, mut p, mut n) = (0.0, 0.0, 0);
            for (start, rate) in usage.rates(end - 72 * HOUR, end) {
                a += rate;
                p += expected(start, &profile);
                n += 1;
            }
            if n >= 54 && p > 0.0 {
                errors.push(a / p - 1.0);
            }
        }
        let upper = if errors.len() >= 2 {
            let m = errors.iter().sum::<f64>() / errors.len() as f64;
            let sd = (errors.iter().map(|e| (e - m).powi(2)).sum::<f64>() / (errors.len() - 1) as f64).sqrt();
            m + sd
        } else {
            0.15
        };
        Demand {
            now,
            basis,
            history,
            profile,
            growth_per_day,
            surge,
            early_factor: 1.0 + upper.clamp(0.15, 0.4),
        }
    }

    /// A flat demand of `rate` bytes per second: the old linear forecast,
    /// kept for comparison in backtests.
    pub fn flat(rate: Option<f64>, now: DateTime<Utc>) -> Demand {
        Demand {
            now,
            basis: if rate.is_some_and(|r| r > 0.0) {
                Basis::RecentRate
            } else {
                Basis::Nothing
            },
            history: Duration::ZERO,
            profile: vec![rate.unwrap_or(0.0).max(0.0)],
            growth_per_day: 1.0,
            surge: 1.0,
            early_factor: 1.0,
        }
    }

    /// Whether any traffic is expected at all.
    pub fn expects_traffic(&self) -> bool {
        !matches!(self.basis, Basis::Nothing) && self.profile.iter().any(|p| *p > 0.0)
    }

    /// The central rate (bytes per second) `ahead` seconds from now; it is
    /// constant within each clock hour.
    pub fn rate(&self, ahead: f64) -> f64 {
        self.rate_with(ahead, false)
    }

    /// The early bound's rate `ahead` seconds from now.
    pub fn early_rate(&self, ahead: f64) -> f64 {
        self.rate_with(ahead, true)
    }

    fn rate_with(&self, ahead: f64, early: bool) -> f64 {
        let t = self.now.timestamp() + ahead.max(0.0) as i64;
        let start = t.div_euclid(HOUR) * HOUR;
        let base = self.profile[slot_of(start, self.profile.len())];
        let hours = ((start - self.now.timestamp().div_euclid(HOUR) * HOUR) / HOUR) as f64;
        // Growth is carried two weeks ahead at most: compounded over the
        // whole horizon it would make far-off dates meaningless.
        let growth = self.growth_per_day.powf(hours.min(GROWTH_HORIZON_HOURS) / 24.0);
        // The early bound lets a surge fade half as fast.
        let half_life = if early {
            2.0 * SURGE_HALF_LIFE_HOURS
        } else {
            SURGE_HALF_LIFE_HOURS
        };
        let surge = 1.0 + (self.surge - 1.0) * 0.5f64.powf(hours / half_life);
        let factor = if early { self.early_factor } else { 1.0 };
        base * growth * surge * factor
    }

    /// The central rate now, bytes per second.
    pub fn rate_now(&self) -> f64 {
        self.rate(0.0)
    }

    /// Whether the last hours run well above the profile.
    pub fn surging(&self) -> Option<f64> {
        (self.surge > 1.0).then_some(self.surge)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::at;
    use chrono::TimeDelta;

    /// Hourly usage with a daily cycle: `night` B/s from 00 to 12 UTC,
    /// `day` B/s from 12 to 24, for `days` days up to `end`.
    fn cycle(days: i64, night: f64, day: f64, end: DateTime<Utc>) -> HourlyUsage {
        let mut u = HourlyUsage::new();
        let mut t = end - TimeDelta::days(days);
        while t < end {
            let next = t + TimeDelta::hours(1);
            let rate = if chrono::Timelike::hour(&t) < 12 { night } else { day };
            u.add_interval(t, next, (rate * 3600.0) as u64);
            t = next;
        }
        u
    }

    #[test]
    fn a_daily_cycle_is_forecast_by_the_hour_of_day_not_by_the_last_hours() {
        let now = at("2026-06-10 06:00:00");
        let u = cycle(5, 100.0, 600.0, now);
        let d = Demand::build(&u, Some(100.0), now);
        assert_eq!(d.basis, Basis::HourOfDay);
        // Now is night: 100 B/s. Eight hours on is the 600 B/s afternoon.
        assert!((d.rate(0.0) - 100.0).abs() < 1.0, "{}", d.rate(0.0));
        assert!((d.rate(8.0 * 3600.0) - 600.0).abs() < 6.0, "{}", d.rate(8.0 * 3600.0));
        assert!(d.early_rate(0.0) > d.rate(0.0));
        assert_eq!(d.surging(), None);
    }

    #[test]
    fn a_surge_in_the_last_hours_is_carried_forward_and_fades() {
        let now = at("2026-06-10 06:00:00");
        let mut u = cycle(5, 100.0, 100.0, now - TimeDelta::hours(3));
        let mut t = now - TimeDelta::hours(3);
        while t < now {
            u.add_interval(t, t + TimeDelta::hours(1), 300 * 3600);
            t += TimeDelta::hours(1);
        }
        let d = Demand::build(&u, Some(300.0), now);
        let surge = d.surging().expect("a surge");
        assert!((surge - 3.0).abs() < 0.1, "{surge}");
        assert!(d.rate(0.0) > 250.0, "{}", d.rate(0.0));
        assert!(d.rate(3.0 * 3600.0) < d.rate(0.0) && d.rate(3.0 * 3600.0) > 150.0);
        assert!(d.rate(24.0 * 3600.0) < 110.0, "{}", d.rate(24.0 * 3600.0));
    }

    #[test]
    fn short_history_falls_back_and_says_so() {
        let now = at("2026-06-10 06:00:00");
        let d = Demand::build(&HourlyUsage::new(), Some(42.0), now);
        assert_eq!(d.basis, Basis::RecentRate);
        assert_eq!(d.rate(86_400.0), 42.0);
        assert!(d.basis.describe(Duration::from_secs(3600)).contains("recent rate only"));
        assert_eq!(Demand::build(&HourlyUsage::new(), None, now).basis, Basis::Nothing);
        let weeks = cycle(8, 100.0, 100.0, now);
        assert_eq!(Demand::build(&weeks, None, now).basis, Basis::HourOfWeek);
    }
}
