//! The status page at `/`: what an operator leaves open on a second screen.
//! It reloads itself every 30 seconds (a meta refresh, no script), its
//! title carries the worst state (`CRITICAL · cdnquota`), a banner sums up
//! every account, and each account has a block per pool (what is left, the
//! countdowns, how it is billed, a chart), its alerts, orders and packages. The daemon's own health (mail outbox, state,
//! Alertmanager) has a section of its own.
//!
//! Every value from outside (titles, ids, errors, summaries) is escaped; the
//! page carries a Content-Security-Policy that allows no script at all, as a
//! second line of defence. It is rendered from what is in memory plus one
//! read of the order ledger, on the runtime that also answers `/healthz`:
//! nothing here waits on a lock held across I/O.

use super::svg_chart::{self, Chart};
use super::watch::{AccountStatus, AccountWatch};
use crate::alerting::alertmanager::UrlHealth;
use crate::alerting::render::escape_html;
use crate::alerting::{Notifier, NotifierHealth};
use cdnquota_core::account::AccountAssessment;
use cdnquota_core::advice_text;
use cdnquota_core::alerts::{Alert, Phase};
use cdnquota_core::assess::Assessment;
use cdnquota_core::check_state::{CheckState, NextLoss, next_loss, overall};
use cdnquota_core::ledger::{Ledger, OrderState};
use cdnquota_core::model::PoolKey;
use cdnquota_core::rules::Severity;
use cdnquota_core::settings::OrderMode;
use cdnquota_core::units::{format_amount_human, format_delta, format_size_human, format_span};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::fmt::Write;
use std::path::Path;
use std::sync::Arc;

/// Seconds between reloads.
pub const REFRESH_SECONDS: u32 = 30;

/// Accounts shown in full (chart and packages); past this many, the rest
/// are rows of one table, so that a page of thousands stays small.
const DETAILED_ACCOUNTS: usize = 50;

/// Accounts named in the banner.
const NAMED_IN_BANNER: usize = 8;

const STYLE: &str = "\
:root{color-scheme:light}\
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'Noto Sans','Noto Sans CJK SC','WenQuanYi Micro Hei','WenQuanYi Zen Hei','Microsoft YaHei','PingFang SC',sans-serif;margin:0;background:#f4f5f7;color:#1d2125}\
main{max-width:1200px;margin:0 auto;padding:1em}\
.banner{padding:1em 1.5em;color:#fff;display:flex;flex-wrap:wrap;gap:.3em 1.5em;align-items:baseline}\
.banner .state{font-size:2em;font-weight:700;letter-spacing:.05em}\
.banner .summary{font-size:1.1em;flex:1 1 30em;overflow-wrap:anywhere}\
.banner .meta{font-size:.85em;opacity:.9}\
.state-ok{--c:#1f7a3a}.state-warning{--c:#b25e00}.state-critical{--c:#c4161c}.state-unknown{--c:#5b4a9e}\
.banner{background:var(--c)}\
section{background:#fff;border-radius:6px;margin:1em 0;padding:.8em 1.2em;border-left:6px solid var(--c,#999)}\
h2{margin:.2em 0;font-size:1.3em;overflow-wrap:anywhere}\
h3{font-size:1em;margin:1em 0 .3em}\
.badge{display:inline-block;color:#fff;background:var(--c);border-radius:3px;padding:0 .4em;font-size:.75em;vertical-align:middle}\
.meter{background:#e3e5e8;border-radius:3px;height:1.1em;overflow:hidden;max-width:40em}\
.meter span{display:block;height:100%;background:var(--c)}\
.countdowns{display:flex;flex-wrap:wrap;gap:.5em 2em;margin:.5em 0}\
.countdowns div{min-width:16em}.big{font-size:1.4em;font-weight:600}\
table{border-collapse:collapse;width:100%;font-size:.9em}\
td,th{border-bottom:1px solid #e3e5e8;padding:.25em .5em;text-align:left;vertical-align:top}\
th{background:#f0f1f3;font-weight:600}td.num{text-align:right;white-space:nowrap}\
td.title{max-width:28em;overflow-wrap:anywhere}\
table.advice{max-width:60em;margin:.5em 0}tr.advised td{font-weight:600;background:#fff8e1}\
.warning{color:#a35400}.critical{color:#b3141a}.muted{color:#5f6670}\
svg.chart{width:100%;max-width:760px;height:auto;display:block;margin:.5em 0}\
svg .grid{stroke:#e3e5e8;stroke-width:1}svg .axis{font-size:11px;fill:#5f6670}\
svg .history{fill:none;stroke:#1f6fb2;stroke-width:2}svg .history-area{fill:#1f6fb2;fill-opacity:.12}\
svg .forecast{stroke:#c4161c;stroke-width:2;stroke-dasharray:6 4}\
svg .early{stroke:#b25e00;stroke-width:1.5;stroke-dasharray:2 3}\
svg .band{fill:#c4161c;fill-opacity:.08}svg .now{stroke:#5f6670;stroke-dasharray:3 3}\
svg .empty{font-size:13px;fill:#5f6670}svg .legend text{font-size:11px;fill:#1d2125}\
footer{color:#5f6670;font-size:.85em;padding:0 1em 2em;max-width:1200px;margin:0 auto}";

