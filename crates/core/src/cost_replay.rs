//! What recorded polls cost, against what following the advice would have
//! cost: the money part of `cdnquota backtest`.
//!
//! Two operators face the traffic the history shows, from the packages of
//! its first poll:
//!
//! - **recorded** buys what the history shows bought (package ids not seen
//!   before), priced from the table: the nearest listed size's per-GB
//!   price, for 1 month when valid a month or less, else for 12;
//! - **advice** buys what the replay advised for the mainland traffic
//!   pool, when it was first advised for a shortfall (a run of polls with
//!   advice), at the table's price for that offer.
//!
//! The traffic is what the recorded packages were deducted between polls;
//! while the recorded pool was empty it is not seen, and is taken as the
//! last known rate: pay-as-you-go for the recorded operator. Each month's
//! pay-as-you-go starts at the first step of its China-time month. Bytes
//! bought and still held at the end are credited (see [`CostReplay::totals`]).

use crate::advice::Advice;
use crate::model::{Package, PoolKey, Snapshot};
use crate::pool::{is_usable, remaining_bytes};
use crate::pricing::RegionPrices;
use chrono::{DateTime, Datelike, FixedOffset, Months, Utc};
use serde::Serialize;
use std::collections::BTreeMap;

/// A package the advice operator holds.
#[derive(Clone, Debug)]
struct Held {
    left: f64,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    /// What a byte of it cost (0 for the packages both start with).
    per_byte: f64,
}

/// One operator's totals.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Totals {
    /// Purchases and pay-as-you-go, CNY.
    pub cost_cny: f64,
    /// Traffic no package covered.
    pub payg_bytes: f64,
    /// Bytes that expired unused.
    pub wasted_bytes: f64,
}

/// Pay-as-you-go as it accrues, month by month.
#[derive(Clone, Debug, Default)]
struct Payg {
    month: (i32, u32),
    in_month: f64,
}

impl Payg {
    fn add(&mut self, prices: &RegionPrices, at: DateTime<Utc>, bytes: f64, totals: &mut Totals) {
        if bytes <= 0.0 {
            return;
        }
        let china = at.with_timezone(&FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| chrono::Offset::fix(&Utc)));
        let month = (china.year(), china.month());
        if month != self.month {
            self.month = month;
            self.in_month = 0.0;
        }
        totals.cost_cny += prices.payg_cny(self.in_month, bytes);
        self.in_month += bytes;
        totals.payg_bytes += bytes;
    }
}

/// The comparison in progress: feed it every poll, in time order.
pub struct CostReplay {
    prices: RegionPrices,
    /// Recorded packages as last seen, by id.
    last: BTreeMap<String, Package>,
    last_at: Option<DateTime<Utc>>,
    rate: Option<f64>,
    held: Vec<Held>,
    in_shortfall: bool,
    recorded: Totals,
    advice: Totals,
    recorded_payg: Payg,
    advice_payg: Payg,
    /// What each recorded purchase cost, by id.
    bought: BTreeMap<String, f64>,
}

/// The price a recorded purchase is counted at.
fn recorded_price(prices: &RegionPrices, p: &Package) -> f64 {
    let days = (p.expires_at - p.enabled_at).as_seconds_f64() / 86_400.0;
    let months = if days <= 31.0 { 1 } else { 12 };
    prices.paid_per_byte(p.size_bytes, months).unwrap_or(0.0) * p.size_bytes as f64
}

impl CostReplay {
    /// A comparison priced by `prices` (the mainland table).
    pub fn new(prices: RegionPrices) -> Self {
        CostReplay {
            prices,
            last: BTreeMap::new(),
            last_at: None,
            rate: None,
            held: Vec::new(),
            in_shortfall: false,
            recorded: Totals::default(),
            advice: Totals::default(),
            recorded_payg: Payg::default(),
            advice_payg: Payg::default(),
            bought: BTreeMap::new(),
        }
    }

