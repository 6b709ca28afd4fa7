//! `cdnquota demo`: the simulator and the daemon in one process, no config
//! and no credentials, on a fast schedule so the pool visibly drains.

use crate::config::notify::{EmailConfig, SmtpTls, TransportKind};
use crate::config::values::{AccountName, CronSchedule, UtcOffset};
use crate::config::{Account, Config};
use crate::daemon::{Daemon, stop_signal};
use crate::random::random_u64;
use cdnquota_core::model::Region;
use cdnquota_core::settings::{AlertSettings, OrderRules, PoolThresholds, Thresholds};
use cdnquota_sim::{Simulator, scenario};
use chrono::Utc;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;
use tencent_cdn_api::secret::{KeyId, Secret};
use tencent_cdn_api::settings::{ApiVersion, Endpoint, HttpMethod};
use tencent_cdn_api::signature::SignatureMethod;

/// The demo polls every five seconds.
const DEMO_SCHEDULE: &str = "*/5 * * * * *";

/// Builds the demo's config for a simulator at `endpoint`.
pub fn demo_config(endpoint: &str, secret_id: &str, secret_key: &str, listen: SocketAddr) -> Result<Config, String> {
    Ok(Config {
        schedule: CronSchedule::parse(DEMO_SCHEDULE)?,
        listen,
        // The simulated account is new every run, so its alert state is too.
        state_dir: std::env::temp_dir().join(format!("cdnquota-demo-{}", std::process::id())),
        record_polls: false,
        api_utc_offset: UtcOffset::default(),
        log_format: crate::logging::LogFormat::Text,
        http: crate::config::http::HttpConfig::default(),
        alerts: AlertSettings {
            repeat_interval: chrono::TimeDelta::minutes(1),
            send_resolved: true,
            poll_failure_after: chrono::TimeDelta::minutes(1),
        },
        email: Some(EmailConfig {
            transport: TransportKind::Stdout,
            host: String::new(),
            port: 0,
            tls: SmtpTls::None,
            ca_file: None,
            username: None,
            password: None,
            timeout: Duration::from_secs(5),
            from: "cdnquota demo <cdnquota@localhost>".into(),
            to: vec!["operator@localhost".into()],
            folder: std::env::temp_dir().join("cdnquota-demo-mail"),
            sendmail_command: "/usr/sbin/sendmail".into(),
            retry_backoff: Duration::from_secs(5),
        }),
        alertmanager: None,
        replica_name: crate::host::hostname(),
        ordering_replica: None,
        metrics: Default::default(),
        pricing: Default::default(),
        forecast: Default::default(),
        accounts: vec![Account {
            name: AccountName::parse("demo")?,
            // API 3.0, as against the live service: its billing data gives
            // the forecast a month of history from the first poll.
            api: ApiVersion::V3,
            endpoint: Endpoint::parse(endpoint)?,
            secret_id: KeyId::new(secret_id),
            secret_key: Secret::new(secret_key),
            secret_key_source: "generated for the demo".into(),
            session_token: None,
            signature_method: SignatureMethod::HmacSha256,
            http_method: HttpMethod::Post,
            timeout: Duration::from_secs(5),
            max_attempts: 3,
            retry_backoff: Duration::from_millis(500),
            max_answer_bytes: 64 * 1024 * 1024,
            thresholds: demo_thresholds(),
            order: OrderRules::default(),
        }],
    })
}

/// The defaults, and a floor for the small Europe pool that suits its size,
/// as `[thresholds.europe]` would set.
fn demo_thresholds() -> PoolThresholds {
    let mut t = PoolThresholds::default();
    let europe = Thresholds {
        remaining_bytes_below: Some(10_000_000_000),
        ..t.traffic
    };
    t.regions.insert(Region::Europe, europe);
    t
}

/// Runs the demo until Ctrl-C.
pub fn demo(listen: SocketAddr) -> ExitCode {
    crate::logging::init();
    let runtime = match super::runtime() {
        Ok(r) => r,
        Err(code) => return code,
    };
    runtime.block_on(async {
        let secret_id = format!("AKIDdemo{:016x}", random_u64());
        let secret_key = format!("{:016x}{:016x}", random_u64(), random_u64());
        let localhost = SocketAddr::from(([127, 0, 0, 1], 0));
        let sim = match Simulator::start(localhost, scenario::demo(&secret_id, &secret_key, Utc::now())).await {
            Ok(sim) => sim,
            Err(e) => {
                eprintln!("cdnquota: cannot start the simulator: {e}");
                return ExitCode::from(1);
            }
        };
        let config = match demo_config(&sim.endpoint_v3(), &secret_id, &secret_key, listen) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("cdnquota: {e}");
                return ExitCode::from(1);
            }
        };
        let daemon = match Daemon::bind(config).await {
            Ok(d) => d,
            Err(e) => {
                eprintln!("cdnquota: {e}; or pass --listen 127.0.0.1:PORT");
                return ExitCode::from(1);
            }
        };
        let addr = daemon.local_addr().unwrap_or(listen);
        println!("cdnquota demo: a simulated API 3.0 account in three pools, polled every 5 s. Tencent deducts a");
        println!("package only in its own billing region, so each pool is watched on its own:");
        println!("  mainland: 18 TB left at 20 MB/s on average (a daily cycle on the real clock): ten days of it;");
        println!("  Europe:   6 GB left of 50 GB at about 40 MB/s: it runs dry within minutes;");
        println!("  HTTPS:    7 million requests left at 20 a second.");
        println!("  simulator (API 3.0): {}", sim.endpoint_v3());
        println!("  metrics:             http://{addr}/metrics");
        println!("  status page:         http://{addr}/");
        println!("Alert mail is printed below; an alert fires at the second poll that finds it. Expect, for Europe");
        println!("only, PoolLow (below its 10 GB threshold) and DepletionForecast at once, PoolExhausted when it");
        println!("runs dry, a 50 TB Europe package 30 s later, and the resolved mail; mainland stays silent.");
        println!("Ctrl-C stops it.");
        let state_dir = std::env::temp_dir().join(format!("cdnquota-demo-{}", std::process::id()));
        let result = daemon.run(stop_signal()).await;
        // Best effort: the demo's state is worthless once it stops.
        let _ = std::fs::remove_dir_all(state_dir);
        match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("cdnquota: {e}");
                ExitCode::from(1)
            }
        }
    })
}
