//! The simulated account: packages that drain over time, each only by its
//! own billing region's traffic (or HTTPS requests) and only once that
//! traffic is settled, orders that become packages once paid, faults queued
//! by tests, and a log of requests.

use crate::settle::{Settlement, Usage};
use crate::traffic::Flow;
use chrono::{DateTime, FixedOffset, TimeDelta, Utc};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Duration;

/// The billing regions, by `Region` number: 0 mainland, 1–3 Asia Pacific
/// 1–3, 4 Middle East, 5 North America, 6 Europe, 7 South America, 8 Africa.
pub const REGIONS: u8 = 9;

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
    /// Its billing region (`Region`, 0 to 8); only that region's traffic
    /// deducts from it.
    pub region: u8,
    /// An HTTPS request package: its size and use are requests, it is
    /// listed by DescribeHttpsPackages, and only HTTPS requests deduct it.
    pub https: bool,
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
            region: 0,
            https: false,
        }
    }

    /// An HTTPS request package of `requests`, `used` of them used.
    pub fn https_requests(id: u64, requests: u64, used: u64, enabled_at: DateTime<Utc>, valid_for: Duration) -> Self {
        SimPackage {
            title: format!("{requests} requests"),
            https: true,
            ..SimPackage::new(id, requests, used, enabled_at, valid_for)
        }
    }

    /// The same package in billing region `region` (0 to 8).
    pub fn in_region(self, region: u8) -> Self {
        SimPackage { region, ..self }
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

/// What DescribePayType answers for one (`Area`, `Type`).
#[derive(Clone, Debug, PartialEq)]
pub struct SimPayType {
    /// `PayType`: flux, bandwidth, request, flux_sep or bandwidth_sep.
    /// Packages deduct only under flux (traffic) or request (HTTPS).
    pub pay_type: String,
    /// `BillingCycle`: hour, day or month; `None` leaves it out.
    pub billing_cycle: Option<String>,
}

impl SimPayType {
    /// `pay_type`, settled every `cycle`.
    pub fn new(pay_type: &str, cycle: &str) -> Self {
        SimPayType {
            pay_type: pay_type.to_string(),
            billing_cycle: Some(cycle.to_string()),
        }
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
    /// Mainland traffic, deducted from the mainland package nearest its
    /// expiry first (then the one started first).
    pub drain_bytes_per_second: f64,
    /// Traffic of other billing regions (`Region` 1 to 8; an entry for 0
    /// adds to the mainland's), in bytes per second: each deducts only from
    /// its own region's packages.
    pub regional: BTreeMap<u8, Flow>,
    /// Mainland HTTPS requests per second, deducted from HTTPS packages.
    pub https_requests: Option<Flow>,
    /// Overseas HTTPS requests per second, deducted from the same HTTPS
    /// packages (they are global) but reported under `Area` overseas.
    pub overseas_https_requests: Option<Flow>,
    /// When traffic is deducted; by default hourly, 3 h after the hour.
    pub settlement: Settlement,
    /// Traffic that flowed but is not deducted yet, by the end (Unix
    /// seconds) of the period it is settled in.
    pub unsettled: BTreeMap<i64, Usage>,
    /// When traffic was last counted.
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
    /// The region (`Region` number) whose pool is topped up: 0, mainland,
    /// unless set.
    pub top_up_region: u8,
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
    /// DescribePayType's answer per (`Area`, `Type`), e.g. ("overseas",
    /// "flux"); by default flux billing for mainland, overseas and global
    /// traffic and request billing for HTTPS, all hourly. A pair not here is
    /// refused as an invalid parameter.
    pub pay_types: BTreeMap<(String, String), SimPayType>,
    /// When set, `DescribePayType` is refused with this error code.
    pub pay_type_refused: Option<String>,
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
            top_up_region: 0,
            empty_since: None,
            api_offset: crate::wire::CHINA_STANDARD_TIME,
            v3_overstate_total: 0,
            v3_ignore_offset: false,
            v3_grow_per_page: 0,
            v3_page_cap: 0,
            traffic: None,
            billing_refused: None,
            regional: BTreeMap::new(),
            https_requests: None,
            overseas_https_requests: None,
            settlement: Settlement::default(),
            unsettled: BTreeMap::new(),
            pay_types: default_pay_types(),
            pay_type_refused: None,
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
        self.count_traffic(now);
        self.settle_due(now);
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

    /// Counts the traffic since it was last counted: deducted at once when
    /// settlement is immediate, otherwise kept per settlement period.
    fn count_traffic(&mut self, now: DateTime<Utc>) {
        // Counted to the instant, not the second: a second's traffic at a
        // fast drain is a step a poll a second later would see as a rate.
        let (from, to) = (self.drained_until, now);
        self.drained_until = self.drained_until.max(now);
        let mut t = from;
        while t < to {
            let end = self
                .settlement
                .period_end(t.timestamp())
                .and_then(|end| Some((end, DateTime::from_timestamp(end, 0)?)));
            match end {
                None => {
                    let usage = self.usage_between(t, to);
                    self.deduct(&usage, now);
                    t = to;
                }
                Some((end, end_at)) => {
                    let until = end_at.min(to);
                    let usage = self.usage_between(t, until);
                    // Quiet periods leave nothing to settle.
                    if usage != Usage::default() {
                        self.unsettled.entry(end).or_default().add(&usage);
                    }
                    t = until;
                }
            }
        }
    }

    /// Deducts every period whose settlement is due, from the packages
    /// usable in the period's last second.
    fn settle_due(&mut self, now: DateTime<Utc>) {
        while let Some((&end, _)) = self.unsettled.first_key_value() {
            if !self.settlement.is_due(end, now) {
                break;
            }
            let usage = self.unsettled.remove(&end).unwrap_or_default();
            let last_second = DateTime::from_timestamp(end - 1, 0).unwrap_or(now);
            self.deduct(&usage, last_second);
        }
    }

    /// What flowed between two times, per region and HTTPS.
    pub fn usage_between(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> Usage {
        let mut usage = Usage::default();
        if end <= start {
            return usage;
        }
        for (region, bytes) in usage.traffic.iter_mut().enumerate() {
            *bytes = self.region_demand_between(region as u8, start, end);
        }
        usage.https = self.https_between(false, start, end) + self.https_between(true, start, end);
        usage
    }

    /// Deducts `usage` from the packages usable at `at`, each region's
    /// traffic from its own packages, nearest expiry first, then the
    /// earlier start. Under a pay type that does not deduct (bandwidth
    /// billing), the packages are left alone. What no package covers is
    /// billed pay-as-you-go: not tracked here.
    fn deduct(&mut self, usage: &Usage, at: DateTime<Utc>) {
        for region in 0..REGIONS {
            let area = if region == 0 { "mainland" } else { "overseas" };
            if self.deducts(area, "flux") {
                self.take(usage.traffic[usize::from(region)], at, |p| {
                    !p.https && p.region == region
                });
            }
        }
        if self.deducts("global", "https") {
            self.take(usage.https, at, |p| p.https);
        }
    }

    fn take(&mut self, mut demand: f64, at: DateTime<Utc>, pool: impl Fn(&SimPackage) -> bool) {
        if demand <= 0.0 {
            return;
        }
        let mut order: Vec<usize> = (0..self.packages.len())
            .filter(|&i| pool(&self.packages[i]) && self.packages[i].usable(at))
            .collect();
        order.sort_by_key(|&i| {
            let p = &self.packages[i];
            (p.expires_at, p.enabled_at, p.id)
        });
        for i in order {
            let p = &mut self.packages[i];
            let take = demand.min((p.size_bytes as f64 - p.used_bytes).max(0.0));
            p.used_bytes += take;
            demand -= take;
        }
    }

    /// Whether packages of `kind` (flux or https) deduct in `area`, by the
    /// pay type DescribePayType reports.
    fn deducts(&self, area: &str, kind: &str) -> bool {
        let wanted = if kind == "https" { "request" } else { "flux" };
        self.pay_types
            .get(&(area.to_string(), kind.to_string()))
            .is_none_or(|p| p.pay_type == wanted)
    }

    /// Traffic of billing region `region` between two times, in bytes.
    pub fn region_demand_between(&self, region: u8, from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
        let mainland = if region == 0 {
            self.demand_between(from, to)
        } else {
            0.0
        };
        let flow = self
            .regional
            .get(&region)
            .map_or(0.0, |f| f.between(from.timestamp(), to.timestamp()));
        mainland + flow
    }

    /// HTTPS requests between two times, overseas or mainland.
    pub fn https_between(&self, overseas: bool, from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
        let flow = if overseas {
            &self.overseas_https_requests
        } else {
            &self.https_requests
        };
        flow.as_ref()
            .map_or(0.0, |f| f.between(from.timestamp(), to.timestamp()))
    }

    /// The account's mainland traffic between two times, in bytes, whether
    /// packages cover it or not (without `regional[0]`).
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
        // The top-up is a package of one region: only that pool's
        // emptiness counts.
        let region = self.top_up_region;
        let left: f64 = self
            .packages
            .iter()
            .filter(|p| !p.https && p.region == region && p.usable(now))
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
                .push(SimPackage::new(id, size, 0, now, Duration::from_secs(365 * 86_400)).in_region(region));
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

/// Flux billing for traffic and request billing for HTTPS, settled hourly.
fn default_pay_types() -> BTreeMap<(String, String), SimPayType> {
    [
        ("mainland", "flux", "flux"),
        ("overseas", "flux", "flux"),
        ("global", "flux", "flux"),
        ("mainland", "https", "request"),
        ("overseas", "https", "request"),
        ("global", "https", "request"),
    ]
    .into_iter()
    .map(|(area, kind, pay)| ((area.to_string(), kind.to_string()), SimPayType::new(pay, "hour")))
    .collect()
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
        s.settlement = Settlement::IMMEDIATE;
        s.advance(t0 + TimeDelta::seconds(15));
        assert_eq!(s.packages[1].used_bytes, 100.0);
        assert_eq!(s.packages[0].used_bytes, 50.0);
    }

    /// An account with one mainland package of 1 TB, 100 B/s of mainland
    /// traffic, started at `t0`.
    fn hundred_a_second(t0: DateTime<Utc>, settlement: Settlement) -> SimState {
        let mut s = SimState::new("id", "key", t0);
        s.packages.push(SimPackage::new(
            1,
            1_000_000_000_000,
            0,
            t0,
            Duration::from_secs(86_400 * 30),
        ));
        s.drain_bytes_per_second = 100.0;
        s.settlement = settlement;
        s
    }

    #[test]
    fn hourly_traffic_is_deducted_three_hours_after_its_hour() {
        let t0 = at("2026-06-01 10:00:00");
        let mut s = hundred_a_second(t0, Settlement::default());
        // Traffic of 10:00–10:30, read at 10:30, 13:59 and 14:00.
        s.advance(at("2026-06-01 10:30:00"));
        s.drain_bytes_per_second = 0.0;
        s.advance(at("2026-06-01 13:59:59"));
        assert_eq!(s.packages[0].used_bytes, 0.0);
        s.advance(at("2026-06-01 14:00:00"));
        assert_eq!(s.packages[0].used_bytes, 1800.0 * 100.0);
        // Nothing is deducted twice.
        s.advance(at("2026-06-01 20:00:00"));
        assert_eq!(s.packages[0].used_bytes, 1800.0 * 100.0);
        assert!(s.unsettled.is_empty());
    }

    #[test]
    fn daily_traffic_is_deducted_after_china_midnight_and_the_lag() {
        // 10:00 UTC is 18:00 in China; its day ends at 16:00 UTC.
        let t0 = at("2026-06-01 10:00:00");
        let mut s = hundred_a_second(t0, Settlement::daily(Duration::from_secs(2 * 3600)));
        s.advance(at("2026-06-01 17:00:00"));
        assert_eq!(s.packages[0].used_bytes, 0.0);
        s.advance(at("2026-06-01 17:59:59"));
        assert_eq!(s.packages[0].used_bytes, 0.0);
        s.advance(at("2026-06-01 18:00:00"));
        // The China day's six hours to its midnight; the hour after it is
        // the next day's.
        assert_eq!(s.packages[0].used_bytes, 6.0 * 3600.0 * 100.0);
        assert_eq!(
            s.unsettled.values().map(|u| u.traffic[0]).sum::<f64>(),
            2.0 * 3600.0 * 100.0
        );
    }

    #[test]
    fn a_period_deducts_from_the_packages_usable_at_its_end() {
        let t0 = at("2026-06-01 10:00:00");
        let mut s = hundred_a_second(t0, Settlement::default());
        // Bought at 10:30 for the hour's traffic; the first one expires at
        // 10:45, before the hour's traffic is settled.
        s.packages[0].expires_at = at("2026-06-01 10:45:00");
        s.packages.push(SimPackage::new(
            2,
            1_000_000,
            0,
            at("2026-06-01 10:30:00"),
            Duration::from_secs(86_400),
        ));
        s.advance(at("2026-06-01 11:00:00"));
        s.advance(at("2026-06-01 14:00:00"));
        assert_eq!(s.packages[0].used_bytes, 0.0);
        assert_eq!(s.packages[1].used_bytes, 360_000.0);
    }

    #[test]
    fn europe_traffic_never_touches_a_mainland_package() {
        let t0 = at("2026-06-01 00:00:00");
        let mut s = SimState::new("id", "key", t0);
        s.settlement = Settlement::IMMEDIATE;
        let valid = Duration::from_secs(86_400 * 30);
        s.packages.push(SimPackage::new(1, 1_000_000, 0, t0, valid));
        s.packages.push(SimPackage::new(2, 500, 0, t0, valid).in_region(6));
        s.packages
            .push(SimPackage::new(3, 1_000_000, 0, t0, valid).in_region(5));
        s.packages.push(SimPackage::https_requests(4, 1_000_000, 0, t0, valid));
        s.regional.insert(6, Flow::Flat(10.0));
        s.advance(t0 + TimeDelta::seconds(100));
        // Europe's 1000 bytes: 500 from its package, the rest pay-as-you-go.
        let used: Vec<f64> = s.packages.iter().map(|p| p.used_bytes).collect();
        assert_eq!(used, vec![0.0, 500.0, 0.0, 0.0]);
        // HTTPS requests deduct only the HTTPS package, mainland traffic only the mainland one.
        s.https_requests = Some(Flow::Flat(3.0));
        s.drain_bytes_per_second = 1.0;
        s.advance(t0 + TimeDelta::seconds(200));
        let used: Vec<f64> = s.packages.iter().map(|p| p.used_bytes).collect();
        assert_eq!(used, vec![100.0, 500.0, 0.0, 300.0]);
    }

    #[test]
    fn equal_expiry_deducts_the_earlier_start_first() {
        let t0 = at("2026-06-01 00:00:00");
        let mut s = SimState::new("id", "key", t0);
        s.settlement = Settlement::IMMEDIATE;
        let mut late = SimPackage::new(1, 1000, 0, t0 + TimeDelta::hours(1), Duration::from_secs(86_400));
        late.expires_at = t0 + TimeDelta::days(2);
        let mut early = SimPackage::new(2, 1000, 0, t0, Duration::from_secs(86_400));
        early.expires_at = t0 + TimeDelta::days(2);
        s.packages = vec![late, early];
        s.drain_bytes_per_second = 1.0;
        // Counted from when both are usable.
        s.drained_until = t0 + TimeDelta::hours(1);
        s.advance(t0 + TimeDelta::hours(1) + TimeDelta::seconds(500));
        assert_eq!((s.packages[0].used_bytes, s.packages[1].used_bytes), (0.0, 500.0));
    }

    #[test]
    fn bandwidth_billing_deducts_no_package() {
        let t0 = at("2026-06-01 00:00:00");
        let mut s = hundred_a_second(t0, Settlement::IMMEDIATE);
        s.pay_types.insert(
            ("mainland".into(), "flux".into()),
            SimPayType::new("bandwidth", "month"),
        );
        s.advance(t0 + TimeDelta::hours(1));
        assert_eq!(s.packages[0].used_bytes, 0.0);
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
