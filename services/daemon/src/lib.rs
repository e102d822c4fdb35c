//! `outpost-daemon`: the one server skeleton every Outpost daemon is built
//! on, so a new daemon copies one shape instead of the last one written.
//!
//! A daemon's `main` is [`run`]: it loads the configuration, sets up
//! logging ([`log`]), starts the tokio runtime, turns SIGTERM/SIGINT into a
//! [`Shutdown`] broadcast and starts the systemd watchdog. Inside, the
//! daemon [`bind`]s its listeners ([`Spec`]: name, address, protocol,
//! implicit TLS), loads its [`ServerTls`], and calls [`Daemon::serve`]
//! with its session function: that reports readiness ([`notify`]: systemd
//! `READY=1` with the bound addresses, which `cargo xtask serve` reads
//! too), accepts under the caps ([`listen`]), and drains on shutdown.
//! Password checks go through the [`AuthGate`].
//!
//! ```no_run
//! # use outpost_daemon::*;
//! # async fn session(_c: Conn) {}
//! fn main() -> anyhow::Result<()> {
//!     run("outpost-exampled", "/etc/outpost/outpost.toml".as_ref(), |d| async move {
//!         let bound = bind(vec![Spec {
//!             name: "example",
//!             addr: "127.0.0.1:0".parse()?,
//!             protocol: Protocol::Imap,
//!             implicit_tls: false,
//!         }])
//!         .await?;
//!         let limits = Limits {
//!             max_connections: 100,
//!             max_per_ip: 10,
//!             handshake_timeout: d.handshake_timeout(),
//!         };
//!         d.serve(bound, limits, None, session).await;
//!         Ok(())
//!     })
//! }
//! ```
//!
//! **API boundary:** nothing here knows a protocol beyond the one refusal
//! line per [`Protocol`]; sessions get a [`Conn`] (a boxed stream, the peer,
//! the shutdown signal) and do the rest.

#![deny(missing_docs)]

pub mod auth;
pub mod listen;
pub mod log;
pub mod notify;
pub mod shutdown;
pub mod tls;

pub use auth::{AuthGate, GateError};
pub use listen::{BoxStream, Conn, Limits, Protocol, Refusal, Spec, Stream, bind};
pub use shutdown::Shutdown;
pub use tls::ServerTls;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use outpost_config::Config;

/// What a daemon's body gets from [`run`].
#[derive(Debug, Clone)]
pub struct Daemon {
    /// The daemon's name (`outpost-imapd`).
    pub name: &'static str,
    /// The loaded configuration.
    pub config: Arc<Config>,
    /// The shutdown signal.
    pub shutdown: Shutdown,
}

impl Daemon {
    /// `tls.handshake_timeout_secs`.
    pub fn handshake_timeout(&self) -> Duration {
        Duration::from_secs(self.config.tls.handshake_timeout_secs.max(1))
    }

    /// Loads the server TLS and starts its hourly reload (renewal) task.
    pub fn tls(&self) -> anyhow::Result<ServerTls> {
        let tls = ServerTls::load(self.config.clone())?;
        tls.spawn_reloader();
        Ok(tls)
    }

    /// The password-check gate configured in `[directory]`.
    pub fn auth_gate(&self) -> AuthGate {
        AuthGate::from_config(&self.config.directory)
    }

    /// Reports readiness (with the bound addresses), accepts until the
    /// shutdown signal, then drains for `general.shutdown_grace_secs`.
    pub async fn serve<H, F>(
        &self,
        bound: listen::Bound,
        limits: Limits,
        tls: Option<&ServerTls>,
        handler: H,
    ) where
        H: Fn(Conn) -> F + Send + Sync + 'static,
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        notify::ready(&bound.addrs());
        tracing::info!(version = env!("CARGO_PKG_VERSION"), "{} ready", self.name);
        let shutdown = self.shutdown.clone();
        let stopping = tokio::spawn(async move {
            shutdown.wait().await;
            notify::stopping();
        });
        let opts = listen::ServeOptions {
            limits,
            tls: tls.map(ServerTls::acceptor),
            shutdown: self.shutdown.clone(),
            grace: Duration::from_secs(self.config.general.shutdown_grace_secs),
        };
        bound.serve(opts, handler).await;
        stopping.abort();
        tracing::info!("{} stopped", self.name);
    }
}

/// Runs a daemon: loads `config_path`, sets up logging, the runtime, the
/// signals and the watchdog, then runs `body` to completion. An error is
/// logged and returned (the process exits with status 1).
pub fn run<B, F>(name: &'static str, config_path: &Path, body: B) -> anyhow::Result<()>
where
    B: FnOnce(Daemon) -> F,
    F: std::future::Future<Output = anyhow::Result<()>>,
{
    let config =
        Config::load(config_path).with_context(|| format!("loading {}", config_path.display()))?;
    log::init(name, &config.log);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    let result = rt.block_on(async move {
        let shutdown = Shutdown::new();
        shutdown
            .on_signals()
            .context("installing signal handlers")?;
        notify::spawn_watchdog();
        body(Daemon {
            name,
            config: Arc::new(config),
            shutdown,
        })
        .await
    });
    if let Err(e) = &result {
        tracing::error!(error = %format!("{e:#}"), "{name} failed");
    }
    // Sessions still open after the grace period end with the runtime.
    rt.shutdown_timeout(Duration::from_secs(1));
    result
}
