//! The long-running daemon: polls every account at start and then on the
//! cron schedule, serves the HTTP endpoints, and stops cleanly on a signal.

pub mod billing;
mod endpoints;
mod status_page;
mod svg_chart;
pub mod systemd;
pub mod watch;

use crate::alerting::Notifier;
use crate::alerting::PollReport;
use crate::config::values::CronSchedule;
use crate::config::{Account, Config};
use crate::http::server::serve_with_tls;
use crate::http::web_guard::{Guarded, WebConfigWatch};
use crate::metrics::Metrics;
use crate::order::Orderer;
use crate::store::lock::{StateDirLock, StateDirLockError};
use cdnquota_core::poll_guard::overdue;
use endpoints::Endpoints;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tencent_cdn_api::source::PackageSource;
use tokio::net::TcpListener;
use tokio::sync::watch as signal_channel;
use watch::AccountWatch;

/// How long a stop waits for polls in flight. Abandoning one is harmless:
/// a poll only reads, and an order cut short is an intent in the ledger.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// Why the daemon could not start.
#[derive(Debug)]
pub enum DaemonError {
    /// The listen address could not be bound.
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        error: std::io::Error,
    },
    /// An API client could not be set up.
    Client(String),
    /// The state directory or the mail transport could not be set up.
    Notifier(String),
    /// Another daemon holds the state directory.
    StateDirInUse(String),
    /// The web config (TLS, basic auth) cannot be used.
    WebConfig(String),
}

