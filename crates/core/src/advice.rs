//! What to buy for a traffic pool, and the money at stake if nothing is.
//!
//! The cost model runs the forecast's demand a day at a time over the next
//! 12 months against the packages held plus one candidate purchase
//! (`count` × one offer, bought now or in a week), deducting as Tencent
//! does (nearest expiry first, then the earlier start). What no package
//! covers is billed pay-as-you-go at the region's monthly steps. The two
//! sides of the risk use two demands:
//!
//! - **too little bought** runs the pool dry: its pay-as-you-go is counted
//!   at the forecast's *early bound* (the demand it rarely exceeds) for the
//!   next [`EARLY_DAYS`], so advice is not sized on an optimistic reading,
//!   and at the central forecast after them;
//! - **too much bought** expires unused: the waste is counted at the
//!   *central* forecast, the likeliest demand.
//!
//! A shortfall is left to pay-as-you-go for [`REBUY_DAYS`] only. What no
//! package covers after that is priced at the *going rate*: the cheapest
//! yuan per byte served of any one purchase made now, or of a month of
//! pay-as-you-go. The advice is made again at every poll, so a later
//! shortfall is bought for when it comes; pricing it all as pay-as-you-go
//! would make every candidate but the biggest look ruinous and advise a
//! year's traffic at once (measured by `cargo bench --bench advice`: 23 of
//! 32 traces no dearer than their own purchases that way, against 32 of 32
//! with the going rate).
//!
//! A candidate's total is its price, its pay-as-you-go and what it leaves to
//! be bought later; the advice is the cheapest total, buying nothing
//! included. Days are whole: a package counts on a day when the day's
//! midpoint lies inside its validity.

use crate::demand::Demand;
use crate::model::{Package, Region};
use crate::pool::{is_upcoming, is_usable, remaining_bytes};
use crate::pricing::{Offer, RegionPrices};
use chrono::{DateTime, Datelike, FixedOffset, Months, TimeDelta, Utc};
use serde::Serialize;

/// Days the costs are counted over.
pub const HORIZON_DAYS: usize = 365;
/// Days the drain runs, so that a 12-month package bought in a week is
/// seen to its end for what it wastes.
const RUN_DAYS: usize = HORIZON_DAYS + 16;
/// At most this many packages of one offer in one purchase.
pub const MAX_COUNT: u32 = 5;
/// Days the early bound prices a shortfall for; past them, the central
/// forecast. Running dry is a near risk: the advice is made again at every
/// poll, so a purchase need not cover a high reading for a whole year, and
/// sized so it would waste what the year did not use.
pub const EARLY_DAYS: usize = 30;
/// How long "waiting" waits.
pub const WAIT_DAYS: usize = 7;
/// Days a shortfall is priced as pay-as-you-go; past them, what no package
/// covers is bought again, at the going rate. A week: the advice is made
/// at every poll and mailed while a shortfall lasts, so a week is a
/// generous time to act on it (measured by `cargo bench --bench advice`
/// on seeds 33..64, never tuned on: 32 of 32 traces no dearer at 7 days;
/// before ties were broken by price, 31 of 32 at 7 and at 14 days and 23
/// of 32 at 30).
pub const REBUY_DAYS: usize = 7;
/// Tencent's purchase page for CDN packages (no API buys them).
pub const PURCHASE_URL: &str = "https://buy.cloud.tencent.com/cdn_package";
const DAY: f64 = 86_400.0;

/// The demand per day from now on, central and early bound, in bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct DailyDemand {
    /// Central forecast, day 0 first.
    pub central: Vec<f64>,
    /// Early bound.
    pub early: Vec<f64>,
}

impl DailyDemand {
    /// The forecast's demand, summed by day (each clock hour at its rate),
    /// over the whole run the advice needs.
    pub fn of(demand: &Demand) -> Self {
        DailyDemand::of_days(demand, RUN_DAYS)
    }

