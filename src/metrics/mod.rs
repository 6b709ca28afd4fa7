//! The Prometheus metrics, one group per file; this module ties them into
//! one exposition.
//!
//! Values come from the last poll, never from the scrape: a scrape only
//! reads what the poller last set. The per-package series, nearly all of
//! the samples, are rendered once per poll into ready bytes (`package.rs`,
//! `exposition.rs`); the few dozen others live in a `prometheus` registry
//! and are rendered when they change. A scrape is handed the joined bytes,
//! as text or as gzip.

mod alertmanager;
mod alerts;
mod build;
pub mod exposition;
mod orders;
mod package;
mod poll;
mod pool;
mod process;
mod replica;

pub use alertmanager::AlertmanagerMetrics;
pub use alerts::AlertMetrics;
pub use orders::OrderMetrics;
pub use package::{AccountSeries, PackageMetrics};
pub use pool::PoolMetrics;

use cdnquota_core::assess::PackageView;
pub use poll::PollMetrics;
pub use replica::ReplicaMetrics;

use crate::config::metrics::MetricsConfig;
use exposition::{Chunk, Ready, join};
use prometheus::{Encoder, Registry, TextEncoder};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Values set outside polls (mail and order counters, the outbox) do not
/// announce a change: their text is read again at most this long after it
/// was rendered, so a scrape is at most this stale for them.
const QUIET_VALUES_MAX_AGE: Duration = Duration::from_secs(1);

/// The metric name prefix.
pub const PREFIX: &str = "cdnquota_";

/// Every metric the daemon exports.
pub struct Metrics {
    registry: Registry,
    /// Per-package gauges.
    pub packages: PackageMetrics,
    /// Per-pool gauges.
    pub pools: PoolMetrics,
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
    /// Bumped by every change that is announced (polls, requests).
    changes: Arc<AtomicU64>,
    ready: Mutex<Option<Joined>>,
    /// Counts renderings of package series, for scrapes waiting on text.
    rendered: tokio::sync::watch::Sender<u64>,
}

/// The last joined exposition and what it was made from.
struct Joined {
    ready: Arc<Ready>,
    changes: u64,
    at: Instant,
}

impl Metrics {
    /// Creates and registers every metric with the default settings. Fails
    /// only if two definitions clash, which the tests would show.
    pub fn new() -> prometheus::Result<Metrics> {
        Metrics::with_config(&MetricsConfig::default())
    }

    /// Creates and registers every metric, exporting per-package series as
    /// `config` says.
    pub fn with_config(config: &MetricsConfig) -> prometheus::Result<Metrics> {
        let registry = Registry::new();
        let changes = Arc::new(AtomicU64::new(0));
        let metrics = Metrics {
            packages: PackageMetrics::new(config.expired_package_series, changes.clone()),
            pools: PoolMetrics::register(&registry, changes.clone())?,
            polls: PollMetrics::register(&registry, changes.clone())?,
            alerts: AlertMetrics::register(&registry)?,
            orders: OrderMetrics::register(&registry)?,
            alertmanager: AlertmanagerMetrics::register(&registry)?,
            replica: ReplicaMetrics::register(&registry)?,
            registry,
            changes,
            ready: Mutex::new(None),
            rendered: tokio::sync::watch::Sender::new(0),
        };
        build::register(&metrics.registry)?;
        metrics.registry.register(Box::new(process::ProcessCollector::new()?))?;
        Ok(metrics)
    }

    /// Renders `account`'s per-package series from `packages` as of `now`
    /// (on the caller's thread: a blocking one for a large account). The
    /// old text goes first; meanwhile scrapes get the last gzip body, and
    /// those that want text wait for [`Metrics::rendered`].
    pub fn set_packages(&self, account: &str, packages: &[PackageView], now: chrono::DateTime<chrono::Utc>) {
        self.packages.release_text(account);
        // The joined body holds the old text too.
        self.forget_joined();
        self.packages.set(account, packages, now);
        self.forget_joined();
        self.rendered.send_modify(|n| *n += 1);
    }

    /// Changes each time package series have been rendered.
    pub fn rendered(&self) -> tokio::sync::watch::Receiver<u64> {
        self.rendered.subscribe()
    }

