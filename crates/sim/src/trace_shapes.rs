//! Traces shaped around one event the forecast gets wrong today: a week of
//! holidays, a month-end batch, a launch day, a lasting level step, a pool
//! that runs dry before any profile exists. Each trace has the cycle, noise
//! and growth of [`generate`](super::trace::generate)'s, but its packages
//! are sized from its own demand so that the pool runs dry where the event
//! tests the forecast; after the last such run-dry the operator buys as in
//! `generate`. All dates are 2026, China time, with the official holidays
//! and make-up working days of that year (国办发明电〔2025〕7号).

use super::trace::{Operator, POLL_EVERY, Purchase, Trace, Usual, package, run, seeded_shape};
use super::traffic::{DayFactor, DayKind, MonthEnd, SplitMix, Step, Surge, TrafficShape};
use chrono::{DateTime, NaiveDate, TimeDelta, Utc};

/// A family of shaped traces, each built around one event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// National Day (1–7 October) and Mid-Autumn (25–27 September), with
    /// the make-up working days 20 September and 10 October.
    GoldenWeek,
    /// Spring Festival (15–23 February) with its make-up Saturdays 14 and
    /// 28 February, and New Year (1–3 January, make-up Sunday 4 January).
    SpringFestival,
    /// A batch in the last 3 days of every month.
    MonthEnd,
    /// One launch day: 9 times the traffic for 18 hours.
    Launch,
    /// Traffic doubles for good (a customer moves in).
    StepUp,
    /// Traffic halves for good (a customer leaves).
    StepDown,
    /// The starting packages hold only 3 to 8 days of traffic.
    ColdStart,
}

impl Shape {
    /// Every shape, in the order tables list them.
    pub const ALL: [Shape; 7] = [
        Shape::GoldenWeek,
        Shape::SpringFestival,
        Shape::MonthEnd,
        Shape::Launch,
        Shape::StepUp,
        Shape::StepDown,
        Shape::ColdStart,
    ];

    /// Its name in tables.
    pub fn name(self) -> &'static str {
        match self {
            Shape::GoldenWeek => "golden week",
            Shape::SpringFestival => "spring festival",
            Shape::MonthEnd => "month end",
            Shape::Launch => "launch",
            Shape::StepUp => "step up",
            Shape::StepDown => "step down",
            Shape::ColdStart => "cold start",
        }
    }
}

/// A run-dry the trace is built to have.
struct Target {
    dry_at: DateTime<Utc>,
    /// Hours from running dry to the purchase, low and high.
    late: (f64, f64),
}

/// Everything a shaped trace is made from, before the polls.
struct Plan {
    first: DateTime<Utc>,
    end: DateTime<Utc>,
    shape: TrafficShape,
    targets: Vec<Target>,
    /// Whether a too-big monthly package may start the trace (not when the
    /// pool must run dry before it expires).
    monthly: bool,
}

/// `hour`:00 China time on 2026-`m`-`d`.
fn cst(m: u32, d: u32, hour: u32) -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(2026, m, d)
        .and_then(|d| d.and_hms_opt(hour, 0, 0))
        .map_or_else(DateTime::<Utc>::default, |t| t.and_utc())
        - TimeDelta::hours(8)
}

/// `base` plus `lo` to `hi` hours, on a poll.
fn around(rng: &mut SplitMix, base: DateTime<Utc>, lo: f64, hi: f64) -> DateTime<Utc> {
    let polls = (rng.range(lo, hi) * 3600.0 / POLL_EVERY as f64) as i64;
    base + TimeDelta::seconds(polls * POLL_EVERY)
}

/// The China-time days `from` to `to` of 2026 (inclusive), all `kind`.
fn days(m: u32, from: u32, to: u32, kind: DayKind) -> Vec<DayFactor> {
    (from..=to)
        .filter_map(|d| NaiveDate::from_ymd_opt(2026, m, d))
        .map(|date| DayFactor { date, kind })
        .collect()
}

/// The whole China-time days `m`-`from` to `m`-`to`, as a window.
fn local_days(m: u32, from: u32, to: u32) -> (i64, i64) {
    (
        cst(m, from, 0).timestamp(),
        (cst(m, to, 0) + TimeDelta::days(1)).timestamp(),
    )
}

fn target(dry_at: DateTime<Utc>) -> Target {
    Target {
        dry_at,
        late: (6.0, 36.0),
    }
}

