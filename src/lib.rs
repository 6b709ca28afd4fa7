//! `cdnquota`, the daemon: the imperative shell around `cdnquota-core`. It
//! reads the config, asks `tencent-cdn-api` for each account's packages,
//! hands the snapshot to the core, and acts on what the core decides.
//!
//! # Layout, in the order data flows through it
//!
//! - [`config`]: the TOML file, parsed into the core's and the client's
//!   settings.
//! - [`daemon`]: the schedule, one watched account each, the endpoints and
//!   the status page; [`http`] is the server under them.
//! - [`store`]: every durable file ([`store::JsonFile`]) and the
//!   state_dir lock; [`state`], [`history_file`] and [`recorder`] are its
//!   files.
//! - [`alerting`]: the alert lifecycle's shell and its sinks, mail
//!   (outbox, transports) and Alertmanager; [`tls`]: TLS set-up for both.
//! - [`order`]: placing orders through the ledger; [`metrics`]: what
//!   `/metrics` exports.
//! - [`command`]: one file per subcommand, which `main.rs` dispatches to.
//! - [`host`], [`logging`], [`memory`], [`random`]: small plumbing.

pub mod alerting;
pub mod command;
pub mod config;
pub mod daemon;
pub mod history_file;
pub mod host;
pub mod http;
pub mod logging;
pub mod memory;
pub mod metrics;
pub mod order;
pub mod random;
pub mod recorder;
pub mod state;
pub mod store;
pub mod tls;
