//! Config values that check themselves while the TOML is read, so that a bad
//! value is reported with its line and a list of what would be valid.
//!
//! Each parser's error is a `String` on purpose: it is the sentence the
//! operator reads, placed at file:line:key by the loader, and no caller
//! does anything with it but show it.

use chrono::{DateTime, FixedOffset, Utc};
use reqwest::Url;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::net::{IpAddr, SocketAddr};

fn text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    String::deserialize(d)
}

/// The default poll schedule.
const DEFAULT_SCHEDULE: &str = "0 */10 * * * *";

/// A cron schedule with a seconds field, evaluated in UTC. Parsed once:
/// the poll guard asks every account's next tick every minute, and parsing
/// each time was most of an idle daemon's work at 10,000 accounts.
#[derive(Clone, Debug)]
pub struct CronSchedule {
    text: String,
    cron: std::sync::Arc<croner::Cron>,
}

impl PartialEq for CronSchedule {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for CronSchedule {}

impl CronSchedule {
    /// Accepts 6 fields (with seconds) or 5 (seconds taken as 0).
    pub fn parse(expr: &str) -> Result<Self, String> {
        let fields = expr.split_whitespace().count();
        let normalized = match fields {
            5 => format!("0 {}", expr.split_whitespace().collect::<Vec<_>>().join(" ")),
            6 => expr.split_whitespace().collect::<Vec<_>>().join(" "),
            _ => {
                return Err(format!(
                    "`{expr}` is not a cron schedule: use 6 fields (second minute hour day month weekday), e.g. \"0 */10 * * * *\", or 5 fields (second 0)"
                ));
            }
        };
        check_steps(&normalized, expr)?;
        // Validate with the parser the daemon's scheduler uses, so what
        // passes here runs.
        let cron = parse_cron(&normalized).map_err(|_| {
            format!("`{expr}` is not a valid cron schedule, e.g. \"0 */10 * * * *\" (every 10 minutes)")
        })?;
        let schedule = CronSchedule {
            text: normalized,
            cron: std::sync::Arc::new(cron),
        };
        // The calendar repeats every 28 years (weekdays and leap years
        // together): a line with no tick in 28 years never fires at all, and
        // the daemon would poll once at start and then fall silent.
        let from = DateTime::<Utc>::from_timestamp(978_307_200, 0); // 2001-01-01
        let fires = from
            .and_then(|from| Some((from, schedule.next_after(from)?)))
            .is_some_and(|(from, next)| next - from < chrono::TimeDelta::days(28 * 366));
        if !fires {
            return Err(format!(
                "`{expr}` never fires (no such date), so no poll would ever run: use a schedule that fires, e.g. \"0 */10 * * * *\""
            ));
        }
        Ok(schedule)
    }

    /// The default: every ten minutes, at second 0.
    pub fn every_ten_minutes() -> Self {
        // A constant, parsed by a unit test: this cannot fail.
        CronSchedule::parse(DEFAULT_SCHEDULE).expect("the default schedule parses")
    }

    /// The 6-field expression handed to the scheduler.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The first tick after `t` (UTC), or `None` if it never fires again.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron.find_next_occurrence(&t, false).ok()
    }
}

/// The fields of a 6-field line: name and largest step that still steps
/// (the field's span). croner takes `*/70` in the minute field without a
/// word and fires once an hour: a schedule the operator did not write.
const CRON_FIELDS: [(&str, u32); 6] = [
    ("second", 59),
    ("minute", 59),
    ("hour", 23),
    ("day-of-month", 30),
    ("month", 11),
    ("day-of-week", 6),
];

/// Refuses a step (`*/N`, `A-B/N`) that is 0 or wider than its field.
fn check_steps(normalized: &str, expr: &str) -> Result<(), String> {
    for (field, (name, widest)) in normalized.split_whitespace().zip(CRON_FIELDS) {
        for part in field.split(',') {
            let Some((_, step)) = part.split_once('/') else {
                continue;
            };
            let ok = step.parse::<u32>().is_ok_and(|n| (1..=widest).contains(&n));
            if !ok {
                return Err(format!(
                    "`{expr}`: the step `/{step}` in the {name} field is out of range: use 1 to {widest}, e.g. \"*/10\" in the minute field for every 10 minutes"
                ));
            }
        }
    }
    Ok(())
}

