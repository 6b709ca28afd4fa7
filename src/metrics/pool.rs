//! Per-pool gauges, `{account, region}`: what is left, the pool's size, burn
//! rate, forecast and its early bound, what will be lost at expiry, what
//! Tencent has billed but not yet deducted, and the history behind the
//! forecast, and the money at stake where `[pricing]` prices the region.
//! HTTPS request pools have families of their own, in requests.
//! Also the account's billing, `account_pay_type_info`.

use cdnquota_core::account::AccountAssessment;
use cdnquota_core::assess::Assessment;
use cdnquota_core::model::Resource;
use prometheus::{GaugeVec, Registry};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Gauges describing each pool as of its account's last successful poll.
pub struct PoolMetrics {
    remaining: GaugeVec,
    size: GaugeVec,
    consumption: GaugeVec,
    depletion: GaugeVec,
    depletion_early: GaugeVec,
    expected: GaugeVec,
    expiring_unused: GaugeVec,
    undeducted: GaugeVec,
    history: GaugeVec,
    overage_cost: GaugeVec,
    expiring_value: GaugeVec,
    https_remaining: GaugeVec,
    https_size: GaugeVec,
    https_depletion: GaugeVec,
    pay_type: GaugeVec,
    // The label sets each account last set, so a pool or pay type that is
    // gone loses its series.
    set: Mutex<BTreeMap<String, BTreeSet<Vec<String>>>>,
    changes: Arc<AtomicU64>,
}

impl PoolMetrics {
    pub(super) fn register(r: &Registry, changes: Arc<AtomicU64>) -> prometheus::Result<Self> {
        let g = |name: &str, help: &str| super::gauge_vec(r, name, help, &["account", "region"]);
        Ok(PoolMetrics {
            remaining: g(
                "pool_remaining_bytes",
                "Bytes left over the pool's usable packages, as the API reported them at the last successful poll.",
            )?,
            size: g(
                "pool_size_bytes",
                "Total bytes of the pool's usable packages, as of the last successful poll.",
            )?,
            consumption: g(
                "pool_consumption_bytes_per_second",
                "The pool's burn rate over the last 6 hours, as of the last successful poll; absent until it is known.",
            )?,
            depletion: g(
                "pool_depletion_timestamp_seconds",
                "Forecast Unix time (UTC) when the pool runs dry at the expected demand, as of the last successful poll; absent when it does not within 400 days.",
            )?,
            depletion_early: g(
                "pool_depletion_early_timestamp_seconds",
                "Early bound of the pool's run-dry forecast, Unix time (UTC): it rarely runs dry sooner. Absent when it does not within 400 days.",
            )?,
            expected: g(
                "pool_expected_consumption_bytes_per_second",
                "The forecast's expected demand on the pool for the current hour, bytes per second, as of the last successful poll.",
            )?,
            expiring_unused: g(
                "pool_expiring_unused_bytes",
                "Bytes the forecast leaves in the pool's packages when they expire (lost), as of the last successful poll.",
            )?,
            undeducted: g(
                "pool_undeducted_bytes",
                "Traffic billed but not yet deducted from the pool's packages, estimated from billing data; 0 where the pool has none.",
            )?,
            history: g(
                "pool_forecast_history_seconds",
                "How much consumption history the pool's forecast stood on at the last successful poll; under 7 days it has no weekly cycle, under 2 days no daily one.",
            )?,
            overage_cost: g(
                "pool_overage_cost_30d_cny",
                "Forecast pay-as-you-go cost of the pool's next 30 days if nothing is bought, CNY, at the central forecast and [pricing]; absent where the region is not priced.",
            )?,
            expiring_value: g(
                "pool_expiring_unused_value_cny",
                "What the bytes forecast to expire unused in the pool were paid, CNY, at [pricing]'s offer for each package's size and validity; absent where the region is not priced.",
            )?,
            https_remaining: g(
                "https_pool_remaining_requests",
                "HTTPS requests left over the pool's usable HTTPS request packages, as of the last successful poll.",
            )?,
            https_size: g(
                "https_pool_size_requests",
                "Total HTTPS requests of the pool's usable HTTPS request packages, as of the last successful poll.",
            )?,
            https_depletion: g(
                "https_pool_depletion_timestamp_seconds",
                "Forecast Unix time (UTC) when the HTTPS request pool runs dry; absent when it does not within 400 days.",
            )?,
            pay_type: super::gauge_vec(
                r,
                "account_pay_type_info",
                "Always 1; how the account is billed, as DescribePayType last said (API 3.0; absent where the key may not ask).",
                &["account", "area", "resource", "pay_type"],
            )?,
            set: Mutex::new(BTreeMap::new()),
            changes,
        })
    }

