//! The threshold rules: where a finding fires.
//!
//! Each rule looks at one account's assessed pool and says whether it is in
//! trouble. The rules are independent: an exhausted pool is also low. Were
//! exhaustion to hide "low", the alert lifecycle would report PoolLow as
//! resolved at the very moment the pool ran dry.

use crate::demand::Basis;
use crate::model::{BillingCycle, PayType, PoolKey, Resource};
use crate::pool::PoolTotals;
use crate::projection::Projection;
use crate::settings::Thresholds;
use crate::units::{format_amount_human, format_span};
use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;
use std::fmt;

/// The conditions the daemon watches for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Rule {
    /// No usable bytes left: CDN traffic falls back to pay-as-you-go.
    PoolExhausted,
    /// Few bytes left, by amount or by share.
    PoolLow,
    /// The forecast demand runs the pool dry soon.
    DepletionForecast,
    /// A package expires soon with bytes the forecast leaves unused: lost.
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
    /// The account is billed in a way its packages do not deduct under
    /// (e.g. by bandwidth): their bytes sit unused.
    PackagesNotDeducting,
    /// [`Rule::PoolExhausted`] of an HTTPS request pool.
    HttpsPoolExhausted,
    /// [`Rule::PoolLow`] of an HTTPS request pool.
    HttpsPoolLow,
    /// [`Rule::DepletionForecast`] of an HTTPS request pool.
    HttpsDepletionForecast,
    /// [`Rule::PackageExpiringSoon`] of an HTTPS request package.
    HttpsPackageExpiringSoon,
    /// A traffic package bought in the last 15 days, still refundable, that
    /// even the early bound leaves with much unused at expiry.
    PackageRefundable,
    /// [`Rule::PackagesNotDeducting`] of HTTPS request packages.
    HttpsPackagesNotDeducting,
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
            Rule::PackagesNotDeducting => "PackagesNotDeducting",
            Rule::HttpsPoolExhausted => "HttpsPoolExhausted",
            Rule::HttpsPoolLow => "HttpsPoolLow",
            Rule::HttpsDepletionForecast => "HttpsDepletionForecast",
            Rule::HttpsPackageExpiringSoon => "HttpsPackageExpiringSoon",
            Rule::PackageRefundable => "PackageRefundable",
            Rule::HttpsPackagesNotDeducting => "HttpsPackagesNotDeducting",
        }
    }

    /// The rule as it is named for a pool of `resource`: HTTPS request
    /// pools have names of their own, so no query mixes bytes and requests.
    pub fn for_resource(self, resource: Resource) -> Rule {
        match (resource, self) {
            (Resource::HttpsRequests, Rule::PoolExhausted) => Rule::HttpsPoolExhausted,
            (Resource::HttpsRequests, Rule::PoolLow) => Rule::HttpsPoolLow,
            (Resource::HttpsRequests, Rule::DepletionForecast) => Rule::HttpsDepletionForecast,
            (Resource::HttpsRequests, Rule::PackageExpiringSoon) => Rule::HttpsPackageExpiringSoon,
            (Resource::HttpsRequests, Rule::PackagesNotDeducting) => Rule::HttpsPackagesNotDeducting,
            (_, rule) => rule,
        }
    }

    /// Every rule that fires for a pool, under both resources' names.
    pub const POOL_RULES: [Rule; 11] = [
        Rule::PoolExhausted,
        Rule::PoolLow,
        Rule::DepletionForecast,
        Rule::PackageExpiringSoon,
        Rule::PackageRefundable,
        Rule::PackagesNotDeducting,
        Rule::HttpsPoolExhausted,
        Rule::HttpsPoolLow,
        Rule::HttpsDepletionForecast,
        Rule::HttpsPackageExpiringSoon,
        Rule::HttpsPackagesNotDeducting,
    ];

    /// Whether it is about ordering, which buys for the mainland traffic
    /// pool (OrderPackage buys nothing else).
    pub fn is_order(self) -> bool {
        matches!(
            self,
            Rule::OrderNotFulfilled
                | Rule::OrderOutcomeUnknown
                | Rule::OrderLedgerUnavailable
                | Rule::OrderFailed
                | Rule::OrderCapReached
                | Rule::OrderDryRun
        )
    }

    /// The rule of an alert name, if it is one.
    pub fn from_name(name: &str) -> Option<Rule> {
        Self::POOL_RULES
            .into_iter()
            .chain([
                Rule::OrderNotFulfilled,
                Rule::OrderOutcomeUnknown,
                Rule::OrderLedgerUnavailable,
                Rule::OrderFailed,
                Rule::OrderCapReached,
                Rule::OrderDryRun,
            ])
            .find(|r| r.name() == name)
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

/// One rule firing for one account (and pool and package, where it applies).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Finding {
    /// Which rule.
    pub rule: Rule,
    /// How urgent.
    pub severity: Severity,
    /// The pool concerned, for pool rules; `None` for the account's own
    /// (ordering, polling).
    pub pool: Option<PoolKey>,
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
    /// Bytes left now.
    pub remaining_bytes: u64,
    /// Bytes the forecast leaves in it when it expires: what will be lost.
    pub unused_bytes: u64,
    /// Bytes left in it even at the early bound's higher demand.
    pub surely_unused_bytes: u64,
    /// When it expires.
    pub expires_at: DateTime<Utc>,
    /// Whether Tencent renews it when it expires.
    pub renews_at_expiry: bool,
    /// Until when Tencent would refund it, when it says it would.
    pub refundable_until: Option<DateTime<Utc>>,
}

