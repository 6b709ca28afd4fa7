//! The core's own settings: when findings fire, how alerts repeat, and the
//! ordering rules. The config layer parses the file into these; "0 turns it
//! off" is read once, into `None`, so no rule re-checks it.
//!
//! They serialize as the config file writes them (`"200GB"`, `"7d"`, `"0B"`
//! for off), so `cdnquota config` prints what it would read back.

use crate::model::{PoolKey, Region, Resource};
use crate::units::{format_duration_exact, format_size_exact};
use chrono::TimeDelta;
use serde::{Deserialize, Serialize, Serializer};
use std::collections::BTreeMap;

/// How the forecast reads the calendar: `[forecast]`.
#[derive(Clone, Debug, PartialEq)]
pub struct ForecastSettings {
    /// Public holidays and make-up working days.
    pub calendar: crate::calendar::Calendar,
    /// Holiday traffic over what the week would have, until the history
    /// holds enough holiday hours to learn it.
    pub holiday_factor: f64,
}

impl Default for ForecastSettings {
    fn default() -> Self {
        ForecastSettings {
            calendar: crate::calendar::Calendar::china(),
            // No change until a holiday is seen: forecasting ordinary
            // traffic on a quiet holiday warns early, never late.
            holiday_factor: 1.0,
        }
    }
}

/// When the findings fire, for one pool. Amounts are in the pool's unit:
/// bytes for traffic, requests for HTTPS request pools.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Thresholds {
    /// PoolLow when fewer bytes than this are left (`None`: off).
    #[serde(serialize_with = "bytes_or_off")]
    pub remaining_bytes_below: Option<u64>,
    /// PoolLow when less than this fraction of the pool is left (`None`: off).
    #[serde(serialize_with = "ratio_or_off")]
    pub remaining_ratio_below: Option<f64>,
    /// PackageExpiringSoon when a package with bytes left expires this soon
    /// (`None`: off).
    #[serde(serialize_with = "span_or_off")]
    pub expires_within: Option<TimeDelta>,
    /// ... and the forecast leaves more than this many bytes in it unused.
    #[serde(serialize_with = "bytes")]
    pub expiring_unused_above: u64,
    /// DepletionForecast when the pool is forecast to run dry this soon
    /// (`None`: off).
    #[serde(serialize_with = "span_or_off")]
    pub depletion_within: Option<TimeDelta>,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            remaining_bytes_below: Some(200_000_000_000),
            remaining_ratio_below: Some(0.10),
            expires_within: Some(TimeDelta::days(7)),
            // Below 10 GB a loss is too small to act on for an account that
            // buys packages of 100 GB and more, and within the forecast's
            // own error over a package's last days.
            expiring_unused_above: 10_000_000_000,
            depletion_within: Some(TimeDelta::days(3)),
        }
    }
}

impl Thresholds {
    /// The defaults of an HTTPS request pool, in requests: no absolute
    /// floor (package sizes vary by orders of magnitude), 10 % left, and
    /// 1 million requests the least loss worth a warning.
    pub fn https_default() -> Self {
        Thresholds {
            remaining_bytes_below: None,
            expiring_unused_above: 1_000_000,
            ..Thresholds::default()
        }
    }
}

/// The thresholds of every pool of one account: traffic pools take
/// `traffic` unless their region has its own, HTTPS request pools take
/// `https`, whose amounts are requests. A byte floor
/// (`remaining_bytes_below`) is a mainland figure: an overseas pool has one
/// only where its region's thresholds set it, since a floor made for
/// terabytes would call a 50 GB pool low from the first poll.
#[derive(Clone, Debug, PartialEq)]
pub struct PoolThresholds {
    /// Every traffic pool without a region of its own here.
    pub traffic: Thresholds,
    /// Traffic pools with thresholds of their own.
    pub regions: BTreeMap<Region, Thresholds>,
    /// HTTPS request pools.
    pub https: Thresholds,
}

impl Default for PoolThresholds {
    fn default() -> Self {
        PoolThresholds::same_for_traffic(Thresholds::default())
    }
}

impl PoolThresholds {
    /// `traffic` for every traffic pool, and the HTTPS defaults.
    pub fn same_for_traffic(traffic: Thresholds) -> Self {
        PoolThresholds {
            traffic,
            regions: BTreeMap::new(),
            https: Thresholds::https_default(),
        }
    }

