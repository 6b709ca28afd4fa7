//! The forecast benchmark: `cargo bench --bench forecast`.
//!
//! Generates fixed-seed traces (weeks of 10-minute polls with a daily and
//! weekly cycle, noise, growth, surges, late purchases and packages that
//! expire with bytes left), replays each through the same core `cdnquota
//! backtest` uses, once with the seasonal forecast and once with the old
//! 6-hour linear rate, and scores both against what the trace really did:
//!
//! - (a) `DepletionForecast` firings per run-dry episode (goal: exactly one);
//! - (b) lead time: it fires at least `depletion_within` - 6 h before the
//!   pool runs dry;
//! - (c) median absolute error of the run-dry forecast 72 h before;
//! - (d) expiry warnings: every package that expired with more than the
//!   threshold unused was warned `expires_within` - 1 day ahead, and the
//!   share of warnings followed by bytes really lost.
//!
//! Pass seeds as arguments to replay other traces: `-- 1 2 3`.
//!
//! A second table scores the seasonal forecast on the shaped traces (golden
//! week, spring festival, month end, launch, step up, step down, cold
//! start), one column per shape, on the tuned seeds 1 to 3. `-- --held-out`
//! adds a table for seeds 11 to 16, kept apart so that nobody tunes on them
//! by accident; `-- --held-out=21-26` adds one for other seeds, once those
//! have been looked at too; `-- --shapes-only` skips the first table.

use cdnquota_core::assess::ForecastModel;
use cdnquota_core::replay::{Replay, Step};
use cdnquota_core::settings::AlertSettings;
use cdnquota_core::settings::{PoolThresholds, Thresholds};
use cdnquota_sim::trace::{Shape, Trace, generate, generate_shaped};
use chrono::{DateTime, TimeDelta, Utc};
use std::time::Instant;
use tencent_cdn_api::record::parse_record;
use tencent_cdn_api::settings::CHINA_STANDARD_TIME;

struct Episode {
    /// When the pool was last topped up before running dry (or the start).
    from: DateTime<Utc>,
    dry_at: DateTime<Utc>,
    /// When it had bytes again (or the end).
    until: DateTime<Utc>,
}

fn remaining(trace: &Trace, i: usize) -> f64 {
    let (at, packages) = &trace.polls[i];
    packages
        .iter()
        .filter(|p| p.enabled_at <= *at && *at < p.expires_at)
        .map(|p| (p.size_bytes as f64 - p.used_bytes).max(0.0))
        .sum()
}

/// Run-dry episodes. Each one's window starts at the last purchase before
/// it (a package added): a forecast made before that purchase was right to
/// fire, and the purchase rightly resolved it.
fn episodes(trace: &Trace) -> Vec<Episode> {
    let mut out = Vec::new();
    let mut from = trace.polls[0].0;
    let mut dry: Option<DateTime<Utc>> = None;
    let mut listed = trace.polls[0].1.len();
    for i in 0..trace.polls.len() {
        let at = trace.polls[i].0;
        let left = remaining(trace, i);
        let bought = trace.polls[i].1.len() > listed;
        listed = trace.polls[i].1.len();
        match dry {
            None if left <= 0.0 => dry = Some(at),
            None if bought => from = at,
            Some(d) if left > 0.0 => {
                out.push(Episode {
                    from,
                    dry_at: d,
                    until: at,
                });
                from = at;
                dry = None;
            }
            _ => {}
        }
    }
    if let Some(d) = dry {
        out.push(Episode {
            from,
            dry_at: d,
            until: trace.polls.last().map_or(d, |p| p.0),
        });
    }
    out
}

