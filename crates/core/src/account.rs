//! One account's assessment: a pool per (resource, billing region), each
//! assessed with its own history, thresholds, billing and forecast, because
//! Tencent never deducts one region's traffic from another's packages.

use crate::advice::{DailyDemand, advise, money_at_stake};
use crate::assess::{Assessment, ForecastModel, PackageView};
use crate::history::{PoolFeed, PoolHistory};
use crate::model::{PayType, PoolKey, Resource, Snapshot};
use crate::pricing::PriceTable;
use crate::rules::{Finding, Rule, Severity};
use crate::settings::PoolThresholds;
use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;
use std::collections::BTreeMap;

/// Everything known about one account after a poll.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AccountAssessment {
    /// The instant it was assessed at.
    pub at: DateTime<Utc>,
    /// Every pool, in pool order (mainland traffic first).
    pub pools: Vec<Assessment>,
    /// How the account is billed, as last read.
    pub pay_types: Vec<PayType>,
}

impl AccountAssessment {
    /// The pool `key`, if the account has it.
    pub fn pool(&self, key: PoolKey) -> Option<&Assessment> {
        self.pools.iter().find(|p| p.pool == key)
    }

    /// Every finding of every pool.
    pub fn findings(&self) -> impl Iterator<Item = &Finding> {
        self.pools.iter().flat_map(|p| p.findings.iter())
    }

    /// Every package of every pool.
    pub fn packages(&self) -> impl Iterator<Item = &PackageView> {
        self.pools.iter().flat_map(|p| p.packages.iter())
    }

    /// The worst severity among the findings, `None` when all is well.
    pub fn worst(&self) -> Option<Severity> {
        self.findings().map(|f| f.severity).max()
    }

    /// The pool in the worst state: the first with the worst finding, or the
    /// one with the least share left when all are well.
    pub fn worst_pool(&self) -> Option<&Assessment> {
        self.pools.iter().max_by(|a, b| {
            let share = |p: &Assessment| p.totals.remaining_ratio().unwrap_or(0.0);
            a.worst()
                .cmp(&b.worst())
                .then(share(b).total_cmp(&share(a)))
                // Equal: the earlier pool wins (max_by keeps the last).
                .then(b.pool.cmp(&a.pool))
        })
    }
}

/// The pools a snapshot shows at `now`: every pool with a package listed,
/// except one whose packages all expired longer ago than `keep_expired`
/// (`None`: kept while listed). An account with no traffic package at all
/// has a mainland traffic pool, empty: no package is an exhausted pool,
/// never a silent one.
pub fn pools_of(
    snapshot: Snapshot,
    keep_expired: Option<TimeDelta>,
    now: DateTime<Utc>,
) -> BTreeMap<PoolKey, Snapshot> {
    let taken_at = snapshot.taken_at;
    let mut pools = snapshot.into_pools();
    if let Some(keep) = keep_expired {
        pools.retain(|_, s| {
            s.packages
                .iter()
                .any(|p| !(p.expired || p.expires_at <= now) || p.expires_at + keep >= now)
        });
    }
    if !pools.keys().any(|k| k.resource == Resource::Traffic) {
        pools.insert(
            PoolKey::MAINLAND_TRAFFIC,
            Snapshot {
                taken_at,
                packages: Vec::new(),
            },
        );
    }
    pools
}

/// What assessing an account stands on, beside its snapshot and histories.
pub struct AccountInput<'a> {
    /// Each pool's thresholds.
    pub thresholds: &'a PoolThresholds,
    /// How the account is billed, as last read (empty: not known).
    pub pay_types: &'a [PayType],
    /// Recent billing data per pool, `(start, amount)` oldest first.
    pub billed: &'a BTreeMap<PoolKey, Vec<(DateTime<Utc>, f64)>>,
    /// The demand model.
    pub model: ForecastModel,
    /// How the forecast reads the calendar.
    pub forecast: &'a crate::settings::ForecastSettings,
    /// How long a pool of only expired packages is kept.
    pub keep_expired: Option<TimeDelta>,
    /// Whether a pool's DepletionForecast is pending or firing.
    pub depletion_active: &'a dyn Fn(PoolKey) -> bool,
    /// Pools whose packages this poll could not read, given as the last
    /// good poll listed them: assessed, not recorded.
    pub stale: &'a [PoolKey],
    /// The prices the money at stake and the advice are reckoned in;
    /// `None` reckons none.
    pub prices: Option<&'a PriceTable>,
}

