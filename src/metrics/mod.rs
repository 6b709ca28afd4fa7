//! The Prometheus metrics, one collector group per file; this module ties
//! them into one registry and renders the text format.
//!
//! Values come from the last poll, never from the scrape: a scrape only
//! reads what the poller last set.

mod account;
mod alerts;
mod build;
mod orders;
mod package;
mod poll;

pub use account::AccountMetrics;
pub use alerts::AlertMetrics;
pub use orders::OrderMetrics;
pub use package::PackageMetrics;
pub use poll::PollMetrics;

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
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let metrics = Metrics {
            packages: PackageMetrics::register(&registry),
            accounts: AccountMetrics::register(&registry),
            polls: PollMetrics::register(&registry),
            alerts: AlertMetrics::register(&registry),
            orders: OrderMetrics::register(&registry),
            registry,
        };
        build::register(&metrics.registry);
        metrics
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

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// Registers a collector built from fixed, valid definitions.
fn register<C: prometheus::core::Collector + Clone + 'static>(registry: &Registry, collector: C) -> C {
    registry
        .register(Box::new(collector.clone()))
        .expect("metric definitions are fixed and unique");
    collector
}

fn gauge_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> prometheus::GaugeVec {
    let opts = prometheus::Opts::new(format!("{PREFIX}{name}"), help);
    register(
        registry,
        prometheus::GaugeVec::new(opts, labels).expect("metric definitions are valid"),
    )
}

fn counter_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> prometheus::IntCounterVec {
    let opts = prometheus::Opts::new(format!("{PREFIX}{name}"), help);
    register(
        registry,
        prometheus::IntCounterVec::new(opts, labels).expect("metric definitions are valid"),
    )
}

impl crate::api::RequestObserver for Metrics {
    fn observe(&self, account: &str, action: &str, outcome: &str) {
        self.polls.observe(account, action, outcome);
    }
}
