//! Synthetic CDN traffic with the shape real traffic has: a daily cycle with
//! an evening peak several times the night trough, quieter weekends, slow
//! growth, noise and surges. The simulator drains its packages with it and
//! answers `DescribeBillingData` from it; the trace generator records it.
//! A [`Flow`] is either such a shape or a flat rate.

use chrono::{DateTime, Datelike, Utc};

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
        let weekday =
            DateTime::<Utc>::from_timestamp(local as i64, 0).map_or(0, |d| d.weekday().num_days_from_monday());
        let week = if weekday >= 5 { self.weekend_factor } else { 1.0 };
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
        self.mean_bytes_per_second * cycle * week * growth * noise * surge
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
}