impl fmt::Display for DaemonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DaemonError::Listen { addr, error } => {
                write!(f, "cannot listen on {addr}: {error}; set `listen` to a free address")
            }
            DaemonError::Client(e)
            | DaemonError::Notifier(e)
            | DaemonError::StateDirInUse(e)
            | DaemonError::WebConfig(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for DaemonError {}

/// What a daemon hands to the one a reload starts: what lives for the
/// process, not for one config.
#[derive(Default)]
pub struct Handover {
    /// The listening socket, open all through the reload.
    listener: Option<(SocketAddr, std::net::TcpListener)>,
    /// The metrics, whose counters go on.
    metrics: Option<Arc<Metrics>>,
    /// The accounts watched, with what their last polls found.
    accounts: Vec<Arc<AccountWatch>>,
    /// The zone API times were read in and the state_dir the history was
    /// kept in: the polls' results depend on both.
    api_utc_offset: Option<chrono::FixedOffset>,
    state_dir: Option<std::path::PathBuf>,
    /// The notifier and its sender, which may still be finishing a mail.
    sender: Option<(Arc<Notifier>, tokio::task::JoinHandle<()>)>,
}

impl Handover {
    /// At the last stop: waits for the mail under way (bounded by the mail
    /// timeout) and records how it went.
    pub async fn finish(self) {
        let Some((notifier, sender)) = self.sender else {
            return;
        };
        let grace = notifier.delivery_timeout() * 2 + Duration::from_secs(4);
        let abort = sender.abort_handle();
        if tokio::time::timeout(grace, sender).await.is_err() {
            abort.abort();
            tracing::warn!("a mail delivery was still running; it stays in the outbox for the next start");
        }
        notifier.settle_handed();
    }
}

/// Whether a reload leaves `old`'s API settings as they were: then its
/// last results stand, and it is not polled until the schedule says.
fn same_api(old: &Account, new: &Account) -> bool {
    old.name == new.name
        && old.api == new.api
        && old.endpoint == new.endpoint
        && old.secret_id == new.secret_id
        && old.secret_key == new.secret_key
        && old.session_token == new.session_token
        && old.signature_method == new.signature_method
        && old.http_method == new.http_method
        && old.timeout == new.timeout
        && old.max_attempts == new.max_attempts
        && old.retry_backoff == new.retry_backoff
        && old.max_answer_bytes == new.max_answer_bytes
}

/// A bound daemon, ready to run.
pub struct Daemon {
    config: Config,
    listener: TcpListener,
    // The same socket, kept for the daemon a reload starts.
    kept_listener: std::net::TcpListener,
    // Accounts whose results the reload carried over: no first poll.
    carried: Vec<bool>,
    previous_sender: Option<(Arc<Notifier>, tokio::task::JoinHandle<()>)>,
    metrics: Arc<Metrics>,
    notifier: Arc<Notifier>,
    orderer: Arc<Orderer>,
    accounts: Vec<Arc<AccountWatch>>,
    web: Arc<WebConfigWatch>,
    // Held while this daemon runs: a second daemon on the same state_dir
    // would mail every alert twice and race on every file.
    _state_lock: Option<StateDirLock>,
}

impl Daemon {
    /// Sets up clients and binds the listen address, so that start-up
    /// errors surface before anything runs.
    pub async fn bind(config: Config) -> Result<Daemon, DaemonError> {
        Daemon::bind_after(config, &mut Handover::default()).await
    }

    /// As [`Daemon::bind`], taking over from the daemon a reload replaced
    /// what `handover` holds; on an error it is left for another try.
    pub async fn bind_after(config: Config, handover: &mut Handover) -> Result<Daemon, DaemonError> {
        let state_lock = match StateDirLock::acquire(&config.state_dir) {
            Ok(lock) => Some(lock),
            Err(e @ StateDirLockError::Held(_)) => return Err(DaemonError::StateDirInUse(e.to_string())),
            // A read-only state_dir: nothing can be written there anyway,
            // and watching from memory beats not watching.
            Err(StateDirLockError::Unavailable(why)) => {
                tracing::error!("{why}; running without the state_dir lock: make sure no other daemon uses it");
                None
            }
        };
        // Bound first: another daemon on the address is the likeliest error,
        // and nothing else should be set up for it.
        let kept_listener = match &handover.listener {
            Some((addr, socket)) if *addr == config.listen => socket.try_clone(),
            _ => std::net::TcpListener::bind(config.listen),
        }
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .and_then(|l| Ok((l.try_clone()?, l)))
        .map_err(|error| DaemonError::Listen {
            addr: config.listen,
            error,
        })?;
        let (listener, kept_listener) = kept_listener;
        let listener = TcpListener::from_std(listener).map_err(|error| DaemonError::Listen {
            addr: config.listen,
            error,
        })?;
        let metrics = Arc::new(
            Metrics::with_config(&config.metrics)
                .map_err(|e| DaemonError::Client(format!("cannot set up the metrics: {e}")))?,
        );
        let notifier =
            Arc::new(Notifier::new(&config, metrics.clone(), chrono::Utc::now()).map_err(DaemonError::Notifier)?);
        let orderer = Arc::new(Orderer::new(&config.state_dir, notifier.clone(), metrics.clone()));
        crate::order::replica::announce(&config, &metrics);
        let mut accounts = Vec::new();
        let prices = Arc::new(config.pricing.clone());
        let forecast = Arc::new(config.forecast.settings());
        for account in &config.accounts {
            let source = PackageSource::new(&account.client_settings(config.api_utc_offset.0))
                .map_err(DaemonError::Client)?
                .with_observer(metrics.clone());
            accounts.push(Arc::new(AccountWatch::new(
                account.clone(),
                source,
                metrics.clone(),
                notifier.clone(),
                orderer.clone(),
                &config.state_dir,
                config.record_polls.then(|| {
                    crate::recorder::PollRecorder::new(
                        &config.state_dir,
                        account.name.as_str(),
                        account.api,
                        config.api_utc_offset.0,
                    )
                }),
                config.metrics.expired_package_series.keep(),
                prices.clone(),
                forecast.clone(),
            )));
        }
        let web = Arc::new(
            WebConfigWatch::load(config.http.web_config_file.as_deref())
                .map_err(|e| DaemonError::WebConfig(e.to_string()))?,
        );
        // What the reload leaves as it was is taken over, not polled again.
        let now = chrono::Utc::now();
        let same_zone = handover.api_utc_offset == Some(config.api_utc_offset.0)
            && handover.state_dir.as_deref() == Some(config.state_dir.as_path());
        let mut carried = Vec::new();
        for watch in &accounts {
            let old = handover
                .accounts
                .iter()
                .find(|old| same_zone && same_api(&old.account, &watch.account));
            if let Some(old) = old {
                watch.carry_from(old, now);
            }
            carried.push(old.is_some());
        }
        if let Some(old) = &handover.metrics {
            let names: Vec<&str> = accounts.iter().map(|w| w.name()).collect();
            let unchanged: Vec<&str> = accounts
                .iter()
                .zip(&carried)
                .filter(|(_, c)| **c)
                .map(|(w, _)| w.name())
                .collect();
            metrics.carry_from(old, &names, &unchanged);
        }
        handover.accounts.clear();
        handover.metrics = None;
        handover.listener = None;
        Ok(Daemon {
            config,
            listener,
            kept_listener,
            carried,
            previous_sender: handover.sender.take(),
            metrics,
            notifier,
            orderer,
            accounts,
            web,
            _state_lock: state_lock,
        })
    }

    /// The address the endpoints are served on.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// Runs until `stop` completes, then finishes polls in flight and the
    /// mail under way.
    pub async fn run(self, stop: impl Future<Output = ()>) -> Result<(), DaemonError> {
        self.run_until(stop).await?.finish().await;
        Ok(())
    }

    /// Runs until `stop` completes, then finishes polls in flight; the mail
    /// under way, if any, is left to finish in the background: what is
    /// returned hands it, with the socket, the metrics and the accounts'
    /// results, to the daemon a reload starts, which polls meanwhile.
    pub async fn run_until(mut self, stop: impl Future<Output = ()>) -> Result<Handover, DaemonError> {
        let (stop_http, http_stopped) = signal_channel::channel(false);
        let endpoints = Arc::new(Guarded {
            inner: Endpoints {
                metrics: self.metrics.clone(),
                notifier: self.notifier.clone(),
                accounts: self.accounts.clone(),
                ledger: crate::order::ledger_file::LedgerFile::new(&self.config.state_dir)
                    .path()
                    .to_path_buf(),
            },
            web: self.web.clone(),
        });
        let web = self.web.current();
        let http = tokio::spawn(serve_with_tls(
            self.listener,
            endpoints,
            Some(self.web.clone()),
            http_stopped,
        ));
        tracing::info!(
            "serving /metrics, /healthz, /readyz and / on {}://{} ({}); {} account(s), schedule \"{}\" (UTC)",
            if web.tls.is_some() { "https" } else { "http" },
            self.config.listen,
            web.summary,
            self.accounts.len(),
            self.config.schedule.as_str()
        );

        let sender = tokio::spawn(self.notifier.clone().run_sender(self.previous_sender.take()));
        let guard = tokio::spawn(guard_polling(
            self.accounts.clone(),
            self.notifier.clone(),
            self.config.schedule.clone(),
            self.config.alerts.poll_failure_after,
        ));

        // The first round runs before the schedule starts and before systemd
        // is told the daemon is ready; a dead API fails it, it does not hang.
        // A stop signal during it is heard at once, not after the retries.
        // After a reload, only the accounts whose API settings changed: the
        // others' results were carried over, and the schedule goes on.
        let first_round: Vec<_> = self
            .accounts
            .iter()
            .zip(&self.carried)
            .filter(|(_, carried)| !**carried)
            .map(|(watch, _)| watch.spawn_poll())
            .collect();
        let first_round_done = async {
            for poll in first_round {
                let _ = poll.await;
            }
        };
        tokio::pin!(stop);
        let stopped_early = tokio::select! {
            _ = first_round_done => false,
            _ = &mut stop => true,
        };
        let mut watchdog = None;
        let mut scheduler = None;
        let mut pusher = None;
        if !stopped_early {
            // Only now: before its first poll round this daemon's saved
            // alerts may be stale, and pushing them would fire them again.
            pusher = self.notifier.alertmanager().map(|am| tokio::spawn(am.run()));
            systemd::notify("READY=1\nSTATUS=watching; first poll round done");
            watchdog = systemd::watchdog_interval().map(|every| {
                tokio::spawn(async move {
                    // Pinged from the daemon's own runtime: if it stops turning,
                    // the pings stop and systemd restarts the service.
                    let mut tick = tokio::time::interval(every);
                    loop {
                        tick.tick().await;
                        systemd::notify("WATCHDOG=1");
                    }
                })
            });
            scheduler = Some(tokio::spawn(run_schedule(
                self.config.schedule.clone(),
                self.accounts.clone(),
            )));
            (&mut stop).await;
        }
        tracing::info!("stopping: no new polls; waiting for polls in flight");
        if let Some(w) = watchdog {
            w.abort();
        }
        guard.abort();
        if let Some(scheduler) = scheduler {
            scheduler.abort();
        }
        // The sender finishes the delivery under way (bounded by the mail
        // timeout), at the same time as the polls wind down; what it has not
        // started stays in the outbox for the next start or the reloaded
        // daemon, which re-reads it only once this one is done with it.
        self.notifier.stop_sending();
        if let Some(am) = self.notifier.alertmanager() {
            am.stop();
        }
        // An order under way gets its whole timeout: cut short, it would be
        // an outcome a person has to settle.
        let grace = if self.orderer.ordering() {
            let longest = self
                .accounts
                .iter()
                .map(|w| w.account.timeout)
                .max()
                .unwrap_or_default();
            STOP_GRACE.max(longest + Duration::from_secs(2))
        } else {
            STOP_GRACE
        };
        let idle = all_idle(&self.accounts);
        if tokio::time::timeout(grace, idle).await.is_err() {
            tracing::warn!(
                "a poll was still running after {}s; it is abandoned (an order it was placing is recorded as of unknown outcome)",
                grace.as_secs()
            );
        }
        // Nothing of this daemon may write the state once the next one (a
        // reload) has read it: polls left running are ended here, and the
        // history work they handed to a blocking thread is waited for.
        for watch in &self.accounts {
            watch.abort_polls();
        }
        for watch in &self.accounts {
            if tokio::time::timeout(Duration::from_secs(10), watch.wait_blocking())
                .await
                .is_err()
            {
                tracing::warn!(account = %watch.name(), "assessing a poll took over 10 s at stop; going on");
            }
        }
        if let (Some(task), Some(am)) = (pusher, self.notifier.alertmanager()) {
            let abort = task.abort_handle();
            if tokio::time::timeout(am.timeout() + Duration::from_secs(2), task)
                .await
                .is_err()
            {
                // A push cut short is pushed again by the next start.
                abort.abort();
            }
        }
        let _ = stop_http.send(true);
        let _ = http.await;
        tracing::info!("stopped");
        Ok(Handover {
            listener: Some((self.config.listen, self.kept_listener)),
            metrics: Some(self.metrics),
            accounts: self.accounts,
            api_utc_offset: Some(self.config.api_utc_offset.0),
            state_dir: Some(self.config.state_dir.clone()),
            sender: Some((self.notifier, sender)),
        })
    }
}

/// Fires `PollFailing` when no poll has finished for `poll_failure_after`
/// past the tick that was due, whatever the schedule or the scheduler did.
/// Time since the last poll is measured on the monotonic clock: a wall
/// clock stepped back an hour would otherwise hide an hour of silence.
async fn guard_polling(
    accounts: Vec<Arc<AccountWatch>>,
    notifier: Arc<Notifier>,
    schedule: CronSchedule,
    poll_failure_after: chrono::TimeDelta,
) {
    if poll_failure_after.is_zero() {
        return;
    }
    let every = (poll_failure_after.to_std().unwrap_or(Duration::MAX) / 4)
        .clamp(Duration::from_secs(1), Duration::from_secs(60));
    let started = (chrono::Utc::now(), Instant::now());
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let now = chrono::Utc::now();
        for watch in &accounts {
            let status = watch.status();
            let (last, last_mono) = status.last_poll.zip(status.last_poll_mono).unwrap_or(started);
            // "Now" as the schedule saw time at the last poll, moved on by
            // the time that really passed since.
            let elapsed = chrono::TimeDelta::from_std(last_mono.elapsed()).unwrap_or(chrono::TimeDelta::MAX);
            let steady_now = last.checked_add_signed(elapsed).unwrap_or(now);
            if let Some(why) = overdue(last, schedule.next_after(last), poll_failure_after, steady_now) {
                tracing::error!(account = %watch.name(), "{why}");
                let report = PollReport::Failed {
                    error: &why,
                    last_good: status.assessment.as_deref(),
                };
                notifier.after_poll(watch.name(), report, now);
            }
        }
    }
}

