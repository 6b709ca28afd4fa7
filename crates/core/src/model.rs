//! What a source reports about an account: its packages at one moment, and
//! how the account is billed. Every source (API v2, API 3.0, the simulator)
//! produces this same shape.
//!
//! Tencent deducts a package only in its own billing region, and only from
//! the resource it holds, so a [`PoolKey`] (resource, region) names the pool
//! a package belongs to; the pool math never adds two pools together.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// One package as the API reported it, times converted to UTC. Its amounts
/// are in its resource's unit: bytes for traffic, requests for HTTPS request
/// packages.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Package {
    /// The package id, kept as text so every source fits.
    pub id: String,
    /// The package's display name, e.g. "50GB".
    pub title: String,
    /// What the package holds (bytes, or requests for HTTPS packages).
    pub size_bytes: u64,
    /// What is already deducted; may exceed `size_bytes` in API data.
    pub used_bytes: u64,
    /// When the package was created, if reported.
    pub created_at: Option<DateTime<Utc>>,
    /// Start of the validity window.
    pub enabled_at: DateTime<Utc>,
    /// End of the validity window.
    pub expires_at: DateTime<Utc>,
    /// The API's `is_enable` flag.
    pub enabled: bool,
    /// The API's `is_expire` flag.
    pub expired: bool,
    /// API 3.0 only: the package type, e.g. "日常流量包".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// API 3.0 only: the status word as reported, e.g. "enabled".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// API 3.0 only: whether the package renews itself when it runs out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_extension: Option<bool>,
    /// API 3.0 only: where the package applies, e.g. "mainland".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub area: Option<String>,
    /// API 3.0 only: how Tencent renews the package (`ExtensionMode`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extension_mode: Option<ExtensionMode>,
    /// API 3.0 only: whether Tencent would refund it now
    /// (`RefundAvailable`: unused, within 15 days of purchase).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_available: Option<bool>,
    /// The billing region it deducts in (`Region`; v2 lists mainland only).
    pub region: Region,
    /// What it holds: traffic, or HTTPS requests.
    pub resource: Resource,
}

impl Package {
    /// The pool it deducts from.
    pub fn pool(&self) -> PoolKey {
        PoolKey {
            resource: self.resource,
            region: self.region,
        }
    }
}

/// Tencent's billing regions (计费区域); no package deducts outside its own.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Region {
    /// 中国境内, `Region` 0.
    #[default]
    Mainland,
    /// 亚太1区, `Region` 1.
    Ap1,
    /// 亚太2区, `Region` 2.
    Ap2,
    /// 亚太3区, `Region` 3.
    Ap3,
    /// 中东, `Region` 4.
    MiddleEast,
    /// 北美, `Region` 5.
    NorthAmerica,
    /// 欧洲, `Region` 6.
    Europe,
    /// 南美, `Region` 7.
    SouthAmerica,
    /// 非洲, `Region` 8.
    Africa,
    /// HTTPS request packages (`Area` global): one pool for the world.
    Global,
}

impl Region {
    /// The traffic regions, in `Region` code order.
    pub const TRAFFIC: [Region; 9] = [
        Region::Mainland,
        Region::Ap1,
        Region::Ap2,
        Region::Ap3,
        Region::MiddleEast,
        Region::NorthAmerica,
        Region::Europe,
        Region::SouthAmerica,
        Region::Africa,
    ];

    /// The region of API 3.0's `Region` number, if it is one.
    pub fn from_code(code: i64) -> Option<Self> {
        usize::try_from(code).ok().and_then(|i| Self::TRAFFIC.get(i).copied())
    }

