//! Listeners and shared daemon state: accepts TCP connections on the
//! configured addresses, wraps implicit-TLS ports, caps connections with a
//! semaphore, and hands each connection to the IMAP or POP3 session.
//! Also the glue to `outpost-directory` (authentication) and the store.

use anyhow::Context as _;
use outpost_config::Config;
use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;

/// Any byte stream a session can run on (TCP, TLS, compressed).
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// A boxed stream.
pub type BoxStream = Box<dyn Stream>;

/// State shared by every session.
pub struct Shared {
    /// The configuration.
    pub config: Config,
    /// TLS for STARTTLS/STLS and the implicit-TLS ports (None: no TLS).
    pub tls: Option<TlsAcceptor>,
    /// Caps concurrent connections.
    pub connections: Arc<Semaphore>,
    /// Recent successful logins, so a client that reconnects often (phones
    /// on a flaky link, mbsync, the webmail) does not pay an argon2id
    /// verification every time. Keyed by address; holds a process-keyed
    /// hash of the password, never the password. Like Dovecot's auth_cache,
    /// a password change takes effect for cached clients after the TTL.
    auth_cache: std::sync::Mutex<HashMap<String, (u64, Instant, User)>>,
    hasher: RandomState,
    /// Logged-in IMAP sessions per (address, client IP).
    user_ip: std::sync::Mutex<HashMap<(String, IpAddr), usize>>,
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
    /// Builds the shared state: loads (or creates) the TLS material.
    pub fn new(config: Config) -> anyhow::Result<Arc<Shared>> {
        let material = match (&config.tls.cert, &config.tls.key) {
            (Some(c), Some(k)) => outpost_tls::load_files(c, k),
            _ => outpost_tls::load_or_create(&config.tls.dir, &config.certificate_names()),
        }
        .with_context(|| format!("loading TLS material from {}", config.tls.dir.display()))?;
        let tls = TlsAcceptor::from(
            material
                .server_config()
                .context("building the TLS configuration")?,
        );
        let max = config.imap.max_connections.max(1);
        Ok(Arc::new(Shared {
            config,
            tls: Some(tls),
            connections: Arc::new(Semaphore::new(max)),
            auth_cache: std::sync::Mutex::new(HashMap::new()),
            hasher: RandomState::new(),
            user_ip: std::sync::Mutex::new(HashMap::new()),
        }))
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
        if let Ok(c) = self.auth_cache.lock()
            && let Some((k, t, u)) = c.get(&address)
            && *k == key
            && t.elapsed() < AUTH_CACHE_TTL
        {
            return Ok(u.clone());
        }
        let dir = self.config.directory.path.clone();
        let policy = outpost_directory::LockoutPolicy {
            threshold: self.config.directory.lockout_threshold,
            window: std::time::Duration::from_secs(self.config.directory.lockout_window_secs),
            lockout: std::time::Duration::from_secs(self.config.directory.lockout_secs),
        };
        let password = password.to_string();
        let client = peer.ip().to_string();
        let cache_addr = address.clone();
        let r = tokio::task::spawn_blocking(move || {
            let d =
                outpost_directory::Directory::open_with(&dir, policy).map_err(|e| e.to_string())?;
            d.authenticate(&address, &password, Some(&client))
                .map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| e.to_string())??;
        let user = User {
            address: r.address.clone(),
            domain: r.domain().to_string(),
            local: r.local_part().to_string(),
            quota: r.quota,
        };
        if let Ok(mut c) = self.auth_cache.lock() {
            c.retain(|_, (_, t, _)| t.elapsed() < AUTH_CACHE_TTL);
            c.insert(cache_addr, (key, Instant::now(), user.clone()));
        }
        Ok(user)
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

/// Bound listeners, ready to serve.
#[derive(Debug)]
pub struct Listeners {
    list: Vec<(TcpListener, Proto, bool)>,
}

impl Listeners {
    /// Binds every configured address (port 0 allowed, for tests).
    pub async fn bind(config: &Config) -> anyhow::Result<Listeners> {
        let mut list = Vec::new();
        let c = &config.imap;
        for (addrs, proto, tls) in [
            (&c.imap_listen, Proto::Imap, false),
            (&c.imaps_listen, Proto::Imap, true),
            (&c.pop3_listen, Proto::Pop3, false),
            (&c.pop3s_listen, Proto::Pop3, true),
        ] {
            for a in addrs {
                let l = TcpListener::bind(a)
                    .await
                    .with_context(|| format!("listening on {a}"))?;
                list.push((l, proto, tls));
            }
        }
        Ok(Listeners { list })
    }

    /// Local addresses with protocol and implicit-TLS flag.
    pub fn addrs(&self) -> Vec<(SocketAddr, Proto, bool)> {
        self.list
            .iter()
            .filter_map(|(l, p, t)| l.local_addr().ok().map(|a| (a, *p, *t)))
            .collect()
    }

    /// Serves forever.
    pub async fn serve(self, shared: Arc<Shared>) {
        let mut tasks = Vec::new();
        for (l, proto, tls) in self.list {
            let shared = shared.clone();
            tasks.push(tokio::spawn(async move {
                loop {
                    let Ok((sock, peer)) = l.accept().await else {
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    };
                    let _ = sock.set_nodelay(true);
                    let shared = shared.clone();
                    tokio::spawn(async move {
                        let Ok(_permit) = shared.connections.clone().try_acquire_owned() else {
                            return; // over the cap: close at once
                        };
                        let stream: BoxStream = if tls {
                            let Some(acc) = shared.tls.clone() else {
                                return;
                            };
                            match tokio::time::timeout(
                                std::time::Duration::from_secs(30),
                                acc.accept(sock),
                            )
                            .await
                            {
                                Ok(Ok(s)) => Box::new(s),
                                _ => return,
                            }
                        } else {
                            Box::new(sock)
                        };
                        match proto {
                            Proto::Imap => crate::imap::run(shared, stream, peer, tls).await,
                            Proto::Pop3 => crate::pop3::run(shared, stream, peer, tls).await,
                        }
                    });
                }
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
    }
}
