//! What a client needs to reach one account: the endpoint, the key, how to
//! sign and send, how long to wait and how often to retry.

use crate::secret::{KeyId, Secret};
use chrono::FixedOffset;
use reqwest::Url;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::net::IpAddr;
use std::time::Duration;

pub use crate::signature::SignatureMethod;

/// The API 2.0 endpoint.
pub const V2_ENDPOINT: &str = "https://cdn.api.qcloud.com/v2/index.php";
/// The API 3.0 endpoint.
pub const V3_ENDPOINT: &str = "https://cdn.tencentcloudapi.com/";

/// China Standard Time, the zone of the API's times. Checked when compiling.
pub const CHINA_STANDARD_TIME: FixedOffset = match FixedOffset::east_opt(8 * 3600) {
    Some(offset) => offset,
    None => panic!("+08:00 is a valid offset"),
};

/// One account's client settings.
#[derive(Clone, Debug)]
pub struct ClientSettings {
    /// The account's name, for logs and the request observer.
    pub account: String,
    /// Which API the account is read through.
    pub api: ApiVersion,
    /// The endpoint URL.
    pub endpoint: Endpoint,
    /// The key id.
    pub secret_id: KeyId,
    /// The key.
    pub secret_key: Secret,
    /// API 3.0 only: the token of a temporary credential (`X-TC-Token`).
    pub session_token: Option<Secret>,
    /// Signature method for v2 requests.
    pub signature_method: SignatureMethod,
    /// GET or POST.
    pub http_method: HttpMethod,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Attempts for one idempotent call, the first included.
    pub max_attempts: u32,
    /// Wait before the first retry (doubles each retry, capped at 30 s).
    pub retry_backoff: Duration,
    /// The largest API answer accepted, in bytes.
    pub max_answer_bytes: u64,
    /// The zone of the API's zone-less times.
    pub utc_offset: FixedOffset,
}

impl ClientSettings {
    /// Settings for `account` on `api`'s public endpoint, with the
    /// daemon's defaults: POST, HmacSHA256, a 15 s timeout, 4 attempts from
    /// 1 s, [`ApiVersion::default_max_answer`], and China Standard Time.
    pub fn new(account: &str, api: ApiVersion, secret_id: KeyId, secret_key: Secret) -> Self {
        ClientSettings {
            account: account.to_string(),
            api,
            endpoint: api.default_endpoint(),
            secret_id,
            secret_key,
            session_token: None,
            signature_method: SignatureMethod::default(),
            http_method: HttpMethod::default(),
            timeout: Duration::from_secs(15),
            max_attempts: 4,
            retry_backoff: Duration::from_secs(1),
            max_answer_bytes: api.default_max_answer(),
            utc_offset: CHINA_STANDARD_TIME,
        }
    }
}

fn text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    String::deserialize(d)
}

/// An API endpoint URL: `https://`, or `http://` to a loopback address only,
/// so credentials-bearing requests never cross a network in the clear.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint(pub Url);

impl Endpoint {
    /// Checks the scheme and host.
    pub fn parse(value: &str) -> Result<Self, String> {
        let url = Url::parse(value)
            .map_err(|e| format!("`{value}` is not a URL ({e}): e.g. \"https://cdn.api.qcloud.com/v2/index.php\""))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err("the endpoint URL must not carry a user name or password".into());
        }
        match url.scheme() {
            "https" => Ok(Endpoint(url)),
            "http" if is_loopback(&url) => Ok(Endpoint(url)),
            "http" => Err(format!(
                "`{value}` uses plain http to a host that is not loopback: use https"
            )),
            other => Err(format!("`{value}` has scheme `{other}`: use https")),
        }
    }

    /// The host as signed and sent in the `Host` header, with `:port` when
    /// the URL names a non-default one.
    pub fn host_header(&self) -> String {
        let host = self.0.host_str().unwrap_or_default();
        match self.0.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_string(),
        }
    }
}

/// Whether the URL's host is 127.0.0.0/8, ::1 or `localhost`: the only
/// hosts plain http may reach.
fn is_loopback(url: &Url) -> bool {
    let host = url.host_str().unwrap_or_default();
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => bare.eq_ignore_ascii_case("localhost"),
    }
}

impl<'de> Deserialize<'de> for Endpoint {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Endpoint::parse(&text(d)?).map_err(serde::de::Error::custom)
    }
}

impl Serialize for Endpoint {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.as_str())
    }
}

/// Which API an account is read through.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum ApiVersion {
    /// API 2.0: GetPackage and OrderPackage on `cdn.api.qcloud.com`.
    #[default]
    #[serde(rename = "v2")]
    V2,
    /// API 3.0: DescribeTrafficPackages on `cdn.tencentcloudapi.com`.
    #[serde(rename = "v3")]
    V3,
}

/// The HTTP method requests are sent with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Deserialize, Serialize)]
pub enum HttpMethod {
    /// Parameters in the query string.
    #[serde(rename = "GET")]
    Get,
    /// Parameters in a form body; the default, as it keeps them out of
    /// proxy and server access logs.
    #[default]
    #[serde(rename = "POST")]
    Post,
}

impl ApiVersion {
    /// The public endpoint.
    pub fn default_endpoint(self) -> Endpoint {
        let url = match self {
            ApiVersion::V2 => V2_ENDPOINT,
            ApiVersion::V3 => V3_ENDPOINT,
        };
        // Both constants are https URLs without credentials.
        Endpoint(Url::parse(url).expect("the public endpoints are valid URLs"))
    }

    /// The largest answer accepted by default. A v2 answer lists every
    /// package at once, about 250 bytes each: 64 MiB is a quarter of a
    /// million. A v3 answer is one page of at most 1,000 packages, well
    /// under 4 MiB.
    pub fn default_max_answer(self) -> u64 {
        match self {
            ApiVersion::V2 => 64 * 1024 * 1024,
            ApiVersion::V3 => 4 * 1024 * 1024,
        }
    }
}

impl HttpMethod {
    /// The method's name as signed.
    pub fn as_str(self) -> &'static str {
        match self {
            HttpMethod::Get => "GET",
            HttpMethod::Post => "POST",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_to_loopback() {
        assert!(Endpoint::parse("https://cdn.api.qcloud.com/v2/index.php").is_ok());
        assert!(Endpoint::parse("http://127.0.0.1:8080/v2/index.php").is_ok());
        assert!(Endpoint::parse("http://[::1]:8080/").is_ok());
        assert!(Endpoint::parse("http://localhost/").is_ok());
        assert!(
            Endpoint::parse("http://cdn.api.qcloud.com/v2/index.php")
                .unwrap_err()
                .contains("use https")
        );
        assert!(Endpoint::parse("http://10.0.0.1/").is_err());
        assert!(Endpoint::parse("ftp://127.0.0.1/").is_err());
        assert!(Endpoint::parse("https://user:pw@example.com/").is_err());
    }

    #[test]
    fn host_header_keeps_a_non_default_port() {
        assert_eq!(
            Endpoint::parse("https://cdn.api.qcloud.com/v2/index.php")
                .unwrap()
                .host_header(),
            "cdn.api.qcloud.com"
        );
        assert_eq!(
            Endpoint::parse("https://cdn.api.qcloud.com:443/x")
                .unwrap()
                .host_header(),
            "cdn.api.qcloud.com"
        );
        assert_eq!(
            Endpoint::parse("http://127.0.0.1:8080/v2/index.php")
                .unwrap()
                .host_header(),
            "127.0.0.1:8080"
        );
    }
}
