//! Public holidays and make-up working days: the days on which traffic does
//! not follow its week. The forecast neither learns them as a normal week
//! nor forecasts them as one (see [`crate::demand`]).
//!
//! China's calendar ships as data, from the annual notice of the General
//! Office of the State Council (国务院办公厅关于…年部分节假日安排的通知),
//! with its make-up working days (调休上班). A year whose notice is not in
//! this build falls back to the statutory days alone (全国年节及纪念日放假办法,
//! as revised in 2024): the dates the notice cannot move, without the
//! bridges and make-up days it adds. An operator adds their own days.

use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, Utc, Weekday};
use std::collections::BTreeMap;

/// What a calendar says of one local day.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DayKind {
    /// A public holiday (放假): traffic unlike its weekday.
    Holiday,
    /// A Saturday or Sunday that is a working day (调休上班): traffic like a
    /// weekday.
    Workday,
}

/// One marked day.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MarkedDay {
    /// Holiday or working day.
    pub kind: DayKind,
    /// The holiday it belongs to (国庆节), for people.
    pub name: String,
}

/// How much a calendar knows of a year.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Coverage {
    /// The State Council's notice: every holiday and make-up day.
    Notice(&'static str),
    /// No notice in this build: the statutory days only.
    Statutory,
    /// Nothing shipped for the year (the operator's own days still count).
    Unknown,
}

/// The local days that are holidays or make-up working days.
#[derive(Clone, Debug, PartialEq)]
pub struct Calendar {
    /// The market's offset from UTC: a day is a local day there.
    offset: TimeDelta,
    days: BTreeMap<NaiveDate, MarkedDay>,
    /// Years the shipped data covers, and how.
    coverage: BTreeMap<i32, Coverage>,
}

/// A holiday in a table: its name, first and last day (month, day).
type HolidayRow = (&'static str, (u32, u32), (u32, u32));

/// A year's arrangement: the notice, its holidays (name, first and last
/// day, as month and day) and its make-up working days.
struct Notice {
    year: i32,
    number: &'static str,
    holidays: &'static [HolidayRow],
    workdays: &'static [(&'static str, (u32, u32))],
}

/// China's arrangements as published. Sources: 国办发明电〔2023〕7号 (2024,
/// 25 October 2023), 国办发明电〔2024〕12号 (2025, 12 November 2024),
/// 国办发明电〔2025〕7号 (2026, 4 November 2025). "与周末连休" (joined to
/// the weekend) counts the weekend as part of the holiday: traffic does.
const CHINA_NOTICES: [Notice; 3] = [
    Notice {
        year: 2024,
        number: "国办发明电〔2023〕7号",
        holidays: &[
            ("元旦", (1, 1), (1, 1)),
            ("春节", (2, 10), (2, 17)),
            ("清明节", (4, 4), (4, 6)),
            ("劳动节", (5, 1), (5, 5)),
            ("端午节", (6, 8), (6, 10)),
            ("中秋节", (9, 15), (9, 17)),
            ("国庆节", (10, 1), (10, 7)),
        ],
        workdays: &[
            ("春节", (2, 4)),
            ("春节", (2, 18)),
            ("清明节", (4, 7)),
            ("劳动节", (4, 28)),
            ("劳动节", (5, 11)),
            ("中秋节", (9, 14)),
            ("国庆节", (9, 29)),
            ("国庆节", (10, 12)),
        ],
    },
    Notice {
        year: 2025,
        number: "国办发明电〔2024〕12号",
        holidays: &[
            ("元旦", (1, 1), (1, 1)),
            ("春节", (1, 28), (2, 4)),
            ("清明节", (4, 4), (4, 6)),
            ("劳动节", (5, 1), (5, 5)),
            ("端午节", (5, 31), (6, 2)),
            ("国庆节、中秋节", (10, 1), (10, 8)),
        ],
        workdays: &[
            ("春节", (1, 26)),
            ("春节", (2, 8)),
            ("劳动节", (4, 27)),
            ("国庆节、中秋节", (9, 28)),
            ("国庆节、中秋节", (10, 11)),
        ],
    },
    Notice {
        year: 2026,
        number: "国办发明电〔2025〕7号",
        holidays: &[
            ("元旦", (1, 1), (1, 3)),
            ("春节", (2, 15), (2, 23)),
            ("清明节", (4, 4), (4, 6)),
            ("劳动节", (5, 1), (5, 5)),
            ("端午节", (6, 19), (6, 21)),
            ("中秋节", (9, 25), (9, 27)),
            ("国庆节", (10, 1), (10, 7)),
        ],
        workdays: &[
            ("元旦", (1, 4)),
            ("春节", (2, 14)),
            ("春节", (2, 28)),
            ("劳动节", (5, 9)),
            ("国庆节", (9, 20)),
            ("国庆节", (10, 10)),
        ],
    },
];

