//! Reading fields out of API JSON, tolerant of the API's wobbles (numbers
//! as strings, booleans as 0/1) and naming the field when it is missing or
//! mistyped. Shared by the v2 and v3 response readers.

use super::error::ApiError;
use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone, Utc};
use serde_json::{Map, Value};

/// The format of the API's times, e.g. `2017-07-01 00:00:00`.
pub const API_TIME_FORMAT: &str = "%Y-%m-%d %H:%M:%S";

/// A malformed-answer error that is not worth a retry.
pub(crate) fn malformed(detail: impl Into<String>) -> ApiError {
    ApiError::Malformed {
        truncated: false,
        detail: detail.into(),
    }
}

/// A JSON value shortened for an error message.
pub(crate) fn describe(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 40 {
        format!("{}…", text.chars().take(40).collect::<String>())
    } else {
        text
    }
}

/// Reads an integer that may arrive as a JSON number or a numeric string.
pub(crate) fn as_i64(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e18)
                .map(|f| f as i64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Reads named fields of one JSON object, naming `at.field` in errors.
pub(crate) struct Fields<'a> {
    object: &'a Map<String, Value>,
    at: String,
}

impl<'a> Fields<'a> {
    pub(crate) fn new(object: &'a Map<String, Value>, at: String) -> Self {
        Fields { object, at }
    }

    /// An optional text field.
    pub(crate) fn text(&self, name: &str) -> Option<String> {
        self.object.get(name).and_then(Value::as_str).map(str::to_string)
    }

    pub(crate) fn require(&self, name: &str) -> Result<&Value, ApiError> {
        match self.object.get(name) {
            None | Some(Value::Null) => Err(malformed(format!("{}.{name} is missing", self.at))),
            Some(v) => Ok(v),
        }
    }

    pub(crate) fn mistyped(&self, name: &str, expected: &str, got: &Value) -> ApiError {
        malformed(format!(
            "{}.{name}: expected {expected}, got {}",
            self.at,
            describe(got)
        ))
    }

    pub(crate) fn bytes(&self, name: &str) -> Result<u64, ApiError> {
        let v = self.require(name)?;
        as_i64(v)
            .and_then(|n| u64::try_from(n).ok())
            .ok_or_else(|| self.mistyped(name, "a non-negative integer", v))
    }

    pub(crate) fn id(&self, name: &str) -> Result<String, ApiError> {
        match self.require(name)? {
            Value::String(s) if !s.trim().is_empty() => Ok(s.trim().to_string()),
            v @ Value::Number(_) => as_i64(v)
                .map(|n| n.to_string())
                .ok_or_else(|| self.mistyped(name, "an id", v)),
            v => Err(self.mistyped(name, "an id", v)),
        }
    }

    pub(crate) fn flag(&self, name: &str) -> Result<bool, ApiError> {
        let v = self.require(name)?;
        match v {
            Value::Bool(b) => Ok(*b),
            Value::Number(_) => match as_i64(v) {
                Some(0) => Ok(false),
                Some(1) => Ok(true),
                _ => Err(self.mistyped(name, "true or false", v)),
            },
            Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "1" => Ok(true),
                "false" | "0" => Ok(false),
                _ => Err(self.mistyped(name, "true or false", v)),
            },
            _ => Err(self.mistyped(name, "true or false", v)),
        }
    }

    pub(crate) fn time(&self, name: &str, offset: FixedOffset) -> Result<DateTime<Utc>, ApiError> {
        let v = self.require(name)?;
        v.as_str()
            .and_then(|s| parse_api_time(s, offset))
            .ok_or_else(|| self.mistyped(name, "a time \"YYYY-MM-DD HH:MM:SS\"", v))
    }
}

/// Writes a UTC instant as the API does: zone-less, in `offset`.
pub fn format_api_time(t: DateTime<Utc>, offset: FixedOffset) -> String {
    t.with_timezone(&offset).format(API_TIME_FORMAT).to_string()
}

/// Reads an API time, which has no zone: it is in `offset` (China Standard
/// Time, +08:00, unless configured otherwise).
pub fn parse_api_time(text: &str, offset: FixedOffset) -> Option<DateTime<Utc>> {
    let naive = NaiveDateTime::parse_from_str(text.trim(), API_TIME_FORMAT).ok()?;
    offset
        .from_local_datetime(&naive)
        .single()
        .map(|t| t.with_timezone(&Utc))
}
