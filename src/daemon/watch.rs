//! One watched account: its API client, consumption history and last
//! results, and the poll itself (fetch, learn, assess, publish).

use crate::alerting::{Notifier, PollReport};
use crate::config::Account;
use crate::history_file::HistoryFile;
use crate::metrics::Metrics;
use crate::order::Orderer;
use crate::recorder::PollRecorder;
use cdnquota_core::assess::{Assessment, ForecastModel};
use cdnquota_core::history::AccountHistory;
use cdnquota_core::model::{BillingArea, Snapshot};
use cdnquota_core::plausibility::implausible;
use cdnquota_core::rules::Rule;
use cdnquota_core::units::format_size_human;
use chrono::{DateTime, Utc};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;
use tencent_cdn_api::source::PackageSource;
use tencent_cdn_api::v3::{BillingInterval, BillingMetric};

/// How much billed traffic is asked for at start: the last 30 days.
const BILLING_BACKFILL: chrono::TimeDelta = chrono::TimeDelta::days(30);
/// Billed hours are taken once they are this old: Tencent's figure for the
/// latest hours is not final yet.
const BILLING_SETTLED: chrono::TimeDelta = chrono::TimeDelta::hours(2);

/// Whether and when billed traffic is asked for next.
#[derive(Debug, Default)]
struct Billing {
    /// The key may not read it, or the endpoint does not know the action.
    refused: bool,
    /// Not before this.
    next_try: Option<DateTime<Utc>>,
}

/// What the last polls of an account found.
#[derive(Clone, Debug, Default)]
pub struct AccountStatus {
    /// When the last poll finished.
    pub last_poll: Option<DateTime<Utc>>,
    /// The same moment on the monotonic clock, which no clock step moves.
    pub last_poll_mono: Option<Instant>,
    /// When the last successful poll finished.
    pub last_success: Option<DateTime<Utc>>,
    /// Why the last poll failed, if it did.
    pub last_error: Option<String>,
    /// The assessment of the last successful poll (shared, not copied).
    pub assessment: Option<Arc<Assessment>>,
}

/// How a poll ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PollOutcome {
    /// Fetched and assessed.
    Succeeded,
    /// The API call failed; the last good values stand.
    Failed,
    /// Another poll of this account was still running.
    Skipped,
}

/// An account being watched.
pub struct AccountWatch {
    /// The account's config.
    pub account: Account,
    source: PackageSource,
    metrics: Arc<Metrics>,
    notifier: Arc<Notifier>,
    orderer: Arc<Orderer>,
    history: Arc<Mutex<AccountHistory>>,
    history_file: Arc<HistoryFile>,
    recorder: Option<Arc<PollRecorder>>,
    billing: Mutex<Billing>,
    status: RwLock<AccountStatus>,
    // Whether the previous poll brought an unbelievable package list (a
    // second one in a row is believed).
    doubted: Mutex<bool>,
    // The poll tasks started, so a stop can end those still running.
    tasks: Mutex<Vec<tokio::task::AbortHandle>>,
    // Held by the blocking thread that records and assesses a poll: an
    // aborted poll cannot stop it, so a stop waits for it.
    blocking: Arc<tokio::sync::Mutex<()>>,
    // Held for the whole poll, so one account is never polled twice at once.
    polling: tokio::sync::Mutex<()>,
}

impl AccountWatch {
    /// Watches `account` through `source`, publishing to `metrics` and
    /// reporting every poll to `notifier`; its history lives in `state_dir`,
    /// and so does the recording of its polls when `recorder` is given.
    pub fn new(
        account: Account,
        source: PackageSource,
        metrics: Arc<Metrics>,
        notifier: Arc<Notifier>,
        orderer: Arc<Orderer>,
        state_dir: &std::path::Path,
        recorder: Option<PollRecorder>,
    ) -> Self {
        let (history_file, history) = HistoryFile::open(state_dir, account.name.as_str(), Utc::now());
        AccountWatch {
            account,
            source,
            metrics,
            notifier,
            orderer,
            history: Arc::new(Mutex::new(history)),
            history_file: Arc::new(history_file),
            recorder: recorder.map(Arc::new),
            billing: Mutex::new(Billing::default()),
            status: RwLock::new(AccountStatus::default()),
            doubted: Mutex::new(false),
            tasks: Mutex::new(Vec::new()),
            blocking: Arc::new(tokio::sync::Mutex::new(())),
            polling: tokio::sync::Mutex::new(()),
        }
    }