/// Years without a notice in this build, with the statutory days whose
/// dates follow the lunar calendar (除夕 to 初三, 清明, 端午, 中秋); the
/// solar ones (1 January, 1-2 May, 1-3 October) are added for every year.
const CHINA_STATUTORY: [(i32, &[HolidayRow]); 1] = [(
    2027,
    &[
        ("春节", (2, 5), (2, 8)),
        ("清明节", (4, 5), (4, 5)),
        ("端午节", (6, 9), (6, 9)),
        ("中秋节", (9, 15), (9, 15)),
    ],
)];

const CHINA_SOLAR: [HolidayRow; 3] = [
    ("元旦", (1, 1), (1, 1)),
    ("劳动节", (5, 1), (5, 2)),
    ("国庆节", (10, 1), (10, 3)),
];

impl Calendar {
    /// No marked days, in UTC: every day follows its week.
    pub fn none() -> Calendar {
        Calendar {
            offset: TimeDelta::zero(),
            days: BTreeMap::new(),
            coverage: BTreeMap::new(),
        }
    }

    /// China's calendar, in China Standard Time (UTC+8): every published
    /// notice, and the statutory days of the years after them.
    pub fn china() -> Calendar {
        let mut c = Calendar {
            offset: TimeDelta::hours(8),
            ..Calendar::none()
        };
        for n in &CHINA_NOTICES {
            for (name, from, to) in n.holidays {
                c.mark_range(n.year, *from, *to, DayKind::Holiday, name);
            }
            for (name, day) in n.workdays {
                c.mark_range(n.year, *day, *day, DayKind::Workday, name);
            }
            c.coverage.insert(n.year, Coverage::Notice(n.number));
        }
        for (year, lunar) in &CHINA_STATUTORY {
            for (name, from, to) in lunar.iter().chain(&CHINA_SOLAR) {
                c.mark_range(*year, *from, *to, DayKind::Holiday, name);
            }
            c.coverage.insert(*year, Coverage::Statutory);
        }
        c
    }

    /// The same calendar with the local day counted from UTC + `offset`.
    pub fn in_offset(mut self, offset: TimeDelta) -> Calendar {
        self.offset = offset;
        self
    }

    /// The market's offset from UTC.
    pub fn offset(&self) -> TimeDelta {
        self.offset
    }

    /// Marks `from` to `to` (both included) as `kind`, over what was there.
    pub fn mark(&mut self, from: NaiveDate, to: NaiveDate, kind: DayKind, name: &str) {
        for day in from.iter_days().take_while(|d| *d <= to) {
            self.days.insert(
                day,
                MarkedDay {
                    kind,
                    name: name.to_string(),
                },
            );
        }
    }

    fn mark_range(&mut self, year: i32, from: (u32, u32), to: (u32, u32), kind: DayKind, name: &str) {
        // The tests read every date of the tables above: a bad one is a bug
        // in this file, which the daemon leaves out rather than panic on.
        if let (Some(f), Some(t)) = (
            NaiveDate::from_ymd_opt(year, from.0, from.1),
            NaiveDate::from_ymd_opt(year, to.0, to.1),
        ) {
            self.mark(f, t, kind, name);
        }
    }

