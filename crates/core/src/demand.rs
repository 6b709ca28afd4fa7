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
//! - **holidays and make-up working days** ([`crate::calendar`]) are not
//!   learnt as a normal week: a holiday hour is forecast at the holiday
//!   factor learnt from the holiday hours seen (or configured), a make-up
//!   day as its nearest weekday;
//! - **one-off hours** ([`crate::outliers`]) are kept out of the profile;
//! - a **level shift** ([`crate::level_shift`]) re-bases it: learnt from
//!   before the shift, scaled by the hours since;
//! - a **monthly cycle** ([`crate::monthly`]), a batch in the month's last
//!   days, is kept out of it and forecast on those days of this month.
//!
//! The early bound is the same demand raised by how far three days of real
//! traffic ran above the profile in the last two weeks (mean plus one
//! standard deviation, 5 to 35 %), with a surge fading half as fast.

use crate::calendar::{DayKind, MarkedSpan, Marks};
use crate::level_shift::{self, LevelShift};
use crate::monthly;
use crate::outliers::{Oddity, oddities};
use crate::series::Series;
use crate::settings::ForecastSettings;
use crate::usage::{HOUR, HourlyUsage, KEEP_HOURS};
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
    /// Holidays and make-up days from `now` on.
    marks: Marks,
    /// Holiday traffic over the profile's.
    holiday_factor: f64,
    /// The days of the months ahead with a monthly factor, `(start, end,
    /// factor)` in UTC seconds, sorted.
    monthly: Vec<(i64, i64, f64)>,
    /// What went into it beside the basis, for people.
    pub components: Components,
}

/// What the forecast used beside its basis, said in `check`, the mail and
/// the status page.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Components {
    /// Holidays in the history or the next 30 days, by name.
    pub holidays: Vec<String>,
    /// The holiday factor and the holiday hours it was learnt from (0:
    /// the configured factor).
    pub holiday_factor: Option<(f64, usize)>,
    /// A year ahead without a State Council notice in this build.
    pub unpublished_year: Option<i32>,
    /// Hours left out of the profile as one-off events.
    pub outlier_hours: usize,
    /// Hours of ordinary surges whose traffic is spread over every hour
    /// (since a shift, if there was one; not holiday or month-end days).
    pub surge_hours: usize,
    /// What that adds to every hour (0.05: 5 %).
    pub surge_share: f64,
    /// A lasting change of level the profile was re-based on.
    pub level_shift: Option<LevelShift>,
    /// The factor of each of the month's last days (the last first), when
    /// there is a monthly cycle.
    pub monthly: Option<[f64; monthly::POSITIONS]>,
}

const SURGE_HALF_LIFE_HOURS: f64 = 3.0;
/// The last hours this much above the profile are a surge.
const SURGE_THRESHOLD: f64 = 1.4;
const WEEK_HOURS: i64 = 168;
const GROWTH_HORIZON_HOURS: f64 = 14.0 * 24.0;
/// The profile's window: five weeks.
const WINDOW_HOURS: i64 = 35 * 24;
/// Holiday hours needed before the factor is learnt rather than configured.
const MIN_HOLIDAY_HOURS: usize = 12;
/// How far ahead the calendar is read: past a year of demand.
const MARKS_AHEAD_SECONDS: i64 = 400 * 86_400;

fn slot_of(hour_start: i64, slots: usize) -> usize {
    // Unix time 0 is a Thursday 00:00 UTC; any fixed origin gives the same
    // cycle, so slots are simply counted from it.
    (hour_start.div_euclid(HOUR)).rem_euclid(slots as i64) as usize
}

/// A weighted mean per slot over the hours `learn` keeps among the first
/// `upto` of `series`, recent hours weighing more: each `period` back
/// multiplies the weight by `decay`.
fn profile(series: &Series, upto: usize, learn: &dyn Fn(usize) -> bool, slots: usize, decay: f64) -> Vec<Option<f64>> {
    let period = slots as i64 * HOUR;
    let to = series.start(upto);
    let mut sum = vec![0.0; slots];
    let mut weight = vec![0.0; slots];
    for i in (0..upto.min(series.len())).filter(|i| learn(*i)) {
        let Some(rate) = series.rates[i] else { continue };
        let start = series.start(i);
        let w = decay.powi(((to - start) / period) as i32);
        let s = slot_of(start, slots);
        sum[s] += rate * w;
        weight[s] += w;
    }
    sum.iter()
        .zip(&weight)
        .map(|(s, w)| (*w > 0.0).then(|| s / w))
        .collect()
}

