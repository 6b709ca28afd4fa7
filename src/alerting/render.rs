//! The alert mail: a subject that says severity, account and what happened;
//! a plain-text part and an HTML part with the same content: the notices,
//! the pool, a table of packages, and what to do next. Pure: the caller
//! passes the clock, the zone and the host name.

use cdnquota_core::account::AccountAssessment;
use cdnquota_core::advice_text;
use cdnquota_core::alerts::{Notice, NoticeKind, POLL_FAILING};
use cdnquota_core::assess::Assessment;
use cdnquota_core::model::PoolKey;
use cdnquota_core::rules::{Rule, Severity};
use cdnquota_core::units::{format_amount_human, format_span};
use chrono::{DateTime, FixedOffset, Utc};
use std::fmt::Write;

/// A mail ready to queue.
#[derive(Clone, Debug, PartialEq)]
pub struct RenderedMail {
    /// The subject.
    pub subject: String,
    /// The plain-text part.
    pub text: String,
    /// The HTML part.
    pub html: String,
}

/// What the mail is about.
pub struct MailContext<'a> {
    /// The account.
    pub account: &'a str,
    /// What changed at this poll.
    pub notices: &'a [Notice],
    /// The account's latest known pools, if any poll has succeeded.
    pub assessment: Option<&'a AccountAssessment>,
    /// When the mail is written.
    pub now: DateTime<Utc>,
    /// The API's zone, for a second clock.
    pub offset: FixedOffset,
    /// The daemon's host.
    pub hostname: &'a str,
}

/// A summary up to its first `;`: the figures, without the caveats the body
/// repeats.
fn first_clause(summary: &str) -> &str {
    summary.split(';').next().unwrap_or(summary)
}

/// What the notice is about, in a few words with the numbers.
pub fn headline(notice: &Notice) -> String {
    let a = &notice.alert;
    match a.rule.as_str() {
        "HttpsPoolExhausted" => "HTTPS request pool exhausted".into(),
        "HttpsPoolLow" => format!("HTTPS request pool low: {}", first_clause(&a.summary)),
        "HttpsDepletionForecast" => format!(
            "HTTPS request pool {}",
            a.summary.split([';', ',']).next().unwrap_or(&a.summary)
        ),
        "HttpsPackageExpiringSoon" => format!(
            "HTTPS request package {} expiring with requests unused",
            a.package_id.as_deref().unwrap_or("?")
        ),
        "PackagesNotDeducting" => "packages are not deducting: the account is billed otherwise".into(),
        "HttpsPackagesNotDeducting" => "HTTPS request packages are not deducting: HTTPS is billed otherwise".into(),
        "PoolExhausted" => "CDN traffic pool exhausted".into(),
        "PoolLow" => format!("CDN traffic pool low: {}", first_clause(&a.summary)),
        // The summary's first clause ("forecast to run dry in 2d 4h (...)"):
        // the rest (the earliest time, the demand) is in the body.
        "DepletionForecast" => format!(
            "CDN traffic pool {}",
            a.summary.split([';', ',']).next().unwrap_or(&a.summary)
        ),
        "PackageExpiringSoon" => format!(
            "traffic package {} expiring with bytes unused",
            a.package_id.as_deref().unwrap_or("?")
        ),
        "PackageRefundable" => format!(
            "traffic package {} is more than the forecast needs and can still be refunded",
            a.package_id.as_deref().unwrap_or("?")
        ),
        POLL_FAILING => "cannot read the CDN traffic packages".into(),
        "OrderOutcomeUnknown" => "an order was interrupted and may have been placed".into(),
        "OrderLedgerUnavailable" => "the order ledger is out of reach: ordering is stopped".into(),
        "OrderFailed" => "ordering a traffic package failed".into(),
        "OrderNotFulfilled" => "an ordered traffic package is not paid yet".into(),
        "OrderCapReached" => "order cap reached: no traffic package ordered".into(),
        "OrderDryRun" => "dry run: a traffic package would be ordered".into(),
        other => other.to_string(),
    }
}

