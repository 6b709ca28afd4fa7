//! A window of hourly rates laid out by the hour, so that the profile's
//! rules can look up the same hour on other days and in other weeks
//! without searching the history each time.

use crate::usage::{HOUR, HourlyUsage};

/// Rates (bytes per second) of the hours in `[first, first + len hours)`;
/// `None` where the hour was not observed.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// The first hour's start (Unix seconds, a multiple of 3600).
    pub first: i64,
    /// One entry an hour.
    pub rates: Vec<Option<f64>>,
}

impl Series {
    /// The observed hours of `usage` in `[from, to)`, both hour starts.
    pub fn of(usage: &HourlyUsage, from: i64, to: i64) -> Series {
        let len = ((to - from) / HOUR).max(0) as usize;
        let mut rates = vec![None; len];
        for (start, rate) in usage.rates(from, to) {
            if let Some(slot) = rates.get_mut(((start - from) / HOUR) as usize) {
                *slot = Some(rate);
            }
        }
        Series { first: from, rates }
    }

    /// Series from rates, for tests and hand-made histories.
    pub fn from_rates(first: i64, rates: Vec<Option<f64>>) -> Series {
        Series { first, rates }
    }

    /// The start of the hour at index `i`.
    pub fn start(&self, i: usize) -> i64 {
        self.first + i as i64 * HOUR
    }

    /// The index of the hour starting at `t`, if it is inside.
    pub fn index(&self, t: i64) -> Option<usize> {
        let i = (t - self.first).div_euclid(HOUR);
        (0..self.rates.len() as i64).contains(&i).then_some(i as usize)
    }

    /// The rate at index `i` shifted by `hours` (negative: earlier).
    pub fn at_offset(&self, i: usize, hours: i64) -> Option<f64> {
        let j = i as i64 + hours;
        if j < 0 {
            return None;
        }
        self.rates.get(j as usize).copied().flatten()
    }

    /// Number of hours in the window.
    pub fn len(&self) -> usize {
        self.rates.len()
    }

    /// Whether the window holds no hours.
    pub fn is_empty(&self) -> bool {
        self.rates.is_empty()
    }
}

/// The median of a few values (`None` for none).
pub fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    Some(if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    })
}