/// The least an hour-of-day profile's early bound allows above it: a
/// weekend commonly runs 15 to 40 % under the weekdays, and two days of
/// history may hold nothing else.
const HOUR_OF_DAY_MARGIN: f64 = 0.3;
/// Hours of the last day that must be seen for a cold start to read
/// their mean rather than the last polls' rate.
const COLD_START_HOURS: usize = 12;
/// Above this many times that mean, the last polls' rate is a surge going
/// on, and is read instead: a daily cycle's peak runs under 2 times its
/// mean.
const COLD_START_SURGE: f64 = 2.5;

/// The flat rate of a cold start (no daily profile yet) from the hours of
/// `series` (the current one last) and the `recent` polls' rate. The last
/// polls swing with the hour of day (an evening peak can be five times the
/// night), so a forecast made on them fires at the peak and resolves at
/// night; the mean of the hours seen in the last day does not swing.
fn cold_start_rate(series: &Series, recent: Option<f64>) -> Option<f64> {
    let end = series.len().saturating_sub(1);
    let (sum, hours) = series.rates[end.saturating_sub(24)..end]
        .iter()
        .flatten()
        .fold((0.0, 0), |(s, n), r| (s + r, n + 1));
    if hours < COLD_START_HOURS {
        return recent;
    }
    let mean = sum / hours as f64;
    Some(match recent {
        Some(r) if r > COLD_START_SURGE * mean => r,
        _ => mean,
    })
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
    pub fn build(
        usage: &HourlyUsage,
        recent_rate: Option<f64>,
        settings: &ForecastSettings,
        now: DateTime<Utc>,
    ) -> Demand {
        let history = usage.span(now);
        let t = now.timestamp();
        let current_hour = t.div_euclid(HOUR) * HOUR;
        let window_start = current_hour - WINDOW_HOURS * HOUR;
        // Holidays are rare: their factor is learnt from all the history
        // kept, not just the profile's window.
        let history_start = current_hour - KEEP_HOURS as i64 * HOUR;
        let marks = settings.calendar.marks(history_start, t + MARKS_AHEAD_SECONDS);
        let nothing = |basis, marks: Marks| Demand {
            now,
            basis,
            history,
            profile: vec![recent_rate.unwrap_or(0.0).max(0.0)],
            growth_per_day: 1.0,
            surge: 1.0,
            early_factor: 1.25,
            components: Components {
                unpublished_year: marks.unpublished,
                ..Components::default()
            },
            marks,
            holiday_factor: 1.0,
            monthly: Vec::new(),
        };
        let days = history.as_secs_f64() / 86_400.0;
        // The window holds the current hour too: the surge is read on it.
        let series = Series::of(usage, window_start, current_hour + HOUR);
        let end = series.len();
        // Span alone could mislead (one hour seen ten days ago and today's):
        // a profile also needs half its hours observed.
        let observed = series.rates[..end - 1].iter().flatten().count();
        let (slots, decay, basis) = if days >= 7.0 && observed >= 84 {
            (WEEK_HOURS as usize, 0.7, Basis::HourOfWeek)
        } else if days >= 2.0 && observed >= 24 {
            (24, 0.8, Basis::HourOfDay)
        } else {
            return match cold_start_rate(&series, recent_rate) {
                Some(r) if r > 0.0 => Demand {
                    profile: vec![r],
                    ..nothing(Basis::RecentRate, marks)
                },
                _ => nothing(Basis::Nothing, marks),
            };
        };
        // Holidays and make-up days are no normal week: kept out of what is
        // learnt as one, and so are one-off hours.
        let marked: Vec<Option<&MarkedSpan>> = (0..end).map(|i| marks.at(series.start(i))).collect();
        let ordinary: Vec<bool> = marked.iter().map(Option::is_none).collect();
        let holiday: Vec<bool> = marked
            .iter()
            .map(|m| m.is_some_and(|m| m.kind == DayKind::Holiday))
            .collect();
        // Each hour's slot; a make-up working day takes its nearest
        // weekday's.
        let slot: Vec<usize> = (0..end)
            .map(|i| slot_of(series.start(i) + marked[i].map_or(0, |m| m.weekday_shift), slots))
            .collect();
        let at_slot = |p: &[f64], i: usize| p[slot[i]];
        // The last three hours (and the current one) are left out of the
        // profile: they are what a surge is measured on, against it.
        let learn_end = end.saturating_sub(4);
        let oddity = oddities(&series, &ordinary);
        let weekly = |usable: &[bool]| {
            let learn = |i: usize| usable[i] && oddity[i] == Oddity::Usual;
            // A history that is all holiday (a daemon started on 1 May) has
            // nothing ordinary to learn: then it learns what it has.
            fill_gaps(self::profile(&series, learn_end, &learn, slots, decay))
                .or_else(|| fill_gaps(self::profile(&series, learn_end, &|_| true, slots, decay)))
        };
        let Some(mut first) = weekly(&ordinary) else {
            return nothing(Basis::Nothing, marks);
        };
        // A cycle by day of month, against that profile; its days are then
        // kept out of the weekly profile too, and measured again against
        // the cleaner one.
        let month_pos = monthly::positions(&series, settings.calendar.offset());
        let against = |p: &[f64]| (0..end).map(|i| at_slot(p, i)).collect::<Vec<f64>>();
        let mut month = monthly::learn(&series, &against(&first), &ordinary, &month_pos);
        let mut usable = ordinary.clone();
        if let Some(f) = month {
            for (u, p) in usable.iter_mut().zip(&month_pos) {
                *u &= !p.is_some_and(|p| f[p] != 1.0);
            }
            // The one-off hours stay as found: a month-end day was judged
            // against other days, and it is left out now anyway.
            if let Some(p) = weekly(&usable) {
                first = p;
                month = monthly::learn(&series, &against(&first), &ordinary, &month_pos).or(month);
            }
        }
        let month_factor = |i: usize| month_pos[i].zip(month).map_or(1.0, |(p, f)| f[p]);
        let learn = |i: usize| usable[i] && oddity[i] == Oddity::Usual;

        // A lasting change of level: the profile is learnt from before it
        // and scaled by the hours since.
        // It is measured against a profile of the weeks before the hours it
        // is looked for in: one that had learnt the new level in some slots
        // and not others would hide it.
        let ref_end = learn_end.saturating_sub(level_shift::LOOK_BACK_HOURS);
        let known_before = (0..ref_end).filter(|i| learn(*i) && series.rates[*i].is_some()).count();
        let reference = (basis == Basis::HourOfWeek && known_before >= 7 * 24)
            .then(|| fill_gaps(self::profile(&series, ref_end, &learn, slots, decay)))
            .flatten();
        let shift = reference.and_then(|r| {
            let expected: Vec<f64> = (0..end).map(|i| at_slot(&r, i)).collect();
            level_shift::detect(&series, &expected, &usable, end)
        });
        let shift_index = shift.and_then(|s| series.index(s.since));
        let mut profile = match shift_index {
            Some(s) => fill_gaps(self::profile(&series, s, &learn, slots, decay)).unwrap_or(first),
            None => first,
        };

        // Holiday traffic against the profile: from the holiday going on
        // once 12 of its hours are seen (the best evidence of itself), else
        // from every holiday hour in the history, else the configured factor.
        let sum_over = |keep: &dyn Fn(usize) -> bool| {
            let (mut actual, mut expected, mut hours) = (0.0, 0.0, 0);
            for i in (0..end).filter(|i| holiday[*i] && keep(*i)) {
                if let Some(rate) = series.rates[i] {
                    actual += rate;
                    expected += at_slot(&profile, i);
                    hours += 1;
                }
            }
            (actual, expected, hours)
        };
        let current = marks.at(current_hour).filter(|m| m.kind == DayKind::Holiday);
        let ongoing = current.map(|m| sum_over(&|i| (m.start..m.end).contains(&series.start(i))));
        let (h_actual, h_profile, h_hours) = match ongoing {
            Some(o) if o.2 >= MIN_HOLIDAY_HOURS => o,
            _ => {
                let (mut a, mut p, mut n) = sum_over(&|_| true);
                // Before the window: the same slots, so the same profile.
                for m in marks.holiday_spans(history_start, window_start) {
                    for (start, rate) in usage.rates(m.start.max(history_start), m.end.min(window_start)) {
                        a += rate;
                        p += profile[slot_of(start + m.weekday_shift, slots)];
                        n += 1;
                    }
                }
                (a, p, n)
            }
        };
        let learnt = (h_hours >= MIN_HOLIDAY_HOURS && h_profile > 0.0).then(|| (h_actual / h_profile).clamp(0.1, 5.0));
        let holiday_factor = learnt.unwrap_or(settings.holiday_factor);

        // Level: the last 24 ordinary hours before the last three, against
        // the profile, leaving out hours far off it (a surge, an outage) so
        // that they do not lift or sink the whole forecast. After a shift:
        // every hour since it.
        let (mut actual, mut predicted, mut hours) = (0.0, 0.0, 0);
        match shift_index {
            Some(s) => {
                for i in (s..end).filter(|i| learn(*i)) {
                    if let Some(rate) = series.rates[i] {
                        actual += rate;
                        predicted += at_slot(&profile, i);
                        hours += 1;
                    }
                }
            }
            None => {
                let mut seen = 0;
                for i in (0..learn_end)
                    .rev()
                    .filter(|i| usable[*i])
                    .take_while(|i| end - i <= 10 * 24)
                {
                    let Some(rate) = series.rates[i] else { continue };
                    seen += 1;
                    let p = at_slot(&profile, i);
                    if p > 0.0 && (0.4..1.8).contains(&(rate / p)) {
                        actual += rate;
                        predicted += p;
                        hours += 1;
                    }
                    if seen >= 24 {
                        break;
                    }
                }
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
        // Ordinary surges recur, but not at the hour of the week they came
        // at: what they carried above the profile (since a shift, if there
        // was one) is spread over every hour.
        let (mut excess, mut total, mut surge_hours) = (0.0, 0.0, 0);
        for i in shift_index.unwrap_or(0)..learn_end {
            if let (Some(rate), true) = (series.rates[i], usable[i] && oddity[i] != Oddity::OneOff) {
                let p = at_slot(&profile, i);
                total += p;
                if oddity[i] == Oddity::Surge {
                    excess += (rate - p).max(0.0);
                    surge_hours += 1;
                }
            }
        }
        let surge_share = if total > 0.0 { (excess / total).min(0.5) } else { 0.0 };
        for p in &mut profile {
            *p *= 1.0 + surge_share;
        }
        if profile.iter().all(|p| *p <= 0.0) {
            return nothing(Basis::Nothing, marks);
        }
        let expected = |i: usize| {
            let p = at_slot(&profile, i) * month_factor(i);
            if holiday[i] { p * holiday_factor } else { p }
        };

        // Surge: the last three hours and the current one, against the
        // scaled profile.
        let (mut actual, mut predicted, mut hours) = (0.0, 0.0, 0);
        for i in learn_end..end {
            if let Some(rate) = series.rates[i] {
                actual += rate;
                predicted += expected(i);
                hours += 1;
            }
        }
        // One hour is not a surge: it could be one odd reading.
        let ratio = if predicted > 0.0 && hours >= 2 {
            actual / predicted
        } else {
            1.0
        };
        let surge = if ratio >= SURGE_THRESHOLD { ratio.min(10.0) } else { 1.0 };

        // Growth: the last week against the week before, per day, damped;
        // ordinary hours only. A shift is no growth.
        let mean = |from: usize, to: usize| {
            let (sum, n) = (from..to)
                .filter(|i| learn(*i))
                .filter_map(|i| series.rates[i])
                .fold((0.0, 0), |(s, n), r| (s + r, n + 1));
            (n >= 24 * 5).then(|| sum / n as f64)
        };
        let week = WEEK_HOURS as usize;
        let growth_per_day = match (
            shift,
            mean(end.saturating_sub(week + 1), end - 1),
            mean(end.saturating_sub(2 * week + 1), end.saturating_sub(week + 1)),
        ) {
            (None, Some(last), Some(before)) if before > 0.0 => (last / before).powf(1.0 / 7.0).clamp(0.96, 1.04),
            _ => 1.0,
        };

        // Early bound: how far three days of real traffic ran above the
        // forecast over the last two weeks (surges included), one standard
        // deviation above the mean; only since a shift, if there was one.
        let mut errors = Vec::new();
        for d in 1..=11 {
            let Some(to) = (end - 1).checked_sub(d * 24) else { break };
            let Some(from) = to.checked_sub(72) else { break };
            if shift_index.is_some_and(|s| from < s) {
                break;
            }
            let (mut a, mut p, mut n) = (0.0, 0.0, 0);
            for i in from..to {
                if let Some(rate) = series.rates[i] {
                    a += rate;
                    p += expected(i);
                    n += 1;
                }
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
        // Under a week of history the weekly cycle is unknown: a profile
        // learnt on a quiet weekend runs low all week.
        let upper = if basis == Basis::HourOfDay {
            upper.max(HOUR_OF_DAY_MARGIN)
        } else {
            upper
        };
        let holidays = marks
            .holidays_between(window_start, t + 30 * 86_400)
            .into_iter()
            .map(str::to_string)
            .collect();
        Demand {
            now,
            basis,
            history,
            profile,
            growth_per_day,
            surge,
            early_factor: 1.0 + upper.clamp(0.15, 0.4),
            components: Components {
                holidays,
                holiday_factor: Some((holiday_factor, if learnt.is_some() { h_hours } else { 0 })),
                unpublished_year: marks.unpublished,
                outlier_hours: oddity[..learn_end].iter().filter(|o| **o == Oddity::OneOff).count(),
                surge_hours,
                surge_share,
                level_shift: shift,
                monthly: month,
            },
            marks,
            holiday_factor,
            monthly: month.map_or_else(Vec::new, |f| {
                monthly::spans(&f, t, t + MARKS_AHEAD_SECONDS, settings.calendar.offset())
            }),
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
            marks: Marks::default(),
            holiday_factor: 1.0,
            monthly: Vec::new(),
            components: Components::default(),
        }
    }

    /// How the forecast is made, basis and components, in words for people:
    /// "hour-of-week profile from 35 days of history, holiday-adjusted
    /// (国庆节: holiday traffic x0.52, from 60 holiday hours), ...".
    pub fn describe(&self) -> String {
        let mut out = self.basis.describe(self.history);
        let c = &self.components;
        if !c.holidays.is_empty() {
            let factor = match c.holiday_factor {
                Some((f, 0)) => format!("holiday traffic x{f:.2}, configured"),
                Some((f, hours)) => format!("holiday traffic x{f:.2}, from {hours} holiday hours"),
                None => "holidays kept out of the profile".into(),
            };
            out.push_str(&format!(", holiday-adjusted ({}: {factor})", c.holidays.join(", ")));
        }
        if c.outlier_hours > 0 {
            out.push_str(&format!(", {} one-off hours left out", c.outlier_hours));
        }
        if c.surge_hours > 0 {
            out.push_str(&format!(
                ", {} surge hours spread over the week (+{:.0} %)",
                c.surge_hours,
                100.0 * c.surge_share
            ));
        }
        if let Some(s) = c.level_shift {
            let since = DateTime::<Utc>::from_timestamp(s.since, 0).unwrap_or(self.now);
            out.push_str(&format!(
                ", re-based on a level shift x{:.2} since {} UTC",
                s.factor,
                since.format("%Y-%m-%d %H:%M")
            ));
        }
        if let Some(f) = c.monthly {
            let days: Vec<String> = f
                .iter()
                .enumerate()
                .filter(|(_, f)| **f != 1.0)
                .map(|(p, f)| {
                    let day = ["last day", "2nd-last", "3rd-last", "4th-last", "5th-last"]
                        .get(p)
                        .unwrap_or(&"");
                    format!("{day} x{f:.2}")
                })
                .collect();
            out.push_str(&format!(", monthly cycle (the month's {})", days.join(", ")));
        }
        if let Some(y) = c.unpublished_year {
            out.push_str(&format!(
                "; {y}: statutory holidays only, no State Council notice in this build (add [forecast] holidays)"
            ));
        }
        out
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
        let mark = self.marks.at(start);
        let mut base = self.profile[slot_of(start + mark.map_or(0, |m| m.weekday_shift), self.profile.len())];
        if mark.is_some_and(|m| m.kind == DayKind::Holiday) {
            base *= self.holiday_factor;
        }
        if !self.monthly.is_empty() {
            let i = self.monthly.partition_point(|(_, end, _)| *end <= start);
            if let Some((_, _, f)) = self.monthly.get(i).filter(|(from, _, _)| *from <= start) {
                base *= f;
            }
        }
        let hours = ((start - self.now.timestamp().div_euclid(HOUR) * HOUR) / HOUR) as f64;
        // Growth is carried two weeks ahead at most: compounded over the
        // whole horizon it would make far-off dates meaningless.
        // (This runs for every hour the drain steps through: powers are
        // taken only where they change anything.)
        let growth = if self.growth_per_day == 1.0 {
            1.0
        } else {
            self.growth_per_day.powf(hours.min(GROWTH_HORIZON_HOURS) / 24.0)
        };
        // The early bound lets a surge fade half as fast.
        let half_life = if early {
            2.0 * SURGE_HALF_LIFE_HOURS
        } else {
            SURGE_HALF_LIFE_HOURS
        };
        let surge = if self.surge == 1.0 {
            1.0
        } else {
            1.0 + (self.surge - 1.0) * 0.5f64.powf(hours / half_life)
        };
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
        let d = Demand::build(&u, Some(100.0), &ForecastSettings::default(), now);
        assert_eq!(d.basis, Basis::HourOfDay);
        // Now is night: 100 B/s. Eight hours on is the 600 B/s afternoon.
        assert!((d.rate(0.0) - 100.0).abs() < 1.0, "{}", d.rate(0.0));
        assert!((d.rate(8.0 * 3600.0) - 600.0).abs() < 6.0, "{}", d.rate(8.0 * 3600.0));
        // Five days ran exactly on the profile, but hold no weekly cycle:
        // the early bound allows 30 % (a quiet weekend may be all it saw).
        assert!(
            (d.early_rate(0.0) / d.rate(0.0) - 1.3).abs() < 1e-9,
            "{}",
            d.early_rate(0.0)
        );
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
        let d = Demand::build(&u, Some(300.0), &ForecastSettings::default(), now);
        let surge = d.surging().expect("a surge");
        assert!((surge - 3.0).abs() < 0.1, "{surge}");
        assert!(d.rate(0.0) > 250.0, "{}", d.rate(0.0));
        assert!(d.rate(3.0 * 3600.0) < d.rate(0.0) && d.rate(3.0 * 3600.0) > 150.0);
        assert!(d.rate(24.0 * 3600.0) < 110.0, "{}", d.rate(24.0 * 3600.0));
    }

    #[test]
    fn a_cold_start_reads_the_mean_of_its_hours_not_the_evening_peak() {
        let now = at("2026-06-10 20:30:00");
        // 20 whole hours from 00:00: twelve at 100 B/s, eight at 400 (an
        // evening), then the current hour.
        let mut u = HourlyUsage::new();
        let first = at("2026-06-10 00:00:00");
        for h in 0..20 {
            let t = first + TimeDelta::hours(h);
            let rate = if h < 12 { 100 } else { 400 };
            u.add_interval(t, t + TimeDelta::hours(1), rate * 3600);
        }
        let build = |recent| Demand::build(&u, Some(recent), &ForecastSettings::default(), now);
        // The last polls ran at 400: the mean of the 20 hours is (12 x 100
        // + 8 x 400) / 20 = 220, and that is what is forecast.
        let d = build(400.0);
        assert_eq!(d.basis, Basis::RecentRate);
        assert!((d.rate(0.0) - 220.0).abs() < 1e-9, "{}", d.rate(0.0));
        // Above 2.5 x 220 = 550, the last polls are a surge: read as they are.
        assert_eq!(build(600.0).rate(0.0), 600.0);
        // Under 12 hours seen, only the last polls are there to read.
        let mut few = HourlyUsage::new();
        for h in 12..20 {
            let t = first + TimeDelta::hours(h);
            few.add_interval(t, t + TimeDelta::hours(1), 400 * 3600);
        }
        let d = Demand::build(&few, Some(380.0), &ForecastSettings::default(), now);
        assert_eq!(d.rate(0.0), 380.0);
    }

    #[test]
    fn short_history_falls_back_and_says_so() {
        let now = at("2026-06-10 06:00:00");
        let d = Demand::build(&HourlyUsage::new(), Some(42.0), &ForecastSettings::default(), now);
        assert_eq!(d.basis, Basis::RecentRate);
        assert_eq!(d.rate(86_400.0), 42.0);
        assert!(d.basis.describe(Duration::from_secs(3600)).contains("recent rate only"));
        assert_eq!(
            Demand::build(&HourlyUsage::new(), None, &ForecastSettings::default(), now).basis,
            Basis::Nothing
        );
        let weeks = cycle(8, 100.0, 100.0, now);
        assert_eq!(
            Demand::build(&weeks, None, &ForecastSettings::default(), now).basis,
            Basis::HourOfWeek
        );
    }
    /// Hourly usage at `rate(t)` B/s for every hour from `from` to `to`.
    fn series(from: &str, to: &str, rate: impl Fn(DateTime<Utc>) -> f64) -> HourlyUsage {
        let mut u = HourlyUsage::new();
        let (mut t, end) = (at(from), at(to));
        while t < end {
            let next = t + TimeDelta::hours(1);
            u.add_interval(t, next, (rate(t) * 3600.0) as u64);
            t = next;
        }
        u
    }

    fn build(u: &HourlyUsage, now: &str) -> Demand {
        Demand::build(u, None, &ForecastSettings::default(), at(now))
    }

    /// Golden Week 2026 in UTC: 30 September 16:00 to 7 October 16:00.
    fn golden_week(t: DateTime<Utc>) -> bool {
        (at("2026-09-30 16:00:00")..at("2026-10-07 16:00:00")).contains(&t)
    }

    #[test]
    fn a_holiday_is_forecast_at_its_own_level_and_the_days_after_at_the_usual_one() {
        // Four weeks at a flat 100 B/s, then Golden Week at 50 B/s. The
        // Mid-Autumn weekend (25-27 September) is at 100 here: a holiday
        // with no change, so it brings the holiday factor towards 1.
        let u = series("2026-09-02 00:00:00", "2026-10-03 04:00:00", |t| {
            if golden_week(t) { 50.0 } else { 100.0 }
        });
        let d = build(&u, "2026-10-03 04:00:00");
        // Golden Week has gone on for 60 hours (since 30 September 16:00
        // UTC), at 50 B/s against a profile of 100: x0.50, from its own
        // hours; Mid-Autumn's 72 hours at 100 count only before that.
        let (factor, hours) = d.components.holiday_factor.expect("a factor");
        assert_eq!(hours, 60);
        assert!((factor - 0.5).abs() < 0.01, "{factor}");
        // The level comes from the last ordinary day, before the holiday:
        // 100 B/s, not the holiday's 50 (which would halve every day after).
        assert!((d.rate(0.0) - 50.0).abs() < 1.0, "{}", d.rate(0.0));
        let after = (at("2026-10-09 04:00:00") - at("2026-10-03 04:00:00")).num_seconds() as f64;
        assert!((d.rate(after) - 100.0).abs() < 1.5, "{}", d.rate(after));
        assert!(
            d.describe()
                .contains("holiday-adjusted (中秋节, 国庆节: holiday traffic x0.50, from 60 holiday hours)"),
            "{}",
            d.describe()
        );
        // The evening before it, only Mid-Autumn has been seen: its 72
        // hours at 100 B/s give x1.00 for Golden Week too.
        let before = build(&u, "2026-09-30 12:00:00");
        let (factor, hours) = before.components.holiday_factor.expect("a factor");
        assert_eq!(hours, 72);
        assert!((factor - 1.0).abs() < 0.01, "{factor}");
    }

    #[test]
    fn a_holiday_does_not_come_back_a_week_later() {
        // A week after Golden Week at 20 B/s: its hours were never learnt
        // as that week's, so the same hours a week on are forecast at 100.
        let u = series("2026-09-02 00:00:00", "2026-10-13 04:00:00", |t| {
            if golden_week(t) { 20.0 } else { 100.0 }
        });
        let d = build(&u, "2026-10-13 04:00:00");
        for h in [0.0, 24.0, 48.0] {
            assert!(
                (d.rate(h * 3600.0) - 100.0).abs() < 1.5,
                "{h} h: {}",
                d.rate(h * 3600.0)
            );
        }
    }

    #[test]
    fn a_make_up_saturday_is_forecast_as_the_friday_before() {
        // Weekdays at 100 B/s, weekends at 40, for five weeks, in China
        // time; 10 October 2026 is a Saturday the notice makes a working
        // day. Now is Friday 9 October 12:00 China time (04:00 UTC).
        let weekend = |t: DateTime<Utc>| {
            let local = t + TimeDelta::hours(8);
            matches!(
                chrono::Datelike::weekday(&local),
                chrono::Weekday::Sat | chrono::Weekday::Sun
            )
        };
        let u = series("2026-09-01 00:00:00", "2026-10-09 04:00:00", |t| {
            if weekend(t) { 40.0 } else { 100.0 }
        });
        let d = build(&u, "2026-10-09 04:00:00");
        let ahead = |when: &str| (at(when) - at("2026-10-09 04:00:00")).num_seconds() as f64;
        // Saturday 10 October noon in China: like a Friday.
        assert!((d.rate(ahead("2026-10-10 04:00:00")) - 100.0).abs() < 3.0);
        // Sunday 11 October noon: a weekend day.
        assert!((d.rate(ahead("2026-10-11 04:00:00")) - 40.0).abs() < 3.0);
    }

    /// Five weeks at 100 B/s to 10 June 2026, at `rate` from `from` to
    /// `to`, forecast at their end.
    fn five_weeks_with(from: &str, to: &str, rate: f64) -> Demand {
        let span = at(from)..at(to);
        let u = series("2026-05-06 00:00:00", "2026-06-10 00:00:00", |t| {
            if span.contains(&t) { rate } else { 100.0 }
        });
        build(&u, "2026-06-10 00:00:00")
    }

    #[test]
    fn a_launch_day_does_not_come_back_a_week_later() {
        // Five weeks at 100 B/s; eight days ago, 18 hours at 900 B/s.
        let d = five_weeks_with("2026-06-02 06:00:00", "2026-06-03 00:00:00", 900.0);
        // Those hours a week on (tomorrow 06:00 to 24:00) are forecast at
        // 100, not at a 5-week weighted mean with a 900 in it (about 330).
        let tomorrow = 30.0 * 3600.0;
        assert!((d.rate(tomorrow) - 100.0).abs() < 1.5, "{}", d.rate(tomorrow));
        assert_eq!(d.components.outlier_hours, 18);
        assert!(d.describe().contains("18 one-off hours left out"), "{}", d.describe());
    }

    #[test]
    fn an_ordinary_surge_is_spread_over_the_week_not_replayed_at_its_hour() {
        // Five weeks at 100 B/s; eight days ago, 6 hours at 300 B/s.
        let d = five_weeks_with("2026-06-02 18:00:00", "2026-06-03 00:00:00", 300.0);
        // 3x both medians: a surge, not a one-off. It carried 6 x 200 B/s
        // above the profile, over the 813 ordinary hours learnt (the
        // window's 840, less the last three, less Saturday 9 May, a make-up
        // working day of 2026): +1200 / 81,300 = +1.476 % on every hour.
        assert_eq!(d.components.surge_hours, 6);
        assert_eq!(d.components.outlier_hours, 0);
        let share = d.components.surge_share;
        assert!((share - 1200.0 / 81_300.0).abs() < 1e-9, "{share}");
        // Its own slot a week on (Tuesday 18:00, 162 h ahead) is no higher
        // than any other: not a weighted mean with a 300 in it (about 170).
        for h in [1.0, 162.0] {
            let rate = d.rate(h * 3600.0);
            assert!((rate - 101.476).abs() < 0.01, "{h} h: {rate}");
        }
        assert!(
            d.describe().contains("6 surge hours spread over the week (+1 %)"),
            "{}",
            d.describe()
        );
    }

    #[test]
    fn a_doubling_re_bases_the_forecast_within_a_day_and_is_no_growth() {
        // Five weeks at 100 B/s, doubled 30 hours ago.
        let shift = at("2026-06-08 18:00:00");
        let u = series("2026-05-06 00:00:00", "2026-06-10 00:00:00", |t| {
            if t >= shift { 200.0 } else { 100.0 }
        });
        let d = build(&u, "2026-06-10 00:00:00");
        let s = d.components.level_shift.expect("a shift");
        assert_eq!(s.since, shift.timestamp());
        assert!((s.factor - 2.0).abs() < 0.01, "{}", s.factor);
        // Every hour of the week ahead at 200 B/s: the profile from before
        // the shift, scaled by the hours since; and no growth read into
        // the last week against the one before.
        for h in [0.0, 30.0, 100.0, 160.0] {
            assert!(
                (d.rate(h * 3600.0) - 200.0).abs() < 2.0,
                "{h} h: {}",
                d.rate(h * 3600.0)
            );
        }
        assert!(
            d.describe().contains("level shift x2.00 since 2026-06-08 18:00 UTC"),
            "{}",
            d.describe()
        );
    }
    #[test]
    fn a_month_end_batch_seen_last_month_is_expected_this_month() {
        // 100 B/s since 25 June, with the last three days of June (China
        // time) at 300. Now is 20 July: June's batch is in the window, and
        // 29-31 July are forecast at 3x; 28 July is not.
        let batch = at("2026-06-27 16:00:00")..at("2026-06-30 16:00:00");
        let u = series("2026-06-25 00:00:00", "2026-07-20 00:00:00", |t| {
            if batch.contains(&t) { 300.0 } else { 100.0 }
        });
        let d = build(&u, "2026-07-20 00:00:00");
        assert_eq!(
            d.components.monthly.map(|f| f.map(|x| (x * 10.0).round() / 10.0)),
            Some([3.0, 3.0, 3.0, 1.0, 1.0])
        );
        let ahead = |when: &str| (at(when) - at("2026-07-20 00:00:00")).num_seconds() as f64;
        // 30 July 12:00 in China is 04:00 UTC.
        assert!(
            (d.rate(ahead("2026-07-30 04:00:00")) - 300.0).abs() < 5.0,
            "{}",
            d.rate(ahead("2026-07-30 04:00:00"))
        );
        assert!((d.rate(ahead("2026-07-28 04:00:00")) - 100.0).abs() < 2.0);
        // June's batch is not in the weekly profile: the same hours of the
        // week, a week after it, are forecast at 100 (checked on the 4th).
        assert!((d.rate(ahead("2026-07-21 04:00:00")) - 100.0).abs() < 2.0);
        assert!(
            d.describe()
                .contains("monthly cycle (the month's last day x3.00, 2nd-last x3.00, 3rd-last x3.00)"),
            "{}",
            d.describe()
        );
    }
}