/// What a person should do about an alert of `rule`.
pub fn advice(rule: &str) -> &'static str {
    match rule {
        "HttpsPoolExhausted" => {
            "Buy an HTTPS request package in the Tencent Cloud console now: until one is active, HTTPS requests are billed pay-as-you-go."
        }
        "HttpsPoolLow" | "HttpsDepletionForecast" => {
            "Buy an HTTPS request package before the pool runs out; an order must be paid before the package appears."
        }
        "HttpsPackageExpiringSoon" => {
            "The requests left in this package are lost when it expires. Nothing to buy; plan around the smaller pool after expiry."
        }
        "PackagesNotDeducting" | "HttpsPackagesNotDeducting" => {
            "Packages deduct only under traffic billing (and HTTPS packages only while HTTPS is billed by request): switch the billing mode in the Tencent Cloud console, or stop buying packages for this area."
        }
        "PoolExhausted" => {
            "Buy a CDN traffic package in the Tencent Cloud console now: until one is active, CDN traffic is billed pay-as-you-go."
        }
        "PoolLow" => {
            "Buy a CDN traffic package for this billing region before the pool runs out (a package deducts only in its own region); an order must be paid before the package appears."
        }
        "DepletionForecast" => "Buy a CDN traffic package before the forecast date, or find out why traffic rose.",
        "PackageExpiringSoon" => {
            "The bytes left in this package are lost when it expires. Nothing to buy; plan around the smaller pool after expiry."
        }
        "PackageRefundable" => {
            "Tencent refunds an unused package within 15 days of purchase (15天无理由退还): refund it in the Tencent Cloud console before the deadline, and buy what the advice says instead, if anything."
        }
        POLL_FAILING => {
            "The daemon cannot see the pool: check its log (journalctl -u cdnquota) for the API error, and the credentials and network."
        }
        "OrderOutcomeUnknown" => {
            "Look in the Tencent Cloud console for the order. Then tell cdnquota: cdnquota order --resolve ID --placed ORDER_ID, or --not-placed. Until then it orders nothing for this account."
        }
        "OrderLedgerUnavailable" => {
            "No order was interrupted: the ledger itself cannot be read or locked. Fix what the message says (state_dir permissions, disk, open files), then the next poll clears this."
        }
        "OrderFailed" => "Fix what the API refused, then settle it: cdnquota order --resolve ID --not-placed.",
        "OrderNotFulfilled" => "Pay the order in the Tencent Cloud console; the package appears once it is paid.",
        "OrderCapReached" => {
            "Buy a package by hand in the console, or raise max_orders_per_30d if this much traffic is expected."
        }
        "OrderDryRun" => {
            "Nothing was ordered (mode = \"dry-run\"). Set mode = \"live\" to let cdnquota order, or buy by hand."
        }
        _ => "See the daemon's status page.",
    }
}

/// The pool an alert is about, in the latest assessment.
pub fn pool_of<'a>(notice: &Notice, now: Option<&'a AccountAssessment>) -> Option<&'a Assessment> {
    now?.pool(notice.alert.pool()?)
}

