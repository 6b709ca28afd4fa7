//! Where an order is decided: from the assessment, the ledger, the account's
//! `[order]` rules and `now`, whether to order, and which order alerts fire.
//!
//! The rules, in order: nothing happens with ordering off or no trigger; an
//! order with an unknown or failed outcome blocks (a person settles it); a
//! placed order waiting for payment blocks (one outstanding per account);
//! the 30-day cap blocks, loudly; then dry-run says what it would do, and
//! live orders.

use crate::advice::{DailyDemand, Purchase, cheapest_purchase};
use crate::assess::Assessment;
use crate::ledger::{Ledger, OrderState};
use crate::rules::{Finding, Rule, Severity};
use crate::settings::{OrderMode, OrderRules};
use crate::units::{format_size_human, format_span};
use chrono::{DateTime, TimeDelta, Utc};

/// What to do about ordering after one poll.
#[derive(Clone, Debug, PartialEq)]
pub enum Decision {
    /// Nothing: off, no shortfall, or an order is already on its way.
    Nothing,
    /// Order now.
    Order {
        /// Why, with the numbers.
        reason: String,
    },
    /// Dry run: say what would be ordered.
    WouldOrder {
        /// Why, with the numbers.
        reason: String,
    },
    /// A shortfall, but the cap forbids ordering.
    CapReached {
        /// Why an order was wanted.
        reason: String,
        /// Orders in the last 30 days.
        count: u32,
    },
    /// A shortfall, but an earlier order must be settled by a person first.
    Blocked {
        /// The ledger id of that order.
        order: String,
    },
}

/// Why the account needs a package now, if it does.
pub fn shortfall(a: &Assessment, cfg: &OrderRules, now: DateTime<Utc>) -> Option<String> {
    let left = a.totals.remaining_bytes;
    if let Some(below) = cfg.when_remaining_below
        && left < below
    {
        return Some(format!(
            "{} left, below {}",
            format_size_human(left),
            format_size_human(below)
        ));
    }
    match (a.depletion_at, cfg.when_depletion_within) {
        (Some(dry), Some(limit)) if dry - now < limit => Some(format!(
            "{} left, forecast to run dry in {} ({} UTC)",
            format_size_human(left),
            format_span((dry - now).to_std().unwrap_or_default()),
            dry.format("%Y-%m-%d %H:%M")
        )),
        _ => None,
    }
}

/// What an order buys: `(unit_gb, number)`. A fixed `unit_gb` buys
/// `number` of it, as configured. With `unit_gb = "auto"` it buys the
/// purchase the advice finds cheapest among the configured sizes, at most
/// `number` packages; without a forecast to size it on, one of the
/// smallest size, the least that answers the shortfall.
pub fn order_size(a: &Assessment, cfg: &OrderRules) -> (u32, u32) {
    let Some(prices) = &cfg.auto_sizes else {
        return (cfg.unit_gb, cfg.number);
    };
    let gb = |bytes: u64| (bytes / 1_000_000_000) as u32;
    let smallest = prices.offers.iter().map(|o| o.size_bytes).min().map_or(cfg.unit_gb, gb);
    if !a.demand.expects_traffic() {
        return (smallest, 1);
    }
    let demand = DailyDemand::of(&a.demand);
    let packages = a.packages.iter().map(|v| &v.package);
    match cheapest_purchase(packages, a.undeducted, &demand, prices, cfg.number, a.at) {
        Some(Purchase {
            offer: Some(offer),
            count,
            ..
        }) => (gb(offer.size_bytes), count),
        _ => (smallest, 1),
    }
}

/// How long a shortfall that only the forecast sees must hold before it
/// orders: longer than a surge takes to fade from the forecast, so that an
/// odd hour of traffic (or an odd reading) does not buy a package.
pub const FORECAST_CONFIRMATION: TimeDelta = TimeDelta::hours(1);

