//! `cdnquota backtest --history FILE [-c CONFIG] [--json]`: replays recorded
//! polls through the same core the daemon runs, each record's time as
//! `now`, pool by pool, and reports what would have fired and how good each
//! pool's forecast was. Records hold the packages only, so the replay sees
//! what the API reported, without billing data or pay types.

use crate::config::values::UtcOffset;
use cdnquota_core::assess::ForecastModel;
use cdnquota_core::cost_replay::CostReplay;
use cdnquota_core::model::PoolKey;
use cdnquota_core::pricing::PriceTable;
use cdnquota_core::replay::{Replay, Step};
use cdnquota_core::settings::{AlertSettings, PoolThresholds};
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
    let (thresholds, alerts, offset, keep_expired, pricing, forecast) = match settings(args) {
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
    let mainland = pricing.complete(cdnquota_core::model::Region::Mainland).cloned();
    if mainland.is_none() {
        eprintln!(
            "cdnquota: [pricing.mainland] lacks package prices or pay-as-you-go steps: no advice and no cost is replayed"
        );
    }
    let mut cost = mainland.map(CostReplay::new);
    let mut replay = Replay::new(thresholds.clone(), alerts, args.model)
        .keeping_expired(keep_expired)
        .priced(pricing)
        .with_forecast(forecast);
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
        let recorded = cost.is_some().then(|| snapshot.clone());
        let step = replay.step(snapshot, &[], &BTreeMap::new());
        if let (Some(c), Some(snap)) = (cost.as_mut(), recorded) {
            let pool = step.mainland();
            c.step(
                &snap,
                pool.and_then(|p| p.rate_bytes_per_second),
                pool.and_then(|p| p.advice.as_ref()),
            );
        }
        if args.json {
            // A closed pipe (`| head`) ends the output quietly.
            if write_json(&mut out, &step).is_err() {
                return ExitCode::SUCCESS;
            }
        } else {
            steps.push(step);
        }
    }
    let totals = cost.as_ref().map(CostReplay::totals);
    if args.json {
        if let Some((advice, recorded)) = totals {
            let line = json!({
                "type": "summary",
                "cost_cny": {"advice": advice.cost_cny, "recorded": recorded.cost_cny},
                "payg_bytes": {"advice": advice.payg_bytes.round(), "recorded": recorded.payg_bytes.round()},
                "wasted_bytes": {"advice": advice.wasted_bytes.round(), "recorded": recorded.wasted_bytes.round()},
            });
            let _ = writeln!(out, "{line}");
        }
    } else {
        let mut text = summary(&steps, &thresholds);
        if let Some((advice, recorded)) = totals {
            use std::fmt::Write as _;
            let yuan = cdnquota_core::advice_text::yuan;
            let size = |b: f64| cdnquota_core::units::format_size_human(b.max(0.0) as u64);
            let _ = writeln!(
                text,
                "\nmainland traffic, at [pricing] (the advice bought when first advised for a shortfall):"
            );
            for (who, t) in [("recorded purchases", recorded), ("following the advice", advice)] {
                let _ = writeln!(
                    text,
                    "  {who:<21} {} in all, {} pay-as-you-go, {} expired unused",
                    yuan(t.cost_cny),
                    size(t.payg_bytes),
                    size(t.wasted_bytes)
                );
            }
        }
        let _ = out.write_all(text.as_bytes());
    }
    ExitCode::SUCCESS
}

/// The thresholds, alert settings, API time zone, expired-pool span,
/// prices and calendar a replay takes from the config, or the defaults without one.
type ReplaySettings = (
    PoolThresholds,
    AlertSettings,
    chrono::FixedOffset,
    Option<chrono::TimeDelta>,
    PriceTable,
    cdnquota_core::settings::ForecastSettings,
);

