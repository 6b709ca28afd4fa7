//! One watched account: its API client, poll history and last results, and
//! the poll itself (fetch, assess, publish).

use crate::api::source::PackageSource;
use crate::config::Account;
use crate::config::units::format_size_human;
use crate::core::assess::{Assessment, assess_at_rate};
use crate::core::forecast::History;
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
    history: Arc<Mutex<History>>,
    status: RwLock<AccountStatus>,
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
            history: Arc::new(Mutex::new(History::new())),
            status: RwLock::new(AccountStatus::default()),
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
        match result {
            Ok(snapshot) => {
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
            Err(e) => {
                // The last good values stay published: a failed poll says
                // nothing about the bytes left.
                tracing::error!(account = %self.name(), "{} failed: {e}; {}", self.source.action(), e.hint());
                self.metrics.polls.finished(self.name(), false, now, took);
                let mut status = self.status.write().unwrap_or_else(|p| p.into_inner());
                let error = format!("{} failed: {e}; {}", self.source.action(), e.hint());
                let report = PollReport::Failed {
                    error: &error,
                    last_good: status.assessment.as_deref(),
                };
                self.notifier.after_poll(self.name(), report, now);
                status.last_poll = Some(now);
                status.last_error = Some(error);
                PollOutcome::Failed
            }
        }
    }
}

impl AccountWatch {
    /// Records the poll, assesses it and renders its per-package series on
    /// a blocking thread: for a large account that is real work, and the
    /// daemon's one runtime thread must stay free for `/healthz`.
    async fn assess_and_render(&self, snapshot: Snapshot, now: DateTime<Utc>) -> Option<Arc<Assessment>> {
        let history = self.history.clone();
        let metrics = self.metrics.clone();
        let thresholds = self.account.thresholds;
        let name = self.name().to_string();
        let work = move || {
            let rate = {
                let mut history = history.lock().unwrap_or_else(|p| p.into_inner());
                history.record(&snapshot, RATE_WINDOW);
                history.consumption_rate()
            };
            let assessment = assess_at_rate(snapshot, rate, &thresholds, now);
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
