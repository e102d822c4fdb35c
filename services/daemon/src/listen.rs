//! Listeners: bind every configured address, accept forever, and hand each
//! connection to the daemon's session code as a [`Conn`].
//!
//! What every daemon gets the same way here, instead of four accept loops
//! that behaved differently under load:
//! - a global and a per-IP connection cap with a polite refusal in the
//!   listener's protocol (SMTP `421`, IMAP `* BYE`, POP3 `-ERR`, HTTP
//!   `503`), written with a short timeout so a refused client cannot hold
//!   anything;
//! - accept errors survived: EMFILE/ENFILE/ENOBUFS/ENOMEM back off (10 ms
//!   doubling to 1 s) and accepting resumes when descriptors free up;
//!   per-connection errors (ECONNABORTED, …) are skipped;
//! - implicit TLS with a handshake timeout (`tls.handshake_timeout_secs`);
//! - a `conn` tracing span per connection (listener, peer, tls, user — the
//!   session records `user` once authenticated);
//! - shutdown: on the signal, listeners stop accepting, sessions are told
//!   through [`Conn::shutdown`], and [`Bound::serve`] returns once they have
//!   ended or the grace period is over.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_util::task::TaskTracker;
use tracing::Instrument as _;

use crate::shutdown::Shutdown;

/// Any byte stream a session runs on (TCP, TLS, compressed).
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// A boxed [`Stream`]: plain and TLS connections share one session path.
pub type BoxStream = Box<dyn Stream>;

/// The protocol a listener speaks: it decides how a refusal is worded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// SMTP (RFC 5321): `421` and close.
    Smtp,
    /// IMAP (RFC 9051): an untagged `BYE` greeting.
    Imap,
    /// POP3 (RFC 1939, RFC 3206 response codes): `-ERR [SYS/TEMP]`.
    Pop3,
    /// HTTP/1.1: `503 Service Unavailable` with `Retry-After`.
    Http,
}

/// Why a connection is turned away before its session starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The daemon is at `max_connections`.
    Busy,
    /// This client address is at `max_connections_per_ip`.
    PerIp,
}

impl Protocol {
    /// The bytes a refused client gets.
    pub fn refusal(self, why: Refusal) -> &'static [u8] {
        match (self, why) {
            (Protocol::Smtp, Refusal::Busy) => {
                b"421 4.3.2 Too many connections, try again later\r\n"
            }
            (Protocol::Smtp, Refusal::PerIp) => {
                b"421 4.7.0 Too many connections from your address\r\n"
            }
            (Protocol::Imap, Refusal::Busy) => {
                b"* BYE [UNAVAILABLE] Too many connections, try again later\r\n"
            }
            (Protocol::Imap, Refusal::PerIp) => {
                b"* BYE [UNAVAILABLE] Too many connections from your address\r\n"
            }
            (Protocol::Pop3, Refusal::Busy) => {
                b"-ERR [SYS/TEMP] Too many connections, try again later\r\n"
            }
            (Protocol::Pop3, Refusal::PerIp) => {
                b"-ERR [SYS/TEMP] Too many connections from your address\r\n"
            }
            (Protocol::Http, Refusal::Busy) => {
                b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 39\r\nRetry-After: 5\r\nConnection: close\r\n\r\nToo many connections, try again later.\n"
            }
            (Protocol::Http, Refusal::PerIp) => {
                b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 39\r\nRetry-After: 5\r\nConnection: close\r\n\r\nToo many connections from your address\n"
            }
        }
    }
}

/// One address to listen on.
#[derive(Debug, Clone)]
pub struct Spec {
    /// The listener's name in logs, readiness and `cargo xtask serve`
    /// (`smtp`, `submission`, `imaps`, `https`, …).
    pub name: &'static str,
    /// Where to bind (port 0: any free port; see [`Bound::addrs`]).
    pub addr: SocketAddr,
    /// What it speaks.
    pub protocol: Protocol,
    /// TLS from the first byte (RFC 8314 ports, HTTPS).
    pub implicit_tls: bool,
}

