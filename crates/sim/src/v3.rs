//! The simulator's API 3.0 endpoint: verifies TC3-HMAC-SHA256 as the real
//! one does and answers DescribeTrafficPackages page by page, with errors in
//! Tencent's `Response.Error` shape.

use crate::http::{Request, Response};
use crate::state::{SimPackage, SimRequest, SimState};
use crate::verify::{TC3, Tc3Input, same};
use crate::wire::{BILLING_ACTION, LIST_ACTION, PAGE_LIMIT, VERSION, api_time, parse_api_time, request_id};
use bytes::Bytes;
use chrono::{DateTime, FixedOffset, Utc};
use serde_json::{Value, json};

fn respond(code: String, response: Value) -> (String, Response) {
    let body = json!({ "Response": response }).to_string();
    (code, Response::new(200, "application/json", Bytes::from(body)))
}

/// A Tencent-shaped error answer.
fn error(code: &str, message: impl Into<String>) -> (String, Response) {
    let message = message.into();
    respond(
        code.to_string(),
        json!({"Error": {"Code": code, "Message": message}, "RequestId": request_id()}),
    )
}

/// The v3 error standing in for an injected v2 error code.
pub(crate) fn injected_error(code: i64) -> (String, Response) {
    match code {
        4400 => error("RequestLimitExceeded", "simulated rate limit"),
        6000 => error("InternalError", "simulated internal error"),
        _ => error("FailedOperation", format!("simulated error {code}")),
    }
}

/// The log entry for a v3 request.
pub(crate) fn describe(request: &Request) -> SimRequest {
    SimRequest::new(
        request.header("x-tc-action").unwrap_or_default().to_string(),
        request,
        None,
    )
}

fn package_json(p: &SimPackage, now: DateTime<Utc>, offset: FixedOffset) -> Value {
    json!({
        "Id": p.id,
        "Type": "日常流量包",
        "Bytes": p.size_bytes,
        "BytesUsed": p.used_bytes.floor() as u64,
        "Status": p.v3_status(now),
        "CreateTime": api_time(p.created_at, offset),
        "EnableTime": api_time(p.enabled_at, offset),
        "ExpireTime": api_time(p.expires_at, offset),
        "ContractExtension": false,
        "AutoExtension": p.auto_extension,
        "Channel": "user",
        "Area": "mainland",
        "LifeTimeMonth": 12,
        "ExtensionAvailable": false,
        "RefundAvailable": false,
        "TrueEnableTime": api_time(p.enabled_at, offset),
        "TrueExpireTime": api_time(p.expires_at, offset),
    })
}

/// `DescribeBillingData`: the account's traffic by the hour, from the same
/// traffic the packages drain with, including hours no package covered.
fn billing(state: &mut SimState, params: &serde_json::Map<String, Value>, now: DateTime<Utc>) -> (String, Response) {
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
    if params.get("Interval").and_then(Value::as_str) != Some("hour") {
        return error("InvalidParameterValue", "only Interval = \"hour\" is simulated");
    }
    if params.get("Metric").and_then(Value::as_str) != Some("flux") {
        return error("InvalidParameterValue", "only Metric = \"flux\" is simulated");
    }
    if end < start || end - start > chrono::TimeDelta::days(90) {
        return error("InvalidParameterValue", "the query may span 90 days at most");
    }
    let mut detail = Vec::new();
    let mut hour = start.timestamp().div_euclid(3600) * 3600;
    while hour <= end.timestamp() && hour < now.timestamp() {
        let (from, to) = (
            DateTime::from_timestamp(hour, 0).unwrap_or(now),
            DateTime::from_timestamp(hour + 3600, 0).unwrap_or(now).min(now),
        );
        detail.push(json!({"Time": api_time(from, zone), "Value": state.demand_between(from, to).round()}));
        hour += 3600;
    }
    let total: f64 = detail.iter().filter_map(|d| d["Value"].as_f64()).sum();
    respond(
        "0".into(),
        json!({
            "Interval": "hour",
            "Data": [{"Resource": "all", "BillingData": [{
                "Metric": "flux",
                "DetailData": detail,
                "SummarizedData": {"Name": "sum", "Value": total},
            }]}],
            "RequestId": request_id(),
        }),
    )
}

/// `Credential=ID/DATE/SERVICE/tc3_request, SignedHeaders=a;b, Signature=hex`
struct Authorization<'a> {
    secret_id: &'a str,
    date: &'a str,
    service: &'a str,
    signed_headers: &'a str,
    signature: &'a str,
}

fn parse_authorization(value: &str) -> Option<Authorization<'_>> {
    let rest = value.strip_prefix(TC3)?.trim_start();
    let mut credential = None;
    let mut signed_headers = None;
    let mut signature = None;
    for part in rest.split(',') {
        match part.trim().split_once('=')? {
            ("Credential", v) => credential = Some(v),
            ("SignedHeaders", v) => signed_headers = Some(v),
            ("Signature", v) => signature = Some(v),
            _ => return None,
        }
    }
    let mut scope = credential?.split('/');
    let (secret_id, date, service, terminator) = (scope.next()?, scope.next()?, scope.next()?, scope.next()?);
    (terminator == "tc3_request" && scope.next().is_none()).then_some(Authorization {
        secret_id,
        date,
        service,
        signed_headers: signed_headers?,
        signature: signature?,
    })
}

