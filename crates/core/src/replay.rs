//! Replaying recorded polls through the core, as the daemon would have
//! seen them: each poll's time is `now`, the history grows poll by poll, and
//! the alert lifecycle decides what would have fired and resolved. This is
//! what `cdnquota backtest` runs, so thresholds can be tuned on an account's
//! own history, and what the forecast benchmark measures.

use crate::account::{AccountInput, record_and_assess};
use crate::alerts::{Lifecycle, NoticeKind, PollResult};
use crate::assess::ForecastModel;
use crate::history::PoolHistory;
use crate::model::{PayType, PoolKey, Region, Snapshot};
use crate::pricing::PriceTable;
use crate::rules::{Finding, Rule};
use crate::settings::{AlertSettings, ForecastSettings, PoolThresholds};
use chrono::{DateTime, TimeDelta, Utc};
use std::collections::BTreeMap;

/// The account name alerts are kept under in a replay.
const ACCOUNT: &str = "backtest";

/// What one replayed poll showed of one pool.
#[derive(Clone, Debug, PartialEq)]
pub struct PollOutcome {
    /// Which pool.
    pub pool: PoolKey,
    /// The poll's time.
    pub at: DateTime<Utc>,
    /// Bytes left in the usable packages, as the API said.
    pub remaining_bytes: u64,
    /// Billed but not yet deducted, as estimated.
    pub undeducted: u64,
    /// The recent burn rate, bytes per second.
    pub rate_bytes_per_second: Option<f64>,
    /// The central run-dry forecast.
    pub depletion_at: Option<DateTime<Utc>>,
    /// Its early bound.
    pub depletion_early_at: Option<DateTime<Utc>>,
    /// Bytes forecast to be lost at expiry.
    pub expiring_unused_bytes: u64,
    /// Bytes each package is forecast to lose at its expiry, by id (only
    /// packages with a loss).
    pub unused_by_package: Vec<(String, u64)>,
    /// The purchase advice, where the replay is priced and the pool calls
    /// for buying.
    pub advice: Option<crate::advice::Advice>,
}

/// An alert starting to fire (mailed the first time) or resolving.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlertChange {
    /// When.
    pub at: DateTime<Utc>,
    /// The alert name, e.g. `DepletionForecast`.
    pub alert: String,
    /// True when it starts firing, false when it resolves.
    pub firing: bool,
    /// The pool's region, for pool alerts.
    pub region: Option<Region>,
    /// The package, for package alerts.
    pub package_id: Option<String>,
}

/// One replay step's results.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    /// The poll's time.
    pub at: DateTime<Utc>,
    /// What it showed of each pool.
    pub pools: Vec<PollOutcome>,
    /// The alerts that changed at it.
    pub changes: Vec<AlertChange>,
}

impl Step {
    /// What the poll showed of `pool`, if the account has it.
    pub fn pool(&self, pool: PoolKey) -> Option<&PollOutcome> {
        self.pools.iter().find(|p| p.pool == pool)
    }

    /// What it showed of the mainland traffic pool, which every account
    /// without another traffic pool has.
    pub fn mainland(&self) -> Option<&PollOutcome> {
        self.pool(PoolKey::MAINLAND_TRAFFIC)
    }
}

/// A replay in progress: feed it polls in time order.
pub struct Replay {
    thresholds: PoolThresholds,
    alerts: AlertSettings,
    model: ForecastModel,
    forecast: ForecastSettings,
    histories: BTreeMap<PoolKey, PoolHistory>,
    lifecycle: Lifecycle,
    started: Option<DateTime<Utc>>,
    keep_expired: Option<TimeDelta>,
    prices: Option<PriceTable>,
}

impl Replay {
    /// A replay with these thresholds, alert settings and demand model.
    pub fn new(thresholds: PoolThresholds, alerts: AlertSettings, model: ForecastModel) -> Self {
        Replay {
            thresholds,
            alerts,
            model,
            forecast: ForecastSettings::default(),
            histories: BTreeMap::new(),
            lifecycle: Lifecycle::default(),
            started: None,
            keep_expired: Some(TimeDelta::days(30)),
            prices: None,
        }
    }

    /// Reads the calendar as `forecast` says (China's, unless told).
    pub fn with_forecast(mut self, forecast: ForecastSettings) -> Self {
        self.forecast = forecast;
        self
    }

    /// Prices the replay: each pool that calls for buying gets the advice.
    pub fn priced(mut self, prices: PriceTable) -> Self {
        self.prices = Some(prices);
        self
    }

    /// Keeps a pool of only expired packages this long after its last
    /// package expired (`None`: while any is listed), as the daemon's
    /// `[metrics] expired_package_series` does; 30 days unless told.
    pub fn keeping_expired(mut self, keep: Option<TimeDelta>) -> Self {
        self.keep_expired = keep;
        self
    }

