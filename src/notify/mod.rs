//! Telling people: after every poll the alert lifecycle decides what is news,
//! the news becomes one mail per poll, the mail waits in a durable outbox,
//! and a sender delivers it, retrying with backoff until the relay takes it.
//!
//! The order of work is what makes mail neither lost nor repeated: the
//! lifecycle and the queued mail are saved together, atomically, before any
//! delivery is tried; a mail leaves the outbox only once the relay accepted
//! it. A crash between acceptance and the save can send one mail twice, with
//! the same Message-ID; nothing can make one disappear.

pub mod outbox;
pub mod render;
pub mod transport;

use crate::config::Config;
use crate::config::notify::{AlertsConfig, EmailConfig};
use crate::core::alerts::{NoticeKind, PollResult};
use crate::core::assess::Assessment;
use crate::metrics::Metrics;
use crate::random::random_u64;
use crate::state::{State, StateFile};
use chrono::{DateTime, FixedOffset, Utc};
use outbox::OutboxMail;
use render::{MailContext, render};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{Notify, watch};
use transport::MailTransport;

/// What a poll of one account came to, for the lifecycle.
pub enum PollReport<'a> {
    /// Fetched and assessed; `extra` are findings beyond the pool's (orders).
    Succeeded {
        /// The assessment.
        assessment: &'a Assessment,
        /// More findings to feed the lifecycle.
        extra: &'a [crate::core::rules::Finding],
    },
    /// Failed; `last_good` is the latest successful assessment, if any.
    Failed {
        /// Why.
        error: &'a str,
        /// What the account looked like when last seen.
        last_good: Option<&'a Assessment>,
    },
}

/// The alerting shell: lifecycle state, outbox and mail transport.
pub struct Notifier {
    alerts: AlertsConfig,
    email: Option<EmailConfig>,
    transport: Option<MailTransport>,
    state: Mutex<State>,
    file: StateFile,
    metrics: Arc<Metrics>,
    hostname: String,
    offset: FixedOffset,
    started: DateTime<Utc>,
    wake: Notify,
    sending: tokio::sync::Mutex<()>,
}

/// This host's name, for the mail and its Message-IDs.
pub fn hostname() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