/// Authenticates the request and answers it.
pub(crate) fn answer(state: &mut SimState, request: &Request, now: DateTime<Utc>) -> (String, Response) {
    if request.path != "/" {
        return ("404".into(), Response::text(404, "not found\n"));
    }
    if request.method != "POST" {
        return error("UnsupportedProtocol", "only POST with a JSON body is simulated");
    }
    let Some(auth) = request.header("authorization").and_then(parse_authorization) else {
        return error(
            "AuthFailure.InvalidAuthorization",
            "Authorization is missing or malformed",
        );
    };
    let Some(secret_key) = state.credentials.get(auth.secret_id).cloned() else {
        return error("AuthFailure.SecretIdNotFound", "the SecretId does not exist");
    };
    let Some(timestamp) = request.header("x-tc-timestamp").and_then(|t| t.parse::<i64>().ok()) else {
        return error("MissingParameter", "X-TC-Timestamp is missing");
    };
    let names: Vec<&str> = auth.signed_headers.split(';').collect();
    if !names.contains(&"content-type") || !names.contains(&"host") {
        return error(
            "AuthFailure.SignatureFailure",
            "SignedHeaders must include content-type and host",
        );
    }
    let headers: Vec<(&str, &str)> = names
        .iter()
        .map(|n| {
            (
                *n,
                if *n == "host" {
                    request.host.as_str()
                } else {
                    request.header(n).unwrap_or_default()
                },
            )
        })
        .collect();
    let signed = Tc3Input {
        method: &request.method,
        path: &request.path,
        query: &request.query,
        headers: &headers,
        body: &request.body,
        service: auth.service,
        timestamp,
    };
    if auth.service != "cdn" || auth.date != signed.date() {
        return error(
            "AuthFailure.SignatureFailure",
            "the credential scope's date or service does not match",
        );
    }
    if !same(&signed.signature(&secret_key), auth.signature) {
        return error(
            "AuthFailure.SignatureFailure",
            format!(
                "The provided credentials could not be validated. The server's canonical request: {:?}",
                signed.canonical_request()
            ),
        );
    }
    let window = state.timestamp_window.as_secs() as i64;
    if (now.timestamp() - timestamp).abs() > window {
        return error(
            "AuthFailure.SignatureExpire",
            format!("X-TC-Timestamp {timestamp} is more than {window}s from the server time"),
        );
    }
    if request.header("x-tc-version") != Some(VERSION) {
        return error("InvalidParameterValue", format!("X-TC-Version must be {VERSION}"));
    }
    let Ok(Value::Object(params)) = serde_json::from_slice::<Value>(&request.body) else {
        return error("InvalidParameter", "the body must be a JSON object");
    };
    match request.header("x-tc-action") {
        Some(LIST_ACTION) => {}
        Some(BILLING_ACTION) => return billing(state, &params, now),
        _ => {
            return error(
                "InvalidAction",
                "only DescribeTrafficPackages and DescribeBillingData are simulated",
            );
        }
    }
    let number = |name: &str, default: u64| match params.get(name) {
        None => Some(default),
        Some(v) => v.as_u64(),
    };
    let (Some(offset), Some(limit)) = (number("Offset", 0), number("Limit", 100)) else {
        return error("InvalidParameter", "Offset and Limit must be non-negative integers");
    };
    if limit == 0 || limit > PAGE_LIMIT {
        return error("InvalidParameterValue", format!("Limit must be from 1 to {PAGE_LIMIT}"));
    }
    state.advance(now);
    for _ in 0..state.v3_grow_per_page {
        // Expiring with the earliest, and a higher id: listed last, so the
        // pages already read do not shift.
        let last = state.packages.iter().map(|p| p.expires_at).min().unwrap_or(now);
        let id = state.next_package_id();
        let mut grown = SimPackage::new(
            id,
            1_000_000_000,
            0,
            now - chrono::TimeDelta::days(1),
            std::time::Duration::ZERO,
        );
        grown.expires_at = last;
        state.packages.push(grown);
    }
    let limit = match state.v3_page_cap {
        0 => limit,
        cap => limit.min(cap as u64),
    };
    let zone = state.api_offset;
    let mut listed: Vec<&SimPackage> = state.packages.iter().collect();
    // The API's default order: latest expiry first.
    listed.sort_by(|a, b| b.expires_at.cmp(&a.expires_at).then(a.id.cmp(&b.id)));
    let skip = if state.v3_ignore_offset { 0 } else { offset as usize };
    let page: Vec<Value> = listed
        .iter()
        .skip(skip)
        .take(limit as usize)
        .map(|p| package_json(p, now, zone))
        .collect();
    let enabled = listed.iter().filter(|p| p.v3_status(now) == "enabled").count();
    respond(
        "0".into(),
        json!({
            "TotalCount": listed.len() as u64 + state.v3_overstate_total,
            "TrafficPackages": page,
            "ExpiringCount": 0,
            "EnabledCount": enabled,
            "PaidCount": listed.len(),
            "RequestId": request_id(),
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_an_authorization_header() {
        let a = parse_authorization(
            "TC3-HMAC-SHA256 Credential=AKIDx/2026-11-22/cdn/tc3_request, SignedHeaders=content-type;host, Signature=ab12",
        )
        .unwrap();
        assert_eq!((a.secret_id, a.date, a.service), ("AKIDx", "2026-11-22", "cdn"));
        assert_eq!((a.signed_headers, a.signature), ("content-type;host", "ab12"));
        assert!(
            parse_authorization("TC3-HMAC-SHA256 Credential=AKIDx/2026-11-22/cdn, SignedHeaders=host, Signature=x")
                .is_none()
        );
        assert!(parse_authorization("HMAC Credential=a/b/c/tc3_request, SignedHeaders=host, Signature=x").is_none());
    }
}
