//! `cdnquota-core`: what cdnquota knows and decides, as pure functions of
//! (snapshot, history, settings, now). Nothing here does I/O, reads a clock
//! or spawns a task; the daemon's shell feeds it and acts on its answers.
//!
//! # Layout, in the order data flows through it
//!
//! - [`model`]: what a source reports, a [`model::Snapshot`] of packages,
//!   each in a pool ([`model::PoolKey`]: resource and billing region).
//! - [`settings`]: the thresholds, alert settings and order rules, parsed
//!   from the config by the shell, "off" already an `Option`.
//! - [`units`]: sizes and spans written for people and for the config.
//! - [`plausibility`]: whether a package list can be believed at all.
//! - [`pool`]: which packages count and how many bytes are left.
//! - [`forecast`], [`usage`], [`history`]: the burn rate from past polls, the
//!   consumption by the hour, and what survives a restart.
//! - [`calendar`]: public holidays and make-up working days, China's as
//!   published by the State Council.
//! - [`series`], [`outliers`], [`level_shift`], [`monthly`]: hourly rates
//!   laid out by the hour, the one-off hours kept out of the profile, a
//!   lasting change of level that re-bases it, and a cycle by day of month.
//! - [`demand`], [`drain`], [`projection`]: the expected demand run forward
//!   against the packages: when the pool runs dry, what expires unused.
//! - [`lag`]: what Tencent has billed but not yet deducted.
//! - [`rules`], [`assess`]: the findings for one pool; [`account`]: an
//!   account's pools, one per (resource, billing region).
//! - [`alerts`], [`poll_guard`]: the alert lifecycle (fire once, repeat,
//!   resolve once) and the watchdog over polling itself.
//! - [`ledger`], [`order_policy`]: the order ledger's rules and whether to
//!   order.
//! - [`pricing`], [`advice`], [`advice_text`]: what packages and
//!   pay-as-you-go cost, the money at stake in a pool and the purchase that
//!   costs least, and both in words.
//! - [`check_state`]: the one verdict (OK/WARNING/CRITICAL/UNKNOWN) that
//!   `check`, the status page and the mail share.
//! - [`replay`]: recorded polls run through all of the above, for backtests;
//!   [`cost_replay`]: what they cost against following the advice.
//! - [`backoff`], [`text`]: the retry schedule and bounded error text that
//!   the client and the sinks share.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod account;
pub mod advice;
pub mod advice_text;
pub mod alerts;
pub mod assess;
pub mod backoff;
pub mod calendar;
pub mod check_state;
pub mod cost_replay;
pub mod demand;
pub mod drain;
pub mod forecast;
pub mod history;
pub mod lag;
pub mod ledger;
pub mod level_shift;
pub mod model;
pub mod monthly;
pub mod order_policy;
pub mod outliers;
pub mod plausibility;
pub mod poll_guard;
pub mod pool;
pub mod pricing;
pub mod projection;
pub mod replay;
pub mod rules;
pub mod series;
pub mod settings;
pub mod text;
pub mod units;
pub mod usage;

#[cfg(any(test, feature = "testing"))]
pub mod testing;
