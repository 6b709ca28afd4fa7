//! HTTP serving shared by the daemon's endpoints and the simulator, and the
//! exporter-toolkit web config (TLS, basic auth, headers) in front of it.

pub mod basic_auth;
pub mod encoding;
pub mod server;
pub mod tls;
pub mod web_config;