    /// The forecast's demand for the first `days` only: what the money at
    /// stake, reckoned at every poll, needs.
    pub fn of_days(demand: &Demand, days: usize) -> Self {
        let day = |early: bool, d: usize| -> f64 {
            (0..24)
                .map(|h| {
                    let ahead = (d * 24 + h) as f64 * 3600.0 + 1800.0;
                    let rate = if early {
                        demand.early_rate(ahead)
                    } else {
                        demand.rate(ahead)
                    };
                    rate * 3600.0
                })
                .sum()
        };
        if !demand.expects_traffic() {
            return DailyDemand::flat(0.0, 0.0);
        }
        let days = days.min(RUN_DAYS);
        DailyDemand {
            central: (0..days).map(|d| day(false, d)).collect(),
            early: (0..days).map(|d| day(d < EARLY_DAYS, d)).collect(),
        }
    }

    /// The same demand every day: `early` for the first [`EARLY_DAYS`],
    /// then `central`, as [`DailyDemand::of`] has it.
    pub fn flat(central: f64, early: f64) -> Self {
        DailyDemand {
            central: vec![central; RUN_DAYS],
            early: (0..RUN_DAYS)
                .map(|d| if d < EARLY_DAYS { early } else { central })
                .collect(),
        }
    }
}

/// A package in the cost model: its validity in days from now and what it
/// holds.
#[derive(Clone, Copy, Debug)]
struct Held {
    start: f64,
    end: f64,
    left: f64,
}

/// What one purchase leads to.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Purchase {
    /// How many packages of `offer`; 0 buys nothing.
    pub count: u32,
    /// The package bought, `None` for buying nothing.
    pub offer: Option<Offer>,
    /// What the purchase costs.
    pub price_cny: f64,
    /// Bytes expiring unused within the horizon at the central forecast,
    /// over every package held.
    pub wasted_bytes: u64,
    /// Pay-as-you-go bytes within the horizon at the early bound.
    pub payg_bytes: u64,
    /// What they cost.
    pub payg_cny: f64,
    /// What the demand no package covers after [`REBUY_DAYS`] costs,
    /// bought again later at the going rate (early bound).
    pub later_cny: f64,
    /// Price, pay-as-you-go and what is bought later.
    pub total_cny: f64,
}

impl Purchase {
    /// Which side of the risk bounds this purchase, for people; for buying
    /// nothing, why nothing.
    pub fn limited_by(&self) -> &'static str {
        if self.offer.is_none() {
            if self.payg_bytes == 0 && self.later_cny > 0.0 {
                "nothing yet: no shortfall within 7 days, and buying when it is nearer costs no more"
            } else {
                "pay-as-you-go costs less than any package on sale"
            }
        } else if self.payg_bytes > 0 || self.later_cny > 0.0 {
            "early bound: less would run dry sooner"
        } else if self.wasted_bytes > 0 {
            "central forecast: more would expire unused"
        } else {
            "both bounds"
        }
    }

    /// The purchase in words, e.g. "2 × 1 TB, 12 months".
    pub fn describe(&self) -> String {
        match self.offer {
            None => "nothing".to_string(),
            Some(o) => format!(
                "{} × {}, {} month{}",
                self.count,
                offer_size(o.size_bytes),
                o.months,
                if o.months == 1 { "" } else { "s" }
            ),
        }
    }
}

/// A package size as Tencent sells it: "5 TB", "500 GB".
fn offer_size(bytes: u64) -> String {
    for (unit, size) in [
        ("PB", 1_000_000_000_000_000u64),
        ("TB", 1_000_000_000_000),
        ("GB", 1_000_000_000),
    ] {
        if bytes >= size && bytes.is_multiple_of(size) {
            return format!("{} {unit}", bytes / size);
        }
    }
    crate::units::format_size_human(bytes)
}

/// The advice for one traffic pool.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Advice {
    /// The region it is for.
    pub region: Region,
    /// The cheapest purchase over the horizon.
    pub best: Purchase,
    /// The two next cheapest.
    pub next: Vec<Purchase>,
    /// Buying nothing, for comparison.
    pub nothing: Purchase,
    /// What waiting a week costs over buying the advice now (the best
    /// purchase of something made a week later, re-chosen then); negative
    /// if it saves.
    pub waiting_a_week_cny: f64,
    /// Which demand prices which side of the risk.
    pub basis: &'static str,
    /// Where to buy.
    pub purchase_url: &'static str,
}

