//! TLS for the HTTP server: the rustls setup a web config asks for, and the
//! accepted connection as plain TCP or TLS.

use super::web_config::{ClientAuth, TlsSettings};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

/// Where the server finds, per connection, whether to speak TLS and how.
pub trait TlsSource: Send + Sync + 'static {
    /// The TLS setup for a new connection, or `None` for plain HTTP.
    fn server_config(&self) -> Option<Arc<rustls::ServerConfig>>;
}

/// Builds the rustls setup of a checked `tls_server_config`: the
/// certificate and key, client verification, versions, suites and groups.
pub(super) fn server_config(t: &TlsSettings) -> Result<rustls::ServerConfig, String> {
    let mut provider = rustls::crypto::ring::default_provider();
    if let Some(names) = &t.cipher_suites {
        // As in Go, the list picks TLS 1.2 suites; TLS 1.3's are all kept.
        let tls12: Vec<String> = provider
            .cipher_suites
            .iter()
            .filter(|s| s.tls13().is_none())
            .map(|s| format!("{:?}", s.suite()))
            .collect();
        for name in names {
            if !tls12.contains(name) {
                return Err(format!(
                    "cipher_suites: `{name}` is not a suite cdnquota offers: use some of {}",
                    tls12.join(", ")
                ));
            }
        }
        let mut picked: Vec<_> = provider
            .cipher_suites
            .iter()
            .filter(|s| s.tls13().is_some())
            .copied()
            .collect();
        for name in names {
            picked.extend(
                provider
                    .cipher_suites
                    .iter()
                    .filter(|s| s.tls13().is_none() && format!("{:?}", s.suite()) == *name)
                    .copied(),
            );
        }
        provider.cipher_suites = picked;
    }
    if let Some(curves) = &t.curve_preferences {
        let mut groups = Vec::new();
        for curve in curves {
            // Go's names for the groups rustls offers (P-521 it does not).
            let wanted = match curve.as_str() {
                "X25519" => rustls::NamedGroup::X25519,
                "CurveP256" => rustls::NamedGroup::secp256r1,
                "CurveP384" => rustls::NamedGroup::secp384r1,
                other => {
                    return Err(format!(
                        "curve_preferences: `{other}` is not offered: use X25519, CurveP256 or CurveP384"
                    ));
                }
            };
            groups.extend(provider.kx_groups.iter().filter(|g| g.name() == wanted).copied());
        }
        provider.kx_groups = groups;
    }
    let provider = Arc::new(provider);
    let versions: Vec<&'static rustls::SupportedProtocolVersion> =
        [(t.tls13, &rustls::version::TLS13), (t.tls12, &rustls::version::TLS12)]
            .into_iter()
            .filter_map(|(on, v)| on.then_some(v))
            .collect();
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| format!("min_version, max_version: {e}"))?;
    let builder = match t.client_auth {
        ClientAuth::None => builder.with_no_client_auth(),
        auth => {
            let Some(ca) = &t.client_ca else {
                return Err("client_ca_file: is missing".into());
            };
            let mut roots = rustls::RootCertStore::empty();
            for cert in certificates(&ca.read()?).map_err(|e| format!("client_ca_file: {e}"))? {
                roots
                    .add(cert)
                    .map_err(|e| format!("client_ca_file: a certificate is not a usable CA: {e}"))?;
            }
            let mut verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            if auth == ClientAuth::VerifyIfGiven {
                verifier = verifier.allow_unauthenticated();
            }
            let verifier = verifier.build().map_err(|e| format!("client_ca_file: {e}"))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let chain =
        certificates(&t.cert.read().map_err(|e| format!("cert_file: {e}"))?).map_err(|e| format!("cert_file: {e}"))?;
    // The key's own error never quotes it: PEM errors name the section.
    let key_pem = t.key.read().map_err(|e| format!("key_file: {e}"))?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|_| "key_file: holds no PEM private key (PKCS#8, PKCS#1 or SEC1)".to_string())?;
    let mut config = builder.with_single_cert(chain, key).map_err(|e| match e {
        rustls::Error::InconsistentKeys(_) => {
            "key_file: is not the key of cert_file's certificate: give the matching pair (replace both when rotating)"
                .to_string()
        }
        other => format!("cert_file, key_file: {other}"),
    })?;
    config.ignore_client_order = t.prefer_server_cipher_suites;
    // HTTP/1.1 only: hyper is set up for it here.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

fn certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("unreadable PEM: {e}"))?;
    if certs.is_empty() {
        return Err("holds no PEM certificate".into());
    }
    Ok(certs)
}

/// An accepted connection, spoken in plain text or TLS.
pub enum Stream {
    /// Plain HTTP.
    Plain(TcpStream),
    /// HTTPS.
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

/// The answer Go's servers give to plain HTTP on a TLS port, so that a
/// scraper set to `http` says why it failed instead of "EOF".
const PLAIN_TO_TLS: &[u8] = b"HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\nClient sent an HTTP request to an HTTPS server.\n";

/// The first byte of every TLS connection: a handshake record.
const TLS_HANDSHAKE: u8 = 0x16;

/// Makes `stream` ready for HTTP: as it is without TLS, else after a
/// handshake of at most `timeout`. `None` when the connection is not to be
/// served (a failed handshake, plain HTTP to the TLS port, a silent client).
pub async fn accept(stream: TcpStream, source: Option<&dyn TlsSource>, timeout: Duration) -> Option<Stream> {
    let Some(config) = source.and_then(|s| s.server_config()) else {
        return Some(Stream::Plain(stream));
    };
    let handshake = async {
        let mut first = [0u8; 1];
        match stream.peek(&mut first).await {
            Ok(1) if first[0] == TLS_HANDSHAKE => {}
            Ok(1) => {
                let mut stream = stream;
                let _ = stream.write_all(PLAIN_TO_TLS).await;
                let _ = stream.shutdown().await;
                tracing::debug!("plain HTTP on the TLS port: answered 400");
                return None;
            }
            _ => return None,
        }
        match tokio_rustls::TlsAcceptor::from(config).accept(stream).await {
            Ok(tls) => Some(Stream::Tls(Box::new(tls))),
            Err(e) => {
                // Debug only: any client can cause it, and a flood of them
                // must not flood the log.
                tracing::debug!("TLS handshake failed: {e}");
                None
            }
        }
    };
    tokio::time::timeout(timeout, handshake).await.ok().flatten()
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
