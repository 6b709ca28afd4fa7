//! The daemon's HTTP endpoints: `/metrics`, `/healthz`, `/readyz` and a
//! status page at `/`.

use super::watch::AccountWatch;
use crate::config::units::{format_size_human, format_span};
use crate::http::encoding::prefers_gzip;
use crate::http::server::{Body, Handler, HttpRequest, HttpResponse};
use crate::metrics::Metrics;
use crate::notify::Notifier;
use crate::notify::render::escape_html;
use chrono::Utc;
use hyper::header::{CONTENT_ENCODING, HeaderValue, VARY};
use std::fmt::Write;
use std::sync::Arc;

/// The text exposition format, version 0.0.4.
const METRICS_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// How long a scrape that wants text waits for it to be rendered.
const TEXT_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// The status page lists at most this many packages per account; every
/// package is in `/metrics`.
const STATUS_PAGE_ROWS: usize = 200;

/// Routes requests to the endpoints.
pub struct Endpoints {
    /// The metrics to render.
    pub metrics: Arc<Metrics>,
    /// Mail and state health, for the status page.
    pub notifier: Arc<Notifier>,
    /// The watched accounts, for readiness and the status page.
    pub accounts: Vec<Arc<AccountWatch>>,
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
            "/" => HttpResponse::new(200, "text/html; charset=utf-8", self.status_page()),
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

    fn status_page(&self) -> String {
        let now = Utc::now();
        let mut page = String::from(concat!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>cdnquota</title>",
            "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}",
            "td,th{border:1px solid #ccc;padding:.3em .6em;text-align:right}th{background:#eee}",
            ".warning{color:#a60}.critical{color:#c00}</style></head><body>",
            "<h1>cdnquota</h1><p><a href=\"/metrics\">metrics</a> · <a href=\"/readyz\">readyz</a></p>"
        ));
        let health = self.notifier.health();
        if let Some(why) = &health.unsaved {
            let _ = write!(
                page,
                "<p class=\"critical\">state NOT saved: {}; alerts and queued mail live only in memory until this is fixed</p>",
                escape_html(why)
            );
        }
        let _ = write!(page, "<p>mail outbox: {} pending", health.outbox_pending);
        if let Some((at, why)) = &health.last_failure {
            let _ = write!(
                page,
                "; <span class=\"warning\">last delivery failure {} ago: {}</span>",
                format_span((now - *at).to_std().unwrap_or_default()),
                escape_html(why)
            );
        }
        page.push_str("</p>");
        for am in self.notifier.alertmanager_health() {
            page.push_str(&alertmanager_line(&am, now));
        }
        for watch in &self.accounts {
            let status = watch.status();
            let _ = write!(page, "<h2>{}</h2>", escape_html(watch.name()));
            match status.last_success {
                Some(t) => {
                    let _ = write!(
                        page,
                        "<p>last successful poll {} ago",
                        format_span((now - t).to_std().unwrap_or_default())
                    );
                }
                None => page.push_str("<p>not polled successfully yet"),
            }
            if let Some(e) = &status.last_error {
                let _ = write!(
                    page,
                    "; <span class=\"critical\">last poll failed: {}</span>",
                    escape_html(e)
                );
            }
            page.push_str("</p>");
            if let Some(why) = &watch.account.order.standby {
                let _ = write!(page, "<p>ordering: {}</p>", escape_html(why));
            }
            let Some(a) = status.assessment else { continue };
            let _ = write!(
                page,
                "<p><b>{}</b> left of {} in {} usable package(s)",
                format_size_human(a.totals.remaining_bytes),
                format_size_human(a.totals.size_bytes),
                a.totals.usable_packages
            );
            if let Some(r) = a.consumption_bytes_per_second {
                let _ = write!(page, " · {}/s", format_size_human(r.round() as u64));
            }
            if let Some(d) = a.depletion_at {
                let _ = write!(page, " · runs dry {} UTC", d.format("%Y-%m-%d %H:%M"));
            }
            page.push_str("</p><ul>");
            for f in &a.findings {
                let class = f.severity.label().to_lowercase();
                let _ = write!(
                    page,
                    "<li class=\"{class}\">{}: {}</li>",
                    f.rule,
                    escape_html(&f.summary)
                );
            }
            page.push_str("</ul><table><tr><th>package</th><th>title</th><th>remaining</th><th>used</th><th>expires (UTC)</th><th>state</th></tr>");
            // Long-expired packages are left out as in /metrics, and a
            // large account is cut short: the page stays small and quick.
            let shown: Vec<_> = a
                .packages
                .iter()
                .filter(|p| self.metrics.packages.exports(p, now))
                .collect();
            for p in shown.iter().take(STATUS_PAGE_ROWS) {
                let _ = write!(
                    page,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.1}%</td><td>{}</td><td>{}</td></tr>",
                    escape_html(&p.package.id),
                    escape_html(&p.package.title),
                    format_size_human(p.remaining_bytes),
                    p.used_ratio * 100.0,
                    p.package.expires_at.format("%Y-%m-%d %H:%M"),
                    escape_html(&p.state())
                );
            }
            page.push_str("</table>");
            let hidden = a.packages.len() - shown.len();
            let cut = shown.len().saturating_sub(STATUS_PAGE_ROWS);
            if hidden + cut > 0 {
                let _ = write!(
                    page,
                    "<p>{} of {} packages listed here; not shown: {cut} more, {hidden} expired long ago (see <code>[metrics] expired_package_series</code>).</p>",
                    shown.len().min(STATUS_PAGE_ROWS),
                    a.packages.len()
                );
            }
        }
        page.push_str("</body></html>\n");
        page
    }
}

/// One status page line for one Alertmanager.
fn alertmanager_line(am: &crate::alertmanager::UrlHealth, now: chrono::DateTime<Utc>) -> String {
    let mut line = format!(
        "<p>Alertmanager {}: {} alert state(s) pending",
        escape_html(&am.url),
        am.pending
    );
    if let Some(t) = am.last_success {
        let _ = write!(
            line,
            "; last push {} ago",
            format_span((now - t).to_std().unwrap_or_default())
        );
    }
    if let Some((attempts, why)) = &am.failing {
        let _ = write!(
            line,
            "; <span class=\"warning\">{attempts} failed push(es) in a row: {}</span>",
            escape_html(why)
        );
    }
    line.push_str("</p>");
    line
}