/// What is true now of an alert that resolved. Its summary holds the
/// figures of when it fired ("50.0 GB left"): a subject repeating them
/// would say the opposite of the news.
pub fn resolved_headline(notice: &Notice, now: Option<&AccountAssessment>) -> String {
    let a = &notice.alert;
    // A pool whose packages all expired long ago is no longer listed: its
    // alerts resolve, but nothing about it got better.
    if let (Some(_), Some(pool)) = (now, a.pool())
        && pool_of(notice, now).is_none()
    {
        return format!(
            "{} pool no longer watched: it has no package listed (expired longer ago than [metrics] expired_package_series); cleared: {}",
            pool.label(),
            headline(notice)
        );
    }
    let now = pool_of(notice, now);
    let left = |what: &str| match now {
        Some(x) => format!(
            "{what}: {} left",
            format_amount_human(x.totals.remaining_bytes, x.pool.resource)
        ),
        None => what.to_string(),
    };
    match a.rule.as_str() {
        "HttpsPoolLow" => left("HTTPS request pool no longer low"),
        "HttpsPoolExhausted" => left("HTTPS request pool has requests again"),
        "HttpsDepletionForecast" => "HTTPS request pool no longer forecast to run dry soon".into(),
        "PackagesNotDeducting" | "HttpsPackagesNotDeducting" => {
            "packages deduct again: the billing mode deducts from them".into()
        }
        "PoolLow" => left("CDN traffic pool no longer low"),
        "PoolExhausted" => left("CDN traffic pool has bytes again"),
        "DepletionForecast" => match now.and_then(|x| x.depletion_at) {
            Some(dry) => format!(
                "CDN traffic pool no longer forecast to run dry soon: now {} UTC",
                dry.format("%Y-%m-%d %H:%M")
            ),
            None => "CDN traffic pool no longer forecast to run dry soon".into(),
        },
        "PackageExpiringSoon" => format!(
            "traffic package {} no longer expiring with bytes unused",
            a.package_id.as_deref().unwrap_or("?")
        ),
        "PackageRefundable" => format!(
            "traffic package {}: refund no longer advised (the window closed, it was used, or the forecast needs it)",
            a.package_id.as_deref().unwrap_or("?")
        ),
        POLL_FAILING => "reading the CDN traffic packages works again".into(),
        _ => format!("cleared: {}", headline(notice)),
    }
}

/// ` · Europe` after the account in a subject: the pool an alert is about,
/// unless the account has only its mainland traffic pool, where it would
/// say nothing.
fn pool_name(n: &Notice, assessment: Option<&AccountAssessment>) -> String {
    let Some(pool) = n.alert.pool() else {
        return String::new();
    };
    let only_mainland = assessment.is_none_or(|a| a.pools.iter().all(|p| p.pool == PoolKey::MAINLAND_TRAFFIC));
    if pool == PoolKey::MAINLAND_TRAFFIC && only_mainland {
        String::new()
    } else {
        format!(" · {}", pool.label())
    }
}

fn label(n: &Notice) -> &'static str {
    match (n.kind, n.alert.severity) {
        (NoticeKind::Resolved, _) => "RESOLVED",
        (_, Severity::Critical) => "CRITICAL",
        (_, Severity::Warning) => "WARNING",
    }
}

/// Escapes text for HTML content and attribute values.
pub fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// One pool in a line: what is left, the rate, the forecast, what will be
/// lost, and what the forecast stands on.
fn pool_line(a: &Assessment) -> String {
    let amount = |n: u64| format_amount_human(n, a.pool.resource);
    let mut pool = format!(
        "{} left of {} in {} usable package(s)",
        amount(a.totals.remaining_bytes),
        amount(a.totals.size_bytes),
        a.totals.usable_packages
    );
    if a.undeducted > 0 {
        let _ = write!(pool, " ({} billed but not yet deducted)", amount(a.undeducted));
    }
    if let Some(rate) = a.consumption_bytes_per_second {
        let _ = write!(pool, "; burn rate {}/s", amount(rate.round() as u64));
    }
    if let Some(dry) = a.depletion_at {
        let _ = write!(pool, "; forecast to run dry {} UTC", dry.format("%Y-%m-%d %H:%M"));
        if let Some(early) = a.projection.depletion_early_at {
            let _ = write!(pool, ", {} UTC at the earliest", early.format("%Y-%m-%d %H:%M"));
        }
    }
    if a.projection.expiring_unused_bytes > 0 {
        let _ = write!(
            pool,
            "; {} forecast to expire unused",
            amount(a.projection.expiring_unused_bytes)
        );
    }
    if let Some(p) = &a.pay_type {
        let _ = write!(pool, "; billed by {}", p.pay_type);
    }
    // Said every time: a forecast from a few hours of history is a rough
    // one, and the reader should know.
    let _ = write!(pool, ". Forecast: {}", a.projection.basis_text);
    pool
}

