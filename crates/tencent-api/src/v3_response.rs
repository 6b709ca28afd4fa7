//! Reading API 3.0 answers: the `{"Response": {...}}` envelope with its
//! `Error` and `RequestId`, and a page of `DescribeTrafficPackages` or
//! `DescribeHttpsPackages`.

use super::error::ApiError;
use super::json_fields::{Fields, as_i64, describe, malformed};
use super::stream::{ListSeed, Listed, json_error};
use cdnquota_core::model::{Package, Region, Resource};
use chrono::FixedOffset;
use serde::de;
use serde_json::{Map, Value};

/// One page of packages and the total the API says there are.
#[derive(Debug, PartialEq)]
pub struct Page {
    /// `TotalCount`: packages over all pages.
    pub total: u64,
    /// The packages on this page.
    pub packages: Vec<Package>,
}

/// Which package list a page is of: both are paged alike and their items
/// share most fields, but not the names of the amounts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PackageList {
    /// `DescribeTrafficPackages`: `TrafficPackages`, `Bytes`/`BytesUsed`.
    Traffic,
    /// `DescribeHttpsPackages`: `HttpsPackages`, `Size`/`SizeUsed` (requests).
    Https,
}

impl PackageList {
    /// The action that lists it.
    pub const fn action(self) -> &'static str {
        match self {
            PackageList::Traffic => "DescribeTrafficPackages",
            PackageList::Https => "DescribeHttpsPackages",
        }
    }

    /// The field of `Response` that holds the list.
    pub fn key(self) -> &'static str {
        match self {
            PackageList::Traffic => "TrafficPackages",
            PackageList::Https => "HttpsPackages",
        }
    }

    /// The item fields of the size and the amount used.
    fn amounts(self) -> (&'static str, &'static str) {
        match self {
            PackageList::Traffic => ("Bytes", "BytesUsed"),
            PackageList::Https => ("Size", "SizeUsed"),
        }
    }
}

/// Checks the envelope and returns `Response`; `Response.Error` becomes
/// [`ApiError::Tencent`] with the request id.
pub fn parse_envelope(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| ApiError::Malformed {
        truncated: e.classify() == serde_json::error::Category::Eof,
        detail: format!("not JSON: {e}"),
    })?;
    let response = match value {
        Value::Object(mut root) => match root.remove("Response") {
            Some(Value::Object(response)) => response,
            _ => return Err(malformed("field `Response` is missing")),
        },
        other => return Err(malformed(format!("expected a JSON object, got {}", describe(&other)))),
    };
    if let Some(error) = response.get("Error") {
        let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_string();
        return Err(ApiError::Tencent {
            code: text(error.get("Code")),
            message: text(error.get("Message")),
            request_id: text(response.get("RequestId")),
        });
    }
    Ok(response)
}

/// What a `Status` word means for deduction. Tencent documents no closed
/// list, so a word not known here counts as not usable (an alarm rather
/// than silence) and is shown as reported.
fn status_flags(status: &str) -> (bool, bool) {
    match status {
        "enabled" | "exhausted" => (true, false),
        "expired" => (true, true),
        _ => (false, false),
    }
}

