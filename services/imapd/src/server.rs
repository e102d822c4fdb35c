//! The daemon's shared state and its place on the house skeleton
//! (`outpost-daemon`): which listeners imapd opens ([`specs`]), its caps
//! ([`limits`]), and which session runs on an accepted connection
//! ([`session`]). Also the glue to `outpost-directory` (authentication,
//! bounded by the skeleton's `AuthGate`) and the store.

use anyhow::Context as _;
use outpost_config::Config;
use outpost_daemon::{AuthGate, Conn, Limits, Protocol, Shutdown, Spec};
use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_rustls::TlsAcceptor;

pub use outpost_daemon::{BoxStream, Stream};

/// State shared by every session.
pub struct Shared {
    /// The configuration.
    pub config: Config,
    /// TLS for STARTTLS/STLS and the implicit-TLS ports (None: no TLS).
    pub tls: Option<TlsAcceptor>,
    /// The daemon's shutdown signal: sessions end at their next safe point.
    pub shutdown: Shutdown,
    /// Bounds concurrent password checks (globally and per client).
    pub gate: AuthGate,
    /// Recent successful logins, so a client that reconnects often (phones
    /// on a flaky link, mbsync, the webmail) does not pay an argon2id
    /// verification every time. Keyed by address; holds a process-keyed
    /// hash of the password, never the password, and the user's credential
    /// generation. A hit is trusted only after the directory confirms that
    /// generation and that no lock applies (`Directory::check_cached`), so
    /// a password change, a disable, a delete or a lockout takes effect at
    /// once (#15), unlike Dovecot's auth_cache, which waits for its TTL.
    auth_cache: std::sync::Mutex<HashMap<String, CachedLogin>>,
    hasher: RandomState,
    /// Logged-in IMAP sessions per (address, client IP).
    user_ip: std::sync::Mutex<HashMap<(String, IpAddr), usize>>,
    /// Learning from MOVE/COPY into and out of Junk (None: no rspamd
    /// controller configured).
    pub trainer: Option<outpost_hygiene::train::Trainer>,
}

/// One logged-in session counted against `max_user_ip_connections`; the
/// count goes down when it is dropped.
#[derive(Debug)]
pub struct UserIpSlot {
    shared: Arc<Shared>,
    key: (String, IpAddr),
}

impl Drop for UserIpSlot {
    fn drop(&mut self) {
        let mut m = self
            .shared
            .user_ip
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(n) = m.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.key);
            }
        }
    }
}

/// How long a successful login is remembered.
const AUTH_CACHE_TTL: Duration = Duration::from_secs(60);

/// One remembered login: password hash, when, the user, and the credential
/// generation it was checked under.
#[derive(Debug, Clone)]
struct CachedLogin {
    key: u64,
    at: Instant,
    user: User,
    generation: u64,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("config", &self.config)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

/// An authenticated user.
#[derive(Debug, Clone)]
pub struct User {
    /// Full address.
    pub address: String,
    /// Domain part.
    pub domain: String,
    /// Local part.
    pub local: String,
    /// Mailbox quota in bytes from the directory (0: the `[imap]` default).
    pub quota: u64,
}

impl Shared {
    /// Shared state with its own TLS, password-check gate and shutdown
    /// signal (in-process tests); the daemon uses [`Shared::for_daemon`].
    pub fn new(config: Config) -> anyhow::Result<Arc<Shared>> {
        let tls = outpost_daemon::ServerTls::load(Arc::new(config.clone()))?;
        let gate = AuthGate::from_config(&config.directory);
        Ok(Self::build(config, tls.acceptor(), gate, Shutdown::new()))
    }

    /// The daemon's shared state: its TLS, gate and shutdown signal.
    pub fn for_daemon(d: &outpost_daemon::Daemon, tls: &outpost_daemon::ServerTls) -> Arc<Shared> {
        Self::build(
            (*d.config).clone(),
            tls.acceptor(),
            d.auth_gate(),
            d.shutdown.clone(),
        )
    }

    fn build(config: Config, tls: TlsAcceptor, gate: AuthGate, shutdown: Shutdown) -> Arc<Shared> {
        crate::mime::set_max_depth(config.general.max_mime_depth);
        Arc::new(Shared {
            tls: Some(tls),
            shutdown,
            gate,
            auth_cache: std::sync::Mutex::new(HashMap::new()),
            hasher: RandomState::new(),
            user_ip: std::sync::Mutex::new(HashMap::new()),
            trainer: outpost_hygiene::train::Trainer::new(&config.smtp.spam),
            config,
        })
    }