    /// The thresholds of `pool`.
    pub fn of(&self, pool: PoolKey) -> Thresholds {
        match pool.resource {
            Resource::HttpsRequests => self.https,
            Resource::Traffic => match self.regions.get(&pool.region) {
                Some(own) => *own,
                None if pool.region == Region::Mainland => self.traffic,
                None => Thresholds {
                    remaining_bytes_below: None,
                    ..self.traffic
                },
            },
        }
    }
}

/// Written as the config reads it: the traffic fields, a table per region
/// of its own, and `https` in requests.
impl Serialize for PoolThresholds {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        #[derive(Serialize)]
        struct Https {
            #[serde(serialize_with = "count_or_off")]
            remaining_requests_below: Option<u64>,
            #[serde(serialize_with = "ratio_or_off")]
            remaining_ratio_below: Option<f64>,
            #[serde(serialize_with = "span_or_off")]
            expires_within: Option<TimeDelta>,
            expiring_unused_requests_above: u64,
            #[serde(serialize_with = "span_or_off")]
            depletion_within: Option<TimeDelta>,
        }
        let t = &self.traffic;
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("remaining_bytes_below", &Bytes(t.remaining_bytes_below.unwrap_or(0)))?;
        map.serialize_entry("remaining_ratio_below", &t.remaining_ratio_below.unwrap_or(0.0))?;
        map.serialize_entry("expires_within", &Span(t.expires_within))?;
        map.serialize_entry("expiring_unused_above", &Bytes(t.expiring_unused_above))?;
        map.serialize_entry("depletion_within", &Span(t.depletion_within))?;
        for (region, t) in &self.regions {
            map.serialize_entry(region.name(), t)?;
        }
        let h = &self.https;
        map.serialize_entry(
            "https",
            &Https {
                remaining_requests_below: h.remaining_bytes_below,
                remaining_ratio_below: h.remaining_ratio_below,
                expires_within: h.expires_within,
                expiring_unused_requests_above: h.expiring_unused_above,
                depletion_within: h.depletion_within,
            },
        )?;
        map.end()
    }
}

struct Bytes(u64);

impl Serialize for Bytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        bytes(&self.0, s)
    }
}

struct Span(Option<TimeDelta>);

impl Serialize for Span {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        span_or_off(&self.0, s)
    }
}

fn count_or_off<S: Serializer>(n: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(n.unwrap_or(0))
}

/// How alerts fire, repeat and resolve.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AlertSettings {
    /// A firing alert is told again this often.
    #[serde(serialize_with = "span")]
    pub repeat_interval: TimeDelta,
    /// Whether a resolved alert is told.
    pub send_resolved: bool,
    /// No successful poll for this long fires PollFailing (zero: at the
    /// first failed poll, and the overdue-poll guard is off).
    #[serde(serialize_with = "span")]
    pub poll_failure_after: TimeDelta,
}

impl Default for AlertSettings {
    fn default() -> Self {
        AlertSettings {
            repeat_interval: TimeDelta::hours(24),
            send_resolved: true,
            poll_failure_after: TimeDelta::minutes(30),
        }
    }
}

/// Whether ordering is off, simulated, or real.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, Default)]
pub enum OrderMode {
    /// Never order (the default).
    #[default]
    #[serde(rename = "off")]
    Off,
    /// Log and mail what would be ordered; never call OrderPackage.
    #[serde(rename = "dry-run")]
    DryRun,
    /// Place orders.
    #[serde(rename = "live")]
    Live,
}

/// One account's ordering rules.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(into = "OrderRulesAsWritten")]
pub struct OrderRules {
    /// Off, dry-run or live.
    pub mode: OrderMode,
    /// Package size in GB; must be a size GetPackagePrice lists.
    pub unit_gb: u32,
    /// Packages per order, 1 to 5.
    pub number: u32,
    /// Order when fewer bytes than this are left (`None`: this trigger is off).
    pub when_remaining_below: Option<u64>,
    /// Order when the pool is forecast to run dry this soon (`None`: off).
    pub when_depletion_within: Option<TimeDelta>,
    /// Orders allowed in any 30 days, automatic and by hand together.
    pub max_orders_per_30d: u32,
    /// An order not fulfilled this long after it was placed fires
    /// OrderNotFulfilled (it must still be paid).
    pub fulfilment_grace: TimeDelta,
    /// Set on a replica that `[order] ordering_replica` does not name: why
    /// ordering is off here whatever `mode` says.
    pub standby: Option<String>,
    /// `unit_gb = "auto"`: the sizes OrderPackage may buy, priced (12
    /// months, mainland), with mainland pay-as-you-go; the order takes the
    /// advised one instead of `unit_gb`.
    pub auto_sizes: Option<crate::pricing::RegionPrices>,
}