    /// Takes one poll: its mainland traffic packages, and the replay's
    /// recent rate and advice for that pool at it.
    pub fn step(&mut self, snapshot: &Snapshot, rate: Option<f64>, advice: Option<&Advice>) {
        let now = snapshot.taken_at;
        let packages: BTreeMap<String, Package> = snapshot
            .packages
            .iter()
            .filter(|p| p.pool() == PoolKey::MAINLAND_TRAFFIC)
            .map(|p| (p.id.clone(), p.clone()))
            .collect();
        let Some(before) = self.last_at else {
            // Both start with what the first poll holds.
            self.held = packages
                .values()
                .filter(|p| remaining_bytes(p) > 0 && p.expires_at > now)
                .map(|p| Held {
                    left: remaining_bytes(p) as f64,
                    from: p.enabled_at,
                    to: p.expires_at,
                    per_byte: 0.0,
                })
                .collect();
            self.last = packages;
            self.last_at = Some(now);
            self.rate = rate;
            return;
        };
        // What the recorded packages were deducted since the poll before.
        let deducted: f64 = packages
            .values()
            .map(|p| {
                let was = self.last.get(&p.id).map_or(0, |q| q.used_bytes);
                p.used_bytes.saturating_sub(was) as f64
            })
            .sum();
        let empty = |ps: &BTreeMap<String, Package>, at| {
            ps.values()
                .filter(|p| is_usable(p, at))
                .map(remaining_bytes)
                .sum::<u64>()
                == 0
        };
        let unseen = if empty(&self.last, before) && empty(&packages, now) {
            self.rate.unwrap_or(0.0) * (now - before).as_seconds_f64()
        } else {
            0.0
        };
        self.recorded_payg.add(&self.prices, now, unseen, &mut self.recorded);
        for p in packages.values().filter(|p| !self.last.contains_key(&p.id)) {
            let price = recorded_price(&self.prices, p);
            self.recorded.cost_cny += price;
            self.bought.insert(p.id.clone(), price);
        }
        for p in self
            .last
            .values()
            .filter(|p| p.expires_at > before && p.expires_at <= now)
        {
            self.recorded.wasted_bytes += remaining_bytes(p) as f64;
        }
        // The advice operator's packages meet the same traffic.
        let mut want = deducted + unseen;
        let mid = before + (now - before) / 2;
        self.held.sort_by_key(|h| (h.to, h.from));
        for h in self.held.iter_mut().filter(|h| h.from <= mid && mid < h.to) {
            let take = want.min(h.left);
            h.left -= take;
            want -= take;
        }
        self.advice_payg.add(&self.prices, now, want, &mut self.advice);
        for h in self.held.iter_mut().filter(|h| h.to > before && h.to <= now) {
            self.advice.wasted_bytes += h.left;
            h.left = 0.0;
        }
        match advice {
            None => self.in_shortfall = false,
            Some(a) if !self.in_shortfall => {
                self.in_shortfall = true;
                if let Some(offer) = a.best.offer {
                    let to = now.checked_add_months(Months::new(offer.months)).unwrap_or(now);
                    for _ in 0..a.best.count {
                        self.held.push(Held {
                            left: offer.size_bytes as f64,
                            from: now,
                            to,
                            per_byte: offer.per_byte(),
                        });
                    }
                    self.advice.cost_cny += offer.cny * f64::from(a.best.count);
                }
            }
            Some(_) => {}
        }
        self.last = packages;
        self.last_at = Some(now);
        self.rate = rate.or(self.rate);
    }

