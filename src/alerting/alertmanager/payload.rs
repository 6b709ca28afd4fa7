//! What cdnquota tells Alertmanager, as pure functions: the labels that
//! identify an alert, the annotations that describe it, and the body of
//! `POST /api/v2/alerts`.
//!
//! Labels are the alert's identity: Alertmanager deduplicates two replicas'
//! pushes because their label sets are equal. So labels hold only what
//! names the alert (`alertname`, `account`, `severity`, the pool's
//! `region` and `resource`, `package_id` or `order_id`, the configured
//! extras), never a number that changes from poll to poll; the numbers go
//! in annotations.

use crate::alerting::render::{advice, headline};
use cdnquota_core::alerts::{Alert, Notice, NoticeKind};
use cdnquota_core::assess::Assessment;
use cdnquota_core::text::truncate_chars;
use cdnquota_core::units::format_amount_human;
use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::Duration;

/// A firing alert ends this many resend intervals after the last push, so
/// Alertmanager resolves it by itself if every replica falls silent.
pub const ENDS_AFTER_RESENDS: u32 = 4;

/// Longest annotation value: the packages list of a big account is cut.
const MAX_ANNOTATION_CHARS: usize = 2000;

/// One alert as cdnquota tells Alertmanager about it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AmAlert {
    /// The account it belongs to.
    pub account: String,
    /// Its identity.
    pub labels: BTreeMap<String, String>,
    /// Its description, numbers included.
    pub annotations: BTreeMap<String, String>,
    /// When it first fired (`startsAt`).
    pub starts_at: DateTime<Utc>,
    /// When it resolved, once it has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<DateTime<Utc>>,
}

/// The labels of `alert`: its name, account, severity, the package (or,
/// for order alerts, the ledger id) it is about, and `extra`.
pub fn labels(alert: &Alert, extra: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut labels = extra.clone();
    labels.insert("alertname".into(), alert.rule.clone());
    labels.insert("account".into(), alert.account.clone());
    labels.insert("severity".into(), alert.severity.label().to_lowercase());
    if let Some(pool) = alert.pool() {
        labels.insert("region".into(), pool.region.name().into());
        labels.insert("resource".into(), pool.resource.name().into());
    }
    if let Some(id) = alert.package_id.as_ref().filter(|id| !id.is_empty()) {
        // Order alerts carry their ledger id where a package id would go.
        let name = if alert.rule.starts_with("Order") {
            "order_id"
        } else {
            "package_id"
        };
        labels.insert(name.into(), id.clone());
    }
    labels
}

