//! One pool's assessment: packages, totals, rate, forecast and findings,
//! computed from the pool's snapshot, its consumption history, its
//! thresholds and `now`. [`crate::account`] puts an account's pools together.

use crate::demand::Demand;
use crate::forecast::{Sample, consumption_rate};
use crate::model::{Package, PayType, PoolKey, Snapshot};
use crate::pool::{PoolTotals, is_upcoming, is_usable, remaining_bytes, totals, used_ratio};
use crate::projection::{Projection, project};
use crate::rules::{ExpiringPackage, Finding, REFUND_WINDOW, RuleInput, Severity, evaluate};
use crate::settings::{ForecastSettings, Thresholds};
use crate::usage::HourlyUsage;
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
    /// Bought but not started: it deducts once its window opens.
    pub upcoming: bool,
    /// Bytes left (never negative).
    pub remaining_bytes: u64,
    /// Share used, 0 to 1.
    pub used_ratio: f64,
    /// Bytes the forecast leaves in it when it expires (lost).
    pub expiring_unused_bytes: u64,
    /// Bytes left in it at expiry even at the early bound's higher demand.
    #[serde(skip)]
    pub surely_unused_bytes: u64,
}

impl PackageView {
    /// One phrase for people: usable or not, the API's own status word when
    /// it adds something, and auto-renewal, e.g. `not usable (frozen)` or
    /// `usable, auto-renews`.
    pub fn state(&self) -> String {
        let mut state = if self.usable && self.remaining_bytes == 0 {
            "used up"
        } else if self.usable {
            "usable"
        } else if self.package.expired {
            "expired"
        } else if self.upcoming {
            "not started yet"
        } else {
            "not usable"
        }
        .to_string();
        let said_already = |s: &str| {
            (self.usable && s == "enabled")
                || (self.package.expired && s == "expired")
                || (self.upcoming && s == "disabled")
        };
        if let Some(status) = self.package.status.as_deref().filter(|s| !said_already(s)) {
            state.push_str(&format!(" ({status})"));
        }
        if self.package.auto_extension == Some(true) {
            state.push_str(", auto-renews");
        }
        state
    }
}

/// Everything known about one pool after a poll.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Assessment {
    /// Which pool.
    pub pool: PoolKey,
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
    /// The forecast behind `depletion_at`, with its early bound and basis.
    pub projection: Projection,
    /// Traffic billed but not yet deducted by the API, as estimated from
    /// billing data (0 where the pool has none); the forecast starts from
    /// what is left minus this.
    pub undeducted: u64,
    /// How the pool's area is billed, when known.
    pub pay_type: Option<PayType>,
    /// The rules that fire.
    pub findings: Vec<Finding>,
    /// The demand the forecast ran, for the cost model.
    #[serde(skip)]
    pub demand: Demand,
    /// What the pool stands to cost if nothing is bought, where the region
    /// is priced (traffic pools only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub money: Option<crate::advice::MoneyAtStake>,
    /// What to buy, for a traffic pool that is low, exhausted or forecast
    /// to run dry, where the region is priced.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub advice: Option<crate::advice::Advice>,
}

impl Assessment {
    /// Packages not started yet, soonest first.
    pub fn upcoming(&self) -> impl Iterator<Item = &PackageView> {
        let mut upcoming: Vec<&PackageView> = self.packages.iter().filter(|v| v.upcoming).collect();
        upcoming.sort_by_key(|v| v.package.enabled_at);
        upcoming.into_iter()
    }

    /// Bytes the forecast leaves unused at expiry over every package.
    pub fn expiring_unused(&self) -> u64 {
        self.packages.iter().map(|v| v.expiring_unused_bytes).sum()
    }

    /// The worst severity among the findings, `None` when all is well.
    pub fn worst(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }
}

/// Which demand model the forecast uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ForecastModel {
    /// The daily and weekly profile (the daemon's).
    #[default]
    Seasonal,
    /// The recent rate as a flat line, as `predict_linear` would: kept to
    /// compare with in backtests.
    Linear,
}

/// What the forecast stands on, beside the snapshot.
pub struct ForecastInput<'a> {
    /// Hourly consumption history.
    pub usage: &'a HourlyUsage,
    /// Bytes per second over the recent polls.
    pub recent_rate: Option<f64>,
    /// The demand model.
    pub model: ForecastModel,
    /// How the forecast reads the calendar.
    pub forecast: &'a ForecastSettings,
    /// Whether `DepletionForecast` is pending or firing for the pool.
    pub depletion_active: bool,
    /// Billed but not yet deducted, in the pool's unit.
    pub undeducted: u64,
    /// How the pool's area is billed, when known.
    pub pay_type: Option<&'a PayType>,
}

/// The pool of a one-pool snapshot: its packages', mainland traffic when it
/// has none.
fn pool_of(snapshot: &Snapshot) -> PoolKey {
    snapshot
        .packages
        .first()
        .map_or(PoolKey::MAINLAND_TRAFFIC, Package::pool)
}