/// Reads item `i` of `list`.
fn parse_item(list: PackageList, i: usize, item: &Value, offset: FixedOffset) -> Result<Package, ApiError> {
    let key = list.key();
    let Value::Object(object) = item else {
        return Err(malformed(format!(
            "{key}[{i}]: expected an object, got {}",
            describe(item)
        )));
    };
    let f = Fields::new(object, format!("{key}[{i}]"));
    let (size_field, used_field) = list.amounts();
    let size_bytes = f.bytes(size_field)?;
    let status = f
        .text("Status")
        .ok_or_else(|| malformed(format!("{key}[{i}].Status is missing")))?;
    let (enabled, expired) = status_flags(&status);
    let kind = f.text("Type");
    let created_at = match object.get("CreateTime") {
        None | Some(Value::Null) => None,
        Some(_) => Some(f.time("CreateTime", offset)?),
    };
    // The real window, when given, can differ from the nominal one (e.g.
    // 15:59:59 against 15:00:00): it is what deducts traffic.
    let window = |real: &str, nominal: &str| match object.get(real) {
        None | Some(Value::Null) => f.time(nominal, offset),
        Some(Value::String(s)) if s.is_empty() => f.time(nominal, offset),
        Some(_) => f.time(real, offset),
    };
    // A package without `Region` is an answer from before regions were
    // reported: mainland, as the v2 list is. A number outside the nine is
    // refused: counting it in some pool would be a guess about money.
    // HTTPS request packages have no `Region`: they deduct worldwide.
    let (region, resource) = match list {
        PackageList::Https => (Region::Global, Resource::HttpsRequests),
        PackageList::Traffic => match object.get("Region") {
            None | Some(Value::Null) => (Region::Mainland, Resource::Traffic),
            Some(v) => as_i64(v).and_then(Region::from_code).map_or_else(
                || {
                    Err(malformed(format!(
                        "{key}[{i}].Region: expected 0 to 8, got {}",
                        describe(v)
                    )))
                },
                |region| Ok((region, Resource::Traffic)),
            )?,
        },
    };
    let fallback_title = || match resource {
        Resource::Traffic => cdnquota_core::units::format_size_exact(size_bytes),
        Resource::HttpsRequests => format!("{size_bytes} requests"),
    };
    let extension_mode = object
        .get("ExtensionMode")
        .and_then(as_i64)
        .and_then(cdnquota_core::model::ExtensionMode::from_code);
    Ok(Package {
        id: f.id("Id")?,
        title: kind.clone().unwrap_or_else(fallback_title),
        size_bytes,
        used_bytes: f.bytes(used_field)?,
        created_at,
        enabled_at: window("TrueEnableTime", "EnableTime")?,
        expires_at: window("TrueExpireTime", "ExpireTime")?,
        enabled,
        expired,
        kind,
        status: Some(status),
        auto_extension: object.get("AutoExtension").and_then(Value::as_bool),
        area: f.text("Area"),
        extension_mode,
        refund_available: object.get("RefundAvailable").and_then(Value::as_bool),
        region,
        resource,
    })
}

/// Reads `TotalCount` and what the list field of `list` held into a page.
fn page_of(list: PackageList, total: Option<&Value>, listed: Option<Listed>) -> Result<Page, ApiError> {
    let total = total
        .and_then(as_i64)
        .and_then(|n| u64::try_from(n).ok())
        .ok_or_else(|| malformed("Response.TotalCount is missing or not a count"))?;
    match listed {
        Some(Listed::Items(packages)) => Ok(Page {
            total,
            packages: packages?,
        }),
        Some(Listed::Null) | None if total == 0 => Ok(Page {
            total,
            packages: Vec::new(),
        }),
        other => {
            let got = match other {
                Some(Listed::Other(v)) => describe(&v),
                Some(Listed::Null) => "null".to_string(),
                _ => "nothing".to_string(),
            };
            Err(malformed(format!(
                "Response.{}: expected a list, got {got}",
                list.key()
            )))
        }
    }
}

/// Reads a `DescribeTrafficPackages` page.
pub fn parse_page(response: &Map<String, Value>, offset: FixedOffset) -> Result<Page, ApiError> {
    parse_page_of(PackageList::Traffic, response, offset)
}

/// Reads a page of `list` from its `Response`.
pub fn parse_page_of(list: PackageList, response: &Map<String, Value>, offset: FixedOffset) -> Result<Page, ApiError> {
    let listed = match response.get(list.key()) {
        Some(Value::Array(items)) => Some(Listed::Items(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| parse_item(list, i, item, offset))
                .collect(),
        )),
        Some(Value::Null) => Some(Listed::Null),
        Some(other) => Some(Listed::Other(other.clone())),
        None => None,
    };
    page_of(list, response.get("TotalCount"), listed)
}

/// Reads a whole `DescribeTrafficPackages` answer into a page, as
/// [`parse_envelope`] and [`parse_page`] do, but one package at a time: a
/// page of 1,000 never exists as a JSON tree.
pub fn parse_page_answer(body: &[u8], offset: FixedOffset) -> Result<Page, ApiError> {
    parse_page_answer_of(PackageList::Traffic, body, offset)
}