/// A label set written as Prometheus does, `{a="x",b="y"}`: the key an
/// alert is tracked under, equal for equal label sets.
pub fn key(labels: &BTreeMap<String, String>) -> String {
    let mut out = String::from("{");
    for (i, (name, value)) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let escaped = value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n");
        let _ = write!(out, "{name}=\"{escaped}\"");
    }
    out.push('}');
    out
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The annotations of `alert`: `summary` and `description` always; the
/// pool's numbers, the forecast and the packages when the account's last
/// good assessment is known.
pub fn annotations(alert: &Alert, assessment: Option<&Assessment>) -> BTreeMap<String, String> {
    let notice = Notice {
        kind: NoticeKind::Firing,
        alert: alert.clone(),
    };
    let summary = headline(&notice);
    let mut out = BTreeMap::new();
    out.insert(
        "description".to_string(),
        truncate_chars(
            &format!("{}: {}. {}", alert.account, alert.summary, advice(&alert.rule)),
            MAX_ANNOTATION_CHARS,
        ),
    );
    out.insert("summary".to_string(), truncate_chars(&summary, MAX_ANNOTATION_CHARS));
    let Some(a) = assessment else {
        return out;
    };
    let resource = a.pool.resource;
    let unit = resource.unit();
    let format_size_human = |n: u64| format_amount_human(n, resource);
    out.insert("polled_at".into(), time(a.at));
    out.insert("pool".into(), a.pool.label());
    if let Some(advice) = &a.advice {
        out.insert(
            "advice".into(),
            truncate_chars(&cdnquota_core::advice_text::one_line(advice), MAX_ANNOTATION_CHARS),
        );
    }
    if let Some(m) = &a.money {
        out.insert("overage_cost_30d_cny".into(), format!("{:.2}", m.overage_cost_30d_cny));
    }
    out.insert(format!("remaining_{unit}"), a.totals.remaining_bytes.to_string());
    out.insert(format!("size_{unit}"), a.totals.size_bytes.to_string());
    if a.undeducted > 0 {
        out.insert(format!("undeducted_{unit}"), a.undeducted.to_string());
    }
    out.insert(
        "remaining".into(),
        format!(
            "{} left of {} in {} usable package(s)",
            format_size_human(a.totals.remaining_bytes),
            format_size_human(a.totals.size_bytes),
            a.totals.usable_packages
        ),
    );
    let forecast = match (a.consumption_bytes_per_second, a.depletion_at) {
        (Some(rate), Some(dry)) => {
            out.insert(
                format!("consumption_{unit}_per_second"),
                format!("{}", rate.round() as u64),
            );
            out.insert("depletion_at".into(), time(dry));
            format!(
                "runs dry {} UTC at {}/s",
                dry.format("%Y-%m-%d %H:%M"),
                format_size_human(rate.round() as u64)
            )
        }
        (Some(rate), None) => {
            out.insert(
                format!("consumption_{unit}_per_second"),
                format!("{}", rate.round() as u64),
            );
            format!("no depletion forecast at {}/s", format_size_human(rate.round() as u64))
        }
        _ => "no burn rate measured yet".to_string(),
    };
    out.insert("forecast".into(), forecast);
    let mut packages = String::new();
    for v in &a.packages {
        if !packages.is_empty() {
            packages.push_str("; ");
        }
        let _ = write!(
            packages,
            "{} ({}): {} left of {}, expires {} UTC, {}",
            v.package.id,
            v.package.title,
            format_size_human(v.remaining_bytes),
            format_size_human(v.package.size_bytes),
            v.package.expires_at.format("%Y-%m-%d %H:%M"),
            v.state()
        );
        if Some(&v.package.id) == alert.package_id.as_ref() {
            out.insert(format!("package_remaining_{unit}"), v.remaining_bytes.to_string());
            out.insert("package_expires_at".into(), time(v.package.expires_at));
        }
    }
    if !packages.is_empty() {
        out.insert("packages".into(), truncate_chars(&packages, MAX_ANNOTATION_CHARS));
    }
    out
}

/// `alert` as tracked for Alertmanager, firing since `starts_at`.
pub fn track(
    alert: &Alert,
    extra: &BTreeMap<String, String>,
    assessment: Option<&Assessment>,
    starts_at: DateTime<Utc>,
) -> AmAlert {
    AmAlert {
        account: alert.account.clone(),
        labels: labels(alert, extra),
        annotations: annotations(alert, assessment),
        starts_at,
        resolved_at: None,
    }
}

