//! The exporter-toolkit web configuration (prometheus/exporter-toolkit
//! `docs/web-configuration.md`): one YAML file that turns on TLS, client
//! certificates, basic auth and response headers for every endpoint, the
//! same file node_exporter and Prometheus read.
//!
//! The file is watched as the toolkit does: each connection and request
//! looks at it (and the certificate, key and CA files it names), and a
//! change is read at once, so a rotated certificate is served without a
//! restart. A file that turns bad is refused with one log line and the last
//! good one stays in force.

use super::basic_auth::Users;
use hyper::header::{HeaderName, HeaderValue};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// A web config that cannot be used, as one line naming the file, the line
/// and key where known, and what to write instead.
#[derive(Debug, Clone, PartialEq)]
pub struct WebConfigError(pub String);

impl fmt::Display for WebConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for WebConfigError {}

// The serde names are what a type error says it expected.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, expecting = "a map of the web config's sections")]
struct RawWebConfig {
    tls_server_config: Option<RawTls>,
    http_server_config: Option<RawHttp>,
    basic_auth_users: Option<BTreeMap<String, String>>,
    // Parsed so that it is refused with a reason, not as an unknown key.
    rate_limit: Option<serde_norway::Value>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, expecting = "a map of tls_server_config's keys")]
struct RawTls {
    cert: Option<String>,
    key: Option<String>,
    client_ca: Option<String>,
    cert_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
    client_auth_type: Option<String>,
    client_ca_file: Option<PathBuf>,
    client_allowed_sans: Option<Vec<String>>,
    min_version: Option<String>,
    max_version: Option<String>,
    cipher_suites: Option<Vec<String>>,
    prefer_server_cipher_suites: Option<bool>,
    curve_preferences: Option<Vec<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, expecting = "a map of http_server_config's keys")]
struct RawHttp {
    // Accepted for files shared with Go exporters; cdnquota speaks HTTP/1.1.
    #[allow(dead_code)]
    http2: Option<bool>,
    headers: Option<BTreeMap<String, String>>,
}

/// PEM text, from a file the config names or written in it.
pub(super) enum Pem {
    /// A file, resolved against the web config's folder.
    File(PathBuf),
    /// Inline text; for `key`, a secret never shown.
    Inline(String),
}

impl Pem {
    fn pick(file: Option<PathBuf>, inline: Option<String>, dir: &Path) -> Option<Pem> {
        match (file, inline) {
            (Some(f), _) => Some(Pem::File(dir.join(f))),
            (None, Some(text)) => Some(Pem::Inline(text)),
            (None, None) => None,
        }
    }

    /// The bytes, or a message naming the file (never the content).
    pub(super) fn read(&self) -> Result<Vec<u8>, String> {
        match self {
            Pem::File(path) => std::fs::read(path).map_err(|e| {
                format!(
                    "cannot read {}: {e}; fix the path (a relative one is read beside the web config) or let the daemon's user read the file",
                    path.display()
                )
            }),
            Pem::Inline(text) => Ok(text.as_bytes().to_vec()),
        }
    }
}

/// Who must present a client certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ClientAuth {
    /// Nobody (the default).
    None,
    /// Whoever sends one must send a valid one.
    VerifyIfGiven,
    /// Everybody, signed by the client CA.
    Require,
}

/// The checked `tls_server_config`.
pub(super) struct TlsSettings {
    pub(super) cert: Pem,
    pub(super) key: Pem,
    pub(super) client_auth: ClientAuth,
    pub(super) client_ca: Option<Pem>,
    /// TLS 1.3 allowed, TLS 1.2 allowed.
    pub(super) tls13: bool,
    pub(super) tls12: bool,
    pub(super) cipher_suites: Option<Vec<String>>,
    pub(super) prefer_server_cipher_suites: bool,
    pub(super) curve_preferences: Option<Vec<String>>,
}

/// The checked file, before anything it names is read.
pub(super) struct Settings {
    pub(super) tls: Option<TlsSettings>,
    pub(super) users: Option<Users>,
    pub(super) headers: Vec<(HeaderName, HeaderValue)>,
}

/// The files a change of which makes the config be read again: the config
/// itself and, once it parses, every file it names.
pub(super) fn parse_file(path: &Path) -> Result<(Settings, Vec<PathBuf>), WebConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        WebConfigError(format!(
            "{}: cannot read the web config: {e}; pass the right file with --web.config.file or [http] web_config_file",
            path.display()
        ))
    })?;
    let settings = parse(&text, path)?;
    let mut files = vec![path.to_path_buf()];
    if let Some(t) = &settings.tls {
        for pem in [Some(&t.cert), Some(&t.key), t.client_ca.as_ref()]
            .into_iter()
            .flatten()
        {
            if let Pem::File(f) = pem {
                files.push(f.clone());
            }
        }
    }
    Ok((settings, files))
}