/// Which demand prices which side, as [`Advice::basis`] says it.
pub const BASIS: &str = "shortfalls at the forecast's early bound for 30 days, then at its central forecast: pay-as-you-go for 7 days, then bought again at the cheapest rate on sale; waste at its central forecast";

/// The money at stake in one traffic pool if nothing is bought.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct MoneyAtStake {
    /// Pay-as-you-go cost of the next 30 days at the central forecast.
    pub overage_cost_30d_cny: f64,
    /// What the bytes forecast to expire unused were paid, at the price
    /// table's offer for each package's size and validity.
    pub expiring_unused_value_cny: f64,
}

/// The cost model of one pool: its packages and the demand, from `now`.
struct Model<'a> {
    prices: &'a RegionPrices,
    held: Vec<Held>,
    /// The month (index from now's month, China time) of each day.
    month: Vec<usize>,
    now: DateTime<Utc>,
    /// The going rate, CNY per byte, of demand bought again later;
    /// infinite when nothing would be bought (no offers, no demand).
    going_rate: f64,
}

/// What running a demand against the packages comes to.
#[derive(Clone, Copy, Debug, Default)]
struct Run {
    payg_bytes: f64,
    payg_cny: f64,
    later_cny: f64,
    wasted_bytes: f64,
}

/// China time: Tencent's months begin at 00:00 UTC+8.
fn china() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| chrono::Offset::fix(&Utc))
}