/// Connection limits of one daemon (shared by all its listeners).
#[derive(Debug, Clone)]
pub struct Limits {
    /// Connections at once, all listeners together.
    pub max_connections: usize,
    /// Connections at once from one client address; 0: no limit.
    pub max_per_ip: usize,
    /// Longest TLS handshake on implicit-TLS listeners.
    pub handshake_timeout: Duration,
}

/// An accepted connection, ready for its session.
pub struct Conn {
    /// The byte stream (TLS already established on implicit-TLS ports).
    pub stream: BoxStream,
    /// The client.
    pub peer: SocketAddr,
    /// The local address it connected to.
    pub local: SocketAddr,
    /// The listener's [`Spec::name`].
    pub listener: &'static str,
    /// The listener's protocol.
    pub protocol: Protocol,
    /// Whether `stream` is TLS (implicit TLS).
    pub tls: bool,
    /// The daemon's shutdown signal: `select!` on it between commands.
    pub shutdown: Shutdown,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("peer", &self.peer)
            .field("local", &self.local)
            .field("listener", &self.listener)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

/// Listeners bound and not yet accepting.
#[derive(Debug)]
pub struct Bound {
    listeners: Vec<(Spec, TcpListener)>,
}

/// Binds every spec; the error names the listener and the address.
pub async fn bind(specs: Vec<Spec>) -> anyhow::Result<Bound> {
    let mut listeners = Vec::with_capacity(specs.len());
    for spec in specs {
        let l = TcpListener::bind(spec.addr)
            .await
            .with_context(|| format!("binding the {} listener on {}", spec.name, spec.addr))?;
        listeners.push((spec, l));
    }
    Ok(Bound { listeners })
}

/// What [`Bound::serve`] needs besides the handler.
#[derive(Clone)]
pub struct ServeOptions {
    /// The caps and the handshake timeout.
    pub limits: Limits,
    /// TLS for implicit-TLS listeners (`None`: such listeners close every
    /// connection, which [`bind`]'s caller should have refused to set up).
    pub tls: Option<TlsAcceptor>,
    /// The daemon's shutdown signal.
    pub shutdown: Shutdown,
    /// How long to wait for sessions after the signal.
    pub grace: Duration,
}

/// Per-IP connection counts.
#[derive(Debug, Default)]
struct PerIp(Mutex<HashMap<IpAddr, usize>>);

/// A connection's place in the per-IP count.
struct IpSlot {
    map: Arc<PerIp>,
    ip: IpAddr,
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut m = self.map.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = m.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.ip);
            }
        }
    }
}

impl PerIp {
    /// Counts one more connection from `ip`; `Err` (still counted, released
    /// on drop) when that makes more than `max`.
    fn claim(self: &Arc<Self>, ip: IpAddr, max: usize) -> Result<IpSlot, IpSlot> {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let n = m.entry(ip).or_insert(0);
        *n += 1;
        let over = max > 0 && *n > max;
        drop(m);
        let slot = IpSlot {
            map: self.clone(),
            ip,
        };
        if over { Err(slot) } else { Ok(slot) }
    }
}

/// Refusals that need a TLS handshake first run at most this many at once;
/// beyond that a refused TLS client is simply closed.
const MAX_TLS_REFUSALS: usize = 16;

impl Bound {
    /// Listeners bound elsewhere (tests that bind `127.0.0.1:0` themselves);
    /// [`bind`] is the normal way.
    pub fn from_listeners(listeners: Vec<(Spec, TcpListener)>) -> Bound {
        Bound { listeners }
    }

    /// The bound addresses, by listener name (the real ports with port 0).
    pub fn addrs(&self) -> Vec<(&'static str, SocketAddr)> {
        self.listeners
            .iter()
            .filter_map(|(s, l)| l.local_addr().ok().map(|a| (s.name, a)))
            .collect()
    }

