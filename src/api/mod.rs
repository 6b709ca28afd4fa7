//! Talking to Tencent Cloud: request signing (v2 and TC3), the v2 and v3
//! clients and their responses, errors, retries and the shared transport.

pub mod encode;
pub mod error;
pub mod json_fields;
pub mod record;
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

/// What to do when TLS cannot be set up for want of CA certificates, as on
/// a minimal system without the ca-certificates package.
pub const MISSING_CA_ADVICE: &str = "install the ca-certificates package, or set SSL_CERT_FILE to a PEM bundle";

/// The rustls error in the causes of `e`, if any. A TLS client that takes
/// the system's CA certificates fails at set-up with one only when there
/// are none (rustls-platform-verifier: "No CA certificates were loaded from
/// the system").
pub fn tls_setup_cause(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut cause = None;
    let mut next = Some(e);
    while let Some(error) = next {
        match error.downcast_ref::<rustls::Error>() {
            Some(rustls::Error::General(message)) => cause = Some(message.clone()),
            Some(other) => cause = Some(other.to_string()),
            None => {}
        }
        next = error.source();
    }
    cause
}

/// Told about every attempt, e.g. to count requests in metrics.
pub trait RequestObserver: Send + Sync {
    /// One attempt of `action` ended with `outcome` (`success` or an
    /// [`error::ApiError::outcome`] label).
    fn observe(&self, account: &str, action: &str, outcome: &str);
}
