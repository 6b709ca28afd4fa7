//! Per-package gauges, labelled `account`, `package_id`, `title`. The series
//! of a package that is no longer listed are removed.

use crate::core::assess::PackageView;
use prometheus::{GaugeVec, Registry};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

type Labels = (String, String); // (package_id, title)

/// Gauges describing each package as of the account's last successful poll.
pub struct PackageMetrics {
    size: GaugeVec,
    used: GaugeVec,
    remaining: GaugeVec,
    enable: GaugeVec,
    expiry: GaugeVec,
    usable: GaugeVec,
    info: GaugeVec,
    exported: Mutex<BTreeMap<String, BTreeSet<Labels>>>,
    exported_info: Mutex<BTreeMap<String, BTreeSet<Vec<String>>>>,
}

const INFO_LABELS: &[&str] = &[
    "account",
    "package_id",
    "title",
    "type",
    "status",
    "area",
    "auto_extension",
];

/// The info series' label values; empty where the source does not report one.
fn info_labels(account: &str, v: &PackageView) -> Vec<String> {
    let p = &v.package;
    vec![
        account.to_string(),
        p.id.clone(),
        p.title.clone(),
        p.kind.clone().unwrap_or_default(),
        p.status.clone().unwrap_or_default(),
        p.area.clone().unwrap_or_default(),
        p.auto_extension.map(|a| a.to_string()).unwrap_or_default(),
    ]
}

const LABELS: &[&str] = &["account", "package_id", "title"];

impl PackageMetrics {
    pub(super) fn register(r: &Registry) -> prometheus::Result<Self> {
        let g = |name: &str, help: &str| super::gauge_vec(r, name, help, LABELS);
        Ok(PackageMetrics {
            size: g(
                "package_size_bytes",
                "Total bytes of the traffic package, as of the last successful poll.",
            )?,
            used: g(
                "package_used_bytes",
                "Bytes deducted from the package, as of the last successful poll.",
            )?,
            remaining: g(
                "package_remaining_bytes",
                "Bytes left in the package (never negative), as of the last successful poll.",
            )?,
            enable: g(
                "package_enable_timestamp_seconds",
                "Start of the package's validity window, Unix time (UTC), as of the last successful poll.",
            )?,
            expiry: g(
                "package_expiry_timestamp_seconds",
                "End of the package's validity window, Unix time (UTC), as of the last successful poll.",
            )?,
            usable: g(
                "package_usable",
                "1 if the package is enabled, not expired and inside its window at the last successful poll, else 0.",
            )?,
            info: super::gauge_vec(
                r,
                "package_info",
                "Always 1; labels describe the package as the API reports it (type, status, area, auto_extension: API 3.0 only).",
                INFO_LABELS,
            )?,
            exported: Mutex::new(BTreeMap::new()),
            exported_info: Mutex::new(BTreeMap::new()),
        })
    }

    fn all(&self) -> [&GaugeVec; 6] {
        [
            &self.size,
            &self.used,
            &self.remaining,
            &self.enable,
            &self.expiry,
            &self.usable,
        ]
    }

    /// Sets the gauges of `account` to `packages`, removing vanished ones.
    pub fn set(&self, account: &str, packages: &[PackageView]) {
        let mut exported = self.exported.lock().unwrap_or_else(|p| p.into_inner());
        let now: BTreeSet<Labels> = packages
            .iter()
            .map(|v| (v.package.id.clone(), v.package.title.clone()))
            .collect();
        let before = exported.insert(account.to_string(), now.clone()).unwrap_or_default();
        for (id, title) in before.difference(&now) {
            for gauge in self.all() {
                // Absent labels are not an error worth reporting.
                let _ = gauge.remove_label_values(&[account, id, title]);
            }
        }
        self.set_info(account, packages);
        for v in packages {
            let labels = [account, v.package.id.as_str(), v.package.title.as_str()];
            self.size.with_label_values(&labels).set(v.package.size_bytes as f64);
            self.used.with_label_values(&labels).set(v.package.used_bytes as f64);
            self.remaining.with_label_values(&labels).set(v.remaining_bytes as f64);
            self.enable
                .with_label_values(&labels)
                .set(v.package.enabled_at.timestamp() as f64);
            self.expiry
                .with_label_values(&labels)
                .set(v.package.expires_at.timestamp() as f64);
            self.usable
                .with_label_values(&labels)
                .set(if v.usable { 1.0 } else { 0.0 });
        }
    }

    fn set_info(&self, account: &str, packages: &[PackageView]) {
        let mut exported = self.exported_info.lock().unwrap_or_else(|p| p.into_inner());
        let now: BTreeSet<Vec<String>> = packages.iter().map(|v| info_labels(account, v)).collect();
        let before = exported.insert(account.to_string(), now.clone()).unwrap_or_default();
        for gone in before.difference(&now) {
            let values: Vec<&str> = gone.iter().map(String::as_str).collect();
            let _ = self.info.remove_label_values(&values);
        }
        for labels in &now {
            let values: Vec<&str> = labels.iter().map(String::as_str).collect();
            self.info.with_label_values(&values).set(1.0);
        }
    }
}
