//! The simulated account: packages that drain over time, orders that become
//! packages once paid, faults queued by tests, and a log of requests.

use chrono::{DateTime, FixedOffset, TimeDelta, Utc};
use std::collections::{HashMap, VecDeque};
use std::time::Duration;

/// One package in the simulated account.
#[derive(Clone, Debug, PartialEq)]
pub struct SimPackage {
    /// The package id.
    pub id: u64,
    /// Its display name.
    pub title: String,
    /// Total bytes.
    pub size_bytes: u64,
    /// Bytes used so far (fractional while draining).
    pub used_bytes: f64,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// Start of its window.
    pub enabled_at: DateTime<Utc>,
    /// End of its window.
    pub expires_at: DateTime<Utc>,
    /// The `is_enable` flag.
    pub enabled: bool,
    /// API 3.0 `AutoExtension`.
    pub auto_extension: bool,
    /// API 3.0 `Status` to report instead of the one worked out, e.g. an
    /// undocumented word.
    pub status_override: Option<String>,
}

impl SimPackage {
    /// A package of `size_bytes` with `used_bytes` used, valid from `enabled_at` for `valid_for`.
    pub fn new(id: u64, size_bytes: u64, used_bytes: u64, enabled_at: DateTime<Utc>, valid_for: Duration) -> Self {
        SimPackage {
            id,
            title: cdnquota_core::units::format_size_exact(size_bytes),
            size_bytes,
            used_bytes: used_bytes as f64,
            created_at: enabled_at,
            enabled_at,
            expires_at: enabled_at + TimeDelta::from_std(valid_for).unwrap_or(TimeDelta::MAX),
            enabled: true,
            auto_extension: false,
            status_override: None,
        }
    }

    /// The API 3.0 `Status` word at `now`.
    pub fn v3_status(&self, now: DateTime<Utc>) -> String {
        if let Some(status) = &self.status_override {
            return status.clone();
        }
        if now >= self.expires_at {
            "expired"
        } else if !self.enabled || now < self.enabled_at {
            "disabled"
        } else if self.used_bytes >= self.size_bytes as f64 {
            "exhausted"
        } else {
            "enabled"
        }
        .to_string()
    }

    /// Whether traffic is deducted from it at `now`.
    pub fn usable(&self, now: DateTime<Utc>) -> bool {
        self.enabled && self.enabled_at <= now && now < self.expires_at
    }
}

/// A failure the next request suffers, for tests.
#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// Answer with this HTTP status and a short HTML body.
    HttpStatus(u16),
    /// Answer HTTP 200 with this API error code.
    ApiCode(i64),
    /// Answer with the JSON cut in half.
    TruncatedJson,
    /// Wait this long, then answer normally.
    Delay(Duration),
    /// Hold requests of this action (and only those) this long, then answer.
    HoldAction(String, Duration),
    /// Answer API v2 with this error code and message text.
    ApiMessage(i64, String),
    /// Answer the next package list (v2) as if the account had no packages.
    EmptyPackageList,
    /// Answer the next package list with every package's usage read as 0.
    UsageReadsZero,
}

/// An order placed through OrderPackage.
#[derive(Clone, Debug, PartialEq)]
pub struct SimOrder {
    /// The order id returned.
    pub id: String,
    /// Package size in GB.
    pub unit_gb: u32,
    /// How many packages.
    pub number: u32,
    /// When it was placed.
    pub placed_at: DateTime<Utc>,
    /// Whether it has been paid (its packages then exist).
    pub paid: bool,
}

/// One request the simulator received.
#[derive(Clone, Debug, PartialEq)]
pub struct SimRequest {
    /// The `Action` parameter (v2) or `X-TC-Action` header (v3), or empty.
    pub action: String,
    /// GET or POST.
    pub http_method: String,
    /// The `SignatureMethod` parameter (v2), if sent.
    pub signature_method: Option<String>,
    /// What was answered: "0" for success, the API error code, or the HTTP
    /// status of an injected fault.
    pub answered: String,
}

impl SimRequest {
    /// The log entry of `request`, with nothing answered yet.
    pub(crate) fn new(action: String, request: &crate::http::Request, signature_method: Option<String>) -> SimRequest {
        SimRequest {
            action,
            http_method: request.method.clone(),
            signature_method,
            answered: String::new(),
        }
    }
}

