//! `cdnquota` watches Tencent Cloud CDN traffic packages: it polls the
//! package list, works out bytes left, expiry and a depletion forecast,
//! exposes them to Prometheus, mails the operator, and can order a
//! replacement package.
//!
//! Data flows one way. `api` fetches a [`model::Snapshot`] (API v2 or 3.0);
//! `core` assesses it and decides, as pure functions of (snapshot, history,
//! config, state, now): findings, the alert lifecycle, whether to order.
//! The shell acts on those decisions: `metrics` publishes, `notify` mails
//! through a durable outbox, `alertmanager` pushes the same alerts to an
//! Alertmanager cluster, `order` keeps the ledger and places orders,
//! `state` keeps what must survive a restart, and `daemon` schedules it all.
//! `sim` stands in for the real API in tests and the demo.

pub mod alertmanager;
pub mod command;
pub mod config;
pub mod daemon;
pub mod history_file;
pub mod host;
pub mod http;
pub mod logging;
pub mod memory;
pub mod metrics;
pub mod notify;
pub mod order;
pub mod random;
pub mod recorder;
pub mod state;
pub mod store;
pub mod tls;
