//! Reading API v2 answers: the `{code, message, codeDesc, data}` envelope,
//! the GetPackage list and the OrderPackage ids.
//!
//! Parsing is tolerant where the API is known to wobble (unknown fields,
//! numbers sent as strings, booleans as 0/1) and strict where a guess would
//! be dangerous: a missing `data` or `flux_used` is an error naming the
//! field, never "no packages" or "nothing used".

use super::error::ApiError;
use super::json_fields::{Fields, as_i64, describe, malformed};
use super::stream::{ListSeed, Listed, json_error};
use cdnquota_core::model::Package;
use chrono::FixedOffset;
use serde::de;
use serde_json::Value;

pub use super::json_fields::parse_api_time;

pub use super::json_fields::API_TIME_FORMAT;

/// Checks the envelope and returns `data`; `code != 0` becomes [`ApiError::Api`].
pub fn parse_envelope(body: &[u8]) -> Result<Value, ApiError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| ApiError::Malformed {
        truncated: e.classify() == serde_json::error::Category::Eof,
        detail: format!("not JSON: {e}"),
    })?;
    let Value::Object(mut root) = value else {
        return Err(malformed(format!("expected a JSON object, got {}", describe(&value))));
    };
    let code = root.get("code").ok_or_else(|| malformed("field `code` is missing"))?;
    let code =
        as_i64(code).ok_or_else(|| malformed(format!("field `code`: expected an integer, got {}", describe(code))))?;
    if code != 0 {
        let text = |name: &str| root.get(name).and_then(Value::as_str).unwrap_or_default().to_string();
        return Err(ApiError::Api {
            code,
            message: text("message"),
            code_desc: text("codeDesc"),
        });
    }
    match root.remove("data") {
        None | Some(Value::Null) => Err(malformed("field `data` is missing")),
        Some(data) => Ok(data),
    }
}

/// Keeps one package per id, in first-seen order, and returns the ids that
/// were listed more than once. Where the copies differ the one with the most
/// bytes used is kept: counting a package twice would double the pool, and
/// of two readings the fuller one is the safe one to believe.
pub fn dedupe_packages(packages: Vec<Package>) -> (Vec<Package>, Vec<String>) {
    let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut kept: Vec<Package> = Vec::with_capacity(packages.len());
    let mut repeated = Vec::new();
    for p in packages {
        match index.get(&p.id) {
            Some(&i) => {
                if !repeated.contains(&p.id) {
                    repeated.push(p.id.clone());
                }
                if p.used_bytes > kept[i].used_bytes {
                    kept[i] = p;
                }
            }
            None => {
                index.insert(p.id.clone(), kept.len());
                kept.push(p);
            }
        }
    }
    (kept, repeated)
}

/// Reads the GetPackage `data` array into packages.
pub fn parse_packages(data: &Value, offset: FixedOffset) -> Result<Vec<Package>, ApiError> {
    let Value::Array(items) = data else {
        return Err(not_a_list(data));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| parse_package(i, item, offset))
        .collect()
}

fn not_a_list(data: &Value) -> ApiError {
    malformed(format!("data: expected a list of packages, got {}", describe(data)))
}

/// Reads `data[i]`.
fn parse_package(i: usize, item: &Value, offset: FixedOffset) -> Result<Package, ApiError> {
    let Value::Object(object) = item else {
        return Err(malformed(format!(
            "data[{i}]: expected an object, got {}",
            describe(item)
        )));
    };
    let f = Fields::new(object, format!("data[{i}]"));
    let size_bytes = f.bytes("flux_byte")?;
    let title = match object.get("flux_title") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        _ => cdnquota_core::units::format_size_exact(size_bytes),
    };
    let created_at = match object.get("create_time") {
        None | Some(Value::Null) => None,
        Some(_) => Some(f.time("create_time", offset)?),
    };
    Ok(Package {
        id: f.id("id")?,
        title,
        size_bytes,
        used_bytes: f.bytes("flux_used")?,
        created_at,
        enabled_at: f.time("enable_time", offset)?,
        expires_at: f.time("expire_time", offset)?,
        enabled: f.flag("is_enable")?,
        expired: f.flag("is_expire")?,
        kind: None,
        status: None,
        auto_extension: None,
        area: None,
        extension_mode: None,
        refund_available: None,
        // GetPackage lists mainland (大陆) traffic packages only.
        region: cdnquota_core::model::Region::Mainland,
        resource: cdnquota_core::model::Resource::Traffic,
    })
}

