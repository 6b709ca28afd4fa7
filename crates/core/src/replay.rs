//! Replaying recorded polls through the core, as the daemon would have
//! seen them: each poll's time is `now`, the history grows poll by poll, and
//! the alert lifecycle decides what would have fired and resolved. This is
//! what `cdnquota backtest` runs, so thresholds can be tuned on an account's
//! own history, and what the forecast benchmark measures.

use crate::alerts::{Lifecycle, NoticeKind, PollResult};
use crate::assess::ForecastModel;
use crate::history::AccountHistory;
use crate::model::Snapshot;
use crate::rules::Rule;
use crate::settings::AlertSettings;
use crate::settings::Thresholds;
use chrono::{DateTime, Utc};

/// The account name alerts are kept under in a replay.
const ACCOUNT: &str = "backtest";

/// What one replayed poll showed.
#[derive(Clone, Debug, PartialEq)]
pub struct PollOutcome {
    /// The poll's time.
    pub at: DateTime<Utc>,
    /// Bytes left in the usable packages.
    pub remaining_bytes: u64,
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
    /// The package, for package alerts.
    pub package_id: Option<String>,
}

/// One replay step's results.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    /// The poll.
    pub poll: PollOutcome,
    /// The alerts that changed at it.
    pub changes: Vec<AlertChange>,
}

/// A replay in progress: feed it polls in time order.
pub struct Replay {
    thresholds: Thresholds,
    alerts: AlertSettings,
    model: ForecastModel,
    history: AccountHistory,
    lifecycle: Lifecycle,
    started: Option<DateTime<Utc>>,
}

impl Replay {
    /// A replay with these thresholds, alert settings and demand model.
    pub fn new(thresholds: Thresholds, alerts: AlertSettings, model: ForecastModel) -> Self {
        Replay {
            thresholds,
            alerts,
            model,
            history: AccountHistory::new(),
            lifecycle: Lifecycle::default(),
            started: None,
        }
    }

    /// Replays the poll `snapshot`, at its own time.
    pub fn step(&mut self, snapshot: Snapshot) -> Step {
        let now = snapshot.taken_at;
        let started = *self.started.get_or_insert(now);
        let depletion_active = self.lifecycle.is_active(ACCOUNT, Rule::DepletionForecast.name());
        let a = self
            .history
            .record_and_assess(snapshot, &self.thresholds, self.model, depletion_active);
        let firing_before: Vec<(String, Option<String>)> = self.firing();
        let notices = self
            .lifecycle
            .step(ACCOUNT, PollResult::Succeeded(&a.findings), started, &self.alerts, now);
        let mut changes: Vec<AlertChange> = notices
            .iter()
            .filter(|n| n.kind == NoticeKind::Firing)
            .map(|n| AlertChange {
                at: now,
                alert: n.alert.rule.clone(),
                firing: true,
                package_id: n.alert.package_id.clone(),
            })
            .collect();
        let firing_after = self.firing();
        for (alert, package_id) in firing_before {
            if !firing_after.contains(&(alert.clone(), package_id.clone())) {
                changes.push(AlertChange {
                    at: now,
                    alert,
                    firing: false,
                    package_id,
                });
            }
        }
        let unused_by_package = a
            .packages
            .iter()
            .filter(|v| v.expiring_unused_bytes > 0)
            .map(|v| (v.package.id.clone(), v.expiring_unused_bytes))
            .collect();
        Step {
            poll: PollOutcome {
                at: now,
                remaining_bytes: a.totals.remaining_bytes,
                rate_bytes_per_second: a.consumption_bytes_per_second,
                depletion_at: a.depletion_at,
                depletion_early_at: a.projection.depletion_early_at,
                expiring_unused_bytes: a.projection.expiring_unused_bytes,
                unused_by_package,
            },
            changes,
        }
    }

    fn firing(&self) -> Vec<(String, Option<String>)> {
        self.lifecycle
            .alerts
            .values()
            .filter(|a| a.phase == crate::alerts::Phase::Firing)
            .map(|a| (a.rule.clone(), a.package_id.clone()))
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
        let mut replay = Replay::new(Thresholds::default(), AlertSettings::default(), ForecastModel::Seasonal);
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
            let out = replay.step(Snapshot {
                taken_at: now,
                packages,
            });
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