impl<'a> Model<'a> {
    fn new<'p>(
        packages: impl IntoIterator<Item = &'p Package>,
        undeducted: u64,
        prices: &'a RegionPrices,
        now: DateTime<Utc>,
    ) -> Self {
        let days = |t: DateTime<Utc>| (t - now).as_seconds_f64() / DAY;
        let mut held: Vec<Held> = packages
            .into_iter()
            .filter(|p| remaining_bytes(p) > 0 && (is_usable(p, now) || is_upcoming(p, now)))
            .map(|p| Held {
                start: days(p.enabled_at),
                end: days(p.expires_at),
                left: remaining_bytes(p) as f64,
            })
            .collect();
        sort(&mut held);
        // What is billed but not deducted yet is as good as taken.
        let mut owed = undeducted as f64;
        for h in held.iter_mut().filter(|h| h.start <= 0.0) {
            let take = owed.min(h.left);
            h.left -= take;
            owed -= take;
        }
        let zone = china();
        let first = now.with_timezone(&zone);
        let month = (0..RUN_DAYS)
            .map(|d| {
                let t = (now + TimeDelta::seconds(((d as f64 + 0.5) * DAY) as i64)).with_timezone(&zone);
                ((t.year() - first.year()) * 12 + t.month() as i32 - first.month() as i32).max(0) as usize
            })
            .collect();
        Model {
            prices,
            held,
            month,
            now,
            going_rate: f64::INFINITY,
        }
    }

    /// The model with its going rate read off `central`: the cheapest CNY
    /// per byte served, over every purchase of up to [`MAX_COUNT`] of one
    /// offer made now (by what it serves of the demand within its validity)
    /// and over a month of pay-as-you-go.
    fn with_going_rate(mut self, central: &[f64]) -> Self {
        let month: f64 = central.iter().take(30).sum();
        let mut best = if month > 0.0 {
            self.prices.payg_cny(0.0, month) / month
        } else {
            f64::INFINITY
        };
        for offer in &self.prices.offers {
            let end = self.bought(offer, 1, 0).first().map_or(0.0, |h| h.end);
            let within: f64 = central.iter().take(end.floor().max(0.0) as usize).sum();
            for count in 1..=MAX_COUNT {
                let served = within.min(offer.size_bytes as f64 * f64::from(count));
                if served > 0.0 {
                    best = best.min(offer.cny * f64::from(count) / served);
                }
            }
        }
        self.going_rate = best;
        self
    }

    /// The packages of a purchase of `count` × `offer` made `after` days
    /// from now.
    fn bought(&self, offer: &Offer, count: u32, after: usize) -> Vec<Held> {
        let start = self.now + TimeDelta::days(after as i64);
        let end = start
            .checked_add_months(Months::new(offer.months))
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        let day = |t: DateTime<Utc>| (t - self.now).as_seconds_f64() / DAY;
        (0..count)
            .map(|_| Held {
                start: day(start),
                end: day(end),
                left: offer.size_bytes as f64,
            })
            .collect()
    }

    /// Runs `demand` against the packages plus `extra` over the first
    /// `days`: what no package covers is pay-as-you-go before day `rebuy`
    /// and bought later from it (when the going rate is known); the bytes
    /// that expire unused are counted over the whole run.
    fn run(&self, extra: &[Held], demand: &[f64], days: usize, rebuy: usize) -> Run {
        let mut held: Vec<Held> = self.held.iter().chain(extra).copied().collect();
        sort(&mut held);
        let mut month_total = vec![0.0; self.month.last().map_or(1, |m| m + 1)];
        let mut run = Run::default();
        for (d, want) in demand.iter().enumerate().take(RUN_DAYS) {
            let mid = d as f64 + 0.5;
            let mut want = *want;
            for h in held.iter_mut() {
                if want <= 0.0 {
                    break;
                }
                if h.start <= mid && mid < h.end {
                    let take = want.min(h.left);
                    h.left -= take;
                    want -= take;
                }
            }
            if d < days && want > 0.0 {
                if d >= rebuy && self.going_rate.is_finite() {
                    run.later_cny += want * self.going_rate;
                } else {
                    let m = self.month[d];
                    run.payg_cny += self.prices.payg_cny(month_total[m], want);
                    month_total[m] += want;
                    run.payg_bytes += want;
                }
            }
            // A package whose last day this was loses what it still holds.
            for h in held.iter_mut() {
                if h.end > mid && h.end <= mid + 1.0 && h.end <= RUN_DAYS as f64 {
                    run.wasted_bytes += h.left;
                    h.left = 0.0;
                }
            }
        }
        run
    }

    fn purchase(&self, offer: Option<&Offer>, count: u32, after: usize, demand: &DailyDemand) -> Purchase {
        let extra = offer.map_or_else(Vec::new, |o| self.bought(o, count, after));
        let short = self.run(&extra, &demand.early, HORIZON_DAYS, REBUY_DAYS);
        let waste = self.run(&extra, &demand.central, HORIZON_DAYS, REBUY_DAYS);
        let price = offer.map_or(0.0, |o| o.cny * f64::from(count));
        Purchase {
            count: if offer.is_some() { count } else { 0 },
            offer: offer.copied(),
            price_cny: price,
            wasted_bytes: waste.wasted_bytes.round() as u64,
            payg_bytes: short.payg_bytes.round() as u64,
            payg_cny: short.payg_cny,
            later_cny: short.later_cny,
            total_cny: price + short.payg_cny + short.later_cny,
        }
    }

    /// Every candidate bought `after` days from now, cheapest first.
    fn ranked(&self, after: usize, demand: &DailyDemand) -> Vec<Purchase> {
        self.ranked_up_to(after, demand, MAX_COUNT)
    }

    /// [`Model::ranked`] with at most `max_count` packages of an offer.
    fn ranked_up_to(&self, after: usize, demand: &DailyDemand, max_count: u32) -> Vec<Purchase> {
        let mut all = vec![self.purchase(None, 0, after, demand)];
        for offer in &self.prices.offers {
            for count in 1..=max_count.min(MAX_COUNT) {
                all.push(self.purchase(Some(offer), count, after, demand));
            }
        }
        // Totals are compared to the fen they are shown in: a difference
        // below it is rounding, and the cheaper price goes first.
        let fen = |p: &Purchase| (p.total_cny * 100.0).round();
        all.sort_by(|a, b| {
            fen(a)
                .total_cmp(&fen(b))
                .then(a.price_cny.total_cmp(&b.price_cny))
                .then(a.wasted_bytes.cmp(&b.wasted_bytes))
        });
        all
    }
}

