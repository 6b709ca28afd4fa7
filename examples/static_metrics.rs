//! The benchmark's yardstick: a minimal hyper server answering every
//! request with the same exposition bytes from memory, as text or, when the
//! request accepts gzip, as gzip, with the headers `cdnquota` sends. It runs
//! on a single-threaded runtime, as the daemon does.
//!
//! `static_metrics ADDR TEXT_FILE GZIP_FILE` (see `scripts/bench-metrics`).

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{CONTENT_ENCODING, CONTENT_TYPE, HeaderValue, VARY};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let [_, addr, text, gzip] = args.as_slice() else {
        eprintln!("usage: static_metrics ADDR TEXT_FILE GZIP_FILE");
        return ExitCode::from(2);
    };
    let (text, gzip) = match (std::fs::read(text), std::fs::read(gzip)) {
        (Ok(t), Ok(g)) => (Bytes::from(t), Bytes::from(g)),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("static_metrics: cannot read the bodies: {e}");
            return ExitCode::from(1);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("static_metrics: {e}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::bind(addr.as_str()).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("static_metrics: cannot listen on {addr}: {e}");
                return ExitCode::from(1);
            }
        };
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let (text, gzip) = (text.clone(), gzip.clone());
            tokio::spawn(async move {
                let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                    let wants_gzip = request
                        .headers()
                        .get("accept-encoding")
                        .and_then(|v| v.to_str().ok())
                        .is_some_and(|v| v.contains("gzip"));
                    let body = if wants_gzip { gzip.clone() } else { text.clone() };
                    let mut response = hyper::Response::new(Full::new(body));
                    let headers = response.headers_mut();
                    headers.insert(
                        CONTENT_TYPE,
                        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
                    );
                    headers.insert(VARY, HeaderValue::from_static("Accept-Encoding"));
                    if wants_gzip {
                        headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
                    }
                    async move { Ok::<_, Infallible>(response) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    })
}
