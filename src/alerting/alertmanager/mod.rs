//! Pushing alerts to Alertmanager (API v2), so that replicas of the daemon
//! behind an Alertmanager cluster alert once, through every receiver
//! Alertmanager has, and nothing is lost when one of them dies.
//!
//! The alert lifecycle stays the authority: after every poll the alerts it
//! has firing are tracked here, with `startsAt` the first firing (kept on
//! disk, so a restart is not a new alert), and those it no longer has are
//! resolved. Each Alertmanager is pushed to on its own: everything it has
//! not confirmed at once, everything else every `resend_interval`, with
//! backoff while it fails. Pushing the same alert twice is harmless (equal
//! labels are one alert), which is also what lets two replicas push side
//! by side: Alertmanager deduplicates them, and its cluster the
//! notifications.
//!
//! A daemon pushes nothing until its first poll round is done: the alerts
//! it saved may be stale (the other replica may have resolved them while
//! this one was down), and pushing them as firing would fire them again.

pub mod client;
pub mod payload;
pub mod queue;
pub mod store;

use super::delivery::DeliveryError;
use crate::config::alertmanager::AlertmanagerConfig;
use crate::metrics::Metrics;
use cdnquota_core::account::AccountAssessment;
use cdnquota_core::alerts::{Lifecycle, Notice, NoticeKind, Phase};
use cdnquota_core::model::PoolKey;
use chrono::{DateTime, TimeDelta, Utc};
use client::PushClient;
use payload::{AmAlert, key, track};
use queue::{Delivery, MAX_RESOLVED, Queue};
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use store::QueueFile;
use tokio::sync::Notify;

/// While the queue cannot be saved, the error is logged again this often.
const UNSAVED_REMINDER: TimeDelta = TimeDelta::hours(1);

/// How pushing to one Alertmanager goes, for the status page.
#[derive(Clone, Debug)]
pub struct UrlHealth {
    /// The Alertmanager's base URL.
    pub url: String,
    /// Alerts it has not confirmed in their latest state.
    pub pending: usize,
    /// Its last accepted push.
    pub last_success: Option<DateTime<Utc>>,
    /// Failed pushes in a row, and the last one's reason.
    pub failing: Option<(u32, String)>,
}

struct Inner {
    queue: Queue,
    file: QueueFile,
    // One per configured URL, in order.
    deliveries: Vec<Delivery>,
    // A state changed since the last save.
    dirty: bool,
    // The alert state could not be saved at the last poll: neither is the
    // queue, which must never be ahead of it on disk.
    held: bool,
    unsaved_logged_at: Option<DateTime<Utc>>,
}

/// The Alertmanager shell: the queue, its file, and the pushes.
pub struct Pusher {
    config: AlertmanagerConfig,
    client: PushClient,
    inner: Mutex<Inner>,
    metrics: Arc<Metrics>,
    // One per URL: each Alertmanager is pushed to by a loop of its own, so
    // one that hangs delays no other.
    wakes: Vec<Notify>,
    stopping: AtomicBool,
}