    /// Accepts on every listener until the shutdown signal, runs `handler`
    /// for each admitted connection, then waits up to the grace period for
    /// the sessions to end. Returns the number of sessions still open when
    /// it gave up waiting (0 after a clean drain).
    pub async fn serve<H, F>(self, opts: ServeOptions, handler: H) -> usize
    where
        H: Fn(Conn) -> F + Send + Sync + 'static,
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        let handler = Arc::new(handler);
        let tracker = TaskTracker::new();
        let shared = Arc::new(Shared {
            global: Arc::new(Semaphore::new(opts.limits.max_connections.max(1))),
            per_ip: Arc::new(PerIp::default()),
            tls_refusals: Arc::new(Semaphore::new(MAX_TLS_REFUSALS)),
            opts: opts.clone(),
        });
        let mut loops = Vec::new();
        for (spec, listener) in self.listeners {
            let local = listener.local_addr().unwrap_or(spec.addr);
            tracing::info!(listener = spec.name, addr = %local, tls = spec.implicit_tls, "listening");
            loops.push(tokio::spawn(accept_loop(
                spec,
                listener,
                shared.clone(),
                tracker.clone(),
                handler.clone(),
            )));
        }
        for l in loops {
            let _ = l.await;
        }
        // Every listener has stopped accepting: drain.
        tracker.close();
        let open = tracker.len();
        if open > 0 {
            tracing::info!(
                sessions = open,
                grace_secs = opts.grace.as_secs(),
                "waiting for sessions to end"
            );
        }
        if tokio::time::timeout(opts.grace, tracker.wait())
            .await
            .is_err()
        {
            let left = tracker.len();
            tracing::warn!(
                sessions = left,
                "grace period over; closing the remaining sessions"
            );
            return left;
        }
        0
    }
}

impl std::fmt::Debug for ServeOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeOptions")
            .field("limits", &self.limits)
            .field("tls", &self.tls.is_some())
            .field("grace", &self.grace)
            .finish()
    }
}

struct Shared {
    global: Arc<Semaphore>,
    per_ip: Arc<PerIp>,
    tls_refusals: Arc<Semaphore>,
    opts: ServeOptions,
}

/// Whether an accept error concerns one connection only (skip it) rather
/// than the process (back off).
fn per_connection(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ECONNABORTED | libc::ECONNRESET | libc::EPROTO | libc::EINTR | libc::EPERM)
    )
}

async fn accept_loop<H, F>(
    spec: Spec,
    listener: TcpListener,
    shared: Arc<Shared>,
    tracker: TaskTracker,
    handler: Arc<H>,
) where
    H: Fn(Conn) -> F + Send + Sync + 'static,
    F: std::future::Future<Output = ()> + Send + 'static,
{
    let shutdown = shared.opts.shutdown.clone();
    let mut backoff = Duration::ZERO;
    let mut last_warning: Option<Instant> = None;
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = shutdown.wait() => break,
        };
        let (tcp, peer) = match accepted {
            Ok(x) => {
                backoff = Duration::ZERO;
                x
            }
            Err(e) if per_connection(&e) => continue,
            Err(e) => {
                // EMFILE/ENFILE and friends: the process (or system) is out
                // of something. Back off and retry; never end the listener.
                backoff = (backoff * 2).clamp(Duration::from_millis(10), Duration::from_secs(1));
                if last_warning.is_none_or(|t| t.elapsed() > Duration::from_secs(10)) {
                    tracing::warn!(listener = spec.name, error = %e, "accept failed; backing off");
                    last_warning = Some(Instant::now());
                }
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = shutdown.wait() => break,
                }
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let local = tcp.local_addr().unwrap_or(spec.addr);
        let ip = peer.ip().to_canonical();
        let span = tracing::info_span!(
            "conn",
            listener = spec.name,
            peer = %peer,
            tls = spec.implicit_tls,
            // Set by the session when it upgrades (STARTTLS, STLS).
            starttls = tracing::field::Empty,
            user = tracing::field::Empty,
        );
        let global = shared.global.clone().try_acquire_owned();
        let ip_slot = shared.per_ip.claim(ip, shared.opts.limits.max_per_ip);
        let refusal = match (&global, &ip_slot) {
            (Err(_), _) => Some(Refusal::Busy),
            (_, Err(_)) => Some(Refusal::PerIp),
            _ => None,
        };
        let spec = spec.clone();
        let shared = shared.clone();
        let handler = handler.clone();
        tracker.spawn(
            async move {
                let _slots = (global, ip_slot);
                if let Some(why) = refusal {
                    tracing::info!(reason = ?why, "connection refused");
                    refuse(tcp, &spec, &shared, why).await;
                    return;
                }
                tracing::debug!("connection accepted");
                let stream: BoxStream = if spec.implicit_tls {
                    match handshake(tcp, &shared).await {
                        Some(s) => s,
                        None => return,
                    }
                } else {
                    Box::new(tcp)
                };
                handler(Conn {
                    stream,
                    peer,
                    local,
                    listener: spec.name,
                    protocol: spec.protocol,
                    tls: spec.implicit_tls,
                    shutdown: shared.opts.shutdown.clone(),
                })
                .await;
                tracing::debug!("connection closed");
            }
            .instrument(span),
        );
    }
}