    /// The name used in the config, labels and file names, e.g. `europe`.
    pub fn name(self) -> &'static str {
        match self {
            Region::Mainland => "mainland",
            Region::Ap1 => "ap1",
            Region::Ap2 => "ap2",
            Region::Ap3 => "ap3",
            Region::MiddleEast => "middle_east",
            Region::NorthAmerica => "north_america",
            Region::Europe => "europe",
            Region::SouthAmerica => "south_america",
            Region::Africa => "africa",
            Region::Global => "global",
        }
    }

    /// The region of a name as [`Region::name`] writes it.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::TRAFFIC
            .into_iter()
            .chain([Region::Global])
            .find(|r| r.name() == name)
    }

    /// The name for people, e.g. `Europe`.
    pub fn label(self) -> &'static str {
        match self {
            Region::Mainland => "Mainland China",
            Region::Ap1 => "Asia Pacific 1",
            Region::Ap2 => "Asia Pacific 2",
            Region::Ap3 => "Asia Pacific 3",
            Region::MiddleEast => "Middle East",
            Region::NorthAmerica => "North America",
            Region::Europe => "Europe",
            Region::SouthAmerica => "South America",
            Region::Africa => "Africa",
            Region::Global => "Global",
        }
    }

    /// The billing area it is billed in (`DescribePayType`'s and
    /// `DescribeBillingData`'s `Area`).
    pub fn area(self) -> BillingArea {
        match self {
            Region::Mainland => BillingArea::Mainland,
            Region::Global => BillingArea::Global,
            _ => BillingArea::Overseas,
        }
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a package holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resource {
    /// CDN traffic, in bytes (DescribeTrafficPackages, GetPackage).
    #[default]
    Traffic,
    /// HTTPS requests, counted (DescribeHttpsPackages).
    HttpsRequests,
}

impl Resource {
    /// The name used in labels, e.g. `https_requests`.
    pub fn name(self) -> &'static str {
        match self {
            Resource::Traffic => "traffic",
            Resource::HttpsRequests => "https_requests",
        }
    }

    /// The unit its amounts are in, for metric names and perfdata: `bytes`
    /// or `requests`.
    pub fn unit(self) -> &'static str {
        match self {
            Resource::Traffic => "bytes",
            Resource::HttpsRequests => "requests",
        }
    }
}

/// One pool: the packages that deduct together.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PoolKey {
    /// What it holds.
    pub resource: Resource,
    /// Where it deducts.
    pub region: Region,
}

impl PoolKey {
    /// The mainland traffic pool: the only one API v2 lists, and the one
    /// OrderPackage buys for.
    pub const MAINLAND_TRAFFIC: PoolKey = PoolKey {
        resource: Resource::Traffic,
        region: Region::Mainland,
    };

    /// A short name for files and logs: `europe`, or `https_global`.
    pub fn slug(self) -> String {
        match self.resource {
            Resource::Traffic => self.region.name().to_string(),
            Resource::HttpsRequests => format!("https_{}", self.region.name()),
        }
    }

    /// The name for people: `Europe`, or `HTTPS requests (Global)`.
    pub fn label(self) -> String {
        match self.resource {
            Resource::Traffic => self.region.label().to_string(),
            Resource::HttpsRequests => format!("HTTPS requests ({})", self.region.label()),
        }
    }
}

impl fmt::Display for PoolKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.slug())
    }
}

/// The `Area` of DescribePayType and DescribeBillingData.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BillingArea {
    /// 中国境内.
    Mainland,
    /// Everywhere else (the eight overseas regions).
    Overseas,
    /// Both, as HTTPS requests are billed.
    Global,
}

impl BillingArea {
    /// The API's word.
    pub fn name(self) -> &'static str {
        match self {
            BillingArea::Mainland => "mainland",
            BillingArea::Overseas => "overseas",
            BillingArea::Global => "global",
        }
    }
}

/// How often Tencent settles (and so deducts) billed traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BillingCycle {
    /// 按小时结算: deducted 2–4 h after each hour.
    Hour,
    /// 日结: deducted the next day.
    Day,
    /// 月结: deducted for the whole month at once.
    Month,
}

impl BillingCycle {
    /// The cycle of DescribePayType's `BillingCycle` word.
    pub fn from_word(word: &str) -> Option<Self> {
        Some(match word {
            "hour" => BillingCycle::Hour,
            "day" => BillingCycle::Day,
            "month" => BillingCycle::Month,
            _ => return None,
        })
    }

    /// The API's word.
    pub fn name(self) -> &'static str {
        match self {
            BillingCycle::Hour => "hour",
            BillingCycle::Day => "day",
            BillingCycle::Month => "month",
        }
    }
}

/// How one area of the account is billed, as DescribePayType says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayType {
    /// Which area was asked about.
    pub area: BillingArea,
    /// Traffic (`Type` flux) or HTTPS requests (`Type` https).
    pub resource: Resource,
    /// `PayType` as reported: flux, bandwidth, request, flux_sep, ...
    pub pay_type: String,
    /// `BillingCycle`, when reported and known.
    pub billing_cycle: Option<BillingCycle>,
}

