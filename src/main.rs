//! The `cdnquota` command line: parses arguments and hands over to
//! `cdnquota::command`.

use cdnquota::command;
use cdnquota::command::check;
use cdnquota::command::order::OrderArgs;
use cdnquota::config::DEFAULT_PATH;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// The environment the commands read, shown under `cdnquota --help`.
const ENVIRONMENT: &str = "\
Environment:
  TENCENTCLOUD_SECRET_ID, TENCENTCLOUD_SECRET_KEY
                        the API key of every account that names none in the config
  TENCENTCLOUD_SESSION_TOKEN
                        API 3.0 only: the token of a temporary key
  CDNQUOTA_SMTP_PASSWORD
                        the [email] password, when the config names none
  CDNQUOTA_ALERTMANAGER_PASSWORD
                        the [alertmanager] password, when the config names none
  CREDENTIALS_DIRECTORY where relative *_file secrets are read (systemd's
                        LoadCredential= sets it); else beside the config file
  RUST_LOG              log levels, e.g. debug or cdnquota=debug (default: info)
  SSL_CERT_FILE, SSL_CERT_DIR
                        CA certificates to trust instead of the system's
  NOTIFY_SOCKET, WATCHDOG_USEC, JOURNAL_STREAM
                        set by systemd: readiness, the watchdog, and log lines
                        without timestamps";

/// How to try the daemon without Tencent Cloud, where the simulator is built in.
#[cfg(feature = "demo")]
const TRY_IT: &str = "

Try a config without Tencent Cloud: `cdnquota simulator` serves a simulated
account; point an account's endpoint at it. `cdnquota demo` runs both.";
#[cfg(not(feature = "demo"))]
const TRY_IT: &str = "";

