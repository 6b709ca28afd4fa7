//! Which replica orders. Two replicas of the daemon watch the same
//! accounts behind an Alertmanager cluster, and both must not buy: with
//! `[order] ordering_replica` named, only the daemon whose `replica_name`
//! is exactly that name orders (config loading turned ordering off
//! everywhere else). This file says which one this daemon is, in the log
//! and in `cdnquota_replica_info`.

use crate::config::Config;
use crate::metrics::Metrics;
use cdnquota_core::settings::OrderMode;

/// This daemon's ordering role: `live`, `dry-run`, `standby` or `off`.
pub fn role(config: &Config) -> &'static str {
    let modes: Vec<OrderMode> = config.accounts.iter().map(|a| a.order.mode).collect();
    if config.accounts.iter().any(|a| a.order.standby.is_some()) {
        "standby"
    } else if modes.contains(&OrderMode::Live) {
        "live"
    } else if modes.contains(&OrderMode::DryRun) {
        "dry-run"
    } else {
        "off"
    }
}

/// Why this daemon must not order, when another replica is named to.
pub fn standby_reason(config: &Config) -> Option<&str> {
    config.accounts.iter().find_map(|a| a.order.standby.as_deref())
}

/// Logs and publishes the role at start, loudly on a standby.
pub fn announce(config: &Config, metrics: &Metrics) {
    let role = role(config);
    metrics.replica.set(&config.replica_name, role);
    match (standby_reason(config), &config.ordering_replica) {
        (Some(why), _) => tracing::warn!(
            "ordering is OFF here, {why}; the order ledger in {} is not the one that orders",
            config.state_dir.display()
        ),
        (None, Some(_)) => tracing::info!(
            "this is the ordering replica (replica_name = \"{}\"); ordering: {role}",
            config.replica_name
        ),
        (None, None) => {}
    }
}
