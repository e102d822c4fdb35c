//! The HTTP(S) listeners: hyper HTTP/1.1 over plain TCP or tokio-rustls,
//! one generic connection path for both, bounded bodies, a connection cap
//! and an idle timeout. Requests run on tokio's blocking pool because the
//! DAV handler does synchronous file I/O (fsync) and argon2.
//!
//! A request goes head first (#6): the head is authenticated
//! ([`App::gate`]) before a byte of the body is read, and a request that
//! is answered without its body (`401`, `OPTIONS`, a redirect, `413`) is
//! answered with `Connection: close`, so hyper closes instead of reading
//! the rest. The body is then received within its bounds ([`crate::body`]:
//! size, time, a memory buffer and a spool file), and the handler runs.
//! Responses are sent as the handler's parts, never joined (#7).
//!
//! **Invariant:** credentials are accepted only over TLS or from a
//! loopback peer: a plain-HTTP request from any other address gets 403
//! before the handler runs. **Invariant:** no request body is read before
//! its credentials are checked.

use crate::body;
use crate::dav::{self, App, Body, Gate, Request, Response};
use crate::web::{Peer, Web};
use bytes::Bytes;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use outpost_config::Config;
use outpost_daemon::{Conn, Limits, Protocol, Shutdown, Spec};
use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt as _;
use tracing::Instrument as _;

/// Spooled request bodies read back into memory at once (the DAV handler
/// takes bytes); more wait their turn, so memory holds at most this many
/// bodies beyond the per-connection buffers.
pub const SPOOLED_REQUESTS: usize = 4;

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
    /// Longest silence while a request body arrives, and the grace before
    /// `body_min_rate` applies (`web.body_timeout_secs`).
    pub body_timeout: Duration,
    /// Slowest average body rate in bytes per second (`web.body_min_rate`).
    pub body_min_rate: u64,
    /// Bytes of a body kept in memory (`web.body_buffer_bytes`).
    pub body_buffer: usize,
    /// Where bodies beyond the buffer are spooled.
    pub spool_dir: PathBuf,
    /// Expansion bounds (`web.max_expand_*`).
    pub dav: dav::Limits,
    /// [`SPOOLED_REQUESTS`], shared by every connection of these options.
    spooled: Arc<Semaphore>,
}

impl Default for Options {
    fn default() -> Self {
        let web = outpost_config::web::Web::default();
        Options {
            max_connections: 1000,
            max_connections_per_ip: 0,
            idle_timeout: Duration::from_secs(300),
            handshake_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(web.body_timeout_secs),
            body_min_rate: web.body_min_rate,
            body_buffer: web.body_buffer_bytes,
            spool_dir: std::env::temp_dir().join("outpost-webd-spool"),
            dav: dav::Limits::default(),
            spooled: Arc::new(Semaphore::new(SPOOLED_REQUESTS)),
        }
    }
}

impl Options {
    /// The options `[web]` and `[tls]` configure.
    pub fn from_config(config: &Config) -> Options {
        let web = &config.web;
        Options {
            max_connections: web.max_connections.max(1),
            max_connections_per_ip: web.max_connections_per_ip,
            idle_timeout: Duration::from_secs(web.idle_timeout_secs.max(1)),
            handshake_timeout: Duration::from_secs(config.tls.handshake_timeout_secs.max(1)),
            body_timeout: Duration::from_secs(web.body_timeout_secs.max(1)),
            body_min_rate: web.body_min_rate,
            body_buffer: web.body_buffer_bytes,
            spool_dir: config.general.state_dir.join("web/spool"),
            dav: dav::Limits {
                max_instances_per_item: web.max_expand_instances_per_item,
                max_instances: web.max_expand_instances,
                max_expand_bytes: web.max_expand_bytes,
            },
            spooled: Arc::new(Semaphore::new(SPOOLED_REQUESTS)),
        }
    }

