//! Errors of API calls, split into permanent ones (fix the config) and
//! transient ones (retry with backoff).

use std::fmt;

/// What went wrong with one API call.
#[derive(Debug, Clone, PartialEq)]
pub enum ApiError {
    /// The request could not be sent or the answer not received.
    Transport {
        /// Whether the request timed out.
        timeout: bool,
        /// Whether the connection could not be made (nothing was sent).
        connect: bool,
        /// The transport's own description.
        detail: String,
    },
    /// The endpoint's TLS certificate was refused: retrying cannot help.
    Certificate {
        /// Why, in words (not the TLS library's).
        reason: String,
    },
    /// The server answered with a non-2xx HTTP status.
    HttpStatus {
        /// The HTTP status code.
        status: u16,
        /// The start of the body, for the log.
        excerpt: String,
    },
    /// The body was larger than the configured cap.
    TooLarge {
        /// The cap in bytes.
        limit: usize,
    },
    /// The body was not the JSON the API documents.
    Malformed {
        /// True when the JSON stopped early (a cut connection), worth a retry.
        truncated: bool,
        /// What was wrong, naming the field.
        detail: String,
    },
    /// API 3.0 answered with `Response.Error`.
    Tencent {
        /// The error code, e.g. `AuthFailure.SignatureFailure`.
        code: String,
        /// The error text.
        message: String,
        /// The request id Tencent support asks for.
        request_id: String,
    },
    /// The API answered with `code != 0`.
    Api {
        /// The public error code.
        code: i64,
        /// The module error text, e.g. `(9110)...`.
        message: String,
        /// The English error text or business code.
        code_desc: String,
    },
}

impl ApiError {
    /// Whether trying again later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            ApiError::Transport { .. } => true,
            // A certificate does not change in a second.
            ApiError::Certificate { .. } => false,
            ApiError::HttpStatus { status, .. } => *status >= 500 || *status == 429,
            ApiError::TooLarge { .. } => false,
            ApiError::Malformed { truncated, .. } => *truncated,
            ApiError::Api { code, .. } => matches!(code, 4400 | 6000 | 6200),
            ApiError::Tencent { code, .. } => {
                code.starts_with("RequestLimitExceeded") || code.starts_with("InternalError")
            }
        }
    }

    /// Whether the error says this key or endpoint will never be allowed
    /// the action (the caller stops asking), rather than a passing or
    /// one-off failure (worth asking again later): the key is refused or
    /// lacks the CAM permission, or the endpoint does not have the action.
    pub fn is_not_permitted(&self) -> bool {
        const REFUSALS: [&str; 4] = [
            "AuthFailure",
            "UnauthorizedOperation",
            "InvalidAction",
            "UnsupportedOperation",
        ];
        match self {
            ApiError::Tencent { code, .. } => REFUSALS.iter().any(|p| code.starts_with(p)),
            // An endpoint without the path answers 404 for every action.
            ApiError::HttpStatus { status, .. } => *status == 404,
            // API 2.0's codes for the same refusals: the key (4100–4105, as
            // AuthFailure is) and CAM (access denied).
            ApiError::Api { code, .. } => matches!(code, 4100..=4105 | 4300),
            _ => false,
        }
    }

    /// A short label for the `outcome` of `cdnquota_api_requests_total`.
    pub fn outcome(&self) -> &'static str {
        match self {
            ApiError::Transport { timeout: true, .. } => "timeout",
            ApiError::Transport { .. } | ApiError::Certificate { .. } => "transport_error",
            ApiError::HttpStatus { .. } => "http_error",
            ApiError::TooLarge { .. } | ApiError::Malformed { .. } => "malformed",
            ApiError::Api { .. } | ApiError::Tencent { .. } => "api_error",
        }
    }

    /// What the operator should do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            ApiError::Transport { .. } => "check the network path to the endpoint; the next poll will try again",
            ApiError::Certificate { .. } => {
                "retrying cannot help: point endpoint at the real API host, or add the CA that signed its certificate to this host's trust store"
            }
            ApiError::HttpStatus { .. } => "the endpoint is failing; the next poll will try again",
            ApiError::TooLarge { .. } => {
                "if the account really lists that many packages (a v2 answer takes about 250 bytes each), raise max_answer_size for it; otherwise check the endpoint URL"
            }
            ApiError::Malformed { .. } => {
                "the endpoint did not answer like the CDN API; check the endpoint URL and api version"
            }
            ApiError::Tencent { code, .. } => match code.split('.').next().unwrap_or_default() {
                "AuthFailure" if code.contains("Expire") => {
                    "the signature was refused as expired; check that this host's clock is right (NTP)"
                }
                "AuthFailure" => "check secret_id and secret_key for this account",
                "UnauthorizedOperation" => {
                    "grant the key's CAM user the cdn:DescribeTrafficPackages permission (or QcloudCDNReadOnlyAccess)"
                }
                "RequestLimitExceeded" => "the API rate limit was hit; poll less often",
                "InternalError" => "Tencent reported an internal error; the next poll will try again",
                _ => "see the API 3.0 error codes; quote the RequestId to Tencent support",
            },
            ApiError::Api { code, .. } => match code {
                4100 | 4104 => "check secret_id and secret_key for this account",
                4101..=4103 | 4110 | 4300 => {
                    "grant the key's CAM user permission for CDN packages (QcloudCDNFullAccess or a policy with the action)"
                }
                4105 => "the temporary token is invalid or expired; issue a new key",
                4000 => "a parameter was refused; check the order size and number (OrderPackage) or the api version",
                4200 | 4500 => {
                    "the request was refused as expired or replayed; check that this host's clock is right (NTP)"
                }
                4400 => "the API quota is exceeded; poll less often",
                5300 => "the account balance is too low; top it up in the console",
                6100 | 6200 | 4600 => {
                    "API 2.0 is not available for this account; use api = \"v3\" when it is supported"
                }
                6000 => "Tencent reported an internal error; the next poll will try again",
                _ => "see the API error code list; the next poll will try again",
            },
        }
    }
}

