//! Human units used in the config: byte sizes (`500GB`, `1.5TB`, `500GiB`,
//! plain bytes) and durations (`500ms`, `30s`, `10m`, `24h`, `7d`).
//! As in `values.rs`, a parse error is the sentence the operator reads.
//!
//! Sizes are decimal by default because Tencent sells and titles packages in
//! decimal units: the API's own example titles 50 000 000 000 bytes "50GB".

use cdnquota_core::units::{DURATION_UNITS, SIZE_UNITS, format_duration_exact, format_size_exact};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::time::Duration;

/// A byte count written in human units.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct ByteSize(pub u64);

/// A duration written in human units.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct HumanDuration(pub Duration);

/// A duration that must be more than zero: a timeout of 0 fails every
/// attempt, a backoff or repeat interval of 0 turns into a busy loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct PositiveDuration(pub Duration);

impl<'de> Deserialize<'de> for PositiveDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let HumanDuration(value) = HumanDuration::deserialize(d)?;
        if value.is_zero() {
            return Err(serde::de::Error::custom(
                "0 is not allowed here (it would fail every attempt or repeat without pause): use a positive duration, e.g. \"30s\"",
            ));
        }
        Ok(PositiveDuration(value))
    }
}

/// Splits `"1.5TB"` into the number `"1.5"` and the lower-cased unit `"tb"`.
fn split_number(text: &str) -> (&str, String) {
    let text = text.trim();
    let end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_'))
        .unwrap_or(text.len());
    (&text[..end], text[end..].trim().to_ascii_lowercase())
}

/// Multiplies a decimal number such as `"1.5"` by `unit` exactly, in integers.
fn scale(number: &str, unit: u128) -> Option<u128> {
    let number = number.replace('_', "");
    let (whole, frac) = match number.split_once('.') {
        Some((w, f)) => (w, f),
        None => (number.as_str(), ""),
    };
    if whole.is_empty() && frac.is_empty() {
        return None;
    }
    if frac.len() > 18 || frac.contains('.') {
        return None;
    }
    let whole: u128 = if whole.is_empty() { 0 } else { whole.parse().ok()? };
    let frac_value: u128 = if frac.is_empty() { 0 } else { frac.parse().ok()? };
    let frac_scale = 10u128.checked_pow(frac.len() as u32)?;
    let scaled_frac = frac_value.checked_mul(unit)? / frac_scale;
    whole.checked_mul(unit)?.checked_add(scaled_frac)
}

/// Reads `number unit` against a unit table.
fn parse_in_units(text: &str, units: &[(&str, u128)]) -> Option<u64> {
    let (number, unit) = split_number(text);
    let multiplier = units.iter().find(|(name, _)| *name == unit)?.1;
    scale(number, multiplier).and_then(|v| u64::try_from(v).ok())
}

/// Whether `text` is a number without a unit; `Some(true)` when it is zero,
/// which means the same in every unit.
fn unitless(text: &str) -> Option<bool> {
    let (number, unit) = split_number(text);
    if !unit.is_empty() || !number.chars().any(|c| c.is_ascii_digit()) {
        return None;
    }
    scale(number, 1).map(|v| v == 0)
}

/// The refusal of a number written without its unit: it could mean any
/// unit, and the one it used to mean (bytes, seconds) silently turned alerts
/// off. Offers the number in the usual units.
fn bare_number(number: &str, what: &str, units: [&str; 4]) -> String {
    let [a, b, c, d] = units.map(|u| format!("\"{number}{u}\""));
    format!(
        "{number} is a bare number and could mean any unit: write the {what} with its unit, e.g. {a}, {b}, {c} or {d} (only 0 may stand alone)"
    )
}

const SIZE_EXAMPLES: [&str; 4] = ["B", "MB", "GB", "TB"];
const DURATION_EXAMPLES: [&str; 4] = ["s", "m", "h", "d"];

/// Parses a size such as `200GB`, `1.5TB` or `500GiB` into bytes; `0` may
/// go without a unit.
pub fn parse_size(text: &str) -> Result<u64, String> {
    match unitless(text) {
        Some(true) => return Ok(0),
        Some(false) => return Err(bare_number(text.trim(), "size", SIZE_EXAMPLES)),
        None => {}
    }
    parse_in_units(text, SIZE_UNITS).ok_or_else(|| {
        format!("`{text}` is not a size: use a number with B, KB, MB, GB, TB, PB (decimal) or KiB, MiB, GiB, TiB (binary), e.g. \"200GB\" or \"1.5TB\"")
    })
}

