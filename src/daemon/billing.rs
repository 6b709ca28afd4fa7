//! What an API 3.0 key can tell about an account's billing, each on a
//! schedule of its own, for the pools that have billing data: the mainland
//! traffic pool (`Metric` flux, `Area` mainland) and the HTTPS request pool
//! (`Metric` https, mainland and overseas added up). Overseas traffic pools
//! have none: DescribeBillingData's overseas `District` is a country, not a
//! billing region, so they learn from their own polls.
//!
//! - Billed hours, into each pool's hourly history: the last 30 days at
//!   start, then the hours settled since, at most hourly.
//! - Recent 5-minute points, at most every 9 minutes: what is billed but
//!   not yet deducted, the hours settled since (into the history), and the
//!   rate where BytesUsed settles by day or month.
//! - The pay type of each area, at start and then daily.
//!
//! A key or endpoint that may not read one of them is reported in one line
//! and never asked again; the daemon carries on without it.

use cdnquota_core::lag;
use cdnquota_core::model::{BillingArea, BillingCycle, PayType, PoolKey, Region, Resource};
use chrono::{DateTime, TimeDelta, Utc};
use std::collections::BTreeMap;
use std::sync::Mutex;
use tencent_cdn_api::error::ApiError;
use tencent_cdn_api::v3::V3Client;
use tencent_cdn_api::v3_billing::{BillingInterval, BillingMetric};

/// How much billed traffic is asked for at start: the last 30 days.
const BACKFILL: TimeDelta = TimeDelta::days(30);
/// Billed hours are taken once they are this old: Tencent's figure for the
/// latest hours is not final yet.
const SETTLED: TimeDelta = TimeDelta::hours(2);
/// Recent points are asked for at most this often: a little under 10
/// minutes, so that the default 10-minute schedule reads them every poll
/// and a faster one does not multiply the requests.
const RECENT_EVERY: TimeDelta = TimeDelta::minutes(9);
/// The pay type is asked for this often.
const PAY_TYPE_EVERY: TimeDelta = TimeDelta::hours(24);
/// A pool whose history has billed hours this recent is kept up to date by
/// the recent points (their settled hours go into it), and asks for no
/// hours of its own.
const RECENT_COVERS: TimeDelta = TimeDelta::hours(6);
/// The longest span one DescribeBillingData query may cover.
const QUERY_SPAN: TimeDelta = TimeDelta::days(31);

/// The HTTPS request pool.
pub const HTTPS_POOL: PoolKey = PoolKey {
    resource: Resource::HttpsRequests,
    region: Region::Global,
};

/// The pools that have billing data, and how to ask for it.
fn sources(pool: PoolKey) -> Option<(BillingMetric, &'static [BillingArea])> {
    match pool {
        PoolKey::MAINLAND_TRAFFIC => Some((BillingMetric::Flux, &[BillingArea::Mainland])),
        HTTPS_POOL => Some((BillingMetric::Https, &[BillingArea::Mainland, BillingArea::Overseas])),
        _ => None,
    }
}

#[derive(Debug, Default, Clone)]
struct State {
    /// The key may not read billing data.
    billing_refused: bool,
    /// The pay types the key may not read: asked once, never again.
    pay_refused: Vec<(BillingArea, Resource)>,
    next_hourly: Option<DateTime<Utc>>,
    next_recent: Option<DateTime<Utc>>,
    next_pay: Option<DateTime<Utc>>,
    pay_types: Vec<PayType>,
    recent: BTreeMap<PoolKey, BTreeMap<DateTime<Utc>, f64>>,
}

/// One account's billing reads.
#[derive(Debug, Default)]
pub struct AccountBilling {
    state: Mutex<State>,
}