fn plan(kind: Shape, seed: u64, rng: &mut SplitMix) -> Plan {
    let mut shape = seeded_shape(rng, 0.01, 0);
    // Shapes without a calendar event start in summer, clear of holidays.
    let summer = cst(6, 22, 0) + TimeDelta::days((seed % 7) as i64);
    // Local days and windows (Unix seconds) no ordinary surge may touch:
    // the event itself.
    let mut quiet = Vec::new();
    let mut monthly = true;
    let (first, end, targets) = match kind {
        Shape::GoldenWeek => {
            // 5 to 6 weeks of history before 1 October.
            let first = cst(8, 20, 0) + TimeDelta::days((seed % 7) as i64);
            shape.days.extend(days(9, 20, 20, DayKind::Workday));
            shape
                .days
                .extend(days(9, 25, 27, DayKind::Holiday(rng.range(0.7, 0.9))));
            shape
                .days
                .extend(days(10, 1, 7, DayKind::Holiday(rng.range(0.45, 0.6))));
            shape.days.extend(days(10, 10, 10, DayKind::Workday));
            quiet.extend([local_days(9, 20, 20), local_days(9, 25, 28), local_days(10, 1, 11)]);
            let targets = vec![
                target(around(rng, cst(10, 4, 0), 0.0, 60.0)),
                target(around(rng, cst(10, 12, 6), 0.0, 72.0)),
                target(around(rng, cst(10, 23, 0), 0.0, 72.0)),
            ];
            (first, cst(11, 1, 0), targets)
        }
        Shape::SpringFestival => {
            // New Year's holiday and its make-up Sunday open the history.
            let first = cst(1, 1, 0) + TimeDelta::days((seed % 3) as i64);
            shape.days.extend(days(1, 1, 3, DayKind::Holiday(rng.range(0.6, 0.8))));
            shape.days.extend(days(1, 4, 4, DayKind::Workday));
            shape.days.extend(days(2, 14, 14, DayKind::Workday));
            shape
                .days
                .extend(days(2, 15, 23, DayKind::Holiday(rng.range(0.4, 0.6))));
            shape.days.extend(days(2, 28, 28, DayKind::Workday));
            quiet.extend([local_days(1, 1, 4), local_days(2, 14, 24), local_days(2, 28, 28)]);
            let targets = vec![
                target(around(rng, cst(2, 16, 12), 0.0, 60.0)),
                target(around(rng, cst(2, 25, 12), 0.0, 84.0)),
            ];
            (first, cst(3, 12, 0) + TimeDelta::days((seed % 4) as i64), targets)
        }
        Shape::MonthEnd => {
            let first = cst(6, 1, 0);
            shape.month_end = Some(MonthEnd {
                days: 3,
                factor: rng.range(2.5, 4.0),
            });
            quiet.extend([local_days(6, 28, 30), local_days(7, 29, 31), local_days(8, 29, 31)]);
            // July's run-dry puts a batch in the history; August's tests it.
            let targets = vec![
                target(around(rng, cst(7, 29, 12), 0.0, 72.0)),
                target(around(rng, cst(8, 29, 12), 0.0, 72.0)),
            ];
            (first, first + TimeDelta::days(94 + (seed % 3) as i64), targets)
        }
        Shape::Launch => {
            // A morning 3 to 4 weeks in, 08:00 to 11:00.
            let day = (rng.next_u64() % 8) as i64;
            let launch = summer + TimeDelta::days(21 + day) + TimeDelta::hours(8 + (rng.next_u64() % 4) as i64);
            shape.surges.push(Surge {
                start: launch.timestamp(),
                hours: 18.0,
                factor: 9.0,
            });
            quiet.push((
                (launch - TimeDelta::days(1)).timestamp(),
                (launch + TimeDelta::hours(18 + 24)).timestamp(),
            ));
            // Dry during the launch and bought during it or right after;
            // then dry again about when a week-old profile replays it.
            let during = Target {
                dry_at: around(rng, launch, 5.0, 12.0),
                late: (2.0, 6.0),
            };
            let after = target(around(rng, launch, 5.0 * 24.0, 9.0 * 24.0));
            (summer, launch + TimeDelta::days(16), vec![during, after])
        }
        Shape::StepUp | Shape::StepDown => {
            let at = around(rng, summer + TimeDelta::days(26), 0.0, 72.0);
            let at = DateTime::<Utc>::from_timestamp(at.timestamp() / 3600 * 3600, 0).unwrap_or(at);
            let (factor, days_after) = if kind == Shape::StepUp { (2.0, 2.0) } else { (0.5, 4.0) };
            shape.steps.push(Step {
                from: at.timestamp(),
                factor,
            });
            quiet.push((
                (at - TimeDelta::days(1)).timestamp(),
                (at + TimeDelta::days(1)).timestamp(),
            ));
            let dry = around(rng, at + TimeDelta::days(3), 0.0, days_after * 24.0);
            let end = dry + TimeDelta::days(12 + (seed % 8) as i64);
            (summer, end, vec![target(dry)])
        }
        Shape::ColdStart => {
            monthly = false;
            let dry = around(rng, summer, 3.0 * 24.0, 8.0 * 24.0);
            quiet.push((summer.timestamp(), (dry + TimeDelta::days(1)).timestamp()));
            (
                summer,
                summer + TimeDelta::days(28 + (seed % 18) as i64),
                vec![target(dry)],
            )
        }
    };
    shape.origin = first.timestamp();
    // Ordinary 3x surges as in `generate`, except on the event.
    let length = (end - first).num_days() as f64;
    let mut day = rng.range(2.0, 6.0);
    while day < length {
        let start = first.timestamp() + (day * 86_400.0) as i64 / 3600 * 3600;
        let hours = rng.range(2.0, 6.0).round();
        let stop = start + hours as i64 * 3600;
        if !quiet.iter().any(|(a, b)| start < *b && stop > *a) {
            shape.surges.push(Surge {
                start,
                hours,
                factor: 3.0,
            });
        }
        day += rng.range(5.0, 9.0);
    }
    Plan {
        first,
        end,
        shape,
        targets,
        monthly,
    }
}

