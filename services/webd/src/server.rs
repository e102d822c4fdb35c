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
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// Listener options.
#[derive(Debug, Clone)]
pub struct Options {
    /// Concurrent connections.
    pub max_connections: usize,
    /// Idle (header read) timeout.
    pub idle_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_connections: 1000,
            idle_timeout: Duration::from_secs(300),
        }
    }
}

/// Accepts connections on `listener` forever; with `tls`, each connection
/// is a TLS handshake first.
pub async fn serve(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    app: Arc<App>,
    opts: Options,
) -> std::io::Result<()> {
    let limit = Arc::new(Semaphore::new(opts.max_connections.max(1)));
    loop {
        let (tcp, peer) = listener.accept().await?;
        let Ok(permit) = limit.clone().acquire_owned().await else {
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let app = app.clone();
        let tls = tls.clone();
        let idle = opts.idle_timeout;
        tokio::spawn(async move {
            let _permit = permit;
            match tls {
                Some(acceptor) => {
                    // Bound the handshake too: a silent client must not hold a slot.
                    if let Ok(Ok(stream)) = tokio::time::timeout(idle, acceptor.accept(tcp)).await {
                        connection(stream, peer, true, app, idle).await;
                    }
                }
                None => connection(tcp, peer, false, app, idle).await,
            }
        });
    }
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
