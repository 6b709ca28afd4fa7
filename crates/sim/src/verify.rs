//! How the simulator checks a request's signature, written from Tencent's
//! signature documentation and not from the client's code, so that a
//! signing bug in the client fails against it instead of being mirrored.
//!
//! - v2 (`/v2/index.php`, 签名方法 v1): the parameters without `Signature`,
//!   `_` in names read as `.`, sorted by name, joined `name=value` with `&`
//!   on the raw values, after `METHOD + host + path + "?"`; HMAC-SHA1 (or
//!   SHA-256 with `SignatureMethod=HmacSHA256`) with the SecretKey, base64.
//! - API 3.0 (TC3-HMAC-SHA256): a canonical request of method, path, query,
//!   the signed headers (names and values lower case, `name:value\n`), their
//!   names joined by `;`, and the body's SHA-256 in hex; a string to sign of
//!   the algorithm, timestamp, `date/service/tc3_request` scope and the
//!   canonical request's SHA-256; keys derived `"TC3"+key → date → service →
//!   "tc3_request"`; the signature in hex.

use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};

/// The TC3 algorithm name that opens `Authorization`.
pub(crate) const TC3: &str = "TC3-HMAC-SHA256";

/// A v2 signature method, as the `SignatureMethod` parameter names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum V2Method {
    /// Absent or `HmacSHA1`.
    Sha1,
    /// `HmacSHA256`.
    Sha256,
}

impl V2Method {
    /// The method the parameter asks for; `None` for an unknown one.
    pub(crate) fn from_parameter(value: Option<&str>) -> Option<V2Method> {
        match value {
            None | Some("HmacSHA1") => Some(V2Method::Sha1),
            Some("HmacSHA256") => Some(V2Method::Sha256),
            Some(_) => None,
        }
    }
}

/// The v2 string to sign for `params` (which may include `Signature`).
pub(crate) fn v2_string_to_sign(method: &str, host: &str, path: &str, params: &[(String, String)]) -> String {
    let mut pairs: Vec<(String, &str)> = params
        .iter()
        .filter(|(name, _)| name != "Signature")
        .map(|(name, value)| (name.replace('_', "."), value.as_str()))
        .collect();
    pairs.sort();
    let joined: Vec<String> = pairs.iter().map(|(n, v)| format!("{n}={v}")).collect();
    format!("{method}{host}{path}?{}", joined.join("&"))
}

/// The v2 signature of `text` under `key`, in standard base64.
pub(crate) fn v2_signature(method: V2Method, key: &str, text: &str) -> String {
    let digest = match method {
        V2Method::Sha1 => {
            let mut mac = Hmac::<Sha1>::new_from_slice(key.as_bytes()).expect("HMAC takes a key of any length");
            mac.update(text.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
        V2Method::Sha256 => hmac_sha256(key.as_bytes(), text.as_bytes()),
    };
    base64::engine::general_purpose::STANDARD.encode(digest)
}

/// What a TC3 request signs.
pub(crate) struct Tc3Input<'a> {
    pub(crate) method: &'a str,
    pub(crate) path: &'a str,
    pub(crate) query: &'a str,
    /// (name, value) in the order `SignedHeaders` lists them.
    pub(crate) headers: &'a [(&'a str, &'a str)],
    pub(crate) body: &'a [u8],
    pub(crate) service: &'a str,
    pub(crate) timestamp: i64,
}

impl Tc3Input<'_> {
    /// The scope's date: the timestamp's UTC day.
    pub(crate) fn date(&self) -> String {
        chrono::DateTime::from_timestamp(self.timestamp, 0)
            .map(|t| t.format("%Y-%m-%d").to_string())
            .unwrap_or_default()
    }

    /// The canonical request, shown in the error of a mismatch.
    pub(crate) fn canonical_request(&self) -> String {
        let mut text = format!("{}\n{}\n{}\n", self.method, self.path, self.query);
        let mut names = Vec::new();
        for (name, value) in self.headers {
            text.push_str(&format!("{}:{}\n", name.to_lowercase(), value.trim().to_lowercase()));
            names.push(name.to_lowercase());
        }
        text.push('\n');
        text.push_str(&names.join(";"));
        text.push('\n');
        text.push_str(&hex(&Sha256::digest(self.body)));
        text
    }

    /// The hex signature under `key`.
    pub(crate) fn signature(&self, key: &str) -> String {
        let date = self.date();
        let scope = format!("{date}/{}/tc3_request", self.service);
        let to_sign = format!(
            "{TC3}\n{}\n{scope}\n{}",
            self.timestamp,
            hex(&Sha256::digest(self.canonical_request().as_bytes()))
        );
        let k_date = hmac_sha256(format!("TC3{key}").as_bytes(), date.as_bytes());
        let k_service = hmac_sha256(&k_date, self.service.as_bytes());
        let k_signing = hmac_sha256(&k_service, b"tc3_request");
        hex(&hmac_sha256(&k_signing, to_sign.as_bytes()))
    }
}

