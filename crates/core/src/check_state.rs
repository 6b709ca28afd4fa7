//! The one verdict on an account that `check`, the status page and the mail
//! share: a Nagios plugin state (OK, WARNING, CRITICAL, UNKNOWN) and, per
//! pool, the package whose bytes are next to be lost.

use crate::account::AccountAssessment;
use crate::assess::{Assessment, PackageView};
use crate::rules::Severity;
use serde::Serialize;

/// A Nagios plugin state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum CheckState {
    /// Exit 0.
    Ok,
    /// Exit 1.
    Warning,
    /// Exit 2.
    Critical,
    /// Exit 3: the API could not be read.
    Unknown,
}

impl CheckState {
    /// The exit code.
    pub fn code(self) -> u8 {
        match self {
            CheckState::Ok => 0,
            CheckState::Warning => 1,
            CheckState::Critical => 2,
            CheckState::Unknown => 3,
        }
    }

    /// The state as Nagios prints it.
    pub fn label(self) -> &'static str {
        match self {
            CheckState::Ok => "OK",
            CheckState::Warning => "WARNING",
            CheckState::Critical => "CRITICAL",
            CheckState::Unknown => "UNKNOWN",
        }
    }

    /// Critical outranks Unknown: a known emergency on one account matters
    /// more than a failed read of another. Unknown outranks Warning.
    pub fn rank(self) -> u8 {
        match self {
            CheckState::Ok => 0,
            CheckState::Warning => 1,
            CheckState::Unknown => 2,
            CheckState::Critical => 3,
        }
    }

    /// The state of an assessed account: its worst pool's.
    pub fn of(a: &AccountAssessment) -> CheckState {
        CheckState::of_severity(a.worst())
    }

    /// The state a severity (or none) stands for.
    pub fn of_severity(severity: Option<Severity>) -> CheckState {
        match severity {
            None => CheckState::Ok,
            Some(Severity::Warning) => CheckState::Warning,
            Some(Severity::Critical) => CheckState::Critical,
        }
    }
}

/// The combined state of several accounts.
pub fn overall(states: impl IntoIterator<Item = CheckState>) -> CheckState {
    states.into_iter().max_by_key(|s| s.rank()).unwrap_or(CheckState::Ok)
}

/// What a pool will lose next at expiry, as the forecast says.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum NextLoss<'a> {
    /// This package expires first with bytes the forecast leaves unused.
    Package(&'a PackageView),
    /// There are bytes left, but the forecast uses every one before its
    /// package expires.
    AllUsed,
    /// No usable or upcoming package has anything left.
    Nothing,
}

/// The next package of `a` whose bytes the forecast says will be lost: the
/// one expiring first with some left unused. A package with bytes left
/// that the forecast uses up is no loss to warn of.
pub fn next_loss(a: &Assessment) -> NextLoss<'_> {
    let live = || {
        a.packages
            .iter()
            .filter(|p| (p.usable || p.upcoming) && p.remaining_bytes > 0)
    };
    match live()
        .filter(|p| p.expiring_unused_bytes > 0)
        .min_by_key(|p| p.package.expires_at)
    {
        Some(p) => NextLoss::Package(p),
        None if live().next().is_some() => NextLoss::AllUsed,
        None => NextLoss::Nothing,
    }
}

/// The usable package with something left that expires first: the next
/// one whose contents can be lost.
pub fn next_expiry(a: &Assessment) -> Option<&PackageView> {
    a.packages
        .iter()
        .filter(|p| p.usable && p.remaining_bytes > 0)
        .min_by_key(|p| p.package.expires_at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assess::assess_at_rate;
    use crate::model::Snapshot;
    use crate::settings::Thresholds;
    use crate::testing::{at, package};

    const GB: u64 = 1_000_000_000;

    fn at_rate(packages: Vec<crate::model::Package>, rate: Option<f64>) -> Assessment {
        let now = at("2026-06-01 00:00:00");
        let snapshot = Snapshot {
            taken_at: now,
            packages,
        };
        assess_at_rate(snapshot, rate, &Thresholds::default(), now)
    }

    #[test]
    fn the_next_loss_is_what_the_forecast_leaves_not_what_is_left_now() {
        let two = || {
            vec![
                package("soon", 100 * GB, 0, "2026-01-01 00:00:00", "2026-06-05 00:00:00"),
                package("later", 100 * GB, 0, "2026-01-01 00:00:00", "2026-07-01 00:00:00"),
            ]
        };
        // 1 GB an hour: "soon" is used up in 4 days but holds 100 GB, of
        // which 4 days use 96; "later" is then used too.
        match next_loss(&at_rate(two(), Some(GB as f64 / 3600.0))) {
            NextLoss::Package(p) => {
                assert_eq!(p.package.id, "soon");
                assert_eq!(p.expiring_unused_bytes, 4 * GB);
            }
            other => panic!("{other:?}"),
        }
        // 10 GB an hour uses both before either expires.
        assert_eq!(
            next_loss(&at_rate(two(), Some(10.0 * GB as f64 / 3600.0))),
            NextLoss::AllUsed
        );
        // Nothing consumed: everything left is lost.
        assert!(
            matches!(next_loss(&at_rate(two(), None)), NextLoss::Package(p) if p.expiring_unused_bytes == 100 * GB)
        );
        let empty = vec![package(
            "x",
            100 * GB,
            100 * GB,
            "2026-01-01 00:00:00",
            "2026-07-01 00:00:00",
        )];
        assert_eq!(next_loss(&at_rate(empty, None)), NextLoss::Nothing);
    }
}