/// What one account looks like on the page, gathered once per request.
struct AccountView<'a> {
    watch: &'a AccountWatch,
    status: AccountStatus,
    alerts: Vec<&'a Alert>,
    state: CheckState,
}

/// The CSS class of a state.
fn class(state: CheckState) -> &'static str {
    match state {
        CheckState::Ok => "state-ok",
        CheckState::Warning => "state-warning",
        CheckState::Critical => "state-critical",
        CheckState::Unknown => "state-unknown",
    }
}

/// `3h 20m ago`, or `in 2d 4h`.
fn relative(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let d = t - now;
    match d.to_std() {
        Ok(ahead) => format!("in {}", format_span(ahead)),
        Err(_) => format!("{} ago", format_span((-d).to_std().unwrap_or_default())),
    }
}

/// `2026-06-01 12:00 UTC`.
fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// An account's state: its findings, its alerts (orders and PollFailing
/// included), and UNKNOWN while its figures are not fresh (never polled,
/// or the last poll failed), as `cdnquota check` would say.
fn account_state(status: &AccountStatus, alerts: &[&Alert]) -> CheckState {
    let findings = status.assessment.as_deref().map_or(CheckState::Ok, CheckState::of);
    let alerted = CheckState::of_severity(alerts.iter().map(|a| a.severity).max());
    let stale = if status.last_success.is_none() || status.last_error.is_some() {
        CheckState::Unknown
    } else {
        CheckState::Ok
    };
    overall([findings, alerted, stale])
}

/// The daemon's own state: mail that cannot go out, or state that is not
/// being saved, is a warning the page must show.
fn daemon_state(health: &NotifierHealth, alertmanagers: &[UrlHealth]) -> CheckState {
    let mail_stuck = health.outbox_pending > 0 && health.last_failure.is_some();
    let push_failing = alertmanagers.iter().any(|a| a.failing.is_some());
    if health.unsaved.is_some() || mail_stuck || push_failing {
        CheckState::Warning
    } else {
        CheckState::Ok
    }
}

/// Reads the order ledger without its lock: it is written atomically
/// (temporary file and rename), so a plain read sees one whole version, and
/// the page never waits for an order in flight. `Ok(None)`: no ledger yet.
fn read_ledger(path: &Path) -> Result<Option<Ledger>, String> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| format!("the order ledger {} is unreadable: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read the order ledger {}: {e}", path.display())),
    }
}

