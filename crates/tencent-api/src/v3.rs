//! The API 3.0 client on `cdn.tencentcloudapi.com`, signed with
//! TC3-HMAC-SHA256: `DescribeTrafficPackages` and `DescribeHttpsPackages`,
//! paged until `TotalCount` is covered, `DescribeBillingData` and
//! `DescribePayType`.
//!
//! API 3.0 has no CDN purchase action, so this source only reads.

use super::RequestObserver;
use super::error::ApiError;
use super::json_fields::format_api_time;
use super::json_fields::malformed;
use super::retry::with_retries;
use super::tc3::Tc3Request;
use super::transport::{ClientCore, parse_off_runtime, send_capped};
use super::v3_billing::{parse_billing, parse_pay_type};
use super::v3_response::{PackageList, Page, parse_envelope, parse_page_answer_of};
use crate::secret::Secret;
use crate::settings::ClientSettings;
use cdnquota_core::model::{BillingArea, Package, PayType, Resource, Snapshot};
use chrono::{DateTime, Utc};
use std::collections::HashSet;
use std::sync::Arc;

pub use super::v3_billing::{BillingInterval, BillingMetric};

/// The action that lists traffic packages.
pub const ACTION: &str = PackageList::Traffic.action();
/// The action that lists HTTPS request packages.
pub const HTTPS_ACTION: &str = PackageList::Https.action();
/// The action that reads the account's billed traffic.
pub const BILLING_ACTION: &str = "DescribeBillingData";
/// The action that says how an area of the account is billed.
pub const PAY_TYPE_ACTION: &str = "DescribePayType";
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
    /// A client for `account`; the error is the one line to show, as for
    /// [`PackageSource::new`](crate::source::PackageSource::new).
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

    /// Lists every traffic package, page by page, as [`Self::list`] does.
    pub async fn get_packages(&self) -> Result<Snapshot, ApiError> {
        let packages = self.list(PackageList::Traffic).await?;
        Ok(Snapshot {
            taken_at: Utc::now(),
            packages,
        })
    }

    /// Lists every HTTPS request package (`DescribeHttpsPackages`), page
    /// by page, as [`Self::list`] does. Their amounts are requests.
    pub async fn https_packages(&self) -> Result<Vec<Package>, ApiError> {
        self.list(PackageList::Https).await
    }

    /// Lists every package of `list`, page by page, each page retried on
    /// transient errors. An id on two pages fails the list: the pages
    /// overlapped (the list shifted while it was read, or the API ignored
    /// `Offset`), so packages may be missing that no error would show. An
    /// id twice on one page is kept once.
    async fn list(&self, list: PackageList) -> Result<Vec<Package>, ApiError> {
        let action = list.action();
        let mut packages = Vec::new();
        let mut seen = HashSet::new();
        let mut offset = 0u64;
        // What the first page said: a list that outruns it is not read on.
        let mut first: Option<(u64, u64)> = None;
        for pages_read in 1..=MAX_PAGES {
            let page = with_retries(&self.core.retry, &self.core.account, action, || {
                self.attempt(list, offset)
            })
            .await?;
            let listed = page.packages.len() as u64;
            let mut new = 0u64;
            if offset == 0 {
                // Sized once for the whole list (bounded: TotalCount is the
                // answer's word), not doubled page after page.
                packages.reserve(page.total.min(MAX_PAGES * PAGE_LIMIT / 4) as usize);
            }
            let (first_total, page_size) = *first.get_or_insert((page.total, listed.max(1)));
            let mut on_this_page = HashSet::new();
            let mut repeated = Vec::new();
            for p in page.packages {
                if seen.contains(&p.id) {
                    repeated.push(p.id);
                } else if on_this_page.insert(p.id.clone()) {
                    packages.push(p);
                    new += 1;
                }
            }
            if !repeated.is_empty() {
                return Err(malformed(format!(
                    "TotalCount is {} but the page at Offset {offset} repeats {} package(s) of the pages before it (id {}): the list shifted while it was read, or the API ignores Offset; the poll fails rather than count part of the pool",
                    page.total,
                    repeated.len(),
                    repeated.iter().take(3).cloned().collect::<Vec<_>>().join(", ")
                )));
            }
            seen.extend(on_this_page);
            offset += listed;
            if offset >= page.total {
                return Ok(packages);
            }
            // A page with nothing new (empty) means the list ended before
            // TotalCount: asking on would cost up to MAX_PAGES requests
            // every poll and never reach it.
            if new == 0 {
                return Err(malformed(format!(
                    "TotalCount is {} but the list ended at {} package(s): the page at Offset {} held {listed} ({new} new)",
                    page.total,
                    packages.len(),
                    offset - listed
                )));
            }
            // A TotalCount that grows as fast as the pages are read: one
            // page more than the first TotalCount needed allows for a
            // package bought meanwhile; more is a list that never ends.
            if pages_read > first_total.div_ceil(page_size) + 1 {
                return Err(malformed(format!(
                    "TotalCount grows as the list is read: it was {first_total} at the first page and is {} after {pages_read} pages ({} packages); the poll fails rather than read on",
                    page.total,
                    packages.len()
                )));
            }
        }
        Err(malformed(format!("more than {} pages of packages", MAX_PAGES)))
    }

    async fn attempt(&self, list: PackageList, offset: u64) -> Result<Page, ApiError> {
        let result = self.send(list, offset).await;
        self.core.observe(list.action(), &result);
        result
    }

    async fn send(&self, list: PackageList, offset: u64) -> Result<Page, ApiError> {
        let body = serde_json::json!({ "Offset": offset, "Limit": PAGE_LIMIT }).to_string();
        let answer = self.post(list.action(), body).await?;
        let offset = self.core.offset;
        parse_off_runtime(answer, move |answer| parse_page_answer_of(list, answer, offset)).await
    }

    /// The account's billed `metric` in `area` per `interval`, from `start`
    /// to `end` (at most 31 days for these intervals): (point start, bytes
    /// for flux or requests for HTTPS). It is the real demand, also while no
    /// package covers it. Tried once: a refusal is the caller's to judge
    /// ([`ApiError::is_not_permitted`]).
    pub async fn billing_data(
        &self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        area: BillingArea,
        metric: BillingMetric,
        interval: BillingInterval,
    ) -> Result<Vec<(DateTime<Utc>, f64)>, ApiError> {
        let time = |t: DateTime<Utc>| format_api_time(t, self.core.offset);
        let body = serde_json::json!({
            "StartTime": time(start),
            "EndTime": time(end),
            "Interval": interval.name(),
            "Metric": metric.name(),
            "Area": area.name(),
        })
        .to_string();
        let result = async {
            let answer = self.post(BILLING_ACTION, body).await?;
            parse_billing(&parse_envelope(&answer)?, self.core.offset, metric)
        }
        .await;
        self.core.observe(BILLING_ACTION, &result);
        result
    }

    /// How `resource` is billed in `area` (`DescribePayType`): packages
    /// deduct only under traffic (or, for HTTPS, request) billing, and the
    /// cycle says how late they do. HTTPS requests are billed for the world:
    /// ask with [`BillingArea::Global`]. Tried once, as billing data is.
    pub async fn pay_type(&self, area: BillingArea, resource: Resource) -> Result<PayType, ApiError> {
        let kind = match resource {
            Resource::Traffic => "flux",
            Resource::HttpsRequests => "https",
        };
        let body = serde_json::json!({ "Area": area.name(), "Type": kind, "Product": "cdn" }).to_string();
        let result = async {
            let answer = self.post(PAY_TYPE_ACTION, body).await?;
            parse_pay_type(&parse_envelope(&answer)?, area, resource)
        }
        .await;
        self.core.observe(PAY_TYPE_ACTION, &result);
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
