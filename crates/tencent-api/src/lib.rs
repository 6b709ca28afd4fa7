//! `tencent-cdn-api`: a client for Tencent Cloud CDN's traffic packages, over
//! API 2.0 (`GetPackage`, `OrderPackage`) and API 3.0
//! (`DescribeTrafficPackages`, `DescribeHttpsPackages`, `DescribeBillingData`,
//! `DescribePayType`). It reports packages in
//! the [`cdnquota_core::model`] types, and knows what Tencent's errors mean:
//! which are permanent, which are worth a retry, which say the key lacks a
//! permission, and which refuse an order.
//!
//! # Layout, in the order a request flows through it
//!
//! - [`settings`]: what a client needs of one account ([`settings::ClientSettings`]),
//!   the endpoint, the API version and the HTTP method; [`secret`]: keys that never print.
//! - [`source`]: the package list of an account, from v2 or v3.
//! - [`v2`], [`v3`]: the clients; [`retry`] retries their idempotent calls.
//! - [`signature`] (v2 HMAC) and [`tc3`] (TC3-HMAC-SHA256): signing;
//!   [`encode`]: percent-encoding; [`nonce`]: the `Nonce` parameter.
//! - [`transport`]: one HTTP client per account, capped answers, no redirects;
//!   [`tls`]: rustls with ring, and what a missing CA store means.
//! - [`v2_response`], [`v3_response`] (package lists), [`v3_billing`]
//!   (billing data, pay types), [`json_fields`]: reading the answers;
//!   [`error`]: what a failure was and what it means, e.g.
//!   [`error::ApiError::is_not_permitted`].
//! - [`record`]: recorded polls, one answer a line, as backtests replay them.
//!
//! `examples/list_packages.rs` lists an account's packages in a few lines.

pub mod encode;
pub mod error;
pub mod json_fields;
pub mod nonce;
pub mod record;
pub mod retry;
pub mod secret;
pub mod settings;
pub mod signature;
pub mod source;
mod stream;
pub mod tc3;
pub mod tls;
pub mod transport;
pub mod v2;
pub mod v2_response;
pub mod v3;
pub mod v3_billing;
pub mod v3_response;

/// Told about every attempt, e.g. to count requests in metrics.
pub trait RequestObserver: Send + Sync {
    /// One attempt of `action` ended with `outcome` (`success` or an
    /// [`error::ApiError::outcome`] label).
    fn observe(&self, account: &str, action: &str, outcome: &str);
}
