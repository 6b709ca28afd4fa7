//! The text a monitoring plugin prints, after the Nagios plugin guidelines:
//! the first line is the status, `CDNQUOTA <STATE> - <summary> | <perfdata>`,
//! and becomes the service's status text; the lines after it are the long
//! output (the packages table and each account's findings).
//!
//! Perfdata is `'label'=value[UOM];warn;crit;min;max` per value, labels
//! quoted, space-separated, one set per pool: `'main_remaining'` for the
//! mainland traffic pool (as before pools, so graphs carry on) and
//! `'main/europe_remaining'`, `'main/https_global_remaining'` for the
//! others, HTTPS request pools in requests (no unit). Thresholds use the
//! plugin range syntax, where `N:` means "alert below N", as PoolLow and
//! the countdowns do.

use super::check_report::{AccountReport, Report};
use cdnquota_core::advice_text;
use cdnquota_core::assess::Assessment;
use cdnquota_core::check_state::{CheckState, next_expiry};
use cdnquota_core::model::{PoolKey, Resource};
use cdnquota_core::units::format_amount_human;
use std::cmp::Reverse;

/// Accounts named on the status line; the rest are counted.
const NAMED_ON_STATUS_LINE: usize = 5;

/// An error is cut to this many characters on the status line; the long
/// output has it whole.
const STATUS_ERROR_CHARS: usize = 200;

/// Text made safe for plugin output: `|` would start perfdata (also in the
/// long output), and a line break would end the status line.
fn plain(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '|' => '¦',
            '\n' | '\r' => ' ',
            c => c,
        })
        .collect()
}

/// The first line: `CDNQUOTA STATE - summary | perfdata`, newline included.
pub fn status_line(state: CheckState, summary: &str, perfdata: &[String]) -> String {
    let mut line = format!("CDNQUOTA {} - {}", state.label(), plain(summary));
    if !perfdata.is_empty() {
        line.push_str(" | ");
        line.push_str(&perfdata.join(" "));
    }
    line.push('\n');
    line
}

/// `remaining of size (pct)`, or that no package is usable.
fn pool_phrase(a: &Assessment) -> String {
    let amount = |n: u64| format_amount_human(n, a.pool.resource);
    match a.totals.remaining_ratio() {
        Some(ratio) => format!(
            "{} left of {} ({:.1}%)",
            amount(a.totals.remaining_bytes),
            amount(a.totals.size_bytes),
            ratio * 100.0
        ),
        None => "no usable package".into(),
    }
}

/// `main`, or `main · Europe` where the account has more than its mainland
/// traffic pool.
fn pool_title(account: &str, a: &Assessment, pools: usize) -> String {
    if a.pool == PoolKey::MAINLAND_TRAFFIC && pools == 1 {
        account.to_string()
    } else {
        format!("{account} · {}", a.pool.label())
    }
}

/// One account on the status line: its worst pool, then what fires in any
/// pool, or the error.
fn brief(r: &AccountReport) -> String {
    match (&r.assessment, &r.error) {
        (Some(account), _) => {
            let Some(a) = account.worst_pool() else {
                return format!("{}: no pool", r.account);
            };
            let mut text = format!("{}: {}", pool_title(&r.account, a, account.pools.len()), pool_phrase(a));
            let mut rules: Vec<&str> = account.findings().map(|f| f.rule.name()).collect();
            rules.sort_unstable();
            rules.dedup();
            for rule in rules {
                text.push_str(", ");
                text.push_str(rule);
            }
            text
        }
        (None, error) => {
            let error = error.as_deref().unwrap_or("no answer");
            let mut cut: String = error.chars().take(STATUS_ERROR_CHARS).collect();
            if cut.len() < error.len() {
                cut.push('…');
            }
            format!("{}: {cut}", r.account)
        }
    }
}

/// The summary: accounts worst first, at most `NAMED_ON_STATUS_LINE`.
pub fn summary(report: &Report) -> String {
    if report.accounts.is_empty() {
        return "no accounts".into();
    }
    let mut order: Vec<&AccountReport> = report.accounts.iter().collect();
    order.sort_by_key(|r| Reverse(r.state.rank()));
    let mut parts: Vec<String> = order.iter().take(NAMED_ON_STATUS_LINE).map(|r| brief(r)).collect();
    let rest = &order[order.len().min(NAMED_ON_STATUS_LINE)..];
    if !rest.is_empty() {
        let ok = rest.iter().filter(|r| r.state == CheckState::Ok).count();
        parts.push(format!("{} more account(s), {ok} of them OK", rest.len()));
    }
    parts.join("; ")
}

