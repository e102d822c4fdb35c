//! The server side of TLS for every daemon: one acceptor built from the
//! configuration (`outpost_tls::for_config`: the admin's certificate files,
//! or the local CA's certificate), whose certificate is swapped in place when
//! it changes on disk or is renewed before expiry — checked at start and
//! every [`RELOAD_EVERY`], without a restart and without dropping sessions.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context as _;
use outpost_config::Config;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio_rustls::TlsAcceptor;

/// How often the certificate is checked for renewal or replacement.
pub const RELOAD_EVERY: Duration = Duration::from_secs(3600);

/// Serves whatever certificate was loaded last.
#[derive(Debug)]
struct Resolver {
    current: RwLock<Arc<CertifiedKey>>,
}

impl ResolvesServerCert for Resolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        )
    }
}

/// The daemon's TLS: an acceptor for implicit TLS and STARTTLS, and the
/// reloading behind it.
#[derive(Clone)]
pub struct ServerTls {
    acceptor: TlsAcceptor,
    resolver: Arc<Resolver>,
    config: Arc<Config>,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls").finish_non_exhaustive()
    }
}

fn certified(m: &outpost_tls::TlsMaterial) -> anyhow::Result<CertifiedKey> {
    let key = rustls::crypto::ring::sign::any_supported_type(&m.key)
        .context("the server key is not usable for TLS")?;
    Ok(CertifiedKey::new(m.chain.clone(), key))
}

fn describe(m: &outpost_tls::TlsMaterial) -> String {
    match m.not_after {
        Some(t) => format!("{} (until {})", m.names.join(", "), t.date()),
        None => m.names.join(", "),
    }
}

impl ServerTls {
    /// Loads (or creates) the certificate the configuration names.
    pub fn load(config: Arc<Config>) -> anyhow::Result<ServerTls> {
        let material = outpost_tls::for_config(&config)
            .with_context(|| format!("loading TLS material from {}", config.tls.dir.display()))?;
        let resolver = Arc::new(Resolver {
            current: RwLock::new(Arc::new(certified(&material)?)),
        });
        let server = rustls::ServerConfig::builder_with_provider(outpost_tls::provider())
            .with_safe_default_protocol_versions()
            .context("building the TLS configuration")?
            .with_no_client_auth()
            .with_cert_resolver(resolver.clone());
        tracing::info!(certificate = %describe(&material), "TLS ready");
        Ok(ServerTls {
            acceptor: TlsAcceptor::from(Arc::new(server)),
            resolver,
            config,
        })
    }

    /// The acceptor (cheap to clone).
    pub fn acceptor(&self) -> TlsAcceptor {
        self.acceptor.clone()
    }

    /// Re-reads the certificate (renewing it when due); `true` if a
    /// different one is now served. Blocking file I/O: call it off the
    /// runtime's workers.
    pub fn reload(&self) -> anyhow::Result<bool> {
        let material = outpost_tls::for_config(&self.config)?;
        let mut cur = self
            .resolver
            .current
            .write()
            .unwrap_or_else(|e| e.into_inner());
        if cur.cert == material.chain {
            return Ok(false);
        }
        *cur = Arc::new(certified(&material)?);
        tracing::info!(certificate = %describe(&material), "TLS certificate reloaded");
        Ok(true)
    }

    /// Reloads every [`RELOAD_EVERY`] from a tokio task, for the life of
    /// the runtime.
    pub fn spawn_reloader(&self) {
        let me = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(RELOAD_EVERY);
            tick.tick().await;
            loop {
                tick.tick().await;
                let m = me.clone();
                match tokio::task::spawn_blocking(move || m.reload()).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => {
                        tracing::warn!(error = %format!("{e:#}"), "reloading the TLS certificate")
                    }
                    Err(e) => tracing::warn!(error = %e, "reloading the TLS certificate"),
                }
            }
        });
    }
}