    /// The totals so far: (advice, recorded). Bytes bought and still held
    /// at the last poll are credited at what they cost, up to what the last
    /// rate uses before they expire: a purchase that outlasts the history
    /// is neither wasted nor free.
    pub fn totals(&self) -> (Totals, Totals) {
        let Some(end) = self.last_at else {
            return (self.advice, self.recorded);
        };
        let rate = self.rate.unwrap_or(0.0);
        let credit = |mut held: Vec<(DateTime<Utc>, f64, f64)>| {
            // Nearest expiry first, as they would be used.
            held.sort_by_key(|h| h.0);
            let mut used = 0.0;
            let mut credit = 0.0;
            for (to, left, per_byte) in held {
                let usable = (rate * (to - end).as_seconds_f64() - used).max(0.0);
                let take = left.min(usable);
                used += take;
                credit += take * per_byte;
            }
            credit
        };
        let advice_held: Vec<_> = self
            .held
            .iter()
            .filter(|h| h.to > end && h.per_byte > 0.0)
            .map(|h| (h.to, h.left, h.per_byte))
            .collect();
        let recorded_held: Vec<_> = self
            .last
            .values()
            .filter(|p| p.expires_at > end)
            .filter_map(|p| {
                let price = self.bought.get(&p.id)?;
                let per_byte = price / p.size_bytes.max(1) as f64;
                Some((p.expires_at, remaining_bytes(p) as f64, per_byte))
            })
            .collect();
        let mut advice = self.advice;
        advice.cost_cny -= credit(advice_held);
        let mut recorded = self.recorded;
        recorded.cost_cny -= credit(recorded_held);
        (advice, recorded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::advice::{Advice, BASIS, PURCHASE_URL, Purchase};
    use crate::model::Region;
    use crate::pricing::{Offer, PriceTable};
    use crate::testing::{at, package};

    const GB: u64 = 1_000_000_000;

    fn purchase(offer: Option<Offer>, count: u32) -> Purchase {
        Purchase {
            count,
            offer,
            price_cny: 0.0,
            wasted_bytes: 0,
            payg_bytes: 0,
            payg_cny: 0.0,
            later_cny: 0.0,
            total_cny: 0.0,
        }
    }

    #[test]
    fn recorded_pay_as_you_go_while_empty_and_advice_bought_once_per_shortfall() {
        let prices = PriceTable::list_prices().regions[&Region::Mainland].clone();
        let offer = Offer {
            size_bytes: 1000 * GB,
            months: 12,
            cny: 194.0,
        };
        let advice = Advice {
            region: Region::Mainland,
            best: purchase(Some(offer), 1),
            next: Vec::new(),
            nothing: purchase(None, 0),
            waiting_a_week_cny: 0.0,
            basis: BASIS,
            purchase_url: PURCHASE_URL,
        };
        let snap = |when: &str, used: u64| Snapshot {
            taken_at: at(when),
            packages: vec![package(
                "1",
                100 * GB,
                used,
                "2026-01-01 00:00:00",
                "2027-01-01 00:00:00",
            )],
        };
        let mut c = CostReplay::new(prices);
        // 100 GB an hour. Advised at 01:00 and 02:00: bought once, ¥194.
        c.step(&snap("2026-06-01 00:00:00", 0), None, None);
        c.step(
            &snap("2026-06-01 01:00:00", 100 * GB),
            Some(100.0 * GB as f64 / 3600.0),
            Some(&advice),
        );
        c.step(&snap("2026-06-01 02:00:00", 100 * GB), None, Some(&advice));
        // 01:00–02:00 the recorded pool was empty at both ends: 100 GB at
        // the last rate, pay-as-you-go at 0.21 = ¥21. The advice operator
        // had its 1 TB from 01:00: nothing pay-as-you-go.
        c.step(&snap("2026-06-01 03:00:00", 100 * GB), None, None);
        let (a, r) = c.totals();
        // At 03:00 the 1 TB holds 800 GB, which the last rate (100 GB an
        // hour) uses long before it expires: credited at ¥0.194 a GB,
        // ¥155.20. ¥194 - ¥155.20 = ¥38.80.
        assert!((a.cost_cny - 38.8).abs() < 1e-6, "{a:?}");
        assert_eq!(a.payg_bytes, 0.0);
        // Two empty hours (01–02, 02–03): 200 GB, ¥42.
        assert!((r.payg_bytes - 200.0 * GB as f64).abs() < 1.0, "{r:?}");
        assert!((r.cost_cny - 42.0).abs() < 1e-6, "{r:?}");
    }
}
