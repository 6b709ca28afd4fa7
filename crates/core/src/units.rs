//! Units for people and for the config file: byte sizes in decimal units
//! (Tencent titles 50 000 000 000 bytes "50GB") and durations. The config
//! layer parses with the same tables, so what is written reads back.

use chrono::TimeDelta;
use std::time::Duration;

/// Duration units and their milliseconds.
pub const DURATION_UNITS: &[(&str, u128)] = &[
    ("ms", 1),
    ("s", 1_000),
    ("m", 60_000),
    ("h", 3_600_000),
    ("d", 86_400_000),
    ("w", 604_800_000),
];

/// Size units and their bytes, decimal then binary, lower case.
pub const SIZE_UNITS: &[(&str, u128)] = &[
    ("b", 1),
    ("kb", 1_000),
    ("mb", 1_000_000),
    ("gb", 1_000_000_000),
    ("tb", 1_000_000_000_000),
    ("pb", 1_000_000_000_000_000),
    ("kib", 1 << 10),
    ("mib", 1 << 20),
    ("gib", 1 << 30),
    ("tib", 1 << 40),
    ("pib", 1 << 50),
];

/// Writes bytes in the largest decimal unit that divides them exactly, so the
/// value reads back to the same number.
pub fn format_size_exact(bytes: u64) -> String {
    for (name, m) in SIZE_UNITS[1..6].iter().rev() {
        let m = *m as u64;
        if bytes >= m && bytes.is_multiple_of(m) {
            return format!("{}{}", bytes / m, name.to_ascii_uppercase());
        }
    }
    format!("{bytes}B")
}

/// `value` in the largest of `units` (each 1000 times the one before) that
/// keeps it at 1 or more, to three significant figures, with its unit;
/// below the second unit, the exact number.
fn three_figures(value: u64, units: &[&'static str]) -> (String, &'static str) {
    let mut scaled = value as f64;
    let mut unit = 0;
    while scaled >= 1000.0 && unit < units.len() - 1 {
        scaled /= 1000.0;
        unit += 1;
    }
    let number = if unit == 0 {
        value.to_string()
    } else if scaled >= 100.0 {
        format!("{scaled:.0}")
    } else if scaled >= 10.0 {
        format!("{scaled:.1}")
    } else {
        format!("{scaled:.2}")
    };
    (number, units[unit])
}

/// Writes bytes for people: three significant figures in decimal units.
pub fn format_size_human(bytes: u64) -> String {
    let (number, unit) = three_figures(bytes, &["B", "KB", "MB", "GB", "TB", "PB", "EB"]);
    format!("{number} {unit}")
}

/// Writes a count of requests for people: `950 requests`, `1.23M requests`.
pub fn format_requests_human(requests: u64) -> String {
    let (number, unit) = three_figures(requests, &["", "K", "M", "G", "T"]);
    format!("{number}{unit} requests")
}

/// Writes an amount of `resource` for people: bytes for traffic, requests
/// for HTTPS request packages.
pub fn format_amount_human(amount: u64, resource: crate::model::Resource) -> String {
    match resource {
        crate::model::Resource::Traffic => format_size_human(amount),
        crate::model::Resource::HttpsRequests => format_requests_human(amount),
    }
}

/// Writes a duration in the largest unit that divides it exactly.
pub fn format_duration_exact(d: Duration) -> String {
    let ms = d.as_millis();
    for (name, m) in DURATION_UNITS.iter().rev() {
        if ms >= *m && ms.is_multiple_of(*m) {
            return format!("{}{}", ms / m, name);
        }
    }
    format!("{ms}ms")
}

/// Writes a span for people, to the two largest units: `2d 3h`, `45m`, `12s`.
pub fn format_span(d: Duration) -> String {
    let secs = d.as_secs();
    let parts = [
        (secs / 86_400, "d"),
        (secs % 86_400 / 3600, "h"),
        (secs % 3600 / 60, "m"),
        (secs % 60, "s"),
    ];
    let shown: Vec<String> = parts
        .iter()
        .skip_while(|(n, _)| *n == 0)
        .take(2)
        .filter(|(n, _)| *n > 0)
        .map(|(n, u)| format!("{n}{u}"))
        .collect();
    if shown.is_empty() { "0s".into() } else { shown.join(" ") }
}

/// [`format_span`] of a chrono span; a negative one is `0s`.
pub fn format_delta(d: TimeDelta) -> String {
    format_span(d.to_std().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_sizes() {
        assert_eq!(format_size_human(999), "999 B");
        assert_eq!(format_size_human(50_000_000_000), "50.0 GB");
        assert_eq!(format_size_human(1_234_000_000_000), "1.23 TB");
        assert_eq!(format_size_human(987_600_000), "988 MB");
    }

    #[test]
    fn human_request_counts() {
        assert_eq!(format_requests_human(950), "950 requests");
        assert_eq!(format_requests_human(1_234_567), "1.23M requests");
        assert_eq!(format_requests_human(10_000_000), "10.0M requests");
        assert_eq!(
            format_amount_human(2_100_000_000, crate::model::Resource::Traffic),
            "2.10 GB"
        );
    }

    #[test]
    fn spans_for_people() {
        assert_eq!(format_span(Duration::from_secs(0)), "0s");
        assert_eq!(format_span(Duration::from_secs(45)), "45s");
        assert_eq!(format_span(Duration::from_secs(3 * 86_400 + 7200 + 59)), "3d 2h");
        assert_eq!(format_span(Duration::from_secs(86_400 + 30)), "1d");
    }
}
