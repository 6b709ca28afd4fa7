//! `[thresholds]` and `[accounts.thresholds]`: the traffic thresholds every
//! pool starts from, a table per billing region (`[thresholds.europe]`) for
//! pools whose size differs by orders of magnitude, and `[thresholds.https]`
//! for HTTPS request pools, in requests.
//!
//! Each pool takes, field by field, the most specific value set:
//! `[thresholds]`, then the account's `[accounts.thresholds]`, then the
//! region's `[thresholds.<region>]`, then the account's
//! `[accounts.thresholds.<region>]`. A region table outranks an account's
//! plain thresholds because they are written for a mainland pool that is
//! usually far larger; for the same reason `remaining_bytes_below` reaches
//! an overseas pool only from a table of its own region. HTTPS request
//! pools take `[thresholds.https]` and `[accounts.thresholds.https]` over
//! their own defaults, none of the traffic ones.

use super::units::{ByteSize, HumanDuration};
use super::values::Ratio;
use cdnquota_core::model::Region;
use cdnquota_core::settings::{PoolThresholds, Thresholds, nonzero_bytes, nonzero_ratio, nonzero_span};
use serde::Deserialize;
use std::ops::Range;
use toml::Spanned;

/// The traffic thresholds of one table, each field optional.
#[derive(Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub(super) struct TrafficOverrides {
    remaining_bytes_below: Option<ByteSize>,
    remaining_ratio_below: Option<Ratio>,
    expires_within: Option<HumanDuration>,
    expiring_unused_above: Option<ByteSize>,
    depletion_within: Option<HumanDuration>,
}

impl TrafficOverrides {
    fn apply(&self, base: Thresholds) -> Thresholds {
        Thresholds {
            remaining_bytes_below: self
                .remaining_bytes_below
                .map_or(base.remaining_bytes_below, |b| nonzero_bytes(b.0)),
            remaining_ratio_below: self
                .remaining_ratio_below
                .map_or(base.remaining_ratio_below, |r| nonzero_ratio(r.0)),
            expires_within: self.expires_within.map_or(base.expires_within, |d| nonzero_span(d.0)),
            expiring_unused_above: self.expiring_unused_above.map_or(base.expiring_unused_above, |b| b.0),
            depletion_within: self
                .depletion_within
                .map_or(base.depletion_within, |d| nonzero_span(d.0)),
        }
    }
}

/// `[thresholds.https]`: amounts in requests. A byte threshold here is
/// refused by name rather than read as a count.
#[derive(Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub(super) struct HttpsOverrides {
    remaining_requests_below: Option<u64>,
    remaining_ratio_below: Option<Ratio>,
    expires_within: Option<HumanDuration>,
    expiring_unused_requests_above: Option<u64>,
    depletion_within: Option<HumanDuration>,
    remaining_bytes_below: Option<Spanned<toml::Value>>,
    expiring_unused_above: Option<Spanned<toml::Value>>,
}

impl HttpsOverrides {
    fn check(&self) -> Result<(), (Range<usize>, String)> {
        for (key, instead, value) in [
            (
                "remaining_bytes_below",
                "remaining_requests_below",
                &self.remaining_bytes_below,
            ),
            (
                "expiring_unused_above",
                "expiring_unused_requests_above",
                &self.expiring_unused_above,
            ),
        ] {
            if let Some(v) = value {
                return Err((
                    v.span(),
                    format!(
                        "HTTPS request pools count requests, not bytes: use {instead} = 1000000 (a number of requests) instead of {key}"
                    ),
                ));
            }
        }
        Ok(())
    }

