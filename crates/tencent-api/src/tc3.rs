//! The API 3.0 request signature, TC3-HMAC-SHA256.
//!
//! A canonical request (method, path, query, the signed headers, the hash of
//! the body) is hashed into a string to sign with the credential scope
//! `date/service/tc3_request`; the key is derived from the SecretKey through
//! the date and the service, so a leaked signature is good for one day and
//! one service only.

use sha2::{Digest, Sha256};
use std::fmt::Write;

/// The algorithm name, as sent in `Authorization`.
pub const ALGORITHM: &str = "TC3-HMAC-SHA256";

/// What a TC3 signature covers.
pub struct Tc3Request<'a> {
    /// `POST`.
    pub method: &'a str,
    /// The request path, `/`.
    pub path: &'a str,
    /// The query string, empty for POST.
    pub query: &'a str,
    /// The signed headers as (lower-case name, value), sorted by name.
    pub headers: &'a [(&'a str, &'a str)],
    /// The exact body bytes.
    pub body: &'a [u8],
    /// The service, e.g. `cdn`.
    pub service: &'a str,
    /// Unix seconds, as sent in `X-TC-Timestamp`.
    pub timestamp: i64,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    super::signature::hmac_sha256(key, data.as_bytes())
}

impl Tc3Request<'_> {
    /// The UTC date of the timestamp, `YYYY-MM-DD`.
    pub fn date(&self) -> String {
        chrono::DateTime::from_timestamp(self.timestamp, 0)
            .map(|t| t.format("%Y-%m-%d").to_string())
            .unwrap_or_default()
    }

    /// `content-type;host;...`
    pub fn signed_headers(&self) -> String {
        self.headers.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(";")
    }

    /// The canonical request text. Header values are trimmed and lower-cased,
    /// as TC3 specifies, so `X-TC-Action: DescribeTrafficPackages` signs as
    /// `x-tc-action:describetrafficpackages`.
    pub fn canonical_request(&self) -> String {
        let headers: String = self
            .headers
            .iter()
            .map(|(n, v)| format!("{n}:{}\n", v.trim().to_lowercase()))
            .collect();
        format!(
            "{}\n{}\n{}\n{headers}\n{}\n{}",
            self.method,
            self.path,
            self.query,
            self.signed_headers(),
            hex(&Sha256::digest(self.body))
        )
    }

    /// The string that is signed.
    pub fn string_to_sign(&self) -> String {
        format!(
            "{ALGORITHM}\n{}\n{}/{}/tc3_request\n{}",
            self.timestamp,
            self.date(),
            self.service,
            hex(&Sha256::digest(self.canonical_request().as_bytes()))
        )
    }

    /// The hex signature under `secret_key`.
    pub fn signature(&self, secret_key: &str) -> String {
        let date_key = hmac(format!("TC3{secret_key}").as_bytes(), &self.date());
        let service_key = hmac(&date_key, self.service);
        let signing_key = hmac(&service_key, "tc3_request");
        hex(&hmac(&signing_key, &self.string_to_sign()))
    }

    /// The `Authorization` header value.
    pub fn authorization(&self, secret_id: &str, secret_key: &str) -> String {
        format!(
            "{ALGORITHM} Credential={secret_id}/{}/{}/tc3_request, SignedHeaders={}, Signature={}",
            self.date(),
            self.service,
            self.signed_headers(),
            self.signature(secret_key)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tencent's published example for TC3-HMAC-SHA256.
    #[test]
    fn published_example() {
        let body = br#"{"Limit": 1, "Filters": [{"Values": ["\u672a\u547d\u540d"], "Name": "instance-name"}]}"#;
        let request = Tc3Request {
            method: "POST",
            path: "/",
            query: "",
            headers: &[
                ("content-type", "application/json; charset=utf-8"),
                ("host", "cvm.tencentcloudapi.com"),
            ],
            body,
            service: "cvm",
            timestamp: 1551113065,
        };
        assert_eq!(request.date(), "2019-02-25");
        assert_eq!(
            request.signature("Gu5t9xGARNpq86cd98joQYCN3EXAMPLE"),
            "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"
        );
        assert_eq!(
            request.authorization(
                "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE",
                "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE"
            ),
            "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE/2019-02-25/cvm/tc3_request, \
             SignedHeaders=content-type;host, \
             Signature=72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"
        );
    }

    #[test]
    fn header_values_sign_in_lower_case() {
        let request = |action| {
            Tc3Request {
                method: "POST",
                path: "/",
                query: "",
                headers: &[("host", "h"), ("x-tc-action", action)],
                body: b"{}",
                service: "cdn",
                timestamp: 1_800_000_000,
            }
            .signature("k")
        };
        assert_eq!(request("DescribeTrafficPackages"), request("describetrafficpackages"));
    }

    #[test]
    fn every_signed_part_changes_the_signature() {
        let base = Tc3Request {
            method: "POST",
            path: "/",
            query: "",
            headers: &[
                ("content-type", "application/json"),
                ("host", "h"),
                ("x-tc-action", "describetrafficpackages"),
            ],
            body: b"{}",
            service: "cdn",
            timestamp: 1_800_000_000,
        };
        let sig = base.signature("k");
        assert_ne!(sig, Tc3Request { body: b"{ }", ..base }.signature("k"));
        assert_ne!(
            sig,
            Tc3Request {
                timestamp: 1_800_000_001,
                ..base
            }
            .signature("k")
        );
        assert_ne!(sig, Tc3Request { service: "cvm", ..base }.signature("k"));
        assert_ne!(
            sig,
            Tc3Request {
                headers: &[("host", "h")],
                ..base
            }
            .signature("k")
        );
        assert_ne!(sig, base.signature("K"));
    }
}
