//! Ordering: what happened to each order decision, and whether an order is
//! waiting to be paid.

use prometheus::{GaugeVec, IntCounterVec, Registry};

/// Order metrics.
pub struct OrderMetrics {
    outcomes: IntCounterVec,
    outstanding: GaugeVec,
}

impl OrderMetrics {
    /// Carries the counts, and the gauges `keep_gauges` names, over a reload.
    pub(super) fn carry_from(
        &self,
        old: &OrderMetrics,
        keep_counts: &dyn Fn(&super::Labels) -> bool,
        keep_gauges: &dyn Fn(&super::Labels) -> bool,
    ) {
        super::carry_counter(&old.outcomes, &self.outcomes, keep_counts);
        super::carry_gauge(&old.outstanding, &self.outstanding, keep_gauges);
    }

    pub(super) fn register(r: &Registry) -> prometheus::Result<Self> {
        Ok(OrderMetrics {
            outcomes: super::counter_vec(
                r,
                "orders_total",
                "Order decisions and results: placed, failed (refused), unknown (no answer that says), fulfilled, dry_run, cap_reached, blocked (by an unsettled order).",
                &["account", "outcome"],
            )?,
            outstanding: super::gauge_vec(
                r,
                "order_outstanding",
                "1 while a placed order waits for payment and its package, else 0.",
                &["account"],
            )?,
        })
    }

    /// Counts one outcome.
    pub fn outcome(&self, account: &str, outcome: &str) {
        self.outcomes.with_label_values(&[account, outcome]).inc();
    }

    /// Sets whether an order is outstanding.
    pub fn set_outstanding(&self, account: &str, outstanding: bool) {
        self.outstanding
            .with_label_values(&[account])
            .set(if outstanding { 1.0 } else { 0.0 });
    }
}