    /// Replays the poll `snapshot`, at its own time, with the pay types and
    /// recent billing data the daemon had then (empty where none was read).
    pub fn step(
        &mut self,
        snapshot: Snapshot,
        pay_types: &[PayType],
        billed: &BTreeMap<PoolKey, Vec<(DateTime<Utc>, f64)>>,
    ) -> Step {
        let now = snapshot.taken_at;
        let started = *self.started.get_or_insert(now);
        let lifecycle = &self.lifecycle;
        let active = |pool: PoolKey| {
            let rule = Rule::DepletionForecast.for_resource(pool.resource);
            lifecycle.is_active_in(ACCOUNT, rule.name(), pool.region)
        };
        let input = AccountInput {
            thresholds: &self.thresholds,
            pay_types,
            billed,
            model: self.model,
            forecast: &self.forecast,
            keep_expired: self.keep_expired,
            depletion_active: &active,
            stale: &[],
            prices: self.prices.as_ref(),
        };
        let a = record_and_assess(snapshot, &mut self.histories, &input);
        let findings: Vec<Finding> = a.findings().cloned().collect();
        let firing_before: Vec<(String, Option<Region>, Option<String>)> = self.firing();
        let notices = self
            .lifecycle
            .step(ACCOUNT, PollResult::Succeeded(&findings), started, &self.alerts, now);
        let mut changes: Vec<AlertChange> = notices
            .iter()
            .filter(|n| n.kind == NoticeKind::Firing)
            .map(|n| AlertChange {
                at: now,
                alert: n.alert.rule.clone(),
                firing: true,
                region: n.alert.region,
                package_id: n.alert.package_id.clone(),
            })
            .collect();
        let firing_after = self.firing();
        for (alert, region, package_id) in firing_before {
            if !firing_after.contains(&(alert.clone(), region, package_id.clone())) {
                changes.push(AlertChange {
                    at: now,
                    alert,
                    firing: false,
                    region,
                    package_id,
                });
            }
        }
        let pools = a
            .pools
            .iter()
            .map(|p| PollOutcome {
                pool: p.pool,
                at: now,
                remaining_bytes: p.totals.remaining_bytes,
                undeducted: p.undeducted,
                rate_bytes_per_second: p.consumption_bytes_per_second,
                depletion_at: p.depletion_at,
                depletion_early_at: p.projection.depletion_early_at,
                expiring_unused_bytes: p.projection.expiring_unused_bytes,
                unused_by_package: p
                    .packages
                    .iter()
                    .filter(|v| v.expiring_unused_bytes > 0)
                    .map(|v| (v.package.id.clone(), v.expiring_unused_bytes))
                    .collect(),
                advice: p.advice.clone(),
            })
            .collect();
        Step {
            at: now,
            pools,
            changes,
        }
    }

    fn firing(&self) -> Vec<(String, Option<Region>, Option<String>)> {
        self.lifecycle
            .alerts
            .values()
            .filter(|a| a.phase == crate::alerts::Phase::Firing)
            .map(|a| (a.rule.clone(), a.region, a.package_id.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{at, package};
    use chrono::TimeDelta;

    const GB: u64 = 1_000_000_000;

    #[test]
    fn a_draining_pool_fires_the_forecast_once_then_exhaustion_then_resolves_on_top_up() {
        let mut replay = Replay::new(
            PoolThresholds::default(),
            AlertSettings::default(),
            ForecastModel::Seasonal,
        );
        let start = at("2026-06-01 00:00:00");
        let mut changes = Vec::new();
        // 1 TB draining at 10 GB an hour: dry after 100 h; topped up at 110 h.
        for step in 0..=130 {
            let now = start + TimeDelta::hours(step);
            let used = (step as u64 * 10 * GB).min(1000 * GB);
            let mut packages = vec![package(
                "a",
                1000 * GB,
                used,
                "2026-01-01 00:00:00",
                "2027-01-01 00:00:00",
            )];
            if step >= 110 {
                packages.push(package("b", 5000 * GB, 0, "2026-06-05 14:00:00", "2027-01-01 00:00:00"));
            }
            let out = replay.step(
                Snapshot {
                    taken_at: now,
                    packages,
                },
                &[],
                &BTreeMap::new(),
            );
            changes.extend(out.changes.into_iter().map(|c| (c.at - start, c.alert, c.firing)));
        }
        let hours = |c: &(TimeDelta, String, bool)| c.0.num_hours();
        let forecast: Vec<_> = changes.iter().filter(|c| c.1 == "DepletionForecast").collect();
        assert_eq!(forecast.len(), 2, "{changes:?}");
        assert!(forecast[0].2 && !forecast[1].2);
        // Fires with 3 days to go at the latest (a one-poll delay to confirm).
        assert!(hours(forecast[0]) <= 100 - 72 + 1, "{changes:?}");
        assert_eq!(hours(forecast[1]), 110);
        let exhausted: Vec<_> = changes.iter().filter(|c| c.1 == "PoolExhausted").collect();
        assert_eq!(exhausted.len(), 2, "{changes:?}");
        assert_eq!(hours(exhausted[0]), 101);
    }
}
