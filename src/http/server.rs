//! A small HTTP/1.1 server on hyper, shared by the daemon's endpoints and the
//! simulator: it reads each request whole (bounded), hands it to a handler
//! and writes the answer. It stops accepting when told to shut down.
//!
//! Connections are bounded, so that a client opening many and sending
//! nothing cannot use up the process's file descriptors (systemd's default
//! limit is 1,024): at most [`MAX_CONNECTIONS`] are kept, and a new one
//! past that closes the oldest (after it finishes a request in flight, for
//! at most [`EVICTION_GRACE`]). Making room rather than turning the newcomer
//! away keeps `/healthz` and Prometheus answered while a flood lasts; the
//! oldest connections are the ones most likely idle or forgotten. A
//! connection waiting for a request (idle keep-alive, or a client that
//! connected and sent nothing) is closed after [`IDLE_TIMEOUT`], and one
//! whose client stops reading the answer after [`WRITE_STALL_TIMEOUT`].

use super::tls::{self, Stream, TlsSource};
use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tokio::time::{Instant, Sleep};

/// How long a connection accepted just before a stop has to send its
/// request: a client sends it at once.
const FIRST_REQUEST_GRACE: Duration = Duration::from_secs(1);
/// How long a connection may finish its request in flight at shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Requests with larger bodies are refused.
const MAX_REQUEST_BODY: usize = 1024 * 1024;

/// Connections kept open at once; a new one past this closes the oldest.
pub const MAX_CONNECTIONS: usize = 256;

/// How long a connection closed to make room may finish its request.
pub const EVICTION_GRACE: Duration = Duration::from_secs(5);

/// Connections open, those finishing after eviction included, past which a
/// new one is closed at once: the bound on file descriptors.
pub const HARD_LIMIT: usize = MAX_CONNECTIONS + 64;

/// A connection waiting this long for (the rest of) a request is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(10);

/// A connection whose client has read nothing of the answer for this long
/// is closed.
pub const WRITE_STALL_TIMEOUT: Duration = Duration::from_secs(30);

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
    /// Every header as received.
    pub headers: hyper::HeaderMap,
    /// The body.
    pub body: Bytes,
}

/// A response to write.
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// The `Content-Type` header.
    pub content_type: &'static str,
    /// More headers (`Content-Length` is set from the body).
    pub headers: Vec<(hyper::header::HeaderName, hyper::header::HeaderValue)>,
    /// The body.
    pub body: Body,
}

/// A response body: one buffer, or parts sent one after the other without
/// being joined (a large exposition is never copied per scrape).
#[derive(Clone, Debug)]
pub enum Body {
    /// One buffer.
    One(Bytes),
    /// The parts and their total length.
    Parts(Arc<[Bytes]>, u64),
}

impl Body {
    /// The length in bytes.
    pub fn len(&self) -> u64 {
        match self {
            Body::One(b) => b.len() as u64,
            Body::Parts(_, len) => *len,
        }
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The whole body in one buffer (copied if in parts).
    pub fn to_bytes(&self) -> Bytes {
        match self {
            Body::One(b) => b.clone(),
            Body::Parts(parts, _) => Bytes::from(parts.concat()),
        }
    }
}

impl From<Bytes> for Body {
    fn from(b: Bytes) -> Self {
        Body::One(b)
    }
}

impl From<String> for Body {
    fn from(s: String) -> Self {
        Body::One(Bytes::from(s))
    }
}

impl HttpRequest {
    /// The first value of header `name` (lower case), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl HttpResponse {
    /// An answer of `content_type` with `body` and no other header.
    pub fn new(status: u16, content_type: &'static str, body: impl Into<Body>) -> Self {
        HttpResponse {
            status,
            content_type,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// A plain-text answer.
    pub fn text(status: u16, body: impl Into<String>) -> Self {
        HttpResponse::new(status, "text/plain; charset=utf-8", body.into())
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
        headers: parts.headers,
        body,
    })
}

/// A [`Body`] as hyper sends it: part after part, in frames of at most
/// [`FRAME`] bytes with a yield to the runtime between frames, so that a
/// large answer going out never holds up `/healthz` for longer than one
/// frame's write. Its length is known, so `Content-Length` is set (also for
/// `HEAD`, which hyper answers without the body).
struct OutBody {
    parts: Arc<[Bytes]>,
    next: usize,
    /// What is left of the part being sent.
    current: Bytes,
    left: u64,
    started: bool,
    yielded: bool,
    /// Held until the answer is written or dropped: the request is in flight.
    _in_flight: Option<InFlight>,
}

/// The most one frame of a body holds.
const FRAME: usize = 256 * 1024;

impl hyper::body::Body for OutBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        while self.current.is_empty() {
            let Some(part) = self.parts.get(self.next).cloned() else {
                return Poll::Ready(None);
            };
            self.next += 1;
            self.current = part;
        }
        if self.started && !self.yielded {
            self.yielded = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        self.yielded = false;
        self.started = true;
        let n = self.current.len().min(FRAME);
        let frame = self.current.split_to(n);
        self.left -= n as u64;
        Poll::Ready(Some(Ok(Frame::data(frame))))
    }