/// The headers the toolkit lets a web config set, and the values it allows
/// for some of them.
const HEADERS: [(&str, &[&str]); 5] = [
    ("Content-Security-Policy", &[]),
    ("X-Frame-Options", &["deny", "sameorigin"]),
    ("X-Content-Type-Options", &["nosniff"]),
    ("X-XSS-Protection", &[]),
    ("Strict-Transport-Security", &[]),
];

/// Parses and checks web config text; `path` names it in messages and
/// relative file names are read from its folder, as the toolkit does.
fn parse(text: &str, path: &Path) -> Result<Settings, WebConfigError> {
    let file = path.display();
    let fail = |key: &str, message: String| WebConfigError(format!("{file}: {key}: {message}"));
    // An empty file (or only comments) is a valid config that asks for nothing.
    let raw: RawWebConfig = if text
        .trim()
        .lines()
        .all(|l| l.trim().is_empty() || l.trim().starts_with('#'))
    {
        RawWebConfig::default()
    } else {
        serde_norway::from_str::<Option<RawWebConfig>>(text)
            .map_err(|e| yaml_error(path, &e))?
            .unwrap_or_default()
    };
    if raw.rate_limit.is_some() {
        return Err(fail(
            "rate_limit",
            "is not supported by cdnquota: remove it (its connection limits bound the load instead)".into(),
        ));
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let tls = match raw.tls_server_config {
        None => None,
        Some(t) => parse_tls(t, dir).map_err(|(key, m)| fail(&format!("tls_server_config.{key}"), m))?,
    };
    let mut headers = Vec::new();
    for (name, value) in raw.http_server_config.and_then(|h| h.headers).unwrap_or_default() {
        let key = format!("http_server_config.headers.{name}");
        let Some((canonical, allowed)) = HEADERS.iter().find(|(h, _)| h.eq_ignore_ascii_case(&name)) else {
            let names: Vec<&str> = HEADERS.iter().map(|(h, _)| *h).collect();
            return Err(fail(
                &key,
                format!("this header cannot be configured: use one of {}", names.join(", ")),
            ));
        };
        // Blank means unset, as in the toolkit.
        if value.trim().is_empty() {
            continue;
        }
        if !allowed.is_empty() && !allowed.iter().any(|a| a.eq_ignore_ascii_case(value.trim())) {
            return Err(fail(
                &key,
                format!("`{value}` is not accepted: use {}", allowed.join(" or ")),
            ));
        }
        let value = HeaderValue::from_str(value.trim())
            .map_err(|_| fail(&key, "the value holds characters a header cannot carry".into()))?;
        headers.push((HeaderName::from_static(lower(canonical)), value));
    }
    let users = match raw.basic_auth_users {
        None => None,
        Some(users) if users.is_empty() => None,
        Some(users) => {
            for (user, hash) in &users {
                // The hash is a secret of sorts: never echoed.
                if !is_bcrypt_hash(hash) {
                    return Err(fail(
                        &format!("basic_auth_users.{user}"),
                        "is not a bcrypt hash: write the output of `htpasswd -nBC 10 \"\" | tr -d ':\\n'` (it starts with $2y$, $2b$ or $2a$)".into(),
                    ));
                }
                if user.contains(':') {
                    return Err(fail(
                        &format!("basic_auth_users.{user}"),
                        "a user name cannot hold `:`, which basic auth uses to end it".into(),
                    ));
                }
            }
            Some(Users::new(users))
        }
    };
    Ok(Settings { tls, users, headers })
}

/// The lower-case form HeaderName::from_static wants, for the fixed names.
fn lower(name: &str) -> &'static str {
    match name {
        "Content-Security-Policy" => "content-security-policy",
        "X-Frame-Options" => "x-frame-options",
        "X-Content-Type-Options" => "x-content-type-options",
        "X-XSS-Protection" => "x-xss-protection",
        _ => "strict-transport-security",
    }
}

/// `$2a$`, `$2b$` or `$2y$`, a two-digit cost from 04 to 31, `$`, then 53
/// characters of bcrypt's base64 (salt and hash).
fn is_bcrypt_hash(hash: &str) -> bool {
    let b = hash.as_bytes();
    let alphabet = |c: &u8| c.is_ascii_alphanumeric() || *c == b'.' || *c == b'/';
    b.len() == 60
        && b.starts_with(b"$2")
        && matches!(b[2], b'a' | b'b' | b'y')
        && b[3] == b'$'
        && b[6] == b'$'
        && std::str::from_utf8(&b[4..6])
            .ok()
            .and_then(|c| c.parse::<u32>().ok())
            .is_some_and(|c| (4..=31).contains(&c))
        && b[7..].iter().all(alphabet)
}

