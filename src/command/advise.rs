//! `cdnquota advise`: what to buy for each traffic pool, and the money at
//! stake, whether or not an alert is firing. It polls as `check` does (the
//! daemon's history read, never written) and orders nothing.

use super::check::poll_all;
use cdnquota_core::advice_text;
use cdnquota_core::assess::Assessment;
use cdnquota_core::model::Resource;
use serde_json::json;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

/// How long the polls may take together.
const TIMEOUT: Duration = Duration::from_secs(60);

/// The advice for one pool in words.
fn pool_text(account: &str, a: &Assessment, priced: bool) -> String {
    let mut out = format!("{account} · {}:\n", a.pool.label());
    if !priced {
        out.push_str(&format!(
            "  no advice: [pricing.{}] lacks package prices or pay-as-you-go steps; add them to get advice\n",
            a.pool.region.name()
        ));
        return out;
    }
    if let Some(m) = &a.money {
        out.push_str(&format!("  money at stake: {}\n", advice_text::money_line(m)));
    }
    match &a.advice {
        Some(advice) => {
            for line in advice_text::table(advice, "  ") {
                out.push_str(&line);
                out.push('\n');
            }
        }
        None => out.push_str("  no advice: the forecast has no traffic to size a purchase on (no rate yet: the daemon's history gives one)\n"),
    }
    out
}

/// Runs `advise` with the config at `path`, for `account` (all when
/// `None`), as text or JSON.
pub fn advise(path: &Path, account: Option<&str>, json: bool) -> ExitCode {
    crate::logging::init();
    let Some(mut config) = super::load_config(path) else {
        return ExitCode::from(1);
    };
    if let Some(name) = account {
        config.accounts.retain(|a| a.name.as_str() == name);
        if config.accounts.is_empty() {
            eprintln!("cdnquota: {} has no account `{name}`", path.display());
            return ExitCode::from(1);
        }
    }
    let Ok(runtime) = super::runtime() else {
        return ExitCode::from(1);
    };
    let report = runtime.block_on(poll_all(&config, TIMEOUT, true));
    runtime.shutdown_background();
    let mut text = String::new();
    let mut pools = Vec::new();
    let mut failed = false;
    for r in &report.accounts {
        let Some(a) = &r.assessment else {
            failed = true;
            let why = r.error.as_deref().unwrap_or("no answer");
            text.push_str(&format!("{}: no advice: {why}\n", r.account));
            pools.push(json!({"account": r.account, "error": why}));
            continue;
        };
        for pool in a.pools.iter().filter(|p| p.pool.resource == Resource::Traffic) {
            let priced = config.pricing.complete(pool.pool.region).is_some();
            text.push_str(&pool_text(&r.account, pool, priced));
            pools.push(json!({
                "account": r.account,
                "pool": pool.pool,
                "priced": priced,
                "money": pool.money,
                "advice": pool.advice,
            }));
        }
    }
    let out = if json {
        let v = json!({ "pools": pools, "prices_read": cdnquota_core::pricing::LIST_PRICES_READ });
        format!("{v:#}\n")
    } else {
        text
    };
    if let Err(e) = super::output::print(&out) {
        eprintln!("cdnquota: {e}");
        return ExitCode::from(1);
    }
    if failed { ExitCode::from(1) } else { ExitCode::SUCCESS }
}