/// A pool's money at stake and, when it calls for buying, the advice
/// table, in both parts of the mail.
fn money_and_advice(text: &mut String, html: &mut String, a: &Assessment) {
    let _ = writeln!(text, "\n{}: money and what to buy", a.pool.label());
    let _ = write!(
        html,
        "<p><b>{}</b>: money and what to buy</p>",
        escape_html(&a.pool.label())
    );
    if let Some(m) = &a.money {
        let line = advice_text::money_line(m);
        let _ = writeln!(text, "Money at stake: {line}");
        let _ = write!(html, "<p>Money at stake: {}</p>", escape_html(&line));
    }
    let Some(advice) = &a.advice else {
        return;
    };
    for line in advice_text::table(advice, "  ") {
        let _ = writeln!(text, "{line}");
    }
    html.push_str("<table border=\"1\" cellpadding=\"4\" style=\"border-collapse:collapse\"><tr>");
    for head in advice_text::HEADS {
        let _ = write!(html, "<th>{}</th>", escape_html(head));
    }
    html.push_str("</tr>");
    for (i, row) in advice_text::rows(advice).iter().enumerate() {
        let style = if i == 0 { " style=\"font-weight:bold\"" } else { "" };
        let _ = write!(html, "<tr{style}>");
        for (c, cell) in row.iter().enumerate() {
            let align = if c == 0 { "" } else { " align=\"right\"" };
            let _ = write!(html, "<td{align}>{}</td>", escape_html(cell));
        }
        html.push_str("</tr>");
    }
    html.push_str("</table>");
    for note in advice_text::notes(advice) {
        let _ = write!(html, "<p>{}</p>", escape_html(&note));
    }
}

/// The most packages a mail lists.
const MAIL_PACKAGES: usize = 50;

