//! The one verdict on an account that `check`, the status page and the mail
//! share: a Nagios plugin state (OK, WARNING, CRITICAL, UNKNOWN) and the
//! package whose bytes are next to be lost.

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

    /// The state of an assessed account.
    pub fn of(a: &Assessment) -> CheckState {
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

/// The usable package with bytes left that expires first: the next one
/// whose bytes can be lost.
pub fn next_expiry(a: &Assessment) -> Option<&PackageView> {
    a.packages
        .iter()
        .filter(|p| p.usable && p.remaining_bytes > 0)
        .min_by_key(|p| p.package.expires_at)
}
