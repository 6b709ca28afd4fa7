//! `[forecast]`: the calendar the forecast reads. China's public holidays
//! and make-up working days ship with cdnquota; an operator in another
//! market switches them off and adds theirs, and anyone adds a year the
//! build has no State Council notice for.
//!
//! ```toml
//! [forecast]
//! calendar = "china"          # or "none"
//! holiday_factor = 1.0        # holiday traffic over a normal day's, until one is seen
//! holidays = [{ from = "2027-02-05", to = "2027-02-11", name = "春节" }]
//! workdays = [{ date = "2027-02-20", name = "春节" }]
//! ```

use super::values::UtcOffset;
use cdnquota_core::calendar::{Calendar, DayKind};
use cdnquota_core::settings::ForecastSettings;
use chrono::{NaiveDate, TimeDelta};
use serde::{Deserialize, Serialize};
use std::ops::Range;
use toml::Spanned;

/// Which calendar ships in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CalendarName {
    /// China's, from the State Council's notices, in China Standard Time.
    #[default]
    China,
    /// None: only the days written here.
    None,
}

/// Days off, as written: `from` to `to` (both included; `to` defaults to
/// `from`).
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HolidayEntry {
    #[serde(deserialize_with = "date")]
    from: NaiveDate,
    #[serde(default, deserialize_with = "some_date", skip_serializing_if = "Option::is_none")]
    to: Option<NaiveDate>,
    name: String,
}

/// A weekend day that is a working day, as written.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WorkdayEntry {
    #[serde(deserialize_with = "date")]
    date: NaiveDate,
    #[serde(default)]
    name: String,
}

/// A date written as a TOML date (`2027-02-05`) or a string (`"2027-02-05"`).
fn date<'de, D: serde::Deserializer<'de>>(d: D) -> Result<NaiveDate, D::Error> {
    let text = match toml::Value::deserialize(d)? {
        toml::Value::String(s) => s,
        toml::Value::Datetime(dt) => dt.to_string(),
        other => other.to_string(),
    };
    NaiveDate::parse_from_str(&text, "%Y-%m-%d")
        .map_err(|_| serde::de::Error::custom(format!("`{text}` is not a date: use the form 2027-02-05")))
}

fn some_date<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<NaiveDate>, D::Error> {
    date(d).map(Some)
}

/// `[forecast]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawForecast {
    #[serde(default)]
    calendar: CalendarName,
    holiday_factor: Option<Spanned<f64>>,
    utc_offset: Option<UtcOffset>,
    #[serde(default)]
    holidays: Vec<Spanned<HolidayEntry>>,
    #[serde(default)]
    workdays: Vec<WorkdayEntry>,
}

/// `[forecast]` as read, printed back by `cdnquota config`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ForecastConfig {
    /// The calendar that ships in.
    pub calendar: CalendarName,
    /// Holiday traffic over a normal day's until the history shows one.
    pub holiday_factor: f64,
    /// The zone the days below are local to.
    pub utc_offset: UtcOffset,
    /// The operator's own days off.
    pub holidays: Vec<HolidayEntry>,
    /// The operator's own make-up working days.
    pub workdays: Vec<WorkdayEntry>,
}

impl Default for ForecastConfig {
    fn default() -> Self {
        ForecastConfig {
            calendar: CalendarName::China,
            holiday_factor: ForecastSettings::default().holiday_factor,
            utc_offset: UtcOffset::default(),
            holidays: Vec::new(),
            workdays: Vec::new(),
        }
    }
}

impl RawForecast {
    /// Checks the table: a factor that is a share of traffic, days in order.
    pub(super) fn resolve(self) -> Result<ForecastConfig, (Range<usize>, String)> {
        let defaults = ForecastConfig::default();
        let holiday_factor = match self.holiday_factor {
            Some(f) if !(f.get_ref().is_finite() && (0.05..=20.0).contains(f.get_ref())) => {
                return Err((
                    f.span(),
                    format!(
                        "holiday_factor {} is not a share of a normal day's traffic: use a number from 0.05 to 20, e.g. 0.6 for holidays at 60 %",
                        f.get_ref()
                    ),
                ));
            }
            Some(f) => *f.get_ref(),
            None => defaults.holiday_factor,
        };
        let mut holidays = Vec::with_capacity(self.holidays.len());
        for h in self.holidays {
            let span = h.span();
            let h = h.into_inner();
            if h.to.is_some_and(|to| to < h.from) {
                return Err((
                    span,
                    format!(
                        "holiday {:?} ends before it starts: `to` must be on or after `from`",
                        h.name
                    ),
                ));
            }
            holidays.push(h);
        }
        Ok(ForecastConfig {
            calendar: self.calendar,
            holiday_factor,
            utc_offset: self.utc_offset.unwrap_or(match self.calendar {
                CalendarName::China => defaults.utc_offset,
                CalendarName::None => UtcOffset(chrono::FixedOffset::east_opt(0).unwrap_or(defaults.utc_offset.0)),
            }),
            holidays,
            workdays: self.workdays,
        })
    }
}

impl ForecastConfig {
    /// The core's settings: the shipped calendar with the operator's days
    /// over it, counted in `utc_offset`.
    pub fn settings(&self) -> ForecastSettings {
        let offset = TimeDelta::seconds(i64::from(self.utc_offset.0.local_minus_utc()));
        let mut calendar = match self.calendar {
            CalendarName::China => Calendar::china(),
            CalendarName::None => Calendar::none(),
        }
        .in_offset(offset);
        for h in &self.holidays {
            calendar.mark(h.from, h.to.unwrap_or(h.from), DayKind::Holiday, &h.name);
        }
        for w in &self.workdays {
            calendar.mark(w.date, w.date, DayKind::Workday, &w.name);
        }
        ForecastSettings {
            calendar,
            holiday_factor: self.holiday_factor,
        }
    }
}