    fn apply(&self, base: Thresholds) -> Thresholds {
        Thresholds {
            remaining_bytes_below: self
                .remaining_requests_below
                .map_or(base.remaining_bytes_below, nonzero_bytes),
            remaining_ratio_below: self
                .remaining_ratio_below
                .map_or(base.remaining_ratio_below, |r| nonzero_ratio(r.0)),
            expires_within: self.expires_within.map_or(base.expires_within, |d| nonzero_span(d.0)),
            expiring_unused_above: self
                .expiring_unused_requests_above
                .unwrap_or(base.expiring_unused_above),
            depletion_within: self
                .depletion_within
                .map_or(base.depletion_within, |d| nonzero_span(d.0)),
        }
    }
}

/// One `[thresholds]` or `[accounts.thresholds]` table with its sub-tables.
/// The region tables are fields, so a name that is not a billing region is
/// refused by the parser at its line.
#[derive(Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub(super) struct ThresholdOverrides {
    remaining_bytes_below: Option<ByteSize>,
    remaining_ratio_below: Option<Ratio>,
    expires_within: Option<HumanDuration>,
    expiring_unused_above: Option<ByteSize>,
    depletion_within: Option<HumanDuration>,
    mainland: Option<TrafficOverrides>,
    ap1: Option<TrafficOverrides>,
    ap2: Option<TrafficOverrides>,
    ap3: Option<TrafficOverrides>,
    middle_east: Option<TrafficOverrides>,
    north_america: Option<TrafficOverrides>,
    europe: Option<TrafficOverrides>,
    south_america: Option<TrafficOverrides>,
    africa: Option<TrafficOverrides>,
    https: Option<HttpsOverrides>,
}

impl ThresholdOverrides {
    fn traffic(&self) -> TrafficOverrides {
        TrafficOverrides {
            remaining_bytes_below: self.remaining_bytes_below,
            remaining_ratio_below: self.remaining_ratio_below,
            expires_within: self.expires_within,
            expiring_unused_above: self.expiring_unused_above,
            depletion_within: self.depletion_within,
        }
    }

    fn region(&self, region: Region) -> Option<&TrafficOverrides> {
        match region {
            Region::Mainland => self.mainland.as_ref(),
            Region::Ap1 => self.ap1.as_ref(),
            Region::Ap2 => self.ap2.as_ref(),
            Region::Ap3 => self.ap3.as_ref(),
            Region::MiddleEast => self.middle_east.as_ref(),
            Region::NorthAmerica => self.north_america.as_ref(),
            Region::Europe => self.europe.as_ref(),
            Region::SouthAmerica => self.south_america.as_ref(),
            Region::Africa => self.africa.as_ref(),
            Region::Global => None,
        }
    }

    /// The thresholds of every pool: these (an account's) over `general`
    /// (`[thresholds]`, already resolved over the defaults, with its own
    /// region tables in `general_tables`).
    pub(super) fn resolve(
        &self,
        general: &PoolThresholds,
        general_tables: &ThresholdOverrides,
    ) -> Result<PoolThresholds, (Range<usize>, String)> {
        if let Some(h) = &self.https {
            h.check()?;
        }
        let traffic = self.traffic().apply(general.traffic);
        let mut regions = std::collections::BTreeMap::new();
        for region in Region::TRAFFIC {
            let (mine, theirs) = (self.region(region), general_tables.region(region));
            if mine.is_none() && theirs.is_none() {
                continue;
            }
            // A byte floor is a mainland figure: an overseas region has one
            // only where one of its own tables sets it.
            let start = if region == Region::Mainland {
                traffic
            } else {
                Thresholds {
                    remaining_bytes_below: None,
                    ..traffic
                }
            };
            let base = theirs.map_or(start, |t| t.apply(start));
            regions.insert(region, mine.map_or(base, |m| m.apply(base)));
        }
        let https = match &self.https {
            Some(h) => h.apply(general.https),
            None => general.https,
        };
        Ok(PoolThresholds {
            traffic,
            regions,
            https,
        })
    }

    /// `[thresholds]` itself over the built-in defaults.
    pub(super) fn resolve_general(&self) -> Result<PoolThresholds, (Range<usize>, String)> {
        self.resolve(&PoolThresholds::default(), &ThresholdOverrides::default())
    }
}
