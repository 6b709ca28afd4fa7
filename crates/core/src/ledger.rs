//! The order ledger's records and the rules over them, as plain data: what
//! an order's state is, which orders block new ones, which count toward the
//! cap, and when new packages fulfil an order.
//!
//! An order's life: `intent` is written (and fsynced) before the request;
//! the answer makes it `placed` (with Tencent's order ids) or `failed`. An
//! intent still there when the daemon starts has an `unknown` outcome: the
//! request may or may not have reached Tencent, so only a person may settle
//! it. A placed order is `fulfilled` once the package list shows new
//! packages of the ordered size; an order is not a purchase until paid.

use crate::model::Package;
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

/// Where an order stands.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum OrderState {
    /// Written before the request; the answer is not recorded yet.
    Intent,
    /// An intent found at start-up: it may or may not have been placed.
    Unknown,
    /// OrderPackage returned these ids; waiting for payment and packages.
    Placed {
        /// Tencent's order ids.
        order_ids: Vec<String>,
        /// When the answer came.
        placed_at: DateTime<Utc>,
    },
    /// OrderPackage returned an error; nothing was ordered.
    Failed {
        /// The API's error.
        error: String,
        /// When.
        failed_at: DateTime<Utc>,
    },
    /// New packages of the ordered size appeared.
    Fulfilled {
        /// Tencent's order ids, when known.
        order_ids: Vec<String>,
        /// The packages that fulfilled it.
        package_ids: Vec<String>,
        /// When they were first seen.
        fulfilled_at: DateTime<Utc>,
    },
    /// A person settled an unknown or failed order as not placed.
    NotPlaced {
        /// When.
        settled_at: DateTime<Utc>,
    },
}

/// One order in the ledger.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// The ledger's own id for the order, e.g. `ord-20261122T060000Z-main`.
    pub id: String,
    /// The account.
    pub account: String,
    /// Package size in GB.
    pub unit_gb: u32,
    /// Packages ordered.
    pub number: u32,
    /// Placed with `cdnquota order` rather than by the daemon.
    pub by_hand: bool,
    /// Why: the numbers that triggered it.
    pub reason: String,
    /// When the intent was written.
    pub intent_at: DateTime<Utc>,
    /// Package ids listed when the order was made: fulfilment must be new.
    pub known_packages: Vec<String>,
    /// Whether the mail about the outcome has been queued.
    #[serde(default)]
    pub notified: bool,
    /// Where it stands.
    #[serde(flatten)]
    pub state: OrderState,
}

/// Every order ever made, oldest first.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Ledger {
    /// The orders.
    pub entries: Vec<LedgerEntry>,
}

const GB: u64 = 1_000_000_000;

impl Ledger {
    /// An order of `account` that forbids ordering on its own: an intent
    /// (in flight), an unknown outcome, or an unsettled failure.
    pub fn blocking(&self, account: &str) -> Option<&LedgerEntry> {
        self.entries.iter().find(|e| {
            e.account == account
                && matches!(
                    e.state,
                    OrderState::Intent | OrderState::Unknown | OrderState::Failed { .. }
                )
        })
    }

    /// A placed order of `account` still waiting for its packages.
    pub fn outstanding(&self, account: &str) -> Option<&LedgerEntry> {
        self.entries
            .iter()
            .find(|e| e.account == account && matches!(e.state, OrderState::Placed { .. }))
    }

    /// Orders of `account` in the 30 days before `now` that may have spent
    /// money: everything but failures and orders settled as not placed.
    pub fn counted_in_30_days(&self, account: &str, now: DateTime<Utc>) -> u32 {
        let since = now - TimeDelta::days(30);
        self.entries
            .iter()
            .filter(|e| e.account == account && e.intent_at > since)
            .filter(|e| !matches!(e.state, OrderState::Failed { .. } | OrderState::NotPlaced { .. }))
            .count() as u32
    }

    /// Turns intents left by a previous process into unknown outcomes;
    /// returns their ids.
    pub fn intents_to_unknown(&mut self) -> Vec<String> {
        self.entries
            .iter_mut()
            .filter(|e| e.state == OrderState::Intent)
            .map(|e| {
                e.state = OrderState::Unknown;
                e.id.clone()
            })
            .collect()
    }

    /// Marks placed orders of `account` fulfilled when enough new packages
    /// of their size are listed; returns the ids fulfilled. A package
    /// fulfils one order only, oldest order first.
    pub fn fulfil(&mut self, account: &str, packages: &[Package], now: DateTime<Utc>) -> Vec<String> {
        let mut claimed: Vec<String> = self
            .entries
            .iter()
            .filter_map(|e| match &e.state {
                OrderState::Fulfilled { package_ids, .. } => Some(package_ids.clone()),
                _ => None,
            })
            .flatten()
            .collect();
        let mut done = Vec::new();
        for entry in self.entries.iter_mut().filter(|e| e.account == account) {
            let OrderState::Placed { order_ids, .. } = &entry.state else {
                continue;
            };
            // A set: an account of 100,000 packages would make a list
            // search here 10^10 comparisons.
            let known: std::collections::HashSet<&str> = entry.known_packages.iter().map(String::as_str).collect();
            let fresh: Vec<String> = packages
                .iter()
                .filter(|p| p.size_bytes == u64::from(entry.unit_gb) * GB)
                .filter(|p| !known.contains(p.id.as_str()) && !claimed.contains(&p.id))
                .map(|p| p.id.clone())
                .take(entry.number as usize)
                .collect();
            if fresh.len() == entry.number as usize {
                claimed.extend(fresh.iter().cloned());
                entry.state = OrderState::Fulfilled {
                    order_ids: order_ids.clone(),
                    package_ids: fresh,
                    fulfilled_at: now,
                };
                done.push(entry.id.clone());
            }
        }
        done
    }