    /// The local date of the instant `t` (Unix seconds).
    pub fn local_date(&self, t: i64) -> Option<NaiveDate> {
        DateTime::<Utc>::from_timestamp(t, 0).map(|d| (d + self.offset).date_naive())
    }

    /// What the calendar says of the local day holding `t` (Unix seconds).
    pub fn day_at(&self, t: i64) -> Option<&MarkedDay> {
        self.days.get(&self.local_date(t)?)
    }

    /// Whether the hour starting at `t` is in a holiday.
    pub fn is_holiday(&self, t: i64) -> bool {
        self.day_at(t).is_some_and(|d| d.kind == DayKind::Holiday)
    }

    /// Whether the local day holding `t` is a working day: a make-up day,
    /// or a weekday that is not a holiday.
    pub fn is_working_day(&self, t: i64) -> bool {
        match self.day_at(t).map(|d| d.kind) {
            Some(DayKind::Holiday) => false,
            Some(DayKind::Workday) => true,
            None => self
                .local_date(t)
                .is_some_and(|d| !matches!(d.weekday(), Weekday::Sat | Weekday::Sun)),
        }
    }

    /// How a make-up working day is forecast: the same hour of the nearest
    /// weekday (a Saturday as Friday, a Sunday as Monday), in seconds from
    /// `t`; 0 for any other day.
    pub fn weekday_shift(&self, t: i64) -> i64 {
        if !matches!(self.day_at(t).map(|d| d.kind), Some(DayKind::Workday)) {
            return 0;
        }
        match self.local_date(t).map(|d| d.weekday()) {
            Some(Weekday::Sat) => -86_400,
            Some(Weekday::Sun) => 86_400,
            _ => 0,
        }
    }

    /// How much the shipped data knows of `year`.
    pub fn coverage(&self, year: i32) -> Coverage {
        self.coverage.get(&year).copied().unwrap_or(Coverage::Unknown)
    }

    /// The marked days between `from` and `to` (Unix seconds), as spans of
    /// UTC seconds, for fast lookups hour by hour.
    pub fn marks(&self, from: i64, to: i64) -> Marks {
        let (Some(first), Some(last)) = (self.local_date(from), self.local_date(to)) else {
            return Marks::default();
        };
        let mut spans: Vec<MarkedSpan> = Vec::new();
        for (date, day) in self.days.range(first..=last) {
            let start = date.and_time(chrono::NaiveTime::MIN).and_utc().timestamp() - self.offset.num_seconds();
            let shift = self.weekday_shift(start);
            match spans.last_mut() {
                Some(s) if s.end == start && s.kind == day.kind && s.name == day.name && s.weekday_shift == shift => {
                    s.end = start + 86_400;
                }
                _ => spans.push(MarkedSpan {
                    start,
                    end: start + 86_400,
                    kind: day.kind,
                    name: day.name.clone(),
                    weekday_shift: shift,
                }),
            }
        }
        let years = first.year()..=last.year();
        let unpublished = self.last_notice_year().and_then(|_| {
            years
                .into_iter()
                .find(|y| !matches!(self.coverage(*y), Coverage::Notice(_)))
        });
        Marks { spans, unpublished }
    }

    /// The last year with a published notice.
    pub fn last_notice_year(&self) -> Option<i32> {
        self.coverage
            .iter()
            .rev()
            .find(|(_, c)| matches!(c, Coverage::Notice(_)))
            .map(|(y, _)| *y)
    }
}

/// A run of marked days, in UTC seconds.
#[derive(Clone, Debug, PartialEq)]
pub struct MarkedSpan {
    /// Its first second.
    pub start: i64,
    /// The second after it.
    pub end: i64,
    /// Holiday or working day.
    pub kind: DayKind,
    /// The holiday it belongs to.
    pub name: String,
    /// For a make-up working day, where its weekday's hours are (seconds).
    pub weekday_shift: i64,
}

/// The marked days of a stretch of time, sorted.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Marks {
    spans: Vec<MarkedSpan>,
    /// The first year in the stretch the shipped data has no notice for
    /// (China's calendar only).
    pub unpublished: Option<i32>,
}