/// A threshold "alert below `n`", or nothing when the rule is off.
/// A threshold span in whole seconds, 0 when it is off.
fn seconds_or_off(d: Option<chrono::TimeDelta>) -> u64 {
    d.map_or(0, |d| d.num_seconds().max(0) as u64)
}

fn below(n: u64) -> String {
    if n == 0 { String::new() } else { format!("{n}:") }
}

/// One perfdata value, without the empty fields at its end.
fn perf(label: String, value: String, fields: [String; 4]) -> String {
    let mut item = format!("'{label}'={value};{}", fields.join(";"));
    while item.ends_with(';') {
        item.pop();
    }
    item
}

/// The perfdata of one account, pool by pool: what is left (warn:
/// `remaining_bytes_below`; crit: nothing left), share used (warn:
/// `remaining_ratio_below`), and seconds to the forecast run-dry and to the
/// next expiry with something left (warn: `depletion_within`,
/// `expires_within`). A countdown with nothing to count down to is left out
/// rather than written as a number.
pub fn perfdata(r: &AccountReport) -> Vec<String> {
    let Some(account) = &r.assessment else {
        return Vec::new();
    };
    account
        .pools
        .iter()
        .flat_map(|a| {
            let name = if a.pool == PoolKey::MAINLAND_TRAFFIC {
                r.account.clone()
            } else {
                format!("{}/{}", r.account, a.pool.slug())
            };
            pool_perfdata(&name, a, &r.thresholds.of(a.pool))
        })
        .collect()
}

fn pool_perfdata(name: &str, a: &Assessment, t: &cdnquota_core::settings::Thresholds) -> Vec<String> {
    let unit = match a.pool.resource {
        Resource::Traffic => "B",
        Resource::HttpsRequests => "",
    };
    let mut items = vec![perf(
        format!("{name}_remaining"),
        format!("{}{unit}", a.totals.remaining_bytes),
        [
            below(t.remaining_bytes_below.unwrap_or(0)),
            "1:".into(),
            "0".into(),
            a.totals.size_bytes.to_string(),
        ],
    )];
    if let Some(ratio) = a.totals.remaining_ratio() {
        let warn = t.remaining_ratio_below.map_or(String::new(), |below| {
            format!("{}", ((1.0 - below) * 100.0 * 100.0).round() / 100.0)
        });
        items.push(perf(
            format!("{name}_used"),
            format!("{:.2}%", (1.0 - ratio) * 100.0),
            [warn, String::new(), "0".into(), "100".into()],
        ));
    }
    let seconds_to = |t2: chrono::DateTime<chrono::Utc>| (t2 - a.at).num_seconds().max(0);
    let dry_in = if a.totals.remaining_bytes == 0 {
        Some(0)
    } else {
        a.projection.depletion_at.map(seconds_to)
    };
    if let Some(dry_in) = dry_in {
        items.push(perf(
            format!("{name}_dry_in"),
            format!("{dry_in}s"),
            [
                below(seconds_or_off(t.depletion_within)),
                String::new(),
                "0".into(),
                String::new(),
            ],
        ));
    }
    if let Some(p) = next_expiry(a) {
        items.push(perf(
            format!("{name}_expiry_in"),
            format!("{}s", seconds_to(p.package.expires_at)),
            [
                below(seconds_or_off(t.expires_within)),
                String::new(),
                "0".into(),
                String::new(),
            ],
        ));
    }
    items
}

/// Terminal columns a text takes: East Asian wide characters (package
/// titles such as 日常流量包) take two.
fn display_width(text: &str) -> usize {
    text.chars()
        .map(|c| match c as u32 {
            0x1100..=0x115F
            | 0x2E80..=0xA4CF
            | 0xAC00..=0xD7A3
            | 0xF900..=0xFAFF
            | 0xFE30..=0xFE4F
            | 0xFF00..=0xFF60
            | 0xFFE0..=0xFFE6 => 2,
            _ => 1,
        })
        .sum()
}