/// `unit_gb` as the config writes it: a size, or "auto".
#[derive(Serialize)]
#[serde(untagged)]
enum UnitGbAsWritten {
    Gb(u32),
    Auto(&'static str),
}

/// [`OrderRules`] as the config writes them, so the printed effective
/// config reads back: `unit_gb = "auto"` with `sizes` in GB.
#[derive(Serialize)]
struct OrderRulesAsWritten {
    mode: OrderMode,
    unit_gb: UnitGbAsWritten,
    #[serde(skip_serializing_if = "Option::is_none")]
    sizes: Option<Vec<u64>>,
    number: u32,
    #[serde(serialize_with = "bytes_or_off")]
    when_remaining_below: Option<u64>,
    #[serde(serialize_with = "span_or_off")]
    when_depletion_within: Option<TimeDelta>,
    max_orders_per_30d: u32,
    #[serde(serialize_with = "span")]
    fulfilment_grace: TimeDelta,
    #[serde(skip_serializing_if = "Option::is_none")]
    standby: Option<String>,
}

impl From<OrderRules> for OrderRulesAsWritten {
    fn from(r: OrderRules) -> Self {
        OrderRulesAsWritten {
            mode: r.mode,
            unit_gb: match r.auto_sizes {
                Some(_) => UnitGbAsWritten::Auto("auto"),
                None => UnitGbAsWritten::Gb(r.unit_gb),
            },
            sizes: r
                .auto_sizes
                .map(|p| p.offers.iter().map(|o| o.size_bytes / 1_000_000_000).collect()),
            number: r.number,
            when_remaining_below: r.when_remaining_below,
            when_depletion_within: r.when_depletion_within,
            max_orders_per_30d: r.max_orders_per_30d,
            fulfilment_grace: r.fulfilment_grace,
            standby: r.standby,
        }
    }
}

impl Default for OrderRules {
    fn default() -> Self {
        OrderRules {
            mode: OrderMode::Off,
            unit_gb: 100,
            number: 1,
            when_remaining_below: Some(100_000_000_000),
            when_depletion_within: Some(TimeDelta::days(2)),
            max_orders_per_30d: 2,
            fulfilment_grace: TimeDelta::days(1),
            standby: None,
            auto_sizes: None,
        }
    }
}

/// A config value where zero means off: `None` for zero.
pub fn nonzero_bytes(bytes: u64) -> Option<u64> {
    (bytes > 0).then_some(bytes)
}

/// A config ratio where zero means off: `None` for zero.
pub fn nonzero_ratio(ratio: f64) -> Option<f64> {
    (ratio > 0.0).then_some(ratio)
}

/// A config duration where zero means off: `None` for zero.
pub fn nonzero_span(d: std::time::Duration) -> Option<TimeDelta> {
    (!d.is_zero()).then(|| span_of(d))
}

/// A config duration as the core computes with it; beyond chrono's range
/// it is "forever".
pub fn span_of(d: std::time::Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}

/// A span back in the config's unit, for writing it.
fn std_of(d: TimeDelta) -> std::time::Duration {
    d.to_std().unwrap_or_default()
}

fn bytes<S: Serializer>(b: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_size_exact(*b))
}

fn bytes_or_off<S: Serializer>(b: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
    bytes(&b.unwrap_or(0), s)
}

fn ratio_or_off<S: Serializer>(r: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(r.unwrap_or(0.0))
}

fn span<S: Serializer>(d: &TimeDelta, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_duration_exact(std_of(*d)))
}

fn span_or_off<S: Serializer>(d: &Option<TimeDelta>, s: S) -> Result<S::Ok, S::Error> {
    span(&d.unwrap_or(TimeDelta::zero()), s)
}
