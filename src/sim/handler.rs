//! The simulator's request handling: authenticate, then answer the action.

use super::state::{Fault, SimPackage, SimRequest, SimState};
use crate::api::encode::decode_pairs;
use crate::api::signature::{SignatureMethod, sign, signatures_match, string_to_sign};
use crate::api::v2_response::API_TIME_FORMAT;
use crate::http::server::{Handler, HttpRequest, HttpResponse};
use bytes::Bytes;
use chrono::{DateTime, FixedOffset, Utc};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

pub(super) struct SimHandler {
    pub(super) state: Arc<Mutex<SimState>>,
}

fn json_response(value: Value) -> HttpResponse {
    HttpResponse {
        status: 200,
        content_type: "application/json",
        body: Bytes::from(value.to_string()),
    }
}

fn api_error(code: i64, code_desc: &str, message: impl Into<String>) -> (i64, HttpResponse) {
    let message = message.into();
    (
        code,
        json_response(json!({"code": code, "message": message, "codeDesc": code_desc})),
    )
}

fn api_time(t: DateTime<Utc>, offset: FixedOffset) -> String {
    t.with_timezone(&offset).format(API_TIME_FORMAT).to_string()
}

fn package_json(p: &SimPackage, now: DateTime<Utc>, offset: FixedOffset) -> Value {
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

impl Handler for SimHandler {
    async fn handle(&self, request: HttpRequest) -> HttpResponse {
        let fault = self.lock().faults.pop_front();
        if let Some(Fault::Delay(d)) = fault {
            tokio::time::sleep(d).await;
        }
        let params = match request.method.as_str() {
            "GET" => decode_pairs(&request.query),
            "POST" if request.content_type.starts_with("application/x-www-form-urlencoded") => {
                std::str::from_utf8(&request.body).ok().and_then(decode_pairs)
            }
            "POST" => None,
            _ => return HttpResponse::text(405, "method not allowed\n"),
        };
        let now = Utc::now();
        let mut state = self.lock();
        let param = |name: &str| {
            params
                .as_ref()
                .and_then(|p| p.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
        };
        let mut log = SimRequest {
            action: param("Action").unwrap_or_default(),
            http_method: request.method.clone(),
            signature_method: param("SignatureMethod"),
            answered: 0,
        };
        let (answered, response) = match fault {
            Some(Fault::HttpStatus(status)) => (
                i64::from(status),
                HttpResponse {
                    status,
                    content_type: "text/html",
                    body: Bytes::from_static(b"<html><body>simulated failure</body></html>"),
                },
            ),
            Some(Fault::ApiCode(code)) => api_error(code, "InternalError", "simulated error"),
            Some(Fault::TruncatedJson) => {
                let (code, mut r) = answer(&mut state, &request, params.as_deref(), now);
                r.body = r.body.slice(..r.body.len() / 2);
                (code, r)
            }
            Some(Fault::Delay(_)) | None => answer(&mut state, &request, params.as_deref(), now),
        };
        log.answered = answered;
        state.requests.push(log);
        response
    }
}

impl SimHandler {
    fn lock(&self) -> std::sync::MutexGuard<'_, SimState> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Authenticates the request and answers its action.
fn answer(
    state: &mut SimState,
    request: &HttpRequest,
    params: Option<&[(String, String)]>,
    now: DateTime<Utc>,
) -> (i64, HttpResponse) {
    if request.path != super::PATH {
        return (404, HttpResponse::text(404, "not found\n"));
    }
    let Some(params) = params else {
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
    let Some(method) = SignatureMethod::from_parameter(get("SignatureMethod")) else {
        return api_error(
            4000,
            "InvalidParameter",
            "SignatureMethod must be HmacSHA1 or HmacSHA256",
        );
    };
    let text = string_to_sign(&request.method, &request.host, &request.path, params);
    let expected = sign(method, secret_key.as_bytes(), &text);
    if !signatures_match(&expected, get("Signature").unwrap_or_default()) {
        return api_error(
            4100,
            "AuthFailure",
            format!("signature mismatch ({method}); the server signed: {text}"),
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
            let data: Vec<Value> = state.packages.iter().map(|p| package_json(p, now, offset)).collect();
            (
                0,
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
                        0,
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
