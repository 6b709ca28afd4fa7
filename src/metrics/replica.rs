//! Which replica this daemon is, and whether it may order: summed over
//! replicas, the series show two that would both order, or none that can.

use prometheus::{GaugeVec, Registry};

/// Replica metrics.
pub struct ReplicaMetrics {
    info: GaugeVec,
}

impl ReplicaMetrics {
    pub(super) fn register(r: &Registry) -> prometheus::Result<Self> {
        Ok(ReplicaMetrics {
            info: super::gauge_vec(
                r,
                "replica_info",
                "Always 1: this daemon's replica_name, and its ordering: live (it may place orders), dry-run, standby (another replica is named to order) or off.",
                &["replica", "ordering"],
            )?,
        })
    }

    /// Sets this daemon's name and ordering role.
    pub fn set(&self, replica: &str, ordering: &str) {
        self.info.reset();
        self.info.with_label_values(&[replica, ordering]).set(1.0);
    }
}