#[derive(Parser)]
#[command(
    name = "cdnquota",
    version,
    about = "Watches Tencent Cloud CDN traffic packages",
    after_help = format!("{ENVIRONMENT}{TRY_IT}")
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon: poll on the schedule and serve metrics.
    Run {
        /// The config file.
        #[arg(short, long, default_value = DEFAULT_PATH)]
        config: PathBuf,
        /// The exporter-toolkit web config (TLS, basic auth, headers) for
        /// every endpoint; replaces [http] web_config_file.
        #[arg(long = "web.config.file", value_name = "FILE")]
        web_config_file: Option<PathBuf>,
    },
    /// Poll every account once, as a Nagios/Icinga plugin: a status line
    /// with perfdata, then a table; exit 0 ok, 1 warning, 2 critical, 3
    /// unknown.
    Check {
        /// The config file.
        #[arg(short, long, default_value = DEFAULT_PATH)]
        config: PathBuf,
        /// Print JSON instead of the plugin output.
        #[arg(long)]
        json: bool,
        /// Give up on accounts that have not answered after this long
        /// (exit 3, naming them); keep it under the monitoring system's own
        /// plugin timeout (Nagios: 60s).
        #[arg(long, value_name = "DURATION", default_value = check::DEFAULT_TIMEOUT, value_parser = check::parse_timeout)]
        timeout: Duration,
    },
    /// Poll every account once and say what to buy for each traffic pool:
    /// the advised purchase, the two next best and buying nothing, with
    /// their 12-month cost, and the money at stake. Orders nothing.
    Advise {
        /// The config file.
        #[arg(short, long, default_value = DEFAULT_PATH)]
        config: PathBuf,
        /// Only this account.
        #[arg(long)]
        account: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Validate the config (and its web config) and print the effective
    /// one, secrets redacted.
    Config {
        /// The config file.
        #[arg(short, long, default_value = DEFAULT_PATH)]
        config: PathBuf,
        /// The web config to validate instead of [http] web_config_file.
        #[arg(long = "web.config.file", value_name = "FILE")]
        web_config_file: Option<PathBuf>,
    },
    /// Three modes: order a package by hand (same ledger and cap as the
    /// daemon), --list the ledger, or --resolve an order whose outcome is
    /// unknown or failed.
    #[command(override_usage = "\
cdnquota order [-c FILE] --account NAME --unit GB --number N [--yes]
       cdnquota order [-c FILE] --list
       cdnquota order [-c FILE] --resolve ID (--placed ORDER_ID[,ORDER_ID...] | --not-placed)")]
    Order {
        /// The config file.
        #[arg(short, long, default_value = DEFAULT_PATH)]
        config: PathBuf,
        #[command(flatten)]
        args: OrderArgs,
    },
    /// Send one test mail through the configured transport.
    EmailTest {
        /// The config file.
        #[arg(short, long, default_value = DEFAULT_PATH)]
        config: PathBuf,
    },
    /// Ask a running daemon to re-read its config (SIGHUP); the systemd
    /// unit's reload command.
    Reload {
        /// The daemon's process id (systemd passes $MAINPID).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
        pid: u32,
    },
    /// Replay recorded polls (JSON Lines) through the forecast and alert
    /// rules, and report what would have fired and how early.
    Backtest {
        /// The recorded polls: one `{"at": ..., "data": [...]}` (GetPackage)
        /// or `{"at": ..., "TrafficPackages": [...]}` object per line.
        #[arg(long)]
        history: PathBuf,
        /// A config whose thresholds and [alerts] to use (default: built-in defaults).
        #[arg(short, long)]
        config: Option<PathBuf>,
        /// The account of the config whose thresholds apply (default: the first).
        #[arg(long)]
        account: Option<String>,
        /// One JSON object per line instead of a summary.
        #[arg(long)]
        json: bool,
        /// `seasonal` (the daemon's forecast) or `linear` (a flat 6-hour rate, to compare).
        #[arg(long, default_value = "seasonal", value_parser = ["seasonal", "linear"])]
        model: String,
    },
    /// Run the daemon against a built-in simulated account; no config needed.
    #[cfg(feature = "demo")]
    Demo {
        /// Where to serve metrics and the status page.
        #[arg(long, default_value = "127.0.0.1:10787")]
        listen: std::net::SocketAddr,
    },
    /// Serve a simulated account, to try a config against: its endpoint is
    /// http://ADDR/v2/index.php (api = "v2") or http://ADDR/ (api = "v3"),
    /// with the same secret_id and secret_key.
    #[cfg(feature = "demo")]
    Simulator {
        /// Where to listen.
        #[arg(long, default_value = "127.0.0.1:18080")]
        listen: std::net::SocketAddr,
        /// `steady` (1 TB, 10% used, a slow drain), `demo` (three pools: a
        /// Europe pool that runs dry in minutes and is topped up, mainland
        /// for ten days, HTTPS requests), `many` (all current) or `years`
        /// (mostly long expired).
        #[arg(long, default_value = "steady")]
        scenario: String,
        /// How many packages `many` and `years` hold.
        #[arg(long, default_value_t = 1000)]
        packages: usize,
        /// The SecretId the simulator accepts.
        #[arg(long, env = "TENCENTCLOUD_SECRET_ID")]
        secret_id: String,
        /// The SecretKey it checks signatures with.
        #[arg(long, env = "TENCENTCLOUD_SECRET_KEY", hide_env_values = true)]
        secret_key: String,
    },
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Run {
            config,
            web_config_file,
        } => command::run::run(&config, web_config_file.as_deref()),
        Command::Check { config, json, timeout } => command::check::check(&config, json, timeout),
        Command::Advise { config, account, json } => command::advise::advise(&config, account.as_deref(), json),
        Command::Config {
            config,
            web_config_file,
        } => command::show_config::show_config(&config, web_config_file.as_deref()),
        Command::EmailTest { config } => command::email_test::email_test(&config),
        Command::Order { config, args } => command::order::order(&config, args),
        Command::Reload { pid } => command::reload::reload(pid),
        Command::Backtest {
            history,
            config,
            account,
            json,
            model,
        } => command::backtest::backtest(&command::backtest::BacktestArgs {
            history: &history,
            config: config.as_deref(),
            account: account.as_deref(),
            json,
            model: if model == "linear" {
                cdnquota_core::assess::ForecastModel::Linear
            } else {
                cdnquota_core::assess::ForecastModel::Seasonal
            },
        }),
        #[cfg(feature = "demo")]
        Command::Demo { listen } => command::demo::demo(listen),
        #[cfg(feature = "demo")]
        Command::Simulator {
            listen,
            scenario,
            packages,
            secret_id,
            secret_key,
        } => command::simulator::simulator(listen, &scenario, packages, &secret_id, &secret_key),
    }
}
