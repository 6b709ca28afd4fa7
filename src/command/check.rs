//! `cdnquota check`: one poll of every account, a table or JSON on stdout,
//! and a Nagios exit code.

use crate::api::source::PackageSource;
use crate::config::Config;
use crate::config::units::format_size_human;
use crate::core::assess::{Assessment, assess};
use crate::core::forecast::Sample;
use crate::core::rules::Severity;
use chrono::Utc;
use serde::Serialize;
use std::path::Path;
use std::process::ExitCode;

/// A Nagios plugin state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum CheckState {
    /// Exit 0.
    Ok,
    /// Exit 1.
    Warning,
    /// Exit 2.
    Critical,
    /// Exit 3: the API could not be read.
    Unknown,
}

impl CheckState {
    /// The exit code.
    pub fn code(self) -> u8 {
        match self {
            CheckState::Ok => 0,
            CheckState::Warning => 1,
            CheckState::Critical => 2,
            CheckState::Unknown => 3,
        }
    }

    /// The state as Nagios prints it.
    pub fn label(self) -> &'static str {
        match self {
            CheckState::Ok => "OK",
            CheckState::Warning => "WARNING",
            CheckState::Critical => "CRITICAL",
            CheckState::Unknown => "UNKNOWN",
        }
    }

    // Critical outranks Unknown: a known emergency on one account matters
    // more than a failed read of another. Unknown outranks Warning.
    fn rank(self) -> u8 {
        match self {
            CheckState::Ok => 0,
            CheckState::Warning => 1,
            CheckState::Unknown => 2,
            CheckState::Critical => 3,
        }
    }

    /// The state of an assessed account.
    pub fn of(a: &Assessment) -> CheckState {
        match a.worst() {
            None => CheckState::Ok,
            Some(Severity::Warning) => CheckState::Warning,
            Some(Severity::Critical) => CheckState::Critical,
        }
    }
}

/// The combined state of several accounts.
pub fn overall(states: impl IntoIterator<Item = CheckState>) -> CheckState {
    states.into_iter().max_by_key(|s| s.rank()).unwrap_or(CheckState::Ok)
}