/// The whole page.
pub fn render(
    notifier: &Notifier,
    watches: &[Arc<AccountWatch>],
    ledger_path: &Path,
    series: &crate::metrics::PackageMetrics,
    now: DateTime<Utc>,
) -> String {
    let health = notifier.health();
    let alertmanagers = notifier.alertmanager_health();
    let all_alerts = notifier.active_alerts();
    // Grouped once: a scan of every alert per account is quadratic when
    // thousands of accounts all have one (PollFailing everywhere).
    let mut by_account: HashMap<&str, Vec<&Alert>> = HashMap::new();
    for a in &all_alerts {
        by_account.entry(a.account.as_str()).or_default().push(a);
    }
    let ledger = read_ledger(ledger_path);
    let mut views: Vec<AccountView> = watches
        .iter()
        .map(|watch| {
            let status = watch.status();
            let alerts = by_account.remove(watch.name()).unwrap_or_default();
            let state = account_state(&status, &alerts);
            AccountView {
                watch,
                status,
                alerts,
                state,
            }
        })
        .collect();
    // Worst first, then in the config's order: what needs a person on top.
    views.sort_by_key(|v| std::cmp::Reverse(v.state.rank()));
    let daemon = daemon_state(&health, &alertmanagers);
    let worst = overall(views.iter().map(|v| v.state).chain([daemon]));

    let mut page = String::with_capacity(16 * 1024);
    let _ = write!(
        page,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\
         <meta http-equiv=\"refresh\" content=\"{REFRESH_SECONDS}\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <link rel=\"icon\" href=\"data:,\">\
         <title>{} · cdnquota</title><style>{STYLE}</style></head><body class=\"{}\">",
        worst.label(),
        class(worst)
    );
    banner(&mut page, worst, &views, daemon, now);
    page.push_str("<main>");
    daemon_section(&mut page, daemon, &health, &alertmanagers, now);
    for view in views.iter().take(DETAILED_ACCOUNTS) {
        account_section(&mut page, view, &ledger, series, now);
    }
    if views.len() > DETAILED_ACCOUNTS {
        compact_table(&mut page, &views[DETAILED_ACCOUNTS..], now);
    }
    let _ = writeln!(
        page,
        "</main><footer>cdnquota {} · rendered {} · reloads every {REFRESH_SECONDS} s · \
         <a href=\"/metrics\">metrics</a> · <a href=\"/readyz\">readyz</a> · <a href=\"/healthz\">healthz</a></footer></body></html>",
        env!("CARGO_PKG_VERSION"),
        now.format("%Y-%m-%d %H:%M:%S UTC")
    );
    page
}

/// The rules that fire for an account, in one phrase.
fn what_fires(view: &AccountView) -> String {
    if view.status.last_success.is_none() {
        return match &view.status.last_error {
            Some(_) => "cannot be read".into(),
            None => "not polled yet".into(),
        };
    }
    // The most urgent first: PoolExhausted before PoolLow.
    let mut found: Vec<(std::cmp::Reverse<Severity>, &str)> = view
        .status
        .assessment
        .iter()
        .flat_map(|a| a.findings().map(|f| (std::cmp::Reverse(f.severity), f.rule.name())))
        .chain(
            view.alerts
                .iter()
                .map(|a| (std::cmp::Reverse(a.severity), a.rule.as_str())),
        )
        .collect();
    found.sort_unstable();
    let mut rules: Vec<&str> = Vec::new();
    for (_, rule) in found {
        if !rules.contains(&rule) {
            rules.push(rule);
        }
    }
    if view.status.last_error.is_some() {
        rules.insert(0, "last poll failed");
    }
    if rules.is_empty() {
        "OK".into()
    } else {
        rules.join(", ")
    }
}

fn banner(page: &mut String, worst: CheckState, views: &[AccountView], daemon: CheckState, now: DateTime<Utc>) {
    let count = |s: CheckState| views.iter().filter(|v| v.state == s).count();
    let counts: Vec<String> = [
        CheckState::Critical,
        CheckState::Unknown,
        CheckState::Warning,
        CheckState::Ok,
    ]
    .into_iter()
    .filter_map(|s| {
        let n = count(s);
        (n > 0).then(|| format!("{n} {}", s.label()))
    })
    .collect();
    let troubled: Vec<String> = views
        .iter()
        .filter(|v| v.state != CheckState::Ok)
        .take(NAMED_IN_BANNER)
        .map(|v| format!("{}: {}", escape_html(v.watch.name()), escape_html(&what_fires(v))))
        .collect();
    let mut summary = if troubled.is_empty() {
        format!("all {} account(s) OK", views.len())
    } else {
        troubled.join(" · ")
    };
    if daemon != CheckState::Ok {
        summary.push_str(" · the daemon itself needs attention (below)");
    }
    let _ = write!(
        page,
        "<header id=\"banner\" class=\"banner {}\" role=\"status\"><span class=\"state\">{}</span>\
         <span class=\"summary\">{summary}</span><span class=\"meta\">{} account(s): {} · as of {}</span></header>",
        class(worst),
        worst.label(),
        views.len(),
        counts.join(", "),
        now.format("%H:%M:%S UTC")
    );
}