type Refusal = (&'static str, String);

fn parse_tls(t: RawTls, dir: &Path) -> Result<Option<TlsSettings>, Refusal> {
    let cert = Pem::pick(t.cert_file, t.cert, dir);
    let key = Pem::pick(t.key_file, t.key, dir);
    let (cert, key) = match (cert, key) {
        // As in the toolkit: a tls_server_config without a certificate
        // and key leaves TLS off.
        (None, None) => return Ok(None),
        (Some(_), None) => return Err(("key_file", "is missing: TLS needs the certificate's key".into())),
        (None, Some(_)) => return Err(("cert_file", "is missing: TLS needs a certificate for the key".into())),
        (Some(c), Some(k)) => (c, k),
    };
    let client_ca = Pem::pick(t.client_ca_file, t.client_ca, dir);
    let client_auth = match t.client_auth_type.as_deref().unwrap_or("NoClientCert") {
        "NoClientCert" | "" => ClientAuth::None,
        "VerifyClientCertIfGiven" => ClientAuth::VerifyIfGiven,
        "RequireAndVerifyClientCert" => ClientAuth::Require,
        "RequestClientCert" | "RequireAnyClientCert" => {
            return Err((
                "client_auth_type",
                "accepts any certificate, which authenticates nobody, and is not supported: use RequireAndVerifyClientCert with client_ca_file".into(),
            ));
        }
        other => {
            return Err((
                "client_auth_type",
                format!(
                    "`{other}` is not a client auth type: use NoClientCert, VerifyClientCertIfGiven or RequireAndVerifyClientCert"
                ),
            ));
        }
    };
    if client_auth != ClientAuth::None && client_ca.is_none() {
        return Err((
            "client_ca_file",
            "is missing: client certificates are verified against it".into(),
        ));
    }
    if client_auth == ClientAuth::None && client_ca.is_some() {
        return Err((
            "client_auth_type",
            "is NoClientCert, yet a client CA is given: set RequireAndVerifyClientCert, or remove client_ca_file"
                .into(),
        ));
    }
    if t.client_allowed_sans.is_some_and(|s| !s.is_empty()) {
        return Err((
            "client_allowed_sans",
            "is not supported by cdnquota: give these clients certificates from a CA of their own and name it in client_ca_file".into(),
        ));
    }
    // rustls speaks TLS 1.2 and 1.3 only: a minimum below 1.2 is met by
    // 1.2, a maximum below it cannot be served.
    let version = |key: &'static str, v: Option<String>, default: u8| -> Result<u8, Refusal> {
        match v.as_deref() {
            None | Some("") => Ok(default),
            Some("TLS10") => Ok(10),
            Some("TLS11") => Ok(11),
            Some("TLS12") => Ok(12),
            Some("TLS13") => Ok(13),
            Some(other) => Err((key, format!("`{other}` is not a TLS version: use TLS12 or TLS13"))),
        }
    };
    let min = version("min_version", t.min_version, 12)?;
    let max = version("max_version", t.max_version, 13)?;
    if max < 12 {
        return Err((
            "max_version",
            "cdnquota serves TLS 1.2 and 1.3 only: use TLS12 or TLS13".into(),
        ));
    }
    if min > max {
        return Err((
            "min_version",
            "is above max_version: lower it or raise max_version".into(),
        ));
    }
    Ok(Some(TlsSettings {
        cert,
        key,
        client_auth,
        client_ca,
        tls12: min <= 12,
        tls13: max >= 13,
        cipher_suites: t.cipher_suites.filter(|c| !c.is_empty()),
        prefer_server_cipher_suites: t.prefer_server_cipher_suites.unwrap_or(true),
        curve_preferences: t.curve_preferences.filter(|c| !c.is_empty()),
    }))
}

