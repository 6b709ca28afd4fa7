//! The `[alertmanager]` section: which Alertmanagers the daemon pushes its
//! alerts to (API v2), how often it re-sends them, and how it connects.

use super::units::PositiveDuration;
use super::values::is_loopback;
use super::{Located, SecretResolver};
use reqwest::Url;
use serde::{Deserialize, Serialize, Serializer};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;
use tencent_cdn_api::secret::Secret;

/// Where the Alertmanager password may come from instead of the config.
pub const ENV_ALERTMANAGER_PASSWORD: &str = "CDNQUOTA_ALERTMANAGER_PASSWORD";

/// The labels cdnquota sets itself; extra labels may not take their names.
pub const RESERVED_LABELS: [&str; 5] = ["alertname", "account", "severity", "package_id", "order_id"];

/// The base URL of one Alertmanager, e.g. `http://am1:9093/`; the daemon
/// adds `api/v2/alerts`. Always ends with `/`, so a route prefix is kept.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct AlertmanagerUrl(Url);

impl AlertmanagerUrl {
    /// Checks one entry of `urls`.
    pub fn parse(value: &str) -> Result<AlertmanagerUrl, String> {
        let mut url = Url::parse(value)
            .map_err(|e| format!("`{value}` is not a URL ({e}): e.g. \"http://alertmanager-1:9093\""))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("`{value}` has scheme `{}`: use http or https", url.scheme()));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(format!(
                "`{value}` carries a user name or password, which would show in logs and metrics: use username and password_file"
            ));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(format!(
                "`{value}` has a query or fragment: give the Alertmanager's base URL"
            ));
        }
        if url.path().contains("/api/") {
            return Err(format!(
                "`{value}` names an API path: give the Alertmanager's base URL, e.g. \"http://alertmanager-1:9093\"; cdnquota adds /api/v2/alerts"
            ));
        }
        if !url.path().ends_with('/') {
            let path = format!("{}/", url.path());
            url.set_path(&path);
        }
        Ok(AlertmanagerUrl(url))
    }

    /// The URL alerts are posted to.
    pub fn alerts_endpoint(&self) -> Url {
        // Joining a relative path onto a base that ends with `/` cannot fail.
        self.0.join("api/v2/alerts").unwrap_or_else(|_| self.0.clone())
    }

    /// The base URL as written in logs, metrics and the queue file.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// Whether it is plain http to a host other than this one.
    fn is_plain_remote(&self) -> bool {
        self.0.scheme() == "http" && !is_loopback(&self.0)
    }
}