impl Pusher {
    /// Opens the queue in `state_dir` and brings it in line with
    /// `lifecycle` (the saved alert state), which may be ahead of it after
    /// a crash between the two saves.
    pub fn new(
        config: &AlertmanagerConfig,
        state_dir: &Path,
        lifecycle: &Lifecycle,
        metrics: Arc<Metrics>,
        now: DateTime<Utc>,
    ) -> Result<Pusher, String> {
        let client = PushClient::new(config)?;
        let opened = QueueFile::open(state_dir, now);
        if let Some(problem) = &opened.problem {
            tracing::error!("{problem}");
        }
        let pusher = Pusher {
            config: config.clone(),
            client,
            inner: Mutex::new(Inner {
                queue: opened.queue,
                file: opened.file,
                deliveries: vec![Delivery::default(); config.urls.len()],
                dirty: false,
                held: false,
                unsaved_logged_at: None,
            }),
            metrics,
            wakes: config.urls.iter().map(|_| Notify::new()).collect(),
            stopping: AtomicBool::new(false),
        };
        {
            let mut inner = pusher.lock();
            let mut accounts = inner.queue.accounts();
            accounts.extend(lifecycle.alerts.values().map(|a| a.account.clone()));
            for account in accounts {
                let firing = pusher.firing(&inner.queue, lifecycle, &account, None, &BTreeSet::new(), now);
                inner.dirty |= inner.queue.observe(&account, firing, now);
            }
            pusher.prune(&mut inner, now);
            pusher.save(&mut inner);
            pusher.publish(&inner);
        }
        let urls: Vec<&str> = config.urls.iter().map(|u| u.as_str()).collect();
        tracing::info!(
            "alerts are pushed to Alertmanager at {}, re-sent every {}s",
            urls.join(", "),
            config.resend_interval.as_secs()
        );
        Ok(pusher)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `account`'s firing alerts in `lifecycle`, as tracked for
    /// Alertmanager. One that fired at this poll (`fired_now`) starts now;
    /// one already firing keeps its start in the queue, or else starts when
    /// it was first seen. Without an assessment the numbers last known are
    /// kept rather than dropped.
    fn firing(
        &self,
        queue: &Queue,
        lifecycle: &Lifecycle,
        account: &str,
        assessment: Option<&AccountAssessment>,
        fired_now: &BTreeSet<String>,
        now: DateTime<Utc>,
    ) -> Vec<AmAlert> {
        lifecycle
            .alerts
            .values()
            .filter(|a| a.account == account && a.phase == Phase::Firing)
            .map(|a| {
                let starts_at = if fired_now.contains(&a.key()) { now } else { a.since };
                // An account's own alerts (orders, polling) show the pool
                // that orders buy for.
                let pool = a.pool().unwrap_or(PoolKey::MAINLAND_TRAFFIC);
                let pool = assessment.and_then(|x| x.pool(pool));
                let mut tracked = track(a, &self.config.labels, pool, starts_at);
                if pool.is_none()
                    && let Some(known) = queue.alerts.get(&key(&tracked.labels))
                {
                    let mut merged = known.annotations.clone();
                    merged.extend(tracked.annotations);
                    tracked.annotations = merged;
                }
                tracked
            })
            .collect()
    }

    /// Tracks what `account`'s poll changed: called with the lifecycle as
    /// the poll left it and the notices it gave. Saved by [`Pusher::commit`].
    pub fn observe(
        &self,
        account: &str,
        lifecycle: &Lifecycle,
        notices: &[Notice],
        assessment: Option<&AccountAssessment>,
        now: DateTime<Utc>,
    ) {
        let fired_now: BTreeSet<String> = notices
            .iter()
            .filter(|n| n.kind == NoticeKind::Firing)
            .map(|n| n.alert.key())
            .collect();
        let mut inner = self.lock();
        let firing = self.firing(&inner.queue, lifecycle, account, assessment, &fired_now, now);
        inner.dirty |= inner.queue.observe(account, firing, now);
    }

    /// Saves what changed (unless the alert state could not be saved:
    /// the queue on disk is never ahead of it) and wakes every push loop.
    pub fn commit(&self, state_saved: bool) {
        let mut inner = self.lock();
        inner.held = !state_saved;
        self.save(&mut inner);
        self.publish(&inner);
        drop(inner);
        for wake in &self.wakes {
            wake.notify_one();
        }
    }

    fn prune(&self, inner: &mut Inner, now: DateTime<Utc>) {
        let urls: Vec<&str> = self.config.urls.iter().map(|u| u.as_str()).collect();
        let pruned = inner.queue.prune(&urls, now);
        if pruned.dropped > 0 {
            tracing::warn!(
                "dropped the {} oldest resolved alert(s) that not every Alertmanager has confirmed: the queue keeps at most {MAX_RESOLVED}; an Alertmanager that missed them ends them by their endsAt",
                pruned.dropped
            );
        }
        inner.dirty |= pruned.changed;
    }

    fn save(&self, inner: &mut Inner) {
        if !inner.dirty || inner.held {
            return;
        }
        let now = Utc::now();
        match inner.file.save(&inner.queue) {
            Ok(_) => {
                inner.dirty = false;
                if inner.unsaved_logged_at.take().is_some() {
                    tracing::info!("the Alertmanager queue is saved again");
                }
            }
            Err(e) => {
                if inner.unsaved_logged_at.is_none_or(|t| now - t >= UNSAVED_REMINDER) {
                    tracing::error!("{e}; alerts not yet confirmed by an Alertmanager survive only until a restart");
                    inner.unsaved_logged_at = Some(now);
                }
            }
        }
    }

    fn publish(&self, inner: &Inner) {
        for (url, delivery) in self.config.urls.iter().zip(&inner.deliveries) {
            self.metrics
                .alertmanager
                .set_url(url.as_str(), inner.queue.pending(url.as_str()), delivery.last_success);
        }
    }

    /// Pushes to every Alertmanager until [`Pusher::stop`].
    pub async fn run(self: Arc<Self>) {
        let mut loops = tokio::task::JoinSet::new();
        for index in 0..self.config.urls.len() {
            let pusher = self.clone();
            loops.spawn(async move { pusher.run_url(index).await });
        }
        while loops.join_next().await.is_some() {}
    }

    async fn run_url(&self, index: usize) {
        let url = self.config.urls[index].as_str();
        loop {
            if self.stopping.load(Ordering::SeqCst) {
                return;
            }
            let now = Utc::now();
            let due = {
                let inner = self.lock();
                inner.deliveries[index].next_push(inner.queue.pending(url), self.config.resend_interval, now)
            };
            if due > now {
                let wait = (due - now).to_std().unwrap_or_default().max(Duration::from_millis(20));
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = self.wakes[index].notified() => {}
                }
                continue;
            }
            self.push_once(index).await;
        }
    }