/// One account's result.
#[derive(Serialize)]
pub struct AccountReport {
    /// The account name.
    pub account: String,
    /// Its state.
    pub state: CheckState,
    /// What the poll found, when it worked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assessment: Option<Assessment>,
    /// Why the poll failed, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The whole check.
#[derive(Serialize)]
pub struct Report {
    /// The combined state.
    pub state: CheckState,
    /// The exit code.
    pub exit_code: u8,
    /// Each account.
    pub accounts: Vec<AccountReport>,
}

/// Assesses a one-off poll with the daemon's history of the account when
/// there is one (read, never written), so `check` forecasts as the daemon
/// does; without it, from this poll alone.
fn assess_with_history(
    state_dir: &std::path::Path,
    account: &str,
    snapshot: crate::model::Snapshot,
    thresholds: &crate::config::Thresholds,
) -> crate::core::assess::Assessment {
    let now = Utc::now();
    match crate::history_file::HistoryFile::read(state_dir, account) {
        Some(mut history) => history.record_and_assess(
            snapshot,
            thresholds,
            crate::core::assess::ForecastModel::Seasonal,
            false,
        ),
        None => assess(&snapshot, &[Sample::of(&snapshot)], thresholds, now),
    }
}

/// Polls every account once and assesses it.
pub async fn poll_all(config: &Config) -> Report {
    let mut tasks = tokio::task::JoinSet::new();
    for (index, account) in config.accounts.iter().enumerate() {
        let account = account.clone();
        let offset = config.api_utc_offset.0;
        let state_dir = config.state_dir.clone();
        tasks.spawn(async move {
            let name = account.name.to_string();
            let report = match PackageSource::new(&account, offset) {
                Err(e) => AccountReport {
                    account: name,
                    state: CheckState::Unknown,
                    assessment: None,
                    error: Some(e),
                },
                Ok(source) => match source.fetch().await {
                    Ok(snapshot) => {
                        let a = assess_with_history(&state_dir, &name, snapshot, &account.thresholds);
                        AccountReport {
                            account: name,
                            state: CheckState::of(&a),
                            assessment: Some(a),
                            error: None,
                        }
                    }
                    Err(e) => AccountReport {
                        account: name,
                        state: CheckState::Unknown,
                        assessment: None,
                        error: Some(format!("{} failed: {e}; {}", source.action(), e.hint())),
                    },
                },
            };
            (index, report)
        });
    }
    let mut reports: Vec<(usize, AccountReport)> = tasks.join_all().await;
    reports.sort_by_key(|(i, _)| *i);
    let accounts: Vec<AccountReport> = reports.into_iter().map(|(_, r)| r).collect();
    let state = overall(accounts.iter().map(|r| r.state));
    Report {
        state,
        exit_code: state.code(),
        accounts,
    }
}

/// Terminal columns a text takes: East Asian wide characters (package
/// titles such as 日常流量包) take two.
fn display_width(text: &str) -> usize {
    text.chars()
        .map(|c| match c as u32 {
            0x1100..=0x115F
            | 0x2E80..=0xA4CF
            | 0xAC00..=0xD7A3
            | 0xF900..=0xFAFF
            | 0xFE30..=0xFE4F
            | 0xFF00..=0xFF60
            | 0xFFE0..=0xFFE6 => 2,
            _ => 1,
        })
        .sum()
}

/// Lays the report out as a table followed by the findings.
pub fn render_table(report: &Report) -> String {
    let mut rows: Vec<[String; 7]> = vec![[
        "ACCOUNT".into(),
        "PACKAGE".into(),
        "TITLE".into(),
        "REMAINING".into(),
        "USED".into(),
        "EXPIRES (UTC)".into(),
        "STATE".into(),
    ]];
    for r in report.accounts.iter() {
        for p in r.assessment.iter().flat_map(|a| &a.packages) {
            rows.push([
                r.account.clone(),
                p.package.id.clone(),
                p.package.title.clone(),
                format_size_human(p.remaining_bytes),
                format!("{:.1}%", p.used_ratio * 100.0),
                p.package.expires_at.format("%Y-%m-%d %H:%M").to_string(),
                p.state(),
            ]);
        }
    }
    let widths: Vec<usize> = (0..7)
        .map(|c| rows.iter().map(|r| display_width(&r[c])).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    if rows.len() > 1 {
        for row in &rows {
            let cells: Vec<String> = row
                .iter()
                .zip(&widths)
                .map(|(cell, w)| format!("{cell}{}", " ".repeat(w.saturating_sub(display_width(cell)))))
                .collect();
            out.push_str(cells.join("  ").trim_end());
            out.push('\n');
        }
        out.push('\n');
    }
    for r in &report.accounts {
        match (&r.assessment, &r.error) {
            (Some(a), _) => {
                let pct = a
                    .totals
                    .remaining_ratio()
                    .map_or_else(String::new, |x| format!(" ({:.1}%)", x * 100.0));
                out.push_str(&format!(
                    "{}: {} - {} left of {}{pct} in {} usable package(s)\n",
                    r.account,
                    r.state.label(),
                    format_size_human(a.totals.remaining_bytes),
                    format_size_human(a.totals.size_bytes),
                    a.totals.usable_packages
                ));
                let p = &a.projection;
                let dry = match (p.depletion_at, p.depletion_early_at) {
                    (Some(c), Some(e)) => format!(
                        "runs dry {} UTC ({} at the earliest)",
                        c.format("%Y-%m-%d %H:%M"),
                        e.format("%Y-%m-%d %H:%M")
                    ),
                    (Some(c), None) => format!("runs dry {} UTC", c.format("%Y-%m-%d %H:%M")),
                    _ => "does not run dry within 400 days".into(),
                };
                out.push_str(&format!(
                    "  forecast: {dry}; {} to expire unused; {}\n",
                    format_size_human(p.expiring_unused_bytes),
                    p.basis_text
                ));
                for f in &a.findings {
                    out.push_str(&format!("  {} {}: {}\n", f.severity.label(), f.rule, f.summary));
                }
            }
            (None, error) => {
                out.push_str(&format!(
                    "{}: UNKNOWN - {}\n",
                    r.account,
                    error.as_deref().unwrap_or("no answer")
                ));
            }
        }
    }
    out
}

/// Runs the check with the config at `path`.
pub fn check(path: &Path, json: bool) -> ExitCode {
    crate::logging::init();
    let Some(config) = super::load_config(path) else {
        return ExitCode::from(CheckState::Unknown.code());
    };
    let runtime = match super::runtime() {
        Ok(r) => r,
        Err(_) => return ExitCode::from(CheckState::Unknown.code()),
    };
    let report = runtime.block_on(poll_all(&config));
    if json {
        match serde_json::to_string_pretty(&report) {
            Ok(text) => println!("{text}"),
            Err(e) => {
                eprintln!("cdnquota: cannot write JSON: {e}");
                return ExitCode::from(CheckState::Unknown.code());
            }
        }
    } else {
        print!("{}", render_table(&report));
    }
    ExitCode::from(report.exit_code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combined_state() {
        use CheckState::*;
        assert_eq!(overall([]), Ok);
        assert_eq!(overall([Ok, Warning]), Warning);
        assert_eq!(overall([Warning, Unknown]), Unknown);
        assert_eq!(overall([Unknown, Critical, Warning]), Critical);
        assert_eq!([Ok, Warning, Critical, Unknown].map(CheckState::code), [0, 1, 2, 3]);
    }

    #[test]
    fn wide_characters_take_two_columns() {
        assert_eq!(display_width("500GB"), 5);
        assert_eq!(display_width("日常流量包"), 10);
    }
}