/// How long after purchase Tencent refunds an unused package (15天无理由退还).
pub const REFUND_WINDOW: TimeDelta = TimeDelta::days(15);

/// What the rules look at for one pool.
pub struct RuleInput<'a> {
    /// Which pool.
    pub pool: PoolKey,
    /// How its area is billed, when known: a pay type its packages do not
    /// deduct under fires PackagesNotDeducting.
    pub pay_type: Option<&'a PayType>,
    /// Totals over usable packages.
    pub totals: PoolTotals,
    /// The forecast, if one could be made.
    pub projection: Option<&'a Projection>,
    /// Whether `DepletionForecast` is pending or firing already: it then
    /// holds until the forecast moves clearly out of range, so a forecast
    /// that wobbles around the threshold does not flap.
    pub depletion_active: bool,
    /// Usable packages with bytes left.
    pub packages: Vec<ExpiringPackage<'a>>,
    /// Ids of packages that Tencent renews when used up.
    pub renewing: Vec<&'a str>,
    /// Packages, usable or not started yet, that Tencent says it would
    /// refund.
    pub refundable: Vec<ExpiringPackage<'a>>,
}

fn until(now: DateTime<Utc>, then: DateTime<Utc>) -> std::time::Duration {
    (then - now).to_std().unwrap_or_default()
}

fn within(now: DateTime<Utc>, then: DateTime<Utc>, limit: Option<TimeDelta>) -> bool {
    limit.is_some_and(|limit| then - now < limit)
}

/// How far past `depletion_within` an active DepletionForecast may move
/// before it resolves: 1.5 times, as a fraction so the span stays exact.
const DEPLETION_HYSTERESIS_NUM: i32 = 3;
const DEPLETION_HYSTERESIS_DEN: i32 = 2;
/// The same, while the forecast has only the recent rate to go on.
const COLD_START_HYSTERESIS: i32 = 5;

/// How far behind real traffic the API's `BytesUsed` may be, in words.
fn lag_text(cycle: Option<BillingCycle>) -> &'static str {
    match cycle {
        Some(BillingCycle::Day) => "the API deducts a day's traffic the next day",
        Some(BillingCycle::Month) => "the API deducts a month's traffic at its end",
        _ => "the API deducts traffic up to 4 h after it flows",
    }
}