/// Reads a whole answer listing `list`, as [`parse_page_answer`] does.
pub fn parse_page_answer_of(list: PackageList, body: &[u8], offset: FixedOffset) -> Result<Page, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let root = de::DeserializeSeed::deserialize(RootSeed(list, offset), &mut de).map_err(json_error)?;
    de.end().map_err(json_error)?;
    let Some(response) = root else {
        return Err(malformed("field `Response` is missing"));
    };
    if let Some(error) = &response.error {
        let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_string();
        return Err(ApiError::Tencent {
            code: text(error.get("Code")),
            message: text(error.get("Message")),
            request_id: text(response.request_id.as_ref()),
        });
    }
    page_of(list, response.total.as_ref(), response.packages)
}

/// The fields of `Response` that matter, the packages already read.
struct ResponseParts {
    error: Option<Value>,
    request_id: Option<Value>,
    total: Option<Value>,
    packages: Option<Listed>,
}

/// The root object: `Response`, or `None` when it is missing or not an object.
struct RootSeed(PackageList, FixedOffset);

impl<'de> de::DeserializeSeed<'de> for RootSeed {
    type Value = Option<ResponseParts>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> de::Visitor<'de> for RootSeed {
    type Value = Option<ResponseParts>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut response = None;
        while let Some(key) = map.next_key::<String>()? {
            if key == "Response" {
                response = map.next_value_seed(ResponseSeed(self.0, self.1))?;
            } else {
                map.next_value::<de::IgnoredAny>()?;
            }
        }
        Ok(response)
    }
}

struct ResponseSeed(PackageList, FixedOffset);