/// Packages that expired within the trace, with the bytes left in them.
fn expiries(trace: &Trace) -> Vec<(String, DateTime<Utc>, f64)> {
    let last = trace.polls.last().map(|p| p.1.clone()).unwrap_or_default();
    let end = trace.polls.last().map(|p| p.0).unwrap_or_default();
    last.iter()
        .filter(|p| p.expires_at <= end && p.expires_at > trace.polls[0].0)
        .map(|p| {
            (
                p.id.to_string(),
                p.expires_at,
                (p.size_bytes as f64 - p.used_bytes).max(0.0),
            )
        })
        .collect()
}

#[derive(Default)]
struct Score {
    episodes: usize,
    exactly_one: usize,
    lead_ok: usize,
    lead_hours: Vec<f64>,
    errors_72h: Vec<f64>,
    lossy: usize,
    lossy_warned: usize,
    warnings: usize,
    warnings_lost: usize,
    polls: usize,
    seconds: f64,
}

impl Score {
    /// Adds `other`'s counts and samples to these, for a column of columns.
    fn add(&mut self, other: &Score) {
        self.episodes += other.episodes;
        self.exactly_one += other.exactly_one;
        self.lead_ok += other.lead_ok;
        self.lead_hours.extend(&other.lead_hours);
        self.errors_72h.extend(&other.errors_72h);
        self.lossy += other.lossy;
        self.lossy_warned += other.lossy_warned;
        self.warnings += other.warnings;
        self.warnings_lost += other.warnings_lost;
        self.polls += other.polls;
        self.seconds += other.seconds;
    }
}

/// Replays `trace` through the core. The only place the replay is built.
fn replay(trace: &Trace, model: ForecastModel) -> Vec<Step> {
    let lines = trace.to_jsonl(CHINA_STANDARD_TIME);
    let mut replay = Replay::new(PoolThresholds::default(), AlertSettings::default(), model);
    let billed = std::collections::BTreeMap::new();
    lines
        .lines()
        .map(|l| {
            let snapshot = parse_record(l, CHINA_STANDARD_TIME).expect("a trace record parses");
            replay.step(snapshot, &[], &billed)
        })
        .collect()
}

