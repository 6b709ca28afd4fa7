//! The daemon's configuration: read from TOML, checked, with secrets
//! resolved from the environment, files or inline values.
//!
//! A bad file is refused with its path, line, key and what would be valid.

mod account;
pub mod alertmanager;
pub mod forecast;
pub mod http;
pub mod metrics;
pub mod notify;
pub mod order;
mod pricing;
mod thresholds;
pub mod units;
pub mod values;

use cdnquota_core::settings::{AlertSettings, OrderMode, OrderRules};
use notify::{EmailConfig, RawAlerts, RawEmail, resolve_email};
use order::RawOrder;

pub use account::Account;
use account::AccountList;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tencent_cdn_api::secret::Secret;
use thresholds::ThresholdOverrides;
use toml::Spanned;
use units::{ByteSize, HumanDuration};
use values::{CronSchedule, ListenAddr, UtcOffset};

/// Where `cdnquota` looks for its config when `-c` is not given.
pub const DEFAULT_PATH: &str = "/etc/cdnquota/cdnquota.toml";
/// Tencent's SDK convention for the key id.
pub const ENV_SECRET_ID: &str = "TENCENTCLOUD_SECRET_ID";
/// Tencent's SDK convention for the key.
pub const ENV_SECRET_KEY: &str = "TENCENTCLOUD_SECRET_KEY";
/// Tencent's SDK convention for a temporary credential's token.
pub const ENV_SESSION_TOKEN: &str = "TENCENTCLOUD_SESSION_TOKEN";
/// Where the SMTP password may come from instead of the config.
pub const ENV_SMTP_PASSWORD: &str = "CDNQUOTA_SMTP_PASSWORD";

/// The whole, checked configuration.
#[derive(Clone, Debug, Serialize)]
pub struct Config {
    /// When polls run (6-field cron, UTC).
    pub schedule: CronSchedule,
    /// Address of the metrics and health endpoints.
    pub listen: SocketAddr,
    /// Where durable state lives.
    pub state_dir: PathBuf,
    /// Whether each successful poll is recorded for `cdnquota backtest`.
    pub record_polls: bool,
    /// The zone of the API's zone-less times.
    pub api_utc_offset: UtcOffset,
    /// Text or JSON log lines.
    pub log_format: crate::logging::LogFormat,
    /// How alerts repeat and resolve.
    pub alerts: AlertSettings,
    /// How mail is sent; without it alerts are only logged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<EmailConfig>,
    /// The Alertmanagers alerts are pushed to, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alertmanager: Option<alertmanager::AlertmanagerConfig>,
    /// This daemon's name among replicas (default: the host name).
    pub replica_name: String,
    /// The one replica allowed to order, when named (`[order] ordering_replica`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ordering_replica: Option<String>,
    /// Which series `/metrics` exports.
    pub metrics: metrics::MetricsConfig,
    /// What packages and pay-as-you-go cost, per region.
    #[serde(serialize_with = "pricing::as_written")]
    pub pricing: cdnquota_core::pricing::PriceTable,
    /// The calendar the forecast reads.
    pub forecast: forecast::ForecastConfig,
    /// How the endpoints are served: the web config, if any.
    pub http: http::HttpConfig,
    /// The accounts to watch, each with its effective thresholds.
    pub accounts: Vec<Account>,
}

pub(super) fn serialize_duration<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    HumanDuration(*d).serialize(s)
}

pub(super) fn serialize_bytes<S: serde::Serializer>(b: &u64, s: S) -> Result<S::Ok, S::Error> {
    ByteSize(*b).serialize(s)
}

