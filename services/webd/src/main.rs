//! `outpost-webd`: the HTTPS daemon (CalDAV, CardDAV, WebDAV).
//!
//! Reads `[general]`, `[tls]`, `[directory]` and `[web]` from
//! `/etc/outpost/outpost.toml` (or `--config`), logs to stderr, listens on
//! `web.listen` (HTTPS, certificate from the local CA via `outpost-tls`)
//! and `web.plain_listen` (HTTP, loopback clients only).
//! Exit codes: 0 never (runs until killed), 1 on a start-up error.

use anyhow::Context as _;
use clap::Parser;
use outpost_webd::auth::DirectoryAuth;
use outpost_webd::dav::App;
use outpost_webd::server::{self, Options};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Outpost's HTTPS daemon: CalDAV, CardDAV, WebDAV.
#[derive(Debug, Parser)]
#[command(name = "outpost-webd", version, about)]
struct Args {
    /// Configuration file.
    #[arg(long, default_value = outpost_config::DEFAULT_PATH)]
    config: PathBuf,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let config = outpost_config::Config::load(&args.config)
        .with_context(|| format!("loading {}", args.config.display()))?;
    let web = config.web.clone();
    let dav_root = web
        .dav_root
        .clone()
        .unwrap_or_else(|| config.general.state_dir.join("dav/collections"));
    let store = outpost_davstore::Store::open(&dav_root)
        .with_context(|| format!("opening DAV store {}", dav_root.display()))?;
    let app = Arc::new(App {
        store,
        auth: Arc::new(DirectoryAuth::new(&config.directory.path)),
        max_body: web.max_body_bytes,
    });
    let opts = Options {
        max_connections: web.max_connections,
        idle_timeout: Duration::from_secs(web.idle_timeout_secs.max(1)),
    };
    let acceptor = if web.listen.is_empty() {
        None
    } else {
        let material = match (&config.tls.cert, &config.tls.key) {
            (Some(c), Some(k)) => outpost_tls::load_files(c, k),
            _ => outpost_tls::load_or_create(&config.tls.dir, &config.certificate_names()),
        }
        .context("loading TLS certificate")?;
        let server_config = material
            .server_config()
            .context("building TLS configuration")?;
        Some(tokio_rustls::TlsAcceptor::from(server_config))
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting tokio")?;
    rt.block_on(async move {
        let mut tasks = Vec::new();
        for addr in &web.listen {
            let l = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding {addr}"))?;
            eprintln!("outpost-webd: https on {}", l.local_addr()?);
            tasks.push(tokio::spawn(server::serve(
                l,
                acceptor.clone(),
                app.clone(),
                opts.clone(),
            )));
        }
        for addr in &web.plain_listen {
            let l = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding {addr}"))?;
            eprintln!(
                "outpost-webd: http (loopback clients only) on {}",
                l.local_addr()?
            );
            tasks.push(tokio::spawn(server::serve(
                l,
                None,
                app.clone(),
                opts.clone(),
            )));
        }
        eprintln!("outpost-webd: DAV collections in {}", dav_root.display());
        for t in tasks {
            t.await
                .context("listener task")?
                .context("accepting connections")?;
        }
        anyhow::Ok(())
    })
}
