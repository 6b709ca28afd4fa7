//! The `[alerts]` and `[email]` sections: how alerts repeat and resolve, and
//! how mail leaves the host.

use super::units::{HumanDuration, PositiveDuration};
use super::{ENV_SMTP_PASSWORD, Located, SecretResolver};
use cdnquota_core::settings::{AlertSettings, span_of};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tencent_cdn_api::secret::Secret;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAlerts {
    repeat_interval: Option<PositiveDuration>,
    send_resolved: Option<bool>,
    poll_failure_after: Option<HumanDuration>,
}

impl RawAlerts {
    pub(super) fn resolve(self) -> AlertSettings {
        let d = AlertSettings::default();
        AlertSettings {
            repeat_interval: self.repeat_interval.map_or(d.repeat_interval, |x| span_of(x.0)),
            send_resolved: self.send_resolved.unwrap_or(d.send_resolved),
            poll_failure_after: self.poll_failure_after.map_or(d.poll_failure_after, |x| span_of(x.0)),
        }
    }
}

/// How mail is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum TransportKind {
    /// An SMTP relay.
    #[default]
    Smtp,
    /// The local `sendmail` program.
    Sendmail,
    /// `.eml` files in a folder.
    File,
    /// Printed to standard output (the demo).
    Stdout,
}

/// How the SMTP connection is secured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS (required, not opportunistic).
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption: only for a relay on this host.
    None,
}

/// The `[email]` section, checked.
#[derive(Clone, Debug, Serialize)]
pub struct EmailConfig {
    /// How mail leaves.
    pub transport: TransportKind,
    /// SMTP relay host.
    pub host: String,
    /// SMTP port.
    pub port: u16,
    /// SMTP security.
    pub tls: SmtpTls,
    /// A PEM file with the CA that signs the relay's certificate; when set,
    /// only it is trusted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// SMTP user, if the relay wants authentication.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// SMTP password.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
    /// Connection and command timeout.
    #[serde(serialize_with = "super::serialize_duration")]
    pub timeout: Duration,
    /// The sender, e.g. `cdnquota <alerts@example.com>`.
    pub from: String,
    /// The recipients.
    pub to: Vec<String>,
    /// Where the `file` transport writes.
    pub folder: PathBuf,
    /// The `sendmail` program.
    pub sendmail_command: PathBuf,
    /// First wait before retrying an undelivered mail; doubles up to an hour.
    #[serde(serialize_with = "super::serialize_duration")]
    pub retry_backoff: Duration,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEmail {
    #[serde(default)]
    pub(super) transport: TransportKind,
    pub(super) host: Option<String>,
    pub(super) port: Option<u16>,
    #[serde(default)]
    pub(super) tls: SmtpTls,
    pub(super) ca_file: Option<PathBuf>,
    pub(super) username: Option<String>,
    pub(super) password: Option<Secret>,
    pub(super) password_file: Option<PathBuf>,
    pub(super) timeout: Option<PositiveDuration>,
    pub(super) from: Option<toml::Spanned<String>>,
    #[serde(default)]
    pub(super) to: Vec<String>,
    pub(super) folder: Option<PathBuf>,
    pub(super) sendmail_command: Option<PathBuf>,
    pub(super) retry_backoff: Option<PositiveDuration>,
}

/// Whether `text` looks like a mailbox: `name <user@host>` or `user@host`.
pub fn is_mailbox(text: &str) -> bool {
    text.parse::<lettre::message::Mailbox>().is_ok()
}

/// Checks the `[email]` section; errors carry the span of the bad value
/// when it has one, else the section's.
pub(super) fn resolve_email(
    raw: RawEmail,
    state_dir: &Path,
    resolver: &SecretResolver,
) -> Result<EmailConfig, Located> {
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
