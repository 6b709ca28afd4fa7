//! Ordering, the shell around `core::order_policy`: after every successful
//! poll it brings the ledger up to date (fulfilments, mail owed), asks the
//! policy, and when it says so places the order with this protocol:
//!
//! 1. write the intent to the ledger and fsync it;
//! 2. send OrderPackage, exactly once;
//! 3. write the order ids (or the API's error) and fsync.
//!
//! A crash between 1 and 3 leaves an intent, which the next start turns into
//! an unknown outcome: never re-ordered automatically, alerted until a
//! person settles it with `cdnquota order --resolve`.

pub mod ledger_file;
pub mod replica;

use crate::alerting::Notifier;
use crate::config::Account;
use crate::metrics::Metrics;
use cdnquota_core::assess::Assessment;
use cdnquota_core::ledger::{Ledger, LedgerEntry, OrderState};
use cdnquota_core::order_policy::{Decision, confirmed, decide, findings, ledger_unavailable, order_size, shortfall};
use cdnquota_core::rules::Finding;
use cdnquota_core::settings::OrderMode;
use chrono::{DateTime, Utc};
use ledger_file::{LedgerError, LedgerFile, LedgerGuard};
use std::sync::Arc;
use tencent_cdn_api::source::PackageSource;

/// Crash tests set this to a pause point's name; the daemon then stops
/// there (and logs it) so the test can kill it at exactly that step.
pub const PAUSE_ENV: &str = "CDNQUOTA_TEST_PAUSE_AT";

async fn pause_point(name: &str) {
    if std::env::var(PAUSE_ENV).is_ok_and(|v| v == name) {
        tracing::warn!("pausing at {name} ({PAUSE_ENV})");
        tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
    }
}

/// A new ledger id.
pub fn new_order_id(account: &str, now: DateTime<Utc>) -> String {
    format!(
        "ord-{}-{account}-{:04x}",
        now.format("%Y%m%dT%H%M%SZ"),
        crate::random::random_u64() & 0xffff
    )
}

/// The intent record for an order of `account` made at `now`, of
/// `number` × `unit_gb` GB.
pub fn intent(
    account: &Account,
    (unit_gb, number): (u32, u32),
    packages: &[String],
    reason: String,
    by_hand: bool,
    now: DateTime<Utc>,
) -> LedgerEntry {
    LedgerEntry {
        id: new_order_id(account.name.as_str(), now),
        account: account.name.to_string(),
        unit_gb,
        number,
        by_hand,
        reason,
        intent_at: now,
        known_packages: packages.to_vec(),
        notified: false,
        state: OrderState::Intent,
    }
}

/// Sends the order of `entry_id` (already saved as an intent) and records
/// the answer. Used by the daemon and by `cdnquota order`.
pub async fn place(guard: &mut LedgerGuard, entry_id: &str, source: &PackageSource) -> Result<OrderState, String> {
    // Config loading refuses ordering on API 3.0 accounts; should one get
    // here, nothing is sent and the ledger says so.
    let Some(client) = source.ordering_client() else {
        let state = OrderState::Failed {
            error: "API 3.0 has no purchase action: place orders in the Tencent Cloud console".into(),
            failed_at: Utc::now(),
        };
        if let Some(entry) = guard.ledger.get_mut(entry_id) {
            entry.state = state.clone();
        }
        guard.save()?;
        return Ok(state);
    };
    let (unit, number) = guard
        .ledger
        .entries
        .iter()
        .find(|e| e.id == entry_id)
        .map(|e| (e.unit_gb, e.number))
        .ok_or_else(|| format!("order {entry_id} is not in the ledger"))?;
    pause_point("after-intent").await;
    let answer = client.order_package(unit, number).await;
    pause_point("after-answer").await;
    let state = match answer {
        Ok(order_ids) => OrderState::Placed {
            order_ids,
            placed_at: Utc::now(),
        },
        // Only an answer that says no is a refusal. A request that timed
        // out, a cut connection, a 5xx or an answer that does not read may
        // have been processed, and 5400 is "partly succeeded": whether an
        // order exists is then not known, and a person must look.
        Err(e) if refused(&e) => OrderState::Failed {
            error: format!("{e}; {}", e.hint()),
            failed_at: Utc::now(),
        },
        Err(e) => {
            tracing::error!(
                "OrderPackage's outcome is unknown ({e}): the order may have been placed; check the console, then settle it with cdnquota order --resolve {entry_id}"
            );
            OrderState::Unknown
        }
    };
    if let OrderState::Placed { order_ids, .. } = &state {
        // Logged before the save: should the save fail, the ids are not lost.
        tracing::warn!("order {entry_id} placed, order ids {}", order_ids.join(", "));
    }
    if let Some(entry) = guard.ledger.get_mut(entry_id) {
        entry.state = state.clone();
    }
    guard.save()?;
    pause_point("after-ids").await;
    Ok(state)
}

