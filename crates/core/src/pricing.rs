//! What packages and pay-as-you-go traffic cost, per billing region: the
//! price table the purchase advice and the money at stake are priced from.
//!
//! The defaults are Tencent's list prices (tencentyun/qcloud-documents,
//! `product/存储与CDN/内容分发网络/购买指导/CDN流量包介绍.md` for packages,
//! `…/购买指导/基础服务计费.md` for pay-as-you-go), as read in December 2026.
//! An operator with a discount overrides any entry in `[pricing]`; a region
//! whose table is empty gets no advice rather than a guess.

use crate::model::Region;
use serde::Serialize;
use std::collections::BTreeMap;

/// Bytes in a GB as Tencent bills traffic (decimal, as the config's sizes).
pub const GB: f64 = 1e9;

/// One package on sale: its size, validity and price.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Offer {
    /// Bytes it holds.
    pub size_bytes: u64,
    /// Validity in months from the purchase.
    pub months: u32,
    /// Price in CNY.
    pub cny: f64,
}

impl Offer {
    /// CNY per byte.
    pub fn per_byte(&self) -> f64 {
        if self.size_bytes == 0 {
            0.0
        } else {
            self.cny / self.size_bytes as f64
        }
    }
}

/// One step of pay-as-you-go pricing: traffic of the month up to
/// `up_to_bytes` (cumulative, from the month's first byte) at `cny_per_gb`;
/// `None` is the last step, without end.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct PaygTier {
    /// Where the tier ends, in the month's cumulative bytes.
    pub up_to_bytes: Option<u64>,
    /// CNY per GB inside the tier.
    pub cny_per_gb: f64,
}

/// The prices of one billing region.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct RegionPrices {
    /// Packages on sale.
    pub offers: Vec<Offer>,
    /// Pay-as-you-go steps, in order; empty: not known.
    pub payg: Vec<PaygTier>,
}

impl RegionPrices {
    /// Whether advice can be priced: something on sale, and a known price
    /// for what no package covers.
    pub fn is_complete(&self) -> bool {
        !self.offers.is_empty() && !self.payg.is_empty()
    }

    /// What `bytes` of pay-as-you-go traffic cost when `before` bytes were
    /// already billed that month: each byte at the price of the step the
    /// month's total has reached (阶梯累进).
    pub fn payg_cny(&self, before: f64, bytes: f64) -> f64 {
        let mut cost = 0.0;
        let mut at = before.max(0.0);
        let end = at + bytes.max(0.0);
        for tier in &self.payg {
            if at >= end {
                break;
            }
            let top = tier.up_to_bytes.map_or(f64::INFINITY, |b| b as f64);
            if at < top {
                let upto = end.min(top);
                cost += (upto - at) / GB * tier.cny_per_gb;
                at = upto;
            }
        }
        cost
    }

    /// The price per byte a package of `size_bytes` valid `months` was most
    /// likely bought at: the offer of that size and validity, else the
    /// nearest size of that validity, else the nearest size of any.
    pub fn paid_per_byte(&self, size_bytes: u64, months: u32) -> Option<f64> {
        let distance = |o: &Offer| ((o.size_bytes.max(1) as f64).ln() - (size_bytes.max(1) as f64).ln()).abs();
        let nearest = |same_months: bool| {
            self.offers
                .iter()
                .filter(|o| !same_months || o.months == months)
                .min_by(|a, b| distance(a).total_cmp(&distance(b)))
        };
        nearest(true).or_else(|| nearest(false)).map(Offer::per_byte)
    }
}

/// The prices of every billing region.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PriceTable {
    /// Prices per region; a region absent or incomplete gets no advice.
    pub regions: BTreeMap<Region, RegionPrices>,
}

impl Default for PriceTable {
    fn default() -> Self {
        PriceTable::list_prices()
    }
}

/// When the default prices were read from Tencent's pages.
pub const LIST_PRICES_READ: &str = "2026-12";

const TB: u64 = 1_000_000_000_000;
const G: u64 = 1_000_000_000;
const PB: u64 = 1_000 * TB;

