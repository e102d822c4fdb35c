//! `outpost-smtpd`: Outpost's SMTP daemon.
//!
//! Three kinds of listener share one session type ([`session`]): MX (25, no
//! AUTH, local domains only), submission (587, STARTTLS required before
//! AUTH, AUTH required before MAIL, RFC 6409) and submissions (465, implicit
//! TLS, RFC 8314). Sessions are generic over the stream so TCP and TLS share
//! one code path; a semaphore caps connections and a per-IP counter caps
//! connections per client.
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

pub mod queue;
pub mod relay;
pub mod session;
mod time;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use outpost_config::Config;
use outpost_directory::{Directory, LockoutPolicy};
use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore};

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
    fn name(self) -> &'static str {
        match self {
            Listener::Mx => "mx",
            Listener::Submission => "submission",
            Listener::Submissions => "submissions",
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
    connections: Arc<Semaphore>,
    per_ip: Mutex<HashMap<IpAddr, usize>>,
}

impl Shared {
    /// Builds the shared state: opens the directory and the queue and loads
    /// (or creates) the TLS certificate.
    pub fn new(config: Config) -> anyhow::Result<Arc<Shared>> {
        let policy = lockout_policy(&config);
        let directory =
            Directory::open_with(&config.directory.path, policy).with_context(|| {
                format!("opening the directory {}", config.directory.path.display())
            })?;
        let material = match (&config.tls.cert, &config.tls.key) {
            (Some(cert), Some(key)) => outpost_tls::load_files(cert, key)?,
            _ => outpost_tls::load_or_create(&config.tls.dir, &config.certificate_names())
                .with_context(|| {
                    format!("preparing certificates in {}", config.tls.dir.display())
                })?,
        };
        let tls = tokio_rustls::TlsAcceptor::from(material.server_config()?);
        let queue = queue::Queue::open(&config.smtp.queue_dir)
            .with_context(|| format!("opening the queue {}", config.smtp.queue_dir.display()))?;
        Ok(Arc::new(Shared {
            connections: Arc::new(Semaphore::new(config.smtp.max_connections)),
            config,
            directory: Mutex::new(directory),
            tls,
            queue,
            relay_wakeup: Notify::new(),
            per_ip: Mutex::new(HashMap::new()),
        }))
    }

    /// Opens a fresh directory handle (for work that should not hold the
    /// shared one, such as argon2 verification).
    pub fn open_directory(&self) -> Result<Directory, outpost_directory::Error> {
        Directory::open_with(&self.config.directory.path, lockout_policy(&self.config))
    }
}

fn lockout_policy(config: &Config) -> LockoutPolicy {
    LockoutPolicy {
        threshold: config.directory.lockout_threshold,
        window: std::time::Duration::from_secs(config.directory.lockout_window_secs),
        lockout: std::time::Duration::from_secs(config.directory.lockout_secs),
    }
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("config", &self.config)
            .field("queue", &self.queue)
            .finish_non_exhaustive()
    }
}

/// Releases a per-IP connection slot when the connection ends.
struct IpSlot {
    shared: Arc<Shared>,
    ip: IpAddr,
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut map = self.shared.per_ip.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = map.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

/// Bound listeners, ready to serve.
#[derive(Debug)]
pub struct Server {
    shared: Arc<Shared>,
    listeners: Vec<(Listener, TcpListener)>,
}

impl Server {
    /// Binds every listener of the configuration.
    pub async fn bind(shared: Arc<Shared>) -> anyhow::Result<Server> {
        let smtp = &shared.config.smtp;
        let mut listeners = Vec::new();
        for (kind, addrs) in [
            (Listener::Mx, &smtp.mx_listen),
            (Listener::Submission, &smtp.submission_listen),
            (Listener::Submissions, &smtp.submissions_listen),
        ] {
            for addr in addrs {
                let l = TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("binding {} listener {addr}", kind.name()))?;
                listeners.push((kind, l));
            }
        }
        Ok(Server { shared, listeners })
    }

    /// The bound addresses (useful with port 0).
    pub fn local_addrs(&self) -> Vec<(Listener, SocketAddr)> {
        self.listeners
            .iter()
            .filter_map(|(k, l)| l.local_addr().ok().map(|a| (*k, a)))
            .collect()
    }

    /// The shared state.
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Accepts connections forever and runs the relay.
    pub async fn run(self) -> anyhow::Result<()> {
        let mut tasks = tokio::task::JoinSet::new();
        tasks.spawn(relay::run(self.shared.clone()));
        for (kind, listener) in self.listeners {
            let shared = self.shared.clone();
            tasks.spawn(accept_loop(shared, kind, listener));
        }
        while let Some(r) = tasks.join_next().await {
            r.context("listener task")?;
        }
        Ok(())
    }
}

async fn accept_loop(shared: Arc<Shared>, kind: Listener, listener: TcpListener) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                // EMFILE and friends: back off briefly instead of spinning.
                eprintln!("smtpd: accept on {}: {e}", kind.name());
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        tokio::spawn(async move {
            let permit = shared.connections.clone().try_acquire_owned();
            let over_ip = {
                let mut map = shared.per_ip.lock().unwrap_or_else(|e| e.into_inner());
                let n = map.entry(peer.ip()).or_insert(0);
                *n += 1;
                *n > shared.config.smtp.max_connections_per_ip
            };
            let _slot = IpSlot {
                shared: shared.clone(),
                ip: peer.ip(),
            };
            let refusal = match (&permit, over_ip) {
                (Err(_), _) => Some("421 4.3.2 Too many connections, try again later\r\n"),
                (_, true) => Some("421 4.7.0 Too many connections from your address\r\n"),
                _ => None,
            };
            if let Some(msg) = refusal {
                if kind != Listener::Submissions {
                    use tokio::io::AsyncWriteExt;
                    let mut stream = stream;
                    let _ = stream.write_all(msg.as_bytes()).await;
                }
                return;
            }
            session::serve(shared, kind, stream, peer).await;
        });
    }
}
