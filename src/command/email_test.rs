//! `cdnquota email-test`: one test mail through the configured transport.

use crate::alerting::email::outbox::OutboxMail;
use crate::alerting::email::transport::MailTransport;
use crate::random::random_u64;
use chrono::Utc;
use std::path::Path;
use std::process::ExitCode;

/// Sends a test mail; exit 0 when the transport accepted it, 1 otherwise,
/// with the server's answer.
pub fn email_test(path: &Path) -> ExitCode {
    crate::logging::init();
    let Some(config) = super::load_config(path) else {
        return ExitCode::from(1);
    };
    let Some(email) = config.email else {
        eprintln!(
            "cdnquota: {} has no [email] section: add one to send alert mail",
            path.display()
        );
        return ExitCode::from(1);
    };
    let runtime = match super::runtime() {
        Ok(r) => r,
        Err(code) => return code,
    };
    runtime.block_on(async {
        let transport = match MailTransport::new(&email) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("cdnquota: {e}");
                return ExitCode::from(1);
            }
        };
        let host = crate::host::hostname();
        let now = Utc::now();
        let text = format!(
            "This is a test mail from cdnquota on {host}, sent {} UTC by `cdnquota email-test`.\nAlert mail will arrive this way.\n",
            now.format("%Y-%m-%d %H:%M:%S")
        );
        let mail = OutboxMail {
            message_id: format!("<test.{}.{:016x}@{host}>", now.timestamp_millis(), random_u64()),
            created_at: now,
            subject: format!("[TEST] cdnquota on {host}: mail works"),
            html: format!("<html><body><p>{}</p></body></html>\n", text.replace('\n', "<br>")),
            text,
            attempts: 0,
            next_attempt: now,
            last_error: None,
        };
        let via = MailTransport::describe(&email);
        match transport.send(&email, &mail).await {
            Ok(()) => {
                println!("sent a test mail to {} through {via}", email.to.join(", "));
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("cdnquota: sending through {via} failed: {e}");
                ExitCode::from(1)
            }
        }
    })
}
