//! Which hours are kept out of the traffic profile as one-off events.
//!
//! An hour is an **outlier** when its rate is more than [`HIGH`] times (or
//! less than [`LOW`] times) the median of the same hour of day on the
//! [`NEIGHBOUR_DAYS`] days either side, *and* likewise against the median of
//! the same hour of week in the other weeks of the window (when the window
//! holds another week at all). Both must hold: an evening peak is high
//! against the night but not against other evenings, a quiet Sunday is low
//! against Friday but not against other Sundays, and a launch day (9× for
//! 18 hours) is high against both. A lasting change of level is neither: a
//! day later its neighbours have the new level too (see
//! [`crate::level_shift`]). The surge logic still sees an outlier as it
//! happens; the profile just does not learn it as a weekly habit.
//!
//! An hour above [`SURGE`] times both medians but not [`HIGH`] is an
//! ordinary **surge** ([`Oddity::Surge`]): kept out of its slot too, and
//! spread over every hour by the demand model.

use crate::series::{Series, median};

/// Above this many times both medians, an hour is a one-off event: a
/// launch at 9x. Ordinary surges (3x for a few hours, every week or so)
/// stay under it.
pub const HIGH: f64 = 4.0;
/// Below this fraction of both medians, an hour is an outlier.
pub const LOW: f64 = 0.25;
/// Days either side whose same hour is its neighbourhood.
pub const NEIGHBOUR_DAYS: i64 = 3;
/// At least this many neighbours must be known to call an hour an outlier.
const MIN_NEIGHBOURS: usize = 2;
/// Weeks either side looked at: the profile's window is five weeks.
const MAX_WEEKS: usize = 5;

/// What an hour is against its neighbourhood.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Oddity {
    /// Within [`SURGE`] and [`LOW`] of either median: learnt as it is.
    Usual,
    /// Above [`SURGE`] times both medians but not [`HIGH`]: an ordinary
    /// surge. Surges recur (every week or so), so their traffic is part of
    /// what the pool must serve, but not at that hour of the week: it is
    /// spread over every hour instead.
    Surge,
    /// Above [`HIGH`] or below [`LOW`] times both medians: a one-off event,
    /// left out.
    OneOff,
}

/// Above this many times both medians, an hour is a surge.
pub const SURGE: f64 = 2.0;

/// How many times `reference` `rate` is, if there is a reference.
fn ratio(rate: f64, reference: Option<f64>) -> Option<f64> {
    // Nothing against a silent neighbourhood: traffic where there was none
    // is the start of traffic, not an outlier.
    reference.filter(|m| *m > 0.0).map(|m| rate / m)
}