/// Reads a whole GetPackage answer into packages, as [`parse_envelope`] and
/// [`parse_packages`] do, but one package at a time: a list of 100,000
/// never exists as a JSON tree, which would take several times the
/// answer's own size.
pub fn parse_package_answer(body: &[u8], offset: FixedOffset) -> Result<Vec<Package>, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let answer = de::DeserializeSeed::deserialize(AnswerSeed(offset), &mut de).map_err(json_error)?;
    de.end().map_err(json_error)?;
    let code = answer.code.ok_or_else(|| malformed("field `code` is missing"))?;
    let code = as_i64(&code)
        .ok_or_else(|| malformed(format!("field `code`: expected an integer, got {}", describe(&code))))?;
    if code != 0 {
        let text = |v: Option<Value>| v.as_ref().and_then(Value::as_str).unwrap_or_default().to_string();
        return Err(ApiError::Api {
            code,
            message: text(answer.message),
            code_desc: text(answer.code_desc),
        });
    }
    match answer.data {
        Some(Listed::Items(packages)) => packages,
        Some(Listed::Other(data)) => Err(not_a_list(&data)),
        Some(Listed::Null) | None => Err(malformed("field `data` is missing")),
    }
}

/// The envelope's fields, `data` already read into packages.
struct Answer {
    code: Option<Value>,
    message: Option<Value>,
    code_desc: Option<Value>,
    data: Option<Listed>,
}

struct AnswerSeed(FixedOffset);

impl<'de> de::DeserializeSeed<'de> for AnswerSeed {
    type Value = Answer;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Answer, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> de::Visitor<'de> for AnswerSeed {
    type Value = Answer;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Answer, A::Error> {
        let mut answer = Answer {
            code: None,
            message: None,
            code_desc: None,
            data: None,
        };
        let offset = self.0;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "code" => answer.code = Some(map.next_value()?),
                "message" => answer.message = Some(map.next_value()?),
                "codeDesc" => answer.code_desc = Some(map.next_value()?),
                "data" => {
                    answer.data = Some(map.next_value_seed(ListSeed(|i, item: &Value| parse_package(i, item, offset)))?)
                }
                _ => {
                    map.next_value::<de::IgnoredAny>()?;
                }
            }
        }
        Ok(answer)
    }
}

