//! The simulator's API v2 endpoint: authenticates like the real one, then
//! answers GetPackage and OrderPackage.

use crate::http::{Request, Response};
use crate::state::{SimPackage, SimRequest, SimState};
use crate::verify::{V2Method, decode_form, same, v2_signature, v2_string_to_sign};
use crate::wire::api_time;
use bytes::Bytes;
use chrono::{DateTime, FixedOffset, Utc};
use serde_json::{Value, json};

pub(crate) fn json_response(value: Value) -> Response {
    Response::new(200, "application/json", Bytes::from(value.to_string()))
}

/// A v2 error answer, with the code as it is logged.
pub(crate) fn api_error(code: i64, code_desc: &str, message: impl Into<String>) -> (String, Response) {
    let message = message.into();
    (
        code.to_string(),
        json_response(json!({"code": code, "message": message, "codeDesc": code_desc})),
    )
}

/// The request's parameters, from the query (GET) or a form body (POST).
fn params(request: &Request) -> Option<Vec<(String, String)>> {
    match request.method.as_str() {
        "GET" => decode_form(&request.query),
        "POST" if request.content_type.starts_with("application/x-www-form-urlencoded") => {
            std::str::from_utf8(&request.body).ok().and_then(decode_form)
        }
        _ => None,
    }
}

/// The log entry for a v2 request.
pub(crate) fn describe(request: &Request) -> SimRequest {
    let params = params(request).unwrap_or_default();
    let get = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    SimRequest::new(get("Action").unwrap_or_default(), request, get("SignatureMethod"))
}

pub(crate) fn package_json(p: &SimPackage, now: DateTime<Utc>, offset: FixedOffset) -> Value {
    json!({
        "id": p.id,
        "flux_title": p.title,
        "flux_byte": p.size_bytes,
        "flux_used": p.used_bytes.floor() as u64,
        "create_time": api_time(p.created_at, offset),
        "enable_time": api_time(p.enabled_at, offset),
        "expire_time": api_time(p.expires_at, offset),
        "is_enable": p.enabled,
        "is_expire": now >= p.expires_at,
    })
}

/// Authenticates the request and answers its action.
pub(crate) fn answer(state: &mut SimState, request: &Request, now: DateTime<Utc>) -> (String, Response) {
    if request.method != "GET" && request.method != "POST" {
        return ("405".into(), Response::text(405, "method not allowed\n"));
    }
    let Some(params) = params(request) else {
        return api_error(
            4000,
            "InvalidParameter",
            "parameters must be a query string or an x-www-form-urlencoded body",
        );
    };
    let get = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    for name in ["Action", "SecretId", "Timestamp", "Nonce", "Signature"] {
        if get(name).is_none() {
            return api_error(4000, "MissingParameter", format!("missing parameter {name}"));
        }
    }
    let secret_id = get("SecretId").unwrap_or_default();
    let Some(secret_key) = state.credentials.get(secret_id).cloned() else {
        return api_error(4104, "SecretIdNotFound", "the SecretId does not exist");
    };
    let Some(method) = V2Method::from_parameter(get("SignatureMethod")) else {
        return api_error(
            4000,
            "InvalidParameter",
            "SignatureMethod must be HmacSHA1 or HmacSHA256",
        );
    };
    let text = v2_string_to_sign(&request.method, &request.host, &request.path, &params);
    let expected = v2_signature(method, &secret_key, &text);
    if !same(&expected, get("Signature").unwrap_or_default()) {
        return api_error(
            4100,
            "AuthFailure",
            format!("signature mismatch ({method:?}); the server signed: {text}"),
        );
    }
    let (Some(timestamp), Some(nonce)) = (
        get("Timestamp").and_then(|t| t.parse::<i64>().ok()),
        get("Nonce").and_then(|n| n.parse::<u64>().ok()).filter(|n| *n > 0),
    ) else {
        return api_error(
            4000,
            "InvalidParameter",
            "Timestamp and Nonce must be positive integers",
        );
    };
    let window = state.timestamp_window.as_secs() as i64;
    if (now.timestamp() - timestamp).abs() > window {
        return api_error(
            4500,
            "RequestExpired",
            format!(
                "Timestamp {timestamp} is more than {window}s from the server time {}",
                now.timestamp()
            ),
        );
    }
    if state
        .seen_nonces
        .insert((secret_id.to_string(), nonce), timestamp)
        .is_some()
    {
        return api_error(4500, "NonceReused", format!("Nonce {nonce} was already used"));
    }
    state.advance(now);
    match get("Action").unwrap_or_default() {
        "GetPackage" => {
            let offset = state.api_offset;
            // API 2.0 knows mainland traffic packages only.
            let data: Vec<Value> = state
                .packages
                .iter()
                .filter(|p| !p.https && p.region == 0)
                .map(|p| package_json(p, now, offset))
                .collect();
            (
                "0".into(),
                json_response(json!({"code": 0, "message": "", "codeDesc": "Success", "data": data})),
            )
        }
        "OrderPackage" => {
            let unit = get("unit").and_then(|u| u.parse::<u32>().ok());
            let number = get("number").and_then(|n| n.parse::<u32>().ok());
            match (unit, number) {
                (Some(unit), Some(number)) if (1..=5).contains(&number) && state.on_sale_gb.contains(&unit) => {
                    let id = state.place_order(unit, number, now);
                    (
                        "0".into(),
                        json_response(
                            json!({"code": 0, "message": "", "codeDesc": "Success", "data": {"order_ids": [id]}}),
                        ),
                    )
                }
                (_, Some(number)) if !(1..=5).contains(&number) => {
                    api_error(4000, "InvalidParameter", "(9110)number must be from 1 to 5")
                }
                _ => api_error(
                    4000,
                    "InvalidParameter",
                    "(9110)unit must be a size listed by GetPackagePrice",
                ),
            }
        }
        other => api_error(4000, "InvalidAction", format!("unknown action {other}")),
    }
}