/// Parses a 6-field line (seconds first) with croner.
fn parse_cron(expr: &str) -> Result<croner::Cron, croner::errors::CronError> {
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Required)
        .build()
        .parse(expr)
}

impl<'de> Deserialize<'de> for CronSchedule {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        CronSchedule::parse(&text(d)?).map_err(serde::de::Error::custom)
    }
}

impl Serialize for CronSchedule {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

/// The UTC offset of the API's zone-less times (`+08:00` by default).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UtcOffset(pub FixedOffset);

impl Default for UtcOffset {
    fn default() -> Self {
        UtcOffset(tencent_cdn_api::settings::CHINA_STANDARD_TIME)
    }
}

impl UtcOffset {
    /// Parses `+08:00`, `-05:30`, `+0800` or `Z`.
    pub fn parse(value: &str) -> Result<Self, String> {
        let bad =
            || format!("`{value}` is not a UTC offset: use the form \"+08:00\" (China Standard Time) or \"-05:30\"");
        if value == "Z" || value == "UTC" {
            return Ok(UtcOffset(FixedOffset::east_opt(0).ok_or_else(bad)?));
        }
        let (sign, rest) = match value.as_bytes().first() {
            Some(b'+') => (1, &value[1..]),
            Some(b'-') => (-1, &value[1..]),
            _ => return Err(bad()),
        };
        let digits: String = rest.chars().filter(|c| *c != ':').collect();
        if digits.len() != 4 || !digits.chars().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        let hours: i32 = digits[..2].parse().map_err(|_| bad())?;
        let minutes: i32 = digits[2..].parse().map_err(|_| bad())?;
        if hours > 14 || minutes > 59 {
            return Err(bad());
        }
        FixedOffset::east_opt(sign * (hours * 3600 + minutes * 60))
            .map(UtcOffset)
            .ok_or_else(bad)
    }
}

impl<'de> Deserialize<'de> for UtcOffset {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        UtcOffset::parse(&text(d)?).map_err(serde::de::Error::custom)
    }
}

impl Serialize for UtcOffset {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.to_string())
    }
}

/// The address the HTTP endpoints listen on: `IP:port`, `[IPv6]:port`, or
/// `localhost:port` (127.0.0.1). Other host names are not looked up: a
/// daemon should not wait on DNS to start, nor listen where a name moved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListenAddr(pub SocketAddr);

impl ListenAddr {
    /// Reads an address to listen on.
    pub fn parse(value: &str) -> Result<Self, String> {
        if let Ok(addr) = value.parse::<SocketAddr>() {
            return Ok(ListenAddr(addr));
        }
        let valid = "use IP:port, e.g. \"127.0.0.1:10787\" (this host only), \"0.0.0.0:10787\" (every IPv4 interface), \"[::]:10787\" or \"localhost:10787\"";
        let (host, port) = match value.rsplit_once(':') {
            Some((host, port)) => (host, port),
            None if value.parse::<IpAddr>().is_ok() || value.eq_ignore_ascii_case("localhost") => {
                return Err(format!("`{value}` has no port: {valid}"));
            }
            None => (value, ""),
        };
        let port = port.parse::<u16>();
        match (host, port) {
            (host, Ok(port)) if host.eq_ignore_ascii_case("localhost") => {
                Ok(ListenAddr(SocketAddr::from(([127, 0, 0, 1], port))))
            }
            (_, Err(_)) if value.parse::<IpAddr>().is_ok() => Err(format!("`{value}` has no port: {valid}")),
            (host, Ok(_)) if host.parse::<IpAddr>().is_err() && !host.starts_with('[') => Err(format!(
                "`{value}`: host names other than localhost are not looked up; listen on an address: {valid}"
            )),
            _ => Err(format!("`{value}` is not an address to listen on: {valid}")),
        }
    }
}

impl<'de> Deserialize<'de> for ListenAddr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        ListenAddr::parse(&text(d)?).map_err(serde::de::Error::custom)
    }
}

/// An account name, used as a metric label value: `[a-z0-9_-]+`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct AccountName(String);

