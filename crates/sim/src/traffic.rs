//! Synthetic CDN traffic with the shape real traffic has: a daily cycle with
//! an evening peak several times the night trough, quieter weekends, slow
//! growth, noise and surges. The simulator drains its packages with it and
//! answers `DescribeBillingData` from it; the trace generator records it.
//! A calendar can change whole local days (holidays, make-up working days),
//! the last days of each month (a month-end batch) and the level from a
//! time on (a customer moving in or out). A [`Flow`] is either such a shape
//! or a flat rate.

use chrono::{DateTime, Datelike, NaiveDate, Utc};

/// A small, seeded random generator (SplitMix64): the same seed gives the
/// same traffic, which traces and tests rely on.
#[derive(Clone, Debug)]
pub struct SplitMix(u64);

impl SplitMix {
    /// A generator started at `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A number in `[lo, hi)`.
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }
}

/// A surge: traffic multiplied by `factor` from `start` for `hours`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Surge {
    /// When it starts (Unix seconds).
    pub start: i64,
    /// How long it lasts.
    pub hours: f64,
    /// How much traffic it multiplies.
    pub factor: f64,
}

/// What a local calendar day is, beyond its weekday.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum DayKind {
    /// A public holiday: the day's traffic is the weekday level times this,
    /// whatever its weekday (a holiday Saturday is no quieter than a holiday
    /// Thursday).
    Holiday(f64),
    /// A make-up working day (调休): a Saturday or Sunday with weekday
    /// traffic, so the weekend factor does not apply.
    Workday,
}

/// One local calendar date and what it is.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DayFactor {
    /// The date in the shape's `utc_offset_hours`.
    pub date: NaiveDate,
    /// Holiday or make-up working day.
    pub kind: DayKind,
}

/// A month-end batch: the last `days` local days of every month multiplied
/// by `factor`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MonthEnd {
    /// How many days at the end of each month (e.g. 3).
    pub days: u32,
    /// How much they multiply traffic (e.g. 3.0).
    pub factor: f64,
}

/// A lasting level change: traffic times `factor` from `from` on.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Step {
    /// When it takes effect (Unix seconds, on an hour boundary).
    pub from: i64,
    /// How much it multiplies traffic (2.0 when a customer moves in, 0.5
    /// when one leaves).
    pub factor: f64,
}

/// The shape of an account's traffic.
#[derive(Clone, Debug, PartialEq)]
pub struct TrafficShape {
    /// Mean bytes per second over a weekday, at `origin`.
    pub mean_bytes_per_second: f64,
    /// Peak over trough of the daily cycle (e.g. 4 to 8).
    pub peak_ratio: f64,
    /// The local hour of the peak (e.g. 21.0), in `utc_offset_hours`.
    pub peak_hour: f64,
    /// The zone the users live in, for the hour of day and the weekend.
    pub utc_offset_hours: f64,
    /// Saturday and Sunday traffic relative to a weekday.
    pub weekend_factor: f64,
    /// Growth per day (0.02 = 2 %).
    pub growth_per_day: f64,
    /// Where growth is counted from (Unix seconds).
    pub origin: i64,
    /// Per-hour noise, ± this fraction (0.2 = ±20 %); fixed per hour by
    /// `noise_seed`, so the same hour always has the same traffic.
    pub noise: f64,
    /// Seeds the per-hour noise.
    pub noise_seed: u64,
    /// Surges.
    pub surges: Vec<Surge>,
    /// Holidays and make-up working days, by local date.
    pub days: Vec<DayFactor>,
    /// A month-end batch, if any.
    pub month_end: Option<MonthEnd>,
    /// Level changes.
    pub steps: Vec<Step>,
}

impl TrafficShape {
    /// A steady shape: the cycle only, no growth, noise or surges.
    pub fn daily(mean_bytes_per_second: f64, peak_ratio: f64, origin: i64) -> Self {
        TrafficShape {
            mean_bytes_per_second,
            peak_ratio,
            peak_hour: 21.0,
            utc_offset_hours: 8.0,
            weekend_factor: 1.0,
            growth_per_day: 0.0,
            origin,
            noise: 0.0,
            noise_seed: 0,
            surges: Vec::new(),
            days: Vec::new(),
            month_end: None,
            steps: Vec::new(),
        }
    }

