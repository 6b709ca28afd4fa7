//! What the real API's answers look like on the wire, as its documentation
//! gives them: the action names and version of API 3.0, its page limit,
//! and times written `YYYY-MM-DD HH:MM:SS` in China Standard Time.

use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone, Utc};

/// The action that lists traffic packages.
pub(crate) const LIST_ACTION: &str = "DescribeTrafficPackages";
/// The action that lists HTTPS request packages.
pub(crate) const HTTPS_LIST_ACTION: &str = "DescribeHttpsPackages";
/// The action that reads billed traffic.
pub(crate) const BILLING_ACTION: &str = "DescribeBillingData";
/// The action that says how an area is billed.
pub(crate) const PAY_TYPE_ACTION: &str = "DescribePayType";
/// The CDN API 3.0 version.
pub(crate) const VERSION: &str = "2018-06-06";
/// The most packages one page may hold.
pub(crate) const PAGE_LIMIT: u64 = 1000;

/// China Standard Time, the zone of the API's times.
pub const CHINA_STANDARD_TIME: FixedOffset = match FixedOffset::east_opt(8 * 3600) {
    Some(offset) => offset,
    None => panic!("+08:00 is a valid offset"),
};

const FORMAT: &str = "%Y-%m-%d %H:%M:%S";

/// `t` as the API writes it, in `offset`.
pub(crate) fn api_time(t: DateTime<Utc>, offset: FixedOffset) -> String {
    t.with_timezone(&offset).format(FORMAT).to_string()
}

/// An API time read in `offset`.
pub(crate) fn parse_api_time(text: &str, offset: FixedOffset) -> Option<DateTime<Utc>> {
    let naive = NaiveDateTime::parse_from_str(text.trim(), FORMAT).ok()?;
    offset
        .from_local_datetime(&naive)
        .single()
        .map(|t| t.with_timezone(&Utc))
}

/// A random id in the form of the API's `RequestId`.
pub(crate) fn request_id() -> String {
    let (a, b) = (random_u64(), random_u64());
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        a >> 32,
        a >> 16 & 0xffff,
        a & 0xffff,
        b >> 48,
        b & 0xffff_ffff_ffff
    )
}

fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    // A freshly keyed SipHash: random enough for ids that must not repeat.
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(0);
    hasher.finish()
}
