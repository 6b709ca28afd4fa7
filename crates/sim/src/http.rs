//! The simulator's HTTP/1.1 server: each request read whole and answered,
//! until the simulator is dropped.
//! It needs none of the daemon's connection limits: only tests and the demo
//! talk to it, on loopback.

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// The largest request body read; the real API's requests are a few hundred
/// bytes.
const MAX_BODY: usize = 1 << 20;

/// An idle keep-alive connection is closed after this long.
const IDLE: Duration = Duration::from_secs(30);

/// A request, read whole.
pub(crate) struct Request {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) query: String,
    /// The `Host` header as sent, which v2 signs.
    pub(crate) host: String,
    pub(crate) content_type: String,
    pub(crate) headers: hyper::HeaderMap,
    pub(crate) body: Bytes,
}

impl Request {
    /// The first value of header `name` (lower case), if present.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// An answer.
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) content_type: &'static str,
    pub(crate) body: Bytes,
}

impl Response {
    /// An answer of `content_type` with `body`.
    pub(crate) fn new(status: u16, content_type: &'static str, body: impl Into<Bytes>) -> Self {
        Response {
            status,
            content_type,
            body: body.into(),
        }
    }

    /// A plain-text answer.
    pub(crate) fn text(status: u16, body: &'static str) -> Self {
        Response::new(status, "text/plain; charset=utf-8", body)
    }
}

/// What answers the requests.
pub(crate) trait Answer: Send + Sync + 'static {
    /// The answer to one request.
    fn answer(&self, request: Request) -> impl Future<Output = Response> + Send;
}

/// Serves `handler` on `listener` until `stop` turns true or is dropped.
pub(crate) async fn serve<H: Answer>(listener: TcpListener, handler: Arc<H>, stop: watch::Receiver<bool>) {
    loop {
        let mut stopping = stop.clone();
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = async { drop(stopping.wait_for(|stop| *stop).await) } => return,
        };
        let Ok((stream, _)) = accepted else {
            // Out of file descriptors, most likely: wait, do not spin.
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let handler = handler.clone();
        let mut stopping = stop.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let handler = handler.clone();
                async move {
                    let response = match read(request).await {
                        Some(request) => handler.answer(request).await,
                        None => Response::text(413, "request body too large or unreadable\n"),
                    };
                    Ok::<_, Infallible>(write(response))
                }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(IDLE)
                .serve_connection(TokioIo::new(stream), service);
            tokio::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                // A dropped simulator closes its keep-alive connections too.
                _ = async { drop(stopping.wait_for(|stop| *stop).await) } => {}
            }
        });
    }
}

async fn read(request: hyper::Request<Incoming>) -> Option<Request> {
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
    let body = Limited::new(body, MAX_BODY).collect().await.ok()?.to_bytes();
    Some(Request {
        method: parts.method.as_str().to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().unwrap_or_default().to_string(),
        host,
        content_type,
        headers: parts.headers,
        body,
    })
}

fn write(response: Response) -> hyper::Response<Full<Bytes>> {
    let mut out = hyper::Response::new(Full::new(response.body));
    *out.status_mut() =
        hyper::StatusCode::from_u16(response.status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    out.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(response.content_type),
    );
    out
}
