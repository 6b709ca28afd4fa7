//! Sending one API request: the shared HTTP client (rustls with ring, no
//! redirects) and a send that caps the answer's size and keeps signed URLs
//! out of error messages.

use super::RequestObserver;
use super::error::ApiError;
use crate::secret::{KeyId, Secret};
use crate::settings::{ClientSettings, Endpoint};
use cdnquota_core::backoff::RetryPolicy;
use chrono::FixedOffset;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// What every API client of one account needs: where to send, how to sign,
/// how to retry, and whom to tell about each attempt.
pub struct ClientCore {
    /// The account name, for logs and metrics.
    pub account: String,
    /// The HTTP client.
    pub http: reqwest::Client,
    /// The endpoint URL.
    pub endpoint: Endpoint,
    /// The host as signed and sent.
    pub host: String,
    /// The key id.
    pub secret_id: KeyId,
    /// The key.
    pub secret_key: Secret,
    /// Retries for idempotent calls.
    pub retry: RetryPolicy,
    /// The zone of the API's times.
    pub offset: FixedOffset,
    /// The largest answer accepted, in bytes.
    pub max_answer: usize,
    observer: Option<Arc<dyn RequestObserver>>,
}

impl ClientCore {
    /// The core for `account`; the error is the one line to show.
    pub fn new(account: &ClientSettings) -> Result<Self, String> {
        Ok(ClientCore {
            account: account.account.clone(),
            http: http_client(account.timeout, &account.endpoint)?,
            endpoint: account.endpoint.clone(),
            host: account.endpoint.host_header(),
            secret_id: account.secret_id.clone(),
            secret_key: account.secret_key.clone(),
            retry: RetryPolicy {
                max_attempts: account.max_attempts,
                base_delay: account.retry_backoff,
                max_delay: Duration::from_secs(30),
            },
            offset: account.utc_offset,
            max_answer: usize::try_from(account.max_answer_bytes).unwrap_or(usize::MAX),
            observer: None,
        })
    }

    /// Reports every attempt to `observer`.
    pub fn set_observer(&mut self, observer: Arc<dyn RequestObserver>) {
        self.observer = Some(observer);
    }

    /// Tells the observer how one attempt of `action` ended.
    pub fn observe<T>(&self, action: &str, result: &Result<T, ApiError>) {
        if let Some(observer) = &self.observer {
            let outcome = result.as_ref().map_or_else(ApiError::outcome, |_| "success");
            observer.observe(&self.account, action, outcome);
        }
    }
}

/// Creates an HTTP client for the API clients. Redirects are not followed:
/// one would re-send signed parameters to another address.
pub fn http_client(timeout: Duration, endpoint: &Endpoint) -> Result<reqwest::Client, String> {
    crate::tls::install_crypto_provider();
    let mut builder = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("cdnquota/", env!("CARGO_PKG_VERSION")));
    if endpoint.0.scheme() == "http" {
        // Plain http (allowed for loopback only) never does TLS, since
        // redirects are not followed: an empty trust store spares reading
        // the system's CA certificates, which a minimal system may lack.
        builder = builder.tls_certs_only(std::iter::empty());
    } else {
        builder = builder.tls_backend_preconfigured(shared_tls()?);
    }
    builder.build().map_err(|e| setup_error(&e))
}

/// The TLS settings of every https API client, made once per process.
/// Making them reads and parses every CA certificate of the system, tens of
/// milliseconds; once per account, 2,000 accounts took two minutes to start.
/// They are what reqwest itself would make: the platform's verifier (on
/// Linux, webpki with the system's CA certificates), TLS 1.2 and 1.3, and
/// HTTP/1.1.
fn shared_tls() -> Result<rustls::ClientConfig, String> {
    static TLS: OnceLock<Result<rustls::ClientConfig, String>> = OnceLock::new();
    TLS.get_or_init(|| {
        let provider = rustls::crypto::CryptoProvider::get_default()
            .cloned()
            .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()));
        let verifier = rustls_platform_verifier::Verifier::new(provider.clone()).map_err(|e| {
            let cause = crate::tls::tls_setup_cause(&e).unwrap_or_else(|| e.to_string());
            missing_ca(&cause)
        })?;
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("cannot set up the HTTP client: {e}"))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(config)
    })
    .clone()
}

/// The one line for a system without CA certificates.
fn missing_ca(cause: &str) -> String {
    format!(
        "cannot set up the HTTP client: the system's CA certificates are missing, so the API's https \
         certificate cannot be verified ({cause}): {} (an http:// endpoint on loopback needs none)",
        crate::tls::MISSING_CA_ADVICE
    )
}