/// Assesses `snapshot`, the packages of one pool; `history` should already
/// include it.
pub fn assess(snapshot: &Snapshot, history: &[Sample], thresholds: &Thresholds, now: DateTime<Utc>) -> Assessment {
    assess_at_rate(snapshot.clone(), consumption_rate(history), thresholds, now)
}

/// Assesses `snapshot` with only the recent burn rate `rate` to forecast
/// from (a one-off check, or a daemon with no hourly history yet).
pub fn assess_at_rate(
    snapshot: Snapshot,
    rate: Option<f64>,
    thresholds: &Thresholds,
    now: DateTime<Utc>,
) -> Assessment {
    let usage = HourlyUsage::new();
    let input = ForecastInput {
        usage: &usage,
        recent_rate: rate,
        model: ForecastModel::Seasonal,
        forecast: &ForecastSettings::default(),
        depletion_active: false,
        undeducted: 0,
        pay_type: None,
    };
    assess_with(pool_of(&snapshot), snapshot, &input, thresholds, now)
}

/// Assesses `snapshot`, the packages of `pool`, with the forecast `input`.
/// The packages move into the assessment: a large account is not copied.
pub fn assess_with(
    pool: PoolKey,
    snapshot: Snapshot,
    input: &ForecastInput,
    thresholds: &Thresholds,
    now: DateTime<Utc>,
) -> Assessment {
    let totals = totals(&snapshot.packages, now);
    // Packages that do not deduct under the account's billing do not drain:
    // no run-dry to forecast, and PackagesNotDeducting says why.
    let deducting = input.pay_type.is_none_or(PayType::deducts);
    let demand = match input.model {
        _ if !deducting => Demand::flat(None, now),
        ForecastModel::Seasonal => Demand::build(input.usage, input.recent_rate, input.forecast, now),
        ForecastModel::Linear => Demand::flat(input.recent_rate, now),
    };
    let (projection, unused) = project(&snapshot.packages, &demand, now, input.undeducted);
    let packages: Vec<PackageView> = snapshot
        .packages
        .into_iter()
        .zip(unused)
        .map(|(p, unused)| PackageView {
            usable: is_usable(&p, now),
            upcoming: is_upcoming(&p, now),
            remaining_bytes: remaining_bytes(&p),
            used_ratio: used_ratio(&p),
            expiring_unused_bytes: unused.central,
            surely_unused_bytes: unused.surely,
            package: p,
        })
        .collect();
    fn expiring(v: &PackageView) -> ExpiringPackage<'_> {
        ExpiringPackage {
            id: &v.package.id,
            title: &v.package.title,
            remaining_bytes: v.remaining_bytes,
            unused_bytes: v.expiring_unused_bytes,
            surely_unused_bytes: v.surely_unused_bytes,
            expires_at: v.package.expires_at,
            renews_at_expiry: v.package.extension_mode.is_some_and(|m| m.at_expiry()),
            // The window runs from the purchase; without CreateTime, from the
            // start, which is never earlier.
            refundable_until: (v.package.refund_available == Some(true))
                .then(|| v.package.created_at.unwrap_or(v.package.enabled_at) + REFUND_WINDOW),
        }
    }
    let rules = RuleInput {
        pool,
        pay_type: input.pay_type,
        totals,
        projection: Some(&projection),
        depletion_active: input.depletion_active,
        packages: packages
            .iter()
            .filter(|v| v.usable && v.remaining_bytes > 0)
            .map(expiring)
            .collect(),
        renewing: packages
            .iter()
            .filter(|v| v.usable || v.upcoming)
            .filter(|v| v.package.extension_mode.is_some_and(|m| m.when_used_up()))
            .map(|v| v.package.id.as_str())
            .collect(),
        refundable: packages
            .iter()
            .filter(|v| (v.usable || v.upcoming) && v.package.refund_available == Some(true))
            .map(expiring)
            .collect(),
    };
    let findings = evaluate(&rules, thresholds, now);
    Assessment {
        pool,
        at: now,
        packages,
        totals,
        consumption_bytes_per_second: input.recent_rate,
        depletion_at: projection.depletion_at,
        projection,
        undeducted: input.undeducted,
        pay_type: input.pay_type.cloned(),
        findings,
        demand,
        money: None,
        advice: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forecast::History;
    use crate::rules::Rule;
    use crate::testing::{at, package};

    const GB: u64 = 1_000_000_000;
    const FROM: &str = "2026-01-01 00:00:00";
    const TO: &str = "2027-01-01 00:00:00";

    fn thresholds() -> Thresholds {
        Thresholds {
            remaining_bytes_below: Some(200 * GB),
            remaining_ratio_below: Some(0.10),
            expires_within: Some(chrono::TimeDelta::days(7)),
            expiring_unused_above: 10 * GB,
            depletion_within: Some(chrono::TimeDelta::days(3)),
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
        let window = chrono::TimeDelta::days(1);
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
            let listed = |a: &Assessment| a.packages.iter().map(|v| v.package.clone()).collect::<Vec<_>>();
            assert_eq!(listed(&whole), listed(last.as_ref().unwrap()));
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
    fn a_pool_that_renews_when_used_up_is_not_an_emergency_and_says_so() {
        let mut p = package("r", 100 * GB, 100 * GB, FROM, TO);
        p.extension_mode = Some(crate::model::ExtensionMode::WhenUsedUp);
        let snap = Snapshot {
            taken_at: at("2026-06-01 00:00:00"),
            packages: vec![p],
        };
        let a = assess_at_rate(snap, Some(1000.0), &thresholds(), at("2026-06-01 00:00:00"));
        let exhausted = a.findings.iter().find(|f| f.rule == Rule::PoolExhausted).unwrap();
        assert_eq!(exhausted.severity, Severity::Warning);
        assert!(
            exhausted.summary.contains("renews itself when used up"),
            "{}",
            exhausted.summary
        );
    }

    #[test]
    fn zero_thresholds_turn_rules_off() {
        let t = Thresholds {
            remaining_bytes_below: None,
            remaining_ratio_below: None,
            expires_within: None,
            expiring_unused_above: 0,
            depletion_within: None,
        };
        let snap = Snapshot {
            taken_at: at("2026-06-01 00:00:00"),
            packages: vec![package("1", 1000 * GB, 999 * GB, FROM, "2026-06-01 01:00:00")],
        };
        let a = assess(&snap, &[Sample::of(&snap)], &t, snap.taken_at);
        assert_eq!(a.findings, vec![]);
    }

    /// The pool 2 days after a 2 TB package was bought (still unused: an
    /// older one deducts first) and `days_later` days on, with three days of
    /// 2.75 GB a day behind it: about 1 TB a year, half the package.
    fn refundable_pool(days_later: i64) -> Assessment {
        let now = at("2026-06-10 00:00:00") + chrono::TimeDelta::days(days_later);
        let mut usage = HourlyUsage::new();
        for h in 1..=72 {
            usage.set_billed(now - chrono::TimeDelta::hours(h), 2.75 * GB as f64 / 24.0);
        }
        let old = package("old", 1000 * GB, 900 * GB, "2026-01-01 00:00:00", "2027-01-01 00:00:00");
        let mut new = package("new", 2000 * GB, 0, "2026-06-08 00:00:00", "2027-06-08 00:00:00");
        new.refund_available = Some(true);
        let input = ForecastInput {
            usage: &usage,
            recent_rate: None,
            model: ForecastModel::Seasonal,
            forecast: &ForecastSettings::default(),
            depletion_active: false,
            undeducted: 0,
            pay_type: None,
        };
        let snap = Snapshot {
            taken_at: now,
            packages: vec![old, new],
        };
        assess_with(PoolKey::MAINLAND_TRAFFIC, snap, &input, &thresholds(), now)
    }

    #[test]
    fn a_package_twice_too_big_is_refundable_until_day_15() {
        // Bought 2026-06-08: refundable until 2026-06-23 00:00. Until it
        // expires (363 days) even the early bound (2.75 GB a day raised by
        // at least 15 %, ≤ 3.9 GB a day) wants under 1,420 GB, 100 GB of it
        // from the older package: well over 500 GB of the 2 TB go unused,
        // far above expiring_unused_above (10 GB).
        let a = refundable_pool(0);
        let f = a.findings.iter().find(|f| f.rule == Rule::PackageRefundable);
        let f = f.unwrap_or_else(|| panic!("no PackageRefundable: {:?}", a.findings));
        assert_eq!(f.package_id.as_deref(), Some("new"));
        assert!(f.summary.contains("until 2026-06-23 00:00 UTC"), "{}", f.summary);
        let unused = a
            .packages
            .iter()
            .find(|v| v.package.id == "new")
            .map(|v| v.surely_unused_bytes);
        assert!(unused.is_some_and(|u| u > 500 * GB), "{unused:?}");
        // Day 16 after the purchase: the window is closed, whatever the
        // API still says.
        let later = refundable_pool(14);
        assert!(
            !later.findings.iter().any(|f| f.rule == Rule::PackageRefundable),
            "{:?}",
            later.findings
        );
    }

    #[test]
    fn without_a_day_of_history_no_refund_is_advised() {
        // The same pool with only the recent rate: from the first polls of
        // a new daemon every fresh package would look unneeded.
        let now = at("2026-06-10 00:00:00");
        let mut new = package("new", 2000 * GB, 0, "2026-06-08 00:00:00", "2027-06-08 00:00:00");
        new.refund_available = Some(true);
        let snap = Snapshot {
            taken_at: now,
            packages: vec![new],
        };
        let a = assess_at_rate(snap, Some(1000.0), &thresholds(), now);
        assert!(
            !a.findings.iter().any(|f| f.rule == Rule::PackageRefundable),
            "{:?}",
            a.findings
        );
    }
}
