//! `cdnquota backtest --history FILE [-c CONFIG] [--json]`: replays recorded
//! polls through the same core the daemon runs, each record's time as
//! `now`, and reports what would have fired and how good the forecast was.

use crate::config::values::UtcOffset;
use cdnquota_core::assess::ForecastModel;
use cdnquota_core::replay::{Replay, Step};
use cdnquota_core::settings::{AlertSettings, Thresholds};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::json;
use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::Path;
use std::process::ExitCode;
use tencent_cdn_api::record::parse_record;

/// What `backtest` replays, and how.
pub struct BacktestArgs<'a> {
    /// The JSON Lines file of recorded polls.
    pub history: &'a Path,
    /// A config whose thresholds and `[alerts]` to use.
    pub config: Option<&'a Path>,
    /// The account of `config` whose thresholds apply (default: the first).
    pub account: Option<&'a str>,
    /// One JSON object per line instead of a summary.
    pub json: bool,
    /// The demand model.
    pub model: ForecastModel,
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Runs the backtest; exit 0 when it ran, 1 when the input or config is bad.
pub fn backtest(args: &BacktestArgs) -> ExitCode {
    let (thresholds, alerts, offset) = match settings(args) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("cdnquota: {e}");
            return ExitCode::from(1);
        }
    };
    let file = match std::fs::File::open(args.history) {
        Ok(f) => f,
        Err(e) => {
            eprintln!(
                "cdnquota: cannot read {}: {e}; pass a JSON Lines file of recorded polls with --history",
                args.history.display()
            );
            return ExitCode::from(1);
        }
    };
    let mut replay = Replay::new(thresholds, alerts, args.model);
    let mut steps = Vec::new();
    let mut last: Option<DateTime<Utc>> = None;
    let out = std::io::stdout();
    let mut out = out.lock();
    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
        let at_line = |e: String| format!("{}:{}: {e}", args.history.display(), n + 1);
        let line = match line {
            Ok(l) => l,
            Err(e) => {
                eprintln!("cdnquota: {}", at_line(e.to_string()));
                return ExitCode::from(1);
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        let snapshot = match parse_record(&line, offset) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("cdnquota: {}", at_line(e));
                return ExitCode::from(1);
            }
        };
        if last.is_some_and(|l| snapshot.taken_at <= l) {
            eprintln!(
                "cdnquota: {}",
                at_line(format!(
                    "`at` {} is not after the record before: records must be in time order",
                    rfc3339(snapshot.taken_at)
                ))
            );
            return ExitCode::from(1);
        }
        last = Some(snapshot.taken_at);
        let step = replay.step(snapshot);
        if args.json {
            // A closed pipe (`| head`) ends the output quietly.
            if write_json(&mut out, &step).is_err() {
                return ExitCode::SUCCESS;
            }
        } else {
            steps.push(step);
        }
    }
    if !args.json {
        let _ = out.write_all(summary(&steps, &thresholds).as_bytes());
    }
    ExitCode::SUCCESS
}

fn settings(args: &BacktestArgs) -> Result<(Thresholds, AlertSettings, chrono::FixedOffset), String> {
    let Some(path) = args.config else {
        if args.account.is_some() {
            return Err("--account needs -c CONFIG".into());
        }
        return Ok((Thresholds::default(), AlertSettings::default(), UtcOffset::default().0));
    };
    // Secrets are not needed to replay: a config read on another host may
    // lack them, so a missing one is not an error here.
    let loaded = crate::config::load(path, &|name| match name {
        crate::config::ENV_SECRET_ID => Some("AKIDbacktest".into()),
        crate::config::ENV_SECRET_KEY => Some("backtest".into()),
        _ => None,
    })
    .map_err(|e| format!("invalid config: {e}"))?;
    let config = loaded.config;
    let account = match args.account {
        Some(name) => config
            .accounts
            .iter()
            .find(|a| a.name.as_str() == name)
            .ok_or_else(|| format!("{} has no account `{name}`", path.display()))?,
        None => config
            .accounts
            .first()
            .ok_or_else(|| format!("{} has no account", path.display()))?,
    };
    Ok((account.thresholds, config.alerts, config.api_utc_offset.0))
}

