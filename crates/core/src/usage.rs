//! The account's consumption by the hour: what the forecast learns the daily
//! and weekly cycle from. Each hour keeps the bytes consumed in it and how
//! many of its seconds were observed, so a partly watched hour still gives a
//! rate and an unwatched one is known to be missing rather than zero.
//!
//! Bytes come from two places: the difference between two polls, spread
//! evenly over the time between them, and Tencent's billing data, which is
//! the account's real traffic per hour and replaces what polls estimated.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// Seconds in an hour.
pub const HOUR: i64 = 3600;
/// How much hourly history is kept: enough for five whole weeks and more.
pub const KEEP_HOURS: usize = 60 * 24;
/// A gap between two polls longer than this is not spread over its hours:
/// an even spread over a long outage would flatten the cycle the forecast
/// learns. Its bytes still count towards what the packages hold.
pub const MAX_SPREAD_SECONDS: i64 = 3 * HOUR;

/// One hour of consumption.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(from = "(i64, f64, u32, bool)", into = "(i64, f64, u32, bool)")]
pub struct Hour {
    /// The hour's start, in Unix seconds (a multiple of 3600).
    pub start: i64,
    /// Bytes consumed in the observed part of the hour.
    pub bytes: f64,
    /// Seconds of the hour observed, up to 3600.
    pub observed: u32,
    /// Whether the bytes are Tencent's billing figure (final) rather than
    /// an estimate from polls.
    pub billed: bool,
}

impl From<(i64, f64, u32, bool)> for Hour {
    fn from((start, bytes, observed, billed): (i64, f64, u32, bool)) -> Self {
        Hour {
            start,
            bytes,
            observed,
            billed,
        }
    }
}

impl From<Hour> for (i64, f64, u32, bool) {
    fn from(h: Hour) -> Self {
        (h.start, h.bytes, h.observed, h.billed)
    }
}

impl Hour {
    /// Bytes per second over the observed part, if enough of it was seen.
    pub fn rate(&self) -> Option<f64> {
        (self.observed >= (HOUR / 2) as u32).then(|| self.bytes / f64::from(self.observed))
    }
}

/// Hourly consumption, oldest first, at most [`KEEP_HOURS`] hours.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HourlyUsage {
    hours: VecDeque<Hour>,
}

fn hour_of(t: i64) -> i64 {
    t.div_euclid(HOUR) * HOUR
}

impl HourlyUsage {
    /// No history.
    pub fn new() -> Self {
        Self::default()
    }

    /// The hours kept, oldest first.
    pub fn hours(&self) -> impl DoubleEndedIterator<Item = &Hour> + ExactSizeIterator {
        self.hours.iter()
    }

    /// Whether nothing is known.
    pub fn is_empty(&self) -> bool {
        self.hours.is_empty()
    }

    fn slot(&mut self, start: i64) -> Option<&mut Hour> {
        // Hours arrive in order, but billing data may fill in earlier ones.
        let pos = match self.hours.binary_search_by_key(&start, |h| h.start) {
            Ok(i) => i,
            Err(i) => {
                if i == 0 && self.hours.len() >= KEEP_HOURS {
                    return None;
                }
                self.hours.insert(
                    i,
                    Hour {
                        start,
                        bytes: 0.0,
                        observed: 0,
                        billed: false,
                    },
                );
                i
            }
        };
        self.hours.get_mut(pos)
    }

    fn trim(&mut self) {
        while self.hours.len() > KEEP_HOURS {
            self.hours.pop_front();
        }
    }

    /// Records `bytes` consumed between two polls, spread evenly over the
    /// hours between `from` and `to`. Hours already billed keep their figure.
    pub fn add_interval(&mut self, from: DateTime<Utc>, to: DateTime<Utc>, bytes: u64) {
        let (from, to) = (from.timestamp(), to.timestamp());
        let span = to - from;
        if span <= 0 || span > MAX_SPREAD_SECONDS {
            return;
        }
        let mut t = from;
        while t < to {
            let start = hour_of(t);
            let end = (start + HOUR).min(to);
            let share = (end - t) as f64 / span as f64;
            if let Some(h) = self.slot(start)
                && !h.billed
            {
                h.bytes += bytes as f64 * share;
                h.observed = (h.observed + (end - t) as u32).min(HOUR as u32);
            }
            t = end;
        }
        self.trim();
    }