/// A wall-clock step bigger than this is logged: NTP slews smaller errors,
/// so this is a step (a VM resumed, a clock set by hand).
const CLOCK_STEP_LOGGED: chrono::TimeDelta = chrono::TimeDelta::minutes(1);

/// The wall clock, read against the monotonic one so that a step is seen.
struct WallClock {
    wall: chrono::DateTime<chrono::Utc>,
    mono: Instant,
}

impl WallClock {
    fn new() -> WallClock {
        WallClock {
            wall: chrono::Utc::now(),
            mono: Instant::now(),
        }
    }

    /// The wall time now; a step since the last look is logged once.
    fn look(&mut self) -> chrono::DateTime<chrono::Utc> {
        let (wall, mono) = (chrono::Utc::now(), Instant::now());
        let passed = chrono::TimeDelta::from_std(mono - self.mono).unwrap_or(chrono::TimeDelta::MAX);
        let step = wall - self.wall - passed;
        if step.abs() > CLOCK_STEP_LOGGED {
            // Whole seconds: the milliseconds between two reads are not news.
            let secs = (step.abs().num_milliseconds() + 500) / 1000;
            let size = cdnquota_core::units::format_span(Duration::from_secs(secs.unsigned_abs()));
            let way = if step < chrono::TimeDelta::zero() {
                "back"
            } else {
                "forward"
            };
            tracing::warn!(
                "the wall clock stepped {way} by {size} (to {} UTC): the schedule now follows the new time; if this was not an NTP correction, check the host's clock",
                wall.format("%Y-%m-%d %H:%M:%S")
            );
        }
        self.wall = wall;
        self.mono = mono;
        wall
    }
}

