//! The daemon's configuration: read from TOML, checked, with secrets
//! resolved from the environment, files or inline values.
//!
//! A bad file is refused with its path, line, key and what would be valid.

pub mod alertmanager;
pub mod http;
pub mod metrics;
pub mod notify;
pub mod order;
pub mod units;
pub mod values;

use cdnquota_core::settings::{
    AlertSettings, OrderMode, OrderRules, Thresholds, nonzero_bytes, nonzero_ratio, nonzero_span,
};
use notify::{EmailConfig, RawAlerts, RawEmail, SmtpTls, TransportKind, is_mailbox};
use order::RawOrder;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tencent_cdn_api::secret::{KeyId, Secret};
use tencent_cdn_api::settings::{ApiVersion, ClientSettings, Endpoint, HttpMethod, SignatureMethod};
use toml::Spanned;
use units::{ByteSize, HumanDuration, PositiveDuration};
use values::{AccountName, CronSchedule, ListenAddr, Ratio, UtcOffset};

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
    /// How the endpoints are served: the web config, if any.
    pub http: http::HttpConfig,
    /// The accounts to watch, each with its effective thresholds.
    pub accounts: Vec<Account>,
}

/// One Tencent Cloud account to watch.
#[derive(Clone, Debug, Serialize)]
pub struct Account {
    /// The account's label value.
    pub name: AccountName,
    /// Which API it is read through.
    pub api: ApiVersion,
    /// The API endpoint.
    pub endpoint: Endpoint,
    /// The key id (not secret, but shown shortened).
    pub secret_id: KeyId,
    /// The key.
    pub secret_key: Secret,
    /// Where the key came from, for `cdnquota config`.
    pub secret_key_source: String,
    /// API 3.0 only: the token of a temporary credential (`X-TC-Token`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_token: Option<Secret>,
    /// Signature method for v2 requests.
    pub signature_method: SignatureMethod,
    /// GET or POST.
    pub http_method: HttpMethod,
    /// Per-request timeout.
    #[serde(serialize_with = "serialize_duration")]
    pub timeout: Duration,
    /// Attempts for one poll, the first included.
    pub max_attempts: u32,
    /// Wait before the first retry (doubles each retry, capped at 30 s).
    #[serde(serialize_with = "serialize_duration")]
    pub retry_backoff: Duration,
    /// The largest API answer accepted, in bytes.
    #[serde(rename = "max_answer_size", serialize_with = "serialize_bytes")]
    pub max_answer_bytes: u64,
    /// The thresholds for this account (defaults merged with its overrides).
    pub thresholds: Thresholds,
    /// Ordering rules for this account (defaults merged with its overrides).
    pub order: OrderRules,
}

impl Account {
    /// What the API client needs of this account, reading times in `offset`.
    pub fn client_settings(&self, offset: chrono::FixedOffset) -> ClientSettings {
        ClientSettings {
            account: self.name.to_string(),
            api: self.api,
            endpoint: self.endpoint.clone(),
            secret_id: self.secret_id.clone(),
            secret_key: self.secret_key.clone(),
            session_token: self.session_token.clone(),
            signature_method: self.signature_method,
            http_method: self.http_method,
            timeout: self.timeout,
            max_attempts: self.max_attempts,
            retry_backoff: self.retry_backoff,
            max_answer_bytes: self.max_answer_bytes,
            utc_offset: offset,
        }
    }
}

fn serialize_duration<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    HumanDuration(*d).serialize(s)
}

fn serialize_bytes<S: serde::Serializer>(b: &u64, s: S) -> Result<S::Ok, S::Error> {
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

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ThresholdOverrides {
    remaining_bytes_below: Option<ByteSize>,
    remaining_ratio_below: Option<Ratio>,
    expires_within: Option<HumanDuration>,
    expiring_unused_above: Option<ByteSize>,
    depletion_within: Option<HumanDuration>,
}

impl ThresholdOverrides {
    fn apply(&self, base: Thresholds) -> Thresholds {
        Thresholds {
            remaining_bytes_below: self
                .remaining_bytes_below
                .map_or(base.remaining_bytes_below, |b| nonzero_bytes(b.0)),
            remaining_ratio_below: self
                .remaining_ratio_below
                .map_or(base.remaining_ratio_below, |r| nonzero_ratio(r.0)),
            expires_within: self.expires_within.map_or(base.expires_within, |d| nonzero_span(d.0)),
            expiring_unused_above: self.expiring_unused_above.map_or(base.expiring_unused_above, |b| b.0),
            depletion_within: self
                .depletion_within
                .map_or(base.depletion_within, |d| nonzero_span(d.0)),
        }
    }
}

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
    http: Option<Spanned<http::RawHttp>>,
    accounts: Option<Spanned<AccountList>>,
}