/// Whether OrderPackage's error is a definite refusal: nothing was ordered.
fn refused(e: &tencent_cdn_api::error::ApiError) -> bool {
    matches!(e, tencent_cdn_api::error::ApiError::Api { code, .. } if *code != 5400)
}

/// Turns intents into unknown outcomes. Called by whoever holds the ledger
/// lock: every order holds it from intent to outcome, so an intent found by
/// a new holder was left by a process that died mid-order.
pub fn settle_stale_intents(guard: &mut LedgerGuard) {
    let unknown = guard.ledger.intents_to_unknown();
    if !unknown.is_empty() {
        tracing::error!(
            "order(s) {} were interrupted before their outcome was recorded: they may or may not have been placed; no order is placed for their accounts until a person settles them",
            unknown.join(", ")
        );
        if let Err(e) = guard.save() {
            tracing::error!("{e}");
        }
    }
}

/// The ordering shell of the daemon.
pub struct Orderer {
    file: LedgerFile,
    notifier: Arc<Notifier>,
    metrics: Arc<Metrics>,
    // The order alerts of each account at its last poll, repeated while the
    // ledger is busy: an absent alert would read as resolved.
    last_findings: std::sync::Mutex<std::collections::HashMap<String, Vec<Finding>>>,
    // When each account's shortfall was first seen (and is still seen): see
    // `order_policy::confirmed`. Kept in memory only, so a
    // restart asks for two polls again: the safe direction.
    shortfall_seen: std::sync::Mutex<std::collections::HashMap<String, DateTime<Utc>>>,
    // OrderPackage requests under way: a stop waits for their answer.
    in_flight: std::sync::atomic::AtomicUsize,
}

impl Orderer {
    /// The orderer for `state_dir`. Intents left by a dead process become
    /// unknown outcomes here, or at the first poll if the ledger is busy.
    pub fn new(state_dir: &std::path::Path, notifier: Arc<Notifier>, metrics: Arc<Metrics>) -> Orderer {
        let file = LedgerFile::new(state_dir);
        // Never wait for the lock here: an order in flight (a reload, or a
        // hand order) holds it, and this thread may be the one it runs on.
        match file.try_lock() {
            Ok(Some(mut guard)) => settle_stale_intents(&mut guard),
            Ok(None) => {}
            Err(e) => tracing::error!("{e}"),
        }
        Orderer {
            file,
            notifier,
            metrics,
            last_findings: Default::default(),
            shortfall_seen: Default::default(),
            in_flight: Default::default(),
        }
    }