/// Everything the simulator knows.
#[derive(Clone, Debug)]
pub struct SimState {
    /// SecretId to SecretKey.
    pub credentials: HashMap<String, String>,
    /// The account's packages.
    pub packages: Vec<SimPackage>,
    /// Traffic, deducted from the earliest-expiring usable package first.
    pub drain_bytes_per_second: f64,
    /// When draining was last applied.
    pub drained_until: DateTime<Utc>,
    /// Faults for the next requests, in order.
    pub faults: VecDeque<Fault>,
    /// Sizes OrderPackage accepts, in GB (GetPackagePrice's list).
    pub on_sale_gb: Vec<u32>,
    /// Orders placed.
    pub orders: Vec<SimOrder>,
    /// Orders are paid automatically this long after being placed.
    pub auto_pay_after: Option<Duration>,
    /// Once the pool is empty for this long, a package of this size appears
    /// (the demo's "operator tops up").
    pub top_up_after_empty: Option<(Duration, u64)>,
    /// When the pool was first seen empty.
    pub empty_since: Option<DateTime<Utc>>,
    /// The zone the API writes its times in.
    pub api_offset: FixedOffset,
    /// Largest allowed distance between Timestamp and the server's clock.
    pub timestamp_window: Duration,
    /// (SecretId, Nonce) pairs seen, with their Timestamp.
    pub seen_nonces: HashMap<(String, u64), i64>,
    /// Every request answered.
    pub requests: Vec<SimRequest>,
    /// The action of every request as it arrived, before any delay: a test
    /// can see a request that is still being held.
    pub arrivals: Vec<String>,
    /// API 3.0 misbehaviour: `TotalCount` claims this many packages more
    /// than there are.
    pub v3_overstate_total: u64,
    /// API 3.0 misbehaviour: `Offset` is ignored, every page is the first.
    pub v3_ignore_offset: bool,
    /// API 3.0 misbehaviour: every page asked for adds this many packages
    /// at the end of the list (a list that grows as it is read).
    pub v3_grow_per_page: usize,
    /// API 3.0: a page holds at most this many packages whatever `Limit`
    /// asks (0: no cap).
    pub v3_page_cap: usize,
    /// Traffic with a daily cycle; when set it replaces the flat
    /// `drain_bytes_per_second`, and `DescribeBillingData` reports it.
    pub traffic: Option<crate::traffic::TrafficShape>,
    /// When set, `DescribeBillingData` is refused with this error code
    /// (e.g. `AuthFailure.UnauthorizedOperation`).
    pub billing_refused: Option<String>,
    next_id: u64,
}

impl SimState {
    /// An account with one key, no packages and no traffic.
    pub fn new(secret_id: &str, secret_key: &str, now: DateTime<Utc>) -> Self {
        SimState {
            credentials: HashMap::from([(secret_id.to_string(), secret_key.to_string())]),
            packages: Vec::new(),
            drain_bytes_per_second: 0.0,
            drained_until: now,
            faults: VecDeque::new(),
            on_sale_gb: vec![50, 100, 500, 1000, 5000, 10_000, 50_000],
            orders: Vec::new(),
            auto_pay_after: None,
            top_up_after_empty: None,
            empty_since: None,
            api_offset: crate::wire::CHINA_STANDARD_TIME,
            v3_overstate_total: 0,
            v3_ignore_offset: false,
            v3_grow_per_page: 0,
            v3_page_cap: 0,
            traffic: None,
            billing_refused: None,
            timestamp_window: Duration::from_secs(300),
            seen_nonces: HashMap::new(),
            requests: Vec::new(),
            arrivals: Vec::new(),
            next_id: 1_000_000,
        }
    }

    /// A fresh package id.
    pub fn next_package_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// How many requests of `action` were answered.
    pub fn count(&self, action: &str) -> usize {
        self.requests.iter().filter(|r| r.action == action).count()
    }

    /// How many requests of `action` arrived, answered or not yet.
    pub fn arrived(&self, action: &str) -> usize {
        self.arrivals.iter().filter(|a| *a == action).count()
    }

    /// Applies traffic and scheduled events up to `now`.
    pub fn advance(&mut self, now: DateTime<Utc>) {
        let mut demand = self.demand_between(self.drained_until, now);
        self.drained_until = self.drained_until.max(now);
        let mut order: Vec<usize> = (0..self.packages.len())
            .filter(|&i| self.packages[i].usable(now))
            .collect();
        order.sort_by_key(|&i| self.packages[i].expires_at);
        for i in order {
            let p = &mut self.packages[i];
            let take = demand.min((p.size_bytes as f64 - p.used_bytes).max(0.0));
            p.used_bytes += take;
            demand -= take;
        }
        // What no package covers is billed pay-as-you-go: not tracked here.
        if let Some(after) = self.auto_pay_after {
            let due: Vec<String> = self
                .orders
                .iter()
                .filter(|o| !o.paid && now - o.placed_at >= TimeDelta::from_std(after).unwrap_or(TimeDelta::MAX))
                .map(|o| o.id.clone())
                .collect();
            for id in due {
                self.mark_paid(&id, now);
            }
        }
        self.apply_top_up(now);
        let window = TimeDelta::from_std(self.timestamp_window)
            .unwrap_or(TimeDelta::MAX)
            .num_seconds();
        self.seen_nonces.retain(|_, ts| now.timestamp() - *ts <= 2 * window);
    }

