//! The simulator on loopback and an API 3.0 client pointed at it, for the
//! tests of each call.

#![allow(dead_code)] // Each test file uses its own part.

use cdnquota_sim::Simulator;
use cdnquota_sim::settle::Settlement;
use cdnquota_sim::state::SimState;
use chrono::Utc;
use std::net::SocketAddr;
use std::time::Duration;
use tencent_cdn_api::secret::{KeyId, Secret};
use tencent_cdn_api::settings::{ApiVersion, ClientSettings, Endpoint};
use tencent_cdn_api::v3::V3Client;

pub const SECRET_ID: &str = "AKIDexample000000000001";
pub const SECRET_KEY: &str = "example-secret-key-0123";
pub const GB: u64 = 1_000_000_000;

/// An account with no packages and no traffic, deducted as traffic flows.
pub fn empty_state() -> SimState {
    let mut state = SimState::new(SECRET_ID, SECRET_KEY, Utc::now());
    state.settlement = Settlement::IMMEDIATE;
    state
}

/// Serves `state` on a free loopback port.
pub async fn start(state: SimState) -> Simulator {
    Simulator::start(SocketAddr::from(([127, 0, 0, 1], 0)), state)
        .await
        .expect("the simulator starts")
}

/// A client for the simulator, signing with `key`, trying each retried call
/// up to twice.
pub fn client_with_key(sim: &Simulator, key: &str) -> V3Client {
    let mut settings = ClientSettings::new("test", ApiVersion::V3, KeyId::new(SECRET_ID), Secret::new(key));
    settings.endpoint = Endpoint::parse(&sim.endpoint_v3()).expect("the simulator's URL");
    settings.timeout = Duration::from_secs(5);
    settings.max_attempts = 2;
    settings.retry_backoff = Duration::from_millis(10);
    V3Client::new(&settings).expect("a client")
}

/// A client for the simulator with the right key.
pub fn client(sim: &Simulator) -> V3Client {
    client_with_key(sim, SECRET_KEY)
}
