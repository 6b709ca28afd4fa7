//! Alerting health: which alerts fire, mail delivery outcomes, and the
//! outbox backlog.

use prometheus::{GaugeVec, IntCounterVec, IntGauge, Registry};

/// Alert and notification metrics.
pub struct AlertMetrics {
    firing: GaugeVec,
    notifications: IntCounterVec,
    outbox_pending: IntGauge,
}

impl AlertMetrics {
    pub(super) fn register(r: &Registry) -> prometheus::Result<Self> {
        let outbox_pending = IntGauge::new(
            format!("{}outbox_pending", super::PREFIX),
            "Alert mails waiting in the outbox for delivery.",
        )?;
        Ok(AlertMetrics {
            firing: super::gauge_vec(
                r,
                "alert_firing",
                "1 while the alert fires for the account.",
                &["account", "alert"],
            )?,
            notifications: super::counter_vec(
                r,
                "notifications_total",
                "Mail delivery attempts by outcome: sent, failed (will retry), rejected (refused for good).",
                &["outcome"],
            )?,
            outbox_pending: super::register(r, outbox_pending)?,
        })
    }

    /// Sets the firing (account, alert) pairs; others are removed.
    pub fn set_firing(&self, firing: &[(String, String)]) {
        self.firing.reset();
        for (account, alert) in firing {
            self.firing.with_label_values(&[account, alert]).set(1.0);
        }
    }

    /// Counts one delivery attempt.
    pub fn notification(&self, outcome: &str) {
        self.notifications.with_label_values(&[outcome]).inc();
    }

    /// Sets the outbox backlog.
    pub fn set_outbox_pending(&self, n: usize) {
        self.outbox_pending.set(n as i64);
    }
}