fn sort(held: &mut [Held]) {
    held.sort_by(|a, b| a.end.total_cmp(&b.end).then(a.start.total_cmp(&b.start)));
}

/// The purchase advice for the traffic pool of `region` holding `packages`
/// (with `undeducted` billed but not yet deducted), under `demand`, priced
/// by `prices`.
pub fn advise<'p>(
    region: Region,
    packages: impl IntoIterator<Item = &'p Package>,
    undeducted: u64,
    demand: &DailyDemand,
    prices: &RegionPrices,
    now: DateTime<Utc>,
) -> Advice {
    let model = Model::new(packages, undeducted, prices, now).with_going_rate(&demand.central);
    let ranked = model.ranked(0, demand);
    // Buying nothing is always among the candidates.
    let nothing = ranked
        .iter()
        .find(|p| p.offer.is_none())
        .copied()
        .unwrap_or_else(|| model.purchase(None, 0, 0, demand));
    let best = ranked.first().copied().unwrap_or(nothing);
    // Waiting means buying in a week: buying nothing then is no purchase,
    // and its later buying is already in its total.
    let later = model.ranked(WAIT_DAYS, demand);
    let waiting = later
        .iter()
        .find(|p| p.offer.is_some())
        .map_or(0.0, |p| p.total_cny - best.total_cny);
    Advice {
        region,
        best,
        next: ranked.iter().skip(1).take(2).copied().collect(),
        nothing,
        waiting_a_week_cny: waiting,
        basis: BASIS,
        purchase_url: PURCHASE_URL,
    }
}

/// The cheapest purchase that buys something, of at most `max_count`
/// packages of one of `prices`' offers: what an order must choose once a
/// shortfall has decided that it buys.
pub fn cheapest_purchase<'p>(
    packages: impl IntoIterator<Item = &'p Package>,
    undeducted: u64,
    demand: &DailyDemand,
    prices: &RegionPrices,
    max_count: u32,
    now: DateTime<Utc>,
) -> Option<Purchase> {
    let model = Model::new(packages, undeducted, prices, now).with_going_rate(&demand.central);
    model
        .ranked_up_to(0, demand, max_count)
        .into_iter()
        .find(|p| p.offer.is_some())
}

/// The money at stake in a traffic pool if nothing is bought: 30 days of
/// pay-as-you-go at the central forecast, and the value of the bytes the
/// forecast leaves to expire (`unused`, per package, as the projection has
/// them).
pub fn money_at_stake<'p>(
    packages: impl IntoIterator<Item = (&'p Package, u64)> + Clone,
    undeducted: u64,
    demand: &DailyDemand,
    prices: &RegionPrices,
    now: DateTime<Utc>,
) -> MoneyAtStake {
    let model = Model::new(packages.clone().into_iter().map(|(p, _)| p), undeducted, prices, now);
    // Money at stake is what happens if nothing is bought: all of it
    // pay-as-you-go.
    let overage = model.run(&[], &demand.central, 30, 30).payg_cny;
    let value = packages
        .into_iter()
        .filter(|(_, u)| *u > 0)
        .filter_map(|(p, u)| Some(u as f64 * prices.paid_per_byte(p.size_bytes, months_of(p))?))
        .sum();
    MoneyAtStake {
        overage_cost_30d_cny: overage,
        expiring_unused_value_cny: value,
    }
}

/// A package's validity in whole months (30.44 days each), at least 1.
pub fn months_of(p: &Package) -> u32 {
    let days = (p.expires_at - p.enabled_at).as_seconds_f64() / DAY;
    ((days / 30.44).round() as u32).max(1)
}

#[cfg(test)]
mod tests {
    //! Each case is worked by hand in its comments, on small price tables
    //! so the arithmetic stays checkable.
    use super::*;
    use crate::pricing::PaygTier;
    use crate::testing::{at, package};

    const GB: u64 = 1_000_000_000;
    const TB: u64 = 1_000 * GB;
    const NOW: &str = "2026-06-01 00:00:00";

