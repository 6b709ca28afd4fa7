//! Per-package gauges, labelled `account`, `package_id`, `region`, `title`,
//! and the `package_info` series. HTTPS request packages have families of
//! their own, in requests (`https_package_*`), so no query adds requests to
//! bytes.
//!
//! They are most of the exposition (eight samples a package), so they are
//! not kept as live gauges: each successful poll renders the account's
//! samples once, as text and compressed (see `exposition.rs`), and a scrape
//! hands those bytes out. A package no longer listed is simply not in the
//! next rendering; one that expired longer ago than
//! `[metrics] expired_package_series` is left out too.

use super::exposition::{Chunk, gauge_header, push_label_value};
use crate::config::metrics::ExpiredSeries;
use cdnquota_core::assess::PackageView;
use cdnquota_core::model::Resource;
use chrono::{DateTime, TimeDelta, Utc};
use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// The families, in the order they are exported: (name, help).
const FAMILIES: [(&str, &str); 11] = [
    (
        "package_size_bytes",
        "Total bytes of the traffic package, as of the last successful poll.",
    ),
    (
        "package_used_bytes",
        "Bytes deducted from the package, as of the last successful poll.",
    ),
    (
        "package_remaining_bytes",
        "Bytes left in the package (never negative), as of the last successful poll.",
    ),
    (
        "package_enable_timestamp_seconds",
        "Start of the package's validity window, Unix time (UTC), as of the last successful poll.",
    ),
    (
        "package_expiry_timestamp_seconds",
        "End of the package's validity window, Unix time (UTC), as of the last successful poll.",
    ),
    (
        "package_usable",
        "1 if the package is enabled, not expired and inside its window at the last successful poll, else 0.",
    ),
    (
        "package_expiring_unused_bytes",
        "Bytes the forecast leaves in the package when it expires, lost then, as of the last successful poll.",
    ),
    (
        "package_info",
        "Always 1; labels describe the package as the API reports it (package_type, status, area, auto_extension: API 3.0 only).",
    ),
    (
        "https_package_size_requests",
        "HTTPS requests the HTTPS request package holds, as of the last successful poll.",
    ),
    (
        "https_package_remaining_requests",
        "HTTPS requests left in the package (never negative), as of the last successful poll.",
    ),
    (
        "https_package_expiry_timestamp_seconds",
        "End of the HTTPS request package's validity window, Unix time (UTC), as of the last successful poll.",
    ),
];

/// Where `package_info` stands in [`FAMILIES`]: after the traffic gauges.
const INFO: usize = 7;
/// Where the HTTPS request package families start.
const HTTPS: usize = INFO + 1;

/// One account's rendered per-package series.
#[derive(Debug, Default)]
pub struct AccountSeries {
    /// One chunk per family, in [`FAMILIES`] order.
    families: Vec<Chunk>,
    /// Packages listed by the poll.
    pub listed: usize,
    /// Packages with series.
    pub exported: usize,
}

/// The per-package series of every account, as of each one's last
/// successful poll.
pub struct PackageMetrics {
    policy: ExpiredSeries,
    headers: Vec<Chunk>,
    names: Vec<String>,
    accounts: Mutex<BTreeMap<String, Arc<AccountSeries>>>,
    changes: Arc<AtomicU64>,
}

impl PackageMetrics {
    pub(super) fn new(policy: ExpiredSeries, changes: Arc<AtomicU64>) -> Self {
        let names: Vec<String> = FAMILIES.iter().map(|(n, _)| format!("{}{n}", super::PREFIX)).collect();
        PackageMetrics {
            policy,
            headers: names
                .iter()
                .zip(FAMILIES)
                .map(|(name, (_, help))| Chunk::new(gauge_header(name, help)))
                .collect(),
            names,
            accounts: Mutex::new(BTreeMap::new()),
            changes,
        }
    }

    /// Sets the series of `account` to `packages` as of `now`, removing
    /// vanished ones. The work (rendering and compressing) is done before
    /// the swap, so scrapes are not held up meanwhile.
    pub fn set(&self, account: &str, packages: &[PackageView], now: DateTime<Utc>) -> Arc<AccountSeries> {
        let series = Arc::new(self.render(account, packages, now));
        self.lock().insert(account.to_string(), series.clone());
        self.changes.fetch_add(1, Ordering::Release);
        series
    }

    /// Lets go of the text of `account`'s series, keeping their gzip form,
    /// before they are rendered anew: two renderings of a large account's
    /// text at once would be the daemon's largest peak of memory.
    pub fn release_text(&self, account: &str) {
        let mut accounts = self.lock();
        if let Some(old) = accounts.get(account) {
            let gzip_only = AccountSeries {
                families: old.families.iter().map(Chunk::without_text).collect(),
                listed: old.listed,
                exported: old.exported,
            };
            accounts.insert(account.to_string(), Arc::new(gzip_only));
            self.changes.fetch_add(1, Ordering::Release);
        }
    }