impl PayType {
    /// Whether packages of `resource` deduct under this pay type: traffic
    /// packages only under traffic billing (`flux`), HTTPS request packages
    /// only while HTTPS is billed by request.
    pub fn deducts(&self) -> bool {
        match self.resource {
            Resource::Traffic => self.pay_type == "flux",
            Resource::HttpsRequests => self.pay_type == "request",
        }
    }

    /// Whether it is the pay type of `pool`.
    pub fn covers(&self, pool: PoolKey) -> bool {
        self.resource == pool.resource
            && match pool.resource {
                Resource::Traffic => self.area == pool.region.area(),
                // HTTPS requests are asked about once, for the world.
                Resource::HttpsRequests => true,
            }
    }
}

/// How a package renews itself (API 3.0 `ExtensionMode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExtensionMode {
    /// 0: no renewal.
    None,
    /// 1: a new package when this one expires.
    AtExpiry,
    /// 2: a new package when this one is used up.
    WhenUsedUp,
    /// 3: either.
    Either,
}

impl ExtensionMode {
    /// The mode of API 3.0's number, if it is one.
    pub fn from_code(code: i64) -> Option<Self> {
        Some(match code {
            0 => ExtensionMode::None,
            1 => ExtensionMode::AtExpiry,
            2 => ExtensionMode::WhenUsedUp,
            3 => ExtensionMode::Either,
            _ => return None,
        })
    }

    /// API 3.0's number for the mode.
    pub fn code(self) -> u8 {
        match self {
            ExtensionMode::None => 0,
            ExtensionMode::AtExpiry => 1,
            ExtensionMode::WhenUsedUp => 2,
            ExtensionMode::Either => 3,
        }
    }

    /// Renewed when used up: the pool does not run dry while it renews.
    pub fn when_used_up(self) -> bool {
        matches!(self, ExtensionMode::WhenUsedUp | ExtensionMode::Either)
    }

    /// Renewed when it expires.
    pub fn at_expiry(self) -> bool {
        matches!(self, ExtensionMode::AtExpiry | ExtensionMode::Either)
    }
}

/// The packages of one account as seen by one successful poll.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Snapshot {
    /// When the poll's answer arrived.
    pub taken_at: DateTime<Utc>,
    /// Every package the API listed, usable or not, of every pool.
    pub packages: Vec<Package>,
}

impl Snapshot {
    /// The snapshot of each pool that has a package listed, in pool order.
    pub fn into_pools(self) -> BTreeMap<PoolKey, Snapshot> {
        let mut pools: BTreeMap<PoolKey, Snapshot> = BTreeMap::new();
        for p in self.packages {
            pools
                .entry(p.pool())
                .or_insert_with(|| Snapshot {
                    taken_at: self.taken_at,
                    packages: Vec::new(),
                })
                .packages
                .push(p);
        }
        pools
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_codes_and_names_round_trip() {
        for (code, r) in Region::TRAFFIC.iter().enumerate() {
            assert_eq!(Region::from_code(code as i64), Some(*r));
            assert_eq!(Region::from_name(r.name()), Some(*r));
        }
        assert_eq!(Region::from_code(9), None);
        assert_eq!(Region::from_code(-1), None);
        assert_eq!(Region::from_code(6).map(Region::name), Some("europe"));
        assert_eq!(Region::from_name("global"), Some(Region::Global));
        assert_eq!(Region::from_name("emea"), None);
    }

    #[test]
    fn pay_types_say_which_pools_they_cover_and_whether_they_deduct() {
        let overseas = PayType {
            area: BillingArea::Overseas,
            resource: Resource::Traffic,
            pay_type: "bandwidth".into(),
            billing_cycle: Some(BillingCycle::Hour),
        };
        let europe = PoolKey {
            resource: Resource::Traffic,
            region: Region::Europe,
        };
        assert!(overseas.covers(europe));
        assert!(!overseas.covers(PoolKey::MAINLAND_TRAFFIC));
        assert!(!overseas.deducts());
        let https = PayType {
            area: BillingArea::Global,
            resource: Resource::HttpsRequests,
            pay_type: "request".into(),
            billing_cycle: None,
        };
        assert!(https.deducts());
        assert!(https.covers(PoolKey {
            resource: Resource::HttpsRequests,
            region: Region::Global
        }));
        assert!(!https.covers(europe));
    }
}
