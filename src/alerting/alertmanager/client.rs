//! One push to one Alertmanager: `POST /api/v2/alerts` with a JSON array,
//! over TLS and with basic authentication when configured, bounded by the
//! timeout. Only the answer's status matters; its body is kept, cut short,
//! for the log when the push is refused.

use crate::alerting::delivery::DeliveryError;
use crate::config::alertmanager::{AlertmanagerConfig, AlertmanagerUrl};
use cdnquota_core::text::truncate_chars;
use tencent_cdn_api::secret::Secret;

/// The HTTP client for every Alertmanager of the config.
pub struct PushClient {
    http: reqwest::Client,
    auth: Option<(String, Secret)>,
}

fn read_pem(what: &str, path: &std::path::Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("[alertmanager] cannot read {what} {}: {e}", path.display()))
}

impl PushClient {
    /// Builds the client: the CA file, when set, is the only one trusted;
    /// redirects are not followed (they would carry the password away).
    pub fn new(config: &AlertmanagerConfig) -> Result<PushClient, String> {
        crate::tls::install_crypto_provider();
        let mut builder = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("cdnquota/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = &config.ca_file {
            let certs = reqwest::Certificate::from_pem_bundle(&read_pem("ca_file", path)?).map_err(|e| {
                format!(
                    "[alertmanager] ca_file {} is not a PEM certificate: {e}",
                    path.display()
                )
            })?;
            if certs.is_empty() {
                return Err(format!(
                    "[alertmanager] ca_file {} holds no PEM certificate",
                    path.display()
                ));
            }
            builder = builder.tls_certs_only(certs);
        }
        if let (Some(cert), Some(key)) = (&config.cert_file, &config.key_file) {
            let mut pem = read_pem("cert_file", cert)?;
            pem.push(b'\n');
            pem.extend(read_pem("key_file", key)?);
            let identity = reqwest::Identity::from_pem(&pem).map_err(|e| {
                format!(
                    "[alertmanager] cert_file {} and key_file {} are not a PEM certificate and key: {e}",
                    cert.display(),
                    key.display()
                )
            })?;
            builder = builder.identity(identity);
        }
        let http = builder
            .build()
            .map_err(|e| format!("cannot set up the Alertmanager HTTP client: {e}"))?;
        let auth = match (&config.username, &config.password) {
            (Some(user), Some(password)) => Some((user.clone(), password.clone())),
            _ => None,
        };
        Ok(PushClient { http, auth })
    }

    /// Posts `body` (a JSON array of alerts) to `url`.
    pub async fn push(&self, url: &AlertmanagerUrl, body: Vec<u8>) -> Result<(), DeliveryError> {
        let mut request = self
            .http
            .post(url.alerts_endpoint())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        if let Some((user, password)) = &self.auth {
            request = request.basic_auth(user, Some(password.expose()));
        }
        let response = request
            .send()
            .await
            .map_err(|e| DeliveryError::Failed(transport_error(e)))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        // The body says why (e.g. which alert is invalid); bounded, since
        // it comes from outside.
        let text = response.text().await.unwrap_or_default();
        let text = truncate_chars(text.trim(), 300);
        let message = if text.is_empty() {
            format!("HTTP status {status}")
        } else {
            format!("HTTP status {status}: {text}")
        };
        // A 4xx refuses the push (bad alerts or credentials): a case for a
        // person, though it is retried too.
        Err(if status.is_client_error() {
            DeliveryError::Refused(message)
        } else {
            DeliveryError::Failed(message)
        })
    }
}

/// A transport error in one line, with its causes (refused, timed out,
/// certificate not trusted).
fn transport_error(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut line = if e.is_timeout() {
        "timed out".to_string()
    } else {
        e.to_string()
    };
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        line.push_str(": ");
        line.push_str(&s.to_string());
        source = s.source();
    }
    truncate_chars(&line, 300)
}
