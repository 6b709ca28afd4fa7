//! The threshold rules: where a finding fires.
//!
//! Each rule looks at one account's assessed pool and says whether it is in
//! trouble. The rules are independent: an exhausted pool is also low. Were
//! exhaustion to hide "low", the alert lifecycle would report PoolLow as
//! resolved at the very moment the pool ran dry.

use crate::config::Thresholds;
use crate::config::units::{format_size_human, format_span};
use crate::core::pool::PoolTotals;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::fmt;

/// The conditions the daemon watches for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Rule {
    /// No usable bytes left: CDN traffic falls back to pay-as-you-go.
    PoolExhausted,
    /// Few bytes left, by amount or by share.
    PoolLow,
    /// At the current rate the pool runs dry soon.
    DepletionForecast,
    /// A package with bytes left expires soon: those bytes will be lost.
    PackageExpiringSoon,
    /// A placed order has brought no package after the grace period.
    OrderNotFulfilled,
    /// An order was interrupted; whether it was placed is not known.
    OrderOutcomeUnknown,
    /// The order ledger cannot be read or locked: ordering is stopped.
    OrderLedgerUnavailable,
    /// OrderPackage refused an order.
    OrderFailed,
    /// A shortfall, but the 30-day order cap is reached.
    OrderCapReached,
    /// Dry run: an order would be placed.
    OrderDryRun,
}

impl Rule {
    /// The alert name used in metrics, logs and mail.
    pub fn name(self) -> &'static str {
        match self {
            Rule::PoolExhausted => "PoolExhausted",
            Rule::PoolLow => "PoolLow",
            Rule::DepletionForecast => "DepletionForecast",
            Rule::PackageExpiringSoon => "PackageExpiringSoon",
            Rule::OrderNotFulfilled => "OrderNotFulfilled",
            Rule::OrderOutcomeUnknown => "OrderOutcomeUnknown",
            Rule::OrderLedgerUnavailable => "OrderLedgerUnavailable",
            Rule::OrderFailed => "OrderFailed",
            Rule::OrderCapReached => "OrderCapReached",
            Rule::OrderDryRun => "OrderDryRun",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How urgent a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Act within days.
    Warning,
    /// Act now: money is being spent or about to be.
    Critical,
}

impl Severity {
    /// The severity as shown to people: `WARNING`, `CRITICAL`.
    pub fn label(self) -> &'static str {
        match self {
            Severity::Warning => "WARNING",
            Severity::Critical => "CRITICAL",
        }
    }
}

/// One rule firing for one account (and package, where it applies).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Finding {
    /// Which rule.
    pub rule: Rule,
    /// How urgent.
    pub severity: Severity,
    /// The package concerned, for per-package rules.
    pub package_id: Option<String>,
    /// One line for people, with the numbers that made it fire.
    pub summary: String,
}

/// A usable package's expiry, as the expiry rule needs it.
pub struct ExpiringPackage<'a> {
    /// The package id.
    pub id: &'a str,
    /// Its display name.
    pub title: &'a str,
    /// Bytes that would be lost.
    pub remaining_bytes: u64,
    /// When it expires.
    pub expires_at: DateTime<Utc>,
}

/// What the rules look at for one account.
pub struct RuleInput<'a> {
    /// Totals over usable packages.
    pub totals: PoolTotals,
    /// Bytes per second, if known.
    pub rate: Option<f64>,
    /// Forecast of when the pool runs dry, if anything is being consumed.
    pub depletion_at: Option<DateTime<Utc>>,
    /// Usable packages with bytes left.
    pub packages: Vec<ExpiringPackage<'a>>,
}

fn until(now: DateTime<Utc>, then: DateTime<Utc>) -> std::time::Duration {
    (then - now).to_std().unwrap_or_default()
}

fn within(now: DateTime<Utc>, then: DateTime<Utc>, limit: std::time::Duration) -> bool {
    !limit.is_zero() && then - now < chrono::TimeDelta::from_std(limit).unwrap_or(chrono::TimeDelta::MAX)
}

/// Every finding for one account at `now`.
pub fn evaluate(input: &RuleInput, t: &Thresholds, now: DateTime<Utc>) -> Vec<Finding> {
    let mut findings = Vec::new();
    let totals = input.totals;
    let left = format_size_human(totals.remaining_bytes);
    if totals.remaining_bytes == 0 {
        let summary = if totals.usable_packages == 0 {
            "no usable traffic package: CDN traffic is billed pay-as-you-go".to_string()
        } else {
            format!(
                "all {} usable package(s) are used up: CDN traffic is billed pay-as-you-go",
                totals.usable_packages
            )
        };
        findings.push(Finding {
            rule: Rule::PoolExhausted,
            severity: Severity::Critical,
            package_id: None,
            summary,
        });
    }
    let ratio = totals.remaining_ratio().unwrap_or(0.0);
    let low_bytes = totals.remaining_bytes < t.remaining_bytes_below;
    let low_ratio = ratio < t.remaining_ratio_below;
    if low_bytes || low_ratio {
        let why = if low_bytes {
            format!("below {}", format_size_human(t.remaining_bytes_below))
        } else {
            format!("below {:.0}%", t.remaining_ratio_below * 100.0)
        };
        findings.push(Finding {
            rule: Rule::PoolLow,
            severity: Severity::Warning,
            package_id: None,
            summary: format!(
                "{left} left ({:.1}% of {}), {why}",
                ratio * 100.0,
                format_size_human(totals.size_bytes)
            ),
        });
    }
    if let (Some(rate), Some(dry)) = (input.rate, input.depletion_at)
        && within(now, dry, t.depletion_within)
    {
        findings.push(Finding {
            rule: Rule::DepletionForecast,
            severity: Severity::Warning,
            package_id: None,
            summary: format!(
                "at {}/s the pool runs dry in {} ({} UTC)",
                format_size_human(rate.round() as u64),
                format_span(until(now, dry)),
                dry.format("%Y-%m-%d %H:%M")
            ),
        });
    }
    for p in &input.packages {
        if p.remaining_bytes > 0 && within(now, p.expires_at, t.expires_within) {
            findings.push(Finding {
                rule: Rule::PackageExpiringSoon,
                severity: Severity::Warning,
                package_id: Some(p.id.to_string()),
                summary: format!(
                    "package {} ({}) expires in {} ({} UTC) with {} unused",
                    p.id,
                    p.title,
                    format_span(until(now, p.expires_at)),
                    p.expires_at.format("%Y-%m-%d %H:%M"),
                    format_size_human(p.remaining_bytes)
                ),
            });
        }
    }
    findings
}