impl Marks {
    /// The span holding `t`, if any.
    pub fn at(&self, t: i64) -> Option<&MarkedSpan> {
        let i = self.spans.partition_point(|s| s.end <= t);
        self.spans.get(i).filter(|s| s.start <= t)
    }

    /// Whether `t` is in a holiday.
    pub fn is_holiday(&self, t: i64) -> bool {
        self.at(t).is_some_and(|s| s.kind == DayKind::Holiday)
    }

    /// The holiday spans that overlap `[from, to)`, in order.
    pub fn holiday_spans(&self, from: i64, to: i64) -> impl Iterator<Item = &MarkedSpan> {
        self.spans
            .iter()
            .filter(move |s| s.kind == DayKind::Holiday && s.end > from && s.start < to)
    }

    /// The names of the holidays that overlap `[from, to)`, in order, once.
    pub fn holidays_between(&self, from: i64, to: i64) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        for s in self.holiday_spans(from, to) {
            if !names.contains(&s.name.as_str()) {
                names.push(&s.name);
            }
        }
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(date: &str, hour: u32) -> i64 {
        // `hour` local (UTC+8).
        let d = NaiveDate::parse_from_str(date, "%Y-%m-%d").expect("a test date");
        d.and_hms_opt(hour, 0, 0).expect("an hour").and_utc().timestamp() - 8 * 3600
    }

    #[test]
    fn a_make_up_saturday_is_a_working_day_and_is_forecast_as_friday() {
        let c = Calendar::china();
        // 10 October 2026 is a Saturday that the 2026 notice makes a
        // working day (10月10日（周六）上班).
        let t = at("2026-10-10", 10);
        assert_eq!(c.day_at(t).map(|d| d.kind), Some(DayKind::Workday));
        assert!(c.is_working_day(t));
        assert!(!c.is_holiday(t));
        assert_eq!(c.weekday_shift(t), -86_400);
        // 20 September 2026 is the Sunday one: forecast as Monday.
        assert_eq!(c.weekday_shift(at("2026-09-20", 10)), 86_400);
        // The Saturday after is an ordinary weekend day.
        let next = at("2026-10-17", 10);
        assert!(!c.is_working_day(next) && c.day_at(next).is_none());
    }

    #[test]
    fn golden_week_is_seven_holidays_counted_in_china_time() {
        let c = Calendar::china();
        // 1 October 00:00 in China is 30 September 16:00 UTC: already the
        // holiday; 15:00 UTC is still 30 September there.
        assert!(c.is_holiday(at("2026-10-01", 0)));
        assert!(!c.is_holiday(at("2026-10-01", 0) - 3600));
        let days: Vec<bool> = (1..=8)
            .map(|d| c.is_holiday(at(&format!("2026-10-0{d}"), 12)))
            .collect();
        assert_eq!(days, [true, true, true, true, true, true, true, false]);
        assert_eq!(c.day_at(at("2026-10-03", 12)).map(|d| d.name.as_str()), Some("国庆节"));
        // Spring Festival 2026: 15 to 23 February, nine days.
        let spring = (15..=23)
            .filter(|d| c.is_holiday(at(&format!("2026-02-{d}"), 12)))
            .count();
        assert_eq!(spring, 9);
    }