/// The findings that call for buying.
const CALLS_FOR_BUYING: [Rule; 3] = [Rule::PoolExhausted, Rule::PoolLow, Rule::DepletionForecast];

/// Adds the money at stake to a traffic pool whose region is priced, and
/// the purchase advice when a finding calls for buying (or `always`).
pub fn price(a: &mut Assessment, prices: &PriceTable, always: bool) {
    if a.pool.resource != Resource::Traffic {
        return;
    }
    let Some(region) = prices.complete(a.pool.region) else {
        return;
    };
    // A refund gives back what the package cost: the yuan it names.
    for f in a.findings.iter_mut().filter(|f| f.rule == Rule::PackageRefundable) {
        let paid = a
            .packages
            .iter()
            .find(|v| Some(&v.package.id) == f.package_id.as_ref())
            .and_then(|v| {
                Some(
                    region.paid_per_byte(v.package.size_bytes, crate::advice::months_of(&v.package))?
                        * v.package.size_bytes as f64,
                )
            });
        if let Some(paid) = paid {
            f.summary.push_str(&format!(
                "; a refund returns about {} (at [pricing])",
                crate::advice_text::yuan(paid)
            ));
        }
    }
    // Without a rate there is nothing to size a purchase on.
    let calls = always || a.findings.iter().any(|f| CALLS_FOR_BUYING.contains(&f.rule));
    let advising = calls && a.demand.expects_traffic();
    // Every poll reckons the money, which needs 30 days; only advice needs
    // the whole year.
    let demand = if advising {
        DailyDemand::of(&a.demand)
    } else {
        DailyDemand::of_days(&a.demand, 30)
    };
    let held = a.packages.iter().map(|v| (&v.package, v.expiring_unused_bytes));
    a.money = Some(money_at_stake(held, a.undeducted, &demand, region, a.at));
    if advising {
        let packages = a.packages.iter().map(|v| &v.package);
        a.advice = Some(advise(a.pool.region, packages, a.undeducted, &demand, region, a.at));
    }
}