/// Polls every account at each tick of the cron schedule (UTC), until
/// aborted. A plain loop rather than a scheduler crate: a scheduler's tasks
/// that outlive its shutdown would keep every reloaded daemon alive.
async fn run_schedule(schedule: CronSchedule, accounts: Vec<Arc<AccountWatch>>) {
    // Sleeps are on the monotonic clock and the next tick is on the wall
    // clock, which may be stepped while we sleep: wake at least this often
    // to look again, so a tick is neither missed for long nor run early.
    const LOOK_AGAIN: Duration = Duration::from_secs(30);
    let mut clock = WallClock::new();
    let mut last = clock.wall;
    loop {
        let now = clock.look();
        if last - now > chrono::TimeDelta::seconds(1) {
            // Stepped back past the last tick: waiting for the tick after
            // it would be as long a silence as the step. (Less than a second
            // is waited out, so a slew cannot run one tick twice.)
            last = now;
        }
        let Some(tick) = schedule.next_after(last) else {
            // Refused when the config is loaded; the guard alerts if it happens.
            tracing::error!("the schedule \"{}\" never fires again", schedule.as_str());
            return;
        };
        let wait = (tick - now).to_std().unwrap_or_default();
        if !wait.is_zero() {
            tokio::time::sleep(wait.min(LOOK_AGAIN)).await;
            continue;
        }
        for watch in &accounts {
            // A poll still running makes this tick a logged skip.
            watch.spawn_poll();
        }
        // Late (a step forward, a busy host): one poll for the ticks
        // skipped, not one each, and counting on from now.
        last = if now - tick > chrono::TimeDelta::seconds(1) {
            now
        } else {
            tick
        };
    }
}

async fn all_idle(accounts: &[Arc<AccountWatch>]) {
    for watch in accounts {
        watch.wait_idle().await;
    }
}

/// Completes on SIGTERM or Ctrl-C (SIGINT).
pub async fn stop_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(e) => {
                tracing::warn!("cannot listen for SIGTERM ({e}); only Ctrl-C stops the daemon");
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
