//! `outpost-smtpd`: Outpost's SMTP daemon.
//!
//! Three kinds of listener share one session type ([`session`]): MX (25, no
//! AUTH, local domains only), submission (587, STARTTLS required before
//! AUTH, AUTH required before MAIL, RFC 6409) and submissions (465, implicit
//! TLS, RFC 8314). Sessions are generic over the stream so TCP and TLS share
//! one code path. Listening, the connection caps (`421` when over), the TLS
//! handshake of port 465, readiness and the SIGTERM drain are the house
//! skeleton's (`outpost-daemon`); password checks go through its gate.
//!
//! **Invariant:** a `250` after DATA is sent only once the message is on
//! stable storage: delivered into every local recipient's Maildir
//! (`outpost_store::deliver`, fsync'd) and, for remote recipients, written
//! to the durable queue ([`queue`], fsync'd). The [`relay`] task drains the
//! queue to the upstream smarthost with exponential backoff and bounces
//! (RFC 3464 DSN) what cannot be delivered in time.
//!
//! **API boundary:** SMTP command parsing is `smtp-proto`'s (I/O-free);
//! users, aliases and the auth lockout come from `outpost-directory`,
//! Maildir delivery from `outpost-store`.

#![deny(missing_docs)]

pub mod filters;
mod originator;
/// The queue is its own synchronous crate (outpostctl reads it too).
pub use outpost_queue as queue;
pub mod relay;
pub mod session;
mod spool;
mod text;
mod time;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use outpost_config::Config;
use outpost_daemon::{AuthGate, Conn, GateError, Limits, Protocol, Shutdown, Spec};
use outpost_directory::{AuthError, Directory, Lockout, User};
use tokio::sync::Notify;

/// The kind of listener a connection arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    /// Port 25: inbound mail for local domains, no AUTH.
    Mx,
    /// Port 587: STARTTLS, then AUTH, then mail to anyone.
    Submission,
    /// Port 465: like submission, TLS from the first byte.
    Submissions,
}

impl Listener {
    /// The name of this kind's listeners in logs, readiness and `cargo
    /// xtask serve` (`smtp`, `submission`, `smtps`).
    pub fn listener_name(self) -> &'static str {
        match self {
            Listener::Mx => "smtp",
            Listener::Submission => "submission",
            Listener::Submissions => "smtps",
        }
    }

    fn from_listener_name(name: &str) -> Listener {
        match name {
            "submission" => Listener::Submission,
            "smtps" => Listener::Submissions,
            _ => Listener::Mx,
        }
    }
}

/// State shared by every session and the relay.
pub struct Shared {
    /// The configuration.
    pub config: Config,
    /// The directory (resolution at RCPT time; auth opens its own handle so
    /// the argon2 work does not hold this lock).
    pub directory: Mutex<Directory>,
    /// TLS for STARTTLS and port 465.
    pub tls: tokio_rustls::TlsAcceptor,
    /// The durable queue.
    pub queue: queue::Queue,
    /// Wakes the relay after an enqueue.
    pub relay_wakeup: Notify,
    /// The daemon's shutdown signal: sessions end at their next safe point.
    pub shutdown: Shutdown,
    /// Bounds concurrent password checks (globally and per client).
    pub gate: AuthGate,
    /// Bounds the spooled messages read back into memory at once for local
    /// delivery (the store takes bytes), see [`SPOOLED_DELIVERIES`].
    pub(crate) spooled_deliveries: Arc<tokio::sync::Semaphore>,
    /// DKIM, the checks, spam and virus engines.
    pub filters: filters::Filters,
}

/// Spooled messages read back into memory at once for local delivery: at
/// most this many times `smtp.max_message_size` (#10).
pub const SPOOLED_DELIVERIES: usize = 4;

impl Shared {
    /// Shared state with its own TLS, password-check gate and shutdown
    /// signal (in-process tests); the daemon uses [`Shared::for_daemon`].
    pub fn new(config: Config) -> anyhow::Result<Arc<Shared>> {
        let tls = outpost_daemon::ServerTls::load(Arc::new(config.clone()))?;
        let gate = AuthGate::from_config(&config.directory);
        Self::build(config, tls.acceptor(), gate, Shutdown::new())
    }

    /// The daemon's shared state: its TLS, gate and shutdown signal; opens
    /// the directory and the queue.
    pub fn for_daemon(
        d: &outpost_daemon::Daemon,
        tls: &outpost_daemon::ServerTls,
    ) -> anyhow::Result<Arc<Shared>> {
        Self::build(
            (*d.config).clone(),
            tls.acceptor(),
            d.auth_gate(),
            d.shutdown.clone(),
        )
    }

    fn build(
        config: Config,
        tls: tokio_rustls::TlsAcceptor,
        gate: AuthGate,
        shutdown: Shutdown,
    ) -> anyhow::Result<Arc<Shared>> {
        let policy = lockout_policy(&config);
        let directory =
            Directory::open_with(&config.directory.path, policy).with_context(|| {
                format!("opening the directory {}", config.directory.path.display())
            })?;
        let queue = queue::Queue::open(&config.smtp.queue_dir)
            .with_context(|| format!("opening the queue {}", config.smtp.queue_dir.display()))?;
        relay::cleanup(&queue, &config);
        let filters = filters::Filters::from_config(&config);
        Ok(Arc::new(Shared {
            config,
            directory: Mutex::new(directory),
            tls,
            queue,
            relay_wakeup: Notify::new(),
            shutdown,
            gate,
            spooled_deliveries: Arc::new(tokio::sync::Semaphore::new(SPOOLED_DELIVERIES)),
            filters,
        }))
    }