/// The operator of a shaped trace: buys late after each planned run-dry,
/// just enough to run dry at the next one; after the last, as usual.
struct Planned {
    shape: TrafficShape,
    targets: Vec<Target>,
    /// The planned run-dry the pool is heading for.
    next: usize,
    usual: Usual,
}

impl Operator for Planned {
    fn on_time(&mut self, rng: &mut SplitMix) -> Option<i64> {
        // A planned run-dry must happen: no buying in time before it.
        if self.next < self.targets.len() {
            None
        } else {
            self.usual.on_time(rng)
        }
    }

    fn late(&mut self, rng: &mut SplitMix, at: DateTime<Utc>) -> i64 {
        match self.targets.get(self.next) {
            Some(t) => rng.range(t.late.0, t.late.1) as i64,
            None => self.usual.late(rng, at),
        }
    }

    fn buy(&mut self, rng: &mut SplitMix, at: DateTime<Utc>, left: f64) -> Purchase {
        if self.next < self.targets.len() {
            self.next += 1;
        }
        match self.targets.get(self.next).map(|t| t.dry_at) {
            Some(dry_at) => {
                let size = self.shape.bytes_between(at.timestamp(), dry_at.timestamp()) - left;
                let short = dry_at - at < TimeDelta::days(28) && rng.unit() < 0.3;
                Purchase {
                    size: size.max(0.0),
                    days: if short { 30 } else { 180 },
                    title: if short { "月包" } else { "半年包" },
                }
            }
            None => self.usual.buy(rng, at, left),
        }
    }
}

/// The random generator of `shape`'s trace for `seed`: each shape its own.
fn rng_for(shape: Shape, seed: u64) -> SplitMix {
    let index = Shape::ALL.iter().position(|s| *s == shape).unwrap_or(0) as u64;
    let salt = (index + 1).wrapping_mul(0xA24B_AED4_963E_E407);
    SplitMix::new(seed.wrapping_mul(0x9E37_79B9).wrapping_add(1) ^ salt)
}