    /// Bytes per second at `t` (Unix seconds); constant within each hour.
    pub fn rate(&self, t: i64) -> f64 {
        let hour_start = t.div_euclid(3600) * 3600;
        let local = hour_start as f64 + self.utc_offset_hours * 3600.0;
        let hour_of_day = (local / 3600.0).rem_euclid(24.0) + 0.5;
        // A cosine between trough and peak, with a mean of 1 over the day.
        let a = (self.peak_ratio - 1.0) / (self.peak_ratio + 1.0);
        let cycle = 1.0 + a * (std::f64::consts::TAU * (hour_of_day - self.peak_hour) / 24.0).cos();
        let date = DateTime::<Utc>::from_timestamp(local as i64, 0).map(|d| d.date_naive());
        let weekday = date.map_or(0, |d| d.weekday().num_days_from_monday());
        let week = if weekday >= 5 { self.weekend_factor } else { 1.0 };
        // A listed day replaces the weekday rule; unlisted days keep it, so a
        // shape without a calendar has exactly the traffic it always had.
        let week = match self.days.iter().find(|d| Some(d.date) == date).map(|d| d.kind) {
            Some(DayKind::Holiday(f)) => f,
            Some(DayKind::Workday) => 1.0,
            None => week,
        };
        let month_end = match (self.month_end, date) {
            (Some(m), Some(d)) if d.day() + m.days > days_in_month(d) => m.factor,
            _ => 1.0,
        };
        let step: f64 = self
            .steps
            .iter()
            .filter(|s| hour_start >= s.from)
            .map(|s| s.factor)
            .product();
        let days = (hour_start - self.origin) as f64 / 86_400.0;
        let growth = (1.0 + self.growth_per_day).powf(days);
        let noise = if self.noise > 0.0 {
            let mut r = SplitMix::new(self.noise_seed ^ (hour_start as u64).wrapping_mul(0x2545_F491_4F6C_DD1D));
            r.range(1.0 - self.noise, 1.0 + self.noise)
        } else {
            1.0
        };
        let surge: f64 = self
            .surges
            .iter()
            .filter(|s| hour_start >= s.start && ((hour_start - s.start) as f64) < s.hours * 3600.0)
            .map(|s| s.factor)
            .product();
        // The calendar factors last: both are exactly 1.0 without a calendar.
        self.mean_bytes_per_second * cycle * week * growth * noise * surge * month_end * step
    }

    /// Bytes between `from` and `to` (Unix seconds).
    pub fn bytes_between(&self, from: i64, to: i64) -> f64 {
        let mut total = 0.0;
        let mut t = from;
        while t < to {
            let end = (t.div_euclid(3600) * 3600 + 3600).min(to);
            total += self.rate(t) * (end - t) as f64;
            t = end;
        }
        total
    }
}

/// How many days the month of `d` has.
fn days_in_month(d: NaiveDate) -> u32 {
    let (y, m) = if d.month() == 12 {
        (d.year() + 1, 1)
    } else {
        (d.year(), d.month() + 1)
    };
    NaiveDate::from_ymd_opt(y, m, 1)
        .and_then(|next| next.pred_opt())
        .map_or(31, |last| last.day())
}

/// A flow with a rate per second (bytes, or HTTPS requests), flat or with
/// real traffic's shape (whose `mean_bytes_per_second` is then requests).
#[derive(Clone, Debug, PartialEq)]
pub enum Flow {
    /// The same rate all the time.
    Flat(f64),
    /// A daily cycle, growth, noise and surges.
    Shaped(TrafficShape),
}