    fn forget_joined(&self) {
        *self.ready.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// The exposition, ready to send as text or gzip. Joining the parts is
    /// cheap (no copy, no compression of package series); it happens only
    /// after a change, and at most once per second for unannounced ones.
    pub fn ready(&self) -> Arc<Ready> {
        let mut joined = self.ready.lock().unwrap_or_else(|p| p.into_inner());
        let changes = self.changes.load(Ordering::Acquire);
        if let Some(j) = joined.as_ref()
            && j.changes == changes
            && j.at.elapsed() < QUIET_VALUES_MAX_AGE
        {
            return j.ready.clone();
        }
        let mut chunks = self.packages.chunks();
        chunks.push(Chunk::new(self.encode_registry()));
        let ready = Arc::new(join(chunks.iter()));
        *joined = Some(Joined {
            ready: ready.clone(),
            changes,
            at: Instant::now(),
        });
        ready
    }

    /// The text exposition format, for tests; empty while package series
    /// are being rendered.
    pub fn render(&self) -> String {
        let text = self.ready().text.as_ref().map(|t| t.to_vec()).unwrap_or_default();
        String::from_utf8_lossy(&text).into_owned()
    }

    /// The registry's families (all but the per-package ones) as text.
    fn encode_registry(&self) -> Vec<u8> {
        let mut out = Vec::new();
        // Encoding into a Vec only fails on an invalid metric family, which
        // the fixed definitions here cannot produce.
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::error!("encoding metrics failed: {e}");
        }
        out
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

/// A series' labels, name to value.
type Labels = std::collections::HashMap<String, String>;

/// Every series of a counter or gauge vector, with its value.
fn series(vec: &dyn prometheus::core::Collector) -> Vec<(Labels, f64)> {
    let mut out = Vec::new();
    for family in vec.collect() {
        for m in family.get_metric() {
            let labels = m
                .get_label()
                .iter()
                .map(|l| (l.name().to_string(), l.value().to_string()))
                .collect();
            let value = match family.get_field_type() {
                prometheus::proto::MetricType::COUNTER => m.get_counter().get_value(),
                _ => m.get_gauge().get_value(),
            };
            out.push((labels, value));
        }
    }
    out
}

fn as_str_map(labels: &Labels) -> std::collections::HashMap<&str, &str> {
    labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// Adds `from`'s counts to `to` for the series `keep` names.
fn carry_counter(from: &prometheus::IntCounterVec, to: &prometheus::IntCounterVec, keep: &dyn Fn(&Labels) -> bool) {
    for (labels, value) in series(from).into_iter().filter(|(l, _)| keep(l)) {
        if let Ok(counter) = to.get_metric_with(&as_str_map(&labels)) {
            counter.inc_by(value as u64);
        }
    }
}

/// Sets `to` to `from`'s values for the series `keep` names.
fn carry_gauge(from: &prometheus::GaugeVec, to: &prometheus::GaugeVec, keep: &dyn Fn(&Labels) -> bool) {
    for (labels, value) in series(from).into_iter().filter(|(l, _)| keep(l)) {
        if let Ok(gauge) = to.get_metric_with(&as_str_map(&labels)) {
            gauge.set(value);
        }
    }
}

impl Metrics {
    /// Takes over from the metrics of the daemon a reload replaces: the
    /// counters go on (they live for the process, not for a config), for
    /// the accounts still configured; the polling and order gauges of the
    /// `unchanged` accounts, which the reload does not poll again, too.
    pub fn carry_from(&self, old: &Metrics, accounts: &[&str], unchanged: &[&str]) {
        let configured = |l: &Labels| l.get("account").is_none_or(|a| accounts.contains(&a.as_str()));
        let kept = |l: &Labels| l.get("account").is_some_and(|a| unchanged.contains(&a.as_str()));
        self.alerts.carry_from(&old.alerts, &configured);
        self.alertmanager.carry_from(&old.alertmanager, &configured);
        self.orders.carry_from(&old.orders, &configured, &kept);
        self.polls.carry_from(&old.polls, &configured, &kept);
        self.changes.fetch_add(1, Ordering::Release);
        self.forget_joined();
    }
}

impl tencent_cdn_api::RequestObserver for Metrics {
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
        let build = text
            .lines()
            .find(|l| l.starts_with("cdnquota_build_info{"))
            .unwrap_or_default();
        assert!(
            build.contains(concat!("version=\"", env!("CARGO_PKG_VERSION"), "\"")),
            "{text}"
        );
        assert!(build.contains("revision=\"") && build.contains("rustc=\""), "{text}");
        assert!(text.contains("\nprocess_resident_memory_bytes "), "{text}");
        assert!(text.contains("cdnquota_outbox_pending 0"), "{text}");
    }

    #[test]
    fn while_series_are_rendered_anew_gzip_stays_whole_and_text_waits() {
        use cdnquota_core::testing::{at, package};
        use std::io::Read;
        let m = Metrics::new().unwrap();
        let now = at("2026-06-01 00:00:00");
        let views = |used: u64| {
            vec![PackageView {
                package: package("7", 1000, used, "2026-01-01 00:00:00", "2027-01-01 00:00:00"),
                usable: true,
                upcoming: false,
                remaining_bytes: 1000 - used,
                used_ratio: used as f64 / 1000.0,
                expiring_unused_bytes: 0,
                surely_unused_bytes: 0,
            }]
        };
        let mut rendered = m.rendered();
        m.set_packages("main", &views(10), now);
        assert!(rendered.has_changed().unwrap());
        rendered.mark_unchanged();
        let first = m.render();
        assert!(
            first.contains(
                "cdnquota_package_used_bytes{account=\"main\",package_id=\"7\",region=\"mainland\",title=\"1000B\"} 10\n"
            ),
            "{first}"
        );
        m.packages.release_text("main");
        let during = m.ready();
        assert!(during.text.is_none());
        let mut unzipped = String::new();
        flate2::read::GzDecoder::new(&during.gzip.as_ref().unwrap().to_vec()[..])
            .read_to_string(&mut unzipped)
            .unwrap();
        // The process metrics are read anew at each joining (CPU time moves).
        let steady = |text: &str| {
            text.lines()
                .filter(|l| !l.starts_with("process_"))
                .collect::<Vec<_>>()
                .join("\n")
        };
        assert_eq!(steady(&unzipped), steady(&first), "the last whole body, as gzip");
        m.set_packages("main", &views(20), now);
        assert!(rendered.has_changed().unwrap());
        assert!(m.render().contains("title=\"1000B\"} 20\n"));
    }
}
