//! Pushing alerts to Alertmanager: how each push ended, what each
//! Alertmanager has yet to confirm, and when it last took a push.

use prometheus::{GaugeVec, IntCounterVec, Registry};

/// Alertmanager push metrics.
pub struct AlertmanagerMetrics {
    pushes: IntCounterVec,
    pending: GaugeVec,
    last_success: GaugeVec,
}

impl AlertmanagerMetrics {
    /// Carries the push counts over a reload.
    pub(super) fn carry_from(&self, old: &AlertmanagerMetrics, keep: &dyn Fn(&super::Labels) -> bool) {
        super::carry_counter(&old.pushes, &self.pushes, keep);
    }

    pub(super) fn register(r: &Registry) -> prometheus::Result<Self> {
        Ok(AlertmanagerMetrics {
            pushes: super::counter_vec(
                r,
                "alertmanager_pushes_total",
                "Pushes to each Alertmanager by outcome: sent, failed (no answer or 5xx, retried), rejected (4xx, retried).",
                &["url", "outcome"],
            )?,
            pending: super::gauge_vec(
                r,
                "alertmanager_queue_pending",
                "Alerts whose latest state (firing or resolved) the Alertmanager has not confirmed yet.",
                &["url"],
            )?,
            last_success: super::gauge_vec(
                r,
                "alertmanager_last_success_timestamp_seconds",
                "When the Alertmanager last accepted a push (UTC unix time); 0 if not since the daemon started.",
                &["url"],
            )?,
        })
    }

    /// Counts one push to `url`.
    pub fn push(&self, url: &str, outcome: &str) {
        self.pushes.with_label_values(&[url, outcome]).inc();
    }

    /// Sets what `url` has yet to confirm, and when it last took a push.
    pub fn set_url(&self, url: &str, pending: usize, last_success: Option<chrono::DateTime<chrono::Utc>>) {
        self.pending.with_label_values(&[url]).set(pending as f64);
        self.last_success
            .with_label_values(&[url])
            .set(last_success.map_or(0.0, |t| t.timestamp() as f64));
    }
}