/// One line for a client that cannot be built. reqwest calls every such
/// failure "builder error" and keeps the cause below it.
fn setup_error(e: &reqwest::Error) -> String {
    if let Some(cause) = crate::tls::tls_setup_cause(e) {
        return missing_ca(&cause);
    }
    let mut detail = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        detail.push_str(": ");
        detail.push_str(&s.to_string());
        source = s.source();
    }
    format!("cannot set up the HTTP client: {detail}")
}

/// The TLS library's verdict on the server's certificate, if that is why
/// the request failed. It hides below an `io::Error`, whose `source()`
/// skips the error it wraps, so each link is opened by hand.
fn certificate_error(e: &(dyn std::error::Error + 'static)) -> Option<rustls::CertificateError> {
    let mut link = Some(e);
    while let Some(err) = link {
        if let Some(rustls::Error::InvalidCertificate(c)) = err.downcast_ref::<rustls::Error>() {
            return Some(c.clone());
        }
        let wrapped = err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .map(|i| i as &(dyn std::error::Error + 'static));
        link = wrapped.or_else(|| err.source());
    }
    None
}

/// What a refused certificate means, in words an operator can act on.
fn certificate_reason(e: &rustls::CertificateError) -> String {
    use rustls::CertificateError as C;
    match e {
        C::NotValidForName | C::NotValidForNameContext { .. } => "it is not issued for the endpoint's host name".into(),
        C::Expired | C::ExpiredContext { .. } => "it has expired".into(),
        C::NotValidYet | C::NotValidYetContext { .. } => {
            "it is not valid yet; check that this host's clock is right (NTP)".into()
        }
        C::Revoked => "it has been revoked".into(),
        C::InvalidPurpose | C::InvalidPurposeContext { .. } => "it is not a server certificate".into(),
        // UnknownIssuer, BadSignature, and what the platform verifier wraps
        // in Other (CaUsedAsEndEntity for a self-signed certificate).
        _ => "it is self-signed or signed by a CA this host does not trust".into(),
    }
}

fn transport(e: reqwest::Error) -> ApiError {
    // The URL of a GET request carries the signature: keep it out of errors.
    let e = e.without_url();
    if let Some(c) = certificate_error(&e) {
        return ApiError::Certificate {
            reason: certificate_reason(&c),
        };
    }
    let mut detail = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        detail.push_str(": ");
        detail.push_str(&s.to_string());
        source = s.source();
    }
    ApiError::Transport {
        timeout: e.is_timeout(),
        connect: e.is_connect(),
        detail,
    }
}

/// Sends `request` and returns the body of a 2xx answer, at most `limit`
/// bytes long (the account's `max_answer_size`).
pub async fn send_capped(request: reqwest::RequestBuilder, limit: usize) -> Result<Vec<u8>, ApiError> {
    let mut response = request.send().await.map_err(transport)?;
    let status = response.status();
    let announced = response.content_length();
    if announced.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::TooLarge { limit });
    }
    // Sized once when the length is known: a large answer is not copied
    // again and again as it grows.
    let mut body = Vec::with_capacity(announced.map_or(0, |n| n as usize));
    while let Some(chunk) = response.chunk().await.map_err(transport)? {
        if body.len() + chunk.len() > limit {
            return Err(ApiError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    if !status.is_success() {
        let excerpt: String = String::from_utf8_lossy(&body).chars().take(200).collect();
        return Err(ApiError::HttpStatus {
            status: status.as_u16(),
            excerpt: excerpt.trim().to_string(),
        });
    }
    Ok(body)
}

/// Answers larger than this are read on a blocking thread: parsing a few
/// megabytes of JSON would hold up the daemon's runtime, and `/healthz`.
const PARSE_INLINE_BELOW: usize = 512 * 1024;

/// Runs `parse` on `body`, on a blocking thread if the body is large.
pub async fn parse_off_runtime<T: Send + 'static>(
    body: Vec<u8>,
    parse: impl FnOnce(&[u8]) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    if body.len() < PARSE_INLINE_BELOW {
        return parse(&body);
    }
    match tokio::task::spawn_blocking(move || parse(&body)).await {
        Ok(result) => result,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => Err(ApiError::Transport {
            timeout: false,
            connect: false,
            detail: "the answer was not read: the daemon is stopping".into(),
        }),
    }
}
