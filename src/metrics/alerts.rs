//! Alerting health: which alerts fire, mail delivery outcomes, the outbox
//! backlog, and whether the alert state reaches the disk.

use cdnquota_core::model::Region;
use prometheus::{GaugeVec, IntCounterVec, IntGauge, Registry};

/// Alert and notification metrics.
pub struct AlertMetrics {
    firing: GaugeVec,
    notifications: IntCounterVec,
    outbox_pending: IntGauge,
    outbox_oldest: IntGauge,
    state_saved: IntGauge,
}

impl AlertMetrics {
    /// Carries the delivery counts over a reload.
    pub(super) fn carry_from(&self, old: &AlertMetrics, keep: &dyn Fn(&super::Labels) -> bool) {
        super::carry_counter(&old.notifications, &self.notifications, keep);
    }

    pub(super) fn register(r: &Registry) -> prometheus::Result<Self> {
        let outbox_pending = IntGauge::new(
            format!("{}outbox_pending", super::PREFIX),
            "Alert mails waiting in the outbox for delivery.",
        )?;
        Ok(AlertMetrics {
            firing: super::gauge_vec(
                r,
                "alert_firing",
                "1 while the alert fires for the account; `region` is the pool's billing region for pool alerts, empty for the account's own.",
                &["account", "alert", "region"],
            )?,
            notifications: super::counter_vec(
                r,
                "notifications_total",
                "Mail delivery attempts by outcome: sent, failed (will retry), rejected (refused for good).",
                &["outcome"],
            )?,
            outbox_pending: super::register(r, outbox_pending)?,
            outbox_oldest: super::register(
                r,
                IntGauge::new(
                    format!("{}outbox_oldest_timestamp_seconds", super::PREFIX),
                    "When the oldest mail still in the outbox was queued (UTC unix time); 0 when the outbox is empty.",
                )?,
            )?,
            state_saved: super::register(
                r,
                IntGauge::new(
                    format!("{}state_save_success", super::PREFIX),
                    "1 if the last write of the alert state to state_dir succeeded (or was not needed), 0 if the state lives only in memory.",
                )?,
            )?,
        })
    }

    /// Sets the firing (account, alert, region) series; others are removed.
    pub fn set_firing(&self, firing: &[(String, String, Option<Region>)]) {
        self.firing.reset();
        for (account, alert, region) in firing {
            let region = region.map_or("", Region::name);
            self.firing.with_label_values(&[account, alert, region]).set(1.0);
        }
    }

    /// Counts one delivery attempt.
    pub fn notification(&self, outcome: &str) {
        self.notifications.with_label_values(&[outcome]).inc();
    }

    /// Sets the outbox backlog: how many mails, and when the oldest was queued.
    pub fn set_outbox(&self, pending: usize, oldest: Option<chrono::DateTime<chrono::Utc>>) {
        self.outbox_pending.set(pending as i64);
        self.outbox_oldest.set(oldest.map_or(0, |t| t.timestamp()));
    }

    /// Sets whether the state reaches the disk.
    pub fn set_state_saved(&self, saved: bool) {
        self.state_saved.set(i64::from(saved));
    }
}