    /// Mainland's real pay-as-you-go steps, and the offers given.
    fn prices(offers: &[(u64, u32, f64)]) -> RegionPrices {
        let mut p = crate::pricing::PriceTable::list_prices().regions[&Region::Mainland].clone();
        p.offers = offers
            .iter()
            .map(|&(size_bytes, months, cny)| Offer {
                size_bytes,
                months,
                cny,
            })
            .collect();
        p
    }

    fn gb_per_day(central: u64, early: u64) -> DailyDemand {
        DailyDemand::flat((central * GB) as f64, (early * GB) as f64)
    }

    #[test]
    fn a_month_that_crosses_a_pay_as_you_go_step_is_priced_on_both_sides() {
        // No packages, 100 GB a day from 1 June (China time 08:00 on the
        // 1st, so day d falls in June for d < 30). June: 30 days × 100 GB
        // = 3 TB: the first 2 TB at 0.21 (¥420), the next 1 TB at 0.20
        // (¥200), ¥620. The 30-day overage is exactly June.
        let p = prices(&[]);
        let m = money_at_stake([], 0, &gb_per_day(100, 100), &p, at(NOW));
        assert!((m.overage_cost_30d_cny - 620.0).abs() < 1e-6, "{m:?}");
        assert_eq!(m.expiring_unused_value_cny, 0.0);
        // Had every GB cost 0.21, it would be ¥630: the step saves ¥10.
    }

    #[test]
    fn a_purchase_that_expires_with_bytes_left_wastes_them() {
        // 10 GB a day (both bounds) and a 1-month 1 TB offer at ¥165.
        // The going rate: a month of pay-as-you-go is 300 GB at 0.21; the
        // offer serves 300 GB of its month for ¥165 (0.55/GB); so 0.21/GB.
        // Bought now it is valid 1 June → 1 July, 30 days: it serves 300 GB
        // and 700 GB expire unused. The 335 days after are bought later:
        // 3,350 GB at 0.21, ¥703.50; nothing is pay-as-you-go within the
        // first week.
        let p = prices(&[(TB, 1, 165.0)]);
        let demand = gb_per_day(10, 10);
        let model = Model::new([], 0, &p, at(NOW)).with_going_rate(&demand.central);
        let one = model.purchase(p.offers.first(), 1, 0, &demand);
        assert_eq!(one.wasted_bytes, 700 * GB);
        assert_eq!(one.payg_bytes, 0);
        assert!((one.later_cny - 703.5).abs() < 1e-6, "{one:?}");
        assert!((one.total_cny - 868.5).abs() < 1e-6, "{one:?}");
    }

    #[test]
    fn a_big_package_cheaper_per_gb_is_worse_when_half_of_it_expires() {
        // 2.74 GB a day ≈ 1 TB a year. Offers for 12 months: 1 TB at ¥194
        // (0.194/GB) and 2 TB at ¥300 (0.15/GB, cheaper per GB).
        // The going rate is what a purchase costs per GB it serves within
        // its year (1000.1 GB): 1 TB 0.194, 2 TB 0.29997, a month of
        // pay-as-you-go 0.21; so 0.194/GB.
        // 1 TB: 365 × 2.74 = 1000.1 GB wanted: ~0.1 GB bought later on the
        // last day (¥0.02), nothing wasted: ¥194.02.
        // 2 TB: covers the year, but 1 TB (half) expires unused: ¥300.
        // The advice is the 1 TB, although it costs more per GB.
        let p = prices(&[(TB, 12, 194.0), (2 * TB, 12, 300.0)]);
        let demand = DailyDemand::flat(2.74 * GB as f64, 2.74 * GB as f64);
        let a = advise(Region::Mainland, [], 0, &demand, &p, at(NOW));
        assert_eq!(a.best.offer.map(|o| o.size_bytes), Some(TB), "{a:?}");
        assert_eq!(a.best.count, 1);
        assert!((a.best.total_cny - 194.0).abs() < 0.1, "{a:?}");
        let big = [a.best]
            .into_iter()
            .chain(a.next.iter().copied())
            .find(|p| p.offer.map(|o| o.size_bytes) == Some(2 * TB));
        let big = big.expect("2 TB among the three cheapest");
        assert!(big.wasted_bytes > 990 * GB && big.wasted_bytes < 1_001 * GB, "{big:?}");
        assert!((big.total_cny - 300.0).abs() < 1e-6);
        // Buying nothing: the first week's 19.18 GB pay-as-you-go at 0.21
        // (¥4.03), the other 358 days' 980.92 GB bought later at 0.194
        // (¥190.30): ¥194.33, dearer than the 1 TB by the week.
        assert_eq!(a.nothing.payg_bytes, 19_180_000_000);
        assert!((a.nothing.total_cny - 194.326).abs() < 0.01, "{:?}", a.nothing);
    }

