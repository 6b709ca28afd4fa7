//! The API v2 client: `GetPackage` (retried) and `OrderPackage` (never
//! retried), signed as `signature.rs` describes.

use super::RequestObserver;
use super::encode::encode_pairs;
use super::error::ApiError;
use super::retry::with_retries;
use super::signature::{SignatureMethod, sign, string_to_sign};
use super::transport::{ClientCore, parse_off_runtime, send_capped};
use super::v2_response::{dedupe_packages, parse_envelope, parse_order_ids, parse_package_answer};
use crate::nonce;
use crate::settings::{ClientSettings, HttpMethod};
use cdnquota_core::model::Snapshot;
use chrono::Utc;
use serde_json::Value;
use std::sync::Arc;

/// A client for one account's v2 endpoint.
pub struct V2Client {
    core: ClientCore,
    signature_method: SignatureMethod,
    http_method: HttpMethod,
}

impl V2Client {
    /// A client for `account`; the error is the one line to show, as for
    /// [`PackageSource::new`](crate::source::PackageSource::new).
    pub fn new(account: &ClientSettings) -> Result<Self, String> {
        Ok(V2Client {
            core: ClientCore::new(account)?,
            signature_method: account.signature_method,
            http_method: account.http_method,
        })
    }

    /// Reports every attempt to `observer`.
    pub fn with_observer(mut self, observer: Arc<dyn RequestObserver>) -> Self {
        self.core.set_observer(observer);
        self
    }

    /// Lists the account's packages.
    pub async fn get_package(&self) -> Result<Snapshot, ApiError> {
        let packages = with_retries(&self.core.retry, &self.core.account, "GetPackage", || {
            self.list_attempt()
        })
        .await?;
        let (packages, repeated) = dedupe_packages(packages);
        if !repeated.is_empty() {
            tracing::warn!(
                account = %self.core.account,
                "GetPackage listed {} package id(s) more than once ({}): each is counted once",
                repeated.len(),
                cdnquota_core::text::truncate_chars(&repeated.join(", "), 200)
            );
        }
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
            ("SecretId".into(), self.core.secret_id.expose().to_string()),
            ("Timestamp".into(), timestamp.to_string()),
            ("Nonce".into(), nonce.to_string()),
        ];
        if let Some(m) = self.signature_method.parameter() {
            params.push(("SignatureMethod".into(), m.into()));
        }
        params.extend(extra.iter().cloned());
        let text = string_to_sign(
            self.http_method.as_str(),
            &self.core.host,
            self.core.endpoint.0.path(),
            &params,
        );
        let signature = sign(self.signature_method, self.core.secret_key.expose().as_bytes(), &text);
        params.push(("Signature".into(), signature));
        params
    }

    async fn attempt(&self, action: &str, extra: &[(String, String)]) -> Result<Value, ApiError> {
        // A fresh Timestamp and Nonce every attempt: the API refuses replays.
        let params = self.signed_params(action, extra, Utc::now().timestamp(), nonce::nonce());
        let result = match self.send(&params).await {
            Ok(body) => parse_envelope(&body),
            Err(e) => Err(e),
        };
        self.core.observe(action, &result);
        result
    }

    /// One GetPackage attempt, the answer read straight into packages.
    async fn list_attempt(&self) -> Result<Vec<cdnquota_core::model::Package>, ApiError> {
        let params = self.signed_params("GetPackage", &[], Utc::now().timestamp(), nonce::nonce());
        let offset = self.core.offset;
        let result = match self.send(&params).await {
            Ok(body) => parse_off_runtime(body, move |body| parse_package_answer(body, offset)).await,
            Err(e) => Err(e),
        };
        self.core.observe("GetPackage", &result);
        result
    }

    async fn send(&self, params: &[(String, String)]) -> Result<Vec<u8>, ApiError> {
        let encoded = encode_pairs(params);
        let request = match self.http_method {
            HttpMethod::Get => {
                let mut url = self.core.endpoint.0.clone();
                url.set_query(Some(&encoded));
                self.core.http.get(url)
            }
            HttpMethod::Post => self
                .core
                .http
                .post(self.core.endpoint.0.clone())
                .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(encoded),
        };
        send_capped(request, self.core.max_answer).await
    }
}
