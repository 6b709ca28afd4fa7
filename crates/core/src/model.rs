//! What a source reports about an account: its traffic packages at one
//! moment. Every source (API v2, the simulator) produces this same shape.

use chrono::{DateTime, Utc};
use serde::Serialize;

/// One traffic package as the API reported it, times converted to UTC.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Package {
    /// The package id, kept as text so every source fits.
    pub id: String,
    /// The package's display name, e.g. "50GB".
    pub title: String,
    /// Total bytes the package holds.
    pub size_bytes: u64,
    /// Bytes already deducted; may exceed `size_bytes` in API data.
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
    /// Every package the API listed, usable or not.
    pub packages: Vec<Package>,
}