fn write_json(out: &mut impl Write, step: &Step) -> std::io::Result<()> {
    let p = &step.poll;
    let poll = json!({
        "type": "poll",
        "at": rfc3339(p.at),
        "remaining_bytes": p.remaining_bytes,
        "rate_bytes_per_second": p.rate_bytes_per_second,
        "depletion_at": p.depletion_at.map(rfc3339),
        "expiring_unused_bytes": p.expiring_unused_bytes,
    });
    writeln!(out, "{poll}")?;
    for c in &step.changes {
        let mut alert = json!({
            "type": "alert",
            "at": rfc3339(c.at),
            "alert": c.alert,
            "state": if c.firing { "firing" } else { "resolved" },
        });
        if let Some(id) = &c.package_id {
            alert["package_id"] = json!(id);
        }
        writeln!(out, "{alert}")?;
    }
    Ok(())
}

/// The readable report: firings per alert, and the forecast's error where
/// the history shows the pool running dry.
fn summary(steps: &[Step], t: &Thresholds) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let (Some(first), Some(last)) = (steps.first(), steps.last()) else {
        return "no records\n".into();
    };
    let _ = writeln!(
        s,
        "{} polls from {} to {} ({:.1} days)",
        steps.len(),
        rfc3339(first.poll.at),
        rfc3339(last.poll.at),
        (last.poll.at - first.poll.at).num_minutes() as f64 / 1440.0
    );
    let mut firings: BTreeMap<&str, (usize, DateTime<Utc>)> = BTreeMap::new();
    for c in steps.iter().flat_map(|st| &st.changes).filter(|c| c.firing) {
        firings.entry(c.alert.as_str()).or_insert((0, c.at)).0 += 1;
    }
    let _ = writeln!(s, "\nalerts fired (mailed the first time):");
    if firings.is_empty() {
        let _ = writeln!(s, "  none");
    }
    for (alert, (n, at)) in &firings {
        let _ = writeln!(s, "  {alert:<22} {n:>4} time(s), first at {}", rfc3339(*at));
    }
    let _ = writeln!(s, "\nwhere the pool ran dry, the forecast made before it:");
    let mut dry_events = 0;
    for (i, st) in steps.iter().enumerate().skip(1) {
        if !(st.poll.remaining_bytes == 0 && steps[i - 1].poll.remaining_bytes > 0) {
            continue;
        }
        dry_events += 1;
        let dry = st.poll.at;
        let _ = write!(s, "  ran dry at {}:", rfc3339(dry));
        for hours in [72, 24, 6] {
            let probe = dry - chrono::TimeDelta::hours(hours);
            let made = steps[..i].iter().rev().find(|b| b.poll.at <= probe);
            match made.map(|b| b.poll.depletion_at) {
                Some(Some(said)) => {
                    let err = (said - dry).num_minutes() as f64 / 60.0;
                    let _ = write!(s, " {hours} h before, forecast {err:+.1} h off;");
                }
                Some(None) => {
                    let _ = write!(s, " {hours} h before, no forecast;");
                }
                None => {}
            }
        }
        let warned = steps[..=i]
            .iter()
            .flat_map(|b| &b.changes)
            .filter(|c| c.alert == "DepletionForecast" && c.firing && c.at <= dry)
            .map(|c| c.at)
            .next_back();
        match warned {
            Some(w) => {
                let _ = writeln!(
                    s,
                    " DepletionForecast fired {:.0} h ahead (depletion_within {})",
                    (dry - w).num_minutes() as f64 / 60.0,
                    cdnquota_core::units::format_delta(t.depletion_within.unwrap_or_default())
                );
            }
            None => {
                let _ = writeln!(s, " DepletionForecast did not fire before");
            }
        }
    }
    if dry_events == 0 {
        let _ = writeln!(s, "  the pool never ran dry in this history");
    }
    s
}
