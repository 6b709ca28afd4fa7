//! How the account is billed and what it was billed for: the parameters
//! and answers of `DescribeBillingData` and `DescribePayType`.

use super::error::ApiError;
use super::json_fields::{describe, malformed, parse_api_time};
use cdnquota_core::model::{BillingArea, BillingCycle, PayType, Resource};
use chrono::{DateTime, FixedOffset, Utc};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// What `DescribeBillingData` counts (`Metric`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BillingMetric {
    /// Billed traffic, in bytes (`flux`).
    Flux,
    /// HTTPS requests, counted (`https`).
    Https,
}

impl BillingMetric {
    /// The API's word.
    pub fn name(self) -> &'static str {
        match self {
            BillingMetric::Flux => "flux",
            BillingMetric::Https => "https",
        }
    }

    /// Whether a series' `Metric` is this one. The SDK lists `request` as
    /// the word for counted requests in `CdnData`, so an HTTPS answer may
    /// name its series either way.
    fn names(self, word: &str) -> bool {
        match self {
            BillingMetric::Flux => word == "flux",
            BillingMetric::Https => word == "https" || word == "request",
        }
    }
}

/// How long one point of `DescribeBillingData` covers (`Interval`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BillingInterval {
    /// `5min`: the billing granularity; a query may span 31 days.
    FiveMinutes,
    /// `hour`; a query may span 31 days.
    Hour,
}

impl BillingInterval {
    /// The API's word.
    pub fn name(self) -> &'static str {
        match self {
            BillingInterval::FiveMinutes => "5min",
            BillingInterval::Hour => "hour",
        }
    }
}

/// Reads `DescribeBillingData`'s answer: (point start, amount) for every
/// point of every resource's `metric` series, summed where resources
/// overlap. Amounts are bytes for flux and requests for HTTPS.
pub fn parse_billing(
    response: &Map<String, Value>,
    offset: FixedOffset,
    metric: BillingMetric,
) -> Result<Vec<(DateTime<Utc>, f64)>, ApiError> {
    let Some(Value::Array(data)) = response.get("Data") else {
        return Err(malformed("Response.Data: expected a list of resources"));
    };
    let mut points: BTreeMap<DateTime<Utc>, f64> = BTreeMap::new();
    for (i, resource) in data.iter().enumerate() {
        let Some(Value::Array(billing)) = resource.get("BillingData") else {
            return Err(malformed(format!("Response.Data[{i}].BillingData: expected a list")));
        };
        for series in billing
            .iter()
            .filter(|b| b.get("Metric").and_then(Value::as_str).is_some_and(|m| metric.names(m)))
        {
            let Some(Value::Array(detail)) = series.get("DetailData") else {
                return Err(malformed(format!(
                    "Response.Data[{i}].BillingData.DetailData: expected a list"
                )));
            };
            for point in detail {
                let time = point
                    .get("Time")
                    .and_then(Value::as_str)
                    .and_then(|t| parse_api_time(t, offset))
                    .ok_or_else(|| {
                        malformed(format!(
                            "Response.Data[{i}]: a DetailData Time is not \"YYYY-MM-DD HH:MM:SS\""
                        ))
                    })?;
                let value = point
                    .get("Value")
                    .and_then(Value::as_f64)
                    .filter(|v| v.is_finite() && *v >= 0.0)
                    .ok_or_else(|| {
                        malformed(format!(
                            "Response.Data[{i}]: a DetailData Value is not a non-negative amount"
                        ))
                    })?;
                *points.entry(time).or_default() += value;
            }
        }
    }
    Ok(points.into_iter().collect())
}

