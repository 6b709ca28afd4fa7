//! The forecast of one account: the expected demand ([`Demand`]) run forward
//! against its packages ([`drain`]), giving when the pool runs dry (central
//! estimate and early bound) and how many bytes each package will still hold
//! when it expires.

use crate::demand::{Basis, Demand};
use crate::drain::{DrainPackage, drain};
use crate::model::Package;
use crate::pool::{is_upcoming, is_usable, remaining_bytes};
use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

/// What the forecast says about an account.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Projection {
    /// What the demand model stands on.
    pub basis: Basis,
    /// The basis in words, e.g. "hour-of-week profile from 35 days of history".
    pub basis_text: String,
    /// Seconds of history it had.
    pub history_seconds: u64,
    /// The expected demand now, bytes per second.
    pub expected_rate: f64,
    /// When the pool runs dry, central estimate.
    pub depletion_at: Option<DateTime<Utc>>,
    /// When it runs dry at the early bound's demand: rarely sooner.
    pub depletion_early_at: Option<DateTime<Utc>>,
    /// When it would run dry if no package renewed itself, where one does.
    pub depletion_without_renewal_at: Option<DateTime<Utc>>,
    /// Bytes forecast to be lost at expiry, over all packages.
    pub expiring_unused_bytes: u64,
    /// The surge factor of the last hours, if traffic runs well above normal.
    pub surge: Option<f64>,
}

/// Takes `amount` from the started packages of `pool` as Tencent deducts:
/// nearest expiry first, on equal expiry the earlier start first.
fn deduct_in_order(pool: &mut [DrainPackage], mut amount: f64) {
    if amount <= 0.0 {
        return;
    }
    let mut started: Vec<usize> = (0..pool.len()).filter(|&i| pool[i].start <= 0.0).collect();
    started.sort_by(|&a, &b| {
        pool[a]
            .end
            .total_cmp(&pool[b].end)
            .then(pool[a].start.total_cmp(&pool[b].start))
    });
    for i in started {
        let take = amount.min(pool[i].left);
        pool[i].left -= take;
        amount -= take;
        if amount <= 0.0 {
            break;
        }
    }
}

/// Bytes one package is forecast to hold when it expires.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Unused {
    /// At the central demand.
    pub central: u64,
    /// At the early bound's (higher) demand: lost even then.
    pub surely: u64,
}

