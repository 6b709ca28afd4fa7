//! Sending one mail: SMTP (STARTTLS, TLS or plain, optional auth), the local
//! `sendmail`, `.eml` files in a folder, or standard output. Errors say
//! whether trying again can help: only a 5xx refusal of the mail itself
//! (see [`refuses_the_message`]) is final; the rest (a refused login or
//! sender, TLS, connection refused, time-outs, 4xx) are worth another
//! attempt, since fixing the config or the relay makes them work.

use super::outbox::OutboxMail;
use crate::alerting::delivery::DeliveryError;
use crate::config::notify::{EmailConfig, SmtpTls, TransportKind};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
use lettre::{AsyncFileTransport, AsyncSendmailTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::fmt;

/// A configured way to send mail.
pub enum MailTransport {
    /// An SMTP relay.
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    /// The local sendmail program.
    Sendmail(AsyncSendmailTransport<Tokio1Executor>),
    /// `.eml` files.
    File(AsyncFileTransport<Tokio1Executor>),
    /// Standard output.
    Stdout,
}

/// The error and its sources on one line, without the repeats lettre's
/// nested errors produce ("Connection error: Connection error: ...").
fn describe_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let next = s.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = s.source();
    }
    let mut parts: Vec<&str> = text.split(": ").collect();
    parts.dedup();
    let mut line = parts.join(": ");
    if line.contains("certificate") {
        line.push_str("; check ca_file, and that the server's certificate is issued for the configured host");
    }
    line
}

impl MailTransport {
    /// Sets up the transport `config` names.
    pub fn new(config: &EmailConfig) -> Result<MailTransport, String> {
        crate::tls::install_crypto_provider();
        Ok(match config.transport {
            TransportKind::Smtp => {
                let tls = match config.tls {
                    SmtpTls::None => Tls::None,
                    SmtpTls::Starttls => Tls::Required(tls_parameters(config)?),
                    SmtpTls::Tls => Tls::Wrapper(tls_parameters(config)?),
                };
                let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(config.host.as_str())
                    .port(config.port)
                    .tls(tls)
                    .timeout(Some(config.timeout));
                if let (Some(user), Some(password)) = (&config.username, &config.password) {
                    builder = builder.credentials(Credentials::new(user.clone(), password.expose().to_string()));
                }
                MailTransport::Smtp(builder.build())
            }
            TransportKind::Sendmail => {
                MailTransport::Sendmail(AsyncSendmailTransport::new_with_command(&config.sendmail_command))
            }
            TransportKind::File => {
                std::fs::create_dir_all(&config.folder)
                    .map_err(|e| format!("cannot create the mail folder {}: {e}", config.folder.display()))?;
                MailTransport::File(AsyncFileTransport::new(&config.folder))
            }
            TransportKind::Stdout => MailTransport::Stdout,
        })
    }

    /// Where mail goes, for messages.
    pub fn describe(config: &EmailConfig) -> String {
        match config.transport {
            TransportKind::Smtp => format!("smtp {}:{} ({:?})", config.host, config.port, config.tls).to_lowercase(),
            TransportKind::Sendmail => format!("sendmail {}", config.sendmail_command.display()),
            TransportKind::File => format!("files in {}", config.folder.display()),
            TransportKind::Stdout => "standard output".into(),
        }
    }

    /// Sends `mail` to the configured recipients, the whole delivery bounded
    /// by `config.timeout`: lettre's own timeout covers the connection only,
    /// and a relay that accepts it and then stalls must not hold up all mail.
    pub async fn send(&self, config: &EmailConfig, mail: &OutboxMail) -> Result<(), DeliveryError> {
        let message = build_message(config, mail)?;
        match tokio::time::timeout(config.timeout, self.deliver(config, mail, message)).await {
            // Redacted whole, then cut: a credential cut in half would no
            // longer match, and its first half would show.
            Ok(result) => result.map_err(|e| e.map_message(|m| cap(&redact(config, &m)))),
            Err(_) => Err(DeliveryError::Failed(format!(
                "the delivery did not finish within timeout = {}: the mail server stalled; it is retried with backoff",
                cdnquota_core::units::format_span(config.timeout)
            ))),
        }
    }