    /// The entry with `id`.
    pub fn get_mut(&mut self, id: &str) -> Option<&mut LedgerEntry> {
        self.entries.iter_mut().find(|e| e.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{at, package};

    fn entry(id: &str, state: OrderState, intent: &str) -> LedgerEntry {
        LedgerEntry {
            id: id.into(),
            account: "main".into(),
            unit_gb: 100,
            number: 1,
            by_hand: false,
            reason: "low".into(),
            intent_at: at(intent),
            known_packages: vec!["old".into()],
            notified: false,
            state,
        }
    }

    fn placed() -> OrderState {
        OrderState::Placed {
            order_ids: vec!["2026001".into()],
            placed_at: at("2026-06-01 00:00:00"),
        }
    }

    #[test]
    fn blocking_outstanding_and_counting() {
        let mut l = Ledger::default();
        assert!(l.blocking("main").is_none() && l.outstanding("main").is_none());
        l.entries.push(entry("a", placed(), "2026-06-01 00:00:00"));
        assert_eq!(l.outstanding("main").unwrap().id, "a");
        assert!(l.blocking("main").is_none());
        assert!(l.outstanding("other").is_none());
        l.entries.push(entry(
            "b",
            OrderState::Failed {
                error: "5300".into(),
                failed_at: at("2026-06-02 00:00:00"),
            },
            "2026-06-02 00:00:00",
        ));
        assert_eq!(l.blocking("main").unwrap().id, "b");
        l.entries.push(entry("c", OrderState::Unknown, "2026-06-03 00:00:00"));
        l.entries.push(entry(
            "d",
            OrderState::NotPlaced {
                settled_at: at("2026-06-04 00:00:00"),
            },
            "2026-06-04 00:00:00",
        ));
        l.entries.push(entry("e", placed(), "2026-04-01 00:00:00"));
        // a and c may have spent; b failed, d was not placed, e is too old.
        assert_eq!(l.counted_in_30_days("main", at("2026-06-10 00:00:00")), 2);
        assert_eq!(l.counted_in_30_days("main", at("2026-07-02 00:00:00")), 1);
    }

    #[test]
    fn intents_found_at_start_become_unknown() {
        let mut l = Ledger {
            entries: vec![
                entry("a", OrderState::Intent, "2026-06-01 00:00:00"),
                entry("b", placed(), "2026-06-01 00:00:00"),
            ],
        };
        assert_eq!(l.intents_to_unknown(), vec!["a"]);
        assert_eq!(l.entries[0].state, OrderState::Unknown);
        assert!(l.intents_to_unknown().is_empty());
    }

    #[test]
    fn fulfilled_only_by_new_packages_of_the_ordered_size() {
        let mut l = Ledger {
            entries: vec![entry("a", placed(), "2026-06-01 00:00:00")],
        };
        let t = at("2026-06-02 00:00:00");
        let p = |id: &str, gb: u64| package(id, gb * GB, 0, "2026-06-01 00:00:00", "2027-06-01 00:00:00");
        // Known before the order, or the wrong size: not a fulfilment.
        assert!(l.fulfil("main", &[p("old", 100), p("x", 50)], t).is_empty());
        assert_eq!(l.fulfil("main", &[p("old", 100), p("new", 100)], t), vec!["a"]);
        assert!(
            matches!(&l.entries[0].state, OrderState::Fulfilled { package_ids, .. } if package_ids == &vec!["new".to_string()])
        );
        // A package fulfils one order only.
        l.entries.push(entry("b", placed(), "2026-06-01 00:00:00"));
        assert!(l.fulfil("main", &[p("old", 100), p("new", 100)], t).is_empty());
        assert_eq!(l.fulfil("main", &[p("new", 100), p("newer", 100)], t), vec!["b"]);
    }

    #[test]
    fn an_order_of_several_needs_all_its_packages() {
        let mut e = entry("a", placed(), "2026-06-01 00:00:00");
        e.number = 2;
        let mut l = Ledger { entries: vec![e] };
        let p = |id: &str| package(id, 100 * GB, 0, "2026-06-01 00:00:00", "2027-06-01 00:00:00");
        assert!(l.fulfil("main", &[p("n1")], at("2026-06-02 00:00:00")).is_empty());
        assert_eq!(
            l.fulfil("main", &[p("n1"), p("n2")], at("2026-06-02 00:00:00")),
            vec!["a"]
        );
    }

    #[test]
    fn survives_a_round_trip_through_json() {
        let l = Ledger {
            entries: vec![
                entry("a", placed(), "2026-06-01 00:00:00"),
                entry("b", OrderState::Intent, "2026-06-01 00:00:00"),
            ],
        };
        let text = serde_json::to_string(&l).unwrap();
        assert!(
            text.contains("\"state\":\"placed\"") && text.contains("\"state\":\"intent\""),
            "{text}"
        );
        assert_eq!(serde_json::from_str::<Ledger>(&text).unwrap(), l);
    }
}