impl Serialize for AlertmanagerUrl {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// The `[alertmanager]` section, checked.
#[derive(Clone, Debug, Serialize)]
pub struct AlertmanagerConfig {
    /// Every Alertmanager of the cluster, each pushed to on its own.
    pub urls: Vec<AlertmanagerUrl>,
    /// A firing alert is re-sent this often; it ends in Alertmanager after
    /// four of these without news.
    #[serde(serialize_with = "super::serialize_duration")]
    pub resend_interval: Duration,
    /// The `generatorURL` of every alert, e.g. this daemon's status page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_url: Option<String>,
    /// Labels added to every alert, e.g. `team = "cdn"`.
    pub labels: BTreeMap<String, String>,
    /// Bounds one push: connect, send and answer.
    #[serde(serialize_with = "super::serialize_duration")]
    pub timeout: Duration,
    /// First wait after a failed push; doubles up to `resend_interval`
    /// (at most 5 minutes).
    #[serde(serialize_with = "super::serialize_duration")]
    pub retry_backoff: Duration,
    /// A PEM file with the CA that signs the Alertmanagers' certificates;
    /// when set, only it is trusted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// A PEM client certificate, for Alertmanagers that ask for one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert_file: Option<PathBuf>,
    /// The PEM key of `cert_file`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
    /// Basic authentication user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Basic authentication password.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAlertmanager {
    #[serde(default)]
    urls: Vec<toml::Spanned<String>>,
    resend_interval: Option<PositiveDuration>,
    external_url: Option<toml::Spanned<String>>,
    #[serde(default)]
    labels: Option<toml::Spanned<BTreeMap<String, String>>>,
    timeout: Option<PositiveDuration>,
    retry_backoff: Option<PositiveDuration>,
    ca_file: Option<PathBuf>,
    cert_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
    username: Option<String>,
    password: Option<Secret>,
    password_file: Option<PathBuf>,
}

/// Whether `name` is a Prometheus label name cdnquota may add.
fn label_name_ok(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with("__")
}

impl RawAlertmanager {
    /// Checks the section; errors carry the span of the bad value when it
    /// has one, else the caller uses the section's.
    pub(super) fn resolve(self, resolver: &SecretResolver) -> Result<AlertmanagerConfig, Located> {
        let section = |m: String| (None, m);
        if self.urls.is_empty() {
            return Err(section(
                "[alertmanager] needs urls = [\"http://alertmanager-1:9093\", \"http://alertmanager-2:9093\"]: every Alertmanager of the cluster, not a load balancer".into(),
            ));
        }
        let mut urls: Vec<AlertmanagerUrl> = Vec::new();
        for raw in &self.urls {
            let url = AlertmanagerUrl::parse(raw.get_ref()).map_err(|m| (Some(raw.span()), m))?;
            if urls.contains(&url) {
                return Err((Some(raw.span()), format!("`{}` is listed twice", raw.get_ref())));
            }
            urls.push(url);
        }
        let external_url = match self.external_url {
            None => None,
            Some(u) => {
                let parsed = Url::parse(u.get_ref())
                    .ok()
                    .filter(|p| matches!(p.scheme(), "http" | "https"));
                if parsed.is_none() {
                    return Err((
                        Some(u.span()),
                        format!(
                            "external_url `{}` is not an http(s) URL: use this daemon's status page as others reach it, e.g. \"http://cdnquota-1.example.com:10787/\"",
                            u.get_ref()
                        ),
                    ));
                }
                Some(u.into_inner())
            }
        };
        let labels = match self.labels {
            None => BTreeMap::new(),
            Some(spanned) => {
                let span = spanned.span();
                let labels = spanned.into_inner();
                for (name, value) in &labels {
                    if RESERVED_LABELS.contains(&name.as_str()) {
                        return Err((
                            Some(span),
                            format!("label `{name}` is set by cdnquota itself: choose another name"),
                        ));
                    }
                    if !label_name_ok(name) {
                        return Err((
                            Some(span),
                            format!(
                                "`{name}` is not a label name: use letters, digits and _, not starting with a digit or __, e.g. team"
                            ),
                        ));
                    }
                    if value.is_empty() {
                        return Err((
                            Some(span),
                            format!("label `{name}` is empty: Alertmanager treats an empty label as absent"),
                        ));
                    }
                }
                labels
            }
        };
        let password = resolver
            .resolve(
                "alertmanager.password",
                self.password,
                self.password_file.as_deref(),
                ENV_ALERTMANAGER_PASSWORD,
            )
            .map_err(section)?
            .map(|(p, _)| p);
        if self.username.is_some() != password.is_some() {
            return Err(section(format!(
                "basic authentication needs both username and a password (password_file or {ENV_ALERTMANAGER_PASSWORD})"
            )));
        }
        if password.is_some()
            && let Some(plain) = urls.iter().find(|u| u.is_plain_remote())
        {
            return Err(section(format!(
                "`{}` is plain http to another host: the password would cross the network in the clear; use https",
                plain.as_str()
            )));
        }
        if self.cert_file.is_some() != self.key_file.is_some() {
            return Err(section("a client certificate needs both cert_file and key_file".into()));
        }
        let resend_interval = self.resend_interval.map_or(Duration::from_secs(60), |d| d.0);
        Ok(AlertmanagerConfig {
            urls,
            resend_interval,
            external_url,
            labels,
            timeout: self.timeout.map_or(Duration::from_secs(10), |d| d.0),
            retry_backoff: self.retry_backoff.map_or(Duration::from_secs(5), |d| d.0),
            ca_file: self.ca_file.map(|f| resolver.secret_path(&f)),
            cert_file: self.cert_file.map(|f| resolver.secret_path(&f)),
            key_file: self.key_file.map(|f| resolver.secret_path(&f)),
            username: self.username,
            password,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{ConfigError, Loaded, parse};
    use std::path::Path;
    use std::time::Duration;

    const ACCOUNT: &str = "[[accounts]]\nname = \"main\"\nsecret_id = \"AKIDexample0000000001\"\nsecret_key = \"k\"\n";

    fn load(section: &str, env: &[(&str, &str)]) -> Result<Loaded, ConfigError> {
        let vars: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let env = move |name: &str| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        parse(
            &format!("{ACCOUNT}{section}"),
            Path::new("/etc/cdnquota/cdnquota.toml"),
            &env,
        )
    }

    fn refused(section: &str) -> String {
        match load(section, &[]) {
            Ok(_) => panic!("accepted:\n{section}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn defaults_and_normalised_urls() {
        let c = load(
            "[alertmanager]\nurls = [\"http://am1:9093\", \"https://am2.example.com/prefix\"]\n",
            &[],
        )
        .unwrap()
        .config;
        let am = c.alertmanager.unwrap();
        assert_eq!(am.resend_interval, Duration::from_secs(60));
        assert_eq!(am.timeout, Duration::from_secs(10));
        assert_eq!(am.urls[0].as_str(), "http://am1:9093/");
        assert_eq!(
            am.urls[1].alerts_endpoint().as_str(),
            "https://am2.example.com/prefix/api/v2/alerts"
        );
        assert!(am.labels.is_empty() && am.external_url.is_none() && am.username.is_none());
    }

    #[test]
    fn labels_auth_and_tls_settings() {
        let c = load(
            "[alertmanager]\nurls = [\"https://am1:9093\"]\nresend_interval = \"30s\"\nexternal_url = \"http://cdnquota-1:10787/\"\nusername = \"cdnquota\"\nca_file = \"/etc/cdnquota/am-ca.pem\"\n[alertmanager.labels]\nteam = \"cdn\"\n",
            &[("CDNQUOTA_ALERTMANAGER_PASSWORD", "pw")],
        )
        .unwrap()
        .config;
        let am = c.alertmanager.clone().unwrap();
        assert_eq!(am.labels.get("team").map(String::as_str), Some("cdn"));
        assert_eq!(am.password.as_ref().map(|p| p.expose()), Some("pw"));
        assert_eq!(am.external_url.as_deref(), Some("http://cdnquota-1:10787/"));
        let shown = toml::to_string(&c).unwrap();
        assert!(shown.contains("[alertmanager]") && !shown.contains("\"pw\""), "{shown}");
    }

    #[test]
    fn bad_sections_are_refused_with_a_reason() {
        for (section, expected) in [
            ("[alertmanager]\n", "needs urls"),
            ("[alertmanager]\nurls = [\"am1:9093\"]\n", "use http or https"),
            (
                "[alertmanager]\nurls = [\"http://am1:9093/api/v2/alerts\"]\n",
                "cdnquota adds /api/v2/alerts",
            ),
            ("[alertmanager]\nurls = [\"http://u:p@am1:9093\"]\n", "password_file"),
            (
                "[alertmanager]\nurls = [\"http://am1:9093\", \"http://am1:9093/\"]\n",
                "listed twice",
            ),
            (
                "[alertmanager]\nurls = [\"http://am1:9093\"]\nlabels = { severity = \"page\" }\n",
                "set by cdnquota itself",
            ),
            (
                "[alertmanager]\nurls = [\"http://am1:9093\"]\nlabels = { \"1x\" = \"a\" }\n",
                "not a label name",
            ),
            (
                "[alertmanager]\nurls = [\"http://am1:9093\"]\nlabels = { team = \"\" }\n",
                "is empty",
            ),
            (
                "[alertmanager]\nurls = [\"http://am1:9093\"]\nusername = \"u\"\n",
                "needs both username and a password",
            ),
            (
                "[alertmanager]\nurls = [\"http://am1:9093\"]\nusername = \"u\"\npassword = \"p\"\n",
                "in the clear",
            ),
            (
                "[alertmanager]\nurls = [\"http://am1:9093\"]\ncert_file = \"c.pem\"\n",
                "both cert_file and key_file",
            ),
            (
                "[alertmanager]\nurls = [\"http://am1:9093\"]\nresend_interval = \"0s\"\n",
                "0 is not allowed",
            ),
            (
                "[alertmanager]\nurls = [\"http://am1:9093\"]\nexternal_url = \"status\"\n",
                "external_url",
            ),
        ] {
            let e = refused(section);
            assert!(e.contains(expected), "{section}: {e}");
            assert!(e.contains("alertmanager"), "names the section: {e}");
        }
    }

    #[test]
    fn basic_auth_over_plain_http_is_fine_on_loopback() {
        let c = load(
            "[alertmanager]\nurls = [\"http://127.0.0.1:9093\"]\nusername = \"u\"\npassword = \"p\"\n",
            &[],
        )
        .unwrap();
        assert!(c.inline_secrets.contains(&"alertmanager.password".to_string()));
    }
}