impl Notifier {
    /// Opens the state in `config.state_dir` and sets up the transport.
    pub fn new(config: &Config, metrics: Arc<Metrics>, now: DateTime<Utc>) -> Result<Notifier, String> {
        let opened = StateFile::open(&config.state_dir, now)?;
        if let Some((aside, why)) = &opened.moved_aside {
            tracing::error!(
                "the state file was unreadable ({why}); moved it to {} and started with no alert history: alerts may be sent again",
                aside.display()
            );
        }
        let transport = config.email.as_ref().map(MailTransport::new).transpose()?;
        match &config.email {
            Some(email) => tracing::info!(
                "alert mail goes to {} through {}",
                email.to.join(", "),
                MailTransport::describe(email)
            ),
            None => tracing::warn!("no [email] section: alerts are only logged, not mailed"),
        }
        let notifier = Notifier {
            alerts: config.alerts.clone(),
            email: config.email.clone(),
            transport,
            state: Mutex::new(opened.state),
            file: opened.file,
            metrics,
            hostname: hostname(),
            offset: config.api_utc_offset.0,
            started: now,
            wake: Notify::new(),
            sending: tokio::sync::Mutex::new(()),
        };
        notifier.publish(&notifier.lock());
        Ok(notifier)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn publish(&self, state: &State) {
        self.metrics.alerts.set_firing(&state.alerts.firing());
        self.metrics.alerts.set_outbox_pending(state.outbox.len());
    }

    fn save(&self, state: &State) {
        if let Err(e) = self.file.save(state) {
            tracing::error!(
                "cannot save the state to {}: {e}; alerts and queued mail survive only until a restart",
                self.file.path().display()
            );
        }
    }

    /// Moves the account's alerts on after a poll, queues the mail it calls
    /// for, saves, and wakes the sender.
    pub fn after_poll(&self, account: &str, report: PollReport, now: DateTime<Utc>) {
        let mut state = self.lock();
        let healthy_since = state.last_success.get(account).copied().unwrap_or(self.started);
        let all: Vec<crate::core::rules::Finding>;
        let (result, assessment) = match report {
            PollReport::Succeeded { assessment, extra } => {
                state.last_success.insert(account.to_string(), now);
                all = assessment.findings.iter().chain(extra).cloned().collect();
                (PollResult::Succeeded(&all), Some(assessment))
            }
            PollReport::Failed { error, last_good } => (PollResult::Failed(error), last_good),
        };
        let notices = state.alerts.step(account, result, healthy_since, &self.alerts, now);
        for n in &notices {
            let a = &n.alert;
            match n.kind {
                NoticeKind::Firing => {
                    tracing::warn!(account = %account, alert = %a.rule, "alert firing: {}", a.summary)
                }
                NoticeKind::Repeat => {
                    tracing::warn!(account = %account, alert = %a.rule, "alert still firing: {}", a.summary)
                }
                NoticeKind::Resolved => tracing::info!(account = %account, alert = %a.rule, "alert resolved"),
            }
        }
        if !notices.is_empty() && self.email.is_some() {
            let mail = render(&MailContext {
                account,
                notices: &notices,
                assessment,
                now,
                offset: self.offset,
                hostname: &self.hostname,
            });
            self.enqueue(&mut state, mail, now);
        }
        self.save(&state);
        self.publish(&state);
        drop(state);
        self.wake.notify_one();
    }

    /// Puts `mail` in the outbox with a Message-ID of its own; the caller
    /// saves the state.
    fn enqueue(&self, state: &mut State, mail: render::RenderedMail, now: DateTime<Utc>) {
        state.outbox.push(OutboxMail {
            message_id: format!("<{}.{:016x}@{}>", now.timestamp_millis(), random_u64(), self.hostname),
            created_at: now,
            subject: mail.subject,
            text: mail.text,
            html: mail.html,
            attempts: 0,
            next_attempt: now,
            last_error: None,
        });
    }

    /// Queues a one-off mail about an event (an order placed or failed),
    /// outside the alert lifecycle; without `[email]` it is only logged.
    pub fn send_event(&self, account: &str, subject: &str, body: &str, now: DateTime<Utc>) {
        tracing::warn!(account = %account, "{subject}");
        if self.email.is_none() {
            return;
        }
        let local = now.with_timezone(&self.offset);
        let text = format!(
            "cdnquota on {}, {} UTC ({} {})\nAccount: {account}\n\n{body}",
            self.hostname,
            now.format("%Y-%m-%d %H:%M"),
            local.format("%Y-%m-%d %H:%M"),
            self.offset
        );
        let html = format!(
            "<html><body style=\"font-family:sans-serif\"><pre>{}</pre></body></html>\n",
            render::escape_html(&text)
        );
        let mut state = self.lock();
        let mail = render::RenderedMail {
            subject: subject.to_string(),
            text,
            html,
        };
        self.enqueue(&mut state, mail, now);
        self.save(&state);
        self.publish(&state);
        drop(state);
        self.wake.notify_one();
    }

    /// Tries every mail that is due; returns how many are still queued.
    pub async fn deliver_due(&self) -> usize {
        let (Some(email), Some(transport)) = (&self.email, &self.transport) else {
            return 0;
        };
        // One delivery round at a time, so no mail is sent twice in parallel.
        let _round = self.sending.lock().await;
        let now = Utc::now();
        let due: Vec<OutboxMail> = self.lock().outbox.iter().filter(|m| m.due(now)).cloned().collect();
        for mail in due {
            let result = transport.send(email, &mail).await;
            let mut state = self.lock();
            let outcome = match &result {
                Ok(()) => {
                    tracing::info!("mailed \"{}\" {}", mail.subject, mail.message_id);
                    state.outbox.retain(|m| m.message_id != mail.message_id);
                    "sent"
                }
                Err(e) if e.permanent => {
                    tracing::error!(
                        "the mail server refused \"{}\" for good: {e}; it is dropped",
                        mail.subject
                    );
                    state.outbox.retain(|m| m.message_id != mail.message_id);
                    "rejected"
                }
                Err(e) => {
                    if let Some(queued) = state.outbox.iter_mut().find(|m| m.message_id == mail.message_id) {
                        queued.failed(e.message.clone(), email.retry_backoff, Utc::now());
                        tracing::warn!(
                            "mailing \"{}\" failed (attempt {}): {e}; next try at {} UTC",
                            mail.subject,
                            queued.attempts,
                            queued.next_attempt.format("%H:%M:%S")
                        );
                    }
                    "failed"
                }
            };
            self.metrics.alerts.notification(outcome);
            self.save(&state);
            self.publish(&state);
        }
        self.lock().outbox.len()
    }

    /// When the next queued mail is due, if any.
    fn next_due(&self) -> Option<DateTime<Utc>> {
        self.lock().outbox.iter().map(|m| m.next_attempt).min()
    }

    /// Delivers mail until `stop` turns true: after every poll that queued
    /// some, and whenever a retry falls due.
    pub async fn run_sender(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        loop {
            self.deliver_due().await;
            let wait = self
                .next_due()
                .map(|t| (t - Utc::now()).to_std().unwrap_or_default())
                .unwrap_or(Duration::from_secs(3600))
                .max(Duration::from_millis(50));
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.wake.notified() => {}
                _ = stop.changed() => return,
            }
        }
    }
}
