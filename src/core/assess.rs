//! One account's assessment: packages, totals, rate, forecast and findings,
//! computed from a snapshot, the poll history, the thresholds and `now`.

use crate::config::Thresholds;
use crate::core::forecast::{Sample, consumption_rate, depletion_time};
use crate::core::pool::{PoolTotals, is_usable, remaining_bytes, totals, used_ratio};
use crate::core::rules::{ExpiringPackage, Finding, RuleInput, Severity, evaluate};
use crate::model::{Package, Snapshot};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// A package with what the core worked out about it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PackageView {
    /// The package as reported.
    #[serde(flatten)]
    pub package: Package,
    /// Whether traffic is deducted from it now.
    pub usable: bool,
    /// Bytes left (never negative).
    pub remaining_bytes: u64,
    /// Share used, 0 to 1.
    pub used_ratio: f64,
}

impl PackageView {
    /// One phrase for people: usable or not, the API's own status word when
    /// it adds something, and auto-renewal, e.g. `not usable (frozen)` or
    /// `usable, auto-renews`.
    pub fn state(&self) -> String {
        let mut state = if self.usable {
            "usable"
        } else if self.package.expired {
            "expired"
        } else {
            "not usable"
        }
        .to_string();
        let said_already = |s: &str| (self.usable && s == "enabled") || (self.package.expired && s == "expired");
        if let Some(status) = self.package.status.as_deref().filter(|s| !said_already(s)) {
            state.push_str(&format!(" ({status})"));
        }
        if self.package.auto_extension == Some(true) {
            state.push_str(", auto-renews");
        }
        state
    }
}

/// Everything known about one account after a poll.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Assessment {
    /// The instant it was assessed at.
    pub at: DateTime<Utc>,
    /// Every listed package.
    pub packages: Vec<PackageView>,
    /// Totals over usable packages.
    pub totals: PoolTotals,
    /// Recent burn rate; `None` until two polls are known.
    pub consumption_bytes_per_second: Option<f64>,
    /// When the pool runs dry; `None` when nothing is consumed.
    pub depletion_at: Option<DateTime<Utc>>,
    /// The rules that fire.
    pub findings: Vec<Finding>,
}

impl Assessment {
    /// The worst severity among the findings, `None` when all is well.
    pub fn worst(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }
}

/// Assesses `snapshot`; `history` should already include it.
pub fn assess(snapshot: &Snapshot, history: &[Sample], thresholds: &Thresholds, now: DateTime<Utc>) -> Assessment {
    assess_at_rate(snapshot.clone(), consumption_rate(history), thresholds, now)
}