fn daemon_section(
    page: &mut String,
    state: CheckState,
    health: &NotifierHealth,
    alertmanagers: &[UrlHealth],
    now: DateTime<Utc>,
) {
    let _ = write!(
        page,
        "<section id=\"daemon\" class=\"{}\"><h2>Daemon <span class=\"badge\">{}</span></h2>",
        class(state),
        state.label()
    );
    if let Some(why) = &health.unsaved {
        let _ = write!(
            page,
            "<p class=\"critical\">Alert state NOT saved: {}; alerts and queued mail live only in memory until this is fixed.</p>",
            escape_html(why)
        );
    }
    let _ = write!(page, "<p id=\"outbox\">Mail outbox: {} pending", health.outbox_pending);
    match &health.last_failure {
        Some((at, why)) => {
            let _ = write!(
                page,
                "; <span class=\"warning\">last delivery failure {} ({}): {}</span>",
                relative(*at, now),
                when(*at),
                escape_html(why)
            );
        }
        None => page.push_str("; no delivery failure since start"),
    }
    if health.failures > 0 {
        let _ = write!(page, "; {} failed attempt(s) since start", health.failures);
    }
    if let Some((at, subject, why)) = &health.last_dropped {
        let _ = write!(
            page,
            "; <span class=\"warning\" id=\"dropped\">last mail dropped {} ({}), refused by the relay: \"{}\": {}</span>",
            relative(*at, now),
            when(*at),
            escape_html(subject),
            escape_html(why)
        );
    }
    page.push_str("</p>");
    for am in alertmanagers {
        page.push_str(&alertmanager_line(am, now));
    }
    page.push_str("</section>");
}

