//! Telling people: after every poll the alert lifecycle decides what is news,
//! the news becomes one mail per poll, the mail waits in a durable outbox,
//! and a sender delivers it, retrying with backoff until the relay takes it.
//!
//! The order of work is what makes mail neither lost nor repeated: the
//! lifecycle and the queued mail are saved together, atomically, before any
//! delivery is tried; a mail leaves the outbox only once the relay accepted
//! it. A crash between acceptance and the save can send one mail twice, with
//! the same Message-ID; nothing can make one disappear.
//!
//! This file is the lifecycle's shell, the [`Notifier`]; its sinks are
//! [`email`] (the outbox and the transports) and [`alertmanager`] (the same
//! alerts pushed to an Alertmanager cluster); [`mod@render`] writes an alert's
//! text for both.

pub mod alertmanager;
pub mod delivery;
pub mod email;
pub mod render;

use crate::config::Config;
use crate::config::notify::EmailConfig;
use crate::metrics::Metrics;
use crate::random::random_u64;
use crate::state::{State, StateFile};
use alertmanager::{Pusher, UrlHealth};
use cdnquota_core::account::AccountAssessment;
use cdnquota_core::alerts::{NoticeKind, PollResult};
use cdnquota_core::settings::AlertSettings;
use chrono::{DateTime, FixedOffset, TimeDelta, Utc};
use email::outbox::OutboxMail;
use email::transport::MailTransport;
use render::{MailContext, render};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// What a poll of one account came to, for the lifecycle.
pub enum PollReport<'a> {
    /// Fetched and assessed; `extra` are findings beyond the pool's (orders).
    Succeeded {
        /// The assessment of every pool.
        assessment: &'a AccountAssessment,
        /// More findings to feed the lifecycle.
        extra: &'a [cdnquota_core::rules::Finding],
    },
    /// Failed; `last_good` is the latest successful assessment, if any.
    Failed {
        /// Why.
        error: &'a str,
        /// What the account looked like when last seen.
        last_good: Option<&'a AccountAssessment>,
    },
}

/// What the status page shows of mail and state health.
#[derive(Clone, Debug, Default)]
pub struct NotifierHealth {
    /// Mails waiting in the outbox.
    pub outbox_pending: usize,
    /// The latest failed delivery: when, and why.
    pub last_failure: Option<(DateTime<Utc>, String)>,
    /// Failed deliveries since start (each mail stays queued).
    pub failures: u64,
    /// The latest mail the relay refused for good: when, its subject, why.
    pub last_dropped: Option<(DateTime<Utc>, String, String)>,
    /// Why the state is not being saved, while it is not.
    pub unsaved: Option<String>,
}

/// The alerting shell: lifecycle state, outbox and mail transport.
pub struct Notifier {
    alerts: AlertSettings,
    email: Option<EmailConfig>,
    transport: Option<MailTransport>,
    state: Mutex<State>,
    file: StateFile,
    metrics: Arc<Metrics>,
    hostname: String,
    offset: FixedOffset,
    started_mono: Instant,
    wake: Notify,
    sending: tokio::sync::Mutex<()>,
    // Set at stop: the delivery under way finishes, no new one starts, so a
    // reload's new notifier never finds a mail that is still being sent.
    stopping: AtomicBool,
    health: Mutex<Health>,
    // When each account last polled well, exactly, with the same moment on
    // the monotonic clock; `State::last_success` holds a coarser copy for
    // the disk.
    live_success: Mutex<std::collections::HashMap<String, (DateTime<Utc>, Instant)>>,
    // Pushes the lifecycle's alerts to Alertmanager, when configured.
    alertmanager: Option<Arc<Pusher>>,
    // Deliveries that ended after the stop: not applied to this state, which
    // the next notifier (or the stop itself) may already own.
    handed: Mutex<Vec<Handed>>,
}

/// A delivery that ended after its sender was told to stop.
struct Handed {
    message_id: String,
    subject: String,
    result: Result<(), delivery::DeliveryError>,
}

#[derive(Default)]
struct Health {
    last_failure: Option<(DateTime<Utc>, String)>,
    failures: u64,
    last_dropped: Option<(DateTime<Utc>, String, String)>,
    unsaved: Option<String>,
    unsaved_logged_at: Option<DateTime<Utc>>,
}

/// While the state cannot be saved, the error is logged again this often.
const UNSAVED_REMINDER: chrono::TimeDelta = chrono::TimeDelta::hours(1);

