//! Per-account pool gauges: bytes left, pool size, burn rate, forecast and
//! its early bound, bytes to be lost at expiry, the history behind it.

use cdnquota_core::assess::Assessment;
use prometheus::{GaugeVec, Registry};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Gauges describing each account's pool as of its last successful poll.
pub struct AccountMetrics {
    remaining: GaugeVec,
    size: GaugeVec,
    consumption: GaugeVec,
    depletion: GaugeVec,
    depletion_early: GaugeVec,
    expected: GaugeVec,
    expiring_unused: GaugeVec,
    history: GaugeVec,
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
                "Burn rate over the polls of the last 6 hours, as of the last successful poll; absent until two polls are known.",
            )?,
            depletion: g(
                "account_depletion_timestamp_seconds",
                "Forecast Unix time (UTC) when the pool runs dry at the expected demand (daily and weekly profile), as of the last successful poll; absent when it does not within 400 days.",
            )?,
            depletion_early: g(
                "account_depletion_early_timestamp_seconds",
                "Early bound of the run-dry forecast, Unix time (UTC): the pool rarely runs dry sooner. As of the last successful poll; absent when it does not within 400 days.",
            )?,
            expected: g(
                "account_expected_consumption_bytes_per_second",
                "The forecast's expected demand for the current hour, bytes per second, as of the last successful poll.",
            )?,
            expiring_unused: g(
                "account_expiring_unused_bytes",
                "Bytes the forecast leaves in the account's packages when they expire (lost), as of the last successful poll.",
            )?,
            history: g(
                "account_forecast_history_seconds",
                "How much consumption history the forecast stood on at the last successful poll; under 7 days it has no weekly cycle, under 2 days no daily one.",
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
        let p = &a.projection;
        set_or_remove(
            &self.depletion_early,
            account,
            p.depletion_early_at.map(|t| t.timestamp() as f64),
        );
        self.expected.with_label_values(&[account]).set(p.expected_rate);
        self.expiring_unused
            .with_label_values(&[account])
            .set(p.expiring_unused_bytes as f64);
        self.history.with_label_values(&[account]).set(p.history_seconds as f64);
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