    async fn deliver(&self, config: &EmailConfig, mail: &OutboxMail, message: Message) -> Result<(), DeliveryError> {
        match self {
            MailTransport::Smtp(t) => t.send(message).await.map(drop).map_err(|e| {
                let message = describe_chain(&e);
                let code = e.status().map(|c| c.to_string()).unwrap_or_default();
                if e.is_permanent() && refuses_the_message(&code, &message, &config.to) {
                    return DeliveryError::Refused(message);
                }
                let message = if e.is_permanent() {
                    format!(
                        "{message}; the mail stays in the outbox: the relay refused the [email] settings (username, password, from, tls), not the mail; fix them and reload"
                    )
                } else {
                    message
                };
                DeliveryError::Failed(message)
            }),
            MailTransport::Sendmail(t) => t.send(message).await.map(drop).map_err(|e| DeliveryError::Failed(describe_chain(&e))),
            MailTransport::File(t) => t.send(message).await.map(drop).map_err(|e| DeliveryError::Failed(describe_chain(&e))),
            MailTransport::Stdout => {
                println!(
                    "---- mail {} to {} ----\nSubject: {}\n\n{}---- end of mail ----",
                    mail.message_id,
                    config.to.join(", "),
                    mail.subject,
                    mail.text
                );
                Ok(())
            }
        }
    }
}

/// Whether a relay's permanent (5xx) refusal is of this mail itself, so
/// that sending it again can never work: it is too big (552, 5.2.3,
/// 5.3.4), its content is refused (5.6.x), or a recipient is (5.1.1-5.1.3,
/// 5.1.6, 5.1.10, 5.2.x, or a 550/551/553/554 that names one of `to`).
/// Everything else, authentication (535), the sender (5.1.7, 5.1.8), TLS
/// and policy (5.7.x), or a refusal that says nothing, means the settings
/// are wrong: that mail is held, since a fixed config will send it.
pub fn refuses_the_message(code: &str, text: &str, to: &[String]) -> bool {
    let enhanced = text
        .split(|c: char| c.is_whitespace() || c == ':' || c == '(' || c == ')')
        .find(|w| {
            let mut parts = w.split('.');
            parts.next() == Some("5")
                && parts
                    .next()
                    .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
                && parts
                    .next()
                    .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
                && parts.next().is_none()
        })
        .unwrap_or_default();
    if enhanced.starts_with("5.7.") || matches!(code, "530" | "534" | "535" | "538") {
        return false;
    }
    if code == "552" || enhanced.starts_with("5.2.") || enhanced.starts_with("5.6.") || enhanced == "5.3.4" {
        return true;
    }
    if matches!(enhanced, "5.1.1" | "5.1.2" | "5.1.3" | "5.1.6" | "5.1.10") {
        return true;
    }
    let lower = text.to_ascii_lowercase();
    let names_a_recipient = to.iter().any(|r| {
        let address = r.rsplit_once('<').map_or(r.as_str(), |(_, a)| a.trim_end_matches('>'));
        let address = address.trim().to_ascii_lowercase();
        !address.is_empty() && lower.contains(&address)
    });
    matches!(code, "550" | "551" | "553" | "554") && names_a_recipient
}

/// The most of a server's answer kept in an error: enough to diagnose, not
/// enough for a hostile relay to flood logs, the state file and the mail.
const MAX_ERROR_CHARS: usize = 300;

fn cap(text: &str) -> String {
    cdnquota_core::text::truncate_chars(text, MAX_ERROR_CHARS)
}

