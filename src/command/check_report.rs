//! What `cdnquota check` found: one report per account and the verdict on
//! them all, which the plugin output (`nagios.rs`) and `--json` write.

use cdnquota_core::account::AccountAssessment;
use cdnquota_core::check_state::CheckState;
use cdnquota_core::settings::PoolThresholds;
use serde::Serialize;

/// One account's result.
#[derive(Serialize)]
pub struct AccountReport {
    /// The account name.
    pub account: String,
    /// Its state.
    pub state: CheckState,
    /// What the poll found, when it worked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assessment: Option<AccountAssessment>,
    /// Why the poll failed, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The thresholds of the account's pools, for the perfdata's warn and
    /// crit.
    #[serde(skip)]
    pub thresholds: PoolThresholds,
}

/// The whole check.
#[derive(Serialize)]
pub struct Report {
    /// The combined state.
    pub state: CheckState,
    /// The exit code.
    pub exit_code: u8,
    /// Each account.
    pub accounts: Vec<AccountReport>,
}
