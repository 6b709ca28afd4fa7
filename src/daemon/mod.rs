//! The long-running daemon: polls every account at start and then on the
//! cron schedule, serves the HTTP endpoints, and stops cleanly on a signal.

mod endpoints;
pub mod systemd;
pub mod watch;

use crate::api::source::PackageSource;
use crate::config::Config;
use crate::http::server::serve;
use crate::metrics::Metrics;
use crate::notify::Notifier;
use crate::order::Orderer;
use endpoints::Endpoints;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch as signal_channel;
use tokio_cron_scheduler::{Job, JobScheduler};
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
    /// The scheduler refused the schedule or failed to start.
    Scheduler(String),
}

impl fmt::Display for DaemonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DaemonError::Listen { addr, error } => {
                write!(f, "cannot listen on {addr}: {error}; set `listen` to a free address")
            }
            DaemonError::Client(e) | DaemonError::Notifier(e) => write!(f, "{e}"),
            DaemonError::Scheduler(e) => write!(f, "the scheduler failed: {e}"),
        }
    }
}

impl std::error::Error for DaemonError {}

/// A bound daemon, ready to run.
pub struct Daemon {
    config: Config,
    listener: TcpListener,
    metrics: Arc<Metrics>,
    notifier: Arc<Notifier>,
    accounts: Vec<Arc<AccountWatch>>,
}

impl Daemon {
    /// Sets up clients and binds the listen address, so that start-up
    /// errors surface before anything runs.
    pub async fn bind(config: Config) -> Result<Daemon, DaemonError> {
        let metrics = Arc::new(
            Metrics::with_config(&config.metrics)
                .map_err(|e| DaemonError::Client(format!("cannot set up the metrics: {e}")))?,
        );
        let notifier =
            Arc::new(Notifier::new(&config, metrics.clone(), chrono::Utc::now()).map_err(DaemonError::Notifier)?);
        let orderer = Arc::new(Orderer::new(&config.state_dir, notifier.clone(), metrics.clone()));
        let mut accounts = Vec::new();
        for account in &config.accounts {
            let source = PackageSource::new(account, config.api_utc_offset.0)
                .map_err(DaemonError::Client)?
                .with_observer(metrics.clone());
            accounts.push(Arc::new(AccountWatch::new(
                account.clone(),
                source,
                metrics.clone(),
                notifier.clone(),
                orderer.clone(),
            )));
        }
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|error| DaemonError::Listen {
                addr: config.listen,
                error,
            })?;
        Ok(Daemon {
            config,
            listener,
            metrics,
            notifier,
            accounts,
        })
    }

    /// The address the endpoints are served on.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// Runs until `stop` completes, then finishes polls in flight.
    pub async fn run(self, stop: impl Future<Output = ()>) -> Result<(), DaemonError> {
        let (stop_http, http_stopped) = signal_channel::channel(false);
        let endpoints = Arc::new(Endpoints {
            metrics: self.metrics.clone(),
            accounts: self.accounts.clone(),
        });
        let http = tokio::spawn(serve(self.listener, endpoints, http_stopped));
        tracing::info!(
            "serving /metrics, /healthz, /readyz and / on http://{}; {} account(s), schedule \"{}\" (UTC)",
            self.config.listen,
            self.accounts.len(),
            self.config.schedule.as_str()
        );

        let (stop_sender, sender_stopped) = signal_channel::channel(false);
        let sender = tokio::spawn(self.notifier.clone().run_sender(sender_stopped));

        // The first round runs before the schedule starts and before systemd
        // is told the daemon is ready; a dead API fails it, it does not hang.
        // A stop signal during it is heard at once, not after the retries.
        let first_round: Vec<_> = self
            .accounts
            .iter()
            .map(|watch| {
                let watch = watch.clone();
                tokio::spawn(async move { watch.poll().await })
            })
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
        if !stopped_early {
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
            scheduler = Some(start_schedule(self.config.schedule.as_str(), &self.accounts).await?);
            (&mut stop).await;
        }
        tracing::info!("stopping: no new polls; waiting for polls in flight");
        if let Some(w) = watchdog {
            w.abort();
        }
        if let Some(mut scheduler) = scheduler
            && let Err(e) = scheduler.shutdown().await
        {
            tracing::warn!("stopping the scheduler: {e}");
        }
        let idle = all_idle(&self.accounts);
        if tokio::time::timeout(STOP_GRACE, idle).await.is_err() {
            tracing::warn!(
                "a poll was still running after {}s; stopping anyway",
                STOP_GRACE.as_secs()
            );
        }
        // Mail still queued is saved in the outbox and the next start sends
        // it, so a delivery stuck on a slow relay is not waited out.
        let _ = stop_sender.send(true);
        if tokio::time::timeout(Duration::from_secs(3), sender).await.is_err() {
            tracing::warn!("a mail delivery was still running; it stays in the outbox for the next start");
        }
        let _ = stop_http.send(true);
        let _ = http.await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// Polls every account on the cron schedule (UTC).
async fn start_schedule(schedule: &str, accounts: &[Arc<AccountWatch>]) -> Result<JobScheduler, DaemonError> {
    let scheduler = JobScheduler::new()
        .await
        .map_err(|e| DaemonError::Scheduler(e.to_string()))?;
    for watch in accounts {
        let watch = watch.clone();
        let job = Job::new_async(schedule, move |_, _| {
            let watch = watch.clone();
            Box::pin(async move {
                // Spawned so a slow poll never holds up the scheduler.
                tokio::spawn(async move { watch.poll().await });
            })
        })
        .map_err(|e| DaemonError::Scheduler(format!("schedule \"{}\": {e}", schedule)))?;
        scheduler
            .add(job)
            .await
            .map_err(|e| DaemonError::Scheduler(e.to_string()))?;
    }
    scheduler
        .start()
        .await
        .map_err(|e| DaemonError::Scheduler(e.to_string()))?;
    Ok(scheduler)
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