    fn is_end_stream(&self) -> bool {
        self.left == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.left)
    }
}

/// Counts a request as in flight on its connection while it lives.
struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    fn new(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::AcqRel);
        InFlight(count.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

fn write(response: HttpResponse, in_flight: InFlight) -> hyper::Response<OutBody> {
    let (parts, len) = match response.body {
        Body::One(b) => {
            let len = b.len() as u64;
            (Arc::from(vec![b]), len)
        }
        Body::Parts(parts, len) => (parts, len),
    };
    let mut out = hyper::Response::new(OutBody {
        parts,
        next: 0,
        current: Bytes::new(),
        left: len,
        started: false,
        yielded: false,
        _in_flight: Some(in_flight),
    });
    *out.status_mut() =
        hyper::StatusCode::from_u16(response.status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    let headers = out.headers_mut();
    headers.insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(response.content_type),
    );
    for (name, value) in response.headers {
        headers.insert(name, value);
    }
    out
}

/// The open connections, oldest first, each with the signal that closes it.
#[derive(Default)]
struct Connections {
    next_id: u64,
    open: BTreeMap<u64, Arc<Notify>>,
    /// Told to close, not closed yet.
    closing: usize,
}

/// Removes a connection from the count when its task ends, however it ends.
struct Tracked {
    id: u64,
    table: Arc<Mutex<Connections>>,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        let mut table = self.table.lock().unwrap_or_else(|p| p.into_inner());
        if table.open.remove(&self.id).is_none() {
            table.closing = table.closing.saturating_sub(1);
        }
    }
}

impl Connections {
    /// Makes room for a new connection and registers it; `None` when even
    /// the hard limit is reached (the caller closes it at once).
    fn admit(table: &Arc<Mutex<Connections>>) -> Option<(Tracked, Arc<Notify>)> {
        let mut t = table.lock().unwrap_or_else(|p| p.into_inner());
        if t.open.len() + t.closing >= HARD_LIMIT {
            return None;
        }
        if t.open.len() >= MAX_CONNECTIONS
            && let Some((_, oldest)) = t.open.pop_first()
        {
            oldest.notify_one();
            t.closing += 1;
        }
        let id = t.next_id;
        t.next_id += 1;
        let close = Arc::new(Notify::new());
        t.open.insert(id, close.clone());
        Some((
            Tracked {
                id,
                table: table.clone(),
            },
            close,
        ))
    }
}

/// The socket, failing writes that make no progress for
/// [`WRITE_STALL_TIMEOUT`]: hyper has no write timeout, and a client that
/// stops reading would hold its connection (and the answer) forever.
struct StallGuard {
    inner: Stream,
    timer: Pin<Box<Sleep>>,
    armed: bool,
}

impl StallGuard {
    fn new(inner: Stream) -> Self {
        StallGuard {
            inner,
            timer: Box::pin(tokio::time::sleep(WRITE_STALL_TIMEOUT)),
            armed: false,
        }
    }

    fn on_write<T>(&mut self, cx: &mut Context<'_>, result: Poll<std::io::Result<T>>) -> Poll<std::io::Result<T>> {
        match result {
            Poll::Pending => {
                if !self.armed {
                    self.timer.as_mut().reset(Instant::now() + WRITE_STALL_TIMEOUT);
                    self.armed = true;
                }
                match self.timer.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "the client stopped reading the answer",
                    ))),
                    Poll::Pending => Poll::Pending,
                }
            }
            ready => {
                self.armed = false;
                ready
            }
        }
    }
}