    /// Counts a logged-in session of `address` from `ip`; `None` when the
    /// user already has `max_user_ip_connections` from there.
    pub fn claim_user_ip(self: &Arc<Self>, address: &str, ip: IpAddr) -> Option<UserIpSlot> {
        let limit = self.config.imap.max_user_ip_connections;
        let key = (address.to_ascii_lowercase(), ip);
        let mut m = self.user_ip.lock().unwrap_or_else(|e| e.into_inner());
        let n = m.entry(key.clone()).or_insert(0);
        if limit > 0 && *n >= limit {
            return None;
        }
        *n += 1;
        Some(UserIpSlot {
            shared: self.clone(),
            key,
        })
    }

    /// STARTTLS/STLS on an established connection: the handshake is
    /// bounded by `tls.handshake_timeout_secs` like the implicit-TLS
    /// listeners' (#5), so a client that asks for TLS and then goes silent
    /// gives its connection slot back.
    /// A success is recorded on `span` (the connection's).
    pub async fn start_tls(
        &self,
        io: BoxStream,
        span: &tracing::Span,
    ) -> std::io::Result<BoxStream> {
        let Some(acc) = self.tls.clone() else {
            return Err(std::io::Error::other("TLS unavailable"));
        };
        let limit = Duration::from_secs(self.config.tls.handshake_timeout_secs.max(1));
        match tokio::time::timeout(limit, acc.accept(io)).await {
            Ok(Ok(s)) => {
                span.record("starttls", true);
                Ok(Box::new(s))
            }
            Ok(Err(e)) => Err(e),
            Err(_) => Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "TLS handshake timed out",
            )),
        }
    }

    /// The mail root.
    pub fn mail_root(&self) -> PathBuf {
        self.config.general.mail_root.clone()
    }

    /// Whether plaintext passwords are allowed on this connection (RFC 9051
    /// §11.1: not before TLS; loopback is the webmail/tools exception).
    pub fn plaintext_ok(&self, tls: bool, peer: &SocketAddr) -> bool {
        tls || (self.config.imap.allow_plaintext_loopback && peer.ip().is_loopback())
    }

    /// Checks a password against the directory (shared lockout state with
    /// smtpd, since both record failures in the same database).
    pub async fn authenticate(
        &self,
        user: &str,
        password: &str,
        peer: &SocketAddr,
    ) -> Result<User, String> {
        let mut address = user.trim().to_ascii_lowercase();
        if !address.contains('@') {
            address = format!("{address}@{}", self.config.primary_domain());
        }
        let key = self.hasher.hash_one((&address, password));
        let dir = self.config.directory.path.clone();
        let policy = outpost_directory::Lockout::from(&self.config.directory);
        let client = peer.ip().to_string();
        let hit = self.auth_cache.lock().ok().and_then(|c| {
            c.get(&address)
                .filter(|e| e.key == key && e.at.elapsed() < AUTH_CACHE_TTL)
                .cloned()
        });
        if let Some(hit) = hit {
            // A few indexed reads, no argon2: is the generation still the
            // user's, and is no lock on? Otherwise a full check, which
            // refuses (and counts) as the directory says.
            let (d, a, c) = (dir.clone(), address.clone(), client.clone());
            let still = tokio::task::spawn_blocking(move || {
                outpost_directory::Directory::open_with(&d, policy)
                    .map_err(|e| e.to_string())?
                    .check_cached(&a, Some(&c), hit.generation)
                    .map_err(|e| e.to_string())
            })
            .await;
            if let Ok(Ok(())) = still {
                return Ok(hit.user);
            }
            if let Ok(mut c) = self.auth_cache.lock() {
                c.remove(&address);
            }
        }
        let password = password.to_string();
        let cache_addr = address.clone();
        // Bounded: at most `max_password_checks` argon2 verifications at
        // once, `max_password_checks_per_client` per address (#9).
        let r = self
            .gate
            .check(peer.ip().to_canonical(), move || {
                let d = outpost_directory::Directory::open_with(&dir, policy)
                    .map_err(|e| e.to_string())?;
                d.login(&address, &password, Some(&client))
                    .map_err(|e| e.to_string())
            })
            .await
            .map_err(|e| format!("busy: {e}"))??;
        let user = User {
            address: r.user.address.clone(),
            domain: r.user.domain().to_string(),
            local: r.user.local_part().to_string(),
            quota: r.user.quota,
        };
        if let Ok(mut c) = self.auth_cache.lock() {
            c.retain(|_, e| e.at.elapsed() < AUTH_CACHE_TTL);
            c.insert(
                cache_addr,
                CachedLogin {
                    key,
                    at: Instant::now(),
                    user: user.clone(),
                    generation: r.generation,
                },
            );
        }
        Ok(user)
    }
}

