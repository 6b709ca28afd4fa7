//! The simulator's API 3.0 endpoint: verifies TC3-HMAC-SHA256 as the real
//! one does, then sends each action to its answerer: the package lists,
//! billing data and pay types. Every action passes the same checks.

use crate::http::{Request, Response};
use crate::state::{SimRequest, SimState};
use crate::v3_answer::error;
use crate::v3_billing::{billing_data, pay_type};
use crate::v3_packages::{List, page};
use crate::verify::{TC3, Tc3Input, same};
use crate::wire::{BILLING_ACTION, HTTPS_LIST_ACTION, LIST_ACTION, PAY_TYPE_ACTION, VERSION};
use chrono::{DateTime, Utc};
use serde_json::Value;

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
        Some(LIST_ACTION) => page(List::Traffic, state, &params, now),
        Some(HTTPS_LIST_ACTION) => page(List::Https, state, &params, now),
        Some(BILLING_ACTION) => billing_data(state, &params, now),
        Some(PAY_TYPE_ACTION) => pay_type(state, &params),
        _ => error(
            "InvalidAction",
            format!("only {LIST_ACTION}, {HTTPS_LIST_ACTION}, {BILLING_ACTION} and {PAY_TYPE_ACTION} are simulated"),
        ),
    }
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
