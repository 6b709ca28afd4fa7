//! TLS set-up for the sinks (the mail relay and Alertmanager): rustls with
//! ring, the one crypto provider in the build, and the one line that says
//! what to do when the system has no CA certificates. The Tencent client
//! crate has its own, as it stands alone.

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