/// One line for one Alertmanager.
fn alertmanager_line(am: &UrlHealth, now: DateTime<Utc>) -> String {
    let mut line = format!(
        "<p>Alertmanager {}: {} alert state(s) pending",
        escape_html(&am.url),
        am.pending
    );
    if let Some(t) = am.last_success {
        let _ = write!(line, "; last push {}", relative(t, now));
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

fn account_section(
    page: &mut String,
    view: &AccountView,
    ledger: &Result<Option<Ledger>, String>,
    exported: &crate::metrics::PackageMetrics,
    now: DateTime<Utc>,
) {
    let watch = view.watch;
    let status = &view.status;
    let _ = write!(
        page,
        "<section class=\"account {}\" id=\"account-{}\"><h2>{} <span class=\"badge\">{}</span></h2><p class=\"muted\">",
        class(view.state),
        escape_html(watch.name()),
        escape_html(watch.name()),
        view.state.label()
    );
    match status.last_success {
        Some(t) => {
            let _ = write!(page, "Last successful poll {} ({})", relative(t, now), when(t));
        }
        None => page.push_str("Not polled successfully yet"),
    }
    page.push_str("</p>");
    if let Some(e) = &status.last_error {
        let _ = write!(
            page,
            "<p class=\"critical\">Last poll failed: {}. The figures below are from the last successful poll.</p>",
            escape_html(e)
        );
    }
    if let Some(a) = &status.assessment {
        for p in &a.pools {
            pool(page, p, now);
            let series = watch.remaining_series(p.pool);
            page.push_str(&svg_chart::render(&Chart {
                history: &series,
                now,
                remaining: Some(p.totals.remaining_bytes),
                size: p.totals.size_bytes,
                depletion_at: p.projection.depletion_at,
                depletion_early_at: p.projection.depletion_early_at,
            }));
        }
    }
    alerts(page, &view.alerts, now);
    orders(page, watch, ledger, now);
    if let Some(a) = &status.assessment {
        packages(page, a, exported);
    }
    page.push_str("</section>");
}

/// The ids of a pool's countdowns: `run-dry` for the mainland traffic pool
/// (as before pools), `run-dry-europe` for the others.
fn pool_id(base: &str, pool: PoolKey) -> String {
    if pool == PoolKey::MAINLAND_TRAFFIC {
        base.to_string()
    } else {
        format!("{base}-{}", pool.slug())
    }
}

/// One pool: what is left against its size, how it is billed, packages not
/// started yet, and the two countdowns.
fn pool(page: &mut String, a: &Assessment, now: DateTime<Utc>) {
    let t = &a.totals;
    let amount = |n: u64| format_amount_human(n, a.pool.resource);
    let share = t.remaining_ratio().unwrap_or(0.0);
    let _ = write!(
        page,
        "<h3 class=\"pool-name\" id=\"{}\">{}</h3>",
        pool_id("pool", a.pool),
        escape_html(&a.pool.label())
    );
    let _ = write!(
        page,
        "<p class=\"pool\"><span class=\"big\">{}</span> left of {} ({:.1}%) in {} usable package(s)",
        amount(t.remaining_bytes),
        amount(t.size_bytes),
        share * 100.0,
        t.usable_packages,
    );
    if a.undeducted > 0 {
        let _ = write!(page, "; about {} billed but not yet deducted", amount(a.undeducted));
    }
    match &a.pay_type {
        Some(p) => {
            let cycle = p
                .billing_cycle
                .map_or(String::new(), |c| format!(", settled by the {}", c.name()));
            let class = if p.deducts() { "muted" } else { "warning" };
            let _ = write!(
                page,
                " · <span class=\"{class} pay-type\">billed by {}{cycle}</span>",
                escape_html(&p.pay_type)
            );
        }
        None => page.push_str(" · <span class=\"muted pay-type\">billing mode not known</span>"),
    }
    let _ = write!(
        page,
        "</p><div class=\"meter\" title=\"{:.1}% left\"><span style=\"width:{:.1}%\"></span></div>",
        share * 100.0,
        share * 100.0
    );
    for v in a.upcoming() {
        let _ = write!(
            page,
            "<p class=\"muted upcoming\">Not started yet: {} ({}), {}, starts {} ({})</p>",
            escape_html(&v.package.title),
            escape_html(&v.package.id),
            amount(v.remaining_bytes),
            relative(v.package.enabled_at, now),
            when(v.package.enabled_at)
        );
    }
    page.push_str("<div class=\"countdowns\">");
    let p = &a.projection;
    let _ = write!(page, "<div id=\"{}\">Runs dry<br>", pool_id("run-dry", a.pool));
    match (t.remaining_bytes, p.depletion_at) {
        (0, _) => page.push_str("<span class=\"big critical\">now: nothing left</span>"),
        (_, Some(dry)) => {
            let _ = write!(
                page,
                "<span class=\"big\">{}</span><br><span class=\"muted\">{}",
                relative(dry, now),
                when(dry)
            );
            if let Some(early) = p.depletion_early_at {
                let _ = write!(page, "; early bound {} ({})", relative(early, now), when(early));
            }
            page.push_str("</span>");
        }
        (_, None) => page.push_str(
            "<span class=\"big\">not forecast</span><br><span class=\"muted\">no consumption seen yet</span>",
        ),
    }
    let _ = write!(
        page,
        "<br><span class=\"muted\">{} at {}/s now</span></div>",
        escape_html(&p.basis_text),
        amount(p.expected_rate.max(0.0).round() as u64)
    );
    let _ = write!(
        page,
        "<div id=\"{}\">Next expiry with {} to lose<br>",
        pool_id("next-expiry", a.pool),
        a.pool.resource.unit()
    );
    match next_loss(a) {
        NextLoss::Package(v) => {
            let _ = write!(
                page,
                "<span class=\"big\">{}</span><br><span class=\"muted\">{}: {} ({}), {} forecast to be lost of {} left",
                relative(v.package.expires_at, now),
                when(v.package.expires_at),
                escape_html(&v.package.title),
                escape_html(&v.package.id),
                amount(v.expiring_unused_bytes),
                amount(v.remaining_bytes)
            );
            page.push_str("</span>");
        }
        NextLoss::AllUsed => page.push_str(
            "<span class=\"big\">none</span><br><span class=\"muted\">all used before expiry, as forecast</span>",
        ),
        NextLoss::Nothing => page.push_str(
            "<span class=\"big\">none</span><br><span class=\"muted\">no usable package with anything left</span>",
        ),
    }
    page.push_str("</div></div>");
    money(page, a);
}

/// The pool's money at stake and, when it calls for buying, the advice.
fn money(page: &mut String, a: &Assessment) {
    if let Some(m) = &a.money {
        let _ = write!(
            page,
            "<p class=\"money\" id=\"{}\">Money at stake: {}</p>",
            pool_id("money", a.pool),
            escape_html(&advice_text::money_line(m))
        );
    }
    let Some(advice) = &a.advice else {
        return;
    };
    let _ = write!(
        page,
        "<table class=\"advice\" id=\"{}\"><tr>",
        pool_id("advice", a.pool)
    );
    for head in advice_text::HEADS {
        let _ = write!(page, "<th>{}</th>", escape_html(head));
    }
    page.push_str("</tr>");
    for (i, row) in advice_text::rows(advice).iter().enumerate() {
        let class = if i == 0 { " class=\"advised\"" } else { "" };
        let _ = write!(page, "<tr{class}>");
        for cell in row {
            let _ = write!(page, "<td>{}</td>", escape_html(cell));
        }
        page.push_str("</tr>");
    }
    page.push_str("</table>");
    for note in advice_text::notes(advice) {
        let _ = write!(page, "<p class=\"muted\">{}</p>", escape_html(&note));
    }
    let _ = write!(
        page,
        "<p><a href=\"{}\" rel=\"noreferrer\">Buy in the Tencent Cloud console</a></p>",
        escape_html(advice.purchase_url)
    );
}

/// The account's alerts: pending or firing, and since when.
fn alerts(page: &mut String, alerts: &[&Alert], now: DateTime<Utc>) {
    page.push_str("<h3>Alerts</h3>");
    if alerts.is_empty() {
        page.push_str("<p class=\"muted alerts\">none pending or firing</p>");
        return;
    }
    page.push_str(
        "<table class=\"alerts\"><tr><th>alert</th><th>severity</th><th>phase</th><th>since</th><th>what</th></tr>",
    );
    for a in alerts {
        let phase = match a.phase {
            Phase::Pending => "pending (fires if the next poll sees it too)",
            Phase::Firing => "firing",
        };
        let package = a.package_id.as_deref().map_or_else(String::new, |p| {
            format!(" <span class=\"muted\">{}</span>", escape_html(p))
        });
        let _ = write!(
            page,
            "<tr class=\"{}\"><td>{}{package}</td><td>{}</td><td>{phase}</td><td>{} ({})</td><td class=\"title\">{}</td></tr>",
            a.severity.label().to_lowercase(),
            escape_html(&a.rule),
            a.severity.label(),
            relative(a.since, now),
            when(a.since),
            escape_html(&a.summary)
        );
    }
    page.push_str("</table>");
}

/// The account's ordering: its mode and what the ledger holds for it.
fn orders(page: &mut String, watch: &AccountWatch, ledger: &Result<Option<Ledger>, String>, now: DateTime<Utc>) {
    let order = &watch.account.order;
    page.push_str("<h3>Orders</h3><p class=\"orders\">");
    match (&order.standby, order.mode) {
        (Some(why), _) => {
            let _ = write!(page, "Ordering: off here, {}", escape_html(why));
        }
        (None, OrderMode::Off) => page.push_str("Ordering: off"),
        (None, OrderMode::DryRun) => page.push_str("Ordering: dry run (mails what it would order)"),
        (None, OrderMode::Live) => {
            let _ = write!(
                page,
                "Ordering: <b>live</b>, {} × {} GB when below {} or dry within {}",
                order.number,
                order.unit_gb,
                format_size_human(order.when_remaining_below.unwrap_or(0)),
                format_delta(order.when_depletion_within.unwrap_or_default())
            );
        }
    }
    match ledger {
        Err(why) => {
            let severity = if order.mode == OrderMode::Live {
                "critical"
            } else {
                "warning"
            };
            let _ = write!(page, "</p><p class=\"{severity}\">{}", escape_html(why));
        }
        Ok(None) => page.push_str(" · no order in the ledger"),
        Ok(Some(ledger)) => {
            let name = watch.name();
            let _ = write!(
                page,
                " · {} of {} order(s) in 30 days",
                ledger.counted_in_30_days(name, now),
                order.max_orders_per_30d
            );
            if let Some(e) = ledger.blocking(name) {
                let what = match &e.state {
                    OrderState::Failed { error, .. } => format!("FAILED: {}", escape_html(error)),
                    _ => "outcome UNKNOWN: look in the console".into(),
                };
                let _ = write!(
                    page,
                    "</p><p class=\"critical\">Order {} ({} × {} GB, {}) {what}; no order is placed until it is settled with <code>cdnquota order --resolve {}</code>",
                    escape_html(&e.id),
                    e.number,
                    e.unit_gb,
                    relative(e.intent_at, now),
                    escape_html(&e.id)
                );
            }
            if let Some(e) = ledger.outstanding(name)
                && let OrderState::Placed { order_ids, placed_at } = &e.state
            {
                let _ = write!(
                    page,
                    "</p><p class=\"warning\">Order {} ({} × {} GB) placed {}, waiting for payment: order id(s) {}",
                    escape_html(&e.id),
                    e.number,
                    e.unit_gb,
                    relative(*placed_at, now),
                    escape_html(&order_ids.join(", "))
                );
            }
            let fulfilled = ledger.entries.iter().rev().find_map(|e| match &e.state {
                OrderState::Fulfilled {
                    package_ids,
                    fulfilled_at,
                    ..
                } if e.account == name => Some((e, package_ids, fulfilled_at)),
                _ => None,
            });
            if let Some((e, packages, at)) = fulfilled {
                let _ = write!(
                    page,
                    "</p><p class=\"muted\">Last fulfilled: {} ({} × {} GB) by package(s) {}, {}",
                    escape_html(&e.id),
                    e.number,
                    e.unit_gb,
                    escape_html(&packages.join(", ")),
                    relative(*at, now)
                );
            }
        }
    }
    page.push_str("</p>");
}

/// The most packages listed per account: an account with years of expired
/// packages would make a page of megabytes. Every package is in `/metrics`.
const PACKAGE_ROWS: usize = 200;

fn packages(page: &mut String, a: &AccountAssessment, series: &crate::metrics::PackageMetrics) {
    page.push_str(
        "<h3>Packages</h3><table class=\"packages\"><tr><th>package</th><th>pool</th><th>title</th><th>left</th><th>size</th>\
         <th>used</th><th>expires</th><th>state</th></tr>",
    );
    // As in /metrics, packages that expired long ago are left out; of the
    // rest, those that matter first: usable or still to start, soonest expiry.
    let mut shown: Vec<&cdnquota_core::assess::PackageView> =
        a.packages().filter(|p| series.exports(p, a.at)).collect();
    let long_expired = a.packages().count() - shown.len();
    shown.sort_by_key(|p| (!(p.usable || p.upcoming), p.package.expires_at));
    let hidden = shown.len().saturating_sub(PACKAGE_ROWS);
    shown.truncate(PACKAGE_ROWS);
    for p in shown {
        let _ = write!(
            page,
            "<tr><td>{}</td><td>{}</td><td class=\"title\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{:.1}%</td><td>{}</td><td class=\"package-state\">{}</td></tr>",
            escape_html(&p.package.id),
            p.package.pool().slug(),
            escape_html(&p.package.title),
            format_amount_human(p.remaining_bytes, p.package.resource),
            format_amount_human(p.package.size_bytes, p.package.resource),
            p.used_ratio * 100.0,
            when(p.package.expires_at),
            escape_html(&p.state())
        );
    }
    page.push_str("</table>");
    if hidden > 0 {
        let _ = write!(
            page,
            "<p>{hidden} more package(s), expired or not usable, are in /metrics.</p>"
        );
    }
    if long_expired > 0 {
        let _ = write!(
            page,
            "<p class=\"muted\">{long_expired} expired long ago, not shown ([metrics] expired_package_series).</p>"
        );
    }
}

/// The accounts past [`DETAILED_ACCOUNTS`], one row each.
fn compact_table(page: &mut String, views: &[AccountView], now: DateTime<Utc>) {
    let _ = write!(
        page,
        "<section id=\"more\"><h2>{} more account(s)</h2><table><tr><th>account</th><th>state</th><th>left</th><th>runs dry</th><th>what</th></tr>",
        views.len()
    );
    for v in views {
        // The worst pool speaks for the account in one row.
        let a = v.status.assessment.as_ref().and_then(|a| a.worst_pool());
        let left = a.map_or_else(
            || "?".into(),
            |a| {
                format!(
                    "{} ({})",
                    format_amount_human(a.totals.remaining_bytes, a.pool.resource),
                    a.pool.slug()
                )
            },
        );
        let dry = a
            .and_then(|a| a.projection.depletion_at)
            .map_or_else(|| "-".into(), |t| relative(t, now));
        let _ = write!(
            page,
            "<tr class=\"{}\"><td>{}</td><td>{}</td><td class=\"num\">{left}</td><td>{dry}</td><td>{}</td></tr>",
            v.state.label().to_lowercase(),
            escape_html(v.watch.name()),
            v.state.label(),
            escape_html(&what_fires(v))
        );
    }
    page.push_str("</table></section>");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(severity: Severity, phase: Phase) -> Alert {
        Alert {
            account: "main".into(),
            rule: "OrderOutcomeUnknown".into(),
            region: None,
            package_id: None,
            severity,
            summary: "s".into(),
            phase,
            since: cdnquota_core::testing::at("2026-06-01 00:00:00"),
            notified_at: None,
        }
    }

    #[test]
    fn an_account_is_unknown_until_polled_and_while_its_last_poll_failed() {
        let never = AccountStatus::default();
        assert_eq!(account_state(&never, &[]), CheckState::Unknown);
        let failed = AccountStatus {
            last_success: Some(Utc::now()),
            last_error: Some("GetPackage failed".into()),
            ..AccountStatus::default()
        };
        assert_eq!(account_state(&failed, &[]), CheckState::Unknown);
        let fine = AccountStatus {
            last_success: Some(Utc::now()),
            ..AccountStatus::default()
        };
        assert_eq!(account_state(&fine, &[]), CheckState::Ok);
        // An order alert counts, pending or firing: critical outranks unknown.
        let a = alert(Severity::Critical, Phase::Pending);
        assert_eq!(account_state(&failed, &[&a]), CheckState::Critical);
        let w = alert(Severity::Warning, Phase::Firing);
        assert_eq!(account_state(&fine, &[&w]), CheckState::Warning);
    }

    #[test]
    fn mail_that_cannot_go_out_makes_the_daemon_a_warning() {
        let mut h = NotifierHealth::default();
        assert_eq!(daemon_state(&h, &[]), CheckState::Ok);
        h.last_failure = Some((Utc::now(), "relay down".into()));
        assert_eq!(
            daemon_state(&h, &[]),
            CheckState::Ok,
            "a failure with nothing queued is history"
        );
        h.outbox_pending = 2;
        assert_eq!(daemon_state(&h, &[]), CheckState::Warning);
        let h = NotifierHealth {
            unsaved: Some("read-only".into()),
            ..NotifierHealth::default()
        };
        assert_eq!(daemon_state(&h, &[]), CheckState::Warning);
    }

    #[test]
    fn the_ledger_is_read_without_its_lock_and_a_bad_one_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("orders.json");
        assert_eq!(read_ledger(&path), Ok(None));
        std::fs::write(&path, b"{\"entries\":[]}").unwrap();
        assert_eq!(read_ledger(&path), Ok(Some(Ledger::default())));
        std::fs::write(&path, b"{not json").unwrap();
        assert!(read_ledger(&path).unwrap_err().contains("unreadable"));
        assert!(!dir.path().join("orders.lock").exists(), "the page takes no lock");
    }

    #[test]
    fn times_read_both_ways() {
        let now = cdnquota_core::testing::at("2026-06-01 12:00:00");
        assert_eq!(
            relative(cdnquota_core::testing::at("2026-06-03 16:00:00"), now),
            "in 2d 4h"
        );
        assert_eq!(
            relative(cdnquota_core::testing::at("2026-06-01 11:30:00"), now),
            "30m ago"
        );
    }
}