fn settings(args: &BacktestArgs) -> Result<ReplaySettings, String> {
    let Some(path) = args.config else {
        if args.account.is_some() {
            return Err("--account needs -c CONFIG".into());
        }
        return Ok((
            PoolThresholds::default(),
            AlertSettings::default(),
            UtcOffset::default().0,
            crate::config::metrics::ExpiredSeries::default().keep(),
            PriceTable::list_prices(),
            cdnquota_core::settings::ForecastSettings::default(),
        ));
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
    Ok((
        account.thresholds.clone(),
        config.alerts,
        config.api_utc_offset.0,
        config.metrics.expired_package_series.keep(),
        config.pricing,
        config.forecast.settings(),
    ))
}

fn write_json(out: &mut impl Write, step: &Step) -> std::io::Result<()> {
    for p in &step.pools {
        let unit = p.pool.resource.unit();
        let mut poll = json!({
            "type": "poll",
            "at": rfc3339(p.at),
            "region": p.pool.region.name(),
            "resource": p.pool.resource.name(),
            "depletion_at": p.depletion_at.map(rfc3339),
        });
        poll[format!("remaining_{unit}")] = json!(p.remaining_bytes);
        poll[format!("rate_{unit}_per_second")] = json!(p.rate_bytes_per_second);
        poll[format!("expiring_unused_{unit}")] = json!(p.expiring_unused_bytes);
        writeln!(out, "{poll}")?;
    }
    for c in &step.changes {
        let mut alert = json!({
            "type": "alert",
            "at": rfc3339(c.at),
            "alert": c.alert,
            "state": if c.firing { "firing" } else { "resolved" },
        });
        if let Some(region) = c.region {
            alert["region"] = json!(region.name());
        }
        if let Some(id) = &c.package_id {
            alert["package_id"] = json!(id);
        }
        writeln!(out, "{alert}")?;
    }
    Ok(())
}

/// The readable report: firings per alert, and each pool's forecast error
/// where the history shows it running dry.
fn summary(steps: &[Step], t: &PoolThresholds) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let (Some(first), Some(last)) = (steps.first(), steps.last()) else {
        return "no records\n".into();
    };
    let _ = writeln!(
        s,
        "{} polls from {} to {} ({:.1} days)",
        steps.len(),
        rfc3339(first.at),
        rfc3339(last.at),
        (last.at - first.at).num_minutes() as f64 / 1440.0
    );
    let mut firings: BTreeMap<String, (usize, DateTime<Utc>)> = BTreeMap::new();
    for c in steps.iter().flat_map(|st| &st.changes).filter(|c| c.firing) {
        let name = match c.region {
            Some(r) if r != cdnquota_core::model::Region::Mainland => format!("{} ({})", c.alert, r.name()),
            _ => c.alert.clone(),
        };
        firings.entry(name).or_insert((0, c.at)).0 += 1;
    }
    let _ = writeln!(s, "\nalerts fired (mailed the first time):");
    if firings.is_empty() {
        let _ = writeln!(s, "  none");
    }
    for (alert, (n, at)) in &firings {
        let _ = writeln!(s, "  {alert:<22} {n:>4} time(s), first at {}", rfc3339(*at));
    }
    let mut pools: Vec<PoolKey> = steps.iter().flat_map(|st| st.pools.iter().map(|p| p.pool)).collect();
    pools.sort();
    pools.dedup();
    for pool in pools {
        dry_report(&mut s, steps, pool, t.of(pool).depletion_within, pools_named(steps));
    }
    s
}

/// Whether the history has more than the mainland traffic pool, so that
/// each pool's part says which it is.
fn pools_named(steps: &[Step]) -> bool {
    steps
        .iter()
        .flat_map(|st| &st.pools)
        .any(|p| p.pool != PoolKey::MAINLAND_TRAFFIC)
}

/// Where `pool` ran dry, the forecast made 72, 24 and 6 hours before, and
/// when its DepletionForecast fired.
fn dry_report(s: &mut String, steps: &[Step], pool: PoolKey, within: Option<chrono::TimeDelta>, named: bool) {
    use std::fmt::Write as _;
    let of = |st: &Step| st.pools.iter().find(|p| p.pool == pool).cloned();
    let polls: Vec<cdnquota_core::replay::PollOutcome> = steps.iter().filter_map(of).collect();
    let alert = cdnquota_core::rules::Rule::DepletionForecast
        .for_resource(pool.resource)
        .name();
    let what = if named {
        format!("the {} pool", pool.label())
    } else {
        "the pool".to_string()
    };
    let _ = writeln!(s, "\nwhere {what} ran dry, the forecast made before it:");
    let mut dry_events = 0;
    for i in 1..polls.len() {
        if !(polls[i].remaining_bytes == 0 && polls[i - 1].remaining_bytes > 0) {
            continue;
        }
        dry_events += 1;
        let dry = polls[i].at;
        let _ = write!(s, "  ran dry at {}:", rfc3339(dry));
        for hours in [72, 24, 6] {
            let probe = dry - chrono::TimeDelta::hours(hours);
            let made = polls[..i].iter().rev().find(|b| b.at <= probe);
            match made.map(|b| b.depletion_at) {
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
        let warned = steps
            .iter()
            .take_while(|st| st.at <= dry)
            .flat_map(|b| &b.changes)
            .filter(|c| c.alert == alert && c.firing && c.region == Some(pool.region))
            .map(|c| c.at)
            .last();
        match warned {
            Some(w) => {
                let _ = writeln!(
                    s,
                    " {alert} fired {:.0} h ahead (depletion_within {})",
                    (dry - w).num_minutes() as f64 / 60.0,
                    cdnquota_core::units::format_delta(within.unwrap_or_default())
                );
            }
            None => {
                let _ = writeln!(s, " {alert} did not fire before");
            }
        }
    }
    if dry_events == 0 {
        let _ = writeln!(s, "  {what} never ran dry in this history");
    }
}