    /// Records Tencent's billed traffic for the hour starting at `start`:
    /// final, it replaces any estimate, except that a billed 0 does not
    /// replace polls that saw traffic (billing data can be late).
    pub fn set_billed(&mut self, start: DateTime<Utc>, bytes: f64) {
        if let Some(h) = self.slot(hour_of(start.timestamp())) {
            if bytes <= 0.0 && !h.billed && h.bytes > 0.0 {
                return;
            }
            *h = Hour {
                start: h.start,
                bytes,
                observed: HOUR as u32,
                billed: true,
            };
        }
        self.trim();
    }

    /// The latest billed hour's start, if any: billing data is asked for
    /// from there on.
    pub fn last_billed(&self) -> Option<DateTime<Utc>> {
        self.hours
            .iter()
            .rev()
            .find(|h| h.billed)
            .and_then(|h| DateTime::from_timestamp(h.start, 0))
    }

    /// The span of observed history: from the first observed hour to `now`.
    pub fn span(&self, now: DateTime<Utc>) -> std::time::Duration {
        self.hours
            .iter()
            .find(|h| h.observed > 0)
            .map(|h| (now.timestamp() - h.start).max(0) as u64)
            .map_or(std::time::Duration::ZERO, std::time::Duration::from_secs)
    }

    /// The observed rate of each hour in `[from, to)` that has one.
    pub fn rates(&self, from: i64, to: i64) -> impl Iterator<Item = (i64, f64)> + '_ {
        self.hours
            .iter()
            .filter(move |h| h.start >= from && h.start < to)
            .filter_map(|h| Some((h.start, h.rate()?)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::at;

    #[test]
    fn a_poll_interval_is_spread_over_the_hours_it_spans() {
        let mut u = HourlyUsage::new();
        u.add_interval(at("2026-06-01 00:30:00"), at("2026-06-01 01:30:00"), 3600);
        let hours: Vec<_> = u.hours().copied().collect();
        assert_eq!(hours.len(), 2);
        assert_eq!((hours[0].bytes, hours[0].observed), (1800.0, 1800));
        assert_eq!((hours[1].bytes, hours[1].observed), (1800.0, 1800));
        assert_eq!(hours[0].rate(), Some(1.0));
        // A quarter of an hour is not enough to give a rate.
        let mut v = HourlyUsage::new();
        v.add_interval(at("2026-06-01 00:00:00"), at("2026-06-01 00:15:00"), 900);
        assert_eq!(v.hours().next().unwrap().rate(), None);
    }

    #[test]
    fn billed_hours_replace_estimates_and_are_not_added_to() {
        let mut u = HourlyUsage::new();
        u.add_interval(at("2026-06-01 00:00:00"), at("2026-06-01 01:00:00"), 100);
        u.set_billed(at("2026-06-01 00:00:00"), 7200.0);
        u.add_interval(at("2026-06-01 00:50:00"), at("2026-06-01 01:00:00"), 999);
        let h = u.hours().next().unwrap();
        assert_eq!((h.bytes, h.observed, h.billed), (7200.0, 3600, true));
        assert_eq!(u.last_billed(), Some(at("2026-06-01 00:00:00")));
    }

    #[test]
    fn a_long_gap_is_not_spread_and_history_is_bounded() {
        let mut u = HourlyUsage::new();
        u.add_interval(at("2026-06-01 00:00:00"), at("2026-06-02 00:00:00"), 1_000_000);
        assert!(u.is_empty());
        let mut t = at("2026-01-01 00:00:00");
        for _ in 0..(KEEP_HOURS + 100) {
            let next = t + chrono::TimeDelta::hours(1);
            u.add_interval(t, next, 1);
            t = next;
        }
        assert_eq!(u.hours().len(), KEEP_HOURS);
        let json = serde_json::to_string(&u).unwrap();
        assert!(json.len() < KEEP_HOURS * 32, "{} bytes", json.len());
        assert_eq!(serde_json::from_str::<HourlyUsage>(&json).unwrap(), u);
    }
}
