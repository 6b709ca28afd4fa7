//! The API 3.0 client: `DescribeTrafficPackages` on `cdn.tencentcloudapi.com`,
//! signed with TC3-HMAC-SHA256, paged until `TotalCount` is covered.
//!
//! API 3.0 has no CDN purchase action, so this source only reads.

use super::RequestObserver;
use super::error::ApiError;
use super::json_fields::format_api_time;
use super::json_fields::malformed;
use super::retry::with_retries;
use super::tc3::Tc3Request;
use super::transport::{ClientCore, parse_off_runtime, send_capped};
use super::v3_response::{Page, parse_billing, parse_envelope, parse_page_answer};
use crate::secret::Secret;
use crate::settings::ClientSettings;
use cdnquota_core::model::Snapshot;
use chrono::{DateTime, Utc};
use std::collections::HashSet;
use std::sync::Arc;

/// The action this client calls.
pub const ACTION: &str = "DescribeTrafficPackages";
/// The action that reads the account's billed traffic.
pub const BILLING_ACTION: &str = "DescribeBillingData";
/// The CDN API 3.0 version.
pub const VERSION: &str = "2018-06-06";
/// The most packages one page may hold.
pub const PAGE_LIMIT: u64 = 1000;
/// Pages beyond this are not fetched: a million packages is not an account.
const MAX_PAGES: u64 = 1000;
const CONTENT_TYPE: &str = "application/json; charset=utf-8";

/// A client for one account's API 3.0 endpoint.
pub struct V3Client {
    core: ClientCore,
    session_token: Option<Secret>,
}

impl V3Client {
    /// A client for `account`.
    pub fn new(account: &ClientSettings) -> Result<Self, String> {
        Ok(V3Client {
            core: ClientCore::new(account)?,
            session_token: account.session_token.clone(),
        })
    }

    /// Reports every attempt to `observer`.
    pub fn with_observer(mut self, observer: Arc<dyn RequestObserver>) -> Self {
        self.core.set_observer(observer);
        self
    }

    /// Lists every package, page by page. A package seen twice (the list
    /// shifted between pages) is kept once.
    pub async fn get_packages(&self) -> Result<Snapshot, ApiError> {
        let mut packages = Vec::new();
        let mut seen = HashSet::new();
        let mut offset = 0u64;
        for _ in 0..MAX_PAGES {
            let page = with_retries(&self.core.retry, &self.core.account, ACTION, || self.attempt(offset)).await?;
            let listed = page.packages.len() as u64;
            let mut new = 0u64;
            if offset == 0 {
                // Sized once for the whole list (bounded: TotalCount is the
                // answer's word), not doubled page after page.
                packages.reserve(page.total.min(MAX_PAGES * PAGE_LIMIT / 4) as usize);
            }
            for p in page.packages {
                if seen.insert(p.id.clone()) {
                    packages.push(p);
                    new += 1;
                }
            }
            offset += listed;
            if offset >= page.total {
                return Ok(Snapshot {
                    taken_at: Utc::now(),
                    packages,
                });
            }
            // A page with nothing new (empty, or only packages already
            // seen) means the list ended before TotalCount: asking on would
            // cost up to MAX_PAGES requests every poll and never reach it.
            if new == 0 {
                return Err(malformed(format!(
                    "TotalCount is {} but the list ended at {} package(s): the page at Offset {} held {listed} ({new} new)",
                    page.total,
                    packages.len(),
                    offset - listed
                )));
            }
        }
        Err(malformed(format!("more than {} pages of packages", MAX_PAGES)))
    }

    async fn attempt(&self, offset: u64) -> Result<Page, ApiError> {
        let result = self.send(offset).await;
        self.core.observe(ACTION, &result);
        result
    }

    async fn send(&self, offset: u64) -> Result<Page, ApiError> {
        let body = serde_json::json!({ "Offset": offset, "Limit": PAGE_LIMIT }).to_string();
        let answer = self.post(ACTION, body).await?;
        let offset = self.core.offset;
        parse_off_runtime(answer, move |answer| parse_page_answer(answer, offset)).await
    }

    /// The account's billed CDN traffic (`Metric` flux) per hour in `area`,
    /// from `start` to `end` (at most 90 days): the real demand, also while
    /// no package covers it. Tried once: a refusal is the caller's to judge.
    pub async fn billing_data(
        &self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        area: &str,
    ) -> Result<Vec<(DateTime<Utc>, f64)>, ApiError> {
        let time = |t: DateTime<Utc>| format_api_time(t, self.core.offset);
        let body = serde_json::json!({
            "StartTime": time(start),
            "EndTime": time(end),
            "Interval": "hour",
            "Metric": "flux",
            "Area": area,
        })
        .to_string();
        let result = async {
            let answer = self.post(BILLING_ACTION, body).await?;
            parse_billing(&parse_envelope(&answer)?, self.core.offset)
        }
        .await;
        self.core.observe(BILLING_ACTION, &result);
        result
    }

    /// Sends one signed API 3.0 request and returns the answer's bytes.
    async fn post(&self, action: &str, body: String) -> Result<Vec<u8>, ApiError> {
        let timestamp = Utc::now().timestamp();
        let signed = Tc3Request {
            method: "POST",
            path: self.core.endpoint.0.path(),
            query: "",
            headers: &[
                ("content-type", CONTENT_TYPE),
                ("host", &self.core.host),
                ("x-tc-action", action),
            ],
            body: body.as_bytes(),
            service: "cdn",
            timestamp,
        };
        let mut request = self
            .core
            .http
            .post(self.core.endpoint.0.clone())
            .header(
                "Authorization",
                signed.authorization(self.core.secret_id.expose(), self.core.secret_key.expose()),
            )
            .header("Content-Type", CONTENT_TYPE)
            .header("X-TC-Action", action)
            .header("X-TC-Timestamp", timestamp.to_string())
            .header("X-TC-Version", VERSION);
        if let Some(token) = &self.session_token {
            request = request.header("X-TC-Token", token.expose());
        }
        send_capped(request.body(body), self.core.max_answer).await
    }
}
