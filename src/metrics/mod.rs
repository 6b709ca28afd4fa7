//! The Prometheus metrics, one collector group per file; this module ties
//! them into one registry and renders the text format.
//!
//! Values come from the last poll, never from the scrape: a scrape only
//! reads what the poller last set.

mod account;
mod alertmanager;
mod alerts;
mod build;
mod orders;
mod package;
mod poll;
mod replica;

pub use account::AccountMetrics;
pub use alertmanager::AlertmanagerMetrics;
pub use alerts::AlertMetrics;
pub use orders::OrderMetrics;
pub use package::PackageMetrics;
pub use poll::PollMetrics;
pub use replica::ReplicaMetrics;

use prometheus::{Encoder, Registry, TextEncoder};

/// The metric name prefix.
pub const PREFIX: &str = "cdnquota_";

/// Every metric the daemon exports.
pub struct Metrics {
    registry: Registry,
    /// Per-package gauges.
    pub packages: PackageMetrics,
    /// Per-account pool gauges.
    pub accounts: AccountMetrics,
    /// The daemon's own polling health.
    pub polls: PollMetrics,
    /// Alerts and mail delivery.
    pub alerts: AlertMetrics,
    /// Ordering.
    pub orders: OrderMetrics,
    /// Pushes to Alertmanager.
    pub alertmanager: AlertmanagerMetrics,
    /// This replica's name and ordering role.
    pub replica: ReplicaMetrics,
}

impl Metrics {
    /// Creates and registers every metric. Fails only if two definitions
    /// clash, which the tests would show.
    pub fn new() -> prometheus::Result<Metrics> {
        let registry = Registry::new();
        let metrics = Metrics {
            packages: PackageMetrics::register(&registry)?,
            accounts: AccountMetrics::register(&registry)?,
            polls: PollMetrics::register(&registry)?,
            alerts: AlertMetrics::register(&registry)?,
            orders: OrderMetrics::register(&registry)?,
            alertmanager: AlertmanagerMetrics::register(&registry)?,
            replica: ReplicaMetrics::register(&registry)?,
            registry,
        };
        build::register(&metrics.registry)?;
        Ok(metrics)
    }

    /// The text exposition format, for `/metrics`.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        // Encoding into a Vec only fails on an invalid metric family, which
        // the fixed definitions here cannot produce.
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::error!("encoding metrics failed: {e}");
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// Registers a collector.
fn register<C: prometheus::core::Collector + Clone + 'static>(
    registry: &Registry,
    collector: C,
) -> prometheus::Result<C> {
    registry.register(Box::new(collector.clone()))?;
    Ok(collector)
}

fn gauge_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> prometheus::Result<prometheus::GaugeVec> {
    let opts = prometheus::Opts::new(format!("{PREFIX}{name}"), help);
    register(registry, prometheus::GaugeVec::new(opts, labels)?)
}

fn counter_vec(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> prometheus::Result<prometheus::IntCounterVec> {
    let opts = prometheus::Opts::new(format!("{PREFIX}{name}"), help);
    register(registry, prometheus::IntCounterVec::new(opts, labels)?)
}

impl crate::api::RequestObserver for Metrics {
    fn observe(&self, account: &str, action: &str, outcome: &str) {
        self.polls.observe(account, action, outcome);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_definition_registers_and_renders() {
        let m = Metrics::new().expect("the metric definitions are valid and unique");
        let text = m.render();
        assert!(text.contains("cdnquota_build_info{version="), "{text}");
        assert!(text.contains("cdnquota_outbox_pending 0"), "{text}");
    }
}