/// Removes the credentials from a server's answer: a relay may echo the
/// AUTH exchange, which carries them in base64 (PLAIN and LOGIN).
fn redact(config: &EmailConfig, text: &str) -> String {
    use base64::Engine;
    let (Some(user), Some(password)) = (&config.username, &config.password) else {
        return text.to_string();
    };
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let password = password.expose();
    let mut forms = [
        b64(&format!("\0{user}\0{password}")),
        b64(&format!("{user}\0{user}\0{password}")),
        b64(password),
        password.to_string(),
    ];
    // Longest first, so a form containing another is replaced whole.
    forms.sort_by_key(|f| std::cmp::Reverse(f.len()));
    let mut out = text.to_string();
    for form in forms.iter().filter(|f| f.len() >= 4) {
        // Padding may be dropped or the answer cut: match without it too.
        for variant in [form.as_str(), form.trim_end_matches('=')] {
            out = out.replace(variant, "[redacted]");
        }
    }
    out
}

fn tls_parameters(config: &EmailConfig) -> Result<TlsParameters, String> {
    let mut builder = TlsParameters::builder(config.host.clone());
    if let Some(path) = &config.ca_file {
        let pem = std::fs::read(path).map_err(|e| format!("cannot read ca_file {}: {e}", path.display()))?;
        let cert = Certificate::from_pem(&pem)
            .map_err(|e| format!("ca_file {} is not a PEM certificate: {e}", path.display()))?;
        // With a CA file, trust that CA alone: it is what the operator named.
        builder = builder
            .certificate_store(CertificateStore::None)
            .add_root_certificate(cert);
    }
    // Without a ca_file the system's CA certificates are used: a TLS error
    // now means there are none.
    let system_roots = config.ca_file.is_none();
    builder
        .build_rustls()
        .map_err(|e| match crate::tls::tls_setup_cause(&e) {
            Some(cause) if system_roots => format!(
                "cannot set up TLS for {}: the system's CA certificates are missing, so the relay's certificate \
             cannot be verified ({cause}): {}, or name the relay's CA with ca_file",
                config.host,
                crate::tls::MISSING_CA_ADVICE
            ),
            _ => format!("cannot set up TLS for {}: {e}", config.host),
        })
}

fn build_message(config: &EmailConfig, mail: &OutboxMail) -> Result<Message, DeliveryError> {
    let bad = |what: &str, e: &dyn fmt::Display| DeliveryError::Refused(format!("{what}: {e}"));
    let from: Mailbox = config.from.parse().map_err(|e| bad("from", &e))?;
    let mut builder = Message::builder()
        .from(from)
        .subject(mail.subject.clone())
        .message_id(Some(mail.message_id.clone()))
        .date(mail.created_at.into());
    for to in &config.to {
        builder = builder.to(to.parse::<Mailbox>().map_err(|e| bad("to", &e))?);
    }
    builder
        .multipart(MultiPart::alternative_plain_html(mail.text.clone(), mail.html.clone()))
        .map_err(|e| bad("building the mail", &e))
}

#[cfg(test)]
mod tests {
    use super::refuses_the_message;

    #[test]
    fn only_a_refusal_of_the_mail_itself_drops_it() {
        let to = ["Ops <ops@example.com>".to_string()];
        for (code, text) in [
            ("552", "permanent error (552): 5.3.4 message too big"),
            ("554", "permanent error (554): 5.6.0 content rejected"),
            ("550", "permanent error (550): 5.1.1 user unknown"),
            ("550", "permanent error (550): <OPS@example.com>: no such user"),
        ] {
            assert!(refuses_the_message(code, text, &to), "{text}");
        }
        for (code, text) in [
            ("535", "permanent error (535): 5.7.8 authentication failed"),
            ("530", "permanent error (530): must issue a STARTTLS command first"),
            (
                "553",
                "permanent error (553): 5.1.8 <alerts@example.com>: sender address rejected",
            ),
            (
                "554",
                "permanent error (554): 5.7.1 <ops@example.com>: relay access denied",
            ),
            ("550", "permanent error (550): mailbox unavailable"),
        ] {
            assert!(!refuses_the_message(code, text, &to), "{text}");
        }
    }
}