    #[test]
    fn every_make_up_day_is_a_weekend_day_and_no_day_is_both() {
        // What the notices say: 调休上班 falls on a Saturday or a Sunday, and
        // a day is either a holiday or a working day. A typing slip in the
        // tables above breaks one of the two.
        for n in &CHINA_NOTICES {
            for (name, (m, d)) in n.workdays {
                let day = NaiveDate::from_ymd_opt(n.year, *m, *d).expect("a real date");
                assert!(matches!(day.weekday(), Weekday::Sat | Weekday::Sun), "{day} {name}");
                for (_, from, to) in n.holidays {
                    let f = NaiveDate::from_ymd_opt(n.year, from.0, from.1).expect("a real date");
                    let t = NaiveDate::from_ymd_opt(n.year, to.0, to.1).expect("a real date");
                    assert!(f <= t && !(f..=t).contains(&day), "{day} in {f}..{t}");
                }
            }
        }
        // Days off per year, as the notices count them (共…天), with 2024's
        // Dragon Boat weekend joined: 1+8+3+5+3+3+7, 1+8+3+5+3+8, 3+9+3+5+3+3+7.
        let c = Calendar::china();
        let count = |year: i32| {
            c.days
                .iter()
                .filter(|(d, m)| d.year() == year && m.kind == DayKind::Holiday)
                .count()
        };
        assert_eq!((count(2024), count(2025), count(2026)), (30, 28, 33));
        // 2027, statutory: 除夕-初三 4, 清明 1, 端午 1, 中秋 1, 元旦 1,
        // 劳动节 2, 国庆节 3; every date in those tables real.
        for (year, lunar) in &CHINA_STATUTORY {
            for (name, from, to) in lunar.iter().chain(&CHINA_SOLAR) {
                let f = NaiveDate::from_ymd_opt(*year, from.0, from.1).expect("a real date");
                let t = NaiveDate::from_ymd_opt(*year, to.0, to.1).expect("a real date");
                assert!(f <= t, "{name} {f}..{t}");
            }
        }
        assert_eq!(count(2027), 13);
    }

    #[test]
    fn a_year_without_a_notice_has_the_statutory_days_and_says_so() {
        let c = Calendar::china();
        assert_eq!(c.coverage(2026), Coverage::Notice("国办发明电〔2025〕7号"));
        assert_eq!(c.coverage(2027), Coverage::Statutory);
        assert_eq!(c.coverage(2031), Coverage::Unknown);
        assert_eq!(c.last_notice_year(), Some(2026));
        // 2027 National Day: the statutory 1-3 October, not the week a
        // notice would make of it; no make-up days.
        assert!(c.is_holiday(at("2027-10-03", 12)) && !c.is_holiday(at("2027-10-04", 12)));
        // Spring Festival 2027: 除夕 (5 February) to 初三.
        assert!(c.is_holiday(at("2027-02-05", 12)) && c.is_holiday(at("2027-02-08", 12)));
        assert!(!c.is_holiday(at("2027-02-09", 12)));
    }

    #[test]
    fn marks_find_a_day_by_its_utc_seconds_and_name_the_holidays_ahead() {
        let c = Calendar::china();
        let m = c.marks(at("2026-09-15", 0), at("2026-10-20", 0));
        // 国庆节 in UTC: 30 September 16:00 to 7 October 16:00.
        let golden = m.at(at("2026-10-04", 3)).expect("a holiday");
        assert_eq!((golden.start, golden.end), (at("2026-10-01", 0), at("2026-10-08", 0)));
        assert!(m.is_holiday(at("2026-09-26", 12)) && !m.is_holiday(at("2026-09-28", 12)));
        assert_eq!(m.at(at("2026-10-10", 9)).map(|s| s.weekday_shift), Some(-86_400));
        assert_eq!(
            m.holidays_between(at("2026-09-20", 0), at("2026-10-20", 0)),
            ["中秋节", "国庆节"]
        );
        assert_eq!(m.unpublished, None);
        assert_eq!(
            c.marks(at("2026-12-20", 0), at("2027-01-20", 0)).unpublished,
            Some(2027)
        );
        assert_eq!(Calendar::none().marks(0, at("2030-01-01", 0)).unpublished, None);
    }

    #[test]
    fn an_operator_marks_their_own_days_over_the_shipped_ones() {
        let mut c = Calendar::none();
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("a test date");
        c.mark(d("2026-12-24"), d("2026-12-26"), DayKind::Holiday, "Christmas");
        let noon = |s: &str| d(s).and_hms_opt(12, 0, 0).expect("noon").and_utc().timestamp();
        assert!(c.is_holiday(noon("2026-12-25")));
        assert!(!c.is_holiday(noon("2026-12-27")));
        // A shipped make-up day the operator's market does not keep.
        let mut china = Calendar::china();
        china.mark(d("2026-10-10"), d("2026-10-10"), DayKind::Holiday, "own");
        assert!(china.is_holiday(at("2026-10-10", 12)));
    }
}
