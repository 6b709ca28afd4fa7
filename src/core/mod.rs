//! The pure core: package math, forecast, threshold rules, the alert
//! lifecycle, the order ledger's rules and the order policy. Functions of
//! (snapshot, history, config, state, now) with no I/O and no clock reads.

pub mod alerts;
pub mod assess;
pub mod demand;
pub mod drain;
pub mod forecast;
pub mod history;
pub mod ledger;
pub mod order_policy;
pub mod plausibility;
pub mod poll_guard;
pub mod pool;
pub mod projection;
pub mod replay;
pub mod rules;
pub mod usage;

#[cfg(test)]
pub(crate) mod testing;
