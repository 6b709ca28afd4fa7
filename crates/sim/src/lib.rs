//! `cdnquota-sim`: a stand-in for the CDN API endpoints, v2
//! (`/v2/index.php`) and 3.0 (`/`), served over real HTTP on loopback.
//!
//! It checks what the real service checks (signatures, Timestamp window,
//! Nonce replay, parameters), answers from a simulated account whose
//! packages drain over time (each billing region's traffic from its own
//! packages, HTTPS requests from HTTPS request packages, deducted when the
//! traffic is settled: by default hourly, 3 h late), takes orders that
//! become packages once paid, and fails on demand. Tests and `cdnquota demo` run against it; the
//! packaged daemon is built without it. It shares no code with the client:
//! its signatures are checked by its own code, from Tencent's documentation.
//!
//! # Layout, in the order a request flows through it
//!
//! - [`Simulator`] (this file): start, stop, inspect, inject faults.
//! - `http`: the HTTP/1.1 server; `handler`: faults, then v2 or v3.
//! - `v2`: API 2.0's authentication and answers (mainland packages only).
//! - `v3`: API 3.0's authentication and dispatch; `v3_packages`:
//!   DescribeTrafficPackages and DescribeHttpsPackages; `v3_billing`:
//!   DescribeBillingData and DescribePayType; `v3_answer`: the envelope.
//! - `verify`: signatures; `wire`: action names, times and ids as the API
//!   writes them.
//! - [`state`]: the simulated account, its packages, orders and log;
//!   [`settle`]: when traffic is deducted; [`traffic`]: how demand moves
//!   through the day.
//! - [`scenario`]: ready-made accounts (the demo's); [`trace`]: generated
//!   poll histories for the forecast's benchmark; `trace_shapes`: traces
//!   built around one event (holidays, month end, a launch, a level step,
//!   a cold start), re-exported by `trace`.

mod handler;
mod http;
pub mod scenario;
pub mod settle;
pub mod state;
pub mod trace;
mod trace_shapes;
pub mod traffic;
mod v2;
mod v3;
mod v3_answer;
mod v3_billing;
mod v3_packages;
mod verify;
mod wire;

pub use wire::CHINA_STANDARD_TIME;

use handler::SimHandler;
use http::serve;
use state::{Fault, SimState};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// The path the simulator answers on, as the real endpoint.
pub const PATH: &str = "/v2/index.php";

/// A running simulator; dropping it stops the server.
pub struct Simulator {
    addr: SocketAddr,
    state: Arc<Mutex<SimState>>,
    _stop: watch::Sender<bool>,
}

impl Simulator {
    /// Serves `state` on `addr` (use port 0 for a free one).
    pub async fn start(addr: SocketAddr, state: SimState) -> std::io::Result<Simulator> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Mutex::new(state));
        let (stop, stopped) = watch::channel(false);
        let handler = Arc::new(SimHandler { state: state.clone() });
        tokio::spawn(serve(listener, handler, stopped));
        Ok(Simulator {
            addr,
            state,
            _stop: stop,
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The API v2 endpoint URL to configure.
    pub fn endpoint(&self) -> String {
        format!("http://{}{PATH}", self.addr)
    }

    /// The API 3.0 endpoint URL to configure.
    pub fn endpoint_v3(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// The account's state, to inspect or change between requests.
    pub fn state(&self) -> MutexGuard<'_, SimState> {
        // A panic while holding the lock only happens in a failing test.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Queues a fault for the next request.
    pub fn inject(&self, fault: Fault) {
        self.state().faults.push_back(fault);
    }
}
