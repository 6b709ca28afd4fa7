//! The `[order]` section (defaults) and `[accounts.order]` (overrides): when
//! the daemon may order a replacement package, and how many.

use super::units::{ByteSize, HumanDuration};
use serde::{Deserialize, Serialize};
use std::time::Duration;

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
pub struct OrderConfig {
    /// Off, dry-run or live.
    pub mode: OrderMode,
    /// Package size in GB; must be a size GetPackagePrice lists.
    pub unit_gb: u32,
    /// Packages per order, 1 to 5.
    pub number: u32,
    /// Order when fewer bytes than this are left (0: this trigger is off).
    #[serde(serialize_with = "super::serialize_bytes")]
    pub when_remaining_below: u64,
    /// Order when the pool is forecast to run dry this soon (0: off).
    #[serde(serialize_with = "super::serialize_duration")]
    pub when_depletion_within: Duration,
    /// Orders allowed in any 30 days, automatic and by hand together.
    pub max_orders_per_30d: u32,
    /// An order not fulfilled this long after it was placed fires
    /// OrderNotFulfilled (it must still be paid).
    #[serde(serialize_with = "super::serialize_duration")]
    pub fulfilment_grace: Duration,
}

impl Default for OrderConfig {
    fn default() -> Self {
        OrderConfig {
            mode: OrderMode::Off,
            unit_gb: 100,
            number: 1,
            when_remaining_below: 100_000_000_000,
            when_depletion_within: Duration::from_secs(2 * 86_400),
            max_orders_per_30d: 2,
            fulfilment_grace: Duration::from_secs(86_400),
        }
    }
}

#[derive(Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOrder {
    mode: Option<OrderMode>,
    unit_gb: Option<toml::Spanned<u32>>,
    number: Option<toml::Spanned<u32>>,
    when_remaining_below: Option<ByteSize>,
    when_depletion_within: Option<HumanDuration>,
    max_orders_per_30d: Option<u32>,
    fulfilment_grace: Option<HumanDuration>,
}

impl RawOrder {
    /// Applies these settings over `base`; a bad number names its span.
    pub(super) fn apply(&self, base: &OrderConfig) -> Result<OrderConfig, (std::ops::Range<usize>, String)> {
        if let Some(n) = &self.number
            && !(1..=5).contains(n.get_ref())
        {
            return Err((
                n.span(),
                format!(
                    "number = {} is out of range: an order holds 1 to 5 packages",
                    n.get_ref()
                ),
            ));
        }
        if let Some(u) = &self.unit_gb
            && *u.get_ref() == 0
        {
            return Err((
                u.span(),
                "unit_gb must be a package size in GB that GetPackagePrice lists, e.g. 100".into(),
            ));
        }
        Ok(OrderConfig {
            mode: self.mode.unwrap_or(base.mode),
            unit_gb: self.unit_gb.as_ref().map_or(base.unit_gb, |u| *u.get_ref()),
            number: self.number.as_ref().map_or(base.number, |n| *n.get_ref()),
            when_remaining_below: self.when_remaining_below.map_or(base.when_remaining_below, |b| b.0),
            when_depletion_within: self.when_depletion_within.map_or(base.when_depletion_within, |d| d.0),
            max_orders_per_30d: self.max_orders_per_30d.unwrap_or(base.max_orders_per_30d),
            fulfilment_grace: self.fulfilment_grace.map_or(base.fulfilment_grace, |d| d.0),
        })
    }

    /// Whether the section turns ordering on.
    pub(super) fn turns_on(&self) -> bool {
        self.mode.is_some_and(|m| m != OrderMode::Off)
    }
}
