//! The simulator's billing answers: `DescribeBillingData` (the account's
//! traffic or HTTPS requests as they flow, not lagged by settlement) and
//! `DescribePayType` (how each area is billed, as configured).

use crate::http::Response;
use crate::state::SimState;
use crate::v3_answer::{error, success};
use crate::wire::{CHINA_STANDARD_TIME, api_time, parse_api_time};
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Map, Value, json};

/// The text parameter `name`, or `default` when it is not sent.
fn word<'a>(params: &'a Map<String, Value>, name: &str, default: &'a str) -> Option<&'a str> {
    match params.get(name) {
        None | Some(Value::Null) => Some(default),
        Some(v) => v.as_str(),
    }
}

/// The length of a point and the longest query, per `Interval`.
fn interval(word: &str) -> Option<(i64, TimeDelta)> {
    Some(match word {
        "min" => (60, TimeDelta::days(1)),
        "5min" => (300, TimeDelta::days(31)),
        "hour" => (3600, TimeDelta::days(31)),
        "day" => (86_400, TimeDelta::days(90)),
        _ => return None,
    })
}

/// The start of the point holding `t`: days begin at China midnight, as
/// the API's default `TimeZone` (UTC+08:00) has them.
fn point_start(t: i64, step: i64) -> i64 {
    let zone = i64::from(CHINA_STANDARD_TIME.local_minus_utc());
    (t + zone).div_euclid(step) * step - zone
}

/// `DescribeBillingData`: per point, the bytes (`flux`), the average bits
/// per second (`bandwidth`, the API's default) or the HTTPS requests
/// (`https`) of `Area` mainland (the default) or overseas (all overseas
/// regions), whether packages covered it or not.
pub(crate) fn billing_data(
    state: &mut SimState,
    params: &Map<String, Value>,
    now: DateTime<Utc>,
) -> (String, Response) {
    if let Some(code) = state.billing_refused.clone() {
        return error(
            &code,
            "You are not authorized to perform operation (cdn:DescribeBillingData)",
        );
    }
    let zone = state.api_offset;
    let time = |name: &str| {
        params
            .get(name)
            .and_then(Value::as_str)
            .and_then(|t| parse_api_time(t, zone))
    };
    let (Some(start), Some(end)) = (time("StartTime"), time("EndTime")) else {
        return error(
            "InvalidParameter",
            "StartTime and EndTime must be \"YYYY-MM-DD HH:MM:SS\"",
        );
    };
    let Some((interval_word, (step, longest))) =
        word(params, "Interval", "").and_then(|w| interval(w).map(|i| (w.to_string(), i)))
    else {
        return error("InvalidParameterValue", "Interval must be min, 5min, hour or day");
    };
    let overseas = match word(params, "Area", "mainland") {
        Some("mainland") => false,
        Some("overseas") => true,
        _ => return error("InvalidParameterValue", "Area must be mainland or overseas"),
    };
    let Some(metric) = word(params, "Metric", "bandwidth")
        .filter(|m| ["flux", "bandwidth", "https"].contains(m))
        .map(str::to_string)
    else {
        return error("InvalidParameterValue", "Metric must be flux, bandwidth or https");
    };
    if end < start || end - start > longest {
        return error(
            "InvalidParameterValue",
            format!(
                "a query at Interval {interval_word} may span {} days at most",
                longest.num_days()
            ),
        );
    }
    let amount = |from: DateTime<Utc>, to: DateTime<Utc>| match metric.as_str() {
        "https" => state.https_between(overseas, from, to),
        _ if overseas => (1..crate::state::REGIONS)
            .map(|r| state.region_demand_between(r, from, to))
            .sum(),
        _ => state.region_demand_between(0, from, to),
    };
    let mut detail = Vec::new();
    let mut point = point_start(start.timestamp(), step);
    while point <= end.timestamp() && point < now.timestamp() {
        let (Some(from), Some(to)) = (
            DateTime::from_timestamp(point, 0),
            DateTime::from_timestamp(point + step, 0),
        ) else {
            break;
        };
        let flowed = amount(from, to.min(now));
        let value = if metric == "bandwidth" {
            flowed * 8.0 / step as f64
        } else {
            flowed
        };
        detail.push(json!({"Time": api_time(from, zone), "Value": value.round()}));
        point += step;
    }
    let values = detail.iter().filter_map(|d| d["Value"].as_f64());
    let summary = if metric == "bandwidth" {
        json!({"Name": "max", "Value": values.fold(0.0, f64::max)})
    } else {
        json!({"Name": "sum", "Value": values.sum::<f64>()})
    };
    success(json!({
        "Interval": interval_word,
        "Data": [{"Resource": "all", "BillingData": [{
            "Metric": metric,
            "DetailData": detail,
            "SummarizedData": summary,
        }]}],
    }))
}

/// `DescribePayType`: the configured answer for (`Area`, `Type`), by
/// default (mainland, flux).
pub(crate) fn pay_type(state: &SimState, params: &Map<String, Value>) -> (String, Response) {
    if let Some(code) = &state.pay_type_refused {
        return error(
            code,
            "You are not authorized to perform operation (cdn:DescribePayType)",
        );
    }
    let (Some(area), Some(kind)) = (word(params, "Area", "mainland"), word(params, "Type", "flux")) else {
        return error("InvalidParameter", "Area and Type must be text");
    };
    if word(params, "Product", "cdn") != Some("cdn") {
        return error("InvalidParameterValue", "only Product = \"cdn\" is simulated");
    }
    let Some(answer) = state.pay_types.get(&(area.to_string(), kind.to_string())) else {
        return error(
            "InvalidParameterValue",
            format!("no pay type for Area {area:?} and Type {kind:?}"),
        );
    };
    let mut response = json!({
        "PayType": answer.pay_type,
        "CurrentPayType": answer.pay_type,
        "StatType": if answer.pay_type.starts_with("bandwidth") { "max" } else { "sum" },
        "RegionType": "all",
    });
    if let (Some(cycle), Value::Object(map)) = (&answer.billing_cycle, &mut response) {
        map.insert("BillingCycle".into(), json!(cycle));
    }
    success(response)
}
