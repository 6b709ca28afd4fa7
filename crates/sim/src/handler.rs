//! The simulator's front door: applies an injected fault, sends the request
//! to the v2 or v3 answerer by path, and logs it.

use crate::http::{Answer, Request, Response};
use crate::state::{Fault, SimState};
use bytes::Bytes;
use chrono::Utc;
use std::sync::{Arc, Mutex};

pub(crate) struct SimHandler {
    pub(crate) state: Arc<Mutex<SimState>>,
}

impl SimHandler {
    fn lock(&self) -> std::sync::MutexGuard<'_, SimState> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Answer for SimHandler {
    /// Answers one request, as the real API would or as a fault says.
    async fn answer(&self, request: Request) -> Response {
        let v3 = request.path != crate::PATH;
        let mut log = if v3 {
            crate::v3::describe(&request)
        } else {
            crate::v2::describe(&request)
        };
        let fault = {
            let mut state = self.lock();
            state.arrivals.push(log.action.clone());
            // A hold waits for its action and leaves other requests alone.
            match state.faults.front() {
                Some(Fault::HoldAction(action, _)) if *action != log.action => None,
                _ => state.faults.pop_front(),
            }
        };
        match &fault {
            Some(Fault::Delay(d)) | Some(Fault::HoldAction(_, d)) => tokio::time::sleep(*d).await,
            _ => {}
        }
        let now = Utc::now();
        let mut state = self.lock();
        let (answered, response) = match fault {
            Some(Fault::HttpStatus(status)) => (
                status.to_string(),
                Response::new(
                    status,
                    "text/html",
                    Bytes::from_static(b"<html><body>simulated failure</body></html>"),
                ),
            ),
            Some(Fault::ApiCode(code)) if v3 => crate::v3::injected_error(code),
            Some(Fault::ApiCode(code)) => crate::v2::api_error(code, "InternalError", "simulated error"),
            Some(Fault::ApiMessage(code, message)) => crate::v2::api_error(code, "InternalError", message),
            Some(Fault::EmptyPackageList) => (
                "0".into(),
                crate::v2::json_response(
                    serde_json::json!({"code": 0, "message": "", "codeDesc": "Success", "data": []}),
                ),
            ),
            Some(Fault::UsageReadsZero) => {
                // Drained first, so the glitch does not eat real traffic.
                state.advance(now);
                let kept: Vec<f64> = state.packages.iter().map(|p| p.used_bytes).collect();
                for p in &mut state.packages {
                    p.used_bytes = 0.0;
                }
                let answered = answer(&mut state, &request, v3, now);
                for (p, used) in state.packages.iter_mut().zip(kept) {
                    p.used_bytes = used;
                }
                answered
            }
            Some(Fault::TruncatedJson) => {
                let (code, mut r) = answer(&mut state, &request, v3, now);
                let whole = r.body.clone();
                r.body = whole.slice(..whole.len() / 2);
                (code, r)
            }
            Some(Fault::Delay(_)) | Some(Fault::HoldAction(..)) | None => answer(&mut state, &request, v3, now),
        };
        log.answered = answered;
        state.requests.push(log);
        response
    }
}

fn answer(state: &mut SimState, request: &Request, v3: bool, now: chrono::DateTime<Utc>) -> (String, Response) {
    if v3 {
        crate::v3::answer(state, request, now)
    } else {
        crate::v2::answer(state, request, now)
    }
}
