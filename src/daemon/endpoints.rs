//! The daemon's HTTP endpoints: `/metrics`, `/healthz`, `/readyz` and a
//! status page at `/` (see `status_page`).

use super::status_page;
use super::watch::AccountWatch;
use crate::alerting::Notifier;
use crate::http::encoding::prefers_gzip;
use crate::http::server::{Body, Handler, HttpRequest, HttpResponse};
use crate::metrics::Metrics;
use chrono::Utc;
use hyper::header::{CONTENT_ENCODING, HeaderValue, VARY};
use std::path::PathBuf;
use std::sync::Arc;

/// The text exposition format, version 0.0.4.
const METRICS_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// How long a scrape that wants text waits for it to be rendered.
const TEXT_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Routes requests to the endpoints.
pub struct Endpoints {
    /// The metrics to render.
    pub metrics: Arc<Metrics>,
    /// Mail and state health, for the status page.
    pub notifier: Arc<Notifier>,
    /// The watched accounts, for readiness and the status page.
    pub accounts: Vec<Arc<AccountWatch>>,
    /// The order ledger file, read (never locked) for the status page.
    pub ledger: PathBuf,
}

impl Handler for Endpoints {
    async fn handle(&self, request: HttpRequest) -> HttpResponse {
        if request.method != "GET" && request.method != "HEAD" {
            return HttpResponse::text(405, "only GET is served\n");
        }
        match request.path.as_str() {
            "/metrics" => self.metrics(&request).await,
            "/healthz" => HttpResponse::text(200, "ok\n"),
            "/readyz" => self.readiness(),
            "/" => HttpResponse::new(
                200,
                "text/html; charset=utf-8",
                status_page::render(
                    &self.notifier,
                    &self.accounts,
                    &self.ledger,
                    &self.metrics.packages,
                    Utc::now(),
                ),
            ),
            _ => HttpResponse::text(404, "not found: try /metrics, /healthz, /readyz or /\n"),
        }
    }
}

impl Endpoints {
    /// The exposition as rendered after the last poll: ready bytes, gzip
    /// when the scraper asks for it. Nothing is rendered or compressed here.
    async fn metrics(&self, request: &HttpRequest) -> HttpResponse {
        let wants_gzip = prefers_gzip(request.header("accept-encoding"));
        let mut rendered = self.metrics.rendered();
        let deadline = tokio::time::Instant::now() + TEXT_WAIT;
        loop {
            let ready = self.metrics.ready();
            let (body, gzip) = match (&ready.gzip, &ready.text) {
                (Some(g), _) if wants_gzip => (g, true),
                (_, Some(t)) => (t, false),
                // Right after a poll of a large account its text is being
                // rendered anew (the gzip body is whole): wait for it.
                _ => match tokio::time::timeout_at(deadline, rendered.changed()).await {
                    Ok(Ok(())) => continue,
                    _ => return HttpResponse::text(503, "the metrics are being rendered; try again\n"),
                },
            };
            let mut response = HttpResponse::new(200, METRICS_TYPE, Body::Parts(body.parts.clone(), body.len));
            response
                .headers
                .push((VARY, HeaderValue::from_static("Accept-Encoding")));
            if gzip {
                response
                    .headers
                    .push((CONTENT_ENCODING, HeaderValue::from_static("gzip")));
            }
            return response;
        }
    }

    /// Ready once every account has been polled successfully at least once.
    fn readiness(&self) -> HttpResponse {
        let waiting: Vec<&str> = self
            .accounts
            .iter()
            .filter(|a| !a.ever_succeeded())
            .map(|a| a.name())
            .collect();
        if waiting.is_empty() {
            HttpResponse::text(200, "ready\n")
        } else {
            HttpResponse::text(
                503,
                format!("waiting for a first successful poll of: {}\n", waiting.join(", ")),
            )
        }
    }
}
