//! Per-account pool gauges: bytes left, pool size, burn rate, forecast.

use crate::core::assess::Assessment;
use prometheus::{GaugeVec, Registry};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Gauges describing each account's pool as of its last successful poll.
pub struct AccountMetrics {
    remaining: GaugeVec,
    size: GaugeVec,
    consumption: GaugeVec,
    depletion: GaugeVec,
    changes: Arc<AtomicU64>,
}

impl AccountMetrics {
    pub(super) fn register(r: &Registry, changes: Arc<AtomicU64>) -> prometheus::Result<Self> {
        let g = |name: &str, help: &str| super::gauge_vec(r, name, help, &["account"]);
        Ok(AccountMetrics {
            remaining: g(
                "account_remaining_bytes",
                "Bytes left over the account's usable packages, as of the last successful poll.",
            )?,
            size: g(
                "account_size_bytes",
                "Total bytes of the account's usable packages, as of the last successful poll.",
            )?,
            consumption: g(
                "account_consumption_bytes_per_second",
                "Recent burn rate from the history of polls; absent until two polls are known.",
            )?,
            depletion: g(
                "account_depletion_timestamp_seconds",
                "Forecast Unix time (UTC) when the pool runs dry at the recent rate; absent when nothing is consumed.",
            )?,
            changes,
        })
    }

    /// Sets the account's gauges; unknown values remove their series.
    pub fn set(&self, account: &str, a: &Assessment) {
        self.remaining
            .with_label_values(&[account])
            .set(a.totals.remaining_bytes as f64);
        self.size.with_label_values(&[account]).set(a.totals.size_bytes as f64);
        set_or_remove(&self.consumption, account, a.consumption_bytes_per_second);
        set_or_remove(&self.depletion, account, a.depletion_at.map(|t| t.timestamp() as f64));
        self.changes.fetch_add(1, Ordering::Release);
    }
}

fn set_or_remove(gauge: &GaugeVec, account: &str, value: Option<f64>) {
    match value {
        Some(v) => gauge.with_label_values(&[account]).set(v),
        None => {
            let _ = gauge.remove_label_values(&[account]);
        }
    }
}
