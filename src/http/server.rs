//! A small HTTP/1.1 server on hyper, shared by the daemon's endpoints and the
//! simulator: it reads each request whole (bounded), hands it to a handler
//! and writes the answer. It stops accepting when told to shut down.

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// How long a connection may finish its request in flight at shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Requests with larger bodies are refused.
const MAX_REQUEST_BODY: usize = 1024 * 1024;

/// A request, read whole.
pub struct HttpRequest {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The raw query string, without `?`.
    pub query: String,
    /// The `Host` header as sent.
    pub host: String,
    /// The `Content-Type` header, if any.
    pub content_type: String,
    /// Every header as (lower-case name, value); values that are not text are left out.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Bytes,
}

/// A response to write.
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// The `Content-Type` header.
    pub content_type: &'static str,
    /// The body.
    pub body: Bytes,
}

impl HttpRequest {
    /// The first value of header `name` (lower case), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

impl HttpResponse {
    /// A plain-text answer.
    pub fn text(status: u16, body: impl Into<String>) -> Self {
        HttpResponse {
            status,
            content_type: "text/plain; charset=utf-8",
            body: Bytes::from(body.into()),
        }
    }
}

/// Answers requests.
pub trait Handler: Send + Sync + 'static {
    /// Produces the answer to one request.
    fn handle(&self, request: HttpRequest) -> impl Future<Output = HttpResponse> + Send;
}

async fn read(request: hyper::Request<Incoming>) -> Result<HttpRequest, HttpResponse> {
    let (parts, body) = request.into_parts();
    let header = |name: hyper::header::HeaderName| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let host = header(hyper::header::HOST);
    let content_type = header(hyper::header::CONTENT_TYPE);
    let headers = parts
        .headers
        .iter()
        .filter_map(|(name, value)| Some((name.as_str().to_string(), value.to_str().ok()?.to_string())))
        .collect();
    let body = Limited::new(body, MAX_REQUEST_BODY)
        .collect()
        .await
        .map_err(|_| HttpResponse::text(413, "request body too large or unreadable\n"))?
        .to_bytes();
    Ok(HttpRequest {
        method: parts.method.as_str().to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().unwrap_or_default().to_string(),
        host,
        content_type,
        headers,
        body,
    })
}

fn write(response: HttpResponse) -> hyper::Response<Full<Bytes>> {
    let mut out = hyper::Response::new(Full::new(response.body));
    *out.status_mut() =
        hyper::StatusCode::from_u16(response.status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    out.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(response.content_type),
    );
    out
}

/// Serves `handler` on `listener` until `shutdown` turns true.
pub async fn serve<H: Handler>(listener: TcpListener, handler: Arc<H>, mut shutdown: watch::Receiver<bool>) {
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Usually out of file descriptors: wait rather than spin.
                    tracing::warn!("accepting a connection failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        let handler = handler.clone();
        let mut stopping = shutdown.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let handler = handler.clone();
                async move {
                    let response = match read(request).await {
                        Ok(request) => handler.handle(request).await,
                        Err(refusal) => refusal,
                    };
                    Ok::<_, Infallible>(write(response))
                }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(10))
                .serve_connection(TokioIo::new(stream), service);
            tokio::pin!(connection);
            // At shutdown an open keep-alive connection is closed too: left
            // alone, it would keep this server's handler, and all it holds,
            // alive after a reload.
            let ended = tokio::select! {
                ended = connection.as_mut() => ended,
                _ = async { drop(stopping.wait_for(|stop| *stop).await) } => {
                    connection.as_mut().graceful_shutdown();
                    tokio::time::timeout(SHUTDOWN_GRACE, connection)
                        .await
                        .unwrap_or(Ok(()))
                }
            };
            if let Err(e) = ended {
                tracing::debug!("HTTP connection ended: {e}");
            }
        });
    }
}