/// For each hour of `series`, what it is against its neighbourhood. Hours
/// `usable` says no to (holidays) are neither judged nor used as
/// neighbours.
pub fn oddities(series: &Series, usable: &[bool]) -> Vec<Oddity> {
    let ok = |i: i64| i >= 0 && usable.get(i as usize).copied().unwrap_or(false);
    let value = |i: usize, hours: i64| {
        let j = i as i64 + hours;
        if ok(j) { series.at_offset(i, hours) } else { None }
    };
    (0..series.len())
        .map(|i| {
            let Some(rate) = series.rates[i].filter(|_| ok(i as i64)) else {
                return Oddity::Usual;
            };
            // Fixed arrays: this runs for every hour of five weeks at every
            // poll.
            let mut days = [0.0; 2 * NEIGHBOUR_DAYS as usize];
            let mut n = 0;
            for d in 1..=NEIGHBOUR_DAYS {
                for v in [value(i, -24 * d), value(i, 24 * d)].into_iter().flatten() {
                    days[n] = v;
                    n += 1;
                }
            }
            if n < MIN_NEIGHBOURS {
                return Oddity::Usual;
            }
            let Some(by_day) = ratio(rate, median(&mut days[..n])) else {
                return Oddity::Usual;
            };
            if (LOW..=SURGE).contains(&by_day) {
                return Oddity::Usual;
            }
            let mut same = [0.0; 2 * MAX_WEEKS];
            let mut n = 0;
            for w in 1..=MAX_WEEKS as i64 {
                for v in [value(i, -168 * w), value(i, 168 * w)].into_iter().flatten() {
                    same[n] = v;
                    n += 1;
                }
            }
            // Without another week, the days alone decide.
            let by_week = if n == 0 {
                Some(by_day)
            } else {
                ratio(rate, median(&mut same[..n]))
            };
            let Some(by_week) = by_week else {
                return Oddity::Usual;
            };
            let (low, high) = (by_day.min(by_week), by_day.max(by_week));
            if low > HIGH || high < LOW {
                Oddity::OneOff
            } else if low > SURGE {
                Oddity::Surge
            } else {
                Oddity::Usual
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// For each hour of `series`, whether it is a one-off event.
    fn outliers(series: &Series, usable: &[bool]) -> Vec<bool> {
        oddities(series, usable)
            .into_iter()
            .map(|o| o == Oddity::OneOff)
            .collect()
    }

    /// `weeks` weeks of a daily cycle: 100 B/s at night (00-12), 400 B/s
    /// by day (12-24), Saturdays and Sundays at 60 % (days 5 and 6).
    fn weeks(weeks: usize) -> Vec<Option<f64>> {
        (0..weeks * 168)
            .map(|h| {
                let day = if (h / 24) % 7 >= 5 { 0.6 } else { 1.0 };
                Some(if h % 24 < 12 { 100.0 } else { 400.0 } * day)
            })
            .collect()
    }

    #[test]
    fn a_launch_day_is_an_outlier_and_the_cycle_and_weekends_are_not() {
        let mut rates = weeks(4);
        // Week 3, Wednesday (day 16), 06:00-24:00 at 9x: a launch.
        for r in rates.iter_mut().take(17 * 24).skip(16 * 24 + 6) {
            *r = r.map(|r| r * 9.0);
        }
        let usable = vec![true; rates.len()];
        let out = outliers(&Series::from_rates(0, rates), &usable);
        // Each launch hour is 9x its neighbours (the same hour on the days
        // either side, all ordinary) and 9x the same hour in other weeks.
        assert!((16 * 24 + 6..17 * 24).all(|h| out[h]));
        // Nothing else: the 4x day/night swing compares like with like, and
        // a Saturday at 60 % of Friday is 0.6x, above 0.25.
        assert_eq!(out.iter().filter(|o| **o).count(), 18);
    }

    #[test]
    fn an_ordinary_surge_is_a_surge_and_a_smaller_one_is_usual() {
        let mut rates = weeks(3);
        // Day 9 (a Wednesday), 18:00-22:00 at 3x: a surge. Day 2, 18:00 at
        // 1.9x: within the noise of a busy evening.
        for r in rates.iter_mut().take(9 * 24 + 22).skip(9 * 24 + 18) {
            *r = r.map(|r| r * 3.0);
        }
        rates[2 * 24 + 18] = rates[2 * 24 + 18].map(|r| r * 1.9);
        let usable = vec![true; rates.len()];
        let odd = oddities(&Series::from_rates(0, rates), &usable);
        // 3x the same hour on the days around it and in the other weeks
        // (400 B/s all): above 2, not above 4.
        assert!((9 * 24 + 18..9 * 24 + 22).all(|h| odd[h] == Oddity::Surge));
        assert_eq!(odd.iter().filter(|o| **o != Oddity::Usual).count(), 4);
        assert_eq!(odd[2 * 24 + 18], Oddity::Usual);
    }

    #[test]
    fn a_lasting_doubling_is_not_an_outlier() {
        let mut rates = weeks(4);
        // From day 20 on everything is 4.5x: above 4x the old level, but
        // from its first day on its later neighbours share it, and the
        // median of three old days and three new ones is between.
        for r in rates.iter_mut().skip(20 * 24) {
            *r = r.map(|r| r * 4.5);
        }
        let usable = vec![true; rates.len()];
        assert!(!outliers(&Series::from_rates(0, rates), &usable).iter().any(|o| *o));
    }

    #[test]
    fn an_hour_high_against_its_days_but_usual_for_its_week_is_kept() {
        // Every Sunday 20:00 is 10x (a weekly broadcast): high against the
        // days around it, usual against other Sundays.
        let mut rates = weeks(3);
        for w in 0..3 {
            let h = w * 168 + 6 * 24 + 20;
            rates[h] = rates[h].map(|r| r * 10.0);
        }
        let usable = vec![true; rates.len()];
        assert!(!outliers(&Series::from_rates(0, rates), &usable).iter().any(|o| *o));
    }

    #[test]
    fn a_holiday_is_neither_judged_nor_a_neighbour() {
        let mut rates = weeks(2);
        // Days 8-10 at 10 %: a holiday, which would be an outlier if it
        // were judged; day 11 is ordinary, judged against days 12-14 only.
        for r in rates.iter_mut().take(11 * 24).skip(8 * 24) {
            *r = r.map(|r| r * 0.1);
        }
        let usable: Vec<bool> = (0..rates.len()).map(|h| !(8 * 24..11 * 24).contains(&h)).collect();
        let out = outliers(&Series::from_rates(0, rates), &usable);
        assert!(!out.iter().any(|o| *o));
    }
}
