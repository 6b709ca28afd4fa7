//! Package math: which packages count, and how many bytes the pool has left.

use crate::model::Package;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// Whether traffic can be deducted from `p` at `now`: enabled, not
/// expired, and inside its validity window.
pub fn is_usable(p: &Package, now: DateTime<Utc>) -> bool {
    p.enabled && !p.expired && p.enabled_at <= now && now < p.expires_at
}

/// Whether `p` is bought but not started at `now` (未启用): not usable yet,
/// but it deducts once its window opens. Tencent reports such a package as
/// `disabled`, so the flag alone does not say it is dead; a disabled package
/// whose start has passed stays not usable.
pub fn is_upcoming(p: &Package, now: DateTime<Utc>) -> bool {
    !p.expired && now < p.enabled_at && p.enabled_at < p.expires_at
}

/// Bytes left in a package; never negative even when the API reports more
/// used than the package holds.
pub fn remaining_bytes(p: &Package) -> u64 {
    p.size_bytes.saturating_sub(p.used_bytes)
}

/// The fraction of a package already used, capped at 1.
pub fn used_ratio(p: &Package) -> f64 {
    if p.size_bytes == 0 {
        1.0
    } else {
        (p.used_bytes as f64 / p.size_bytes as f64).min(1.0)
    }
}

/// Totals over an account's usable packages.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct PoolTotals {
    /// How many packages are usable now.
    pub usable_packages: usize,
    /// Sum of their sizes.
    pub size_bytes: u64,
    /// Sum of what is left in them.
    pub remaining_bytes: u64,
}

impl PoolTotals {
    /// Remaining over size; `None` when nothing is usable.
    pub fn remaining_ratio(&self) -> Option<f64> {
        (self.size_bytes > 0).then(|| self.remaining_bytes as f64 / self.size_bytes as f64)
    }
}

/// Adds up the usable packages.
pub fn totals(packages: &[Package], now: DateTime<Utc>) -> PoolTotals {
    packages.iter().filter(|p| is_usable(p, now)).fold(
        PoolTotals {
            usable_packages: 0,
            size_bytes: 0,
            remaining_bytes: 0,
        },
        |t, p| PoolTotals {
            usable_packages: t.usable_packages + 1,
            size_bytes: t.size_bytes.saturating_add(p.size_bytes),
            remaining_bytes: t.remaining_bytes.saturating_add(remaining_bytes(p)),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{at, package};

    #[test]
    fn usable_means_enabled_unexpired_and_inside_the_window() {
        let now = at("2026-06-15 00:00:00");
        let ok = package("1", 100, 10, "2026-06-01 00:00:00", "2026-07-01 00:00:00");
        assert!(is_usable(&ok, now));
        assert!(!is_usable(
            &Package {
                enabled: false,
                ..ok.clone()
            },
            now
        ));
        assert!(!is_usable(
            &Package {
                expired: true,
                ..ok.clone()
            },
            now
        ));
        let not_started = package("2", 100, 0, "2026-06-20 00:00:00", "2026-07-20 00:00:00");
        assert!(!is_usable(&not_started, now));
        assert!(is_upcoming(&not_started, now));
        // Tencent says `disabled` of a package not yet started.
        let reported_disabled = Package {
            enabled: false,
            ..not_started.clone()
        };
        assert!(is_upcoming(&reported_disabled, now));
        assert!(!is_upcoming(&reported_disabled, at("2026-06-21 00:00:00")));
        assert!(!is_usable(&reported_disabled, at("2026-06-21 00:00:00")));
        // The API may not yet have flipped is_expire; the window decides.
        let past_window = package("3", 100, 0, "2026-05-01 00:00:00", "2026-06-15 00:00:00");
        assert!(!is_usable(&past_window, now));
    }

    #[test]
    fn overused_packages_have_nothing_left_not_a_negative_amount() {
        let p = package("1", 100, 150, "2026-06-01 00:00:00", "2026-07-01 00:00:00");
        assert_eq!(remaining_bytes(&p), 0);
        assert_eq!(used_ratio(&p), 1.0);
    }

    #[test]
    fn totals_count_only_usable_packages() {
        let now = at("2026-06-15 00:00:00");
        let ps = vec![
            package("1", 100, 30, "2026-06-01 00:00:00", "2026-07-01 00:00:00"),
            package("2", 1000, 0, "2026-06-20 00:00:00", "2026-07-20 00:00:00"),
            package("3", 50, 60, "2026-06-01 00:00:00", "2026-07-01 00:00:00"),
        ];
        let t = totals(&ps, now);
        assert_eq!(
            t,
            PoolTotals {
                usable_packages: 2,
                size_bytes: 150,
                remaining_bytes: 70
            }
        );
        assert!((t.remaining_ratio().unwrap() - 70.0 / 150.0).abs() < 1e-12);
        assert_eq!(totals(&[], now).remaining_ratio(), None);
    }
}
