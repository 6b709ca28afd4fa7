//! The daemon's HTTP endpoints: `/metrics`, `/healthz`, `/readyz` and a
//! status page at `/` (see `status_page`).

use super::status_page;
use super::watch::AccountWatch;
use crate::http::server::{Handler, HttpRequest, HttpResponse};
use crate::metrics::Metrics;
use crate::notify::Notifier;
use bytes::Bytes;
use chrono::Utc;
use std::path::PathBuf;
use std::sync::Arc;

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
            "/metrics" => HttpResponse {
                status: 200,
                content_type: "text/plain; version=0.0.4; charset=utf-8",
                body: Bytes::from(self.metrics.render()),
            },
            "/healthz" => HttpResponse::text(200, "ok\n"),
            "/readyz" => self.readiness(),
            "/" => HttpResponse {
                status: 200,
                content_type: "text/html; charset=utf-8",
                body: Bytes::from(status_page::render(
                    &self.notifier,
                    &self.accounts,
                    &self.ledger,
                    Utc::now(),
                )),
            },
            _ => HttpResponse::text(404, "not found: try /metrics, /healthz, /readyz or /\n"),
        }
    }
}

impl Endpoints {
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
