//! `cdnquota check`: one poll of every account, as a Nagios plugin (also
//! Icinga, Naemon, Zabbix agents and Sensu): the status line with perfdata,
//! then the table as long output (see [`super::nagios`]), or JSON; and the
//! plugin's exit code. The whole check is bounded by `--timeout`.

use super::check_report::{AccountReport, Report};
use crate::config::Config;
use crate::config::units::parse_duration;
use cdnquota_core::account::{AccountAssessment, AccountInput, record_and_assess};
use cdnquota_core::assess::ForecastModel;
use cdnquota_core::check_state::{CheckState, overall};
use cdnquota_core::pricing::PriceTable;
use cdnquota_core::settings::PoolThresholds;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tencent_cdn_api::source::PackageSource;
use tokio::time::Instant;

/// The default `--timeout`: under the 60 s after which Nagios kills a
/// plugin, so the plugin says which account was slow rather than Nagios
/// saying nothing useful.
pub const DEFAULT_TIMEOUT: &str = "30s";

/// At most this many accounts are polled at once: each holds a connection,
/// and a plugin runs with the default limit of 1,024 open files.
const CONCURRENT_POLLS: usize = 512;

/// Reads `--timeout`: a duration with its unit, more than zero.
pub fn parse_timeout(text: &str) -> Result<Duration, String> {
    match parse_duration(text)? {
        d if d.is_zero() => Err("a timeout of 0 would fail every account: use e.g. \"30s\"".into()),
        d => Ok(d),
    }
}

/// What every account's poll is assessed with.
#[derive(Clone)]
struct Assessing {
    offset: chrono::FixedOffset,
    state_dir: std::path::PathBuf,
    keep_expired: Option<chrono::TimeDelta>,
    prices: Arc<PriceTable>,
    forecast: Arc<cdnquota_core::settings::ForecastSettings>,
    /// Advise every priced traffic pool, not only those calling for it.
    advise_always: bool,
}

/// Assesses one poll's snapshot with the daemon's history of each pool
/// (read, never written: the daemon owns `history/`) when this user may
/// read it, so the check forecasts as the daemon does; a pool without one
/// from this poll alone. The check asks no billing data: it reads the
/// packages as the API reports them.
fn assess_snapshot(
    how: &Assessing,
    account: &str,
    snapshot: cdnquota_core::model::Snapshot,
    thresholds: &PoolThresholds,
) -> AccountAssessment {
    let mut histories = crate::history_file::AccountHistories::read(&how.state_dir, account);
    let input = AccountInput {
        thresholds,
        pay_types: &[],
        billed: &Default::default(),
        model: ForecastModel::Seasonal,
        forecast: &how.forecast,
        keep_expired: how.keep_expired,
        depletion_active: &|_| false,
        stale: &[],
        // `advise` prices every pool below, once.
        prices: (!how.advise_always).then_some(&*how.prices),
    };
    let mut a = record_and_assess(snapshot, &mut histories, &input);
    if how.advise_always {
        for pool in &mut a.pools {
            cdnquota_core::account::price(pool, &how.prices, true);
        }
    }
    a
}

/// Lists the account's packages: traffic, and for API 3.0 the HTTPS request
/// packages too, unless the key may not list them.
async fn fetch(source: &PackageSource) -> Result<cdnquota_core::model::Snapshot, tencent_cdn_api::error::ApiError> {
    let mut snapshot = source.fetch().await?;
    if let Some(client) = source.billing_client() {
        match client.https_packages().await {
            Ok(packages) => snapshot.packages.extend(packages),
            Err(e) if e.is_not_permitted() => {}
            Err(e) => return Err(e),
        }
    }
    Ok(snapshot)
}

/// The report of an account that gave no answer in time.
fn timed_out(account: &str, action: &str, timeout: Duration, thresholds: PoolThresholds) -> AccountReport {
    unknown(
        account,
        format!(
            "timed out: no answer from {action} within --timeout {}",
            cdnquota_core::units::format_duration_exact(timeout)
        ),
        thresholds,
    )
}

/// The report of an account whose turn did not come before the timeout.
fn not_reached(account: &str, timeout: Duration, thresholds: PoolThresholds) -> AccountReport {
    unknown(
        account,
        format!(
            "timed out: not polled within --timeout {}, waiting for its turn ({CONCURRENT_POLLS} accounts are polled at once)",
            cdnquota_core::units::format_duration_exact(timeout)
        ),
        thresholds,
    )
}

/// An UNKNOWN account, and why.
fn unknown(account: &str, error: String, thresholds: PoolThresholds) -> AccountReport {
    AccountReport {
        account: account.to_string(),
        state: CheckState::Unknown,
        assessment: None,
        error: Some(error),
        thresholds,
    }
}