impl Notifier {
    /// Opens the state in `config.state_dir` and sets up the transport. A
    /// state that cannot be read or saved is no reason to stop watching:
    /// the daemon then runs from memory and says so loudly.
    pub fn new(config: &Config, metrics: Arc<Metrics>, now: DateTime<Utc>) -> Result<Notifier, String> {
        let opened = StateFile::open(&config.state_dir, now);
        if let Some((aside, why)) = &opened.moved_aside {
            tracing::error!(
                "the state file was unreadable ({why}); moved it to {} and started with no alert history: alerts may be sent again",
                aside.display()
            );
        }
        let mut health = Health::default();
        if let Some(why) = &opened.unsaved {
            tracing::error!("{why}; the alert state and queued mail are NOT being saved: a restart forgets them");
            health.unsaved = Some(why.clone());
            health.unsaved_logged_at = Some(now);
        }
        let transport = config.email.as_ref().map(MailTransport::new).transpose()?;
        let alertmanager = match &config.alertmanager {
            Some(am) => Some(Arc::new(Pusher::new(
                am,
                &config.state_dir,
                &opened.state.alerts,
                metrics.clone(),
                now,
            )?)),
            None => None,
        };
        match &config.email {
            Some(email) => tracing::info!(
                "alert mail goes to {} through {}",
                email.to.join(", "),
                MailTransport::describe(email)
            ),
            None if alertmanager.is_some() => tracing::info!("no [email] section: alerts go to Alertmanager only"),
            None => tracing::warn!("no [email] section: alerts are only logged, not mailed"),
        }
        let mut state = opened.state;
        // Mail left queued by the last run, or by the config this one
        // replaces, is tried once at start: the backoff it saved was about
        // a relay or settings that may be fixed by now.
        for mail in &mut state.outbox {
            mail.next_attempt = mail.next_attempt.min(now);
        }
        let notifier = Notifier {
            alerts: config.alerts.clone(),
            email: config.email.clone(),
            transport,
            state: Mutex::new(state),
            file: opened.file,
            metrics,
            hostname: crate::host::hostname(),
            offset: config.api_utc_offset.0,
            started_mono: Instant::now(),
            wake: Notify::new(),
            sending: tokio::sync::Mutex::new(()),
            stopping: AtomicBool::new(false),
            health: Mutex::new(health),
            live_success: Mutex::new(Default::default()),
            alertmanager,
            handed: Mutex::new(Vec::new()),
        };
        notifier.publish(&notifier.lock());
        notifier.metrics.alerts.set_state_saved(opened.unsaved.is_none());
        Ok(notifier)
    }

    fn health_lock(&self) -> MutexGuard<'_, Health> {
        self.health.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether `rule` is pending or firing for `account`.
    pub fn is_active(&self, account: &str, rule: &str) -> bool {
        self.lock().alerts.is_active(account, rule)
    }

    /// The pools of `account` whose DepletionForecast (or its HTTPS
    /// namesake) is pending or firing.
    pub fn depletion_active(&self, account: &str) -> Vec<cdnquota_core::model::PoolKey> {
        use cdnquota_core::rules::Rule;
        self.lock()
            .alerts
            .alerts
            .values()
            .filter(|a| a.account == account)
            .filter(|a| a.rule == Rule::DepletionForecast.name() || a.rule == Rule::HttpsDepletionForecast.name())
            .filter_map(|a| a.pool())
            .collect()
    }

    /// Mail and state health, for the status page.
    pub fn health(&self) -> NotifierHealth {
        let outbox_pending = self.lock().outbox.len();
        let h = self.health_lock();
        NotifierHealth {
            outbox_pending,
            last_failure: h.last_failure.clone(),
            failures: h.failures,
            last_dropped: h.last_dropped.clone(),
            unsaved: h.unsaved.clone(),
        }
    }

