//! The daemon's HTTP serving, and the exporter-toolkit web config (TLS,
//! basic auth, headers) in front of it: `web_config` reads the file,
//! `tls` and `basic_auth` build on what it read, and `web_guard` keeps it
//! in force for every connection and request.

pub mod basic_auth;
pub mod encoding;
pub mod server;
pub mod tls;
pub mod web_config;
pub mod web_guard;
