//! Reading API 3.0 answers: the `{"Response": {...}}` envelope with its
//! `Error` and `RequestId`, and a page of `DescribeTrafficPackages`.

use super::error::ApiError;
use super::json_fields::{Fields, as_i64, describe, malformed};
use super::stream::{ListSeed, Listed, json_error};
use cdnquota_core::model::Package;
use chrono::{DateTime, FixedOffset, Utc};
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

/// Reads `DescribeBillingData`'s answer: (hour start, bytes) for every
/// hour of every resource's `flux` data, summed where resources overlap.
pub fn parse_billing(
    response: &Map<String, Value>,
    offset: FixedOffset,
) -> Result<Vec<(DateTime<Utc>, f64)>, ApiError> {
    let Some(Value::Array(data)) = response.get("Data") else {
        return Err(malformed("Response.Data: expected a list of resources"));
    };
    let mut hours: std::collections::BTreeMap<DateTime<Utc>, f64> = std::collections::BTreeMap::new();
    for (i, resource) in data.iter().enumerate() {
        let Some(Value::Array(billing)) = resource.get("BillingData") else {
            return Err(malformed(format!("Response.Data[{i}].BillingData: expected a list")));
        };
        for series in billing
            .iter()
            .filter(|b| b.get("Metric").and_then(Value::as_str) == Some("flux"))
        {
            let Some(Value::Array(points)) = series.get("DetailData") else {
                return Err(malformed(format!(
                    "Response.Data[{i}].BillingData.DetailData: expected a list"
                )));
            };
            for point in points {
                let time = point
                    .get("Time")
                    .and_then(Value::as_str)
                    .and_then(|t| super::json_fields::parse_api_time(t, offset))
                    .ok_or_else(|| {
                        malformed(format!(
                            "Response.Data[{i}]: a DetailData Time is not \"YYYY-MM-DD HH:MM:SS\""
                        ))
                    })?;
                let value = point
                    .get("Value")
                    .and_then(Value::as_f64)
                    .filter(|v| v.is_finite() && *v >= 0.0)
                    .ok_or_else(|| malformed(format!("Response.Data[{i}]: a DetailData Value is not a byte count")))?;
                *hours.entry(time).or_default() += value;
            }
        }
    }
    Ok(hours.into_iter().collect())
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

/// Reads `TrafficPackages[i]`.
fn parse_item(i: usize, item: &Value, offset: FixedOffset) -> Result<Package, ApiError> {
    let Value::Object(object) = item else {
        return Err(malformed(format!(
            "TrafficPackages[{i}]: expected an object, got {}",
            describe(item)
        )));
    };
    let f = Fields::new(object, format!("TrafficPackages[{i}]"));
    let size_bytes = f.bytes("Bytes")?;
    let status = f
        .text("Status")
        .ok_or_else(|| malformed(format!("TrafficPackages[{i}].Status is missing")))?;
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
    let region = match object.get("Region") {
        None | Some(Value::Null) => cdnquota_core::model::Region::Mainland,
        Some(v) => as_i64(v)
            .and_then(cdnquota_core::model::Region::from_code)
            .ok_or_else(|| {
                malformed(format!(
                    "TrafficPackages[{i}].Region: expected 0 to 8, got {}",
                    describe(v)
                ))
            })?,
    };
    let extension_mode = object
        .get("ExtensionMode")
        .and_then(as_i64)
        .and_then(cdnquota_core::model::ExtensionMode::from_code);
    Ok(Package {
        id: f.id("Id")?,
        title: kind
            .clone()
            .unwrap_or_else(|| cdnquota_core::units::format_size_exact(size_bytes)),
        size_bytes,
        used_bytes: f.bytes("BytesUsed")?,
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
        region,
        resource: cdnquota_core::model::Resource::Traffic,
    })
}

/// Reads `TotalCount` and what `TrafficPackages` held into a page.
fn page_of(total: Option<&Value>, listed: Option<Listed>) -> Result<Page, ApiError> {
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
                "Response.TrafficPackages: expected a list, got {got}"
            )))
        }
    }
}

/// Reads a `DescribeTrafficPackages` page.
pub fn parse_page(response: &Map<String, Value>, offset: FixedOffset) -> Result<Page, ApiError> {
    let listed = match response.get("TrafficPackages") {
        Some(Value::Array(items)) => Some(Listed::Items(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| parse_item(i, item, offset))
                .collect(),
        )),
        Some(Value::Null) => Some(Listed::Null),
        Some(other) => Some(Listed::Other(other.clone())),
        None => None,
    };
    page_of(response.get("TotalCount"), listed)
}

/// Reads a whole `DescribeTrafficPackages` answer into a page, as
/// [`parse_envelope`] and [`parse_page`] do, but one package at a time: a
/// page of 1,000 never exists as a JSON tree.
pub fn parse_page_answer(body: &[u8], offset: FixedOffset) -> Result<Page, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let root = de::DeserializeSeed::deserialize(RootSeed(offset), &mut de).map_err(json_error)?;
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
    page_of(response.total.as_ref(), response.packages)
}

/// The fields of `Response` that matter, the packages already read.
struct ResponseParts {
    error: Option<Value>,
    request_id: Option<Value>,
    total: Option<Value>,
    packages: Option<Listed>,
}

/// The root object: `Response`, or `None` when it is missing or not an object.
struct RootSeed(FixedOffset);

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
                response = map.next_value_seed(ResponseSeed(self.0))?;
            } else {
                map.next_value::<de::IgnoredAny>()?;
            }
        }
        Ok(response)
    }
}

struct ResponseSeed(FixedOffset);

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
        let offset = self.0;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "Error" => parts.error = Some(map.next_value()?),
                "RequestId" => parts.request_id = Some(map.next_value()?),
                "TotalCount" => parts.total = Some(map.next_value()?),
                "TrafficPackages" => {
                    parts.packages = Some(map.next_value_seed(ListSeed(|i, item: &Value| parse_item(i, item, offset)))?)
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
    fn billing_data_is_read_by_the_hour() {
        let answer = r#"{"Response": {"RequestId": "r", "Interval": "hour", "Data": [{"Resource": "all",
            "BillingData": [{"Metric": "flux", "DetailData": [
                {"Time": "2026-06-01 00:00:00", "Value": 1000},
                {"Time": "2026-06-01 01:00:00", "Value": 2500.0}],
             "SummarizedData": {"Name": "sum", "Value": 3500}}]}]}}"#;
        let hours = parse_billing(&parse_envelope(answer.as_bytes()).unwrap(), cst()).unwrap();
        let utc = |t: &str| crate::json_fields::parse_api_time(t, cst()).unwrap();
        assert_eq!(
            hours,
            vec![
                (utc("2026-06-01 00:00:00"), 1000.0),
                (utc("2026-06-01 01:00:00"), 2500.0)
            ]
        );
        let bad = r#"{"Response": {"RequestId": "r", "Data": [{"BillingData": [{"Metric": "flux", "DetailData": [{"Time": "x", "Value": 1}]}]}]}}"#;
        assert!(parse_billing(&parse_envelope(bad.as_bytes()).unwrap(), cst()).is_err());
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