    #[test]
    fn waiting_a_week_pays_the_week_it_runs_dry() {
        // 50 GB left, 100 GB a day: dry after half a day. One offer, 12
        // months × 50 TB at a discounted ¥6,000 (more than a year's 36.5 TB).
        // The going rate: the offer serves the year's 36.5 TB for ¥6,000
        // (0.16438/GB), cheaper than a month of pay-as-you-go (3 TB for
        // ¥620, 0.2067/GB).
        // Bought now: the year is covered, nothing pay-as-you-go: ¥6,000.
        // Bought in a week: days 0–6 want 700 GB, 50 GB held: 650 GB
        // pay-as-you-go at 0.21 = ¥136.50, then covered: ¥6,136.50.
        // Waiting costs ¥136.50.
        // Buying nothing: the same ¥136.50 for the first week, then the
        // other 358 days' 35,800 GB bought later at 0.16438 (¥5,884.93):
        // ¥6,021.43, less than waiting, which buys a year from day 7 and
        // so wastes the week it does not use.
        let p = prices(&[(50 * TB, 12, 6_000.0)]);
        let held = package("1", 100 * GB, 50 * GB, "2026-01-01 00:00:00", "2027-01-01 00:00:00");
        let a = advise(Region::Mainland, [&held], 0, &gb_per_day(100, 100), &p, at(NOW));
        assert_eq!(a.best.count, 1);
        assert_eq!(a.best.payg_bytes, 0);
        assert!((a.best.total_cny - 6_000.0).abs() < 1e-6, "{a:?}");
        assert!((a.nothing.total_cny - 6_021.431_5).abs() < 1e-3, "{:?}", a.nothing);
        assert!((a.waiting_a_week_cny - 136.5).abs() < 1e-6, "{a:?}");
    }

    #[test]
    fn the_early_bound_sizes_the_shortfall_and_the_central_forecast_the_waste() {
        // Central 5 GB a day; the early bound 40 GB a day for the first 30
        // days, then central. 12-month offers: 2 TB ¥380 and 3 TB ¥560.
        // At the early bound the year wants 30 × 40 + 335 × 5 = 2,875 GB.
        // The going rate, read off the central year (1,825 GB): 2 TB
        // serves it for ¥380 (0.20822/GB), 3 TB for ¥560, a month of
        // pay-as-you-go at 0.21; so 0.20822/GB.
        // With 2 TB: days 0–29 take 1,200 GB, days 30–189 the other 800,
        // days 190–364 (175 × 5 = 875 GB) are bought later: 875 × 380 /
        // 1,825 = ¥182.19, total ¥562.19, and the output says the early
        // bound limits it.
        // With 3 TB nothing is left to buy: ¥560. So 3 TB. At the central
        // forecast alone (1,825 GB) the 2 TB, ¥380, would have been enough.
        let p = prices(&[(2 * TB, 12, 380.0), (3 * TB, 12, 560.0)]);
        let a = advise(Region::Mainland, [], 0, &gb_per_day(5, 40), &p, at(NOW));
        assert_eq!(a.best.offer.map(|o| o.size_bytes), Some(3 * TB), "{a:?}");
        assert!((a.best.total_cny - 560.0).abs() < 1e-6);
        let two = a
            .next
            .iter()
            .find(|p| p.offer.map(|o| o.size_bytes) == Some(2 * TB) && p.count == 1);
        let two = two.expect("1 × 2 TB among the next best");
        assert_eq!(two.payg_bytes, 0);
        assert!((two.later_cny - 875.0 * 380.0 / 1_825.0).abs() < 1e-6, "{two:?}");
        // Buying nothing: the first week's 280 GB pay-as-you-go at 0.21
        // (¥58.80), then days 7–29 (920 GB) and 30–364 (1,675 GB) bought
        // later at 0.20822: ¥540.33; ¥599.13.
        assert_eq!(a.nothing.payg_bytes, 280 * GB);
        assert!(
            (a.nothing.total_cny - (58.8 + 2_595.0 * 380.0 / 1_825.0)).abs() < 1e-6,
            "{:?}",
            a.nothing
        );
        assert_eq!(two.limited_by(), "early bound: less would run dry sooner");
        assert_eq!(a.basis, BASIS);
    }