/// Compares two signatures in time that does not depend on where they
/// differ, as a real server must.
pub(crate) fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `a=1&b=%E6%B5%81` into pairs, `+` read as a space; `None` when an escape
/// is broken or the text is not UTF-8.
pub(crate) fn decode_form(text: &str) -> Option<Vec<(String, String)>> {
    text.split('&')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            Some((unescape(k)?, unescape(v)?))
        })
        .collect()
}

fn unescape(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = text.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    /// The check values of Tencent's v2 signature page.
    #[test]
    fn the_published_v2_signatures() {
        let key = "pxPgRWDbCy86ZYyqBTDk7WmeRZSmPco0";
        let mut params = pairs(&[
            ("Action", "DescribeCdnHosts"),
            ("SecretId", "AKIDT8G5AsY1D3MChWooNq1rFSw1fyBVCX9D"),
            ("Timestamp", "1463122059"),
            ("Nonce", "13029"),
            ("offset", "0"),
            ("limit", "10"),
        ]);
        let get = v2_string_to_sign("GET", "cdn.api.qcloud.com", "/v2/index.php", &params);
        assert_eq!(v2_signature(V2Method::Sha1, key, &get), "bWMMAR1eFGjZ5KWbfxTlBiLiNLc=");
        let post = v2_string_to_sign("POST", "cdn.api.qcloud.com", "/v2/index.php", &params);
        assert_eq!(v2_signature(V2Method::Sha1, key, &post), "i/KcLp6VaOtUmVtT0dqtLpKJOkg=");
        params[2].1 = "1502197934".into();
        params[3].1 = "48059".into();
        params.push(("SignatureMethod".into(), "HmacSHA256".into()));
        let sha256 = v2_string_to_sign("GET", "cdn.api.qcloud.com", "/v2/index.php", &params);
        assert_eq!(
            v2_signature(V2Method::Sha256, key, &sha256),
            "b/HlnO7vWEtR/kf21BvF0fX4vGmIThwWxlaD5GQtlSM="
        );
    }

    /// The example of Tencent's TC3-HMAC-SHA256 page.
    #[test]
    fn the_published_tc3_signature() {
        let body = br#"{"Limit": 1, "Filters": [{"Values": ["\u672a\u547d\u540d"], "Name": "instance-name"}]}"#;
        let input = Tc3Input {
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
        assert_eq!(input.date(), "2019-02-25");
        assert_eq!(
            input.signature("Gu5t9xGARNpq86cd98joQYCN3EXAMPLE"),
            "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"
        );
    }

    #[test]
    fn forms_decode_and_broken_escapes_are_refused() {
        assert_eq!(
            decode_form("a=1&b=%E6%B5%81+x&c"),
            Some(pairs(&[("a", "1"), ("b", "流 x"), ("c", "")]))
        );
        assert_eq!(decode_form("a=%E"), None);
        assert_eq!(decode_form("a=%FF"), None);
        assert!(same("abc", "abc") && !same("abc", "abd") && !same("abc", "ab"));
    }
}
