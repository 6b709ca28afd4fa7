//! The `[order]` section (defaults) and `[accounts.order]` (overrides): when
//! the daemon may order a replacement package, and how many.

use super::units::{ByteSize, HumanDuration};
use cdnquota_core::model::Region;
use cdnquota_core::pricing::{PriceTable, RegionPrices};
use cdnquota_core::settings::{OrderMode, OrderRules, nonzero_bytes, nonzero_span, span_of};
use serde::Deserialize;

/// `unit_gb` as written: a size in GB, or "auto".
#[derive(Deserialize, Clone)]
#[serde(untagged)]
enum UnitGb {
    Gb(u32),
    Word(String),
}

#[derive(Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOrder {
    mode: Option<OrderMode>,
    unit_gb: Option<toml::Spanned<UnitGb>>,
    sizes: Option<toml::Spanned<Vec<u32>>>,
    number: Option<toml::Spanned<u32>>,
    when_remaining_below: Option<ByteSize>,
    when_depletion_within: Option<HumanDuration>,
    max_orders_per_30d: Option<u32>,
    fulfilment_grace: Option<HumanDuration>,
    ordering_replica: Option<toml::Spanned<String>>,
}

impl RawOrder {
    /// Applies these settings over `base`; a bad number names its span.
    /// `prices` prices the sizes of `unit_gb = "auto"`.
    pub(super) fn apply(
        &self,
        base: &OrderRules,
        prices: &PriceTable,
    ) -> Result<OrderRules, (std::ops::Range<usize>, String)> {
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
        let (unit_gb, auto) = match &self.unit_gb {
            None => (base.unit_gb, base.auto_sizes.is_some()),
            Some(u) => match u.get_ref() {
                UnitGb::Gb(0) => {
                    return Err((
                        u.span(),
                        "unit_gb must be a package size in GB that GetPackagePrice lists, e.g. 100, or \"auto\"".into(),
                    ));
                }
                UnitGb::Gb(n) => (*n, false),
                UnitGb::Word(w) if w == "auto" => (base.unit_gb, true),
                UnitGb::Word(w) => {
                    return Err((
                        u.span(),
                        format!(
                            "unit_gb = \"{w}\" is not a size: give the GB of a package GetPackagePrice lists, e.g. 100, or \"auto\" with sizes"
                        ),
                    ));
                }
            },
        };
        let auto_sizes = match (&self.sizes, auto) {
            (Some(s), false) => {
                return Err((
                    s.span(),
                    "sizes is for unit_gb = \"auto\": remove it, or set unit_gb = \"auto\"".into(),
                ));
            }
            (Some(s), true) => Some(priced_sizes(s, prices)?),
            (None, true) => match &base.auto_sizes {
                Some(known) => Some(known.clone()),
                None => {
                    let span = self.unit_gb.as_ref().map(|u| u.span()).unwrap_or_default();
                    return Err((
                        span,
                        "unit_gb = \"auto\" needs sizes: the package sizes in GB that GetPackagePrice lists for the account, e.g. sizes = [100, 500, 1000]".into(),
                    ));
                }
            },
            (None, false) => None,
        };
        Ok(OrderRules {
            mode: self.mode.unwrap_or(base.mode),
            unit_gb,
            number: self.number.as_ref().map_or(base.number, |n| *n.get_ref()),
            when_remaining_below: self
                .when_remaining_below
                .map_or(base.when_remaining_below, |b| nonzero_bytes(b.0)),
            when_depletion_within: self
                .when_depletion_within
                .map_or(base.when_depletion_within, |d| nonzero_span(d.0)),
            max_orders_per_30d: self.max_orders_per_30d.unwrap_or(base.max_orders_per_30d),
            fulfilment_grace: self.fulfilment_grace.map_or(base.fulfilment_grace, |d| span_of(d.0)),
            standby: None,
            auto_sizes,
        })
    }

    /// Whether the section turns ordering on.
    pub(super) fn turns_on(&self) -> bool {
        self.mode.is_some_and(|m| m != OrderMode::Off)
    }

    /// The `ordering_replica` written in this table, if any.
    pub(super) fn ordering_replica(&self) -> Option<&toml::Spanned<String>> {
        self.ordering_replica.as_ref()
    }
}

/// The `sizes` of `unit_gb = "auto"` with their 12-month mainland prices
/// from `[pricing]` (OrderPackage buys mainland packages), and mainland
/// pay-as-you-go; a size without a price is refused, since the advice could
/// not weigh it.
fn priced_sizes(
    sizes: &toml::Spanned<Vec<u32>>,
    prices: &PriceTable,
) -> Result<RegionPrices, (std::ops::Range<usize>, String)> {
    let mainland = prices.regions.get(&Region::Mainland).cloned().unwrap_or_default();
    if mainland.payg.is_empty() {
        return Err((
            sizes.span(),
            "unit_gb = \"auto\" needs mainland pay-as-you-go prices: [pricing.mainland] payg is empty".into(),
        ));
    }
    if sizes.get_ref().is_empty() {
        return Err((
            sizes.span(),
            "sizes is empty: list the package sizes in GB, e.g. [100, 500, 1000]".into(),
        ));
    }
    let mut offers = Vec::new();
    for gb in sizes.get_ref() {
        let bytes = u64::from(*gb) * 1_000_000_000;
        match mainland.offers.iter().find(|o| o.size_bytes == bytes && o.months == 12) {
            Some(o) => offers.push(*o),
            None => {
                return Err((
                    sizes.span(),
                    format!(
                        "size {gb} GB has no 12-month mainland price: add it to [pricing.mainland] packages, e.g. {{ size = \"{gb}GB\", months = 12, cny = ... }}, or leave it out"
                    ),
                ));
            }
        }
    }
    Ok(RegionPrices {
        offers,
        payg: mainland.payg,
    })
}