/// The long output: the packages table, then each account's line and its
/// findings.
pub fn render_table(report: &Report) -> String {
    let mut rows: Vec<[String; 7]> = vec![[
        "ACCOUNT".into(),
        "PACKAGE".into(),
        "TITLE".into(),
        "REMAINING".into(),
        "USED".into(),
        "EXPIRES (UTC)".into(),
        "STATE".into(),
    ]];
    for r in report.accounts.iter() {
        for p in r.assessment.iter().flat_map(|a| a.packages()) {
            let account = if p.package.pool() == PoolKey::MAINLAND_TRAFFIC {
                r.account.clone()
            } else {
                format!("{}/{}", r.account, p.package.pool().slug())
            };
            rows.push([
                account,
                plain(&p.package.id),
                plain(&p.package.title),
                format_amount_human(p.remaining_bytes, p.package.resource),
                format!("{:.1}%", p.used_ratio * 100.0),
                p.package.expires_at.format("%Y-%m-%d %H:%M").to_string(),
                plain(&p.state()),
            ]);
        }
    }
    let widths: Vec<usize> = (0..7)
        .map(|c| rows.iter().map(|r| display_width(&r[c])).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    if rows.len() > 1 {
        for row in &rows {
            let cells: Vec<String> = row
                .iter()
                .zip(&widths)
                .map(|(cell, w)| format!("{cell}{}", " ".repeat(w.saturating_sub(display_width(cell)))))
                .collect();
            out.push_str(cells.join("  ").trim_end());
            out.push('\n');
        }
        out.push('\n');
    }
    for r in &report.accounts {
        match (&r.assessment, &r.error) {
            (Some(account), _) => {
                for a in &account.pools {
                    pool_lines(&mut out, r, a, account.pools.len());
                }
            }
            (None, error) => {
                out.push_str(&format!(
                    "{}: UNKNOWN - {}\n",
                    r.account,
                    plain(error.as_deref().unwrap_or("no answer"))
                ));
            }
        }
    }
    out
}

/// One pool in the long output: what is left, the forecast, the findings.
fn pool_lines(out: &mut String, r: &AccountReport, a: &Assessment, pools: usize) {
    let amount = |n: u64| format_amount_human(n, a.pool.resource);
    let pct = a
        .totals
        .remaining_ratio()
        .map_or_else(String::new, |x| format!(" ({:.1}%)", x * 100.0));
    out.push_str(&format!(
        "{}: {} - {} left of {}{pct} in {} usable package(s)\n",
        pool_title(&r.account, a, pools),
        CheckState::of_severity(a.worst()).label(),
        amount(a.totals.remaining_bytes),
        amount(a.totals.size_bytes),
        a.totals.usable_packages
    ));
    let p = &a.projection;
    let dry = match (p.depletion_at, p.depletion_early_at) {
        (Some(c), Some(e)) => format!(
            "runs dry {} UTC ({} at the earliest)",
            c.format("%Y-%m-%d %H:%M"),
            e.format("%Y-%m-%d %H:%M")
        ),
        (Some(c), None) => format!("runs dry {} UTC", c.format("%Y-%m-%d %H:%M")),
        _ => "does not run dry within 400 days".into(),
    };
    out.push_str(&format!(
        "  forecast: {dry}; {} to expire unused; {}\n",
        amount(p.expiring_unused_bytes),
        p.basis_text
    ));
    for f in &a.findings {
        out.push_str(&format!("  {} {}: {}\n", f.severity.label(), f.rule, plain(&f.summary)));
    }
    if let Some(m) = &a.money {
        out.push_str(&format!("  money at stake: {}\n", advice_text::money_line(m)));
    }
    if let Some(advice) = &a.advice {
        out.push_str("  purchase advice:\n");
        for line in advice_text::table(advice, "    ") {
            out.push_str(&line);
            out.push('\n');
        }
    }
}

/// The whole plugin output: status line with perfdata, then long output.
pub fn render(report: &Report) -> String {
    let perf: Vec<String> = report.accounts.iter().flat_map(perfdata).collect();
    let mut out = status_line(report.state, &summary(report), &perf);
    out.push_str(&render_table(report));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use cdnquota_core::assess::assess_at_rate;
    use cdnquota_core::model::Snapshot;
    use cdnquota_core::settings::PoolThresholds;
    use cdnquota_core::testing::{at, package};

    const GB: u64 = 1_000_000_000;

    fn report_of(name: &str, packages: Vec<cdnquota_core::model::Package>, rate: Option<f64>) -> AccountReport {
        let now = at("2026-06-01 00:00:00");
        let thresholds = PoolThresholds::default();
        let pool = assess_at_rate(
            Snapshot {
                taken_at: now,
                packages,
            },
            rate,
            &thresholds.traffic,
            now,
        );
        let a = cdnquota_core::account::AccountAssessment {
            at: now,
            pools: vec![pool],
            pay_types: vec![],
        };
        AccountReport {
            account: name.into(),
            state: CheckState::of(&a),
            assessment: Some(a),
            error: None,
            thresholds,
        }
    }

    fn whole(accounts: Vec<AccountReport>) -> Report {
        let state = cdnquota_core::check_state::overall(accounts.iter().map(|r| r.state));
        Report {
            state,
            exit_code: state.code(),
            accounts,
        }
    }

    #[test]
    fn the_first_line_is_the_status_with_perfdata() {
        // 150 GB left of 1 TB, 1 GB an hour: dry in 150 h; expires in 10 days.
        let low = report_of(
            "main",
            vec![package(
                "1",
                1000 * GB,
                850 * GB,
                "2026-01-01 00:00:00",
                "2026-06-11 00:00:00",
            )],
            Some(GB as f64 / 3600.0),
        );
        let out = render(&whole(vec![low]));
        let first = out.lines().next().unwrap();
        assert_eq!(
            first,
            "CDNQUOTA WARNING - main: 150 GB left of 1.00 TB (15.0%), PoolLow \
             | 'main_remaining'=150000000000B;200000000000:;1:;0;1000000000000 \
             'main_used'=85.00%;90;;0;100 'main_dry_in'=540000s;259200:;;0 \
             'main_expiry_in'=864000s;604800:;;0"
        );
        assert!(out.lines().nth(1).unwrap().starts_with("ACCOUNT  PACKAGE"), "{out}");
    }

    #[test]
    fn an_exhausted_pool_is_dry_now_and_a_pool_at_rest_has_no_countdown() {
        let empty = report_of(
            "empty",
            vec![package(
                "1",
                100 * GB,
                100 * GB,
                "2026-01-01 00:00:00",
                "2027-01-01 00:00:00",
            )],
            None,
        );
        let p = perfdata(&empty);
        assert!(p.contains(&"'empty_dry_in'=0s;259200:;;0".to_string()), "{p:?}");
        assert!(!p.iter().any(|x| x.starts_with("'empty_expiry_in'")), "{p:?}");
        let idle = report_of(
            "idle",
            vec![package("1", 1000 * GB, 0, "2026-01-01 00:00:00", "2027-01-01 00:00:00")],
            None,
        );
        assert!(!perfdata(&idle).iter().any(|x| x.contains("dry_in")));
    }

    #[test]
    fn the_worst_account_leads_and_text_cannot_break_the_line() {
        let ok = report_of(
            "ok",
            vec![package("1", 1000 * GB, 0, "2026-01-01 00:00:00", "2027-01-01 00:00:00")],
            None,
        );
        let failed = AccountReport {
            account: "broken".into(),
            state: CheckState::Unknown,
            assessment: None,
            error: Some("GetPackage failed: a | b\nsecond line".into()),
            thresholds: PoolThresholds::default(),
        };
        let out = render(&whole(vec![ok, failed]));
        let first = out.lines().next().unwrap();
        assert!(
            first.starts_with(
                "CDNQUOTA UNKNOWN - broken: GetPackage failed: a ¦ b second line; ok: 1.00 TB left of 1.00 TB (100.0%) | 'ok_remaining'="
            ),
            "{first}"
        );
        assert_eq!(first.matches('|').count(), 1, "{first}");
        assert!(
            out.contains("broken: UNKNOWN - GetPackage failed: a ¦ b second line\n"),
            "{out}"
        );
    }

    #[test]
    fn many_accounts_are_counted_past_the_first_five() {
        let accounts = (0..8)
            .map(|i| {
                report_of(
                    &format!("a{i}"),
                    vec![package("1", 1000 * GB, 0, "2026-01-01 00:00:00", "2027-01-01 00:00:00")],
                    None,
                )
            })
            .collect();
        let s = summary(&whole(accounts));
        assert!(s.ends_with("; 3 more account(s), 3 of them OK"), "{s}");
        assert_eq!(s.matches(" left of ").count(), 5, "{s}");
    }

    #[test]
    fn wide_characters_take_two_columns() {
        assert_eq!(display_width("500GB"), 5);
        assert_eq!(display_width("日常流量包"), 10);
    }
}