/// serde's message with the file and line first, as `cdnquota.toml` errors
/// are written: `web.yml:3: tls_server_config: unknown field ...`.
fn yaml_error(path: &Path, e: &serde_norway::Error) -> WebConfigError {
    let mut message = e.to_string();
    // The location goes in front, not at the end.
    if let Some(at) = message.find(" at line ") {
        message.truncate(at);
    }
    let message = message.replace('\n', " ");
    let hint = if message.contains("unknown field") {
        ": remove it, or fix its spelling (prometheus/exporter-toolkit docs/web-configuration.md lists the keys)"
    } else {
        ""
    };
    match e.location() {
        Some(l) => WebConfigError(format!("{}:{}: {message}{hint}", path.display(), l.line())),
        None => WebConfigError(format!("{}: {message}{hint}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "$2b$10$hinYah5yGcH5ZcWuAYV7EOvqcbF8FBGY39nwaCizz3FAjDUs6Eb42";

    fn parsed(text: &str) -> Result<Settings, String> {
        parse(text, Path::new("/etc/cdnquota/web.yml")).map_err(|e| e.0)
    }

    #[test]
    fn an_unknown_key_is_refused_with_file_line_and_key() {
        let err = parsed("tls_server_config:\n  cert_file: a.pem\n  key_file: a.key\n  min_verison: TLS13\n")
            .err()
            .expect("refused");
        assert!(err.starts_with("/etc/cdnquota/web.yml:4: "), "{err}");
        assert!(err.contains("min_verison"), "{err}");
        assert!(!err.contains('\n'), "{err}");
        let top = parsed("basic_auth_user:\n  a: b\n").err().expect("refused");
        assert!(
            top.starts_with("/etc/cdnquota/web.yml:1: ") && top.contains("basic_auth_user"),
            "{top}"
        );
    }

    #[test]
    fn relative_files_are_read_beside_the_config() {
        let s = parsed("tls_server_config:\n  cert_file: tls/a.pem\n  key_file: /abs/a.key\n").unwrap();
        let t = s.tls.expect("TLS on");
        assert!(matches!(&t.cert, Pem::File(p) if p == Path::new("/etc/cdnquota/tls/a.pem")));
        assert!(matches!(&t.key, Pem::File(p) if p == Path::new("/abs/a.key")));
        assert!(t.tls12 && t.tls13);
        assert_eq!(t.client_auth, ClientAuth::None);
    }

    #[test]
    fn an_empty_file_or_section_asks_for_nothing() {
        for text in ["", "# nothing yet\n", "tls_server_config:\n", "basic_auth_users: {}\n"] {
            let s = parsed(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
            assert!(s.tls.is_none() && s.users.is_none() && s.headers.is_empty(), "{text:?}");
        }
    }

    #[test]
    fn refusals_say_what_to_write() {
        let cases = [
            (
                "tls_server_config:\n  cert_file: a.pem\n",
                "tls_server_config.key_file: is missing",
            ),
            (
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: RequireAndVerifyClientCert\n",
                "tls_server_config.client_ca_file: is missing",
            ),
            (
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  client_ca_file: ca\n",
                "tls_server_config.client_auth_type: is NoClientCert",
            ),
            (
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: RequireAnyClientCert\n  client_ca_file: ca\n",
                "authenticates nobody",
            ),
            (
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: TLS14\n",
                "`TLS14` is not a TLS version",
            ),
            (
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: TLS13\n  max_version: TLS12\n",
                "is above max_version",
            ),
            (
                "basic_auth_users:\n  alice: secret\n",
                "basic_auth_users.alice: is not a bcrypt hash",
            ),
            (
                "http_server_config:\n  headers:\n    X-Powered-By: me\n",
                "http_server_config.headers.X-Powered-By: this header cannot be configured",
            ),
            (
                "http_server_config:\n  headers:\n    X-Frame-Options: allow\n",
                "use deny or sameorigin",
            ),
            (
                "rate_limit:\n  interval: 1s\n  burst: 5\n",
                "rate_limit: is not supported",
            ),
        ];
        for (text, expected) in cases {
            let err = parsed(text).err().unwrap_or_else(|| panic!("{text:?} was accepted"));
            assert!(err.contains(expected), "{text:?}: {err}");
            assert!(err.starts_with("/etc/cdnquota/web.yml"), "{err}");
        }
        // The plain password is never echoed.
        let err = parsed("basic_auth_users:\n  alice: hunter2\n").err().unwrap();
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn users_and_headers_are_read() {
        let s = parsed(&format!(
            "basic_auth_users:\n  alice: {HASH}\nhttp_server_config:\n  http2: false\n  headers:\n    x-frame-options: deny\n    Strict-Transport-Security: max-age=31536000\n    X-XSS-Protection: ''\n"
        ))
        .unwrap();
        assert_eq!(s.users.map(|u| u.len()), Some(1));
        let names: Vec<&str> = s.headers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["strict-transport-security", "x-frame-options"]);
    }

    #[test]
    fn bcrypt_hashes_are_recognised() {
        assert!(is_bcrypt_hash(HASH));
        assert!(is_bcrypt_hash(&HASH.replacen("$2b$", "$2y$", 1)));
        assert!(!is_bcrypt_hash(&HASH.replacen("$10$", "$03$", 1)));
        assert!(!is_bcrypt_hash(&HASH[..59]));
        assert!(!is_bcrypt_hash("$1$abcdefgh$0123456789012345678901"));
    }
}
