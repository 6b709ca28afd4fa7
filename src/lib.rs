//! `cdnquota` watches Tencent Cloud CDN traffic packages: it polls the
//! package list, works out bytes left, expiry and a depletion forecast,
//! and exposes them to Prometheus.
//!
//! Data flows one way: `api` fetches a [`model::Snapshot`], `core` assesses
//! it (pure functions of snapshot, history, thresholds and now), `metrics`
//! publishes the result, and `daemon` schedules it all. `sim` stands in for
//! the real API in tests and the demo.

pub mod api;
pub mod command;
pub mod config;
pub mod core;
pub mod daemon;
pub mod http;
pub mod logging;
pub mod metrics;
pub mod model;
pub mod notify;
pub mod order;
pub mod random;
pub mod sim;
pub mod state;
