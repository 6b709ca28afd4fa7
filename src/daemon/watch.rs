//! One watched account: its API client, poll history and last results, and
//! the poll itself (fetch, assess, publish).

use crate::api::source::PackageSource;
use crate::config::Account;
use crate::config::units::format_size_human;
use crate::core::assess::{Assessment, assess_at_rate};
use crate::core::forecast::History;
use crate::core::plausibility::implausible;
use crate::metrics::Metrics;
use crate::model::Snapshot;
use crate::notify::{Notifier, PollReport};
use crate::order::Orderer;
use chrono::{DateTime, Utc};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// How far back the burn rate looks.
pub const RATE_WINDOW: Duration = Duration::from_secs(6 * 3600);

/// What the last polls of an account found.
#[derive(Clone, Debug, Default)]
pub struct AccountStatus {
    /// When the last poll finished.
    pub last_poll: Option<DateTime<Utc>>,
    /// When the last successful poll finished.
    pub last_success: Option<DateTime<Utc>>,
    /// Why the last poll failed, if it did.
    pub last_error: Option<String>,
    /// The assessment of the last successful poll.
    pub assessment: Option<Assessment>,
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
    history: Mutex<History>,
    status: RwLock<AccountStatus>,
    // Whether the previous poll brought an unbelievable package list (a
    // second one in a row is believed).
    doubted: Mutex<bool>,
    // The poll tasks started, so a stop can end those still running.
    tasks: Mutex<Vec<tokio::task::AbortHandle>>,
    // Held for the whole poll, so one account is never polled twice at once.
    polling: tokio::sync::Mutex<()>,
}

impl AccountWatch {
    /// Watches `account` through `source`, publishing to `metrics` and
    /// reporting every poll to `notifier`.
    pub fn new(
        account: Account,
        source: PackageSource,
        metrics: Arc<Metrics>,
        notifier: Arc<Notifier>,
        orderer: Arc<Orderer>,
    ) -> Self {
        AccountWatch {
            account,
            source,
            metrics,
            notifier,
            orderer,
            history: Mutex::new(History::new()),
            status: RwLock::new(AccountStatus::default()),
            doubted: Mutex::new(false),
            tasks: Mutex::new(Vec::new()),
            polling: tokio::sync::Mutex::new(()),
        }
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
                let rate = {
                    let mut history = self.history.lock().unwrap_or_else(|p| p.into_inner());
                    history.record(&snapshot, RATE_WINDOW);
                    history.consumption_rate()
                };
                let assessment = assess_at_rate(snapshot, rate, &self.account.thresholds, now);
                self.metrics.packages.set(self.name(), &assessment.packages);
                self.metrics.accounts.set(self.name(), &assessment);
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
                status.last_success = Some(now);
                status.last_error = None;
                status.assessment = Some(assessment);
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
                    last_good: status.assessment.as_ref(),
                };
                self.notifier.after_poll(self.name(), report, now);
                status.last_poll = Some(now);
                status.last_error = Some(error);
                PollOutcome::Failed
            }
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