/// The TLS handshake of an implicit-TLS connection, bounded in time.
async fn handshake(tcp: TcpStream, shared: &Shared) -> Option<BoxStream> {
    let acceptor = shared.opts.tls.clone()?;
    match tokio::time::timeout(shared.opts.limits.handshake_timeout, acceptor.accept(tcp)).await {
        Ok(Ok(s)) => Some(Box::new(s)),
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "TLS handshake failed");
            None
        }
        Err(_) => {
            tracing::debug!("TLS handshake timed out");
            None
        }
    }
}

/// Writes the refusal (after a TLS handshake on implicit-TLS listeners) and
/// closes, each step bounded by a short timeout.
async fn refuse(tcp: TcpStream, spec: &Spec, shared: &Shared, why: Refusal) {
    let msg = spec.protocol.refusal(why);
    let write_timeout = Duration::from_secs(2);
    if spec.implicit_tls {
        let Ok(_permit) = shared.tls_refusals.clone().try_acquire_owned() else {
            return;
        };
        if let Some(mut s) = handshake(tcp, shared).await {
            let _ = tokio::time::timeout(write_timeout, async {
                s.write_all(msg).await?;
                s.shutdown().await
            })
            .await;
        }
    } else {
        let mut tcp = tcp;
        let _ = tokio::time::timeout(write_timeout, async {
            tcp.write_all(msg).await?;
            tcp.shutdown().await
        })
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    async fn start(
        protocol: Protocol,
        limits: Limits,
    ) -> (SocketAddr, Shutdown, tokio::task::JoinHandle<usize>) {
        let bound = bind(vec![Spec {
            name: "test",
            addr: "127.0.0.1:0".parse().unwrap(),
            protocol,
            implicit_tls: false,
        }])
        .await
        .unwrap();
        let addr = bound.addrs()[0].1;
        let shutdown = Shutdown::new();
        let opts = ServeOptions {
            limits,
            tls: None,
            shutdown: shutdown.clone(),
            grace: Duration::from_secs(2),
        };
        let task = tokio::spawn(bound.serve(opts, |mut c: Conn| async move {
            // A session that greets and then waits for the shutdown.
            let _ = c.stream.write_all(b"hello\r\n").await;
            c.shutdown.wait().await;
            let _ = c.stream.write_all(b"bye\r\n").await;
        }));
        (addr, shutdown, task)
    }

    async fn first_line(s: &mut TcpStream) -> String {
        let mut buf = Vec::new();
        let mut b = [0u8; 1];
        while tokio::time::timeout(Duration::from_secs(5), s.read(&mut b))
            .await
            .is_ok_and(|r| r.is_ok_and(|n| n == 1))
        {
            buf.push(b[0]);
            if b[0] == b'\n' {
                break;
            }
        }
        String::from_utf8_lossy(&buf).into_owned()
    }

    #[tokio::test]
    async fn over_the_caps_each_protocol_refuses_politely_and_recovers() {
        for (protocol, busy, per_ip) in [
            (Protocol::Smtp, "421 4.3.2", "421 4.7.0"),
            (
                Protocol::Imap,
                "* BYE [UNAVAILABLE] Too many connections, try",
                "* BYE [UNAVAILABLE] Too many connections from",
            ),
            (
                Protocol::Pop3,
                "-ERR [SYS/TEMP] Too many connections, try",
                "-ERR [SYS/TEMP] Too many connections from",
            ),
            (Protocol::Http, "HTTP/1.1 503", "HTTP/1.1 503"),
        ] {
            // Per-IP cap 2 (all tests come from 127.0.0.1).
            let limits = Limits {
                max_connections: 10,
                max_per_ip: 2,
                handshake_timeout: Duration::from_secs(1),
            };
            let (addr, shutdown, task) = start(protocol, limits).await;
            let mut a = TcpStream::connect(addr).await.unwrap();
            let mut b = TcpStream::connect(addr).await.unwrap();
            assert_eq!(first_line(&mut a).await, "hello\r\n");
            assert_eq!(first_line(&mut b).await, "hello\r\n");
            let mut c = TcpStream::connect(addr).await.unwrap();
            let l = first_line(&mut c).await;
            assert!(l.starts_with(per_ip), "{protocol:?}: {l:?}");
            drop(a);
            // The slot frees when the session notices the close; the
            // handler here only ends on shutdown, so trigger and check the
            // drain instead.
            shutdown.trigger();
            assert_eq!(first_line(&mut b).await, "bye\r\n");
            assert_eq!(task.await.unwrap(), 0, "clean drain");

            // Global cap 1.
            let limits = Limits {
                max_connections: 1,
                max_per_ip: 0,
                handshake_timeout: Duration::from_secs(1),
            };
            let (addr, shutdown, task) = start(protocol, limits).await;
            let mut a = TcpStream::connect(addr).await.unwrap();
            assert_eq!(first_line(&mut a).await, "hello\r\n");
            let mut b = TcpStream::connect(addr).await.unwrap();
            let l = first_line(&mut b).await;
            assert!(l.starts_with(busy), "{protocol:?}: {l:?}");
            shutdown.trigger();
            task.await.unwrap();
        }
    }

    #[tokio::test]
    async fn the_drain_gives_up_after_the_grace_period() {
        let bound = bind(vec![Spec {
            name: "test",
            addr: "127.0.0.1:0".parse().unwrap(),
            protocol: Protocol::Imap,
            implicit_tls: false,
        }])
        .await
        .unwrap();
        let addr = bound.addrs()[0].1;
        let shutdown = Shutdown::new();
        let opts = ServeOptions {
            limits: Limits {
                max_connections: 4,
                max_per_ip: 0,
                handshake_timeout: Duration::from_secs(1),
            },
            tls: None,
            shutdown: shutdown.clone(),
            grace: Duration::from_millis(200),
        };
        // A session that ignores the signal.
        let task = tokio::spawn(bound.serve(opts, |c: Conn| async move {
            let _c = c;
            std::future::pending::<()>().await
        }));
        let _a = TcpStream::connect(addr).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        shutdown.trigger();
        assert_eq!(task.await.unwrap(), 1);
        // Not accepting any more.
        assert!(TcpStream::connect(addr).await.is_err());
    }

    /// Set in the child process of
    /// `running_out_of_file_descriptors_does_not_end_the_listener`.
    const EMFILE_CHILD: &str = "OUTPOST_TEST_EMFILE_CHILD";
    const EMFILE_TEST: &str =
        "listen::tests::running_out_of_file_descriptors_does_not_end_the_listener";

    /// Kills the child process when the test ends, however it ends.
    struct KillOnDrop(std::process::Child);

    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    /// #12: an accept error (EMFILE) ended webd's listener and with it the
    /// daemon. This test runs itself again as a child under `ulimit -n 64`:
    /// a server on the shared accept loop that greets each connection and
    /// holds it until the client closes. The parent opens connections until
    /// the child's accepts fail, closes the ones it got, and checks that the
    /// waiting ones and a new one are then served.
    #[test]
    fn running_out_of_file_descriptors_does_not_end_the_listener() {
        use std::io::{BufRead, BufReader, Read, Write};
        use std::process::{Command, Stdio};
        if std::env::var_os(EMFILE_CHILD).is_some() {
            return emfile_child();
        }
        let exe = std::env::current_exe().unwrap();
        let mut child = KillOnDrop(
            Command::new("sh")
                .arg("-c")
                .arg("ulimit -n 64 && exec \"$0\" \"$@\"")
                .arg(&exe)
                .args([EMFILE_TEST, "--exact", "--nocapture", "--test-threads=1"])
                .env(EMFILE_CHILD, "1")
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        );
        let stdout = child.0.stdout.take().unwrap();
        let addr: SocketAddr = BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            // libtest may print `test NAME ... ` before it on the same line.
            .find_map(|l| l.split("ADDR ").nth(1).map(|a| a.trim().parse().unwrap()))
            .expect("the child prints its address");
        let greeted = |s: &mut std::net::TcpStream, wait: Duration| {
            s.set_read_timeout(Some(wait)).unwrap();
            let mut buf = [0u8; 7];
            s.read_exact(&mut buf).is_ok() && &buf == b"hello\r\n"
        };
        // Far more connections than the child has descriptors for: the
        // rest wait in the listen backlog while accept fails.
        let mut served = Vec::new();
        let mut waiting = Vec::new();
        for _ in 0..100 {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            // Patient until the first one waits, then quick.
            let wait = if waiting.is_empty() { 300 } else { 50 };
            if greeted(&mut s, Duration::from_millis(wait)) {
                served.push(s);
            } else {
                waiting.push(s);
            }
        }
        assert!(
            !served.is_empty() && !waiting.is_empty(),
            "{} served, {} waiting: the child ran out of descriptors",
            served.len(),
            waiting.len()
        );
        let (before, stalled) = (served.len(), waiting.len());
        // Descriptors free up: everyone waiting is served, then a newcomer.
        drop(served);
        for s in &mut waiting {
            assert!(
                greeted(s, Duration::from_secs(5)),
                "a waiting client is served"
            );
        }
        drop(waiting);
        let mut late = std::net::TcpStream::connect(addr).unwrap();
        assert!(
            greeted(&mut late, Duration::from_secs(5)),
            "a new client is served"
        );
        let _ = late.write_all(b"bye");
        drop(late);
        let _ = child.0.kill();
        let mut log = String::new();
        child
            .0
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut log)
            .unwrap();
        assert!(log.contains("accept failed; backing off"), "{log}");
        assert!(log.contains("Too many open files"), "{log}");
        println!("{before} served before EMFILE, {stalled} waited and were served after");
    }

    /// The child: an accept loop under a low descriptor limit.
    fn emfile_child() {
        let _ = tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_ansi(false)
            .try_init();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let bound = bind(vec![Spec {
                name: "test",
                addr: "127.0.0.1:0".parse().unwrap(),
                protocol: Protocol::Http,
                implicit_tls: false,
            }])
            .await
            .unwrap();
            println!("ADDR {}", bound.addrs()[0].1);
            let opts = ServeOptions {
                limits: Limits {
                    max_connections: 10_000,
                    max_per_ip: 0,
                    handshake_timeout: Duration::from_secs(1),
                },
                tls: None,
                shutdown: Shutdown::new(),
                grace: Duration::from_secs(1),
            };
            bound
                .serve(opts, |mut c: Conn| async move {
                    let _ = c.stream.write_all(b"hello\r\n").await;
                    let mut buf = [0u8; 64];
                    while matches!(c.stream.read(&mut buf).await, Ok(n) if n > 0) {}
                })
                .await;
        });
    }

    #[test]
    fn refusals_are_well_formed() {
        for p in [
            Protocol::Smtp,
            Protocol::Imap,
            Protocol::Pop3,
            Protocol::Http,
        ] {
            for r in [Refusal::Busy, Refusal::PerIp] {
                let m = p.refusal(r);
                assert!(m.ends_with(b"\n"));
                if p == Protocol::Http {
                    let text = std::str::from_utf8(m).unwrap();
                    let (head, body) = text.split_once("\r\n\r\n").unwrap();
                    let len: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("Content-Length: "))
                        .unwrap()
                        .parse()
                        .unwrap();
                    assert_eq!(len, body.len(), "{text}");
                }
            }
        }
    }
}
