//! Whether a package list can be believed. An account's packages do not all
//! vanish between two polls while they still had bytes and time left: an
//! empty list right after such a pool is far more likely a glitch of the API
//! than the truth, and read as truth it would say "exhausted" and could buy
//! traffic. It is treated as a failed poll until a second poll confirms it.

use crate::model::{Package, Snapshot};
use crate::pool::{is_usable, remaining_bytes};
use chrono::{DateTime, Utc};

/// Why `next` is not believable after `last_good` (the packages of the last
/// believed poll), if it is not. An empty list is believed when the last
/// good one had nothing usable left by `now`, or when the previous poll
/// already saw it (`seen_before`).
pub fn implausible<'a>(
    last_good: impl IntoIterator<Item = &'a Package>,
    next: &Snapshot,
    seen_before: bool,
    now: DateTime<Utc>,
) -> Option<String> {
    if !next.packages.is_empty() || seen_before {
        return None;
    }
    let live: Vec<&Package> = last_good
        .into_iter()
        .filter(|p| is_usable(p, now) && remaining_bytes(p) > 0)
        .collect();
    if live.is_empty() {
        return None;
    }
    let left: u64 = live.iter().map(|p| remaining_bytes(p)).fold(0, u64::saturating_add);
    Some(format!(
        "the API listed no packages, though the last poll listed {} usable package(s) with {} left: taken as a failed poll until the next poll confirms it",
        live.len(),
        crate::units::format_size_human(left)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{at, package};

    const GB: u64 = 1_000_000_000;

    fn snap(packages: Vec<crate::model::Package>) -> Snapshot {
        Snapshot {
            taken_at: at("2026-06-01 00:00:00"),
            packages,
        }
    }

    #[test]
    fn an_empty_list_after_a_live_pool_needs_confirmation() {
        let now = at("2026-06-01 00:10:00");
        let full = snap(vec![package(
            "p",
            1000 * GB,
            400 * GB,
            "2026-01-01 00:00:00",
            "2027-01-01 00:00:00",
        )]);
        let empty = snap(vec![]);
        let why = implausible(&full.packages, &empty, false, now).unwrap();
        assert!(why.contains("1 usable package(s) with 600 GB left"), "{why}");
        assert_eq!(implausible(&full.packages, &empty, true, now), None, "confirmed");
        assert_eq!(implausible(&[], &empty, false, now), None, "nothing to compare with");
        assert_eq!(implausible(&full.packages, &full, false, now), None);
    }

    #[test]
    fn an_empty_list_after_a_spent_or_expired_pool_is_believed() {
        let now = at("2026-06-01 00:10:00");
        let spent = snap(vec![package(
            "p",
            1000 * GB,
            1000 * GB,
            "2026-01-01 00:00:00",
            "2027-01-01 00:00:00",
        )]);
        let expired = snap(vec![package(
            "p",
            1000 * GB,
            0,
            "2026-01-01 00:00:00",
            "2026-06-01 00:05:00",
        )]);
        assert_eq!(implausible(&spent.packages, &snap(vec![]), false, now), None);
        assert_eq!(implausible(&expired.packages, &snap(vec![]), false, now), None);
    }
}