/// Checks a replica name (`replica_name`, `ordering_replica`): a host name
/// or any short word without spaces, compared exactly.
pub(super) fn check_replica_name(value: &str) -> Result<String, String> {
    let ok = !value.is_empty()
        && value.len() <= 253
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    if ok {
        Ok(value.to_string())
    } else {
        Err(format!(
            "`{value}` is not a replica name: use the host name or another word of letters, digits, '.', '-' and '_', e.g. \"cdnquota-1\""
        ))
    }
}

/// The replica rule: with `ordering_replica` named, only the daemon whose
/// `replica_name` is exactly that name may order. Everywhere else every
/// account's ordering is off (`standby` says why), hand orders included.
/// Exactly one name can match, so two replicas with one config never both
/// order; a name that matches no replica orders nowhere.
pub(super) fn apply_replica<'a>(
    orders: impl IntoIterator<Item = &'a mut OrderRules>,
    replica_name: &str,
    ordering_replica: Option<&str>,
) {
    let Some(r) = ordering_replica.filter(|r| *r != replica_name) else {
        return;
    };
    let why = format!(
        "not the ordering replica: [order] ordering_replica = \"{r}\" and this replica is \"{replica_name}\" (replica_name); it watches and alerts, and orders nothing"
    );
    for order in orders {
        order.mode = OrderMode::Off;
        order.standby = Some(why.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::OrderMode;
    use crate::config::{Config, ConfigError, parse};
    use std::path::Path;

    fn load(text: &str) -> Result<Config, ConfigError> {
        parse(text, Path::new("/etc/cdnquota/cdnquota.toml"), &|_| None).map(|l| l.config)
    }

    /// One config for two replicas, as config management would hand out,
    /// with only `replica_name` told apart.
    fn pair_config(replica_name: &str, ordering_replica: &str) -> String {
        format!(
            "replica_name = \"{replica_name}\"\n[order]\nmode = \"live\"\nordering_replica = \"{ordering_replica}\"\n[alertmanager]\nurls = [\"http://am1:9093\", \"http://am2:9093\"]\n[[accounts]]\nname = \"main\"\nsecret_id = \"AKIDexample0000000001\"\nsecret_key = \"k\"\n[[accounts]]\nname = \"other\"\nsecret_id = \"AKIDexample0000000001\"\nsecret_key = \"k\"\n[accounts.order]\nmode = \"dry-run\"\n"
        )
    }

    #[test]
    fn only_the_named_replica_orders_and_the_other_says_why() {
        let a = load(&pair_config("cdnquota-a", "cdnquota-a")).unwrap();
        let b = load(&pair_config("cdnquota-b", "cdnquota-a")).unwrap();
        assert_eq!(a.accounts[0].order.mode, OrderMode::Live);
        assert_eq!(a.accounts[1].order.mode, OrderMode::DryRun);
        assert!(a.accounts.iter().all(|x| x.order.standby.is_none()));
        for account in &b.accounts {
            assert_eq!(account.order.mode, OrderMode::Off);
            let why = account.order.standby.as_deref().unwrap();
            assert!(
                why.contains("not the ordering replica")
                    && why.contains("\"cdnquota-a\"")
                    && why.contains("\"cdnquota-b\""),
                "{why}"
            );
        }
        // A name that matches no replica orders nowhere.
        let nobody = load(&pair_config("cdnquota-a", "cdnquota-c")).unwrap();
        assert!(nobody.accounts.iter().all(|x| x.order.mode == OrderMode::Off));
        // Names are compared exactly: "A" is not "a".
        let upper = load(&pair_config("CDNQUOTA-A", "cdnquota-a")).unwrap();
        assert_eq!(upper.accounts[0].order.mode, OrderMode::Off);
    }

    #[test]
    fn live_ordering_behind_alertmanager_must_name_its_replica() {
        let text = pair_config("cdnquota-a", "x").replace("ordering_replica = \"x\"\n", "");
        let e = load(&text).unwrap_err().to_string();
        assert!(
            e.contains("[order] ordering_replica = \"cdnquota-a\"") && e.contains("both would order"),
            "{e}"
        );
        // Dry runs cannot spend money; without Alertmanager a single daemon orders as before.
        assert!(load(&text.replace("mode = \"live\"", "mode = \"dry-run\"")).is_ok());
        let single = text.replace(
            "[alertmanager]\nurls = [\"http://am1:9093\", \"http://am2:9093\"]\n",
            "",
        );
        assert_eq!(load(&single).unwrap().accounts[0].order.mode, OrderMode::Live);
    }

    #[test]
    fn the_replica_settings_are_checked() {
        let per_account = pair_config("a", "a").replace(
            "[accounts.order]\nmode = \"dry-run\"\n",
            "[accounts.order]\nordering_replica = \"b\"\n",
        );
        let e = load(&per_account).unwrap_err().to_string();
        assert!(e.contains("set once, in [order]"), "{e}");
        let e = load(&pair_config("two words", "a")).unwrap_err().to_string();
        assert!(e.contains("replica_name") && e.contains("not a replica name"), "{e}");
        let e = load(&pair_config("a", "")).unwrap_err().to_string();
        assert!(
            e.contains("order.ordering_replica") && e.contains("not a replica name"),
            "{e}"
        );
    }
}