/// Makes the trace of `shape` for `seed`: the event, run-dry episodes where
/// it tests the forecast, then the usual buying.
pub fn generate_shaped(shape: Shape, seed: u64) -> Trace {
    let mut rng = rng_for(shape, seed);
    let plan = plan(shape, seed, &mut rng);
    let daily = plan.shape.mean_bytes_per_second * 86_400.0;
    let first = plan.first;
    let first_dry = plan.targets.first().map_or(plan.end, |t| t.dry_at);
    let mut next_id = 1000;
    // The yearly package lasts exactly until the first planned run-dry.
    let mut year = plan.shape.bytes_between(first.timestamp(), first_dry.timestamp());
    let mut monthly = None;
    let monthly_expires = first + TimeDelta::days(29);
    if plan.monthly && monthly_expires + TimeDelta::days(4) <= first_dry && rng.unit() < 0.6 {
        // A monthly package bought too big: part of it will expire unused,
        // and what it does serve the yearly one need not hold.
        let size = daily * rng.range(34.0, 45.0);
        year -= size.min(plan.shape.bytes_between(first.timestamp(), monthly_expires.timestamp()));
        monthly = Some(package(next_id + 1, size, first - TimeDelta::days(1), 30, "月包"));
    }
    let packages: Vec<_> = std::iter::once(package(next_id, year.max(0.0), first - TimeDelta::days(3), 365, "年包"))
        .chain(monthly)
        .collect();
    next_id += packages.len() as u64;
    let mut operator = Planned {
        shape: plan.shape.clone(),
        targets: plan.targets,
        next: 0,
        usual: Usual { daily },
    };
    let polls = run(
        &plan.shape,
        first,
        plan.end,
        packages,
        next_id,
        daily,
        &mut rng,
        &mut operator,
    );
    Trace {
        seed,
        shape: plan.shape,
        polls,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remaining(packages: &[crate::state::SimPackage], at: DateTime<Utc>) -> f64 {
        packages
            .iter()
            .filter(|p| p.enabled_at <= at && at < p.expires_at)
            .map(|p| (p.size_bytes as f64 - p.used_bytes).max(0.0))
            .sum()
    }

    #[test]
    fn every_shape_runs_dry_where_it_was_planned_for_every_seed() {
        for shape in Shape::ALL {
            for seed in 1..=20 {
                let trace = generate_shaped(shape, seed);
                let dry: Vec<DateTime<Utc>> = trace
                    .polls
                    .iter()
                    .filter(|(at, p)| remaining(p, *at) <= 0.0)
                    .map(|(at, _)| *at)
                    .collect();
                assert!(!dry.is_empty(), "{} seed {seed} never runs dry", shape.name());
                // The plan is the trace's first draws from its generator.
                let targets = plan(shape, seed, &mut rng_for(shape, seed)).targets;
                for t in targets.iter().map(|t| t.dry_at) {
                    let hour = TimeDelta::hours(1);
                    assert!(
                        dry.iter().any(|d| *d >= t - hour && *d <= t + hour),
                        "{} seed {seed}: not dry at {t}",
                        shape.name()
                    );
                    assert!(
                        t < trace.polls.last().map_or(t, |p| p.0),
                        "{} seed {seed}",
                        shape.name()
                    );
                }
            }
        }
    }

    #[test]
    fn a_shaped_trace_is_fixed_by_its_seed() {
        for shape in Shape::ALL {
            let a = generate_shaped(shape, 3).to_jsonl(crate::wire::CHINA_STANDARD_TIME);
            let b = generate_shaped(shape, 3).to_jsonl(crate::wire::CHINA_STANDARD_TIME);
            assert_eq!(a, b, "{}", shape.name());
            let other = generate_shaped(shape, 4).to_jsonl(crate::wire::CHINA_STANDARD_TIME);
            assert_ne!(a, other, "{}", shape.name());
        }
    }

    #[test]
    fn the_holiday_calendar_is_2026s() {
        let golden = generate_shaped(Shape::GoldenWeek, 1).shape;
        let kind = |s: &TrafficShape, m, d| {
            s.days
                .iter()
                .find(|f| f.date == NaiveDate::from_ymd_opt(2026, m, d).expect("a date"))
                .map(|f| f.kind)
        };
        assert_eq!(kind(&golden, 9, 20), Some(DayKind::Workday));
        assert_eq!(kind(&golden, 10, 10), Some(DayKind::Workday));
        assert!(matches!(kind(&golden, 10, 7), Some(DayKind::Holiday(f)) if (0.45..0.6).contains(&f)));
        assert!(matches!(kind(&golden, 9, 26), Some(DayKind::Holiday(f)) if (0.7..0.9).contains(&f)));
        assert_eq!(kind(&golden, 10, 8), None);
        let spring = generate_shaped(Shape::SpringFestival, 1).shape;
        assert_eq!(kind(&spring, 2, 14), Some(DayKind::Workday));
        assert_eq!(kind(&spring, 2, 28), Some(DayKind::Workday));
        assert_eq!(kind(&spring, 1, 4), Some(DayKind::Workday));
        assert!(matches!(kind(&spring, 2, 15), Some(DayKind::Holiday(f)) if (0.4..0.6).contains(&f)));
        assert!(matches!(kind(&spring, 2, 23), Some(DayKind::Holiday(_))));
        assert_eq!(kind(&spring, 2, 24), None);
    }
}