/// A config that could not be used, located in its file where possible.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    /// The config file.
    pub file: PathBuf,
    /// 1-based line of the offending value, if known.
    pub line: Option<usize>,
    /// The dotted key, e.g. `accounts[0].endpoint`, if known.
    pub key: Option<String>,
    /// What is wrong and what would be valid.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ": {key}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    schedule: Option<CronSchedule>,
    listen: Option<ListenAddr>,
    #[serde(default, deserialize_with = "non_empty_path")]
    state_dir: Option<PathBuf>,
    #[serde(default)]
    record_polls: bool,
    api_utc_offset: Option<UtcOffset>,
    #[serde(default)]
    log_format: crate::logging::LogFormat,
    #[serde(default)]
    thresholds: ThresholdOverrides,
    #[serde(default)]
    alerts: RawAlerts,
    order: Option<Spanned<RawOrder>>,
    email: Option<Spanned<RawEmail>>,
    alertmanager: Option<Spanned<alertmanager::RawAlertmanager>>,
    replica_name: Option<Spanned<String>>,
    #[serde(default)]
    metrics: metrics::MetricsConfig,
    #[serde(default)]
    pricing: pricing::RawPricing,
    forecast: Option<forecast::RawForecast>,
    http: Option<Spanned<http::RawHttp>>,
    accounts: Option<Spanned<AccountList>>,
}

/// A path that is not the empty string, which would put the state in the
/// working directory of whoever started the daemon.
fn non_empty_path<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<PathBuf>, D::Error> {
    let path = PathBuf::deserialize(d)?;
    if path.as_os_str().is_empty() {
        return Err(serde::de::Error::custom(
            "an empty path is not a directory: use an absolute path, e.g. \"/var/lib/cdnquota\"",
        ));
    }
    Ok(Some(path))
}

/// What the loader reads from the process: environment variables.
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process environment, for [`load`].
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// A loaded config and the warnings it deserves (logged by the caller).
pub struct Loaded {
    /// The checked config.
    pub config: Config,
    /// Things that work but should be fixed, e.g. an inline key in a
    /// world-readable file.
    pub warnings: Vec<String>,
    /// The secrets written inline in the file (e.g. `secret_key`), which
    /// make it a secret itself.
    pub inline_secrets: Vec<String>,
}

/// Reads and checks the config file at `path`.
pub fn load(path: &Path, env: Env) -> Result<Loaded, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: path.to_path_buf(),
        line: None,
        key: None,
        message: format!("cannot read the config file: {e}; pass the right one with -c FILE"),
    })?;
    let mut loaded = parse(&text, path, env)?;
    if !loaded.inline_secrets.is_empty() && readable_by_others(path) {
        loaded.warnings.push(format!(
            "{} holds {} inline and is readable by group or others: chmod 600 it, or move the secret to a *_file or the environment",
            path.display(),
            loaded.inline_secrets.join(", ")
        ));
    }
    Ok(loaded)
}

fn readable_by_others(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|m| m.permissions().mode() & 0o044 != 0)
        .unwrap_or(false)
}