/// `endsAt` of a push at `now`: a firing alert ends four resend intervals
/// from now unless re-sent; a resolved one ended when it resolved.
pub fn ends_at(alert: &AmAlert, now: DateTime<Utc>, resend_interval: Duration) -> DateTime<Utc> {
    match alert.resolved_at {
        Some(t) => t.max(alert.starts_at),
        None => {
            let ahead = TimeDelta::from_std(resend_interval * ENDS_AFTER_RESENDS).unwrap_or(TimeDelta::days(1));
            now + ahead
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Wire<'a> {
    labels: &'a BTreeMap<String, String>,
    annotations: &'a BTreeMap<String, String>,
    starts_at: String,
    ends_at: String,
    #[serde(rename = "generatorURL", skip_serializing_if = "Option::is_none")]
    generator_url: Option<&'a str>,
}

/// The JSON array posted to `/api/v2/alerts` at `now`.
pub fn body(
    alerts: &[AmAlert],
    now: DateTime<Utc>,
    resend_interval: Duration,
    generator_url: Option<&str>,
) -> serde_json::Result<Vec<u8>> {
    let wire: Vec<Wire> = alerts
        .iter()
        .map(|a| Wire {
            labels: &a.labels,
            annotations: &a.annotations,
            starts_at: time(a.starts_at),
            ends_at: time(ends_at(a, now, resend_interval)),
            generator_url,
        })
        .collect();
    serde_json::to_vec(&wire)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cdnquota_core::alerts::Phase;
    use cdnquota_core::assess::assess;
    use cdnquota_core::forecast::Sample;
    use cdnquota_core::model::Snapshot;
    use cdnquota_core::rules::Severity;
    use cdnquota_core::settings::Thresholds;
    use cdnquota_core::testing::{at, package};

    const GB: u64 = 1_000_000_000;

    fn alert(rule: &str, package_id: Option<&str>, summary: &str) -> Alert {
        Alert {
            account: "main".into(),
            rule: rule.into(),
            region: (!rule.starts_with("Order")).then_some(cdnquota_core::model::Region::Mainland),
            package_id: package_id.map(str::to_string),
            severity: Severity::Warning,
            summary: summary.into(),
            phase: Phase::Firing,
            since: at("2026-06-01 00:00:00"),
            notified_at: Some(at("2026-06-01 00:10:00")),
        }
    }

    fn assessment(left_gb: u64) -> Assessment {
        let snap = Snapshot {
            taken_at: at("2026-06-01 00:10:00"),
            packages: vec![package(
                "pkg-1",
                1000 * GB,
                (1000 - left_gb) * GB,
                "2026-01-01 00:00:00",
                "2027-01-01 00:00:00",
            )],
        };
        assess(&snap, &[Sample::of(&snap)], &Thresholds::default(), snap.taken_at)
    }

    #[test]
    fn labels_name_the_alert_and_hold_no_numbers() {
        let extra = BTreeMap::from([("team".to_string(), "cdn".to_string())]);
        let pool = labels(&alert("PoolLow", None, "150 GB left"), &extra);
        assert_eq!(
            key(&pool),
            r#"{account="main",alertname="PoolLow",region="mainland",resource="traffic",severity="warning",team="cdn"}"#
        );
        let mut europe = alert("HttpsPoolLow", None, "x");
        europe.region = Some(cdnquota_core::model::Region::Global);
        let https = labels(&europe, &BTreeMap::new());
        assert_eq!(https.get("region").map(String::as_str), Some("global"));
        assert_eq!(https.get("resource").map(String::as_str), Some("https_requests"));
        let package = labels(&alert("PackageExpiringSoon", Some("pkg-1"), "x"), &BTreeMap::new());
        assert_eq!(package.get("package_id").map(String::as_str), Some("pkg-1"));
        let order = labels(&alert("OrderOutcomeUnknown", Some("ord-1"), "x"), &BTreeMap::new());
        assert_eq!(order.get("order_id").map(String::as_str), Some("ord-1"));
        assert!(!order.contains_key("package_id") && !order.contains_key("region"));
        // The summary's numbers change every poll; the labels do not.
        assert_eq!(pool, labels(&alert("PoolLow", None, "149 GB left"), &extra));
    }

    #[test]
    fn keys_escape_values_so_distinct_sets_never_collide() {
        let a = BTreeMap::from([("a".to_string(), "x\",b=\"y".to_string())]);
        let b = BTreeMap::from([("a".to_string(), "x".to_string()), ("b".to_string(), "y".to_string())]);
        assert_ne!(key(&a), key(&b));
    }

    #[test]
    fn annotations_carry_the_numbers_and_the_packages() {
        let a = alert("PoolLow", None, "150 GB left (15.0% of 1.00 TB), below 200 GB");
        let ann = annotations(&a, Some(&assessment(150)));
        assert_eq!(
            ann["summary"],
            "CDN traffic pool low: 150 GB left (15.0% of 1.00 TB), below 200 GB"
        );
        assert!(ann["description"].starts_with("main: 150 GB left"), "{ann:?}");
        assert_eq!(ann["remaining_bytes"], "150000000000");
        assert_eq!(ann["size_bytes"], "1000000000000");
        assert!(
            ann["packages"].contains("pkg-1") && ann["packages"].contains("150 GB left"),
            "{ann:?}"
        );
        assert_eq!(ann["forecast"], "no burn rate measured yet");
        let without = annotations(&a, None);
        assert_eq!(without.keys().collect::<Vec<_>>(), ["description", "summary"]);
        let expiring = annotations(
            &alert("PackageExpiringSoon", Some("pkg-1"), "x"),
            Some(&assessment(150)),
        );
        assert_eq!(expiring["package_expires_at"], "2027-01-01T00:00:00Z");
    }

    #[test]
    fn firing_ends_four_resends_ahead_and_resolved_ends_at_resolution() {
        let now = at("2026-06-01 01:00:00");
        let mut a = track(
            &alert("PoolLow", None, "low"),
            &BTreeMap::new(),
            None,
            at("2026-06-01 00:10:00"),
        );
        let minute = Duration::from_secs(60);
        assert_eq!(ends_at(&a, now, minute), at("2026-06-01 01:04:00"));
        let json: serde_json::Value =
            serde_json::from_slice(&body(std::slice::from_ref(&a), now, minute, Some("http://h:10787/")).unwrap())
                .unwrap();
        assert_eq!(json[0]["startsAt"], "2026-06-01T00:10:00Z");
        assert_eq!(json[0]["endsAt"], "2026-06-01T01:04:00Z");
        assert_eq!(json[0]["generatorURL"], "http://h:10787/");
        assert_eq!(json[0]["labels"]["alertname"], "PoolLow");
        a.resolved_at = Some(at("2026-06-01 00:50:00"));
        let json: serde_json::Value = serde_json::from_slice(&body(&[a], now, minute, None).unwrap()).unwrap();
        assert_eq!(json[0]["endsAt"], "2026-06-01T00:50:00Z");
        assert!(json[0].get("generatorURL").is_none());
    }

    #[test]
    fn a_priced_pool_that_calls_for_buying_carries_the_advice() {
        // 150 GB left at 10 GB a day (PoolLow fires): priced at the list
        // prices, the annotation names the purchase and the link.
        let snap = Snapshot {
            taken_at: at("2026-06-01 00:10:00"),
            packages: vec![package(
                "pkg-1",
                1000 * GB,
                850 * GB,
                "2026-01-01 00:00:00",
                "2027-01-01 00:00:00",
            )],
        };
        let now = snap.taken_at;
        let rate = Some(10.0 * GB as f64 / 86_400.0);
        let mut a = cdnquota_core::assess::assess_at_rate(snap, rate, &Thresholds::default(), now);
        cdnquota_core::account::price(&mut a, &cdnquota_core::pricing::PriceTable::list_prices(), false);
        let ann = annotations(&alert("PoolLow", None, "x"), Some(&a));
        assert!(ann["advice"].starts_with("buy "), "{ann:?}");
        assert!(
            ann["advice"].ends_with("https://buy.cloud.tencent.com/cdn_package"),
            "{ann:?}"
        );
        assert!(ann.contains_key("overage_cost_30d_cny"), "{ann:?}");
        // Unpriced: neither.
        let plain = annotations(&alert("PoolLow", None, "x"), Some(&assessment(150)));
        assert!(!plain.contains_key("advice") && !plain.contains_key("overage_cost_30d_cny"));
    }
}