/// Whether the shortfall first seen at `first_seen` (by an earlier poll;
/// `None` if this poll is the first to see it) is confirmed at `now`: by a
/// second poll when bytes are already below `when_remaining_below`, and
/// also by [`FORECAST_CONFIRMATION`] when only the forecast says so.
pub fn confirmed(first_seen: Option<DateTime<Utc>>, a: &Assessment, cfg: &OrderRules, now: DateTime<Utc>) -> bool {
    let Some(first) = first_seen else {
        return false;
    };
    let low_now = cfg
        .when_remaining_below
        .is_some_and(|below| a.totals.remaining_bytes < below);
    low_now || now - first >= FORECAST_CONFIRMATION
}

/// Decides for `account` after a successful poll. `seen_before` says
/// whether the previous successful poll found a shortfall too: an order
/// spends money, so it needs at least the evidence an alert needs to fire,
/// two polls, and never acts on a single odd answer.
pub fn decide(
    account: &str,
    a: &Assessment,
    ledger: &Ledger,
    cfg: &OrderRules,
    seen_before: bool,
    now: DateTime<Utc>,
) -> Decision {
    if cfg.mode == OrderMode::Off {
        return Decision::Nothing;
    }
    let Some(reason) = shortfall(a, cfg, now) else {
        return Decision::Nothing;
    };
    if !seen_before {
        return Decision::Nothing;
    }
    if let Some(e) = ledger.blocking(account) {
        return Decision::Blocked { order: e.id.clone() };
    }
    if ledger.outstanding(account).is_some() {
        return Decision::Nothing;
    }
    let count = ledger.counted_in_30_days(account, now);
    if count >= cfg.max_orders_per_30d {
        return Decision::CapReached { reason, count };
    }
    match cfg.mode {
        OrderMode::DryRun => Decision::WouldOrder { reason },
        _ => Decision::Order { reason },
    }
}

/// The alert for a ledger that cannot be had, `why` saying what is wrong.
/// It claims nothing about any order. It is critical only where it stops
/// live ordering; with ordering off it is worth a warning, and nothing at
/// all when there is no ledger to read (`ledger_exists` false).
pub fn ledger_unavailable(why: &str, cfg: &OrderRules, ledger_exists: bool) -> Option<Finding> {
    if cfg.mode == OrderMode::Off && !ledger_exists {
        return None;
    }
    Some(Finding {
        pool: None,
        rule: Rule::OrderLedgerUnavailable,
        severity: if cfg.mode == OrderMode::Live {
            Severity::Critical
        } else {
            Severity::Warning
        },
        package_id: None,
        summary: why.to_string(),
    })
}

