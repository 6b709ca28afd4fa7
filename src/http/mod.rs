//! HTTP serving shared by the daemon's endpoints and the simulator.

pub mod encoding;
pub mod server;