/// Records the successful poll `snapshot` in each pool's history (a pool
/// seen for the first time starts one) and assesses every pool.
pub fn record_and_assess(
    snapshot: Snapshot,
    histories: &mut BTreeMap<PoolKey, PoolHistory>,
    input: &AccountInput,
) -> AccountAssessment {
    let now = snapshot.taken_at;
    let mut pools = Vec::new();
    for (key, snap) in pools_of(snapshot, input.keep_expired, now) {
        let feed = PoolFeed {
            forecast: input.forecast,
            pay_type: input.pay_types.iter().find(|p| p.covers(key)),
            billed: input.billed.get(&key).map_or(&[], Vec::as_slice),
            depletion_active: (input.depletion_active)(key),
            stale: input.stale.contains(&key),
        };
        let history = histories.entry(key).or_default();
        let mut a = history.record_and_assess(key, snap, &input.thresholds.of(key), input.model, feed);
        if let Some(prices) = input.prices {
            price(&mut a, prices, false);
        }
        pools.push(a);
    }
    AccountAssessment {
        at: now,
        pools,
        pay_types: input.pay_types.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{BillingArea, BillingCycle, Package, Region};
    use crate::rules::Rule;
    use crate::settings::Thresholds;
    use crate::testing::{at, package};

    const GB: u64 = 1_000_000_000;
    const FROM: &str = "2026-01-01 00:00:00";
    const TO: &str = "2027-01-01 00:00:00";

    fn in_region(mut p: Package, region: Region) -> Package {
        p.region = region;
        p
    }

    fn assess(
        packages: Vec<Package>,
        histories: &mut BTreeMap<PoolKey, PoolHistory>,
        thresholds: &PoolThresholds,
        pay_types: &[PayType],
        when: &str,
    ) -> AccountAssessment {
        let input = AccountInput {
            thresholds,
            pay_types,
            billed: &BTreeMap::new(),
            model: ForecastModel::Seasonal,
            forecast: &crate::settings::ForecastSettings::default(),
            keep_expired: Some(TimeDelta::days(30)),
            depletion_active: &|_| false,
            stale: &[],
            prices: None,
        };
        let snapshot = Snapshot {
            taken_at: at(when),
            packages,
        };
        record_and_assess(snapshot, histories, &input)
    }

    fn rules(a: &Assessment) -> Vec<Rule> {
        a.findings.iter().map(|f| f.rule).collect()
    }

    const EUROPE: PoolKey = PoolKey {
        resource: Resource::Traffic,
        region: Region::Europe,
    };

    #[test]
    fn a_dry_europe_pool_is_not_hidden_by_a_full_mainland_one() {
        let mut histories = BTreeMap::new();
        let thresholds = PoolThresholds {
            regions: BTreeMap::from([(
                Region::Europe,
                Thresholds {
                    remaining_bytes_below: Some(5 * GB),
                    ..Thresholds::default()
                },
            )]),
            ..PoolThresholds::default()
        };
        let packages = |europe_used: u64| {
            vec![
                package("m", 1000 * GB, 100 * GB, FROM, TO),
                in_region(package("e", 50 * GB, europe_used, FROM, TO), Region::Europe),
            ]
        };
        let a = assess(
            packages(47 * GB),
            &mut histories,
            &thresholds,
            &[],
            "2026-06-01 00:00:00",
        );
        assert_eq!(a.pools.len(), 2);
        assert_eq!(rules(a.pool(PoolKey::MAINLAND_TRAFFIC).unwrap()), vec![]);
        let europe = a.pool(EUROPE).unwrap();
        assert_eq!(europe.totals.remaining_bytes, 3 * GB);
        assert_eq!(rules(europe), vec![Rule::PoolLow]);
        assert_eq!(europe.findings[0].pool, Some(EUROPE));
        assert_eq!(a.worst_pool().map(|p| p.pool), Some(EUROPE));
        // An hour later Europe used 2 GB more: its own rate, not mainland's.
        let a = assess(
            packages(49 * GB),
            &mut histories,
            &thresholds,
            &[],
            "2026-06-01 01:00:00",
        );
        let rate = a.pool(EUROPE).unwrap().consumption_bytes_per_second.unwrap();
        assert!((rate - 2.0 * GB as f64 / 3600.0).abs() < 1.0, "{rate}");
        assert_eq!(
            a.pool(PoolKey::MAINLAND_TRAFFIC).unwrap().consumption_bytes_per_second,
            Some(0.0)
        );
        assert!(rules(a.pool(EUROPE).unwrap()).contains(&Rule::DepletionForecast));
    }

    #[test]
    fn an_account_with_no_packages_has_an_exhausted_mainland_pool() {
        let a = assess(vec![], &mut BTreeMap::new(), &PoolThresholds::default(), &[], FROM);
        assert_eq!(a.pools.len(), 1);
        assert_eq!(a.pools[0].pool, PoolKey::MAINLAND_TRAFFIC);
        assert!(rules(&a.pools[0]).contains(&Rule::PoolExhausted));
    }

    #[test]
    fn a_pool_of_long_expired_packages_goes() {
        let mut old = in_region(
            package("e", 50 * GB, 0, "2026-01-01 00:00:00", "2026-02-01 00:00:00"),
            Region::Europe,
        );
        old.expired = true;
        let packages = vec![package("m", 1000 * GB, 0, FROM, TO), old];
        let a = assess(
            packages.clone(),
            &mut BTreeMap::new(),
            &PoolThresholds::default(),
            &[],
            "2026-02-20 00:00:00",
        );
        assert!(a.pool(EUROPE).is_some());
        let a = assess(
            packages,
            &mut BTreeMap::new(),
            &PoolThresholds::default(),
            &[],
            "2026-03-20 00:00:00",
        );
        assert!(a.pool(EUROPE).is_none());
    }

    #[test]
    fn bandwidth_billing_says_the_packages_do_not_deduct() {
        let bandwidth = PayType {
            area: BillingArea::Mainland,
            resource: Resource::Traffic,
            pay_type: "bandwidth".into(),
            billing_cycle: Some(BillingCycle::Month),
        };
        let a = assess(
            vec![package("m", 1000 * GB, 0, FROM, TO)],
            &mut BTreeMap::new(),
            &PoolThresholds::default(),
            &[bandwidth],
            "2026-06-01 00:00:00",
        );
        let mainland = a.pool(PoolKey::MAINLAND_TRAFFIC).unwrap();
        assert_eq!(rules(mainland), vec![Rule::PackagesNotDeducting]);
        assert!(
            mainland.findings[0].summary.contains("billed by bandwidth")
                && mainland.findings[0].summary.contains("1.00 TB sit unused"),
            "{}",
            mainland.findings[0].summary
        );
    }

    #[test]
    fn https_pools_speak_in_requests_and_have_names_of_their_own() {
        let mut p = package("h", 10_000_000, 9_500_000, FROM, TO);
        p.resource = Resource::HttpsRequests;
        p.region = Region::Global;
        let a = assess(
            vec![package("m", 1000 * GB, 0, FROM, TO), p],
            &mut BTreeMap::new(),
            &PoolThresholds::default(),
            &[],
            "2026-06-01 00:00:00",
        );
        let https = a
            .pool(PoolKey {
                resource: Resource::HttpsRequests,
                region: Region::Global,
            })
            .unwrap();
        assert_eq!(rules(https), vec![Rule::HttpsPoolLow]);
        assert!(
            https.findings[0]
                .summary
                .starts_with("500K requests left (5.0% of 10.0M requests)"),
            "{}",
            https.findings[0].summary
        );
    }

    #[test]
    fn a_package_bought_ahead_keeps_the_forecast_quiet_and_is_never_expiring() {
        let run = |with_upcoming: bool| {
            let mut histories = BTreeMap::new();
            let mut last = None;
            // 1 GB an hour with 60 GB left: dry in 2.5 days, within 3 days,
            // unless the package starting in 2 days takes over.
            for hour in 0..3u64 {
                let mut packages = vec![package("now", 100 * GB, (40 + hour) * GB, FROM, TO)];
                if with_upcoming {
                    let mut ahead = package("ahead", 1000 * GB, 0, "2026-06-03 00:00:00", "2026-06-05 00:00:00");
                    ahead.enabled = false; // reported `disabled`: 未启用
                    ahead.status = Some("disabled".into());
                    packages.push(ahead);
                }
                let when = format!("2026-06-01 {hour:02}:00:00");
                last = Some(assess(packages, &mut histories, &PoolThresholds::default(), &[], &when));
            }
            last.unwrap()
        };
        let without = run(false);
        assert!(rules(&without.pools[0]).contains(&Rule::DepletionForecast));
        let with = run(true);
        let mainland = &with.pools[0];
        // Low it is (58 GB), but not forecast to run dry.
        assert_eq!(rules(mainland), vec![Rule::PoolLow]);
        assert_eq!(mainland.upcoming().count(), 1);
        assert_eq!(mainland.upcoming().next().unwrap().state(), "not started yet");
        // It expires within 7 days with bytes to lose, but has not started.
        assert!(!rules(mainland).contains(&Rule::PackageExpiringSoon));
    }
}