impl AccountName {
    /// Checks the name's characters.
    pub fn parse(value: &str) -> Result<Self, String> {
        let ok = !value.is_empty()
            && value.len() <= 64
            && value
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if ok {
            Ok(AccountName(value.to_string()))
        } else {
            Err(format!(
                "`{value}` is not an account name: use 1 to 64 of a-z, 0-9, _ and -"
            ))
        }
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AccountName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for AccountName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        AccountName::parse(&text(d)?).map_err(serde::de::Error::custom)
    }
}

/// Whether the URL's host is 127.0.0.0/8, ::1 or `localhost`.
pub fn is_loopback(url: &Url) -> bool {
    let host = url.host_str().unwrap_or_default();
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => bare.eq_ignore_ascii_case("localhost"),
    }
}

/// A fraction in `[0, 1]`.
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd, Serialize)]
pub struct Ratio(pub f64);

impl<'de> Deserialize<'de> for Ratio {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = f64::deserialize(d)?;
        if (0.0..=1.0).contains(&v) {
            Ok(Ratio(v))
        } else {
            Err(serde::de::Error::custom(format!(
                "{v} is not a ratio: use a number from 0 to 1, e.g. 0.10 for 10%"
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_schedule_parses() {
        assert_eq!(CronSchedule::every_ten_minutes().as_str(), DEFAULT_SCHEDULE);
    }

    #[test]
    fn cron_five_or_six_fields() {
        assert_eq!(CronSchedule::parse("*/10 * * * *").unwrap().as_str(), "0 */10 * * * *");
        assert_eq!(
            CronSchedule::parse("0  */10 * * * *").unwrap().as_str(),
            "0 */10 * * * *"
        );
        assert!(CronSchedule::parse("* * *").unwrap_err().contains("6 fields"));
        assert!(CronSchedule::parse("0 99 * * * *").is_err());
    }

    #[test]
    fn cron_steps_must_step_inside_their_field() {
        for bad in [
            "0 */70 * * * *",
            "*/0 * * * * *",
            "0 0 */24 * * *",
            "0 0 0 1 */13 *",
            "0 0-30/99 * * * *",
        ] {
            let e = CronSchedule::parse(bad).unwrap_err();
            assert!(e.contains("out of range") && e.contains("field"), "{bad}: {e}");
        }
        let e = CronSchedule::parse("*/70 * * * *").unwrap_err();
        assert!(e.contains("minute field") && e.contains("1 to 59"), "{e}");
        for good in [
            "*/59 * * * * *",
            "0 */10 * * * *",
            "0 0 */6 * * *",
            "0 0 0 */2 * *",
            "0 0 0 * * 1-5/2",
        ] {
            assert!(CronSchedule::parse(good).is_ok(), "{good}");
        }
    }

    #[test]
    fn listen_addresses() {
        let ok = |v: &str| ListenAddr::parse(v).unwrap().0.to_string();
        assert_eq!(ok("127.0.0.1:10787"), "127.0.0.1:10787");
        assert_eq!(ok("[::1]:10787"), "[::1]:10787");
        assert_eq!(ok("localhost:10787"), "127.0.0.1:10787");
        assert_eq!(ok("LOCALHOST:1"), "127.0.0.1:1");
        for (bad, says) in [
            ("example.com:10787", "host names other than localhost"),
            ("127.0.0.1", "has no port"),
            ("localhost", "has no port"),
            ("127.0.0.1:99999", "not an address"),
            ("::1:10787", "not an address"),
            ("", "not an address"),
        ] {
            let e = ListenAddr::parse(bad).unwrap_err();
            assert!(e.contains(says) && e.contains("\"127.0.0.1:10787\""), "{bad}: {e}");
        }
    }

    #[test]
    fn offsets() {
        assert_eq!(UtcOffset::parse("+08:00").unwrap(), UtcOffset::default());
        assert_eq!(
            UtcOffset::parse("-0530").unwrap().0.local_minus_utc(),
            -(5 * 3600 + 1800)
        );
        assert_eq!(UtcOffset::parse("Z").unwrap().0.local_minus_utc(), 0);
        for bad in ["8", "+8:00", "+25:00", "CST", ""] {
            assert!(UtcOffset::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn account_names_are_label_safe() {
        assert!(AccountName::parse("main_cdn-2").is_ok());
        for bad in ["", "Main", "a b", "a.b", "流量"] {
            assert!(AccountName::parse(bad).is_err(), "{bad}");
        }
    }
}