/// The forecast for `packages` at `now` with `demand`, `undeducted` (billed
/// but not yet deducted) taken from the usable packages first, in Tencent's
/// order; also returns the bytes each package is forecast to hold when it
/// expires (0 for packages not usable now or later).
pub fn project(
    packages: &[Package],
    demand: &Demand,
    now: DateTime<Utc>,
    undeducted: u64,
) -> (Projection, Vec<Unused>) {
    let secs = |t: DateTime<Utc>| (t - now).as_seconds_f64();
    let mut index = Vec::new();
    let mut pool = Vec::new();
    for (i, p) in packages.iter().enumerate() {
        // A package not yet started joins the drain when its window opens,
        // so a run-dry that a package bought ahead covers is not forecast.
        if remaining_bytes(p) > 0 && (is_usable(p, now) || is_upcoming(p, now)) {
            let mode = p.extension_mode;
            pool.push(DrainPackage {
                start: secs(p.enabled_at),
                end: secs(p.expires_at),
                left: remaining_bytes(p) as f64,
                size: p.size_bytes as f64,
                renews_when_used_up: mode.is_some_and(|m| m.when_used_up()),
                renews_at_expiry: mode.is_some_and(|m| m.at_expiry()),
            });
            index.push(i);
        }
    }
    deduct_in_order(&mut pool, undeducted as f64);
    let at = |dry: Option<f64>| dry.map(|s| now + TimeDelta::milliseconds((s * 1000.0) as i64));
    let early_unused: Vec<f64>;
    let phase = now.timestamp().rem_euclid(3600) as f64;
    let (central, early, without_renewal) = if demand.expects_traffic() {
        let central = drain(&pool, |t| demand.rate(t), 3600.0, phase);
        let early = drain(&pool, |t| demand.early_rate(t), 3600.0, phase);
        early_unused = early.unused_at_expiry.clone();
        let without = central.renewed.then(|| {
            let plain: Vec<DrainPackage> = pool
                .iter()
                .map(|p| DrainPackage {
                    renews_when_used_up: false,
                    renews_at_expiry: false,
                    ..*p
                })
                .collect();
            drain(&plain, |t| demand.rate(t), 3600.0, phase).dry_in
        });
        (central, at(early.dry_in), at(without.flatten()))
    } else {
        early_unused = pool.iter().map(|p| p.left).collect();
        // No traffic: nothing runs dry, and every byte left is lost at expiry.
        let mut unused = Vec::with_capacity(pool.len());
        for p in &pool {
            unused.push(p.left);
        }
        (
            crate::drain::DrainOutcome {
                dry_in: None,
                unused_at_expiry: unused,
                renewed: false,
            },
            None,
            None,
        )
    };
    let mut per_package = vec![Unused::default(); packages.len()];
    let bytes = |v: &[f64], k: usize| v.get(k).copied().unwrap_or(0.0).round() as u64;
    for (k, i) in index.iter().enumerate() {
        per_package[*i] = Unused {
            central: bytes(&central.unused_at_expiry, k),
            surely: bytes(&early_unused, k),
        };
    }
    let projection = Projection {
        basis: demand.basis,
        basis_text: demand.describe(),
        history_seconds: demand.history.as_secs(),
        expected_rate: demand.rate_now(),
        depletion_at: at(central.dry_in),
        depletion_early_at: early,
        depletion_without_renewal_at: without_renewal,
        expiring_unused_bytes: per_package.iter().fold(0u64, |a, b| a.saturating_add(b.central)),
        surge: demand.surging(),
    };
    (projection, per_package)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ExtensionMode;
    use crate::testing::{at, package};

    const GB: u64 = 1_000_000_000;

    #[test]
    fn bytes_used_before_expiry_are_not_forecast_as_lost() {
        let now = at("2026-06-01 00:00:00");
        // 10 GB a day: the 50 GB package expiring in 3 days keeps 20 GB.
        let demand = Demand::flat(Some(10.0 * GB as f64 / 86_400.0), now);
        let packages = [
            package("soon", 50 * GB, 0, "2026-01-01 00:00:00", "2026-06-04 00:00:00"),
            package("later", 100 * GB, 0, "2026-01-01 00:00:00", "2027-01-01 00:00:00"),
        ];
        let (p, unused) = project(&packages, &demand, now, 0);
        assert!((unused[0].central as f64 - 20.0 * GB as f64).abs() < 1e6, "{unused:?}");
        assert!(unused[0].surely <= unused[0].central, "{unused:?}");
        assert_eq!(unused[1], Unused::default());
        assert_eq!(p.expiring_unused_bytes, unused[0].central);
        // 30 GB from the first, then 100 GB at 10 GB a day: 13 days.
        let dry = p.depletion_at.unwrap();
        assert!((dry - at("2026-06-14 00:00:00")).num_seconds().abs() < 60, "{dry}");
    }

    #[test]
    fn a_package_that_renews_when_used_up_keeps_the_pool_alive_and_says_when_it_would_not() {
        let now = at("2026-06-01 00:00:00");
        let demand = Demand::flat(Some(GB as f64 / 3600.0), now);
        let mut p = package("r", 10 * GB, 0, "2026-01-01 00:00:00", "2027-01-01 00:00:00");
        p.extension_mode = Some(ExtensionMode::WhenUsedUp);
        let (proj, _) = project(&[p], &demand, now, 0);
        assert_eq!(proj.depletion_at, None);
        let without = proj.depletion_without_renewal_at.unwrap();
        assert_eq!(without, at("2026-06-01 10:00:00"));
    }
}