/// Every finding for one pool at `now`.
pub fn evaluate(input: &RuleInput, t: &Thresholds, now: DateTime<Utc>) -> Vec<Finding> {
    let mut findings = Vec::new();
    let totals = input.totals;
    let resource = input.pool.resource;
    let amount = |n: u64| format_amount_human(n, resource);
    let left = amount(totals.remaining_bytes);
    let finding = |rule: Rule, severity, package_id, summary| Finding {
        rule: rule.for_resource(resource),
        severity,
        pool: Some(input.pool),
        package_id,
        summary,
    };
    let (what, billed) = match resource {
        Resource::Traffic => ("traffic package", "CDN traffic"),
        Resource::HttpsRequests => ("HTTPS request package", "HTTPS requests"),
    };
    let lag = lag_text(input.pay_type.and_then(|p| p.billing_cycle));
    if let Some(pay) = input.pay_type.filter(|p| !p.deducts())
        && totals.remaining_bytes > 0
    {
        let needs = match resource {
            Resource::Traffic => "traffic billing (flux)",
            Resource::HttpsRequests => "HTTPS billed by request",
        };
        findings.push(finding(
            Rule::PackagesNotDeducting,
            Severity::Warning,
            None,
            format!(
                "the {} area is billed by {}, and its packages deduct only under {needs}: {left} sit unused in {} package(s) while {billed} is billed otherwise",
                pay.area.name(),
                pay.pay_type,
                totals.usable_packages
            ),
        ));
    }
    let renews = (!input.renewing.is_empty()).then(|| {
        format!(
            "package {} renews itself when used up (ExtensionMode 2 or 3): Tencent then buys a new one, billed as a package, not pay-as-you-go",
            input.renewing.join(", ")
        )
    });
    if totals.remaining_bytes == 0 {
        let summary = if totals.usable_packages == 0 {
            format!("no usable {what}: {billed} is billed pay-as-you-go; {lag}, so it may have been for a while")
        } else {
            format!(
                "all {} usable package(s) are used up: {billed} is billed pay-as-you-go; {lag}, so it may have been for a while",
                totals.usable_packages
            )
        };
        // A renewal on its way is a purchase, not a fall-back to
        // pay-as-you-go: worth knowing, not an emergency.
        let (severity, summary) = match &renews {
            Some(r) => (Severity::Warning, format!("the pool is used up; {r}")),
            None => (Severity::Critical, summary),
        };
        findings.push(finding(Rule::PoolExhausted, severity, None, summary));
    }
    let ratio = totals.remaining_ratio().unwrap_or(0.0);
    let low_bytes = t.remaining_bytes_below.filter(|below| totals.remaining_bytes < *below);
    let low_ratio = t.remaining_ratio_below.filter(|below| ratio < *below);
    if low_bytes.is_some() || low_ratio.is_some() {
        let why = match (low_bytes, low_ratio) {
            (Some(below), _) => format!("below {}", amount(below)),
            (None, below) => format!("below {:.0}%", below.unwrap_or(0.0) * 100.0),
        };
        findings.push(finding(
            Rule::PoolLow,
            Severity::Warning,
            None,
            format!(
                "{left} left ({:.1}% of {}), {why}; {lag}, so fewer may be left",
                ratio * 100.0,
                amount(totals.size_bytes)
            ),
        ));
    }
    if let Some(p) = input.projection {
        // A cold start (no daily profile yet) reads the rate of the last
        // polls, which swings with the hour of day (an evening peak can be
        // five times the night): once fired, it resolves only on a run-dry
        // five times as far off (a top-up does that) or once a profile
        // says so.
        let (num, den) = if p.basis == crate::demand::Basis::RecentRate {
            (COLD_START_HYSTERESIS, 1)
        } else {
            (DEPLETION_HYSTERESIS_NUM, DEPLETION_HYSTERESIS_DEN)
        };
        let limit = if input.depletion_active {
            t.depletion_within
                .map(|d| d.checked_mul(num).map_or(TimeDelta::MAX, |d| d / den))
        } else {
            t.depletion_within
        };
        // The early bound decides: warning late is the costly mistake. A
        // pool kept alive only by renewals is said to be, not hidden.
        let dry = p
            .depletion_early_at
            .or(p.depletion_at)
            .or(p.depletion_without_renewal_at);
        if let Some(dry) = dry
            && within(now, dry, limit)
        {
            let mut summary = match p.depletion_at {
                Some(central) => format!(
                    "forecast to run dry in {} ({} UTC), {} at the earliest",
                    format_span(until(now, central)),
                    central.format("%Y-%m-%d %H:%M"),
                    format_span(until(now, dry))
                ),
                None => format!(
                    "forecast to be used up in {} ({} UTC)",
                    format_span(until(now, dry)),
                    dry.format("%Y-%m-%d %H:%M")
                ),
            };
            summary.push_str(&format!(
                "; expected demand now {}/s ({})",
                amount(p.expected_rate.round() as u64),
                p.basis_text
            ));
            if let Some(surge) = p.surge {
                summary.push_str(&format!("; traffic runs {surge:.1}x its usual level"));
            }
            if let Some(r) = &renews {
                summary.push_str(&format!("; {r}"));
            }
            findings.push(finding(Rule::DepletionForecast, Severity::Warning, None, summary));
        }
    }
    // Advising a refund needs a forecast that has seen whole days: from the
    // first polls of a new daemon every fresh package would look unneeded.
    let day_profile = input
        .projection
        .is_some_and(|p| matches!(p.basis, Basis::HourOfDay | Basis::HourOfWeek));
    for p in input
        .refundable
        .iter()
        .filter(|_| resource == Resource::Traffic && day_profile)
    {
        // Refunding is worth saying only for bytes lost even at the early
        // bound: a package that the demand may yet need is kept.
        if let Some(until) = p.refundable_until.filter(|u| *u > now)
            && p.surely_unused_bytes > t.expiring_unused_above
        {
            findings.push(finding(
                Rule::PackageRefundable,
                Severity::Warning,
                Some(p.id.to_string()),
                format!(
                    "package {} ({}) can be refunded until {} UTC (in {}): even at the early bound {} of it expire unused ({} at the central forecast, {} left now)",
                    p.id,
                    p.title,
                    until.format("%Y-%m-%d %H:%M"),
                    format_span(self::until(now, until)),
                    amount(p.surely_unused_bytes),
                    amount(p.unused_bytes),
                    amount(p.remaining_bytes)
                ),
            ));
        }
    }
    for p in &input.packages {
        // Warned only when even the higher demand of the early bound leaves
        // bytes to lose: a warning about bytes that will be used anyway is
        // noise.
        if p.surely_unused_bytes > t.expiring_unused_above && within(now, p.expires_at, t.expires_within) {
            let renewal = if p.renews_at_expiry {
                "; it renews at expiry, but the bytes left in it do not carry over"
            } else {
                ""
            };
            findings.push(finding(
                Rule::PackageExpiringSoon,
                Severity::Warning,
                Some(p.id.to_string()),
                format!(
                    "package {} ({}) expires in {} ({} UTC) with {} forecast to be left unused and lost ({} left now){renewal}",
                    p.id,
                    p.title,
                    format_span(until(now, p.expires_at)),
                    p.expires_at.format("%Y-%m-%d %H:%M"),
                    amount(p.unused_bytes),
                    amount(p.remaining_bytes)
                ),
            ));
        }
    }
    findings
}