/// Parses and checks config text; `path` is used in messages and to resolve
/// relative secret files.
pub fn parse(text: &str, path: &Path, env: Env) -> Result<Loaded, ConfigError> {
    let located = |span: Option<std::ops::Range<usize>>, message: String| {
        let (line, key) = span.map(|s| locate(text, s.start)).unwrap_or((None, None));
        ConfigError {
            file: path.to_path_buf(),
            line,
            key,
            message,
        }
    };
    let raw: RawConfig = toml::from_str(text).map_err(|e| located(e.span(), e.message().to_string()))?;

    let inline = std::cell::RefCell::new(Vec::new());
    let defaults = raw
        .thresholds
        .resolve_general()
        .map_err(|(span, m)| located(Some(span), m))?;
    let pricing = raw.pricing.resolve().map_err(|(span, m)| located(Some(span), m))?;
    let forecast = match raw.forecast {
        Some(f) => f.resolve().map_err(|(span, m)| located(Some(span), m))?,
        None => forecast::ForecastConfig::default(),
    };
    let order_span = raw.order.as_ref().map(Spanned::span).unwrap_or_default();
    let order_defaults = match &raw.order {
        Some(o) => o
            .get_ref()
            .apply(&OrderRules::default(), &pricing)
            .map_err(|(span, m)| located(Some(span), m))?,
        None => OrderRules::default(),
    };
    let base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let credentials_dir = env("CREDENTIALS_DIRECTORY").map(PathBuf::from);
    let no_accounts =
        "no accounts: add an [[accounts]] table for each account to watch, with its name, secret_id and secret_key";
    let Some(raw_accounts) = raw.accounts else {
        // Nothing to point at: the error is the file's, not its first key's.
        return Err(ConfigError {
            file: path.to_path_buf(),
            line: None,
            key: Some("accounts".into()),
            message: no_accounts.into(),
        });
    };
    let accounts_span = raw_accounts.span();
    let raw_accounts = raw_accounts.into_inner().0;
    if raw_accounts.is_empty() {
        return Err(located(Some(accounts_span), no_accounts.into()));
    }
    let account_defaults = account::Defaults {
        thresholds: defaults.clone(),
        threshold_tables: &raw.thresholds,
        order: &order_defaults,
        order_span: &order_span,
        prices: &pricing,
    };
    let mut accounts: Vec<Account> = Vec::with_capacity(raw_accounts.len());
    // A set, not a scan of the accounts so far: that was quadratic, half
    // of the time `config` took for 10,000 accounts.
    let mut names = std::collections::HashSet::with_capacity(raw_accounts.len());
    // One resolver for every secret: accounts, [email], [alertmanager].
    let resolver = SecretResolver {
        base_dir: &base_dir,
        credentials_dir: credentials_dir.as_deref(),
        env,
        inline: &inline,
    };
    for ra in raw_accounts {
        let name_span = ra.name.span();
        if !names.insert(ra.name.get_ref().clone()) {
            let name = ra.name.get_ref();
            return Err(located(
                Some(name_span),
                format!("account `{name}` is defined twice: names must be unique"),
            ));
        }
        accounts.push(account::resolve(ra, &account_defaults, &resolver, &located)?);
    }
    let state_dir = raw.state_dir.unwrap_or_else(|| PathBuf::from("/var/lib/cdnquota"));
    let http = match raw.http {
        None => http::HttpConfig::default(),
        Some(spanned) => {
            let span = spanned.span();
            spanned.into_inner().resolve(path).map_err(|m| located(Some(span), m))?
        }
    };
    let email = match raw.email {
        None => None,
        Some(spanned) => {
            let span = spanned.span();
            Some(
                resolve_email(spanned.into_inner(), &state_dir, &resolver)
                    .map_err(|(s, m)| located(Some(s.unwrap_or(span)), m))?,
            )
        }
    };
    let alertmanager = match raw.alertmanager {
        None => None,
        Some(spanned) => {
            let span = spanned.span();
            Some(
                spanned
                    .into_inner()
                    .resolve(&resolver)
                    .map_err(|(s, m)| located(Some(s.unwrap_or(span)), m))?,
            )
        }
    };
    let replica_name = match &raw.replica_name {
        Some(n) => order::check_replica_name(n.get_ref()).map_err(|m| located(Some(n.span()), m))?,
        None => crate::host::hostname(),
    };
    let ordering_replica = match raw.order.as_ref().and_then(|o| o.get_ref().ordering_replica()) {
        Some(r) => Some(order::check_replica_name(r.get_ref()).map_err(|m| located(Some(r.span()), m))?),
        None => None,
    };
    // Behind an Alertmanager cluster the daemon usually runs twice; two
    // replicas that both order live would buy every package twice.
    if alertmanager.is_some()
        && ordering_replica.is_none()
        && let Some(live) = accounts.iter().find(|a| a.order.mode == OrderMode::Live)
    {
        let span = if order_span.is_empty() {
            accounts_span.clone()
        } else {
            order_span.clone()
        };
        return Err(located(
            Some(span),
            format!(
                "account `{}` orders live and [alertmanager] is set, so replicas may run in pairs and both would order: name the one replica that orders with [order] ordering_replica = \"{replica_name}\" (this replica's name)",
                live.name
            ),
        ));
    }
    order::apply_replica(
        accounts.iter_mut().map(|a| &mut a.order),
        &replica_name,
        ordering_replica.as_deref(),
    );
    let config = Config {
        log_format: raw.log_format,
        alerts: raw.alerts.resolve(),
        email,
        alertmanager,
        replica_name,
        ordering_replica,
        metrics: raw.metrics,
        pricing,
        forecast,
        http,
        schedule: match raw.schedule {
            Some(s) => s,
            None => CronSchedule::every_ten_minutes(),
        },
        listen: raw
            .listen
            .map_or_else(|| SocketAddr::from(([127, 0, 0, 1], 10787)), |l| l.0),
        state_dir,
        record_polls: raw.record_polls,
        api_utc_offset: raw.api_utc_offset.unwrap_or_default(),
        accounts,
    };
    let mut inline_secrets = inline.into_inner();
    inline_secrets.sort();
    inline_secrets.dedup();
    Ok(Loaded {
        config,
        warnings: Vec::new(),
        inline_secrets,
    })
}