/// The amounts of `areas` added up by point, from `from` to `to` in
/// queries of at most [`QUERY_SPAN`].
async fn billed(
    client: &V3Client,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    metric: BillingMetric,
    areas: &[BillingArea],
    interval: BillingInterval,
) -> Result<BTreeMap<DateTime<Utc>, f64>, ApiError> {
    let mut points: BTreeMap<DateTime<Utc>, f64> = BTreeMap::new();
    for area in areas {
        // The API's EndTime is inclusive: a point on the boundary of two
        // queries comes twice, and is taken once.
        let mut this_area = BTreeMap::new();
        let mut start = from;
        while start < to {
            let end = (start + QUERY_SPAN).min(to);
            this_area.extend(client.billing_data(start, end, *area, metric, interval).await?);
            start = end;
        }
        for (t, amount) in this_area {
            *points.entry(t).or_default() += amount;
        }
    }
    Ok(points)
}

impl AccountBilling {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes over what the watch a reload replaces knew.
    pub fn carry_from(&self, old: &AccountBilling) {
        *self.lock() = old.lock().clone();
    }

    /// The pay types last read.
    pub fn pay_types(&self) -> Vec<PayType> {
        self.lock().pay_types.clone()
    }

    /// The recent points of each pool that has them, oldest first.
    pub fn recent(&self) -> BTreeMap<PoolKey, Vec<(DateTime<Utc>, f64)>> {
        self.lock()
            .recent
            .iter()
            .map(|(k, points)| (*k, points.iter().map(|(t, a)| (*t, *a)).collect()))
            .collect()
    }

    /// The billing cycle of `pool`, hourly unless the pay type says.
    fn cycle(&self, pool: PoolKey) -> BillingCycle {
        self.lock()
            .pay_types
            .iter()
            .find(|p| p.covers(pool))
            .and_then(|p| p.billing_cycle)
            .unwrap_or(BillingCycle::Hour)
    }

    /// Reads the pay types when due: mainland and overseas traffic, and
    /// HTTPS requests, each on its own: one the key may not read is said
    /// once and not asked again, and a passing failure keeps the last one
    /// known and is asked again in an hour.
    pub async fn refresh_pay_types(&self, account: &str, client: &V3Client, now: DateTime<Utc>) {
        if self.lock().next_pay.is_some_and(|t| now < t) {
            return;
        }
        let asks = [
            (BillingArea::Mainland, Resource::Traffic),
            (BillingArea::Overseas, Resource::Traffic),
            (BillingArea::Global, Resource::HttpsRequests),
        ];
        let mut next = now + PAY_TYPE_EVERY;
        for ask in asks {
            if self.lock().pay_refused.contains(&ask) {
                continue;
            }
            let (area, resource) = ask;
            let result = client.pay_type(area, resource).await;
            let mut s = self.lock();
            match result {
                Ok(p) => {
                    s.pay_types.retain(|known| (known.area, known.resource) != ask);
                    s.pay_types.push(p);
                }
                Err(e) if e.is_not_permitted() => {
                    if s.pay_refused.is_empty() {
                        tracing::warn!(
                            account = %account,
                            "DescribePayType is not available ({e}): packages are assumed to deduct, and PackagesNotDeducting cannot fire; grant the key cdn:DescribePayType to have the billing mode checked"
                        );
                    }
                    s.pay_refused.push(ask);
                    s.pay_types.retain(|known| (known.area, known.resource) != ask);
                }
                Err(e) => {
                    tracing::warn!(account = %account, area = area.name(), "DescribePayType failed: {e}; the last known billing mode stands, asked again in an hour");
                    next = next.min(now + TimeDelta::hours(1));
                }
            }
        }
        self.lock().next_pay = Some(next);
    }

    /// Whether billing data may be asked for and the read that `next` picks
    /// is due at `now`.
    fn billing_due(&self, next: impl Fn(&State) -> Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
        let s = self.lock();
        !s.billing_refused && next(&s).is_none_or(|t| now >= t)
    }

