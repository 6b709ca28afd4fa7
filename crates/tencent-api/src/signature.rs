//! The API v2 request signature.
//!
//! Rules (DESIGN.md, checked against Tencent's published values): drop
//! `Signature`; replace `_` with `.` in every parameter name; sort by name in
//! byte order; join `name=value` with `&` using the raw, un-encoded values;
//! prefix `METHOD + host + path + "?"`; HMAC with the SecretKey; base64.

use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Which HMAC the request is signed with (`SignatureMethod` parameter).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, Default)]
pub enum SignatureMethod {
    /// HMAC-SHA1, the API's default when `SignatureMethod` is absent.
    #[serde(rename = "HmacSHA1")]
    HmacSha1,
    /// HMAC-SHA256, sent as `SignatureMethod=HmacSHA256`.
    #[serde(rename = "HmacSHA256")]
    #[default]
    HmacSha256,
}

impl SignatureMethod {
    /// The value of the `SignatureMethod` parameter, if one must be sent.
    pub fn parameter(self) -> Option<&'static str> {
        match self {
            SignatureMethod::HmacSha1 => None,
            SignatureMethod::HmacSha256 => Some("HmacSHA256"),
        }
    }

    /// Reads the `SignatureMethod` parameter as a server would.
    pub fn from_parameter(value: Option<&str>) -> Option<Self> {
        match value {
            None | Some("HmacSHA1") => Some(SignatureMethod::HmacSha1),
            Some("HmacSHA256") => Some(SignatureMethod::HmacSha256),
            Some(_) => None,
        }
    }
}

impl fmt::Display for SignatureMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SignatureMethod::HmacSha1 => "HmacSHA1",
            SignatureMethod::HmacSha256 => "HmacSHA256",
        })
    }
}

/// Builds the string that is signed, from the unsigned parameters.
pub fn string_to_sign(method: &str, host: &str, path: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<(String, &str)> = params
        .iter()
        .filter(|(name, _)| name != "Signature")
        .map(|(name, value)| (name.replace('_', "."), value.as_str()))
        .collect();
    sorted.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()).then(a.1.cmp(b.1)));
    let query: Vec<String> = sorted.iter().map(|(n, v)| format!("{n}={v}")).collect();
    format!("{method}{host}{path}?{}", query.join("&"))
}

// HMAC is defined for keys of any length (longer ones are hashed first), so
// `new_from_slice` cannot fail for it; the error exists for fixed-key MACs.
const ANY_KEY: &str = "HMAC takes a key of any length";

/// HMAC-SHA1 of `data` under `key`.
pub fn hmac_sha1(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(key).expect(ANY_KEY);
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// HMAC-SHA256 of `data` under `key` (also used by TC3 signing).
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).expect(ANY_KEY);
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// Signs `text` with `key` and returns the base64 signature.
pub fn sign(method: SignatureMethod, key: &[u8], text: &str) -> String {
    let digest = match method {
        SignatureMethod::HmacSha1 => hmac_sha1(key, text.as_bytes()),
        SignatureMethod::HmacSha256 => hmac_sha256(key, text.as_bytes()),
    };
    base64::engine::general_purpose::STANDARD.encode(digest)
}

/// Compares two signatures without stopping at the first difference.
pub fn signatures_match(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "pxPgRWDbCy86ZYyqBTDk7WmeRZSmPco0";

    fn published_params(extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut p: Vec<(String, String)> = [
            ("Action", "DescribeCdnHosts"),
            ("SecretId", "AKIDT8G5AsY1D3MChWooNq1rFSw1fyBVCX9D"),
            ("offset", "0"),
            ("limit", "10"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        p.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        p
    }

    #[test]
    fn published_check_value_get_sha1() {
        let p = published_params(&[("Timestamp", "1463122059"), ("Nonce", "13029")]);
        let s = string_to_sign("GET", "cdn.api.qcloud.com", "/v2/index.php", &p);
        assert_eq!(
            s,
            "GETcdn.api.qcloud.com/v2/index.php?Action=DescribeCdnHosts&Nonce=13029&SecretId=AKIDT8G5AsY1D3MChWooNq1rFSw1fyBVCX9D&Timestamp=1463122059&limit=10&offset=0"
        );
        assert_eq!(
            sign(SignatureMethod::HmacSha1, KEY.as_bytes(), &s),
            "bWMMAR1eFGjZ5KWbfxTlBiLiNLc="
        );
    }

    #[test]
    fn published_check_value_post_sha1() {
        let p = published_params(&[("Timestamp", "1463122059"), ("Nonce", "13029")]);
        let s = string_to_sign("POST", "cdn.api.qcloud.com", "/v2/index.php", &p);
        assert_eq!(
            sign(SignatureMethod::HmacSha1, KEY.as_bytes(), &s),
            "i/KcLp6VaOtUmVtT0dqtLpKJOkg="
        );
    }

    #[test]
    fn published_check_value_get_sha256() {
        let p = published_params(&[
            ("Timestamp", "1502197934"),
            ("Nonce", "48059"),
            ("SignatureMethod", "HmacSHA256"),
        ]);
        let s = string_to_sign("GET", "cdn.api.qcloud.com", "/v2/index.php", &p);
        assert_eq!(
            sign(SignatureMethod::HmacSha256, KEY.as_bytes(), &s),
            "b/HlnO7vWEtR/kf21BvF0fX4vGmIThwWxlaD5GQtlSM="
        );
    }

    #[test]
    fn underscores_become_dots_and_sort_after_the_change() {
        let p: Vec<(String, String)> = vec![
            ("hosts_1".into(), "b".into()),
            ("hosts_0".into(), "a".into()),
            ("hostsZ".into(), "z".into()),
            ("Signature".into(), "ignored".into()),
        ];
        // '.' (0x2E) sorts before 'Z' (0x5A): the order is decided on the
        // dotted names, not the underscored ones ('_' is 0x5F, after 'Z').
        assert_eq!(
            string_to_sign("GET", "h", "/p", &p),
            "GETh/p?hosts.0=a&hosts.1=b&hostsZ=z"
        );
    }

    #[test]
    fn values_are_signed_raw_not_encoded() {
        let p: Vec<(String, String)> = vec![("q".into(), "a b=c&d+e%f 流量".into())];
        let s = string_to_sign("POST", "127.0.0.1:8080", "/v2/index.php", &p);
        assert_eq!(s, "POST127.0.0.1:8080/v2/index.php?q=a b=c&d+e%f 流量");
        // The signature is deterministic and differs by method.
        let a = sign(SignatureMethod::HmacSha1, b"k", &s);
        assert_eq!(a, sign(SignatureMethod::HmacSha1, b"k", &s));
        assert_ne!(a, sign(SignatureMethod::HmacSha256, b"k", &s));
    }

    #[test]
    fn constant_time_compare() {
        assert!(signatures_match("abc=", "abc="));
        assert!(!signatures_match("abc=", "abd="));
        assert!(!signatures_match("abc", "abc="));
    }
}