    fn traffic(&self) -> [&GaugeVec; 11] {
        [
            &self.remaining,
            &self.size,
            &self.consumption,
            &self.depletion,
            &self.depletion_early,
            &self.expected,
            &self.expiring_unused,
            &self.undeducted,
            &self.history,
            &self.overage_cost,
            &self.expiring_value,
        ]
    }

    fn set_pool(&self, account: &str, a: &Assessment) {
        let region = a.pool.region.name();
        let labels = [account, region];
        let set = |g: &GaugeVec, v: Option<f64>| match v {
            Some(v) => g.with_label_values(&labels).set(v),
            None => {
                let _ = g.remove_label_values(&labels);
            }
        };
        let depletion = a.depletion_at.map(|t| t.timestamp() as f64);
        match a.pool.resource {
            Resource::Traffic => {
                let p = &a.projection;
                set(&self.remaining, Some(a.totals.remaining_bytes as f64));
                set(&self.size, Some(a.totals.size_bytes as f64));
                set(&self.consumption, a.consumption_bytes_per_second);
                set(&self.depletion, depletion);
                set(
                    &self.depletion_early,
                    p.depletion_early_at.map(|t| t.timestamp() as f64),
                );
                set(&self.expected, Some(p.expected_rate));
                set(&self.expiring_unused, Some(p.expiring_unused_bytes as f64));
                set(&self.undeducted, Some(a.undeducted as f64));
                set(&self.history, Some(p.history_seconds as f64));
                set(&self.overage_cost, a.money.map(|m| m.overage_cost_30d_cny));
                set(&self.expiring_value, a.money.map(|m| m.expiring_unused_value_cny));
            }
            Resource::HttpsRequests => {
                set(&self.https_remaining, Some(a.totals.remaining_bytes as f64));
                set(&self.https_size, Some(a.totals.size_bytes as f64));
                set(&self.https_depletion, depletion);
            }
        }
    }

    /// Sets the gauges of every pool of `account`; the series of a pool or
    /// pay type it no longer has are removed.
    pub fn set(&self, account: &str, a: &AccountAssessment) {
        let mut now_set = BTreeSet::new();
        for pool in &a.pools {
            self.set_pool(account, pool);
            now_set.insert(vec![
                pool.pool.resource.name().to_string(),
                pool.pool.region.name().to_string(),
            ]);
        }
        for p in &a.pay_types {
            let labels = [account, p.area.name(), p.resource.name(), p.pay_type.as_str()];
            self.pay_type.with_label_values(&labels).set(1.0);
            now_set.insert(vec![
                "pay".to_string(),
                p.area.name().to_string(),
                p.resource.name().to_string(),
                p.pay_type.clone(),
            ]);
        }
        let mut all = self.set.lock().unwrap_or_else(|p| p.into_inner());
        let before = all.insert(account.to_string(), now_set.clone()).unwrap_or_default();
        for gone in before.difference(&now_set) {
            match gone.as_slice() {
                [pay, area, resource, pay_type] if pay == "pay" => {
                    let _ = self.pay_type.remove_label_values(&[account, area, resource, pay_type]);
                }
                [resource, region] => {
                    let labels = [account, region.as_str()];
                    let families: Vec<&GaugeVec> = if resource == Resource::Traffic.name() {
                        self.traffic().to_vec()
                    } else {
                        vec![&self.https_remaining, &self.https_size, &self.https_depletion]
                    };
                    for g in families {
                        let _ = g.remove_label_values(&labels);
                    }
                }
                _ => {}
            }
        }
        self.changes.fetch_add(1, Ordering::Release);
    }
}