impl PriceTable {
    /// Tencent's list prices: mainland one-off packages for 1 and 12 months
    /// and mainland pay-as-you-go; Europe and North America 12-month
    /// packages, whose pay-as-you-go price is not in the sources, so they
    /// get no advice until an operator gives it.
    pub fn list_prices() -> Self {
        let mut mainland = RegionPrices::default();
        // (size, 1 month, 12 months); 0 where only 12 months is sold.
        let one_off: [(u64, f64, f64); 11] = [
            (100 * G, 17.0, 20.0),
            (500 * G, 84.0, 99.0),
            (TB, 165.0, 194.0),
            (5 * TB, 804.0, 945.0),
            (10 * TB, 1_592.0, 1_873.0),
            (50 * TB, 7_431.0, 8_743.0),
            (200 * TB, 18_700.0, 22_000.0),
            (PB, 93_500.0, 110_000.0),
            (5 * PB, 0.0, 520_000.0),
            (10 * PB, 0.0, 1_020_000.0),
            (50 * PB, 0.0, 4_900_000.0),
        ];
        for (size, month, year) in one_off {
            if month > 0.0 {
                mainland.offers.push(Offer {
                    size_bytes: size,
                    months: 1,
                    cny: month,
                });
            }
            mainland.offers.push(Offer {
                size_bytes: size,
                months: 12,
                cny: year,
            });
        }
        mainland.payg = [
            (Some(2 * TB), 0.21),
            (Some(10 * TB), 0.20),
            (Some(50 * TB), 0.18),
            (Some(100 * TB), 0.15),
            (None, 0.11),
        ]
        .into_iter()
        .map(|(up_to_bytes, cny_per_gb)| PaygTier {
            up_to_bytes,
            cny_per_gb,
        })
        .collect();
        let overseas = RegionPrices {
            offers: [
                (100 * G, 31.0),
                (500 * G, 155.0),
                (TB, 310.0),
                (5 * TB, 1_400.0),
                (10 * TB, 2_700.0),
                (50 * TB, 11_500.0),
            ]
            .into_iter()
            .map(|(size_bytes, cny)| Offer {
                size_bytes,
                months: 12,
                cny,
            })
            .collect(),
            payg: Vec::new(),
        };
        let mut regions = BTreeMap::new();
        regions.insert(Region::Mainland, mainland);
        regions.insert(Region::Europe, overseas.clone());
        regions.insert(Region::NorthAmerica, overseas);
        PriceTable { regions }
    }

    /// The prices of `region`, when advice can be priced there.
    pub fn complete(&self, region: Region) -> Option<&RegionPrices> {
        self.regions.get(&region).filter(|p| p.is_complete())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mainland() -> RegionPrices {
        PriceTable::list_prices().regions[&Region::Mainland].clone()
    }

    #[test]
    fn pay_as_you_go_steps_down_as_the_month_fills() {
        let p = mainland();
        // 1 TB from an empty month: all in the first step, 1000 GB × 0.21.
        assert!((p.payg_cny(0.0, 1e12) - 210.0).abs() < 1e-6);
        // 1.5 TB → 2.5 TB crosses 2 TB: 500 GB × 0.21 + 500 GB × 0.20
        // = 105 + 100 = 205.
        assert!((p.payg_cny(1.5e12, 1e12) - 205.0).abs() < 1e-6);
        // Past 100 TB every GB is 0.11: 10 TB = 10 000 GB × 0.11 = 1100.
        assert!((p.payg_cny(200e12, 10e12) - 1_100.0).abs() < 1e-6);
    }

    #[test]
    fn europe_has_packages_but_no_pay_as_you_go_price_so_no_advice() {
        let t = PriceTable::list_prices();
        assert!(t.complete(Region::Mainland).is_some());
        assert!(t.complete(Region::Europe).is_none());
        assert!(t.complete(Region::Africa).is_none());
        assert_eq!(t.regions[&Region::Europe].offers.len(), 6);
    }

    #[test]
    fn a_package_is_valued_at_the_offer_it_was_most_likely_bought_at() {
        let p = mainland();
        // 1 TB for 12 months: ¥194 / 1e12 bytes.
        assert_eq!(p.paid_per_byte(TB, 12), Some(194.0 / 1e12));
        // 2 TB has no offer: the nearest size by ratio, 1 TB (×2) against
        // 5 TB (×2.5), at its per-byte price.
        assert_eq!(p.paid_per_byte(2 * TB, 12), Some(194.0 / 1e12));
        // 6 months is not sold: the nearest size of any validity, the first
        // of equals (1 month, ¥165).
        assert_eq!(p.paid_per_byte(TB, 6), Some(165.0 / 1e12));
    }
}