/// The order alerts that hold for `account`, fed to the alert lifecycle
/// (per-order alerts carry the ledger id where a package id would go).
pub fn findings(
    account: &str,
    ledger: &Ledger,
    decision: &Decision,
    cfg: &OrderRules,
    now: DateTime<Utc>,
) -> Vec<Finding> {
    let mut out = Vec::new();
    let grace = cfg.fulfilment_grace;
    for e in ledger.entries.iter().filter(|e| e.account == account) {
        let finding = |rule, severity, summary: String| Finding {
            pool: None,
            rule,
            severity,
            package_id: Some(e.id.clone()),
            summary,
        };
        match &e.state {
            OrderState::Unknown => out.push(finding(
                Rule::OrderOutcomeUnknown,
                Severity::Critical,
                format!(
                    "order {} ({} x {} GB) was interrupted: it may or may not have been placed. Check the console, then run: cdnquota order --resolve {} --placed ORDER_ID (or --not-placed)",
                    e.id, e.number, e.unit_gb, e.id
                ),
            )),
            OrderState::Failed { error, .. } => out.push(finding(
                Rule::OrderFailed,
                Severity::Critical,
                format!(
                    "order {} ({} x {} GB) failed: {error}. No order is placed automatically until it is settled: cdnquota order --resolve {} --not-placed",
                    e.id, e.number, e.unit_gb, e.id
                ),
            )),
            OrderState::Placed { order_ids, placed_at } if now - *placed_at >= grace => out.push(finding(
                Rule::OrderNotFulfilled,
                Severity::Warning,
                format!(
                    "order {} ({} x {} GB) placed {} ago has brought no package: pay it in the Tencent Cloud console",
                    order_ids.join(", "),
                    e.number,
                    e.unit_gb,
                    format_span((now - *placed_at).to_std().unwrap_or_default())
                ),
            )),
            _ => {}
        }
    }
    match decision {
        Decision::CapReached { reason, count } => out.push(Finding {
            pool: None,
            rule: Rule::OrderCapReached,
            severity: Severity::Critical,
            package_id: None,
            summary: format!(
                "{reason}, but {count} order(s) in 30 days reach max_orders_per_30d = {}: no order placed",
                cfg.max_orders_per_30d
            ),
        }),
        Decision::WouldOrder { reason } => out.push(Finding {
            pool: None,
            rule: Rule::OrderDryRun,
            severity: Severity::Warning,
            package_id: None,
            summary: format!(
                "dry run: would order {} x {} GB because {reason}",
                cfg.number, cfg.unit_gb
            ),
        }),
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assess::assess;
    use crate::forecast::Sample;
    use crate::ledger::LedgerEntry;
    use crate::model::Snapshot;
    use crate::settings::Thresholds;
    use crate::testing::{at, package};

    const GB: u64 = 1_000_000_000;

    fn pool(left_gb: u64) -> Assessment {
        let snap = Snapshot {
            taken_at: at("2026-06-01 00:00:00"),
            packages: vec![package(
                "p",
                1000 * GB,
                (1000 - left_gb) * GB,
                "2026-01-01 00:00:00",
                "2027-01-01 00:00:00",
            )],
        };
        assess(&snap, &[Sample::of(&snap)], &Thresholds::default(), snap.taken_at)
    }

    fn live() -> OrderRules {
        OrderRules {
            mode: OrderMode::Live,
            ..OrderRules::default()
        }
    }

    fn entry(state: OrderState, intent: &str) -> LedgerEntry {
        LedgerEntry {
            id: "ord-1".into(),
            account: "main".into(),
            unit_gb: 100,
            number: 1,
            by_hand: false,
            reason: String::new(),
            intent_at: at(intent),
            known_packages: vec![],
            notified: true,
            state,
        }
    }

    const NOW: &str = "2026-06-01 00:00:00";

    /// 100 GB left, 20 GB a day (a flat forecast: central and early bound
    /// alike), ordering among 1 TB (¥194) and 5 TB (¥945) for 12 months.
    fn auto(number: u32) -> (Assessment, OrderRules) {
        use crate::assess::{ForecastInput, ForecastModel, assess_with};
        use crate::usage::HourlyUsage;
        let snap = Snapshot {
            taken_at: at(NOW),
            packages: vec![package(
                "p",
                1000 * GB,
                900 * GB,
                "2026-01-01 00:00:00",
                "2027-01-01 00:00:00",
            )],
        };
        let usage = HourlyUsage::new();
        let input = ForecastInput {
            usage: &usage,
            recent_rate: Some(20.0 * GB as f64 / 86_400.0),
            model: ForecastModel::Linear,
            forecast: &crate::settings::ForecastSettings::default(),
            depletion_active: false,
            undeducted: 0,
            pay_type: None,
        };
        let a = assess_with(
            crate::model::PoolKey::MAINLAND_TRAFFIC,
            snap,
            &input,
            &Thresholds::default(),
            at(NOW),
        );
        let mut prices = crate::pricing::PriceTable::list_prices().regions[&crate::model::Region::Mainland].clone();
        prices
            .offers
            .retain(|o| o.months == 12 && (o.size_bytes == 1000 * GB || o.size_bytes == 5000 * GB));
        let rules = OrderRules {
            number,
            auto_sizes: Some(prices),
            ..live()
        };
        (a, rules)
    }

    #[test]
    fn auto_orders_the_size_the_cost_model_finds_cheapest() {
        // A year wants 365 × 20 = 7,300 GB; the 100 GB held (expiring
        // first, so used first) cover days 0–4. Any 5,000 GB bought now
        // covers days 5–254, and days 255–364 (2,200 GB, under 2 TB in any
        // month) are pay-as-you-go at 0.21: ¥462.
        // 1 × 5 TB: ¥945 + ¥462 = ¥1,407. 5 × 1 TB: ¥970 + ¥462 = ¥1,432.
        // 4 × 1 TB: ¥776 + 3,200 GB × 0.21 = ¥1,448. 2 × 5 TB: ¥1,890.
        // So one 5 TB package.
        let (a, rules) = auto(5);
        assert_eq!(order_size(&a, &rules), (5000, 1));
        // A fixed unit_gb orders exactly what it says.
        let fixed = OrderRules {
            auto_sizes: None,
            unit_gb: 100,
            number: 3,
            ..rules
        };
        assert_eq!(order_size(&a, &fixed), (100, 3));
    }

    #[test]
    fn auto_without_a_forecast_orders_one_of_the_smallest_size() {
        let (mut a, rules) = auto(5);
        a.demand = crate::demand::Demand::flat(None, at(NOW));
        assert_eq!(order_size(&a, &rules), (1000, 1));
    }

    #[test]
    fn a_ledger_out_of_reach_is_critical_only_when_it_stops_live_ordering() {
        let why = "the order ledger is out of reach: cannot open orders.lock: Too many open files";
        assert_eq!(ledger_unavailable(why, &OrderRules::default(), false), None);
        let off = ledger_unavailable(why, &OrderRules::default(), true).unwrap();
        assert_eq!(
            (off.rule, off.severity),
            (Rule::OrderLedgerUnavailable, Severity::Warning)
        );
        let on = ledger_unavailable(why, &live(), false).unwrap();
        assert_eq!(on.severity, Severity::Critical);
        assert_eq!(on.summary, why);
    }

    #[test]
    fn a_shortfall_only_the_forecast_sees_must_hold_for_an_hour() {
        let t = at(NOW);
        let low = pool(50);
        let plenty = pool(500);
        assert!(!confirmed(None, &low, &live(), t), "a first sighting");
        assert!(
            confirmed(Some(t - TimeDelta::minutes(10)), &low, &live(), t),
            "bytes are low: two polls"
        );
        assert!(
            !confirmed(Some(t - TimeDelta::minutes(50)), &plenty, &live(), t),
            "forecast only, 50 min"
        );
        assert!(
            confirmed(Some(t - TimeDelta::minutes(60)), &plenty, &live(), t),
            "forecast only, an hour"
        );
    }

    #[test]
    fn one_poll_alone_never_orders_nor_previews_an_order() {
        let none = Ledger::default();
        assert_eq!(
            decide("main", &pool(50), &none, &live(), false, at(NOW)),
            Decision::Nothing
        );
        let dry = OrderRules {
            mode: OrderMode::DryRun,
            ..live()
        };
        assert_eq!(
            decide("main", &pool(50), &none, &dry, false, at(NOW)),
            Decision::Nothing
        );
        assert!(matches!(
            decide("main", &pool(50), &none, &live(), true, at(NOW)),
            Decision::Order { .. }
        ));
    }

    #[test]
    fn orders_on_a_shortfall_only_when_live() {
        let none = Ledger::default();
        assert_eq!(
            decide("main", &pool(500), &none, &live(), true, at(NOW)),
            Decision::Nothing
        );
        let d = decide("main", &pool(50), &none, &live(), true, at(NOW));
        assert_eq!(
            d,
            Decision::Order {
                reason: "50.0 GB left, below 100 GB".into()
            }
        );
        let off = OrderRules::default();
        assert_eq!(decide("main", &pool(50), &none, &off, true, at(NOW)), Decision::Nothing);
        let dry = OrderRules {
            mode: OrderMode::DryRun,
            ..live()
        };
        assert!(matches!(
            decide("main", &pool(50), &none, &dry, true, at(NOW)),
            Decision::WouldOrder { .. }
        ));
    }

    #[test]
    fn forecast_trigger() {
        let mut a = pool(500);
        a.depletion_at = Some(at("2026-06-02 00:00:00"));
        let d = decide("main", &a, &Ledger::default(), &live(), true, at(NOW));
        assert!(
            matches!(&d, Decision::Order { reason } if reason.contains("run dry in 1d")),
            "{d:?}"
        );
        let no_forecast = OrderRules {
            when_depletion_within: None,
            ..live()
        };
        assert_eq!(
            decide("main", &a, &Ledger::default(), &no_forecast, true, at(NOW)),
            Decision::Nothing
        );
    }

    #[test]
    fn one_outstanding_order_at_a_time() {
        let placed = OrderState::Placed {
            order_ids: vec!["x".into()],
            placed_at: at(NOW),
        };
        let l = Ledger {
            entries: vec![entry(placed, NOW)],
        };
        assert_eq!(decide("main", &pool(50), &l, &live(), true, at(NOW)), Decision::Nothing);
        // Another account is not held up.
        assert!(matches!(
            decide("other", &pool(50), &l, &live(), true, at(NOW)),
            Decision::Order { .. }
        ));
    }

    #[test]
    fn unknown_or_failed_outcomes_block_until_settled() {
        for state in [
            OrderState::Unknown,
            OrderState::Intent,
            OrderState::Failed {
                error: "5300".into(),
                failed_at: at(NOW),
            },
        ] {
            let l = Ledger {
                entries: vec![entry(state, NOW)],
            };
            assert_eq!(
                decide("main", &pool(50), &l, &live(), true, at(NOW)),
                Decision::Blocked { order: "ord-1".into() }
            );
        }
        let settled = Ledger {
            entries: vec![entry(OrderState::NotPlaced { settled_at: at(NOW) }, NOW)],
        };
        assert!(matches!(
            decide("main", &pool(50), &settled, &live(), true, at(NOW)),
            Decision::Order { .. }
        ));
    }

    #[test]
    fn the_cap_counts_hand_orders_and_is_an_alert() {
        let fulfilled = |t: &str| {
            let mut e = entry(
                OrderState::Fulfilled {
                    order_ids: vec![],
                    package_ids: vec![],
                    fulfilled_at: at(t),
                },
                t,
            );
            e.by_hand = true;
            e
        };
        let l = Ledger {
            entries: vec![fulfilled("2026-05-20 00:00:00"), fulfilled("2026-05-25 00:00:00")],
        };
        let d = decide("main", &pool(50), &l, &live(), true, at(NOW));
        assert!(matches!(d, Decision::CapReached { count: 2, .. }), "{d:?}");
        let f = findings("main", &l, &d, &live(), at(NOW));
        assert_eq!(f.len(), 1);
        assert_eq!((f[0].rule, f[0].severity), (Rule::OrderCapReached, Severity::Critical));
        // Thirty days on, the old orders no longer count.
        assert!(matches!(
            decide("main", &pool(50), &l, &live(), true, at("2026-06-25 00:00:00")),
            Decision::Order { .. }
        ));
    }

    #[test]
    fn order_alerts() {
        let placed = OrderState::Placed {
            order_ids: vec!["2026112200001".into()],
            placed_at: at(NOW),
        };
        let l = Ledger {
            entries: vec![entry(placed, NOW)],
        };
        let cfg = live();
        assert!(findings("main", &l, &Decision::Nothing, &cfg, at("2026-06-01 23:59:00")).is_empty());
        let late = findings("main", &l, &Decision::Nothing, &cfg, at("2026-06-02 00:00:00"));
        assert_eq!(late[0].rule, Rule::OrderNotFulfilled);
        assert!(
            late[0].summary.contains("2026112200001") && late[0].summary.contains("pay it"),
            "{}",
            late[0].summary
        );

        let unknown = Ledger {
            entries: vec![entry(OrderState::Unknown, NOW)],
        };
        let f = findings("main", &unknown, &Decision::Nothing, &cfg, at(NOW));
        assert_eq!(
            (f[0].rule, f[0].package_id.as_deref()),
            (Rule::OrderOutcomeUnknown, Some("ord-1"))
        );
        assert!(f[0].summary.contains("cdnquota order --resolve ord-1"));
        assert!(findings("other", &unknown, &Decision::Nothing, &cfg, at(NOW)).is_empty());

        let dry = OrderRules {
            mode: OrderMode::DryRun,
            ..live()
        };
        let d = decide("main", &pool(50), &Ledger::default(), &dry, true, at(NOW));
        let f = findings("main", &Ledger::default(), &d, &dry, at(NOW));
        assert_eq!(f[0].rule, Rule::OrderDryRun);
        assert_eq!(
            f[0].summary,
            "dry run: would order 1 x 100 GB because 50.0 GB left, below 100 GB"
        );
    }
}
