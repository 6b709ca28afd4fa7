//! Talking to Tencent Cloud: request signing, the v2 client and its
//! responses, errors and retries.

pub mod encode;
pub mod error;
pub mod retry;
pub mod signature;
pub mod v2;
pub mod v2_response;

/// Makes rustls use ring, the one crypto provider in the build. Safe to call
/// more than once.
pub fn install_crypto_provider() {
    // Fails only when a provider is already installed, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}