/// Scores `model` on `trace` into `s`; `tag` names the trace's family in
/// the verbose lines ("" for the generated family).
fn score(trace: &Trace, tag: &str, model: ForecastModel, s: &mut Score) {
    let t = Thresholds::default();
    let started = Instant::now();
    let steps = replay(trace, model);
    s.seconds += started.elapsed().as_secs_f64();
    s.polls += steps.len();
    let want_lead = t.depletion_within.unwrap_or_default() - TimeDelta::hours(6);
    for e in episodes(trace) {
        s.episodes += 1;
        let changes: Vec<_> = steps
            .iter()
            .flat_map(|st| &st.changes)
            .filter(|c| c.alert == "DepletionForecast")
            .collect();
        // An alert still firing when the window opens (a purchase too small
        // to resolve it) counts as this episode's firing, from when it fired.
        let carried = changes
            .iter()
            .rev()
            .find(|c| c.at <= e.from)
            .filter(|c| c.firing)
            .map(|c| c.at);
        let firings: Vec<DateTime<Utc>> = carried
            .into_iter()
            .chain(
                changes
                    .iter()
                    .filter(|c| c.firing && c.at > e.from && c.at <= e.until)
                    .map(|c| c.at),
            )
            .collect();
        if firings.len() == 1 {
            s.exactly_one += 1;
        }
        if std::env::var_os("FORECAST_BENCH_VERBOSE").is_some() {
            let h = |t: Option<DateTime<Utc>>| t.map_or(f64::NAN, |t| (t - e.dry_at).num_minutes() as f64 / 60.0);
            let around: Vec<String> = steps
                .iter()
                .flat_map(|st| st.changes.iter().map(move |c| (st, c)))
                .filter(|(_, c)| c.alert == "DepletionForecast" && c.at > e.from && c.at <= e.until)
                .map(|(st, c)| {
                    format!(
                        "{}{:.0}h[c{:+.0} e{:+.0}]",
                        if c.firing { "+" } else { "-" },
                        (e.dry_at - c.at).num_minutes() as f64 / 60.0,
                        h(st.mainland().and_then(|p| p.depletion_at)),
                        h(st.mainland().and_then(|p| p.depletion_early_at))
                    )
                })
                .collect();
            eprintln!(
                "{model:?} {tag}seed {} dry {}: {}",
                trace.seed,
                e.dry_at,
                around.join(" ")
            );
        }
        let lead = firings
            .first()
            .filter(|f| **f <= e.dry_at)
            .map_or(TimeDelta::zero(), |f| e.dry_at - *f);
        s.lead_hours.push(lead.num_minutes() as f64 / 60.0);
        if lead >= want_lead {
            s.lead_ok += 1;
        }
        let probe = e.dry_at - TimeDelta::hours(72);
        if probe > e.from
            && let Some(st) = steps.iter().find(|st| st.at >= probe)
        {
            // Signed: positive when the forecast was late.
            let late = st
                .mainland()
                .and_then(|p| p.depletion_at)
                .map_or(f64::INFINITY, |d| (d - e.dry_at).num_minutes() as f64 / 60.0);
            let err = late.abs();
            if std::env::var_os("FORECAST_BENCH_VERBOSE").is_some() {
                eprintln!("  72 h before: {late:+.1} h");
            }
            s.errors_72h.push(err);
        }
    }
    let lost: Vec<(String, DateTime<Utc>, f64)> = expiries(trace);
    let ahead = t.expires_within.unwrap_or_default() - TimeDelta::days(1);
    let first_warning = |id: &str| {
        steps
            .iter()
            .flat_map(|st| &st.changes)
            .find(|c| c.alert == "PackageExpiringSoon" && c.firing && c.package_id.as_deref() == Some(id))
            .map(|c| c.at)
    };
    for (id, expires, left) in &lost {
        if *left > t.expiring_unused_above as f64 {
            if std::env::var_os("FORECAST_BENCH_VERBOSE").is_some() {
                let ahead = first_warning(id).map(|w| (*expires - w).num_minutes() as f64 / 1440.0);
                eprintln!(
                    "{model:?} {tag}seed {} package {id} expired {expires} with {:.0} GB unused: warned {} d ahead",
                    trace.seed,
                    left / 1e9,
                    ahead.map_or("never".to_string(), |d| format!("{d:.1}"))
                );
            }
            s.lossy += 1;
            if first_warning(id).is_some_and(|w| *expires - w >= ahead) {
                s.lossy_warned += 1;
            }
        }
    }
    let warned: std::collections::BTreeSet<String> = steps
        .iter()
        .flat_map(|st| &st.changes)
        .filter(|c| c.alert == "PackageExpiringSoon" && c.firing)
        .filter_map(|c| c.package_id.clone())
        .collect();
    for id in warned {
        if let Some((_, _, left)) = lost.iter().find(|(p, _, _)| *p == id) {
            s.warnings += 1;
            if *left > 0.0 {
                s.warnings_lost += 1;
            }
        }
    }
}

fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let held_out = args.iter().any(|a| a == "--held-out");
    let shapes_only = args.iter().any(|a| a == "--shapes-only");
    if !shapes_only {
        let seeds: Vec<u64> = args.iter().filter_map(|a| a.parse().ok()).collect();
        let seeds = if seeds.is_empty() { (1..=8).collect() } else { seeds };
        generated(&seeds);
    }
    shaped("tuned", &[1, 2, 3]);
    if held_out {
        shaped("held-out", &(11..=16).collect::<Vec<_>>());
    }
    // A further held-out set, for when 11 to 16 have been looked at.
    if let Some(range) = args.iter().find_map(|a| a.strip_prefix("--held-out=")) {
        let Some((Ok(from), Ok(to))) = range.split_once('-').map(|(a, b)| (a.parse::<u64>(), b.parse::<u64>())) else {
            eprintln!("--held-out=FROM-TO wants two seeds, e.g. --held-out=21-26");
            std::process::exit(2);
        };
        shaped("held-out", &(from..=to).collect::<Vec<_>>());
    }
}