    /// Whether a package gets series at `now`.
    pub fn exports(&self, v: &PackageView, now: DateTime<Utc>) -> bool {
        match self.policy {
            ExpiredSeries::All => true,
            ExpiredSeries::For(keep) => {
                let keep = TimeDelta::from_std(keep).unwrap_or(TimeDelta::MAX);
                now.signed_duration_since(v.package.expires_at) <= keep
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Arc<AccountSeries>>> {
        self.accounts.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn render(&self, account: &str, packages: &[PackageView], now: DateTime<Utc>) -> AccountSeries {
        let mut seen = HashSet::new();
        let shown: Vec<&PackageView> = packages
            .iter()
            .filter(|v| self.exports(v, now))
            // A package listed twice would be a duplicate series: once only.
            .filter(|v| seen.insert((v.package.id.as_str(), v.package.title.as_str())))
            .collect();
        // Sized from above once: a buffer grown by doubling would briefly
        // hold twice the text (large blocks are mapped, so the unused tail
        // of a generous bound costs no resident memory).
        let escaped = |s: &str| 2 * s.len();
        let labels_bound: usize = shown
            .iter()
            .map(|v| escaped(account) + escaped(&v.package.id) + escaped(&v.package.title) + 64)
            .sum();
        let info_bound: usize = shown
            .iter()
            .map(|v| {
                let p = &v.package;
                let text = |o: &Option<String>| o.as_deref().map_or(0, escaped);
                escaped(account)
                    + escaped(&p.id)
                    + escaped(&p.title)
                    + text(&p.kind)
                    + text(&p.status)
                    + text(&p.area)
                    + 124
            })
            .sum();
        let mut bufs: Vec<Vec<u8>> = self
            .names
            .iter()
            .enumerate()
            .map(|(f, name)| {
                let per_line = name.len() + 24;
                let bound = if f == INFO { info_bound } else { labels_bound };
                Vec::with_capacity(bound + shown.len() * per_line)
            })
            .collect();
        let mut labels = Vec::with_capacity(256);
        for v in &shown {
            let p = &v.package;
            labels.clear();
            labels.extend_from_slice(b"{account=\"");
            push_label_value(&mut labels, account);
            labels.extend_from_slice(b"\",package_id=\"");
            push_label_value(&mut labels, &p.id);
            labels.extend_from_slice(b"\",region=\"");
            labels.extend_from_slice(p.region.name().as_bytes());
            labels.extend_from_slice(b"\",title=\"");
            push_label_value(&mut labels, &p.title);
            labels.extend_from_slice(b"\"} ");
            let traffic: [(usize, i128); INFO] = [
                (0, p.size_bytes.into()),
                (1, p.used_bytes.into()),
                (2, v.remaining_bytes.into()),
                (3, p.enabled_at.timestamp().into()),
                (4, p.expires_at.timestamp().into()),
                (5, v.usable.into()),
                (6, v.expiring_unused_bytes.into()),
            ];
            let https: [(usize, i128); 3] = [
                (HTTPS, p.size_bytes.into()),
                (HTTPS + 1, v.remaining_bytes.into()),
                (HTTPS + 2, p.expires_at.timestamp().into()),
            ];
            let values: &[(usize, i128)] = match p.resource {
                Resource::Traffic => &traffic,
                Resource::HttpsRequests => &https,
            };
            for (f, value) in values {
                let buf = &mut bufs[*f];
                buf.extend_from_slice(self.names[*f].as_bytes());
                buf.extend_from_slice(&labels);
                // Writing into a Vec cannot fail.
                let _ = writeln!(buf, "{value}");
            }
            let info = &mut bufs[INFO];
            info.extend_from_slice(self.names[INFO].as_bytes());
            // Label names in order, as Prometheus clients write them.
            let auto_extension = p.auto_extension.map(|a| a.to_string()).unwrap_or_default();
            let pairs = [
                ("{account=\"", account),
                ("\",area=\"", p.area.as_deref().unwrap_or_default()),
                ("\",auto_extension=\"", &auto_extension),
                ("\",package_id=\"", &p.id),
                // Not `type`: the exporter guide asks to avoid that label name.
                ("\",package_type=\"", p.kind.as_deref().unwrap_or_default()),
                ("\",region=\"", p.region.name()),
                ("\",resource=\"", p.resource.name()),
                ("\",status=\"", p.status.as_deref().unwrap_or_default()),
                ("\",title=\"", &p.title),
            ];
            for (name, value) in pairs {
                info.extend_from_slice(name.as_bytes());
                push_label_value(info, value);
            }
            info.extend_from_slice(b"\"} 1\n");
        }
        AccountSeries {
            families: bufs.into_iter().map(Chunk::new).collect(),
            listed: packages.len(),
            exported: shown.len(),
        }
    }

    /// Every family with samples, header first, then each account's samples.
    pub(super) fn chunks(&self) -> Vec<Chunk> {
        let accounts: Vec<Arc<AccountSeries>> = self.lock().values().cloned().collect();
        let mut out = Vec::new();
        for (f, header) in self.headers.iter().enumerate() {
            let samples: Vec<&Chunk> = accounts
                .iter()
                .filter_map(|a| a.families.get(f))
                .filter(|c| !c.is_empty())
                .collect();
            if !samples.is_empty() {
                out.push(header.clone());
                out.extend(samples.into_iter().cloned());
            }
        }
        out
    }

    /// Bytes held by the rendered series, for the measurements.
    pub fn held_bytes(&self) -> usize {
        self.lock()
            .values()
            .flat_map(|a| a.families.iter())
            .map(Chunk::held_bytes)
            .sum()
    }
}