    fn refuse_billing(&self, account: &str, e: &ApiError) {
        tracing::warn!(
            account = %account,
            "DescribeBillingData is not available ({e}): the forecast uses the daemon's own history and the deduction lag is not estimated; grant the key cdn:DescribeBillingData to let it see real demand from the first poll"
        );
        let mut s = self.lock();
        s.billing_refused = true;
        s.recent.clear();
    }

    /// Reads the billed hours of the last 30 days into each billed pool's
    /// history at start, and again, at most hourly, wherever the recent
    /// points have not kept it up to date (a gap after failed reads).
    pub async fn refresh_hourly(
        &self,
        account: &str,
        client: &V3Client,
        pools: &[PoolKey],
        histories: &Mutex<crate::history_file::AccountHistories>,
        now: DateTime<Utc>,
    ) {
        if !self.billing_due(|s| s.next_hourly, now) {
            return;
        }
        let settled = now - SETTLED;
        let mut next = now + TimeDelta::hours(1);
        for pool in pools {
            let Some((metric, areas)) = sources(*pool) else {
                continue;
            };
            let last_billed = {
                let h = histories.lock().unwrap_or_else(|p| p.into_inner());
                h.pools.get(pool).and_then(|h| h.hourly.last_billed())
            };
            if last_billed.is_some_and(|t| now - t < RECENT_COVERS) {
                continue;
            }
            // The last day again too: Tencent may still correct late hours.
            let from = last_billed
                .map_or(now - BACKFILL, |t| t - TimeDelta::hours(24))
                .max(now - BACKFILL);
            if from >= settled {
                next = next.min(now + TimeDelta::minutes(30));
                continue;
            }
            match billed(client, from, settled, metric, areas, BillingInterval::Hour).await {
                Ok(hours) => {
                    let complete: Vec<(DateTime<Utc>, f64)> = hours
                        .into_iter()
                        .filter(|(start, _)| *start + TimeDelta::hours(1) <= settled)
                        .collect();
                    tracing::info!(account = %account, pool = %pool, "read {} hour(s) of billing data", complete.len());
                    let mut h = histories.lock().unwrap_or_else(|p| p.into_inner());
                    h.pools.entry(*pool).or_default().add_billing(&complete);
                }
                Err(e) if e.is_not_permitted() => return self.refuse_billing(account, &e),
                Err(e) => {
                    tracing::warn!(account = %account, pool = %pool, "DescribeBillingData failed: {e}; tried again in an hour");
                }
            }
        }
        self.lock().next_hourly = Some(next);
    }

    /// Reads the 5-minute points of each billed pool since the earliest
    /// moment its deduction lag may reach back to, at most every 9
    /// minutes, keeping what was read before.
    pub async fn refresh_recent(&self, account: &str, client: &V3Client, pools: &[PoolKey], now: DateTime<Utc>) {
        if !self.billing_due(|s| s.next_recent, now) {
            return;
        }
        for pool in pools {
            let Some((metric, areas)) = sources(*pool) else {
                continue;
            };
            let keep_from = lag::window_start(self.cycle(*pool), now);
            let from = {
                let s = self.lock();
                // The last 15 minutes again: the latest points fill in late.
                s.recent
                    .get(pool)
                    .and_then(|p| p.keys().next_back())
                    .map_or(keep_from, |last| *last - TimeDelta::minutes(15))
                    .max(keep_from)
            };
            match billed(client, from, now, metric, areas, BillingInterval::FiveMinutes).await {
                Ok(points) => {
                    let mut s = self.lock();
                    let kept = s.recent.entry(*pool).or_default();
                    kept.retain(|t, _| *t >= keep_from);
                    kept.extend(points);
                }
                Err(e) if e.is_not_permitted() => return self.refuse_billing(account, &e),
                Err(e) => {
                    tracing::warn!(account = %account, pool = %pool, "DescribeBillingData failed: {e}; the deduction lag is estimated from the points read before");
                }
            }
        }
        let mut s = self.lock();
        s.recent.retain(|k, _| pools.contains(k));
        s.next_recent = Some(now + RECENT_EVERY);
    }
}
