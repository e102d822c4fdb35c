//! The HTTP(S) listeners: hyper HTTP/1.1 over plain TCP or tokio-rustls,
//! one generic connection path for both, bounded bodies, a connection cap
//! and an idle timeout. Requests run on tokio's blocking pool because the
//! DAV handler does synchronous file I/O (fsync) and argon2.
//!
//! **Invariant:** credentials are accepted only over TLS or from a
//! loopback peer: a plain-HTTP request from any other address gets 403
//! before the handler runs.

use crate::dav::{App, Request, Response};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use outpost_config::Config;
use outpost_daemon::{Conn, Limits, Protocol, Shutdown, Spec};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;

/// Listener options.
#[derive(Debug, Clone)]
pub struct Options {
    /// Concurrent connections.
    pub max_connections: usize,
    /// Concurrent connections from one client address (0: no limit).
    pub max_connections_per_ip: usize,
    /// Idle (header read) timeout.
    pub idle_timeout: Duration,
    /// TLS handshake timeout.
    pub handshake_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_connections: 1000,
            max_connections_per_ip: 0,
            idle_timeout: Duration::from_secs(300),
            handshake_timeout: Duration::from_secs(10),
        }
    }
}

impl Options {
    /// The options `[web]` and `[tls]` configure.
    pub fn from_config(config: &Config) -> Options {
        Options {
            max_connections: config.web.max_connections.max(1),
            max_connections_per_ip: config.web.max_connections_per_ip,
            idle_timeout: Duration::from_secs(config.web.idle_timeout_secs.max(1)),
            handshake_timeout: Duration::from_secs(config.tls.handshake_timeout_secs.max(1)),
        }
    }

    /// The connection caps for the house skeleton.
    pub fn limits(&self) -> Limits {
        Limits {
            max_connections: self.max_connections.max(1),
            max_per_ip: self.max_connections_per_ip,
            handshake_timeout: self.handshake_timeout,
        }
    }
}

/// The listeners `[web]` configures: `https` (TLS) and `http` (plain,
/// loopback clients only).
pub fn specs(config: &Config) -> Vec<Spec> {
    let mut specs = Vec::new();
    for (addrs, name, implicit_tls) in [
        (&config.web.listen, "https", true),
        (&config.web.plain_listen, "http", false),
    ] {
        for addr in addrs {
            specs.push(Spec {
                name,
                addr: *addr,
                protocol: Protocol::Http,
                implicit_tls,
            });
        }
    }
    specs
}

/// Runs HTTP/1.1 on an accepted connection (TLS already established on
/// `https` listeners).
pub async fn session(app: Arc<App>, opts: Options, conn: Conn) {
    connection(conn.stream, conn.peer, conn.tls, app, opts.idle_timeout).await;
}

/// Accepts connections on `listener` until the process ends (in-process
/// tests; the same accept path as the daemon); with `tls`, each
/// connection is a TLS handshake first.
pub async fn serve(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    app: Arc<App>,
    opts: Options,
) -> std::io::Result<()> {
    let spec = Spec {
        name: if tls.is_some() { "https" } else { "http" },
        addr: listener.local_addr()?,
        protocol: Protocol::Http,
        implicit_tls: tls.is_some(),
    };
    let bound = outpost_daemon::listen::Bound::from_listeners(vec![(spec, listener)]);
    let serve_opts = outpost_daemon::listen::ServeOptions {
        limits: opts.limits(),
        tls,
        shutdown: Shutdown::new(),
        grace: Duration::from_secs(1),
    };
    bound
        .serve(serve_opts, move |c| session(app.clone(), opts.clone(), c))
        .await;
    Ok(())
}

async fn connection<S>(stream: S, peer: SocketAddr, secure: bool, app: Arc<App>, idle: Duration)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let svc = service_fn(move |req| {
        let app = app.clone();
        async move { Ok::<_, std::convert::Infallible>(handle(app, req, peer, secure).await) }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(idle)
        .keep_alive(true);
    let _ = builder.serve_connection(TokioIo::new(stream), svc).await;
}

async fn handle(
    app: Arc<App>,
    req: hyper::Request<Incoming>,
    peer: SocketAddr,
    secure: bool,
) -> hyper::Response<Full<Bytes>> {
    if !secure && !peer.ip().is_loopback() {
        return to_hyper(Response {
            status: 403,
            headers: vec![("content-type".into(), "text/plain".into())],
            body: b"HTTPS required\n".to_vec(),
        });
    }
    let (parts, body) = req.into_parts();
    let declared = parts
        .headers
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > app.max_body as u64) {
        return too_large();
    }
    let body = match Limited::new(body, app.max_body).collect().await {
        Ok(b) => b.to_bytes().to_vec(),
        Err(_) => return too_large(),
    };
    let request = Request {
        method: parts.method.as_str().to_ascii_uppercase(),
        path: parts.uri.path().to_string(),
        headers: parts
            .headers
            .iter()
            .filter_map(|(k, v)| {
                Some((
                    k.as_str().to_ascii_lowercase(),
                    v.to_str().ok()?.to_string(),
                ))
            })
            .collect(),
        body,
        client: Some(peer.ip().to_string()),
    };
    let resp = tokio::task::spawn_blocking(move || app.handle(&request))
        .await
        .unwrap_or_else(|_| Response {
            status: 500,
            headers: Vec::new(),
            body: b"internal error\n".to_vec(),
        });
    to_hyper(resp)
}

fn too_large() -> hyper::Response<Full<Bytes>> {
    to_hyper(Response {
        status: 413,
        headers: Vec::new(),
        body: b"request body too large\n".to_vec(),
    })
}

fn to_hyper(r: Response) -> hyper::Response<Full<Bytes>> {
    let mut b = hyper::Response::builder().status(r.status);
    for (k, v) in &r.headers {
        b = b.header(k.as_str(), v.as_str());
    }
    b.body(Full::new(Bytes::from(r.body))).unwrap_or_else(|_| {
        let mut resp = hyper::Response::new(Full::new(Bytes::from_static(b"bad response\n")));
        *resp.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
        resp
    })
}