pub(super) type Located = (Option<std::ops::Range<usize>>, String);

pub(super) struct SecretResolver<'a> {
    base_dir: &'a Path,
    credentials_dir: Option<&'a Path>,
    env: Env<'a>,
    /// Records the secrets found inline, for the file-permission warning.
    inline: &'a std::cell::RefCell<Vec<String>>,
}

impl SecretResolver<'_> {
    /// Picks a secret: the config's own value or file first, then the env.
    fn resolve(
        &self,
        key: &str,
        inline: Option<Secret>,
        file: Option<&Path>,
        env_name: &str,
    ) -> Result<Option<(Secret, String)>, String> {
        match (inline, file) {
            (Some(_), Some(_)) => Err(format!("set either {key} or {key}_file, not both")),
            (Some(value), None) => {
                // A key id is not a secret; everything else written inline is.
                if key != "secret_id" {
                    self.inline.borrow_mut().push(key.to_string());
                }
                Ok(Some((value, "inline in the config file".into())))
            }
            (None, Some(file)) => {
                let path = self.secret_path(file);
                let value = std::fs::read_to_string(&path)
                    .map_err(|e| format!("cannot read {key}_file {}: {e}", path.display()))?;
                let value = value.trim_end_matches(['\n', '\r']).to_string();
                if value.trim().is_empty() {
                    return Err(format!("{key}_file {} is empty", path.display()));
                }
                Ok(Some((Secret::new(value), format!("file {}", path.display()))))
            }
            (None, None) => {
                Ok((self.env)(env_name).map(|v| (Secret::new(v), format!("environment variable {env_name}"))))
            }
        }
    }

    /// A relative secret file is looked up in systemd's credentials
    /// directory when there is one, else beside the config file.
    fn secret_path(&self, file: &Path) -> PathBuf {
        if file.is_absolute() {
            return file.to_path_buf();
        }
        match self.credentials_dir {
            Some(dir) => dir.join(file),
            None => self.base_dir.join(file),
        }
    }
}

/// Finds the 1-based line of byte `offset` and the dotted key written there
/// (with the table it sits in, `[[accounts]]` numbered from 0).
fn locate(text: &str, offset: usize) -> (Option<usize>, Option<String>) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line_no = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = text[line_start..].lines().next().unwrap_or_default();

    let mut table: Option<String> = None;
    let mut counts: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    // The offending line itself may be a table header (an error about a
    // whole section points there): it names the table, not the one before.
    let header_here = line.trim_start().starts_with('[').then_some(line);
    for l in text[..line_start].lines().chain(header_here) {
        let l = l.trim();
        if let Some(name) = l.strip_prefix("[[").and_then(|r| r.split("]]").next()) {
            let name = name.trim().to_string();
            let n = counts.entry(name.clone()).and_modify(|c| *c += 1).or_insert(0);
            table = Some(format!("{name}[{n}]"));
        } else if let Some(name) = l.strip_prefix('[').and_then(|r| r.split(']').next()) {
            let name = name.trim();
            // A sub-table of the current array entry, e.g. [accounts.thresholds].
            table = match (&table, name.split_once('.')) {
                (Some(t), Some((parent, child))) if t.starts_with(&format!("{parent}[")) => {
                    Some(format!("{}.{child}", t.split('.').next().unwrap_or(t)))
                }
                _ => Some(name.to_string()),
            };
        }
    }
    let key = line
        .split_once('=')
        .map(|(k, _)| k.trim().trim_matches('"').to_string())
        .filter(|k| !k.is_empty() && !k.starts_with('['));
    let full = match (table, key) {
        (Some(t), Some(k)) => Some(format!("{t}.{k}")),
        (None, Some(k)) => Some(k),
        (Some(t), None) => Some(t),
        (None, None) => None,
    };
    (Some(line_no), full)
}

#[cfg(test)]
mod tests;