    /// One push to the Alertmanager at `index`, its outcome recorded.
    async fn push_once(&self, index: usize) {
        let url = &self.config.urls[index];
        let now = Utc::now();
        let batch = self.lock().queue.batch(url.as_str(), now);
        // Even an empty batch is posted: it tells whether the Alertmanager
        // is there before an alert needs it.
        let result = match payload::body(
            &batch,
            now,
            self.config.resend_interval,
            self.config.external_url.as_deref(),
        ) {
            Ok(body) => self.client.push(url, body).await,
            Err(e) => Err(DeliveryError::Failed(format!("cannot write the alerts as JSON: {e}"))),
        };
        let now = Utc::now();
        let mut inner = self.lock();
        match result {
            Ok(()) => {
                let delivery = &mut inner.deliveries[index];
                if delivery.attempts > 0 {
                    tracing::info!(
                        "Alertmanager {} takes pushes again after {} failed attempt(s)",
                        url.as_str(),
                        delivery.attempts
                    );
                }
                delivery.succeeded(now);
                self.metrics.alertmanager.push(url.as_str(), "sent");
                tracing::debug!("pushed {} alert(s) to {}", batch.len(), url.as_str());
                inner.dirty |= inner.queue.confirm(url.as_str(), &batch);
                self.prune(&mut inner, now);
            }
            Err(e) => {
                let pending = inner.queue.pending(url.as_str());
                let delivery = &mut inner.deliveries[index];
                delivery.failed(
                    e.message().to_string(),
                    self.config.retry_backoff,
                    self.config.resend_interval,
                    now,
                );
                let outcome = if e.is_refused() { "rejected" } else { "failed" };
                self.metrics.alertmanager.push(url.as_str(), outcome);
                // Loud at the first failure, then every tenth: an
                // Alertmanager down for a day is a few lines, not thousands.
                if delivery.attempts == 1 || delivery.attempts.is_multiple_of(10) {
                    let next = delivery.retry_at.unwrap_or(now).format("%H:%M:%S");
                    if e.is_refused() {
                        tracing::error!(
                            "Alertmanager {} refused {} alert(s) (attempt {}): {e}; {pending} wait(s) for it; next try at {next} UTC",
                            url.as_str(),
                            batch.len(),
                            delivery.attempts
                        );
                    } else {
                        tracing::warn!(
                            "pushing to Alertmanager {} failed (attempt {}): {e}; {pending} alert state(s) wait for it; next try at {next} UTC",
                            url.as_str(),
                            delivery.attempts
                        );
                    }
                }
            }
        }
        self.save(&mut inner);
        self.publish(&inner);
    }

    /// Asks every push loop to stop: a push under way finishes (bounded by
    /// the timeout) and its outcome is saved; no new one starts.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        for wake in &self.wakes {
            wake.notify_one();
        }
    }

    /// The longest a push can take, for a stop waiting on one.
    pub fn timeout(&self) -> Duration {
        self.config.timeout
    }

    /// How pushing goes to each Alertmanager.
    pub fn health(&self) -> Vec<UrlHealth> {
        let inner = self.lock();
        self.config
            .urls
            .iter()
            .zip(&inner.deliveries)
            .map(|(url, d)| UrlHealth {
                url: url.as_str().to_string(),
                pending: inner.queue.pending(url.as_str()),
                last_success: d.last_success,
                failing: d
                    .last_error
                    .as_ref()
                    .filter(|_| d.attempts > 0)
                    .map(|(_, why)| (d.attempts, why.clone())),
            })
            .collect()
    }
}
