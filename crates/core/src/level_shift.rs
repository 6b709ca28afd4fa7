//! A lasting change of level: a customer moves in and traffic doubles
//! overnight, or one leaves and it halves. The profile learnt before the
//! change has the right shape and the wrong level; scaled by the last day
//! alone it also keeps the old level in every hour the last day did not
//! touch. So a shift, once seen, re-bases the forecast: the profile is
//! learnt from the hours before it, and scaled by the hours since.
//!
//! **The rule.** Against the profile, the hours since some start `S` run on
//! average at least [`UP`] times (or at most [`DOWN`] times) the two days
//! before `S`, for at least [`MIN_HOURS`] hours up to now, and at least
//! [`CONSISTENT`] of those hours are beyond [`HOURLY`] times (or below its
//! inverse) that earlier level. Averages are geometric (of log ratios), so
//! one hour at 9x does not make a day look doubled. A launch (9x for 18
//! hours, then back) fails the last condition a day later: under 85 % of
//! the hours since it began are high. Growth, even 4 % a day, moves two
//! days by 8 %, far from 1.6x.

use crate::series::Series;

/// A day this many times the days before it, or more, is a shift up.
pub const UP: f64 = 1.6;
/// A day this fraction of the days before it, or less, is a shift down.
pub const DOWN: f64 = 0.6;
/// A shift is seen once it has lasted this many hours.
pub const MIN_HOURS: usize = 24;
/// What each hour since the shift must be beyond, against the level before.
pub const HOURLY: f64 = 1.3;
/// The share of hours since the shift that must be beyond [`HOURLY`].
pub const CONSISTENT: f64 = 0.85;
/// Hours before `S` that give the old level.
const BEFORE_HOURS: usize = 48;
/// How far back a shift is looked for: older ones are in every slot of a
/// week-long profile already, and the level scaling carries them.
pub const LOOK_BACK_HOURS: usize = 8 * 24;

/// A change of level that is still going on.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LevelShift {
    /// When it began (Unix seconds, an hour start).
    pub since: i64,
    /// The new level over the old, e.g. 2.0 or 0.5.
    pub factor: f64,
}

/// Looks for a shift in the hours of `series` before index `end`, given
/// each hour's `expected` rate under the profile. Hours `usable` says no
/// to (holidays) are left out.
pub fn detect(series: &Series, expected: &[f64], usable: &[bool], end: usize) -> Option<LevelShift> {
    let end = end.min(series.len()).min(expected.len()).min(usable.len());
    // ln(actual / expected) where both are known, prefix-summed.
    let logs: Vec<Option<f64>> = (0..end)
        .map(|i| {
            let r = series.rates[i]?;
            (usable[i] && expected[i] > 0.0 && r > 0.0).then(|| (r / expected[i]).ln())
        })
        .collect();
    let mut sum = vec![0.0; end + 1];
    let mut count = vec![0usize; end + 1];
    for (i, l) in logs.iter().enumerate() {
        sum[i + 1] = sum[i] + l.unwrap_or(0.0);
        count[i + 1] = count[i] + usize::from(l.is_some());
    }
    let mean = |a: usize, b: usize| {
        let n = count[b] - count[a];
        (n > 0).then(|| ((sum[b] - sum[a]) / n as f64, n))
    };
    let mut best: Option<(f64, usize)> = None;
    let earliest = end.saturating_sub(LOOK_BACK_HOURS).max(BEFORE_HOURS);
    for s in (earliest..=end.saturating_sub(MIN_HOURS)).rev() {
        let (Some((after, n_after)), Some((before, n_before))) = (mean(s, end), mean(s - BEFORE_HOURS, s)) else {
            continue;
        };
        // Most of the hours on both sides must be known.
        if n_after * 10 < (end - s) * 8 || n_before < BEFORE_HOURS / 2 {
            continue;
        }
        let step = after - before;
        let up = step >= UP.ln();
        if !(up || step <= DOWN.ln()) {
            continue;
        }
        // The last day alone must show the new level too.
        let Some((last_day, _)) = mean(end - MIN_HOURS, end) else {
            continue;
        };
        if (up && last_day - before < UP.ln()) || (!up && last_day - before > DOWN.ln()) {
            continue;
        }
        let beyond = logs[s..end]
            .iter()
            .flatten()
            .filter(|l| {
                if up {
                    **l - before > HOURLY.ln()
                } else {
                    **l - before < -HOURLY.ln()
                }
            })
            .count();
        if (beyond as f64) < CONSISTENT * n_after as f64 {
            continue;
        }
        if best.is_none_or(|(b, _)| step.abs() > b.abs()) {
            best = Some((step, s));
        }
    }
    best.map(|(step, s)| LevelShift {
        since: series.start(s),
        factor: step.exp(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A flat 100 B/s against a flat profile of 100, for `hours` hours, with
    /// every third hour 10 % up and every third 10 % down (noise).
    fn flat(hours: usize) -> Vec<Option<f64>> {
        (0..hours).map(|h| Some(100.0 * [1.0, 1.1, 0.9][h % 3])).collect()
    }

    fn run(rates: Vec<Option<f64>>) -> Option<LevelShift> {
        let n = rates.len();
        detect(&Series::from_rates(0, rates), &vec![100.0; n], &vec![true; n], n)
    }

    #[test]
    fn a_doubling_is_seen_after_a_day_from_the_hour_it_began() {
        // 10 days; from hour 200 on, 2x. At hour 224 it has lasted 24 h.
        let mut rates = flat(224);
        for r in rates.iter_mut().skip(200) {
            *r = r.map(|r| r * 2.0);
        }
        let shift = run(rates.clone()).expect("a shift");
        assert_eq!(shift.since, 200 * 3600);
        // The noise is the same on both sides: the factor is 2 to within it.
        assert!((shift.factor - 2.0).abs() < 0.05, "{}", shift.factor);
        // Twelve hours in, the last day is half old, half new: a geometric
        // mean of 1.41x, under 1.6x. Not yet.
        assert_eq!(run(rates[..212].to_vec()), None);
    }

    #[test]
    fn a_halving_is_a_shift_down() {
        let mut rates = flat(300);
        for r in rates.iter_mut().skip(250) {
            *r = r.map(|r| r * 0.5);
        }
        let shift = run(rates).expect("a shift");
        assert_eq!(shift.since, 250 * 3600);
        assert!((shift.factor - 0.5).abs() < 0.02, "{}", shift.factor);
    }

    #[test]
    fn a_launch_day_and_slow_growth_are_not_shifts() {
        // 18 hours at 9x, then back, seen 30 h after it began: the last day
        // averages high, but 18 of 30 hours high is 60 %, under 85 %.
        let mut rates = flat(300);
        for r in rates.iter_mut().take(288).skip(270) {
            *r = r.map(|r| r * 9.0);
        }
        assert_eq!(run(rates), None);
        // 4 % a day for 12 days: two days apart, 8 %.
        let growing: Vec<Option<f64>> = (0..288).map(|h| Some(100.0 * 1.04f64.powf(h as f64 / 24.0))).collect();
        assert_eq!(run(growing), None);
        // 1.5x is not enough.
        let mut small = flat(300);
        for r in small.iter_mut().skip(250) {
            *r = r.map(|r| r * 1.5);
        }
        assert_eq!(run(small), None);
    }
}