impl AsyncRead for StallGuard {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for StallGuard {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.on_write(cx, result)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.on_write(cx, result)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let result = Pin::new(&mut self.inner).poll_flush(cx);
        self.on_write(cx, result)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Serves `handler` on `listener` until `shutdown` turns true.
pub async fn serve<H: Handler>(listener: TcpListener, handler: Arc<H>, shutdown: watch::Receiver<bool>) {
    serve_with_tls(listener, handler, None, shutdown).await
}

/// Serves `handler` as [`serve`] does, over TLS on each connection for which
/// `tls` gives a setup.
pub async fn serve_with_tls<H: Handler>(
    listener: TcpListener,
    handler: Arc<H>,
    tls: Option<Arc<dyn TlsSource>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let table = Arc::new(Mutex::new(Connections::default()));
    let mut refused = 0u64;
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
        // An answer goes out in a few writes: without this, Nagle's
        // algorithm and delayed ACKs would hold each one back for 40 ms.
        let _ = stream.set_nodelay(true);
        let Some((tracked, close)) = Connections::admit(&table) else {
            refused += 1;
            // Once, then every thousandth: a flood must not flood the log.
            if refused % 1000 == 1 {
                tracing::warn!(
                    "{HARD_LIMIT} HTTP connections are open; new ones are closed at once ({refused} so far)"
                );
            }
            drop(stream);
            continue;
        };
        let handler = handler.clone();
        let tls = tls.clone();
        let mut stopping = shutdown.clone();
        tokio::spawn(async move {
            let _tracked = tracked;
            // Inside the connection's own task, so a slow handshake holds up
            // nobody; it is bounded like a silent client, and a connection
            // closed to make room meanwhile is dropped.
            let handshake = tls::accept(stream, tls.as_deref(), IDLE_TIMEOUT);
            tokio::pin!(handshake);
            let interrupted = tokio::select! {
                stream = &mut handshake => Ok(stream),
                _ = close.notified() => Err(false),
                _ = async { drop(stopping.wait_for(|stop| *stop).await) } => Err(true),
            };
            let stream = match interrupted {
                Ok(stream) => stream,
                Err(false) => None,
                // A stop (a reload) does not cut a connection accepted just
                // before it: its client could not tell that from a failure.
                // The handshake only gets a shorter bound.
                Err(true) => tokio::time::timeout(FIRST_REQUEST_GRACE, handshake)
                    .await
                    .ok()
                    .flatten(),
            };
            let Some(stream) = stream else {
                return;
            };
            let in_flight = Arc::new(AtomicUsize::new(0));
            let requests = in_flight.clone();
            let asked = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let asked_in = asked.clone();
            let service = service_fn(move |request| {
                let handler = handler.clone();
                asked_in.store(true, Ordering::Release);
                let in_flight = InFlight::new(&requests);
                async move {
                    let response = match read(request).await {
                        Ok(request) => handler.handle(request).await,
                        Err(refusal) => refusal,
                    };
                    Ok::<_, Infallible>(write(response, in_flight))
                }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                // hyper restarts this timer whenever it waits for a request,
                // so it is also the idle keep-alive timeout.
                .header_read_timeout(IDLE_TIMEOUT)
                .serve_connection(TokioIo::new(StallGuard::new(stream)), service);
            tokio::pin!(connection);
            let ended = tokio::select! {
                ended = connection.as_mut() => ended,
                // Closed to make room: at once if no request is in flight
                // (idle, or connected and silent), else after it is answered.
                _ = close.notified() => if in_flight.load(Ordering::Acquire) == 0 {
                    Ok(())
                } else {
                    connection.as_mut().graceful_shutdown();
                    match tokio::time::timeout(EVICTION_GRACE, connection.as_mut()).await {
                        Ok(ended) => ended,
                        Err(_) => Ok(()),
                    }
                },
                // At shutdown an open keep-alive connection is closed too:
                // left alone, it would keep this server's handler, and all
                // it holds, alive after a reload.
                _ = async { drop(stopping.wait_for(|stop| *stop).await) } => {
                    // Accepted just before the stop (a reload), its request
                    // not read yet: it is answered, not cut, since its
                    // client cannot tell that from a failure.
                    if !asked.load(Ordering::Acquire) {
                        let first_request = async {
                            while !asked.load(Ordering::Acquire) {
                                tokio::time::sleep(Duration::from_millis(10)).await;
                            }
                        };
                        tokio::select! {
                            ended = connection.as_mut() => {
                                if let Err(e) = ended {
                                    tracing::debug!("HTTP connection ended: {e}");
                                }
                                return;
                            }
                            _ = tokio::time::timeout(FIRST_REQUEST_GRACE, first_request) => {}
                        }
                    }
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
