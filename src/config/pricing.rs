//! `[pricing]`: what packages and pay-as-you-go traffic cost per billing
//! region, for the money at stake and the purchase advice.
//!
//! Tencent's list prices are the default ([`PriceTable::list_prices`]). A
//! region's table overrides them entry by entry: a package of the same size
//! and validity takes the operator's price, a new one is added, and `payg`,
//! when given, replaces the region's steps as a whole. `replace = true`
//! drops the region's defaults first, so `replace = true` alone leaves the
//! region without prices, and without advice.
//!
//! ```toml
//! [pricing.mainland]
//! packages = [{ size = "10TB", months = 12, cny = 1600 }]
//! payg = [{ up_to = "2TB", cny_per_gb = 0.19 }, { cny_per_gb = 0.15 }]
//! ```

use super::units::ByteSize;
use cdnquota_core::model::Region;
use cdnquota_core::pricing::{Offer, PaygTier, PriceTable, RegionPrices};
use serde::{Deserialize, Serialize, Serializer};
use std::collections::BTreeMap;
use std::ops::Range;
use toml::Spanned;

/// One package on sale, as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOffer {
    size: Spanned<ByteSize>,
    months: Spanned<u32>,
    cny: Spanned<f64>,
}

/// One pay-as-you-go step, as written; the last has no `up_to`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTier {
    up_to: Option<ByteSize>,
    cny_per_gb: Spanned<f64>,
}

/// One region's table, as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRegion {
    #[serde(default)]
    replace: bool,
    #[serde(default)]
    packages: Vec<RawOffer>,
    payg: Option<Spanned<Vec<RawTier>>>,
}

/// `[pricing]` as written: a table per region name.
#[derive(Deserialize, Default)]
#[serde(transparent)]
pub(super) struct RawPricing(BTreeMap<Spanned<String>, RawRegion>);

fn price(value: &Spanned<f64>, what: &str) -> Result<f64, (Range<usize>, String)> {
    let v = *value.get_ref();
    if v.is_finite() && v >= 0.0 {
        Ok(v)
    } else {
        Err((
            value.span(),
            format!("{what} must be a number of yuan, 0 or more, e.g. 194"),
        ))
    }
}

impl RawPricing {
    /// The price table: the list prices with these overrides.
    pub(super) fn resolve(self) -> Result<PriceTable, (Range<usize>, String)> {
        let mut table = PriceTable::list_prices();
        for (name, raw) in self.0 {
            let region = Region::from_name(name.get_ref())
                .filter(|r| *r != Region::Global)
                .ok_or_else(|| {
                    (
                        name.span(),
                        format!(
                            "`{}` is not a billing region: use one of {} (HTTPS request pools are not priced)",
                            name.get_ref(),
                            Region::TRAFFIC.map(Region::name).join(", ")
                        ),
                    )
                })?;
            let prices = table.regions.entry(region).or_default();
            if raw.replace {
                *prices = RegionPrices::default();
            }
            for o in raw.packages {
                let months = *o.months.get_ref();
                if !(1..=36).contains(&months) {
                    return Err((o.months.span(), "months must be 1 to 36, e.g. 12".into()));
                }
                if o.size.get_ref().0 == 0 {
                    return Err((
                        o.size.span(),
                        "a package of size 0 holds nothing: give its size, e.g. \"1TB\"".into(),
                    ));
                }
                let offer = Offer {
                    size_bytes: o.size.get_ref().0,
                    months,
                    cny: price(&o.cny, "cny")?,
                };
                match prices
                    .offers
                    .iter_mut()
                    .find(|x| x.size_bytes == offer.size_bytes && x.months == offer.months)
                {
                    Some(x) => *x = offer,
                    None => prices.offers.push(offer),
                }
            }
            if let Some(tiers) = raw.payg {
                let span = tiers.span();
                let tiers = tiers.into_inner();
                let mut steps = Vec::with_capacity(tiers.len());
                let mut last = 0;
                for (i, t) in tiers.iter().enumerate() {
                    let end = t.up_to.map(|b| b.0);
                    let is_last = i + 1 == tiers.len();
                    match end {
                        None if !is_last => {
                            return Err((span, "only the last pay-as-you-go step may leave out up_to".into()));
                        }
                        Some(_) if is_last => {
                            return Err((
                                span,
                                "the last pay-as-you-go step has no up_to: it prices everything beyond the others, e.g. { cny_per_gb = 0.11 }".into(),
                            ));
                        }
                        Some(b) if b <= last => {
                            return Err((
                                span,
                                "pay-as-you-go steps must rise: each up_to above the one before".into(),
                            ));
                        }
                        _ => {}
                    }
                    last = end.unwrap_or(last);
                    steps.push(PaygTier {
                        up_to_bytes: end,
                        cny_per_gb: price(&t.cny_per_gb, "cny_per_gb")?,
                    });
                }
                prices.payg = steps;
            }
            prices.offers.sort_by_key(|o| (o.months, o.size_bytes));
        }
        Ok(table)
    }
}

/// One offer as the config writes it.
#[derive(Serialize)]
struct OfferAsWritten {
    size: ByteSize,
    months: u32,
    cny: f64,
}

/// One pay-as-you-go step as the config writes it.
#[derive(Serialize)]
struct TierAsWritten {
    #[serde(skip_serializing_if = "Option::is_none")]
    up_to: Option<ByteSize>,
    cny_per_gb: f64,
}

/// A region's table as the config writes it; `replace` so that reading
/// it back gives exactly this table, not the defaults with it.
#[derive(Serialize)]
struct RegionAsWritten {
    replace: bool,
    packages: Vec<OfferAsWritten>,
    payg: Vec<TierAsWritten>,
}

/// Writes the effective price table as `[pricing.<region>]` tables, so the
/// printed config reads back to the same prices.
pub(super) fn as_written<S: Serializer>(table: &PriceTable, s: S) -> Result<S::Ok, S::Error> {
    let regions: BTreeMap<&str, RegionAsWritten> = table
        .regions
        .iter()
        .map(|(region, prices)| {
            let written = RegionAsWritten {
                replace: true,
                packages: prices
                    .offers
                    .iter()
                    .map(|o| OfferAsWritten {
                        size: ByteSize(o.size_bytes),
                        months: o.months,
                        cny: o.cny,
                    })
                    .collect(),
                payg: prices
                    .payg
                    .iter()
                    .map(|t| TierAsWritten {
                        up_to: t.up_to_bytes.map(ByteSize),
                        cny_per_gb: t.cny_per_gb,
                    })
                    .collect(),
            };
            (region.name(), written)
        })
        .collect();
    regions.serialize(s)
}