/// Assesses `snapshot` at the burn rate `rate` (e.g. from a
/// [`History`](crate::core::forecast::History) that already includes it).
/// The packages move into the assessment: a large account is not copied.
pub fn assess_at_rate(
    snapshot: Snapshot,
    rate: Option<f64>,
    thresholds: &Thresholds,
    now: DateTime<Utc>,
) -> Assessment {
    let totals = totals(&snapshot.packages, now);
    let depletion_at = rate.and_then(|r| depletion_time(&snapshot.packages, now, r));
    let packages: Vec<PackageView> = snapshot
        .packages
        .into_iter()
        .map(|p| PackageView {
            usable: is_usable(&p, now),
            remaining_bytes: remaining_bytes(&p),
            used_ratio: used_ratio(&p),
            package: p,
        })
        .collect();
    let input = RuleInput {
        totals,
        rate,
        depletion_at,
        packages: packages
            .iter()
            .filter(|v| v.usable)
            .map(|v| ExpiringPackage {
                id: &v.package.id,
                title: &v.package.title,
                remaining_bytes: v.remaining_bytes,
                expires_at: v.package.expires_at,
            })
            .collect(),
    };
    let findings = evaluate(&input, thresholds, now);
    Assessment {
        at: now,
        packages,
        totals,
        consumption_bytes_per_second: rate,
        depletion_at,
        findings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::forecast::History;
    use crate::core::rules::Rule;
    use crate::core::testing::{at, package};
    use std::time::Duration;

    const GB: u64 = 1_000_000_000;
    const FROM: &str = "2026-01-01 00:00:00";
    const TO: &str = "2027-01-01 00:00:00";

    fn thresholds() -> Thresholds {
        Thresholds {
            remaining_bytes_below: 200 * GB,
            remaining_ratio_below: 0.10,
            expires_within: Duration::from_secs(7 * 86_400),
            depletion_within: Duration::from_secs(3 * 86_400),
        }
    }

    fn rules_of(a: &Assessment) -> Vec<Rule> {
        a.findings.iter().map(|f| f.rule).collect()
    }

    fn one_poll(packages: Vec<Package>, now: &str) -> Assessment {
        let snap = Snapshot {
            taken_at: at(now),
            packages,
        };
        let history = vec![Sample::of(&snap)];
        assess(&snap, &history, &thresholds(), at(now))
    }

    #[test]
    fn healthy_pool_has_no_findings() {
        let a = one_poll(vec![package("1", 1000 * GB, 100 * GB, FROM, TO)], "2026-06-01 00:00:00");
        assert_eq!(a.findings, vec![]);
        assert_eq!(a.worst(), None);
        assert_eq!(a.totals.remaining_bytes, 900 * GB);
        assert_eq!(a.consumption_bytes_per_second, None);
    }

    #[test]
    fn no_packages_or_all_expired_is_exhausted() {
        // An exhausted pool is also low: the rules are independent.
        assert_eq!(
            rules_of(&one_poll(vec![], "2026-06-01 00:00:00")),
            vec![Rule::PoolExhausted, Rule::PoolLow]
        );
        let mut expired = package("1", 1000 * GB, 0, FROM, TO);
        expired.expired = true;
        let a = one_poll(vec![expired], "2026-06-01 00:00:00");
        assert_eq!(rules_of(&a), vec![Rule::PoolExhausted, Rule::PoolLow]);
        assert_eq!(a.worst(), Some(Severity::Critical));
        assert!(!a.packages[0].usable);
    }

    #[test]
    fn overused_package_is_exhausted_not_negative() {
        let a = one_poll(vec![package("1", 100 * GB, 150 * GB, FROM, TO)], "2026-06-01 00:00:00");
        assert_eq!(a.totals.remaining_bytes, 0);
        assert_eq!(rules_of(&a), vec![Rule::PoolExhausted, Rule::PoolLow]);
    }

    #[test]
    fn low_by_bytes_and_by_ratio() {
        let a = one_poll(vec![package("1", 1000 * GB, 850 * GB, FROM, TO)], "2026-06-01 00:00:00");
        assert_eq!(rules_of(&a), vec![Rule::PoolLow]);
        assert!(
            a.findings[0].summary.contains("below 200 GB"),
            "{}",
            a.findings[0].summary
        );
        // 300 GB of 5 TB is 6%: low by share though above 200 GB.
        let a = one_poll(
            vec![package("1", 5000 * GB, 4700 * GB, FROM, TO)],
            "2026-06-01 00:00:00",
        );
        assert_eq!(rules_of(&a), vec![Rule::PoolLow]);
        assert!(a.findings[0].summary.contains("below 10%"));
    }

    #[test]
    fn a_package_not_started_does_not_count_yet() {
        let a = one_poll(
            vec![
                package("1", 1000 * GB, 1000 * GB, FROM, TO),
                package("2", 1000 * GB, 0, "2026-07-01 00:00:00", TO),
            ],
            "2026-06-01 00:00:00",
        );
        // The used-up package is usable but empty; the new one has not started.
        assert_eq!((a.totals.usable_packages, a.totals.remaining_bytes), (1, 0));
        assert_eq!(rules_of(&a), vec![Rule::PoolExhausted, Rule::PoolLow]);
        // Once it starts, it does.
        let a = one_poll(
            a.packages.iter().map(|v| v.package.clone()).collect(),
            "2026-07-01 00:00:00",
        );
        assert_eq!(a.findings, vec![]);
    }

    #[test]
    fn expiring_package_with_bytes_left() {
        let a = one_poll(
            vec![
                package("soon", 500 * GB, 0, FROM, "2026-06-05 00:00:00"),
                package("later", 500 * GB, 0, FROM, TO),
            ],
            "2026-06-01 00:00:00",
        );
        assert_eq!(rules_of(&a), vec![Rule::PackageExpiringSoon]);
        assert_eq!(a.findings[0].package_id.as_deref(), Some("soon"));
        assert!(
            a.findings[0].summary.contains("expires in 4d"),
            "{}",
            a.findings[0].summary
        );
        // A used-up package expiring loses nothing: no finding.
        let a = one_poll(
            vec![
                package("soon", 500 * GB, 500 * GB, FROM, "2026-06-05 00:00:00"),
                package("later", 500 * GB, 0, FROM, TO),
            ],
            "2026-06-01 00:00:00",
        );
        assert_eq!(rules_of(&a), vec![]);
    }

    #[test]
    fn forecast_fires_from_the_history() {
        let mut history = History::new();
        let window = Duration::from_secs(86_400);
        let mut last = None;
        // 100 GB per hour from 1 TB: runs dry in under 3 days after 4 hours.
        for hour in 0..5u64 {
            let now = at(&format!("2026-06-01 {hour:02}:00:00"));
            let snap = Snapshot {
                taken_at: now,
                packages: vec![package("1", 1000 * GB, hour * 100 * GB, FROM, TO)],
            };
            history.record(&snap, window);
            let whole = assess(&snap, &[], &thresholds(), now);
            last = Some(assess_at_rate(snap, history.consumption_rate(), &thresholds(), now));
            assert_eq!(whole.packages, last.as_ref().unwrap().packages);
        }
        let a = last.unwrap();
        let rate = a.consumption_bytes_per_second.unwrap();
        assert!((rate - 100.0 * GB as f64 / 3600.0).abs() < 1.0);
        assert_eq!(a.depletion_at, Some(at("2026-06-01 10:00:00")));
        assert_eq!(rules_of(&a), vec![Rule::DepletionForecast]);
    }

    #[test]
    fn package_state_says_only_what_adds_something() {
        let a = one_poll(vec![package("1", 1000 * GB, 0, FROM, TO)], "2026-06-01 00:00:00");
        let mut v = a.packages[0].clone();
        assert_eq!(v.state(), "usable");
        v.package.status = Some("enabled".into());
        v.package.auto_extension = Some(true);
        assert_eq!(v.state(), "usable, auto-renews");
        v.usable = false;
        v.package.status = Some("frozen".into());
        v.package.auto_extension = None;
        assert_eq!(v.state(), "not usable (frozen)");
        v.package.expired = true;
        v.package.status = Some("expired".into());
        assert_eq!(v.state(), "expired");
    }

    #[test]
    fn zero_thresholds_turn_rules_off() {
        let t = Thresholds {
            remaining_bytes_below: 0,
            remaining_ratio_below: 0.0,
            expires_within: Duration::ZERO,
            depletion_within: Duration::ZERO,
        };
        let snap = Snapshot {
            taken_at: at("2026-06-01 00:00:00"),
            packages: vec![package("1", 1000 * GB, 999 * GB, FROM, "2026-06-01 01:00:00")],
        };
        let a = assess(&snap, &[Sample::of(&snap)], &t, snap.taken_at);
        assert_eq!(a.findings, vec![]);
    }
}
