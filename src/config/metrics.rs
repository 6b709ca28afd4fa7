//! The `[metrics]` section: which per-package series are exported.
//!
//! Accounts keep their packages for years and the API lists the expired
//! ones too, so by default a package's series go 30 days after it expired;
//! the account totals always count every listed package.

use super::units::{HumanDuration, parse_duration};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::time::Duration;

/// How long after expiry a package keeps its per-package series.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpiredSeries {
    /// Every listed package has series, however long ago it expired.
    All,
    /// Series go once a package expired longer ago than this.
    For(Duration),
}

impl ExpiredSeries {
    /// How long a pool of only expired packages is kept, as the core takes
    /// it: `None` keeps it for as long as the API lists its packages.
    pub fn keep(self) -> Option<chrono::TimeDelta> {
        match self {
            ExpiredSeries::All => None,
            ExpiredSeries::For(d) => Some(cdnquota_core::settings::span_of(d)),
        }
    }
}

impl Default for ExpiredSeries {
    fn default() -> Self {
        ExpiredSeries::For(Duration::from_secs(30 * 86_400))
    }
}

impl fmt::Display for ExpiredSeries {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExpiredSeries::All => write!(f, "all"),
            ExpiredSeries::For(d) => write!(f, "{}", HumanDuration(*d)),
        }
    }
}

impl<'de> Deserialize<'de> for ExpiredSeries {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        if text == "all" {
            return Ok(ExpiredSeries::All);
        }
        parse_duration(&text).map(ExpiredSeries::For).map_err(|e| {
            serde::de::Error::custom(format!(
                "{e}; or \"all\" to export every listed package, e.g. \"30d\" (the default) or \"0s\" to drop them at expiry"
            ))
        })
    }
}

impl Serialize for ExpiredSeries {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

/// What `/metrics` exports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Per-package series of a package that expired longer ago than this
    /// are left out.
    #[serde(default)]
    pub expired_package_series: ExpiredSeries,
}
