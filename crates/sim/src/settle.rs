//! When traffic is deducted from packages. Tencent settles billed traffic
//! per hour, day or month and deducts it hours after the period ends, from
//! the packages usable then, so `BytesUsed` lags real traffic; the
//! simulator does the same, or deducts as traffic flows (`Immediate`) for
//! tests that want to see every byte at once.

use crate::wire::CHINA_STANDARD_TIME;
use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use std::time::Duration;

/// How often traffic is settled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SettlementCycle {
    /// Deducted as it flows, at every request.
    Immediate,
    /// 按小时结算: each clock hour.
    Hour,
    /// 日结: each China-time (UTC+8) day.
    Day,
    /// 月结: each China-time month.
    Month,
}

/// When a period's traffic is deducted: once the period has ended and `lag`
/// has passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settlement {
    /// The period traffic is settled in.
    pub cycle: SettlementCycle,
    /// How long after the period ends it is deducted (Tencent: 2–4 h for
    /// hourly settlement).
    pub lag: Duration,
}

impl Default for Settlement {
    /// Hourly, 3 h after the hour: the middle of Tencent's 2–4 h.
    fn default() -> Self {
        Settlement::hourly(Duration::from_secs(3 * 3600))
    }
}

impl Settlement {
    /// Deducted as traffic flows.
    pub const IMMEDIATE: Settlement = Settlement {
        cycle: SettlementCycle::Immediate,
        lag: Duration::ZERO,
    };

    /// Settled per hour, deducted `lag` after the hour.
    pub fn hourly(lag: Duration) -> Self {
        Settlement {
            cycle: SettlementCycle::Hour,
            lag,
        }
    }

    /// Settled per China-time day, deducted `lag` after its midnight.
    pub fn daily(lag: Duration) -> Self {
        Settlement {
            cycle: SettlementCycle::Day,
            lag,
        }
    }

    /// Settled per China-time month, deducted `lag` after it ends.
    pub fn monthly(lag: Duration) -> Self {
        Settlement {
            cycle: SettlementCycle::Month,
            lag,
        }
    }

    /// The end (Unix seconds, exclusive) of the period holding `t`, or
    /// `None` when traffic is deducted as it flows.
    pub fn period_end(&self, t: i64) -> Option<i64> {
        const HOUR: i64 = 3600;
        const DAY: i64 = 86_400;
        let zone = i64::from(CHINA_STANDARD_TIME.local_minus_utc());
        match self.cycle {
            SettlementCycle::Immediate => None,
            SettlementCycle::Hour => Some((t.div_euclid(HOUR) + 1) * HOUR),
            SettlementCycle::Day => Some(((t + zone).div_euclid(DAY) + 1) * DAY - zone),
            SettlementCycle::Month => {
                let local = DateTime::<Utc>::from_timestamp(t, 0)?.with_timezone(&CHINA_STANDARD_TIME);
                let (year, month) = match local.month() {
                    12 => (local.year() + 1, 1),
                    m => (local.year(), m + 1),
                };
                let first = NaiveDate::from_ymd_opt(year, month, 1)?.and_hms_opt(0, 0, 0)?;
                CHINA_STANDARD_TIME
                    .from_local_datetime(&first)
                    .single()
                    .map(|d| d.timestamp())
            }
        }
    }

    /// Whether a period ending at `end` is deducted by `now`.
    pub fn is_due(&self, end: i64, now: DateTime<Utc>) -> bool {
        let lag = i64::try_from(self.lag.as_secs()).unwrap_or(i64::MAX);
        end.saturating_add(lag) <= now.timestamp()
    }
}

/// Traffic not yet deducted: bytes per `Region` (0 mainland … 8 Africa)
/// and HTTPS requests.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Usage {
    /// Bytes of each billing region, indexed by its `Region` number.
    pub traffic: [f64; 9],
    /// HTTPS requests, worldwide.
    pub https: f64,
}

impl Usage {
    /// Adds `other` to this.
    pub fn add(&mut self, other: &Usage) {
        for (mine, theirs) in self.traffic.iter_mut().zip(other.traffic) {
            *mine += theirs;
        }
        self.https += other.https;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cdnquota_core::testing::at;

    #[test]
    fn periods_end_on_the_hour_and_at_china_midnight_and_month_start() {
        let t = at("2026-06-01 10:20:00").timestamp();
        let hourly = Settlement::default();
        assert_eq!(hourly.lag, Duration::from_secs(3 * 3600));
        assert_eq!(hourly.period_end(t), Some(at("2026-06-01 11:00:00").timestamp()));
        // China midnight is 16:00 UTC: 10:20 UTC is already June 1st 18:20 there.
        let daily = Settlement::daily(Duration::from_secs(3600));
        assert_eq!(daily.period_end(t), Some(at("2026-06-01 16:00:00").timestamp()));
        let late = at("2026-06-01 17:00:00").timestamp();
        assert_eq!(daily.period_end(late), Some(at("2026-06-02 16:00:00").timestamp()));
        let monthly = Settlement::monthly(Duration::ZERO);
        assert_eq!(monthly.period_end(t), Some(at("2026-06-30 16:00:00").timestamp()));
        let december = at("2026-12-31 16:30:00").timestamp();
        assert_eq!(
            monthly.period_end(december),
            Some(at("2027-01-31 16:00:00").timestamp())
        );
        assert_eq!(Settlement::IMMEDIATE.period_end(t), None);
    }
}