    fn body_limits(&self, max: usize) -> body::Limits {
        body::Limits {
            max,
            buffer: self.body_buffer,
            timeout: self.body_timeout,
            min_rate: self.body_min_rate,
            spool_dir: self.spool_dir.clone(),
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

/// The listeners `[web]` configures: `https` (TLS), `http` (plain,
/// loopback clients only) and `redirect` (plain, anyone: autoconfig and a
/// redirect to HTTPS).
pub fn specs(config: &Config) -> Vec<Spec> {
    let mut specs = Vec::new();
    for (addrs, name, implicit_tls) in [
        (&config.web.listen, "https", true),
        (&config.web.plain_listen, "http", false),
        (&config.web.redirect_listen, "redirect", false),
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
pub async fn session(web: Arc<Web>, conn: Conn) {
    let idle = web.opts.idle_timeout;
    // Port 80: autoconfig, and a redirect to HTTPS for everything else.
    let router = if conn.listener == "redirect" {
        crate::web::onboard::redirect_router(web)
    } else {
        crate::web::router(web)
    };
    connection(
        conn.stream,
        conn.peer,
        conn.tls,
        router,
        idle,
        conn.shutdown,
    )
    .await;
}

/// Accepts connections on `listener` until the process ends (in-process
/// tests; the same accept path as the daemon); with `tls`, each
/// connection is a TLS handshake first. The pages get an in-memory
/// session table and no mail store.
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
    let limits = opts.limits();
    let web = Arc::new(Web {
        dav: app,
        opts: Arc::new(opts),
        sessions: crate::web::session::Sessions::in_memory(),
        mail_root: std::env::temp_dir().join("outpost-webd-no-mail"),
        config: Arc::new(outpost_config::Config::default()),
        ca_path: None,
        max_mime_depth: 32,
        cache: Default::default(),
        trainer: None,
        signer: None,
    });
    let bound = outpost_daemon::listen::Bound::from_listeners(vec![(spec, listener)]);
    let serve_opts = outpost_daemon::listen::ServeOptions {
        limits,
        tls,
        shutdown: Shutdown::new(),
        grace: Duration::from_secs(1),
    };
    bound
        .serve(serve_opts, move |c| session(web.clone(), c))
        .await;
    Ok(())
}

/// Serves one HTTP/1.1 connection. On shutdown an idle keep-alive
/// connection closes at once and a request in progress is finished and
/// answered with `Connection: close` (hyper's graceful shutdown), so a
/// restart waits for work, not for a browser's idle connection.
async fn connection<S>(
    stream: S,
    peer: SocketAddr,
    secure: bool,
    router: axum::Router,
    idle: Duration,
    shutdown: Shutdown,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let svc = service_fn(move |mut req: hyper::Request<Incoming>| {
        let router = router.clone();
        req.extensions_mut().insert(Peer { addr: peer, secure });
        async move {
            // One `outpost::http` event per request (method, path, status,
            // bytes, time); the connection's span adds peer and user.
            let started = std::time::Instant::now();
            let method = req.method().clone();
            let path = req.uri().path().to_string();
            // A span per request: events while it is handled (a login,
            // a store error) carry its method and path.
            let span = tracing::info_span!(
                "req",
                method = method.as_str(),
                path = &*outpost_daemon::log::client_str(&path),
                user = tracing::field::Empty
            );
            let resp = match router
                .oneshot(req.map(axum::body::Body::new))
                .instrument(span)
                .await
            {
                Ok(r) => r,
                Err(never) => match never {},
            };
            // The event goes out once the body has been sent, with the
            // bytes that really went (a compressed page's size is known
            // only then); `ms` is the time to the response head.
            let ms = started.elapsed().as_millis() as u64;
            let status = resp.status().as_u16();
            let span = tracing::Span::current();
            let resp = resp.map(move |body| {
                axum::body::Body::new(Logged {
                    inner: body,
                    sent: 0,
                    done: Some(Box::new(move |bytes| {
                        let _in = span.enter();
                        tracing::info!(
                            target: "outpost::http",
                            method = method.as_str(),
                            path = &*outpost_daemon::log::client_str(&path),
                            status,
                            bytes,
                            ms,
                            "request"
                        );
                    })),
                })
            });
            Ok::<_, Infallible>(resp)
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(idle)
        .keep_alive(true);
    let conn = builder.serve_connection(TokioIo::new(stream), svc);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        () = shutdown.wait() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

/// A response body that counts the bytes it yields and calls `done`
/// with the count once: at its end, or when it is dropped (a client that
/// went away mid-body).
struct Logged {
    inner: axum::body::Body,
    sent: u64,
    done: Option<Box<dyn FnOnce(u64) + Send>>,
}

impl Logged {
    fn finish(&mut self) {
        if let Some(done) = self.done.take() {
            done(self.sent);
        }
    }
}

impl hyper::body::Body for Logged {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        let r = std::pin::Pin::new(&mut this.inner).poll_frame(cx);
        match &r {
            std::task::Poll::Ready(Some(Ok(f))) => {
                if let Some(d) = f.data_ref() {
                    this.sent += d.len() as u64;
                }
            }
            std::task::Poll::Ready(None) => this.finish(),
            _ => {}
        }
        r
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Logged {
    fn drop(&mut self) {
        self.finish();
    }
}

/// Whether the head announces a body (RFC 9112 §6.3).
fn carries_body(headers: &hyper::HeaderMap) -> bool {
    headers.contains_key(hyper::header::TRANSFER_ENCODING)
        || headers
            .get(hyper::header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0")
}

/// The DAV path of a request: the head is gated, the body received
/// within its bounds, then the synchronous handler runs.
pub async fn dav(
    app: Arc<App>,
    opts: Arc<Options>,
    req: axum::extract::Request,
    peer: SocketAddr,
    secure: bool,
) -> axum::response::Response {
    let (parts, incoming) = req.into_parts();
    let with_body = carries_body(&parts.headers);
    if !secure && !peer.ip().is_loopback() {
        return unread(
            Response {
                status: 403,
                headers: vec![("content-type".into(), "text/plain".into())],
                body: Body::Bytes(b"HTTPS required\n".to_vec()),
            },
            with_body,
        );
    }
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
        body: Vec::new(),
        client: Some(peer.ip().to_string()),
    };
    // The head first: argon2 and the directory are blocking work.
    let gated = {
        let app = app.clone();
        // The connection's span goes along, so the login event carries it
        // and a login records its user there.
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || {
            let gate = span.in_scope(|| app.gate(&request));
            (gate, request)
        })
        .await
    };
    let (user, mut request) = match gated {
        Ok((Gate::User(user), request)) => (user, request),
        Ok((Gate::Answer(r), _)) => return unread(r, with_body),
        Err(_) => return unread(internal_error(), with_body),
    };
    let declared = parts
        .headers
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > app.max_body as u64) {
        return unread(too_large(), with_body);
    }
    let received = match body::receive(incoming, &opts.body_limits(app.max_body)).await {
        Ok(r) => r,
        Err(body::Error::TooLarge) => return unread(too_large(), true),
        Err(body::Error::Timeout) => {
            return unread(plain(408, "request body too slow\n"), true);
        }
        Err(body::Error::Client(_)) => return unread(plain(400, "bad request body\n"), true),
        Err(body::Error::Io(e)) => {
            tracing::warn!(error = %e, dir = %opts.spool_dir.display(), "spooling a request body");
            return unread(internal_error(), true);
        }
    };
    // A spooled body comes back into memory for the handler, a few at once.
    let permit = if received.spilled() {
        match opts.spooled.clone().acquire_owned().await {
            Ok(p) => Some(p),
            Err(_) => return to_hyper(internal_error()),
        }
    } else {
        None
    };
    let limits = opts.dav;
    let span = tracing::Span::current();
    let resp = tokio::task::spawn_blocking(move || {
        let _in = span.enter();
        request.body = match received.into_vec() {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "reading a spooled request body");
                return internal_error();
            }
        };
        let resp = app.handle_as(&user, &request, &limits);
        drop(request);
        drop(permit);
        resp
    })
    .await
    .unwrap_or_else(|_| internal_error());
    to_hyper(resp)
}

fn plain(status: u16, text: &str) -> Response {
    Response {
        status,
        headers: vec![("content-type".into(), "text/plain; charset=utf-8".into())],
        body: Body::Bytes(text.as_bytes().to_vec()),
    }
}

fn internal_error() -> Response {
    plain(500, "internal error\n")
}

fn too_large() -> Response {
    plain(413, "request body too large\n")
}

/// `r` for a request whose body is not read: with a body announced, the
/// connection closes after the answer instead of reading it (#6).
fn unread(mut r: Response, with_body: bool) -> axum::response::Response {
    if with_body {
        r.headers.push(("connection".into(), "close".into()));
    }
    to_hyper(r)
}

fn to_hyper(r: Response) -> axum::response::Response {
    let mut b = hyper::Response::builder().status(r.status);
    for (k, v) in &r.headers {
        b = b.header(k.as_str(), v.as_str());
    }
    b.body(axum::body::Body::new(Chunks::from(r.body)))
        .unwrap_or_else(|_| {
            let mut resp = hyper::Response::new(axum::body::Body::from("bad response\n"));
            *resp.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
            resp
        })
}

/// A response body sent as the handler made it: one buffer or the parts
/// of a multistatus, in order, each moved (not copied) into a frame.
#[derive(Debug)]
pub struct Chunks {
    chunks: VecDeque<Bytes>,
    len: u64,
}

impl From<Body> for Chunks {
    fn from(b: Body) -> Chunks {
        let chunks: VecDeque<Bytes> = match b {
            Body::Bytes(v) => VecDeque::from([Bytes::from(v)]),
            Body::Parts(p) => p.into_iter().map(Bytes::from).collect(),
        };
        let len = chunks.iter().map(|c| c.len() as u64).sum();
        Chunks { chunks, len }
    }
}

impl hyper::body::Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        // A multistatus has one small part per resource (~300 bytes): sent
        // as frames of their own, each became its own trip through hyper
        // and TLS (PROPFIND of 1,000 items +0.4 ms). Small parts are
        // gathered into frames of up to COALESCE bytes as they go out, so
        // at most one such frame is a copy at any time.
        const COALESCE: usize = 16 * 1024;
        let this = self.get_mut();
        while this.chunks.front().is_some_and(Bytes::is_empty) {
            this.chunks.pop_front();
        }
        let Some(first) = this.chunks.pop_front() else {
            return Poll::Ready(None);
        };
        let frame = if first.len() >= COALESCE
            || this
                .chunks
                .front()
                .is_none_or(|n| first.len() + n.len() > COALESCE)
        {
            first
        } else {
            let mut buf = bytes::BytesMut::with_capacity(COALESCE);
            buf.extend_from_slice(&first);
            while let Some(n) = this.chunks.front() {
                if buf.len() + n.len() > COALESCE {
                    break;
                }
                buf.extend_from_slice(n);
                this.chunks.pop_front();
            }
            buf.freeze()
        };
        this.len -= frame.len() as u64;
        Poll::Ready(Some(Ok(Frame::data(frame))))
    }

    fn is_end_stream(&self) -> bool {
        self.len == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::body::Body as _;

    fn frames(body: Body) -> Vec<Bytes> {
        let mut c = Chunks::from(body);
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let mut out = Vec::new();
        while let Poll::Ready(Some(Ok(f))) = Pin::new(&mut c).poll_frame(&mut cx) {
            out.push(f.into_data().unwrap());
        }
        assert!(c.is_end_stream());
        out
    }

    /// A multistatus of 1,000 small parts goes out in a few frames of at
    /// most 16 KB, byte for byte; a big part goes out as it is (no copy);
    /// empty parts vanish.
    #[test]
    fn small_parts_are_gathered_into_frames_and_big_ones_pass_through() {
        let parts: Vec<String> = (0..1000).map(|i| format!("<r>{i:0>294}</r>")).collect();
        let want = parts.concat();
        let got = frames(Body::Parts(parts));
        assert_eq!(got.concat(), want.as_bytes());
        assert!(got.iter().all(|f| f.len() <= 16 * 1024));
        assert_eq!(got.len(), want.len().div_ceil(16 * 1024 / 301 * 301));

        let big = "b".repeat(100_000);
        let got = frames(Body::Parts(vec![
            "a".into(),
            String::new(),
            big.clone(),
            "c".into(),
            String::new(),
        ]));
        let lens: Vec<usize> = got.iter().map(Bytes::len).collect();
        assert_eq!(lens, [1, 100_000, 1]);
        assert_eq!(got.concat(), format!("a{big}c").as_bytes());
        assert!(frames(Body::Parts(vec![String::new(); 3])).is_empty());
        assert!(frames(Body::Bytes(Vec::new())).is_empty());
    }
}