    /// Every pending and firing alert, for the status page: one lock, a
    /// copy, nothing written.
    pub fn active_alerts(&self) -> Vec<cdnquota_core::alerts::Alert> {
        self.lock().alerts.alerts.values().cloned().collect()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn publish(&self, state: &State) {
        self.metrics.alerts.set_firing(&state.alerts.firing());
        let oldest = state.outbox.iter().map(|m| m.created_at).min();
        self.metrics.alerts.set_outbox(state.outbox.len(), oldest);
    }

    /// Saves the state if it changed. A failure is logged when it starts,
    /// then hourly while it lasts, and when it ends: loud, not a flood.
    fn save(&self, state: &State) {
        let result = self.file.save(state);
        let now = Utc::now();
        let mut h = self.health_lock();
        match result {
            Ok(_) => {
                if h.unsaved.take().is_some() {
                    tracing::info!("the state is saved to {} again", self.file.path().display());
                }
                h.unsaved_logged_at = None;
            }
            Err(e) => {
                let why = format!("cannot save the state to {}: {e}", self.file.path().display());
                if h.unsaved_logged_at.is_none_or(|t| now - t >= UNSAVED_REMINDER) {
                    tracing::error!("{why}; alerts and queued mail survive only until a restart");
                    h.unsaved_logged_at = Some(now);
                }
                h.unsaved = Some(why);
            }
        }
        self.metrics.alerts.set_state_saved(h.unsaved.is_none());
    }

    /// Moves the account's alerts on after a poll, queues the mail it calls
    /// for, saves, and wakes the sender.
    pub fn after_poll(&self, account: &str, report: PollReport, now: DateTime<Utc>) {
        let mut state = self.lock();
        let mut live_success = self.live_success.lock().unwrap_or_else(|p| p.into_inner());
        // How long polling has been down is measured on the monotonic clock
        // while this process knows: a wall clock stepped back would hide it.
        let since_mono = |mono: Instant| {
            now.checked_sub_signed(TimeDelta::from_std(mono.elapsed()).unwrap_or(TimeDelta::MAX))
                .unwrap_or(now)
        };
        let healthy_since = match live_success.get(account) {
            Some((_, mono)) => since_mono(*mono),
            None => match state.last_success.get(account) {
                Some(saved) => *saved,
                None => since_mono(self.started_mono),
            },
        };
        let all: Vec<cdnquota_core::rules::Finding>;
        let (result, assessment) = match report {
            PollReport::Succeeded { assessment, extra } => {
                live_success.insert(account.to_string(), (now, Instant::now()));
                // The saved copy only has to be recent enough for PollFailing
                // after a restart (at most half of poll_failure_after early):
                // refreshing it every poll would rewrite the file every poll.
                let half = self.alerts.poll_failure_after / 2;
                if state.last_success.get(account).is_none_or(|t| now - *t >= half) {
                    state.last_success.insert(account.to_string(), now);
                }
                all = assessment.findings().chain(extra).cloned().collect();
                (PollResult::Succeeded(&all), Some(assessment))
            }
            PollReport::Failed { error, last_good } => (PollResult::Failed(error), last_good),
        };
        drop(live_success);
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
        if let Some(am) = &self.alertmanager {
            am.observe(account, &state.alerts, &notices, assessment, now);
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
        // After the alert state, and only once it is saved: the queue on
        // disk is never ahead of it.
        if let Some(am) = &self.alertmanager {
            am.commit(self.health_lock().unsaved.is_none());
        }
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
            if self.stopping.load(Ordering::SeqCst) {
                break;
            }
            let result = transport.send(email, &mail).await;
            let mut state = self.lock();
            if self.stopping.load(Ordering::SeqCst) {
                // A reload (or stop) came meanwhile; whoever owns the state
                // now applies the outcome.
                self.handed_lock().push(Handed {
                    message_id: mail.message_id.clone(),
                    subject: mail.subject.clone(),
                    result,
                });
                break;
            }
            self.apply(&mut state, &mail.message_id, &mail.subject, &result);
        }
        self.lock().outbox.len()
    }

    fn handed_lock(&self) -> MutexGuard<'_, Vec<Handed>> {
        self.handed.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records how the delivery of one queued mail ended, and saves.
    fn apply(&self, state: &mut State, message_id: &str, subject: &str, result: &Result<(), delivery::DeliveryError>) {
        let backoff = self.email.as_ref().map_or(Duration::from_secs(30), |e| e.retry_backoff);
        let outcome = match result {
            Ok(()) => {
                tracing::info!("mailed \"{subject}\" {message_id}");
                state.outbox.retain(|m| m.message_id != message_id);
                "sent"
            }
            Err(e) if e.is_refused() => {
                self.health_lock().last_dropped = Some((Utc::now(), subject.to_string(), e.message().to_string()));
                tracing::error!(
                    "the mail server refused \"{subject}\" itself: {e}; it is dropped (sending it again cannot work); the alerts it told of stay on the status page and in the log"
                );
                state.outbox.retain(|m| m.message_id != message_id);
                "rejected"
            }
            Err(e) => {
                {
                    let mut h = self.health_lock();
                    h.last_failure = Some((Utc::now(), e.message().to_string()));
                    h.failures += 1;
                }
                if let Some(queued) = state.outbox.iter_mut().find(|m| m.message_id == message_id) {
                    queued.failed(e.message().to_string(), backoff, Utc::now());
                    tracing::warn!(
                        "mailing \"{subject}\" failed (attempt {}): {e}; next try at {} UTC",
                        queued.attempts,
                        queued.next_attempt.format("%H:%M:%S")
                    );
                }
                "failed"
            }
        };
        self.metrics.alerts.notification(outcome);
        self.save(state);
        self.publish(state);
    }

    /// Waits for the sender of the notifier a reload replaced to finish the
    /// delivery it had under way, then records its outcome here: until
    /// then this notifier sends nothing, so that mail is not sent twice.
    /// Stopped meanwhile itself, it hands the outcome on instead.
    async fn take_over(&self, old: Arc<Notifier>, sender: tokio::task::JoinHandle<()>) {
        // Bounded: the old sender may itself wait on one before it.
        let bound = old.delivery_timeout() * 2 + Duration::from_secs(4);
        let abort = sender.abort_handle();
        if tokio::time::timeout(bound, sender).await.is_err() {
            abort.abort();
            tracing::warn!(
                "a mail delivery of the previous config did not end; it stays in the outbox and is sent again"
            );
        }
        let outcomes: Vec<Handed> = old.handed_lock().drain(..).collect();
        let mut state = self.lock();
        if self.stopping.load(Ordering::SeqCst) {
            self.handed_lock().extend(outcomes);
            return;
        }
        for h in outcomes {
            self.apply(&mut state, &h.message_id, &h.subject, &h.result);
        }
    }

    /// At the last stop: records the deliveries that ended after it, since
    /// no later notifier will.
    pub fn settle_handed(&self) {
        let outcomes: Vec<Handed> = self.handed_lock().drain(..).collect();
        let mut state = self.lock();
        for h in outcomes {
            self.apply(&mut state, &h.message_id, &h.subject, &h.result);
        }
    }

    /// When the next queued mail is due, if any.
    fn next_due(&self) -> Option<DateTime<Utc>> {
        self.lock().outbox.iter().map(|m| m.next_attempt).min()
    }

    /// Delivers mail until [`Notifier::stop_sending`]: after every poll that
    /// queued some, and whenever a retry falls due.
    ///
    /// With `previous`, the notifier a reload replaced and its sender, the
    /// delivery that sender has under way is waited for first.
    pub async fn run_sender(self: Arc<Self>, previous: Option<(Arc<Notifier>, tokio::task::JoinHandle<()>)>) {
        if let Some((old, sender)) = previous {
            self.take_over(old, sender).await;
        }
        loop {
            self.deliver_due().await;
            if self.stopping.load(Ordering::SeqCst) {
                return;
            }
            let wait = self
                .next_due()
                .map(|t| (t - Utc::now()).to_std().unwrap_or_default())
                .unwrap_or(Duration::from_secs(3600))
                .max(Duration::from_millis(50));
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.wake.notified() => {}
            }
            if self.stopping.load(Ordering::SeqCst) {
                return;
            }
        }
    }

    /// Asks the sender to stop: a delivery under way is finished (bounded by
    /// the mail timeout) and no further one starts. Its outcome is handed
    /// to the notifier a reload starts, which sends nothing until then, or
    /// to [`Notifier::settle_handed`] at the last stop.
    pub fn stop_sending(&self) {
        // Under the state lock: a delivery's outcome is then either saved
        // already or handed on, never saved after the next notifier read
        // the state.
        let state = self.lock();
        self.stopping.store(true, Ordering::SeqCst);
        drop(state);
        self.wake.notify_one();
    }

    /// The longest a delivery can take, for a stop waiting on one.
    pub fn delivery_timeout(&self) -> Duration {
        self.email.as_ref().map_or(Duration::ZERO, |e| e.timeout)
    }

    /// The Alertmanager pusher, when `[alertmanager]` is configured.
    pub fn alertmanager(&self) -> Option<Arc<Pusher>> {
        self.alertmanager.clone()
    }

    /// How pushing to each Alertmanager goes, for the status page.
    pub fn alertmanager_health(&self) -> Vec<UrlHealth> {
        self.alertmanager.as_ref().map(|am| am.health()).unwrap_or_default()
    }
}