/// Writes the mail for one poll's notices of one account.
pub fn render(ctx: &MailContext) -> RenderedMail {
    // The subject leads with the most urgent news: critical, then warning,
    // then resolved.
    let rank = |n: &Notice| match label(n) {
        "CRITICAL" => 0,
        "WARNING" => 1,
        _ => 2,
    };
    let mut ordered: Vec<&Notice> = ctx.notices.iter().collect();
    ordered.sort_by_key(|n| rank(n));
    let lead = ordered.first();
    let subject = match lead {
        Some(n) => {
            let repeat = if n.kind == NoticeKind::Repeat { "still: " } else { "" };
            let more = if ordered.len() > 1 {
                format!(" (+{} more)", ordered.len() - 1)
            } else {
                String::new()
            };
            let what = match n.kind {
                NoticeKind::Resolved => resolved_headline(n, ctx.assessment),
                _ => headline(n),
            };
            format!(
                "[{}] {}{}: {repeat}{what}{more}",
                label(n),
                ctx.account,
                pool_name(n, ctx.assessment)
            )
        }
        None => format!("[INFO] {}: no change", ctx.account),
    };
    let local = ctx.now.with_timezone(&ctx.offset);
    let when = format!(
        "{} UTC ({} {})",
        ctx.now.format("%Y-%m-%d %H:%M"),
        local.format("%Y-%m-%d %H:%M"),
        ctx.offset
    );

    let mut text = format!("cdnquota on {}, {when}\nAccount: {}\n\n", ctx.hostname, ctx.account);
    let mut html = format!(
        "<html><body style=\"font-family:sans-serif\"><p>cdnquota on <b>{}</b>, {when}<br>Account: <b>{}</b></p><ul>",
        escape_html(ctx.hostname),
        escape_html(ctx.account)
    );
    for n in &ordered {
        let kind = match n.kind {
            NoticeKind::Firing => "firing",
            NoticeKind::Repeat => "still firing",
            NoticeKind::Resolved => "resolved",
        };
        let since = format_span((ctx.now - n.alert.since).to_std().unwrap_or_default());
        // A resolved alert's summary is history: said as such, after what
        // is true now.
        let summary = match n.kind {
            NoticeKind::Resolved => format!(
                "{}; when it fired: {}",
                resolved_headline(n, ctx.assessment),
                n.alert.summary
            ),
            _ => n.alert.summary.clone(),
        };
        let _ = writeln!(
            text,
            "{:<8} {} ({kind}, for {since}): {summary}",
            label(n),
            n.alert.rule
        );
        let _ = write!(
            html,
            "<li><b>{}</b> {} ({kind}, for {since}): {}</li>",
            label(n),
            escape_html(&n.alert.rule),
            escape_html(&summary)
        );
    }
    html.push_str("</ul>");

    if let Some(account) = ctx.assessment {
        let polled = format_span((ctx.now - account.at).to_std().unwrap_or_default());
        let _ = writeln!(text, "\nPools (polled {polled} ago):");
        let _ = write!(html, "<p>Pools (polled {polled} ago):</p><ul>");
        for a in &account.pools {
            let pool = pool_line(a);
            let _ = writeln!(text, "- {}: {pool}", a.pool.label());
            let _ = write!(
                html,
                "<li><b>{}</b>: {}</li>",
                escape_html(&a.pool.label()),
                escape_html(&pool)
            );
        }
        html.push_str("</ul>");
        // Only the pools this mail is about: the others are well.
        // An order alert is about the mainland traffic pool OrderPackage buys for.
        let about = |a: &&Assessment| {
            ordered.iter().any(|n| {
                let pool = match n.alert.pool() {
                    None if Rule::from_name(&n.alert.rule).is_some_and(Rule::is_order) => {
                        Some(PoolKey::MAINLAND_TRAFFIC)
                    }
                    pool => pool,
                };
                n.kind != NoticeKind::Resolved && pool == Some(a.pool)
            })
        };
        for a in account
            .pools
            .iter()
            .filter(about)
            .filter(|a| a.money.is_some() || a.advice.is_some())
        {
            money_and_advice(&mut text, &mut html, a);
        }
        text.push_str("\nPackages:\n");
        html.push_str(concat!(
            "<table border=\"1\" cellpadding=\"4\" style=\"border-collapse:collapse\">",
            "<tr><th>package</th><th>pool</th><th>title</th><th>remaining</th><th>used</th>",
            "<th>expires (UTC)</th><th>expires (API zone)</th><th>state</th></tr>"
        ));
        let _ = writeln!(
            text,
            "{:<12} {:<14} {:<12} {:>10} {:>6}  {:<16}  {:<16}  STATE",
            "ID",
            "POOL",
            "TITLE",
            "REMAINING",
            "USED",
            "EXPIRES (UTC)",
            format!("EXPIRES ({})", ctx.offset)
        );
        // Usable packages and those still to start, soonest expiry first; an
        // account with years of expired packages would otherwise mail them all.
        let mut shown: Vec<&cdnquota_core::assess::PackageView> =
            account.packages().filter(|p| p.usable || p.upcoming).collect();
        shown.sort_by_key(|p| p.package.expires_at);
        let hidden = account.packages().count() - shown.len().min(MAIL_PACKAGES);
        shown.truncate(MAIL_PACKAGES);
        for p in shown {
            let expires = p.package.expires_at.format("%Y-%m-%d %H:%M").to_string();
            let expires_local = p
                .package
                .expires_at
                .with_timezone(&ctx.offset)
                .format("%Y-%m-%d %H:%M")
                .to_string();
            let state = p.state();
            let used = format!("{:.1}%", p.used_ratio * 100.0);
            let remaining = format_amount_human(p.remaining_bytes, p.package.resource);
            let pool = p.package.pool().slug();
            let _ = writeln!(
                text,
                "{:<12} {pool:<14} {:<12} {remaining:>10} {used:>6}  {expires:<16}  {expires_local:<16}  {state}",
                p.package.id, p.package.title
            );
            let _ = write!(
                html,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td align=\"right\">{remaining}</td><td align=\"right\">{used}</td><td>{expires}</td><td>{expires_local}</td><td>{}</td></tr>",
                escape_html(&p.package.id),
                escape_html(&pool),
                escape_html(&p.package.title),
                escape_html(&state)
            );
        }
        html.push_str("</table>");
        if hidden > 0 {
            let more = format!(
                "{hidden} more package(s) (expired, not usable, or past the first {MAIL_PACKAGES}) are on the status page."
            );
            let _ = writeln!(text, "{more}");
            let _ = write!(html, "<p>{}</p>", escape_html(&more));
        }
    }

    let mut rules: Vec<&str> = ordered
        .iter()
        .filter(|n| n.kind != NoticeKind::Resolved)
        .map(|n| n.alert.rule.as_str())
        .collect();
    rules.dedup();
    if !rules.is_empty() {
        text.push_str("\nWhat to do:\n");
        html.push_str("<p><b>What to do</b></p><ul>");
        for rule in rules {
            let _ = writeln!(text, "- {rule}: {}", advice(rule));
            let _ = write!(html, "<li>{}: {}</li>", escape_html(rule), escape_html(advice(rule)));
        }
        html.push_str("</ul>");
    }
    text.push_str("\nThis mail repeats while an alert fires; a resolved alert is announced once.\n");
    html.push_str("</body></html>\n");
    RenderedMail { subject, text, html }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cdnquota_core::alerts::{Alert, Phase};
    use cdnquota_core::assess::assess;
    use cdnquota_core::forecast::Sample;
    use cdnquota_core::model::Snapshot;
    use cdnquota_core::settings::Thresholds;
    use cdnquota_core::testing::{at, package};

    fn notice(kind: NoticeKind, rule: &str, severity: Severity) -> Notice {
        Notice {
            kind,
            alert: Alert {
                account: "main".into(),
                rule: rule.into(),
                region: Some(cdnquota_core::model::Region::Mainland),
                package_id: None,
                severity,
                summary: "150 GB left (15.0% of 1.00 TB), below 200 GB; the API deducts traffic up to 4 h after it flows, so fewer may be left".into(),
                phase: Phase::Firing,
                since: at("2026-06-01 00:00:00"),
                notified_at: None,
            },
        }
    }

    fn mail(notices: &[Notice]) -> RenderedMail {
        mail_with(notices, vec![])
    }

    fn mail_with(notices: &[Notice], more: Vec<cdnquota_core::model::Package>) -> RenderedMail {
        let mut packages = vec![package(
            "432932",
            1_000_000_000_000,
            850_000_000_000,
            "2026-01-01 00:00:00",
            "2027-01-01 00:00:00",
        )];
        packages.extend(more);
        let snap = Snapshot {
            taken_at: at("2026-06-01 01:00:00"),
            packages,
        };
        let pools = snap
            .clone()
            .into_pools()
            .into_values()
            .map(|s| assess(&s, &[Sample::of(&s)], &Thresholds::default(), snap.taken_at))
            .collect();
        let a = AccountAssessment {
            at: snap.taken_at,
            pools,
            pay_types: vec![],
        };
        render(&MailContext {
            account: "main",
            notices,
            assessment: Some(&a),
            now: at("2026-06-01 01:00:00"),
            offset: tencent_cdn_api::settings::CHINA_STANDARD_TIME,
            hostname: "cdn-watch-1",
        })
    }

    #[test]
    fn subject_leads_with_the_worst_news() {
        let m = mail(&[notice(NoticeKind::Firing, "PoolLow", Severity::Warning)]);
        assert_eq!(
            m.subject,
            "[WARNING] main: CDN traffic pool low: 150 GB left (15.0% of 1.00 TB), below 200 GB"
        );
        let m = mail(&[
            notice(NoticeKind::Resolved, "DepletionForecast", Severity::Warning),
            notice(NoticeKind::Firing, "PoolExhausted", Severity::Critical),
        ]);
        assert_eq!(m.subject, "[CRITICAL] main: CDN traffic pool exhausted (+1 more)");
        let m = mail(&[notice(NoticeKind::Resolved, "PoolLow", Severity::Warning)]);
        assert_eq!(
            m.subject,
            "[RESOLVED] main: CDN traffic pool no longer low: 150 GB left"
        );
        let m = mail(&[notice(NoticeKind::Repeat, "PoolExhausted", Severity::Critical)]);
        assert_eq!(m.subject, "[CRITICAL] main: still: CDN traffic pool exhausted");
    }

    #[test]
    fn the_subject_names_the_pool_when_the_account_has_more_than_mainland() {
        let mut europe = package(
            "eu1",
            50_000_000_000,
            47_900_000_000,
            "2026-01-01 00:00:00",
            "2027-01-01 00:00:00",
        );
        europe.region = cdnquota_core::model::Region::Europe;
        let mut n = notice(NoticeKind::Firing, "PoolLow", Severity::Warning);
        n.alert.region = Some(cdnquota_core::model::Region::Europe);
        n.alert.summary = "2.10 GB left (4.2% of 50.0 GB), below 5.00 GB; the API deducts traffic up to 4 h after it flows, so fewer may be left".into();
        let m = mail_with(&[n], vec![europe]);
        assert_eq!(
            m.subject,
            "[WARNING] main · Europe: CDN traffic pool low: 2.10 GB left (4.2% of 50.0 GB), below 5.00 GB"
        );
        assert!(m.text.contains("- Europe: 2.10 GB left of 50.0 GB"), "{}", m.text);
        assert!(m.text.contains("up to 4 h after it flows"), "{}", m.text);
        // The mainland pool of an account with another pool is named too.
        let mut eu2 = package("eu2", 1, 0, "2026-01-01 00:00:00", "2027-01-01 00:00:00");
        eu2.region = cdnquota_core::model::Region::Europe;
        let m = mail_with(&[notice(NoticeKind::Firing, "PoolLow", Severity::Warning)], vec![eu2]);
        assert!(
            m.subject
                .starts_with("[WARNING] main · Mainland China: CDN traffic pool low: 150 GB left"),
            "{}",
            m.subject
        );
    }

    #[test]
    fn both_parts_carry_the_table_times_host_and_advice() {
        let m = mail(&[notice(NoticeKind::Firing, "PoolLow", Severity::Warning)]);
        for part in [&m.text, &m.html] {
            assert!(part.contains("cdn-watch-1"), "{part}");
            assert!(
                part.contains("2026-06-01 01:00 UTC (2026-06-01 09:00 +08:00)"),
                "{part}"
            );
            assert!(
                part.contains("432932") && part.contains("150 GB") && part.contains("85.0%"),
                "{part}"
            );
            assert!(
                part.contains("2027-01-01 00:00") && part.contains("2027-01-01 08:00"),
                "{part}"
            );
            assert!(part.contains("Buy a CDN traffic package"), "{part}");
        }
        assert!(m.html.starts_with("<html>") && m.html.contains("<table"));
    }

    #[test]
    fn html_is_escaped() {
        let mut n = notice(NoticeKind::Firing, "PoolLow", Severity::Warning);
        n.alert.summary = "<script>x</script>".into();
        let m = mail(&[n]);
        assert!(!m.html.contains("<script>") && m.html.contains("&lt;script&gt;"));
    }
}
