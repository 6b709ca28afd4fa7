//! One watched account: its API client, each pool's consumption history and
//! the last results, and the poll itself (fetch, learn, assess, publish).

use super::billing::AccountBilling;
use crate::alerting::{Notifier, PollReport};
use crate::config::Account;
use crate::history_file::AccountHistories;
use crate::metrics::Metrics;
use crate::order::Orderer;
use crate::recorder::PollRecorder;
use cdnquota_core::account::{AccountAssessment, AccountInput, record_and_assess};
use cdnquota_core::assess::ForecastModel;
use cdnquota_core::model::{Package, PoolKey, Region, Resource, Snapshot};
use cdnquota_core::plausibility::implausible;
use cdnquota_core::pricing::PriceTable;
use cdnquota_core::units::format_amount_human;
use chrono::{DateTime, TimeDelta, Utc};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;
use tencent_cdn_api::source::PackageSource;

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
    pub assessment: Option<Arc<AccountAssessment>>,
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
    histories: Arc<Mutex<AccountHistories>>,
    recorder: Option<Arc<PollRecorder>>,
    billing: AccountBilling,
    // The key may not list HTTPS request packages: said once, not asked again.
    https_refused: Mutex<bool>,
    // How long a pool of only expired packages is kept (`[metrics]
    // expired_package_series`).
    keep_expired: Option<TimeDelta>,
    // What packages and pay-as-you-go cost (`[pricing]`).
    prices: Arc<PriceTable>,
    forecast: Arc<cdnquota_core::settings::ForecastSettings>,
    // Traffic regions already said to have no prices, so no advice.
    unpriced: Mutex<std::collections::BTreeSet<Region>>,
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
    /// reporting every poll to `notifier`; its pools' histories live in
    /// `state_dir`, and so does the recording of its polls when `recorder`
    /// is given. A pool of only expired packages goes `keep_expired` after
    /// the last expired (`None`: while they are listed).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        account: Account,
        source: PackageSource,
        metrics: Arc<Metrics>,
        notifier: Arc<Notifier>,
        orderer: Arc<Orderer>,
        state_dir: &std::path::Path,
        recorder: Option<PollRecorder>,
        keep_expired: Option<TimeDelta>,
        prices: Arc<PriceTable>,
        forecast: Arc<cdnquota_core::settings::ForecastSettings>,
    ) -> Self {
        let mixed = account.api == tencent_cdn_api::settings::ApiVersion::V3;
        let histories = AccountHistories::open(state_dir, account.name.as_str(), mixed, Utc::now());
        AccountWatch {
            account,
            source,
            metrics,
            notifier,
            orderer,
            histories: Arc::new(Mutex::new(histories)),
            recorder: recorder.map(Arc::new),
            billing: AccountBilling::default(),
            https_refused: Mutex::new(false),
            keep_expired,
            prices,
            forecast,
            unpriced: Mutex::new(Default::default()),
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
            self.metrics.pools.set(self.name(), assessment);
            let packages: Vec<_> = assessment.packages().cloned().collect();
            self.metrics.set_packages(self.name(), &packages, now);
        }
        *self.status.write().unwrap_or_else(|p| p.into_inner()) = status;
        *self.doubted.lock().unwrap_or_else(|p| p.into_inner()) =
            *old.doubted.lock().unwrap_or_else(|p| p.into_inner());
        self.billing.carry_from(&old.billing);
        *self.https_refused.lock().unwrap_or_else(|p| p.into_inner()) =
            *old.https_refused.lock().unwrap_or_else(|p| p.into_inner());
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
        let last_good = status.assessment.iter().flat_map(|a| a.packages().map(|v| &v.package));
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

    /// The remaining series of `pool`'s history, oldest first: (hour start
    /// in Unix seconds, amount left at that hour's last poll).
    pub fn remaining_series(&self, pool: PoolKey) -> Vec<(i64, u64)> {
        let histories = self.histories.lock().unwrap_or_else(|p| p.into_inner());
        histories
            .pools
            .get(&pool)
            .map(|h| h.remaining.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Adds the account's HTTPS request packages to `snapshot` (API 3.0).
    /// A key that may not list them is told once and the account watched
    /// without them; a passing failure keeps the packages the last good
    /// poll listed, since missing data is never an empty pool, and returns
    /// true: they are stale, not this poll's.
    async fn add_https_packages(&self, snapshot: &mut Snapshot) -> bool {
        let Some(client) = self.source.billing_client() else {
            return false;
        };
        if *self.https_refused.lock().unwrap_or_else(|p| p.into_inner()) {
            return false;
        }
        match client.https_packages().await {
            Ok(packages) => {
                snapshot.packages.extend(packages);
                false
            }
            Err(e) if e.is_not_permitted() => {
                tracing::warn!(
                    account = %self.name(),
                    "DescribeHttpsPackages is not available ({e}): HTTPS request packages are not watched; grant the key cdn:DescribeHttpsPackages to watch them"
                );
                *self.https_refused.lock().unwrap_or_else(|p| p.into_inner()) = true;
                false
            }
            Err(e) => {
                tracing::warn!(account = %self.name(), "DescribeHttpsPackages failed: {e}; the HTTPS request packages of the last good poll stand");
                let status = self.status.read().unwrap_or_else(|p| p.into_inner());
                let last: Vec<Package> = status
                    .assessment
                    .iter()
                    .flat_map(|a| a.packages())
                    .filter(|v| v.package.resource == Resource::HttpsRequests)
                    .map(|v| v.package.clone())
                    .collect();
                let stale = !last.is_empty();
                snapshot.packages.extend(last);
                stale
            }
        }
    }

    /// Reads what the key can tell of billing (API 3.0), each part on its
    /// own schedule, for the pools `snapshot` shows.
    async fn refresh_billing(&self, snapshot: &Snapshot, now: DateTime<Utc>) {
        let Some(client) = self.source.billing_client() else {
            return;
        };
        let mut pools: Vec<PoolKey> = snapshot.packages.iter().map(Package::pool).collect();
        pools.sort();
        pools.dedup();
        if !pools.iter().any(|p| p.resource == Resource::Traffic) {
            pools.insert(0, PoolKey::MAINLAND_TRAFFIC);
        }
        let name = self.name();
        self.billing.refresh_pay_types(name, client, now).await;
        self.billing
            .refresh_hourly(name, client, &pools, &self.histories, now)
            .await;
        self.billing.refresh_recent(name, client, &pools, now).await;
    }

    /// Polls the account unless a poll is already running.
    pub async fn poll(&self) -> PollOutcome {
        let Ok(_running) = self.polling.try_lock() else {
            tracing::warn!(account = %self.name(), "previous poll still running; this tick is skipped");
            return PollOutcome::Skipped;
        };
        let started = Instant::now();
        let mut result = self.source.fetch().await;
        let mut stale = Vec::new();
        if let Ok(snapshot) = &mut result
            && self.add_https_packages(snapshot).await
        {
            stale.push(super::billing::HTTPS_POOL);
        }
        let took = started.elapsed();
        let now = Utc::now();
        let result = result
            .map_err(|e| format!("{} failed: {e}; {}", self.source.action(), e.hint()))
            .and_then(|snapshot| self.believe(snapshot, now));
        match result {
            Ok(snapshot) => {
                self.refresh_billing(&snapshot, now).await;
                let Some(assessment) = self.assess_and_render(snapshot, stale, now).await else {
                    // Only when the runtime is shutting down under the poll.
                    return PollOutcome::Skipped;
                };
                self.metrics.polls.finished(self.name(), true, now, took);
                // OrderPackage buys mainland traffic: ordering reads that pool.
                let order_findings = match assessment.pool(PoolKey::MAINLAND_TRAFFIC) {
                    Some(mainland) => {
                        self.orderer
                            .after_poll(&self.account, &self.source, mainland, now)
                            .await
                    }
                    None => Vec::new(),
                };
                let mut status = self.status.write().unwrap_or_else(|p| p.into_inner());
                log_poll(self.name(), &assessment);
                self.say_unpriced(&assessment);
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

impl AccountWatch {
    /// Records the poll in the history (and saves it), assesses it and
    /// renders its per-package series on a blocking thread: for a large
    /// account that is real work, and the daemon's one runtime thread must
    /// stay free for `/healthz`.
    async fn assess_and_render(
        &self,
        snapshot: Snapshot,
        stale: Vec<PoolKey>,
        now: DateTime<Utc>,
    ) -> Option<Arc<AccountAssessment>> {
        let histories = self.histories.clone();
        let recorder = self.recorder.clone();
        let metrics = self.metrics.clone();
        let thresholds = self.account.thresholds.clone();
        let name = self.name().to_string();
        let active = self.notifier.depletion_active(self.name());
        let pay_types = self.billing.pay_types();
        let billed = self.billing.recent();
        let keep_expired = self.keep_expired;
        let prices = self.prices.clone();
        let forecast = self.forecast.clone();
        let busy = self.blocking.clone().lock_owned().await;
        let work = move || {
            let _busy = busy;
            if let Some(r) = &recorder {
                r.append(&snapshot);
            }
            let assessment = {
                let mut histories = histories.lock().unwrap_or_else(|p| p.into_inner());
                let input = AccountInput {
                    thresholds: &thresholds,
                    pay_types: &pay_types,
                    billed: &billed,
                    model: ForecastModel::Seasonal,
                    forecast: &forecast,
                    keep_expired,
                    depletion_active: &|pool| active.contains(&pool),
                    stale: &stale,
                    prices: Some(&prices),
                };
                let assessment = record_and_assess(snapshot, &mut histories.pools, &input);
                histories.save(now);
                assessment
            };
            // Totals first: by the time the new package series are out
            // (text scrapes wait for them), the totals match them.
            metrics.pools.set(&name, &assessment);
            let packages: Vec<_> = assessment.packages().cloned().collect();
            metrics.set_packages(&name, &packages, now);
            Arc::new(assessment)
        };
        match tokio::task::spawn_blocking(work).await {
            Ok(assessment) => Some(assessment),
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => None,
        }
    }
}

impl AccountWatch {
    /// Says once per region that a traffic pool gets no advice because
    /// `[pricing]` has no complete table for its region.
    fn say_unpriced(&self, a: &AccountAssessment) {
        let mut said = self.unpriced.lock().unwrap_or_else(|p| p.into_inner());
        for pool in a.pools.iter().filter(|p| p.pool.resource == Resource::Traffic) {
            let region = pool.pool.region;
            if self.prices.complete(region).is_none() && said.insert(region) {
                tracing::info!(
                    account = %self.name(),
                    pool = %pool.pool,
                    "no purchase advice or money at stake for {region}: [pricing.{}] lacks package prices or pay-as-you-go steps; add them to get advice",
                    region.name()
                );
            }
        }
    }
}

/// Logs each pool's totals; the alert lifecycle logs what fires and clears.
fn log_poll(account: &str, now: &AccountAssessment) {
    for pool in &now.pools {
        let amount = |n: u64| format_amount_human(n, pool.pool.resource);
        let rate = pool.consumption_bytes_per_second.map_or_else(
            || "rate unknown yet".to_string(),
            |r| format!("{}/s", amount(r.round() as u64)),
        );
        tracing::info!(
            account = %account,
            pool = %pool.pool,
            "{} left of {} in {} usable package(s), {rate}",
            amount(pool.totals.remaining_bytes),
            amount(pool.totals.size_bytes),
            pool.totals.usable_packages
        );
    }
}