    /// Takes over what the watch a reload replaces knew (its config is the
    /// same): the last polls' results, and its doubt and billing schedule,
    /// and publishes them, so the account needs no poll to be seen.
    pub fn carry_from(&self, old: &AccountWatch, now: DateTime<Utc>) {
        let status = old.status();
        if let Some(assessment) = &status.assessment {
            self.metrics.accounts.set(self.name(), assessment);
            self.metrics.set_packages(self.name(), &assessment.packages, now);
        }
        *self.status.write().unwrap_or_else(|p| p.into_inner()) = status;
        *self.doubted.lock().unwrap_or_else(|p| p.into_inner()) =
            *old.doubted.lock().unwrap_or_else(|p| p.into_inner());
        let billing = old.billing.lock().unwrap_or_else(|p| p.into_inner());
        *self.billing.lock().unwrap_or_else(|p| p.into_inner()) = Billing {
            refused: billing.refused,
            next_try: billing.next_try,
        };
    }

    /// The account's name.
    pub fn name(&self) -> &str {
        self.account.name.as_str()
    }

    /// A copy of what the last polls found.
    pub fn status(&self) -> AccountStatus {
        self.status.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Whether a poll has succeeded yet (cheap: no copy of the packages).
    pub fn ever_succeeded(&self) -> bool {
        self.status
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .last_success
            .is_some()
    }

    /// Waits until no poll of this account is running.
    pub async fn wait_idle(&self) {
        let _idle = self.polling.lock().await;
    }

    /// Starts a poll in a task of its own, remembered so that a stop can end
    /// it if it outlives the grace period.
    pub fn spawn_poll(self: &Arc<Self>) -> tokio::task::JoinHandle<PollOutcome> {
        let watch = self.clone();
        let handle = tokio::spawn(async move { watch.poll().await });
        let mut tasks = self.tasks.lock().unwrap_or_else(|p| p.into_inner());
        tasks.retain(|t| !t.is_finished());
        tasks.push(handle.abort_handle());
        handle
    }

    /// Waits until no poll's history work is running on a blocking thread.
    pub async fn wait_blocking(&self) {
        let _idle = self.blocking.lock().await;
    }

    /// Ends every poll task still running.
    pub fn abort_polls(&self) {
        for task in self.tasks.lock().unwrap_or_else(|p| p.into_inner()).drain(..) {
            task.abort();
        }
    }

    /// The snapshot, or why it is not to be believed yet.
    fn believe(&self, snapshot: Snapshot, now: DateTime<Utc>) -> Result<Snapshot, String> {
        let mut doubted = self.doubted.lock().unwrap_or_else(|p| p.into_inner());
        let status = self.status.read().unwrap_or_else(|p| p.into_inner());
        let last_good = status
            .assessment
            .iter()
            .flat_map(|a| a.packages.iter().map(|v| &v.package));
        let verdict = implausible(last_good, &snapshot, *doubted, now);
        drop(status);
        match verdict {
            Some(why) => {
                *doubted = true;
                Err(why)
            }
            None => {
                *doubted = false;
                Ok(snapshot)
            }
        }
    }

    /// The remaining-bytes series of the history, oldest first: (hour
    /// start in Unix seconds, bytes left at that hour's last poll).
    pub fn remaining_series(&self) -> Vec<(i64, u64)> {
        let history = self.history.lock().unwrap_or_else(|p| p.into_inner());
        history.remaining.iter().copied().collect()
    }

    /// Reads Tencent's billed traffic into the history (API 3.0): the last
    /// 30 days at start, then the hours settled since, at most hourly. A key
    /// or endpoint that cannot read it is reported once and the daemon
    /// carries on with its own history.
    async fn refresh_billing(&self, snapshot: &cdnquota_core::model::Snapshot, now: DateTime<Utc>) {
        let Some(client) = self.source.billing_client() else {
            return;
        };
        {
            let billing = self.billing.lock().unwrap_or_else(|p| p.into_inner());
            if billing.refused || billing.next_try.is_some_and(|t| now < t) {
                return;
            }
        }
        let settled = now - BILLING_SETTLED;
        let from = {
            let history = self.history.lock().unwrap_or_else(|p| p.into_inner());
            // The last day again too: Tencent may still correct late hours.
            history
                .hourly
                .last_billed()
                .map_or(now - BILLING_BACKFILL, |t| t - chrono::TimeDelta::hours(24))
                .max(now - BILLING_BACKFILL)
        };
        let mut next_try = now + chrono::TimeDelta::hours(1);
        if from < settled {
            let mut hours: std::collections::BTreeMap<DateTime<Utc>, f64> = Default::default();
            let mut failure = None;
            for area in billing_areas(snapshot) {
                let (metric, interval) = (BillingMetric::Flux, BillingInterval::Hour);
                match client.billing_data(from, settled, area, metric, interval).await {
                    Ok(got) => {
                        for (start, bytes) in got {
                            *hours.entry(start).or_default() += bytes;
                        }
                    }
                    Err(e) => {
                        failure = Some(e);
                        break;
                    }
                }
            }
            match failure {
                None => {
                    let complete: Vec<_> = hours
                        .into_iter()
                        .filter(|(start, _)| *start + chrono::TimeDelta::hours(1) <= settled)
                        .collect();
                    tracing::info!(account = %self.name(), "read {} hour(s) of billed traffic", complete.len());
                    self.history
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .add_billing(&complete);
                }
                Some(e) if billing_not_allowed(&e) => {
                    tracing::warn!(
                        account = %self.name(),
                        "DescribeBillingData is not available ({e}): the forecast uses the daemon's own history instead; to let it see real demand from the first poll and while the pool is empty, grant the key cdn:DescribeBillingData"
                    );
                    self.billing.lock().unwrap_or_else(|p| p.into_inner()).refused = true;
                    return;
                }
                Some(e) => {
                    tracing::warn!(account = %self.name(), "DescribeBillingData failed: {e}; tried again in an hour");
                }
            }
        } else {
            next_try = now + chrono::TimeDelta::minutes(30);
        }
        self.billing.lock().unwrap_or_else(|p| p.into_inner()).next_try = Some(next_try);
    }

    /// Polls the account unless a poll is already running.
    pub async fn poll(&self) -> PollOutcome {
        let Ok(_running) = self.polling.try_lock() else {
            tracing::warn!(account = %self.name(), "previous poll still running; this tick is skipped");
            return PollOutcome::Skipped;
        };
        let started = Instant::now();
        let result = self.source.fetch().await;
        let took = started.elapsed();
        let now = Utc::now();
        let result = result
            .map_err(|e| format!("{} failed: {e}; {}", self.source.action(), e.hint()))
            .and_then(|snapshot| self.believe(snapshot, now));
        match result {
            Ok(snapshot) => {
                self.refresh_billing(&snapshot, now).await;
                let Some(assessment) = self.assess_and_render(snapshot, now).await else {
                    // Only when the runtime is shutting down under the poll.
                    return PollOutcome::Skipped;
                };
                self.metrics.polls.finished(self.name(), true, now, took);
                let order_findings = self
                    .orderer
                    .after_poll(&self.account, &self.source, &assessment, now)
                    .await;
                let mut status = self.status.write().unwrap_or_else(|p| p.into_inner());
                log_poll(self.name(), &assessment);
                let report = PollReport::Succeeded {
                    assessment: &assessment,
                    extra: &order_findings,
                };
                self.notifier.after_poll(self.name(), report, now);
                status.last_poll = Some(now);
                status.last_poll_mono = Some(Instant::now());
                status.last_success = Some(now);
                status.last_error = None;
                let previous = status.assessment.replace(assessment);
                drop(status);
                // The last assessment is freed off the runtime thread (a
                // large account is many small frees), and with it what the
                // poll let go is returned to the system.
                tokio::task::spawn_blocking(move || {
                    drop(previous);
                    crate::memory::release_free_memory();
                });
                PollOutcome::Succeeded
            }
            Err(error) => {
                // The last good values stay published: a failed poll says
                // nothing about the bytes left.
                tracing::error!(account = %self.name(), "{error}");
                self.metrics.polls.finished(self.name(), false, now, took);
                let mut status = self.status.write().unwrap_or_else(|p| p.into_inner());
                let report = PollReport::Failed {
                    error: &error,
                    last_good: status.assessment.as_deref(),
                };
                self.notifier.after_poll(self.name(), report, now);
                status.last_poll = Some(now);
                status.last_poll_mono = Some(Instant::now());
                status.last_error = Some(error);
                PollOutcome::Failed
            }
        }
    }
}

/// The billing areas of the account's usable packages (their `Area`;
/// mainland, the API's default, when they do not say): a pool of both
/// drains both, so both are read and added up.
fn billing_areas(snapshot: &cdnquota_core::model::Snapshot) -> Vec<BillingArea> {
    let usable = || {
        snapshot
            .packages
            .iter()
            .filter(|p| cdnquota_core::pool::is_usable(p, snapshot.taken_at))
    };
    let overseas = usable().any(|p| p.area.as_deref() == Some("overseas"));
    let mainland = usable().any(|p| p.area.as_deref() != Some("overseas"));
    match (mainland, overseas) {
        (_, false) => vec![BillingArea::Mainland],
        (false, true) => vec![BillingArea::Overseas],
        (true, true) => vec![BillingArea::Mainland, BillingArea::Overseas],
    }
}

/// Whether DescribeBillingData's error means this key or endpoint will
/// never read it (then the daemon stops asking), rather than a passing or
/// one-off failure (then it asks again in an hour).
fn billing_not_allowed(e: &tencent_cdn_api::error::ApiError) -> bool {
    match e {
        tencent_cdn_api::error::ApiError::Tencent { code, .. } => [
            "AuthFailure",
            "UnauthorizedOperation",
            "InvalidAction",
            "UnsupportedOperation",
        ]
        .iter()
        .any(|p| code.starts_with(p)),
        tencent_cdn_api::error::ApiError::HttpStatus { status, .. } => *status == 404,
        _ => false,
    }
}

impl AccountWatch {
    /// Records the poll in the history (and saves it), assesses it and
    /// renders its per-package series on a blocking thread: for a large
    /// account that is real work, and the daemon's one runtime thread must
    /// stay free for `/healthz`.
    async fn assess_and_render(&self, snapshot: Snapshot, now: DateTime<Utc>) -> Option<Arc<Assessment>> {
        let history = self.history.clone();
        let file = self.history_file.clone();
        let recorder = self.recorder.clone();
        let metrics = self.metrics.clone();
        let thresholds = self.account.thresholds;
        let name = self.name().to_string();
        let depletion_active = self.notifier.is_active(self.name(), Rule::DepletionForecast.name());
        let busy = self.blocking.clone().lock_owned().await;
        let work = move || {
            let _busy = busy;
            if let Some(r) = &recorder {
                r.append(&snapshot);
            }
            let assessment = {
                let mut history = history.lock().unwrap_or_else(|p| p.into_inner());
                let assessment =
                    history.record_and_assess(snapshot, &thresholds, ForecastModel::Seasonal, depletion_active);
                file.save(&history, now);
                assessment
            };
            // Totals first: by the time the new package series are out
            // (text scrapes wait for them), the totals match them.
            metrics.accounts.set(&name, &assessment);
            metrics.set_packages(&name, &assessment.packages, now);
            Arc::new(assessment)
        };
        match tokio::task::spawn_blocking(work).await {
            Ok(assessment) => Some(assessment),
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => None,
        }
    }
}

/// Logs the poll's totals; the alert lifecycle logs what fires and clears.
fn log_poll(account: &str, now: &Assessment) {
    let rate = now.consumption_bytes_per_second.map_or_else(
        || "rate unknown yet".to_string(),
        |r| format!("{}/s", format_size_human(r.round() as u64)),
    );
    tracing::info!(
        account = %account,
        "{} left of {} in {} usable package(s), {rate}",
        format_size_human(now.totals.remaining_bytes),
        format_size_human(now.totals.size_bytes),
        now.totals.usable_packages
    );
}