/// The reason word of a failed [`Shared::authenticate`] for the login
/// event (never the password, never the directory's whole message).
pub fn auth_reason(e: &str) -> &'static str {
    if e.starts_with("busy") {
        "busy"
    } else if e.contains("locked") {
        "locked"
    } else if e.contains("disabled") {
        "disabled"
    } else if e.contains("unavailable") {
        "unavailable"
    } else {
        "invalid"
    }
}

/// Which protocol a listener speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    /// IMAP.
    Imap,
    /// POP3.
    Pop3,
}

/// The listeners `[imap]` configures, in the order IMAP, IMAPS, POP3,
/// POP3S (names as `cargo xtask serve` prints them).
pub fn specs(config: &Config) -> Vec<Spec> {
    let c = &config.imap;
    let mut specs = Vec::new();
    for (addrs, name, protocol, implicit_tls) in [
        (&c.imap_listen, "imap", Protocol::Imap, false),
        (&c.imaps_listen, "imaps", Protocol::Imap, true),
        (&c.pop3_listen, "pop3", Protocol::Pop3, false),
        (&c.pop3s_listen, "pop3s", Protocol::Pop3, true),
    ] {
        for addr in addrs {
            specs.push(Spec {
                name,
                addr: *addr,
                protocol,
                implicit_tls,
            });
        }
    }
    specs
}

/// The connection caps `[imap]` configures.
pub fn limits(config: &Config) -> Limits {
    Limits {
        max_connections: config.imap.max_connections.max(1),
        max_per_ip: config.imap.max_connections_per_ip,
        handshake_timeout: Duration::from_secs(config.tls.handshake_timeout_secs.max(1)),
    }
}

/// Runs the IMAP or POP3 session on an accepted connection.
pub async fn session(shared: Arc<Shared>, conn: Conn) {
    match conn.protocol {
        Protocol::Pop3 => crate::pop3::run(shared, conn.stream, conn.peer, conn.tls).await,
        _ => crate::imap::run(shared, conn.stream, conn.peer, conn.tls).await,
    }
}

/// Bound listeners (in-process tests; the daemon binds through
/// `outpost_daemon` directly and serves with `Daemon::serve`).
#[derive(Debug)]
pub struct Listeners {
    bound: outpost_daemon::listen::Bound,
    specs: Vec<Spec>,
}

impl Listeners {
    /// Binds every configured address (port 0 allowed, for tests).
    pub async fn bind(config: &Config) -> anyhow::Result<Listeners> {
        let specs = specs(config);
        let bound = outpost_daemon::bind(specs.clone())
            .await
            .context("binding the IMAP and POP3 listeners")?;
        Ok(Listeners { bound, specs })
    }

    /// Local addresses with protocol and implicit-TLS flag.
    pub fn addrs(&self) -> Vec<(SocketAddr, Proto, bool)> {
        self.bound
            .addrs()
            .into_iter()
            .zip(&self.specs)
            .map(|((_, a), s)| {
                let p = if s.protocol == Protocol::Pop3 {
                    Proto::Pop3
                } else {
                    Proto::Imap
                };
                (a, p, s.implicit_tls)
            })
            .collect()
    }

    /// Serves until `shared.shutdown` fires (the same accept path as the
    /// daemon: caps, refusals, TLS handshake timeout).
    pub async fn serve(self, shared: Arc<Shared>) {
        let opts = outpost_daemon::listen::ServeOptions {
            limits: limits(&shared.config),
            tls: shared.tls.clone(),
            shutdown: shared.shutdown.clone(),
            grace: Duration::from_secs(shared.config.general.shutdown_grace_secs),
        };
        let sh = shared.clone();
        self.bound
            .serve(opts, move |c| session(sh.clone(), c))
            .await;
    }
}