/// The generated family, both models.
fn generated(seeds: &[u64]) {
    let traces: Vec<Trace> = seeds.iter().map(|s| generate(*s)).collect();
    let days: i64 = traces.iter().map(|t| t.polls.len() as i64 * 600 / 86_400).sum();
    println!(
        "{} traces (seeds {:?}), {days} days of 10-minute polls in all",
        traces.len(),
        seeds
    );
    let mut columns = Vec::new();
    for (name, model) in [
        ("seasonal (cdnquota)", ForecastModel::Seasonal),
        ("6 h linear rate", ForecastModel::Linear),
    ] {
        let mut s = Score::default();
        for trace in &traces {
            score(trace, "", model, &mut s);
        }
        columns.push((name.to_string(), s));
    }
    table(&mut columns);
}

/// The shaped traces of `seeds`, one column per shape and one for all of
/// them, the seasonal model only.
fn shaped(which: &str, seeds: &[u64]) {
    let mut columns = Vec::new();
    let mut all = Score::default();
    let mut days = 0;
    for shape in Shape::ALL {
        let mut s = Score::default();
        for seed in seeds {
            let trace = generate_shaped(shape, *seed);
            days += trace.polls.len() as i64 * 600 / 86_400;
            score(&trace, &format!("{} ", shape.name()), ForecastModel::Seasonal, &mut s);
        }
        all.add(&s);
        columns.push((shape.name().to_string(), s));
    }
    columns.push(("all new shapes".to_string(), all));
    println!();
    println!(
        "Shaped traces, {which} seeds {seeds:?} of each of {} shapes, {days} days of 10-minute polls in all; seasonal forecast (cdnquota)",
        Shape::ALL.len()
    );
    table(&mut columns);
}

/// Prints one column per score, one row per label.
fn table(columns: &mut [(String, Score)]) {
    let names: Vec<&str> = columns.iter().map(|(n, _)| n.as_str()).collect();
    let header = names.join(" | ");
    let cells: Vec<Vec<String>> = columns.iter_mut().map(|(_, s)| cells(s)).collect();
    println!();
    println!("| | {header} |");
    println!("|{}", "---|".repeat(columns.len() + 1));
    for (i, label) in LABELS.iter().enumerate() {
        let row: Vec<&str> = cells.iter().map(|c| c[i].as_str()).collect();
        println!("| {label} | {} |", row.join(" | "));
    }
}

const LABELS: [&str; 8] = [
    "run-dry episodes",
    "(a) episodes with exactly one DepletionForecast firing",
    "(b) episodes warned at least depletion_within - 6 h (66 h) ahead",
    "(b) median / shortest lead time",
    "(c) median absolute error of the run-dry time 72 h before",
    "(d) packages expiring with > 10 GB unused, warned 6 d ahead",
    "(d) expiry warnings followed by bytes lost",
    "replay time per poll",
];

fn cells(s: &mut Score) -> Vec<String> {
    let shortest = s.lead_hours.iter().copied().fold(f64::INFINITY, f64::min);
    vec![
        s.episodes.to_string(),
        format!("{} of {}", s.exactly_one, s.episodes),
        format!("{} of {}", s.lead_ok, s.episodes),
        format!("{:.0} h / {shortest:.0} h", median(&mut s.lead_hours)),
        format!("{:.1} h (n = {})", median(&mut s.errors_72h), s.errors_72h.len()),
        format!("{} of {}", s.lossy_warned, s.lossy),
        format!(
            "{} of {} ({:.0} %)",
            s.warnings_lost,
            s.warnings,
            100.0 * s.warnings_lost as f64 / s.warnings.max(1) as f64
        ),
        format!("{:.0} µs", 1e6 * s.seconds / s.polls.max(1) as f64),
    ]
}
