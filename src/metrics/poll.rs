//! The daemon's own health: did the last poll work, when, how long it took,
//! and every API request by outcome.

use chrono::{DateTime, Utc};
use prometheus::{GaugeVec, IntCounterVec, Registry};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tencent_cdn_api::RequestObserver;

/// Polling health gauges and the request counter.
pub struct PollMetrics {
    success: GaugeVec,
    last_poll: GaugeVec,
    last_success: GaugeVec,
    duration: GaugeVec,
    requests: IntCounterVec,
    changes: Arc<AtomicU64>,
}

impl PollMetrics {
    /// Carries the request counts, and the gauges `keep_gauges` names,
    /// over a reload.
    pub(super) fn carry_from(
        &self,
        old: &PollMetrics,
        keep_counts: &dyn Fn(&super::Labels) -> bool,
        keep_gauges: &dyn Fn(&super::Labels) -> bool,
    ) {
        super::carry_counter(&old.requests, &self.requests, keep_counts);
        for (from, to) in [
            (&old.success, &self.success),
            (&old.last_poll, &self.last_poll),
            (&old.last_success, &self.last_success),
            (&old.duration, &self.duration),
        ] {
            super::carry_gauge(from, to, keep_gauges);
        }
    }

    pub(super) fn register(r: &Registry, changes: Arc<AtomicU64>) -> prometheus::Result<Self> {
        let g = |name: &str, help: &str| super::gauge_vec(r, name, help, &["account"]);
        Ok(PollMetrics {
            success: g(
                "poll_success",
                "1 if the account's last poll succeeded, 0 if it failed (package values then stay at the last good poll).",
            )?,
            last_poll: g(
                "last_poll_timestamp_seconds",
                "Unix time (UTC) the account's last poll finished, successful or not.",
            )?,
            last_success: g(
                "last_success_timestamp_seconds",
                "Unix time (UTC) of the account's last successful poll.",
            )?,
            duration: g(
                "poll_duration_seconds",
                "How long the account's last poll took, retries included.",
            )?,
            requests: super::counter_vec(
                r,
                "api_requests_total",
                "API requests sent, by action and outcome (success, api_error, http_error, timeout, transport_error, malformed).",
                &["account", "action", "outcome"],
            )?,
            changes,
        })
    }

    /// Records a finished poll.
    pub fn finished(&self, account: &str, ok: bool, at: DateTime<Utc>, took: Duration) {
        self.success
            .with_label_values(&[account])
            .set(if ok { 1.0 } else { 0.0 });
        self.last_poll.with_label_values(&[account]).set(at.timestamp() as f64);
        if ok {
            self.last_success
                .with_label_values(&[account])
                .set(at.timestamp() as f64);
        }
        self.duration.with_label_values(&[account]).set(took.as_secs_f64());
        self.changes.fetch_add(1, Ordering::Release);
    }
}

impl RequestObserver for PollMetrics {
    fn observe(&self, account: &str, action: &str, outcome: &str) {
        self.requests.with_label_values(&[account, action, outcome]).inc();
        self.changes.fetch_add(1, Ordering::Release);
    }
}