    /// Updates the ledger after a successful poll of `account`, orders if
    /// the policy says so, and returns the order alerts that hold.
    pub async fn after_poll(
        &self,
        account: &Account,
        source: &PackageSource,
        a: &Assessment,
        now: DateTime<Utc>,
    ) -> Vec<Finding> {
        let name = account.name.as_str();
        let seen_before = {
            let mut seen = self.shortfall_seen.lock().unwrap_or_else(|p| p.into_inner());
            let first_seen = seen.get(name).copied();
            if shortfall(a, &account.order, now).is_some() {
                seen.entry(name.to_string()).or_insert(now);
            } else {
                seen.remove(name);
            }
            confirmed(first_seen, a, &account.order, now)
        };
        let mut guard = match self.file.try_lock() {
            Ok(Some(guard)) => guard,
            Ok(None) => {
                tracing::info!(account = %name, "the order ledger is locked by `cdnquota order`; ordering waits for the next poll");
                let last = self.last_findings.lock().unwrap_or_else(|p| p.into_inner());
                return last.get(name).cloned().unwrap_or_default();
            }
            Err(e) => {
                let exists = matches!(e, LedgerError::Unreadable(_)) || self.file.path().exists();
                let finding = ledger_unavailable(&e.to_string(), &account.order, exists);
                match &finding {
                    Some(_) => tracing::error!(account = %name, "{e}"),
                    None => tracing::debug!(account = %name, "{e}; ordering is off and there is no ledger"),
                }
                return finding.into_iter().collect();
            }
        };
        settle_stale_intents(&mut guard);
        let as_read = guard.ledger.clone();
        // Only an order waiting for its package needs the list: a large
        // account is not copied on every poll.
        let waiting = guard
            .ledger
            .entries
            .iter()
            .any(|e| e.account == name && matches!(e.state, OrderState::Placed { .. }));
        let packages: Vec<_> = match waiting {
            true => a.packages.iter().map(|v| v.package.clone()).collect(),
            false => Vec::new(),
        };
        // Mail owed first: an order placed by hand and paid before this poll
        // still gets its "ordered, must be paid" mail.
        self.mail_owed(name, &mut guard.ledger, now);
        let fulfilled = guard.ledger.fulfil(name, &packages, now);
        for id in &fulfilled {
            tracing::info!(account = %name, "order {id} is fulfilled: its package(s) are listed");
            self.metrics.orders.outcome(name, "fulfilled");
        }
        // Most polls change nothing: no write, no fsync.
        if guard.ledger != as_read
            && let Err(e) = guard.save()
        {
            tracing::error!(account = %name, "{e}");
        }

        let decision = decide(name, a, &guard.ledger, &account.order, seen_before, now);
        // A fixed unit_gb as configured; "auto" the advised size.
        let (unit_gb, number) = order_size(a, &account.order);
        match &decision {
            Decision::Order { reason } => {
                let known: Vec<String> = a.packages.iter().map(|v| v.package.id.clone()).collect();
                let entry = intent(account, (unit_gb, number), &known, reason.clone(), false, now);
                let id = entry.id.clone();
                guard.ledger.entries.push(entry);
                // The intent must be on disk before the request leaves.
                match guard.save() {
                    Err(e) => {
                        tracing::error!(account = %name, "{e}; the order is not placed");
                        guard.ledger.entries.retain(|e| e.id != id);
                    }
                    Ok(()) => {
                        tracing::warn!(account = %name, "ordering {number} x {unit_gb} GB because {reason} ({id})");
                        self.in_flight.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        let placed = place(&mut guard, &id, source).await;
                        self.in_flight.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                        match placed {
                            Ok(state) => {
                                let outcome = match state {
                                    OrderState::Placed { .. } => "placed",
                                    OrderState::Unknown => "unknown",
                                    _ => "failed",
                                };
                                self.metrics.orders.outcome(name, outcome);
                                self.mail_owed(name, &mut guard.ledger, Utc::now());
                                if let Err(e) = guard.save() {
                                    tracing::error!(account = %name, "{e}");
                                }
                            }
                            Err(e) => tracing::error!(account = %name, "{e}"),
                        }
                    }
                }
            }
            Decision::WouldOrder { reason } if account.order.mode == OrderMode::DryRun => {
                tracing::info!(account = %name, "dry run: would order {number} x {unit_gb} GB because {reason}");
            }
            Decision::CapReached { count, .. } => {
                tracing::error!(account = %name, "an order is due but {count} order(s) in 30 days reach the cap");
            }
            Decision::Blocked { order } => {
                tracing::warn!(account = %name, "an order is due but order {order} must be settled first");
            }
            _ => {}
        }
        self.metrics
            .orders
            .set_outstanding(name, guard.ledger.outstanding(name).is_some());
        let decision_outcome = match decision {
            Decision::WouldOrder { .. } => Some("dry_run"),
            Decision::CapReached { .. } => Some("cap_reached"),
            Decision::Blocked { .. } => Some("blocked"),
            _ => None,
        };
        if let Some(outcome) = decision_outcome {
            self.metrics.orders.outcome(name, outcome);
        }
        // The dry run names what would be bought: the advised size too.
        let sized = cdnquota_core::settings::OrderRules {
            unit_gb,
            number,
            ..account.order.clone()
        };
        let found = findings(name, &guard.ledger, &decision, &sized, now);
        let mut last = self.last_findings.lock().unwrap_or_else(|p| p.into_inner());
        last.insert(name.to_string(), found.clone());
        found
    }

    /// Whether an OrderPackage request is under way.
    pub fn ordering(&self) -> bool {
        self.in_flight.load(std::sync::atomic::Ordering::SeqCst) > 0
    }

    /// Queues the mail owed for placed or failed orders of `account` (also
    /// those placed by hand, or before a crash) and marks them notified.
    fn mail_owed(&self, account: &str, ledger: &mut Ledger, now: DateTime<Utc>) {
        for e in ledger
            .entries
            .iter_mut()
            .filter(|e| e.account == account && !e.notified)
        {
            let who = if e.by_hand { "by hand" } else { "automatically" };
            let (subject, body) = match &e.state {
                OrderState::Placed { order_ids, .. } => (
                    format!(
                        "[ORDER] {account}: ordered {} x {} GB; it must be paid",
                        e.number, e.unit_gb
                    ),
                    format!(
                        "cdnquota placed an order {who}: {} x {} GB.\nOrder ids: {}\nWhy: {}\n\nAn order is not a purchase: pay it in the Tencent Cloud console (order ids above). \
                         The package appears, and this order counts as fulfilled, only once it is paid.\nLedger id: {}\n",
                        e.number,
                        e.unit_gb,
                        order_ids.join(", "),
                        e.reason,
                        e.id
                    ),
                ),
                OrderState::Failed { error, .. } => (
                    format!("[CRITICAL] {account}: ordering {} x {} GB failed", e.number, e.unit_gb),
                    format!(
                        "cdnquota tried to order {who}: {} x {} GB.\nWhy: {}\nThe API refused: {error}\n\nNothing was ordered and no order is tried again automatically. \
                         Fix the cause, then run: cdnquota order --resolve {} --not-placed\n",
                        e.number, e.unit_gb, e.reason, e.id
                    ),
                ),
                _ => continue,
            };
            self.notifier.send_event(account, &subject, &body, now);
            e.notified = true;
        }
    }
}