    /// Checks a password against the directory (which keeps the lockout
    /// shared with the other daemons), on the blocking pool and bounded by
    /// the gate (#9): a login that finds no slot is `Unavailable` (SMTP
    /// `454`, try again later).
    pub async fn authenticate(
        &self,
        user: String,
        password: String,
        peer: SocketAddr,
    ) -> Result<User, AuthError> {
        let dir = self.config.directory.path.clone();
        let policy = lockout_policy(&self.config);
        let ip = peer.ip().to_canonical();
        self.gate
            .check(ip, move || {
                let d = Directory::open_with(&dir, policy)
                    .map_err(|e| AuthError::Unavailable(e.to_string()))?;
                d.authenticate(&user, &password, Some(&ip.to_string()))
            })
            .await
            .unwrap_or_else(|e| match e {
                GateError::Busy => Err(AuthError::Unavailable("busy".into())),
                GateError::Failed => Err(AuthError::Unavailable(e.to_string())),
            })
    }

    /// Opens a fresh directory handle (for work that should not hold the
    /// shared one, such as argon2 verification).
    pub fn open_directory(&self) -> Result<Directory, outpost_directory::Error> {
        Directory::open_with(&self.config.directory.path, lockout_policy(&self.config))
    }
}

fn lockout_policy(config: &Config) -> Lockout {
    Lockout::from(&config.directory)
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("config", &self.config)
            .field("queue", &self.queue)
            .finish_non_exhaustive()
    }
}

/// The listeners `[smtp]` configures: MX as `smtp`, then `submission`
/// and `smtps` (implicit TLS).
pub fn specs(config: &Config) -> Vec<Spec> {
    let smtp = &config.smtp;
    let mut specs = Vec::new();
    for (kind, addrs) in [
        (Listener::Mx, &smtp.mx_listen),
        (Listener::Submission, &smtp.submission_listen),
        (Listener::Submissions, &smtp.submissions_listen),
    ] {
        for addr in addrs {
            specs.push(Spec {
                name: kind.listener_name(),
                addr: *addr,
                protocol: Protocol::Smtp,
                implicit_tls: kind == Listener::Submissions,
            });
        }
    }
    specs
}

/// The connection caps `[smtp]` configures.
pub fn limits(config: &Config) -> Limits {
    Limits {
        max_connections: config.smtp.max_connections.max(1),
        max_per_ip: config.smtp.max_connections_per_ip,
        handshake_timeout: Duration::from_secs(config.tls.handshake_timeout_secs.max(1)),
    }
}

/// Runs the SMTP session on an accepted connection.
pub async fn session(shared: Arc<Shared>, conn: Conn) {
    let kind = Listener::from_listener_name(conn.listener);
    session::serve(shared, kind, conn.stream, conn.peer, conn.tls).await;
}

/// Bound listeners, ready to serve (in-process tests; the daemon composes
/// the same parts with `Daemon::serve` for readiness).
#[derive(Debug)]
pub struct Server {
    shared: Arc<Shared>,
    bound: outpost_daemon::listen::Bound,
}

impl Server {
    /// Binds every listener of the configuration.
    pub async fn bind(shared: Arc<Shared>) -> anyhow::Result<Server> {
        let bound = outpost_daemon::bind(specs(&shared.config)).await?;
        Ok(Server { shared, bound })
    }

    /// The bound addresses (useful with port 0).
    pub fn local_addrs(&self) -> Vec<(Listener, SocketAddr)> {
        self.bound
            .addrs()
            .into_iter()
            .map(|(name, a)| (Listener::from_listener_name(name), a))
            .collect()
    }

    /// The shared state.
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Runs the relay and accepts connections until the shutdown signal.
    pub async fn run(self) -> anyhow::Result<()> {
        // Aborted however `run` ends, also when its future is dropped: a
        // dropped JoinHandle leaves the task running, and two relays on one
        // queue deliver the same due entry twice (seen: a restarted server
        // in the relay test sent one message twice).
        struct AbortOnDrop(tokio::task::JoinHandle<()>);
        impl Drop for AbortOnDrop {
            fn drop(&mut self) {
                self.0.abort();
            }
        }
        let _relay = AbortOnDrop(tokio::spawn(relay::run(self.shared.clone())));
        let opts = outpost_daemon::listen::ServeOptions {
            limits: limits(&self.shared.config),
            tls: Some(self.shared.tls.clone()),
            shutdown: self.shared.shutdown.clone(),
            grace: Duration::from_secs(self.shared.config.general.shutdown_grace_secs),
        };
        let sh = self.shared.clone();
        self.bound
            .serve(opts, move |c| session(sh.clone(), c))
            .await;
        Ok(())
    }
}