/// Reads `DescribePayType`'s answer for (`area`, `resource`). `PayType` is
/// required: without it nothing is known. A `BillingCycle` word not known
/// here is read as unknown rather than refused, as Tencent may add one.
pub fn parse_pay_type(
    response: &Map<String, Value>,
    area: BillingArea,
    resource: Resource,
) -> Result<PayType, ApiError> {
    let pay_type = match response.get("PayType") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_string(),
        None | Some(Value::Null) => return Err(malformed("Response.PayType is missing")),
        Some(other) => {
            return Err(malformed(format!(
                "Response.PayType: expected a word such as \"flux\", got {}",
                describe(other)
            )));
        }
    };
    let billing_cycle = response
        .get("BillingCycle")
        .and_then(Value::as_str)
        .and_then(|w| BillingCycle::from_word(w.trim()));
    Ok(PayType {
        area,
        resource,
        pay_type,
        billing_cycle,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v3_response::parse_envelope;

    fn cst() -> FixedOffset {
        crate::settings::CHINA_STANDARD_TIME
    }

    fn utc(t: &str) -> DateTime<Utc> {
        parse_api_time(t, cst()).expect("a test time")
    }

    #[test]
    fn billing_data_is_read_by_the_hour() {
        let answer = r#"{"Response": {"RequestId": "r", "Interval": "hour", "Data": [{"Resource": "all",
            "BillingData": [{"Metric": "flux", "DetailData": [
                {"Time": "2026-06-01 00:00:00", "Value": 1000},
                {"Time": "2026-06-01 01:00:00", "Value": 2500.0}],
             "SummarizedData": {"Name": "sum", "Value": 3500}}]}]}}"#;
        let response = parse_envelope(answer.as_bytes()).unwrap();
        let hours = parse_billing(&response, cst(), BillingMetric::Flux).unwrap();
        assert_eq!(
            hours,
            vec![
                (utc("2026-06-01 00:00:00"), 1000.0),
                (utc("2026-06-01 01:00:00"), 2500.0)
            ]
        );
        // The flux series is not read as HTTPS requests.
        assert!(
            parse_billing(&response, cst(), BillingMetric::Https)
                .unwrap()
                .is_empty()
        );
        let bad = r#"{"Response": {"RequestId": "r", "Data": [{"BillingData": [{"Metric": "flux", "DetailData": [{"Time": "x", "Value": 1}]}]}]}}"#;
        let bad = parse_envelope(bad.as_bytes()).unwrap();
        assert!(parse_billing(&bad, cst(), BillingMetric::Flux).is_err());
    }

    #[test]
    fn https_requests_are_read_under_either_name_and_summed_over_resources() {
        let answer = r#"{"Response": {"RequestId": "r", "Interval": "5min", "Data": [
            {"Resource": "a.example", "BillingData": [{"Metric": "https", "DetailData": [
                {"Time": "2026-06-01 00:05:00", "Value": 7}]}]},
            {"Resource": "b.example", "BillingData": [{"Metric": "request", "DetailData": [
                {"Time": "2026-06-01 00:05:00", "Value": 3}]}]}]}}"#;
        let response = parse_envelope(answer.as_bytes()).unwrap();
        assert_eq!(
            parse_billing(&response, cst(), BillingMetric::Https).unwrap(),
            vec![(utc("2026-06-01 00:05:00"), 10.0)]
        );
        let negative = answer.replace("\"Value\": 7", "\"Value\": -7");
        let response = parse_envelope(negative.as_bytes()).unwrap();
        assert!(parse_billing(&response, cst(), BillingMetric::Https).is_err());
    }

    #[test]
    fn a_pay_type_needs_its_word_and_may_lack_a_known_cycle() {
        let read = |body: &str| {
            let response = parse_envelope(body.as_bytes()).unwrap();
            parse_pay_type(&response, BillingArea::Overseas, Resource::Traffic)
        };
        let got =
            read(r#"{"Response": {"PayType": "flux", "BillingCycle": "hour", "StatType": "sum", "RequestId": "r"}}"#)
                .unwrap();
        assert_eq!(
            got,
            PayType {
                area: BillingArea::Overseas,
                resource: Resource::Traffic,
                pay_type: "flux".into(),
                billing_cycle: Some(BillingCycle::Hour),
            }
        );
        let fortnight = read(r#"{"Response": {"PayType": "bandwidth", "BillingCycle": "fortnight"}}"#).unwrap();
        assert_eq!(
            (fortnight.pay_type.as_str(), fortnight.billing_cycle),
            ("bandwidth", None)
        );
        assert_eq!(
            read(r#"{"Response": {"PayType": "flux"}}"#).unwrap().billing_cycle,
            None
        );
        let missing = read(r#"{"Response": {"BillingCycle": "day"}}"#).unwrap_err();
        assert!(missing.to_string().contains("PayType is missing"), "{missing}");
        assert!(read(r#"{"Response": {"PayType": 3}}"#).is_err());
        assert!(read(r#"{"Response": {"PayType": " "}}"#).is_err());
    }
}
