//! Talking to Tencent Cloud: request signing (v2 and TC3), the v2 and v3
//! clients and their responses, errors, retries and the shared transport.

pub mod encode;
pub mod error;
pub mod json_fields;
pub mod retry;
pub mod signature;
pub mod source;
mod stream;
pub mod tc3;
pub mod transport;
pub mod v2;
pub mod v2_response;
pub mod v3;
pub mod v3_response;

/// Makes rustls use ring, the one crypto provider in the build. Safe to call
/// more than once.
pub fn install_crypto_provider() {
    // Fails only when a provider is already installed, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Told about every attempt, e.g. to count requests in metrics.
pub trait RequestObserver: Send + Sync {
    /// One attempt of `action` ended with `outcome` (`success` or an
    /// [`error::ApiError::outcome`] label).
    fn observe(&self, account: &str, action: &str, outcome: &str);
}