    #[test]
    fn a_shortfall_more_than_a_week_away_is_bought_later() {
        // 100 GB left, 10 GB a day: dry on day 10. One offer, 1 TB for 12
        // months at ¥194. The going rate: 1 TB serves 1,000 of the year's
        // 3,650 GB for ¥194 (0.194/GB; 5 × 1 TB 970 / 3,650 = 0.266, a
        // month of pay-as-you-go 0.21).
        // Nothing: days 10–364, 3,550 GB, bought later: ¥688.70.
        // 1 TB now: the held 100 GB and the 1,000 last to day 110; days
        // 110–364, 2,550 GB, later: ¥194 + ¥494.70 = ¥688.70, the same.
        // On a tie the cheaper price goes first: nothing yet, and the
        // advice will change once the shortfall is inside the week that
        // is priced pay-as-you-go.
        let p = prices(&[(TB, 12, 194.0)]);
        let held = package("1", 100 * GB, 0, "2026-01-01 00:00:00", "2027-01-01 00:00:00");
        let a = advise(Region::Mainland, [&held], 0, &gb_per_day(10, 10), &p, at(NOW));
        assert_eq!(a.best.offer, None, "{a:?}");
        assert!((a.best.total_cny - 688.7).abs() < 1e-6, "{a:?}");
        assert!((a.next[0].total_cny - 688.7).abs() < 1e-6, "{a:?}");
        assert!(a.best.limited_by().starts_with("nothing yet"));
        // Three days from dry, days 0–2 are covered and 3–6 (40 GB) are
        // pay-as-you-go at 0.21 if nothing is bought: ¥8.40 more than
        // buying, so the 1 TB is advised.
        let held = package("1", 30 * GB, 0, "2026-01-01 00:00:00", "2027-01-01 00:00:00");
        let a = advise(Region::Mainland, [&held], 0, &gb_per_day(10, 10), &p, at(NOW));
        assert_eq!(a.best.offer.map(|o| o.size_bytes), Some(TB), "{a:?}");
        assert!((a.nothing.payg_cny - 8.4).abs() < 1e-6, "{a:?}");
    }

    #[test]
    fn a_package_is_valued_at_what_it_was_paid() {
        // A 1 TB 12-month package with 400 GB forecast to expire unused,
        // bought at ¥194: 400 GB × ¥0.194 = ¥77.60.
        let p = prices(&[(TB, 12, 194.0)]);
        let held = package("1", TB, 100 * GB, "2026-01-01 00:00:00", "2027-01-01 00:00:00");
        let m = money_at_stake([(&held, 400 * GB)], 0, &gb_per_day(1, 1), &p, at(NOW));
        assert!((m.expiring_unused_value_cny - 77.6).abs() < 1e-6, "{m:?}");
        assert_eq!(m.overage_cost_30d_cny, 0.0);
    }

    #[test]
    fn tiers_are_taken_from_the_region_table() {
        let mut p = prices(&[]);
        p.payg = vec![PaygTier {
            up_to_bytes: None,
            cny_per_gb: 1.0,
        }];
        // 1 GB a day for 30 days at ¥1/GB: ¥30.
        let m = money_at_stake([], 0, &gb_per_day(1, 1), &p, at(NOW));
        assert!((m.overage_cost_30d_cny - 30.0).abs() < 1e-6);
    }
}
