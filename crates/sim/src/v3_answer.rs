//! Tencent's API 3.0 answer envelope as the simulator writes it: a
//! `{"Response": {...}}` body with HTTP 200, errors in `Response.Error`.

use crate::http::Response;
use crate::wire::request_id;
use bytes::Bytes;
use serde_json::{Value, json};

/// An answer with `response` as its `Response`, logged as `code`.
pub(crate) fn respond(code: String, response: Value) -> (String, Response) {
    let body = json!({ "Response": response }).to_string();
    (code, Response::new(200, "application/json", Bytes::from(body)))
}

/// A successful answer; `response` gets its `RequestId`.
pub(crate) fn success(mut response: Value) -> (String, Response) {
    if let Value::Object(map) = &mut response {
        map.insert("RequestId".into(), Value::String(request_id()));
    }
    respond("0".into(), response)
}

/// A Tencent-shaped error answer.
pub(crate) fn error(code: &str, message: impl Into<String>) -> (String, Response) {
    let message = message.into();
    respond(
        code.to_string(),
        json!({"Error": {"Code": code, "Message": message}, "RequestId": request_id()}),
    )
}