/// Polls one account, giving up at `deadline`.
async fn poll_one(
    account: &crate::config::Account,
    how: &Assessing,
    timeout: Duration,
    deadline: Instant,
) -> AccountReport {
    let name = account.name.to_string();
    let thresholds = account.thresholds.clone();
    let source = match PackageSource::new(&account.client_settings(how.offset)) {
        Ok(source) => source,
        Err(e) => return unknown(&name, e, thresholds),
    };
    match tokio::time::timeout_at(deadline, fetch(&source)).await {
        Err(_) => timed_out(&name, source.action(), timeout, thresholds),
        Ok(Err(e)) => unknown(
            &name,
            format!("{} failed: {e}; {}", source.action(), e.hint()),
            thresholds,
        ),
        Ok(Ok(snapshot)) => {
            let a = assess_snapshot(how, &name, snapshot, &thresholds);
            AccountReport {
                account: name,
                state: CheckState::of(&a),
                assessment: Some(a),
                error: None,
                thresholds,
            }
        }
    }
}

/// Polls every account once and assesses it; an account with no answer
/// within `timeout` of the start is UNKNOWN and says it timed out.
/// With `advise_always`, every priced traffic pool gets purchase advice,
/// not only those a finding calls it for.
pub async fn poll_all(config: &Config, timeout: Duration, advise_always: bool) -> Report {
    let deadline = Instant::now() + timeout;
    let how = Assessing {
        offset: config.api_utc_offset.0,
        state_dir: config.state_dir.clone(),
        keep_expired: config.metrics.expired_package_series.keep(),
        prices: Arc::new(config.pricing.clone()),
        forecast: Arc::new(config.forecast.settings()),
        advise_always,
    };
    let limit = Arc::new(tokio::sync::Semaphore::new(CONCURRENT_POLLS));
    let mut tasks = tokio::task::JoinSet::new();
    for (index, account) in config.accounts.iter().enumerate() {
        let account = account.clone();
        let how = how.clone();
        let limit = limit.clone();
        tasks.spawn(async move {
            // The wait for a turn counts against the deadline too.
            let report = match tokio::time::timeout_at(deadline, limit.acquire_owned()).await {
                Ok(Ok(_turn)) => poll_one(&account, &how, timeout, deadline).await,
                _ => not_reached(account.name.as_str(), timeout, account.thresholds.clone()),
            };
            (index, report)
        });
    }
    let mut reports: Vec<Option<AccountReport>> = config.accounts.iter().map(|_| None).collect();
    // Every poll ends by the deadline on its own; this bounds them all
    // together as well, should one not (a client set-up that blocks).
    let all_done = deadline + Duration::from_millis(500);
    while let Ok(Some(joined)) = tokio::time::timeout_at(all_done, tasks.join_next()).await {
        if let Ok((index, report)) = joined
            && let Some(slot) = reports.get_mut(index)
        {
            *slot = Some(report);
        }
    }
    tasks.abort_all();
    let accounts: Vec<AccountReport> = reports
        .into_iter()
        .zip(&config.accounts)
        .map(|(report, account)| {
            report.unwrap_or_else(|| timed_out(account.name.as_str(), "the API", timeout, account.thresholds.clone()))
        })
        .collect();
    let state = overall(accounts.iter().map(|r| r.state));
    Report {
        state,
        exit_code: state.code(),
        accounts,
    }
}

/// Ends the check as UNKNOWN before any poll, saying why on stdout, where
/// the monitoring system reads it (as a JSON object with `--json`).
fn unknown_before_polling(json: bool, why: &str) -> ExitCode {
    let text = if json {
        let object = serde_json::json!({
            "state": CheckState::Unknown,
            "exit_code": CheckState::Unknown.code(),
            "error": why,
        });
        format!("{object:#}\n")
    } else {
        super::nagios::status_line(CheckState::Unknown, why, &[])
    };
    if let Err(e) = super::output::print(&text) {
        eprintln!("cdnquota: {e}");
    }
    ExitCode::from(CheckState::Unknown.code())
}

/// Runs the check with the config at `path`, bounded by `timeout`.
pub fn check(path: &Path, json: bool, timeout: Duration) -> ExitCode {
    crate::logging::init();
    let config = match crate::config::load(path, &crate::config::process_env) {
        Ok(loaded) => {
            for warning in &loaded.warnings {
                tracing::warn!("{warning}");
            }
            loaded.config
        }
        Err(e) => return unknown_before_polling(json, &format!("invalid config: {e}")),
    };
    let Ok(runtime) = super::runtime() else {
        return unknown_before_polling(json, "cannot start the async runtime");
    };
    let report = runtime.block_on(poll_all(&config, timeout, false));
    // A name lookup still running in the blocking pool must not hold the
    // exit past the timeout.
    runtime.shutdown_background();
    let text = if json {
        match serde_json::to_string_pretty(&report) {
            Ok(text) => text + "\n",
            Err(e) => return unknown_before_polling(json, &format!("cannot write JSON: {e}")),
        }
    } else {
        super::nagios::render(&report)
    };
    if let Err(e) = super::output::print(&text) {
        eprintln!("cdnquota: {e}");
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
    fn the_timeout_needs_a_unit_and_more_than_zero() {
        assert_eq!(parse_timeout("30s"), std::result::Result::Ok(Duration::from_secs(30)));
        assert_eq!(
            parse_timeout(DEFAULT_TIMEOUT),
            std::result::Result::Ok(Duration::from_secs(30))
        );
        assert!(parse_timeout("0s").unwrap_err().contains("e.g. \"30s\""));
        assert!(parse_timeout("30").unwrap_err().contains("\"30s\""));
    }
}