impl<'de> de::DeserializeSeed<'de> for ResponseSeed {
    type Value = Option<ResponseParts>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> de::Visitor<'de> for ResponseSeed {
    type Value = Option<ResponseParts>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("the Response object")
    }

    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut parts = ResponseParts {
            error: None,
            request_id: None,
            total: None,
            packages: None,
        };
        let (list, offset) = (self.0, self.1);
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "Error" => parts.error = Some(map.next_value()?),
                "RequestId" => parts.request_id = Some(map.next_value()?),
                "TotalCount" => parts.total = Some(map.next_value()?),
                k if k == list.key() => {
                    parts.packages =
                        Some(map.next_value_seed(ListSeed(|i, item: &Value| parse_item(list, i, item, offset)))?)
                }
                _ => {
                    map.next_value::<de::IgnoredAny>()?;
                }
            }
        }
        Ok(Some(parts))
    }

    // Anything but an object is no Response.
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<de::IgnoredAny>()?.is_some() {}
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cst() -> FixedOffset {
        crate::settings::CHINA_STANDARD_TIME
    }

    const PAGE: &str = r#"{"Response": {
        "RequestId": "b1a70a67f5500913be355ac2f09ff191",
        "TotalCount": 3, "ExpiringCount": 0, "EnabledCount": 1, "PaidCount": 1,
        "TrafficPackages": [
            {"Id": 22890370, "Type": "日常流量包", "ConfigId": 672, "Bytes": 100000000000, "BytesUsed": 25,
             "Status": "enabled", "CreateTime": "2026-01-01 00:00:00", "EnableTime": "2026-01-01 00:00:00",
             "ExpireTime": "2027-01-01 00:00:00", "ContractExtension": false, "AutoExtension": true,
             "Channel": "buy", "Area": "mainland", "LifeTimeMonth": 12},
            {"Id": "7", "Bytes": "50", "BytesUsed": "50", "Status": "expired",
             "EnableTime": "2025-01-01 00:00:00", "ExpireTime": "2025-02-01 00:00:00"},
            {"Id": 8, "Bytes": 50, "BytesUsed": 0, "Status": "frozen",
             "EnableTime": "2026-01-01 00:00:00", "ExpireTime": "2027-01-01 00:00:00"}
        ]}}"#;

    #[test]
    fn the_true_window_and_the_extension_mode_are_read() {
        let page = r#"{"Response": {"RequestId": "r", "TotalCount": 2, "TrafficPackages": [
            {"Id": 1, "Bytes": 100, "BytesUsed": 0, "Status": "enabled",
             "EnableTime": "2026-01-01 15:00:00", "ExpireTime": "2026-07-01 15:00:00",
             "TrueEnableTime": "2026-01-01 15:00:00", "TrueExpireTime": "2026-07-01 15:59:59",
             "ExtensionMode": 2},
            {"Id": 2, "Bytes": 100, "BytesUsed": 0, "Status": "enabled",
             "EnableTime": "2026-01-01 15:00:00", "ExpireTime": "2026-07-01 15:00:00",
             "TrueEnableTime": null, "TrueExpireTime": null, "ExtensionMode": null}
        ]}}"#;
        let page = parse_page_answer(page.as_bytes(), cst()).unwrap();
        let utc = |t: &str| crate::json_fields::parse_api_time(t, cst()).unwrap();
        assert_eq!(page.packages[0].expires_at, utc("2026-07-01 15:59:59"));
        assert_eq!(
            page.packages[0].extension_mode,
            Some(cdnquota_core::model::ExtensionMode::WhenUsedUp)
        );
        assert_eq!(page.packages[1].expires_at, utc("2026-07-01 15:00:00"));
        assert_eq!(page.packages[1].extension_mode, None);
    }

    #[test]
    fn an_https_page_is_read_as_requests_in_the_global_pool() {
        let body = r#"{"Response": {"RequestId": "r", "TotalCount": 2, "HttpsPackages": [
            {"Id": 31, "Type": "HTTPS请求包", "Size": 10000000, "SizeUsed": 2500000, "Status": "enabled",
             "CreateTime": "2026-01-01 00:00:00", "EnableTime": "2026-01-01 00:00:00",
             "ExpireTime": "2027-01-01 00:00:00", "TrueEnableTime": "2026-01-01 00:00:00",
             "TrueExpireTime": "2027-01-01 00:59:59", "Area": "global", "AutoExtension": false,
             "ExtensionMode": 1, "Region": 6},
            {"Id": 32, "Size": 500, "SizeUsed": 0, "Status": "disabled",
             "EnableTime": "2027-01-01 00:00:00", "ExpireTime": "2028-01-01 00:00:00"}
        ]}}"#;
        let whole = parse_envelope(body.as_bytes()).and_then(|r| parse_page_of(PackageList::Https, &r, cst()));
        let page = parse_page_answer_of(PackageList::Https, body.as_bytes(), cst()).unwrap();
        assert_eq!(whole.as_ref(), Ok(&page));
        let p = &page.packages[0];
        assert_eq!((p.size_bytes, p.used_bytes), (10_000_000, 2_500_000));
        // A `Region` on an HTTPS package does not move it out of the world pool.
        assert_eq!((p.region, p.resource), (Region::Global, Resource::HttpsRequests));
        assert_eq!((p.title.as_str(), p.area.as_deref()), ("HTTPS请求包", Some("global")));
        assert_eq!(
            p.expires_at,
            crate::json_fields::parse_api_time("2027-01-01 00:59:59", cst()).unwrap()
        );
        assert_eq!(page.packages[1].title, "500 requests");
        assert!(!page.packages[1].enabled);
        // The traffic list's key is not read as HTTPS packages, nor the other way round.
        assert!(parse_page_answer_of(PackageList::Traffic, body.as_bytes(), cst()).is_err());
        let no_used = body.replace("\"SizeUsed\": 0,", "");
        let err = parse_page_answer_of(PackageList::Https, no_used.as_bytes(), cst()).unwrap_err();
        assert!(
            err.to_string().contains("HttpsPackages[1].SizeUsed is missing"),
            "{err}"
        );
    }

    #[test]
    fn a_traffic_package_is_in_its_region() {
        let page = |region: &str| {
            format!(
                r#"{{"Response": {{"TotalCount": 1, "TrafficPackages": [{{"Id": 1, "Bytes": 5, "BytesUsed": 0,
                "Status": "enabled", "EnableTime": "2026-01-01 00:00:00", "ExpireTime": "2027-01-01 00:00:00"{region}}}]}}}}"#
            )
        };
        let region = |r: &str| both_ways(&page(r)).map(|p| p.packages[0].pool());
        let europe = region(", \"Region\": 6").unwrap();
        assert_eq!((europe.region, europe.resource), (Region::Europe, Resource::Traffic));
        assert_eq!(region(", \"Region\": \"8\"").unwrap().region, Region::Africa);
        assert_eq!(region("").unwrap().region, Region::Mainland);
        assert_eq!(region(", \"Region\": null").unwrap().region, Region::Mainland);
        let err = region(", \"Region\": 9").unwrap_err();
        assert!(err.to_string().contains("TrafficPackages[0].Region"), "{err}");
    }

    #[test]
    fn reads_a_page() {
        let page = parse_page(&parse_envelope(PAGE.as_bytes()).unwrap(), cst()).unwrap();
        assert_eq!(page.total, 3);
        let p = &page.packages[0];
        assert_eq!((p.id.as_str(), p.title.as_str()), ("22890370", "日常流量包"));
        assert_eq!((p.size_bytes, p.used_bytes), (100_000_000_000, 25));
        assert_eq!(p.enabled_at.to_rfc3339(), "2025-12-31T16:00:00+00:00");
        assert_eq!((p.enabled, p.expired, p.auto_extension), (true, false, Some(true)));
        assert_eq!(p.area.as_deref(), Some("mainland"));
        assert!(page.packages[1].expired);
        assert_eq!(page.packages[1].title, "50B");
        // An unknown status is kept as reported and is not usable.
        let frozen = &page.packages[2];
        assert_eq!((frozen.enabled, frozen.status.as_deref()), (false, Some("frozen")));
    }

    #[test]
    fn errors_keep_code_message_and_request_id() {
        let body =
            br#"{"Response":{"Error":{"Code":"AuthFailure.SignatureFailure","Message":"bad"},"RequestId":"r-1"}}"#;
        assert_eq!(
            parse_envelope(body).unwrap_err(),
            ApiError::Tencent {
                code: "AuthFailure.SignatureFailure".into(),
                message: "bad".into(),
                request_id: "r-1".into()
            }
        );
    }

    /// The streamed reading agrees with the envelope-then-page one.
    fn both_ways(body: &str) -> Result<Page, ApiError> {
        let whole = parse_envelope(body.as_bytes()).and_then(|r| parse_page(&r, cst()));
        let streamed = parse_page_answer(body.as_bytes(), cst());
        assert_eq!(streamed, whole, "{body}");
        streamed
    }

    #[test]
    fn the_streamed_page_reads_as_the_whole_one() {
        assert_eq!(both_ways(PAGE).unwrap().packages.len(), 3);
        for body in [
            r#"{"Response":{"TotalCount":0}}"#,
            r#"{"Response":{"TotalCount":0,"TrafficPackages":null}}"#,
            r#"{"Response":{"TotalCount":2,"TrafficPackages":null}}"#,
            r#"{"Response":{"TotalCount":2}}"#,
            r#"{"Response":{"TotalCount":2,"TrafficPackages":{"a":1}}}"#,
            r#"{"Response":{"TotalCount":2,"TrafficPackages":[1]}}"#,
            r#"{"Response":{"TotalCount":"x","TrafficPackages":[]}}"#,
            r#"{"Response":{"TrafficPackages":[],"TotalCount":-1}}"#,
            r#"{"Response":{"Error":{"Code":"AuthFailure","Message":"bad"},"TrafficPackages":[{"Id":1}],"RequestId":"r-2"}}"#,
            r#"{"Response":7}"#,
            r#"{"Other":{}}"#,
        ] {
            let _ = both_ways(body);
        }
        let no_used = PAGE.replace("\"BytesUsed\": 25,", "");
        assert!(both_ways(&no_used).is_err());
        assert!(
            parse_page_answer(&PAGE.as_bytes()[..50], cst())
                .unwrap_err()
                .is_transient()
        );
        assert!(parse_page_answer(b"[]", cst()).is_err());
    }

    #[test]
    fn missing_fields_are_named() {
        let no_total = br#"{"Response":{"TrafficPackages":[]}}"#;
        let err = parse_page(&parse_envelope(no_total).unwrap(), cst()).unwrap_err();
        assert!(err.to_string().contains("TotalCount"), "{err}");
        let no_used = PAGE.replace("\"BytesUsed\": 25,", "");
        let err = parse_page(&parse_envelope(no_used.as_bytes()).unwrap(), cst()).unwrap_err();
        assert!(
            err.to_string().contains("TrafficPackages[0].BytesUsed is missing"),
            "{err}"
        );
        assert!(parse_envelope(b"{}").is_err());
        assert!(parse_envelope(&PAGE.as_bytes()[..50]).unwrap_err().is_transient());
    }
}
