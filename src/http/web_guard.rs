//! The web config in force for every connection and request: read at
//! start, read again when one of its files changes (a bad change keeps the
//! last good one, said once), and put in front of every endpoint as TLS,
//! a login and headers.

use super::basic_auth::{Authenticator, Users};
use super::server::{Handler, HttpRequest, HttpResponse};
use super::tls;
use super::web_config::{ClientAuth, WebConfigError, parse_file};
use hyper::header::{HeaderName, HeaderValue};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// A web config read and checked, certificates loaded: what serves
/// connections until the file changes.
pub struct Active {
    /// The TLS setup, or `None` for plain HTTP.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// The basic-auth users, or `None` when no login is asked for.
    pub users: Option<Users>,
    /// Headers added to every answer that does not set them itself.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// What is in force, for the log and `cdnquota config`.
    pub summary: String,
    /// The files whose change makes it read again.
    pub(super) files: Vec<PathBuf>,
}

impl Active {
    /// Plain HTTP, no login: what runs without a web config.
    pub fn open() -> Active {
        Active {
            tls: None,
            users: None,
            headers: Vec::new(),
            summary: "plain HTTP, no login".to_string(),
            files: Vec::new(),
        }
    }
}

/// Reads and checks the web config at `path`, loading what it names.
pub fn load(path: &Path) -> Result<Active, WebConfigError> {
    let (settings, files) = parse_file(path)?;
    let file = path.display();
    let tls = match &settings.tls {
        Some(t) => {
            Some(Arc::new(tls::server_config(t).map_err(|e| {
                WebConfigError(format!("{file}: tls_server_config: {e}"))
            })?))
        }
        None => None,
    };
    let mut summary = match (&settings.tls, &tls) {
        (Some(t), Some(_)) => {
            let versions = match (t.tls12, t.tls13) {
                (true, true) => "TLS 1.2 and 1.3",
                (false, _) => "TLS 1.3",
                (true, false) => "TLS 1.2",
            };
            let clients = match t.client_auth {
                ClientAuth::None => "no client certificates",
                ClientAuth::VerifyIfGiven => "client certificates verified if given",
                ClientAuth::Require => "client certificates required",
            };
            format!("{versions}, {clients}")
        }
        _ => "plain HTTP".to_string(),
    };
    match &settings.users {
        Some(users) => summary.push_str(&format!(", basic auth for {} user(s)", users.len())),
        None => summary.push_str(", no login"),
    }
    Ok(Active {
        tls,
        users: settings.users,
        headers: settings.headers,
        summary,
        files,
    })
}

/// Identifies a file's content without reading it: replaced, rewritten or
/// touched, one of these changes.
#[derive(Clone, PartialEq, Eq, Debug)]
struct Stamp(Option<(u64, u64, i64, i64, u64)>);

fn stamp(path: &Path) -> Stamp {
    use std::os::unix::fs::MetadataExt;
    Stamp(
        std::fs::metadata(path)
            .ok()
            .map(|m| (m.dev(), m.ino(), m.mtime(), m.mtime_nsec(), m.len())),
    )
}

fn stamps(files: &[PathBuf]) -> Vec<(PathBuf, Stamp)> {
    files.iter().map(|f| (f.clone(), stamp(f))).collect()
}

struct WatchState {
    active: Arc<Active>,
    /// The files last read (or tried) and how they were then.
    seen: Vec<(PathBuf, Stamp)>,
}

/// The web config in force, read again whenever one of its files changes.
pub struct WebConfigWatch {
    path: Option<PathBuf>,
    state: Mutex<WatchState>,
    /// Verified passwords, kept across re-reads (the key holds the hash).
    pub authenticator: Authenticator,
}

impl WebConfigWatch {
    /// Loads the web config at `path`; `None` serves plain HTTP without a
    /// login. A bad file is refused here, at start.
    pub fn load(path: Option<&Path>) -> Result<WebConfigWatch, WebConfigError> {
        let active = match path {
            Some(p) => load(p)?,
            None => Active::open(),
        };
        if let (Some(p), None, Some(_)) = (path, &active.tls, &active.users) {
            tracing::warn!(
                "{}: basic_auth_users without tls_server_config: passwords cross the network in the clear; add a certificate",
                p.display()
            );
        }
        Ok(WebConfigWatch {
            path: path.map(Path::to_path_buf),
            state: Mutex::new(WatchState {
                seen: stamps(&active.files),
                active: Arc::new(active),
            }),
            authenticator: Authenticator::default(),
        })
    }

    /// The web config for a new connection or request: the one in force,
    /// read again first if one of its files changed since.
    pub fn current(&self) -> Arc<Active> {
        let Some(path) = &self.path else {
            return self.lock().active.clone();
        };
        let mut state = self.lock();
        if state.seen.iter().all(|(f, s)| stamp(f) == *s) {
            return state.active.clone();
        }
        match load(path) {
            Ok(active) => {
                tracing::info!(
                    "web config {} changed and was read again: {}",
                    path.display(),
                    active.summary
                );
                state.seen = stamps(&active.files);
                state.active = Arc::new(active);
            }
            Err(e) => {
                // Said once per change: until a file changes again the
                // stamps match and nothing is read or logged.
                tracing::error!("{e}; the last good web config stays in force");
                let mut files: Vec<PathBuf> = state.seen.iter().map(|(f, _)| f.clone()).collect();
                if let Ok((_, named)) = parse_file(path) {
                    files.extend(named);
                }
                files.sort();
                files.dedup();
                state.seen = stamps(&files);
            }
        }
        state.active.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, WatchState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl tls::TlsSource for WebConfigWatch {
    fn server_config(&self) -> Option<Arc<rustls::ServerConfig>> {
        self.current().tls.clone()
    }
}

/// Every endpoint of `inner` behind the web config: a login when it has
/// users, and its headers on every answer (a header the endpoint sets
/// itself wins, as in the toolkit).
pub struct Guarded<H> {
    /// The endpoints.
    pub inner: H,
    /// The web config in force.
    pub web: Arc<WebConfigWatch>,
}

impl<H: Handler> Handler for Guarded<H> {
    async fn handle(&self, request: HttpRequest) -> HttpResponse {
        let active = self.web.current();
        let mut response = match &active.users {
            Some(users)
                if !self
                    .web
                    .authenticator
                    .verify(users, request.header("authorization"))
                    .await =>
            {
                let mut refused = HttpResponse::text(401, "Unauthorized: give a user and password of the web config\n");
                refused.headers.push((
                    hyper::header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"cdnquota\""),
                ));
                refused
            }
            _ => self.inner.handle(request).await,
        };
        for (name, value) in &active.headers {
            if !response.headers.iter().any(|(n, _)| n == name) {
                response.headers.push((HeaderName::clone(name), value.clone()));
            }
        }
        response
    }
}