    /// The account's traffic between two times, in bytes, whether packages
    /// cover it or not.
    pub fn demand_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
        if to <= from {
            return 0.0;
        }
        match &self.traffic {
            Some(shape) => shape.bytes_between(from.timestamp(), to.timestamp()),
            None => (to - from).as_seconds_f64() * self.drain_bytes_per_second,
        }
    }

    fn apply_top_up(&mut self, now: DateTime<Utc>) {
        let Some((after, size)) = self.top_up_after_empty else {
            return;
        };
        let left: f64 = self
            .packages
            .iter()
            .filter(|p| p.usable(now))
            .map(|p| (p.size_bytes as f64 - p.used_bytes).max(0.0))
            .sum();
        if left >= 1.0 {
            self.empty_since = None;
            return;
        }
        let since = *self.empty_since.get_or_insert(now);
        if now - since >= TimeDelta::from_std(after).unwrap_or(TimeDelta::MAX) {
            let id = self.next_package_id();
            self.packages
                .push(SimPackage::new(id, size, 0, now, Duration::from_secs(365 * 86_400)));
            self.empty_since = None;
        }
    }

    /// Places an order; the caller has checked `unit_gb` and `number`.
    pub fn place_order(&mut self, unit_gb: u32, number: u32, now: DateTime<Utc>) -> String {
        let id = format!("{}{:06}", now.format("%Y%m%d"), self.orders.len() + 1);
        self.orders.push(SimOrder {
            id: id.clone(),
            unit_gb,
            number,
            placed_at: now,
            paid: false,
        });
        id
    }

    /// Pays an order: its packages appear, created now. Returns false when
    /// there is no such unpaid order.
    pub fn mark_paid(&mut self, order_id: &str, now: DateTime<Utc>) -> bool {
        let Some(order) = self.orders.iter_mut().find(|o| o.id == order_id && !o.paid) else {
            return false;
        };
        order.paid = true;
        let (unit_gb, number) = (order.unit_gb, order.number);
        for _ in 0..number {
            let id = self.next_package_id();
            self.packages.push(SimPackage::new(
                id,
                u64::from(unit_gb) * 1_000_000_000,
                0,
                now,
                Duration::from_secs(365 * 86_400),
            ));
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cdnquota_core::testing::at;

    #[test]
    fn drains_earliest_expiry_first_and_spills_over() {
        let t0 = at("2026-06-01 00:00:00");
        let mut s = SimState::new("id", "key", t0);
        s.packages
            .push(SimPackage::new(1, 1000, 0, t0, Duration::from_secs(86_400 * 30)));
        s.packages
            .push(SimPackage::new(2, 100, 0, t0, Duration::from_secs(86_400)));
        s.drain_bytes_per_second = 10.0;
        s.advance(t0 + TimeDelta::seconds(15));
        assert_eq!(s.packages[1].used_bytes, 100.0);
        assert_eq!(s.packages[0].used_bytes, 50.0);
    }

    #[test]
    fn paid_orders_become_packages() {
        let t0 = at("2026-06-01 00:00:00");
        let mut s = SimState::new("id", "key", t0);
        let id = s.place_order(100, 2, t0);
        assert!(s.packages.is_empty());
        assert!(s.mark_paid(&id, t0));
        assert!(!s.mark_paid(&id, t0));
        assert_eq!(s.packages.len(), 2);
        assert_eq!(s.packages[0].size_bytes, 100_000_000_000);
    }

    #[test]
    fn top_up_after_the_pool_stays_empty() {
        let t0 = at("2026-06-01 00:00:00");
        let mut s = SimState::new("id", "key", t0);
        s.top_up_after_empty = Some((Duration::from_secs(30), 500));
        s.advance(t0);
        assert!(s.packages.is_empty());
        s.advance(t0 + TimeDelta::seconds(31));
        assert_eq!(s.packages.len(), 1);
    }
}