/// Parses a duration such as `30s`, `10m`, `24h`, `7d` or `500ms`; `0` may
/// go without a unit.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    match unitless(text) {
        Some(true) => return Ok(Duration::ZERO),
        Some(false) => return Err(bare_number(text.trim(), "duration", DURATION_EXAMPLES)),
        None => {}
    }
    parse_in_units(text, DURATION_UNITS)
        .map(Duration::from_millis)
        .ok_or_else(|| {
            format!("`{text}` is not a duration: use a number with ms, s, m, h, d or w, e.g. \"30s\", \"10m\", \"7d\"")
        })
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_size_exact(self.0))
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_duration_exact(self.0))
    }
}

/// Reads a size or duration as written: a string in human units, or a TOML
/// number, which is refused unless it is 0 (see [`bare_number`]).
struct UnitVisitor {
    /// What the value is, for serde's own messages ("a size such as ...").
    expecting: &'static str,
    /// Parses the text form.
    parse: fn(&str) -> Result<u64, String>,
    /// "size" or "duration".
    what: &'static str,
    /// The units offered for a bare number.
    examples: [&'static str; 4],
}

impl UnitVisitor {
    fn number<E: serde::de::Error>(&self, shown: String, zero: bool, negative: bool) -> Result<u64, E> {
        if zero {
            Ok(0)
        } else if negative {
            Err(E::custom(format!(
                "{shown} is negative: a {} is 0 or more, e.g. {}",
                self.what, self.expecting
            )))
        } else {
            Err(E::custom(bare_number(&shown, self.what, self.examples)))
        }
    }
}

impl<'de> serde::de::Visitor<'de> for UnitVisitor {
    type Value = u64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expecting)
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<u64, E> {
        (self.parse)(v).map_err(E::custom)
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<u64, E> {
        self.number(v.to_string(), v == 0, false)
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<u64, E> {
        self.number(v.to_string(), v == 0, v < 0)
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<u64, E> {
        self.number(v.to_string(), v == 0.0, v < 0.0)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(UnitVisitor {
            expecting: "a size such as \"200GB\"",
            parse: parse_size,
            what: "size",
            examples: SIZE_EXAMPLES,
        })
        .map(ByteSize)
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Milliseconds fit a u64 for 584 million years: the parser's limit.
        let millis = |text: &str| {
            parse_duration(text).and_then(|d| u64::try_from(d.as_millis()).map_err(|_| format!("`{text}` is too long")))
        };
        d.deserialize_any(UnitVisitor {
            expecting: "a duration such as \"7d\"",
            parse: millis,
            what: "duration",
            examples: DURATION_EXAMPLES,
        })
        .map(|ms| HumanDuration(Duration::from_millis(ms)))
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_in_decimal_and_binary_units() {
        assert_eq!(parse_size("200GB"), Ok(200_000_000_000));
        assert_eq!(parse_size("1.5TB"), Ok(1_500_000_000_000));
        assert_eq!(parse_size("500GiB"), Ok(500 * (1u64 << 30)));
        assert_eq!(parse_size("12345B"), Ok(12345));
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size(" 50 gb "), Ok(50_000_000_000));
        assert_eq!(parse_size("0.5KB"), Ok(500));
        assert_eq!(parse_size("1_000B"), Ok(1000));
    }

    #[test]
    fn bad_sizes_say_what_is_valid() {
        for bad in ["", "GB", "12XB", "1.2.3GB", "-5GB", "99999999999999PB"] {
            let err = parse_size(bad).unwrap_err();
            assert!(err.contains("size"), "{bad}: {err}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("24h"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(604_800)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert!(parse_duration("10").unwrap_err().contains("\"10d\""));
        assert!(parse_duration("10y").unwrap_err().contains("e.g."));
    }

    #[test]
    fn a_number_without_its_unit_is_refused_except_zero() {
        let e = parse_size("200").unwrap_err();
        assert!(
            e.contains("bare number") && e.contains("\"200GB\"") && e.contains("\"200B\""),
            "{e}"
        );
        let e = parse_duration("7").unwrap_err();
        assert!(e.contains("\"7d\"") && e.contains("\"7s\""), "{e}");
        assert_eq!(parse_size(" 0 "), Ok(0));
        assert_eq!(parse_size("0.0"), Ok(0));
        assert!(parse_size(".").is_err());
    }

    #[test]
    fn exact_formats_read_back() {
        for bytes in [0u64, 1, 999, 1000, 200_000_000_000, 1_500_000_000_000, 123_456_789] {
            assert_eq!(parse_size(&format_size_exact(bytes)), Ok(bytes));
        }
        for secs in [1u64, 59, 60, 90, 3600, 86_400, 604_800, 691_200] {
            let d = Duration::from_secs(secs);
            assert_eq!(parse_duration(&format_duration_exact(d)), Ok(d));
        }
        assert_eq!(format_size_exact(200_000_000_000), "200GB");
        assert_eq!(format_duration_exact(Duration::from_secs(604_800)), "1w");
    }
}