/// The most of one text field from the server that a message keeps. This is
/// the one place API text is bounded: every log line, status page, state
/// file and mail shows the error through `Display`.
pub const MAX_FIELD_CHARS: usize = 300;

fn bounded(text: &str) -> String {
    cdnquota_core::text::truncate_chars(text, MAX_FIELD_CHARS)
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::Transport {
                timeout: true, detail, ..
            } => write!(f, "request timed out ({})", bounded(detail)),
            ApiError::Transport { detail, .. } => write!(f, "request failed: {}", bounded(detail)),
            ApiError::Certificate { reason } => write!(f, "the endpoint's TLS certificate is refused: {reason}"),
            ApiError::HttpStatus { status, excerpt } => write!(f, "HTTP status {status}: {}", bounded(excerpt)),
            ApiError::TooLarge { limit } => write!(
                f,
                "the answer is larger than max_answer_size ({})",
                cdnquota_core::units::format_size_human(*limit as u64)
            ),
            ApiError::Malformed { detail, .. } => write!(f, "malformed response: {}", bounded(detail)),
            ApiError::Tencent {
                code,
                message,
                request_id,
            } => {
                write!(f, "API error {}", bounded(code))?;
                if !message.is_empty() {
                    write!(f, " ({})", bounded(message))?;
                }
                if !request_id.is_empty() {
                    write!(f, " [RequestId {}]", bounded(request_id))?;
                }
                Ok(())
            }
            ApiError::Api {
                code,
                message,
                code_desc,
            } => {
                write!(f, "API error code {code}")?;
                let text: Vec<String> = [code_desc.as_str(), message.as_str()]
                    .into_iter()
                    .filter(|s| !s.is_empty())
                    .map(bounded)
                    .collect();
                if !text.is_empty() {
                    write!(f, " ({})", text.join(": "))?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for ApiError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: i64) -> ApiError {
        ApiError::Api {
            code,
            message: String::new(),
            code_desc: String::new(),
        }
    }

    #[test]
    fn classification_follows_the_design() {
        for code in [6000, 6200, 4400] {
            assert!(api(code).is_transient(), "{code}");
        }
        for code in [4000, 4100, 4101, 4104, 4105, 4110, 4200, 4300, 4500, 5000, 5300] {
            assert!(!api(code).is_transient(), "{code}");
        }
        assert!(
            ApiError::HttpStatus {
                status: 502,
                excerpt: String::new()
            }
            .is_transient()
        );
        assert!(
            !ApiError::HttpStatus {
                status: 404,
                excerpt: String::new()
            }
            .is_transient()
        );
        assert!(
            ApiError::Malformed {
                truncated: true,
                detail: String::new()
            }
            .is_transient()
        );
        assert!(
            !ApiError::Malformed {
                truncated: false,
                detail: String::new()
            }
            .is_transient()
        );
    }

    #[test]
    fn tencent_errors_keep_the_request_id() {
        let tencent = |code: &str| ApiError::Tencent {
            code: code.into(),
            message: "m".into(),
            request_id: "b1a70a67".into(),
        };
        assert_eq!(
            tencent("AuthFailure.SignatureFailure").to_string(),
            "API error AuthFailure.SignatureFailure (m) [RequestId b1a70a67]"
        );
        assert!(!tencent("AuthFailure.SignatureFailure").is_transient());
        assert!(!tencent("UnauthorizedOperation").is_transient());
        assert!(tencent("RequestLimitExceeded").is_transient());
        assert!(tencent("InternalError.ServerError").is_transient());
        assert!(tencent("AuthFailure.SignatureExpire").hint().contains("clock"));
    }

    #[test]
    fn refusals_of_the_key_or_the_endpoint_are_not_permitted() {
        let tencent = |code: &str| ApiError::Tencent {
            code: code.into(),
            message: String::new(),
            request_id: String::new(),
        };
        for code in [
            "AuthFailure.UnauthorizedOperation",
            "AuthFailure.SignatureFailure",
            "UnauthorizedOperation",
            "UnauthorizedOperation.CdnCamUnauthorized",
            "InvalidAction",
            "UnsupportedOperation",
        ] {
            assert!(tencent(code).is_not_permitted(), "{code}");
        }
        for code in [
            "RequestLimitExceeded",
            "InternalError",
            "InvalidParameterValue",
            "FailedOperation",
            "ResourceNotFound",
            // Only a prefix counts: a code that merely contains it does not.
            "LimitExceeded.AuthFailure",
        ] {
            assert!(!tencent(code).is_not_permitted(), "{code}");
        }
        let http = |status: u16| ApiError::HttpStatus {
            status,
            excerpt: String::new(),
        };
        assert!(http(404).is_not_permitted());
        assert!(!http(403).is_not_permitted());
        assert!(!http(503).is_not_permitted());
        assert!(api(4102).is_not_permitted());
        assert!(api(4300).is_not_permitted());
        // Rate limits, internal errors and a cut answer or a timeout say
        // nothing about permission.
        for code in [4400, 6000, 6200, 5100] {
            assert!(!api(code).is_not_permitted(), "{code}");
        }
        assert!(
            !ApiError::Transport {
                timeout: true,
                connect: false,
                detail: String::new()
            }
            .is_not_permitted()
        );
    }

    #[test]
    fn one_line_with_code_and_texts() {
        let e = ApiError::Api {
            code: 4100,
            message: "(9110)bad sig".into(),
            code_desc: "AuthFailure".into(),
        };
        assert_eq!(e.to_string(), "API error code 4100 (AuthFailure: (9110)bad sig)");
        assert!(e.hint().contains("secret_key"));
    }

    #[test]
    fn a_huge_server_text_is_cut_to_a_bounded_line() {
        let e = ApiError::Api {
            code: 5100,
            message: "m".repeat(1_000_000),
            code_desc: "d".repeat(1_000_000),
        };
        let line = e.to_string();
        assert!(line.len() < 2 * MAX_FIELD_CHARS + 200, "{} bytes", line.len());
        assert!(line.contains("more bytes cut"), "{line}");
    }
}