impl Flow {
    /// What flowed between `from` and `to` (Unix seconds).
    pub fn between(&self, from: i64, to: i64) -> f64 {
        if to <= from {
            return 0.0;
        }
        match self {
            Flow::Flat(rate) => rate * (to - from) as f64,
            Flow::Shaped(shape) => shape.bytes_between(from, to),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cycle_has_its_peak_ratio_and_its_mean() {
        let origin = 1_780_272_000; // a Monday 00:00 UTC+8 minus 8 h: 2026-06-01 00:00 UTC+8
        let shape = TrafficShape::daily(1000.0, 6.0, origin);
        let rates: Vec<f64> = (0..24).map(|h| shape.rate(origin + h * 3600)).collect();
        let (min, max) = rates
            .iter()
            .fold((f64::MAX, 0.0f64), |(lo, hi), r| (lo.min(*r), hi.max(*r)));
        assert!((max / min - 6.0).abs() < 0.3, "{}", max / min);
        let mean = rates.iter().sum::<f64>() / 24.0;
        assert!((mean - 1000.0).abs() < 1.0, "{mean}");
        assert!((shape.bytes_between(origin, origin + 86_400) - 86_400.0 * 1000.0).abs() < 1000.0);
    }

    #[test]
    fn the_same_seed_gives_the_same_noise() {
        let mut shape = TrafficShape::daily(1000.0, 4.0, 0);
        shape.noise = 0.2;
        shape.noise_seed = 7;
        let again = shape.clone();
        assert_eq!(shape.rate(1_780_000_000), again.rate(1_780_000_000));
        let r = shape.rate(1_780_000_000) / TrafficShape::daily(1000.0, 4.0, 0).rate(1_780_000_000);
        assert!((0.8..1.2).contains(&r), "{r}");
    }

    /// 00:00 China time on `y-m-d`, as Unix seconds.
    fn cst(y: i32, m: u32, d: u32) -> i64 {
        NaiveDate::from_ymd_opt(y, m, d)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .expect("a valid date")
            .and_utc()
            .timestamp()
            - 8 * 3600
    }

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("a valid date")
    }

    #[test]
    fn a_holiday_halves_its_local_day_and_not_the_next() {
        let plain = TrafficShape::daily(1000.0, 4.0, cst(2026, 9, 1));
        let mut shape = plain.clone();
        // Thursday 1 October 2026, National Day.
        shape.days.push(DayFactor {
            date: day(2026, 10, 1),
            kind: DayKind::Holiday(0.5),
        });
        let thu = cst(2026, 10, 1);
        let ratio = shape.bytes_between(thu, thu + 86_400) / plain.bytes_between(thu, thu + 86_400);
        assert!((ratio - 0.5).abs() < 1e-9, "{ratio}");
        // The local day, not the UTC one: 23:00 China time is still the holiday.
        assert!((shape.rate(thu + 23 * 3600) / plain.rate(thu + 23 * 3600) - 0.5).abs() < 1e-9);
        let fri = thu + 86_400;
        assert_eq!(
            shape.bytes_between(fri, fri + 86_400),
            plain.bytes_between(fri, fri + 86_400)
        );
    }

    #[test]
    fn a_make_up_saturday_has_weekday_traffic() {
        let mut shape = TrafficShape::daily(1000.0, 4.0, cst(2026, 9, 1));
        shape.weekend_factor = 0.7;
        let sat = cst(2026, 10, 10);
        let plain_sat = shape.bytes_between(sat, sat + 86_400);
        shape.days.push(DayFactor {
            date: day(2026, 10, 10),
            kind: DayKind::Workday,
        });
        let working_sat = shape.bytes_between(sat, sat + 86_400);
        let fri = cst(2026, 10, 9);
        let fri_bytes = shape.bytes_between(fri, fri + 86_400);
        assert!(
            (working_sat / fri_bytes - 1.0).abs() < 1e-9,
            "{}",
            working_sat / fri_bytes
        );
        assert!((plain_sat / fri_bytes - 0.7).abs() < 1e-9);
        // The Sunday after is a weekend day again.
        let sun = sat + 86_400;
        assert!((shape.bytes_between(sun, sun + 86_400) / fri_bytes - 0.7).abs() < 1e-9);
    }

    #[test]
    fn the_last_three_days_of_the_month_are_tripled_and_the_first_is_not() {
        let plain = TrafficShape::daily(1000.0, 4.0, cst(2026, 6, 1));
        let mut shape = plain.clone();
        shape.month_end = Some(MonthEnd { days: 3, factor: 3.0 });
        let ratio = |d: i64| shape.bytes_between(d, d + 86_400) / plain.bytes_between(d, d + 86_400);
        for d in [28, 29, 30] {
            assert!((ratio(cst(2026, 6, d)) - 3.0).abs() < 1e-9, "June {d}");
        }
        assert!((ratio(cst(2026, 6, 27)) - 1.0).abs() < 1e-9);
        assert!((ratio(cst(2026, 7, 1)) - 1.0).abs() < 1e-9);
        // A 31-day month: 29 to 31; February 2026: 26 to 28.
        assert!((ratio(cst(2026, 7, 28)) - 1.0).abs() < 1e-9);
        assert!((ratio(cst(2026, 7, 31)) - 3.0).abs() < 1e-9);
        assert!((ratio(cst(2026, 2, 26)) - 3.0).abs() < 1e-9);
        assert!((ratio(cst(2026, 3, 1)) - 1.0).abs() < 1e-9);
    }

    #[test]
    fn a_step_doubles_traffic_from_its_hour_on() {
        let plain = TrafficShape::daily(1000.0, 4.0, cst(2026, 6, 1));
        let mut shape = plain.clone();
        let from = cst(2026, 6, 10) + 13 * 3600;
        shape.steps.push(Step { from, factor: 2.0 });
        assert_eq!(shape.rate(from - 1), plain.rate(from - 1));
        assert!((shape.rate(from) / plain.rate(from) - 2.0).abs() < 1e-9);
        let later = from + 20 * 86_400 + 5 * 3600;
        assert!((shape.rate(later) / plain.rate(later) - 2.0).abs() < 1e-9);
    }
}
