//! The API v2 client: `GetPackage` (retried) and `OrderPackage` (never
//! retried), signed as `signature.rs` describes.

use super::encode::encode_pairs;
use super::error::ApiError;
use super::retry::RetryPolicy;
use super::signature::{SignatureMethod, sign, string_to_sign};
use super::v2_response::{parse_envelope, parse_order_ids, parse_packages};
use crate::config::Account;
use crate::config::secret::{KeyId, Secret};
use crate::config::values::{Endpoint, HttpMethod};
use crate::model::Snapshot;
use crate::random;
use chrono::{FixedOffset, Utc};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// Answers larger than this are refused: a package list is a few KiB.
pub const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

/// Told about every attempt, e.g. to count requests in metrics.
pub trait RequestObserver: Send + Sync {
    /// One attempt of `action` ended with `outcome` (`success` or an
    /// [`ApiError::outcome`] label).
    fn observe(&self, account: &str, action: &str, outcome: &str);
}

/// A client for one account's v2 endpoint.
pub struct V2Client {
    account: String,
    http: reqwest::Client,
    endpoint: Endpoint,
    host: String,
    secret_id: KeyId,
    secret_key: Secret,
    signature_method: SignatureMethod,
    http_method: HttpMethod,
    retry: RetryPolicy,
    offset: FixedOffset,
    observer: Option<Arc<dyn RequestObserver>>,
}

/// Creates the HTTP client shared by the API clients: rustls with ring,
/// no redirects (a redirect would re-send signed parameters elsewhere).
pub fn http_client(timeout: Duration) -> Result<reqwest::Client, String> {
    super::install_crypto_provider();
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("cdnquota/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("cannot set up the HTTP client: {e}"))
}

fn transport(e: reqwest::Error) -> ApiError {
    // The URL of a GET request carries the signature: keep it out of errors.
    let e = e.without_url();
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

impl V2Client {
    /// A client for `account`, reading API times in `offset`.
    pub fn new(account: &Account, offset: FixedOffset) -> Result<Self, String> {
        Ok(V2Client {
            account: account.name.to_string(),
            http: http_client(account.timeout)?,
            host: account.endpoint.host_header(),
            endpoint: account.endpoint.clone(),
            secret_id: account.secret_id.clone(),
            secret_key: account.secret_key.clone(),
            signature_method: account.signature_method,
            http_method: account.http_method,
            retry: RetryPolicy {
                max_attempts: account.max_attempts,
                base_delay: account.retry_backoff,
                max_delay: Duration::from_secs(30),
            },
            offset,
            observer: None,
        })
    }

    /// Reports every attempt to `observer`.
    pub fn with_observer(mut self, observer: Arc<dyn RequestObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Lists the account's packages.
    pub async fn get_package(&self) -> Result<Snapshot, ApiError> {
        let data = self.call_with_retries("GetPackage", &[]).await?;
        let packages = parse_packages(&data, self.offset)?;
        Ok(Snapshot {
            taken_at: Utc::now(),
            packages,
        })
    }

    /// Orders `number` packages of `unit_gb` GB and returns the order ids.
    ///
    /// Sent exactly once: a request that timed out may still have placed the
    /// order, so retrying could buy twice. The caller records the outcome.
    pub async fn order_package(&self, unit_gb: u32, number: u32) -> Result<Vec<String>, ApiError> {
        let params = [
            ("unit".to_string(), unit_gb.to_string()),
            ("number".to_string(), number.to_string()),
        ];
        let data = self.attempt("OrderPackage", &params).await?;
        parse_order_ids(&data)
    }

    async fn call_with_retries(&self, action: &str, extra: &[(String, String)]) -> Result<Value, ApiError> {
        let mut attempt = 1;
        loop {
            match self.attempt(action, extra).await {
                Err(e) if e.is_transient() && attempt < self.retry.max_attempts => {
                    let wait = self.retry.delay(attempt, random::unit_interval());
                    tracing::warn!(
                        account = %self.account,
                        action,
                        attempt,
                        "{e}; retrying in {:.1}s",
                        wait.as_secs_f64()
                    );
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// The full, signed parameter list for one attempt.
    pub fn signed_params(
        &self,
        action: &str,
        extra: &[(String, String)],
        timestamp: i64,
        nonce: u32,
    ) -> Vec<(String, String)> {
        let mut params: Vec<(String, String)> = vec![
            ("Action".into(), action.into()),
            ("SecretId".into(), self.secret_id.expose().to_string()),
            ("Timestamp".into(), timestamp.to_string()),
            ("Nonce".into(), nonce.to_string()),
        ];
        if let Some(m) = self.signature_method.parameter() {
            params.push(("SignatureMethod".into(), m.into()));
        }
        params.extend(extra.iter().cloned());
        let text = string_to_sign(self.http_method.as_str(), &self.host, self.endpoint.0.path(), &params);
        let signature = sign(self.signature_method, self.secret_key.expose().as_bytes(), &text);
        params.push(("Signature".into(), signature));
        params
    }

    async fn attempt(&self, action: &str, extra: &[(String, String)]) -> Result<Value, ApiError> {
        // A fresh Timestamp and Nonce every attempt: the API refuses replays.
        let params = self.signed_params(action, extra, Utc::now().timestamp(), random::nonce());
        let result = self.send(&params).await;
        if let Some(observer) = &self.observer {
            let outcome = result.as_ref().map_or_else(ApiError::outcome, |_| "success");
            observer.observe(&self.account, action, outcome);
        }
        result
    }

    async fn send(&self, params: &[(String, String)]) -> Result<Value, ApiError> {
        let encoded = encode_pairs(params);
        let request = match self.http_method {
            HttpMethod::Get => {
                let mut url = self.endpoint.0.clone();
                url.set_query(Some(&encoded));
                self.http.get(url)
            }
            HttpMethod::Post => self
                .http
                .post(self.endpoint.0.clone())
                .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(encoded),
        };
        let mut response = request.send().await.map_err(transport)?;
        let status = response.status();
        if response.content_length().is_some_and(|n| n > MAX_RESPONSE_BYTES as u64) {
            return Err(ApiError::TooLarge {
                limit: MAX_RESPONSE_BYTES,
            });
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(transport)? {
            if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(ApiError::TooLarge {
                    limit: MAX_RESPONSE_BYTES,
                });
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
        parse_envelope(&body)
    }
}