/// The `[[accounts]]` array. Its own type so that `[accounts]`, one table
/// where an array of tables is meant, is told how to write it rather than
/// getting serde's "invalid type: map, expected a sequence".
struct AccountList(Vec<RawAccount>);

impl<'de> Deserialize<'de> for AccountList {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Tables;
        impl<'de> serde::de::Visitor<'de> for Tables {
            type Value = AccountList;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("one [[accounts]] table per account")
            }

            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<AccountList, A::Error> {
                let mut accounts = Vec::new();
                while let Some(account) = seq.next_element()? {
                    accounts.push(account);
                }
                Ok(AccountList(accounts))
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(self, _map: A) -> Result<AccountList, A::Error> {
                Err(serde::de::Error::custom(
                    "[accounts] is a single table: write [[accounts]], with two brackets, above each account",
                ))
            }
        }
        d.deserialize_seq(Tables)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAccount {
    name: Spanned<AccountName>,
    #[serde(default)]
    api: ApiVersion,
    endpoint: Option<Endpoint>,
    secret_id: Option<String>,
    secret_id_file: Option<PathBuf>,
    secret_key: Option<Secret>,
    secret_key_file: Option<PathBuf>,
    session_token: Option<Secret>,
    session_token_file: Option<PathBuf>,
    signature_method: Option<Spanned<SignatureMethod>>,
    http_method: Option<Spanned<HttpMethod>>,
    timeout: Option<PositiveDuration>,
    max_attempts: Option<Spanned<u32>>,
    retry_backoff: Option<PositiveDuration>,
    max_answer_size: Option<ByteSize>,
    #[serde(default)]
    thresholds: ThresholdOverrides,
    #[serde(default)]
    order: Option<Spanned<RawOrder>>,
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
    let defaults = raw.thresholds.apply(Thresholds::default());
    let order_span = raw.order.as_ref().map(Spanned::span).unwrap_or_default();
    let order_defaults = match &raw.order {
        Some(o) => o
            .get_ref()
            .apply(&OrderRules::default())
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
        let name = ra.name.into_inner();
        let at = |message: String| located(Some(name_span.clone()), message);
        if !names.insert(name.clone()) {
            return Err(at(format!("account `{name}` is defined twice: names must be unique")));
        }
        let secret_id = resolver
            .resolve(
                "secret_id",
                ra.secret_id.map(Secret::new),
                ra.secret_id_file.as_deref(),
                ENV_SECRET_ID,
            )
            .map_err(&at)?
            .ok_or_else(|| {
                at(format!(
                    "account `{name}` has no secret_id: set secret_id, secret_id_file or {ENV_SECRET_ID}"
                ))
            })?;
        let (secret_key, secret_key_source) = resolver
            .resolve(
                "secret_key",
                ra.secret_key,
                ra.secret_key_file.as_deref(),
                ENV_SECRET_KEY,
            )
            .map_err(&at)?
            .ok_or_else(|| {
                at(format!(
                    "account `{name}` has no secret_key: set secret_key_file, {ENV_SECRET_KEY} or secret_key"
                ))
            })?;
        let session_token = match ra.api {
            ApiVersion::V3 => resolver
                .resolve(
                    "session_token",
                    ra.session_token,
                    ra.session_token_file.as_deref(),
                    ENV_SESSION_TOKEN,
                )
                .map_err(&at)?
                .map(|(token, _)| token),
            ApiVersion::V2 if ra.session_token.is_some() || ra.session_token_file.is_some() => {
                return Err(at("session_token applies to api = \"v3\" only".into()));
            }
            ApiVersion::V2 => None,
        };
        if ra.api == ApiVersion::V3 {
            // v3 has one way to sign and send; a v2 setting here is a mistake
            // the operator should hear about, not a silent no-op.
            for (key, span) in [
                ("signature_method", ra.signature_method.as_ref().map(Spanned::span)),
                ("http_method", ra.http_method.as_ref().map(Spanned::span)),
            ] {
                if let Some(span) = span {
                    return Err(located(
                        Some(span),
                        format!(
                            "{key} applies to api = \"v2\" only: API 3.0 always signs with TC3-HMAC-SHA256 and sends POST"
                        ),
                    ));
                }
            }
        }
        let order = match &ra.order {
            Some(o) => o
                .get_ref()
                .apply(&order_defaults)
                .map_err(|(span, m)| located(Some(span), m))?,
            None => order_defaults.clone(),
        };
        if let Some(r) = ra.order.as_ref().and_then(|o| o.get_ref().ordering_replica()) {
            return Err(located(
                Some(r.span()),
                "ordering_replica is set once, in [order]: one replica orders for every account".into(),
            ));
        }
        if ra.api == ApiVersion::V3 && order.mode != OrderMode::Off {
            // Point at whichever table turned ordering on for this account.
            let span = match &ra.order {
                Some(o) if o.get_ref().turns_on() => o.span(),
                _ => order_span.clone(),
            };
            return Err(located(
                Some(if span.is_empty() { name_span.clone() } else { span }),
                format!(
                    "account `{name}` uses api = \"v3\", which has no purchase action: set mode = \"off\" for it and place orders in the Tencent Cloud console"
                ),
            ));
        }
        let max_attempts = match ra.max_attempts {
            Some(n) if !(1..=10).contains(n.get_ref()) => {
                return Err(located(
                    Some(n.span()),
                    format!("max_attempts = {} is out of range: use 1 to 10", n.get_ref()),
                ));
            }
            Some(n) => n.into_inner(),
            None => 4,
        };
        accounts.push(Account {
            name,
            api: ra.api,
            endpoint: match ra.endpoint {
                Some(e) => e,
                None => ra.api.default_endpoint(),
            },
            secret_id: KeyId::new(secret_id.0.expose()),
            secret_key,
            secret_key_source,
            signature_method: ra.signature_method.map(Spanned::into_inner).unwrap_or_default(),
            http_method: ra.http_method.map(Spanned::into_inner).unwrap_or_default(),
            session_token,
            timeout: ra.timeout.map_or(Duration::from_secs(15), |d| d.0),
            max_attempts,
            retry_backoff: ra.retry_backoff.map_or(Duration::from_secs(1), |d| d.0),
            max_answer_bytes: ra.max_answer_size.map_or(ra.api.default_max_answer(), |b| b.0),
            thresholds: ra.thresholds.apply(defaults),
            order,
        });
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

type Located = (Option<std::ops::Range<usize>>, String);

/// Checks the `[email]` section; errors carry the span of the bad value
/// when it has one, else the section's.
fn resolve_email(raw: RawEmail, state_dir: &Path, resolver: &SecretResolver) -> Result<EmailConfig, Located> {
    let section = |m: String| (None, m);
    let password = resolver
        .resolve(
            "password",
            raw.password,
            raw.password_file.as_deref(),
            ENV_SMTP_PASSWORD,
        )
        .map_err(section)?
        .map(|(p, _)| p);
    let from = raw
        .from
        .ok_or_else(|| section("[email] needs from, e.g. from = \"cdnquota <alerts@example.com>\"".into()))?;
    if !is_mailbox(from.get_ref()) {
        return Err((
            Some(from.span()),
            format!(
                "`{}` is not a mail address, e.g. \"cdnquota <alerts@example.com>\"",
                from.get_ref()
            ),
        ));
    }
    if raw.to.is_empty() {
        return Err(section(
            "[email] needs to = [\"ops@example.com\"]: at least one recipient".into(),
        ));
    }
    if let Some(bad) = raw.to.iter().find(|t| !is_mailbox(t)) {
        return Err(section(format!("to: `{bad}` is not a mail address")));
    }
    let host = raw.host.unwrap_or_default();
    if raw.transport == TransportKind::Smtp {
        if host.is_empty() {
            return Err(section(
                "transport = \"smtp\" needs host, the relay to send through".into(),
            ));
        }
        if raw.username.is_some() != password.is_some() {
            return Err(section(
                "SMTP authentication needs both username and a password (password_file or CDNQUOTA_SMTP_PASSWORD)"
                    .into(),
            ));
        }
        let local = host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
        if raw.tls == SmtpTls::None && password.is_some() && !local {
            return Err(section(format!(
                "tls = \"none\" would send the SMTP password to {host} in the clear: use \"starttls\" or \"tls\""
            )));
        }
    }
    Ok(EmailConfig {
        transport: raw.transport,
        port: raw.port.unwrap_or(match raw.tls {
            SmtpTls::Starttls => 587,
            SmtpTls::Tls => 465,
            SmtpTls::None => 25,
        }),
        host,
        tls: raw.tls,
        ca_file: raw.ca_file,
        username: raw.username,
        password,
        timeout: raw.timeout.map_or(Duration::from_secs(30), |d| d.0),
        from: from.into_inner(),
        to: raw.to,
        folder: raw.folder.unwrap_or_else(|| state_dir.join("mail")),
        sendmail_command: raw
            .sendmail_command
            .unwrap_or_else(|| PathBuf::from("/usr/sbin/sendmail")),
        retry_backoff: raw.retry_backoff.map_or(Duration::from_secs(30), |d| d.0),
    })
}

struct SecretResolver<'a> {
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