/// Reads the OrderPackage `data.order_ids`.
pub fn parse_order_ids(data: &Value) -> Result<Vec<String>, ApiError> {
    let ids = data
        .get("order_ids")
        .and_then(Value::as_array)
        .ok_or_else(|| malformed(format!("data.order_ids: expected a list, got {}", describe(data))))?;
    ids.iter()
        .enumerate()
        .map(|(i, v)| match v {
            Value::String(s) => Ok(s.clone()),
            Value::Number(n) => Ok(n.to_string()),
            _ => Err(malformed(format!(
                "data.order_ids[{i}]: expected an id, got {}",
                describe(v)
            ))),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cst() -> FixedOffset {
        crate::settings::CHINA_STANDARD_TIME
    }

    const SEED_EXAMPLE: &str = r#"{
        "code": 0,
        "data": [{
            "id": 432932, "flux_title": "50GB", "flux_byte": 50000000000,
            "create_time": "2017-07-01 00:00:00", "enable_time": "2017-07-01 00:00:00",
            "expire_time": "2017-08-01 00:00:00", "flux_used": 10000,
            "is_enable": true, "is_expire": false
        }],
        "message": "", "codeDesc": "Success"
    }"#;

    #[test]
    fn reads_the_documented_example() {
        let data = parse_envelope(SEED_EXAMPLE.as_bytes()).unwrap();
        let p = parse_packages(&data, cst()).unwrap();
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].id, "432932");
        assert_eq!(p[0].size_bytes, 50_000_000_000);
        assert_eq!(p[0].used_bytes, 10_000);
        // 2017-07-01 00:00 in +08:00 is 2017-06-30 16:00 UTC.
        assert_eq!(p[0].enabled_at.to_rfc3339(), "2017-06-30T16:00:00+00:00");
        assert!(p[0].enabled && !p[0].expired);
    }

    #[test]
    fn offset_is_configurable() {
        let t = parse_api_time("2017-07-01 00:00:00", FixedOffset::east_opt(0).unwrap()).unwrap();
        assert_eq!(t.to_rfc3339(), "2017-07-01T00:00:00+00:00");
        assert_eq!(parse_api_time("2017-07-01T00:00:00", cst()), None);
    }

    #[test]
    fn tolerates_strings_for_numbers_and_unknown_fields() {
        let body = r#"{"code":"0","data":[{"id":"7","flux_byte":"1000","flux_used":"10",
            "enable_time":"2026-01-01 00:00:00","expire_time":"2027-01-01 00:00:00",
            "is_enable":1,"is_expire":"false","new_field":{"x":1}}]}"#;
        let p = parse_packages(&parse_envelope(body.as_bytes()).unwrap(), cst()).unwrap();
        assert_eq!((p[0].size_bytes, p[0].used_bytes), (1000, 10));
        assert_eq!(p[0].title, "1KB");
        assert_eq!(p[0].created_at, None);
    }

    #[test]
    fn names_the_missing_or_mistyped_field() {
        let missing = r#"{"code":0,"data":[{"id":1,"flux_byte":5,"enable_time":"2026-01-01 00:00:00",
            "expire_time":"2027-01-01 00:00:00","is_enable":true,"is_expire":false}]}"#;
        let err = parse_packages(&parse_envelope(missing.as_bytes()).unwrap(), cst()).unwrap_err();
        assert_eq!(err.to_string(), "malformed response: data[0].flux_used is missing");

        let mistyped = missing.replace("\"flux_byte\":5", "\"flux_byte\":\"lots\",\"flux_used\":1");
        let err = parse_packages(&parse_envelope(mistyped.as_bytes()).unwrap(), cst()).unwrap_err();
        assert!(
            err.to_string()
                .contains("data[0].flux_byte: expected a non-negative integer, got \"lots\""),
            "{err}"
        );

        let negative = missing.replace("\"flux_byte\":5", "\"flux_byte\":5,\"flux_used\":-1");
        assert!(parse_packages(&parse_envelope(negative.as_bytes()).unwrap(), cst()).is_err());
    }

    #[test]
    fn missing_data_is_an_error_not_an_empty_list() {
        assert!(parse_envelope(br#"{"code":0}"#).is_err());
        assert!(parse_envelope(br#"{"code":0,"data":null}"#).is_err());
        let empty = parse_envelope(br#"{"code":0,"data":[]}"#).unwrap();
        assert_eq!(parse_packages(&empty, cst()).unwrap(), vec![]);
    }

    #[test]
    fn api_errors_keep_code_message_and_desc() {
        let err = parse_envelope(br#"{"code":4100,"message":"(9110)sig","codeDesc":"AuthFailure"}"#).unwrap_err();
        assert_eq!(
            err,
            ApiError::Api {
                code: 4100,
                message: "(9110)sig".into(),
                code_desc: "AuthFailure".into()
            }
        );
    }

    #[test]
    fn a_package_listed_twice_counts_once_at_its_fuller_reading() {
        let p = |id: &str, used: u64| cdnquota_core::model::Package {
            id: id.into(),
            title: String::new(),
            size_bytes: 900,
            used_bytes: used,
            created_at: None,
            enabled_at: chrono::DateTime::UNIX_EPOCH,
            expires_at: chrono::DateTime::UNIX_EPOCH,
            enabled: true,
            expired: false,
            kind: None,
            status: None,
            auto_extension: None,
            area: None,
            extension_mode: None,
            refund_available: None,
            region: cdnquota_core::model::Region::Mainland,
            resource: cdnquota_core::model::Resource::Traffic,
        };
        let (kept, repeated) = dedupe_packages(vec![p("a", 100), p("b", 0), p("a", 300), p("a", 200)]);
        let got: Vec<(&str, u64)> = kept.iter().map(|p| (p.id.as_str(), p.used_bytes)).collect();
        assert_eq!(got, [("a", 300), ("b", 0)]);
        assert_eq!(repeated, ["a"]);
    }

    #[test]
    fn truncated_json_is_transient() {
        let err = parse_envelope(&SEED_EXAMPLE.as_bytes()[..60]).unwrap_err();
        assert!(err.is_transient(), "{err:?}");
        let garbage = parse_envelope(b"<html>gateway</html>").unwrap_err();
        assert!(!garbage.is_transient());
    }

    /// The streamed reading agrees with the envelope-then-list one.
    fn both_ways(body: &str) -> Result<Vec<Package>, ApiError> {
        let whole = parse_envelope(body.as_bytes()).and_then(|d| parse_packages(&d, cst()));
        let streamed = parse_package_answer(body.as_bytes(), cst());
        assert_eq!(streamed, whole, "{body}");
        streamed
    }

    #[test]
    fn the_streamed_answer_reads_as_the_whole_one() {
        assert_eq!(both_ways(SEED_EXAMPLE).unwrap().len(), 1);
        // data before code, unknown fields, and the errors.
        let late_code = r#"{"data":[{"id":"7","flux_byte":"1000","flux_used":"10",
            "enable_time":"2026-01-01 00:00:00","expire_time":"2027-01-01 00:00:00",
            "is_enable":1,"is_expire":"false"}],"extra":[1,{"a":2}],"code":0}"#;
        assert_eq!(both_ways(late_code).unwrap()[0].used_bytes, 10);
        for body in [
            r#"{"code":0}"#,
            r#"{"code":0,"data":null}"#,
            r#"{"code":0,"data":[]}"#,
            r#"{"code":0,"data":{"a":1}}"#,
            r#"{"code":0,"data":"x"}"#,
            r#"{"code":0,"data":[1]}"#,
            r#"{"code":0,"data":[{"id":1}]}"#,
            r#"{"code":"x","data":[]}"#,
            r#"{"data":[]}"#,
            r#"{"code":4100,"message":"(9110)sig","codeDesc":"AuthFailure","data":[{"id":1}]}"#,
        ] {
            let _ = both_ways(body);
        }
        // Truncated or not JSON: the same kinds of error, if worded by serde.
        let cut = parse_package_answer(&SEED_EXAMPLE.as_bytes()[..60], cst()).unwrap_err();
        assert!(cut.is_transient(), "{cut:?}");
        assert!(
            !parse_package_answer(b"<html>gateway</html>", cst())
                .unwrap_err()
                .is_transient()
        );
        assert!(parse_package_answer(b"[1]", cst()).is_err());
        assert!(parse_package_answer(br#"{"code":0,"data":[]} x"#, cst()).is_err());
    }

    #[test]
    fn order_ids() {
        let data = parse_envelope(br#"{"code":0,"data":{"order_ids":["20180423139018", 42]}}"#).unwrap();
        assert_eq!(parse_order_ids(&data).unwrap(), vec!["20180423139018", "42"]);
        assert!(parse_order_ids(&serde_json::json!({})).is_err());
    }
}
