//! `outpost-webd`: the HTTPS daemon (web UI, CalDAV, CardDAV, WebDAV).
//!
//! Reads `[general]`, `[tls]`, `[directory]` and `[web]` from
//! `/etc/outpost/outpost.toml` (or `--config`), listens on `web.listen`
//! (HTTPS, certificate from the local CA via `outpost-tls`) and
//! `web.plain_listen` (HTTP, loopback clients only), on the house skeleton
//! (`outpost-daemon`: logging, readiness, caps, SIGTERM drain).
//! Exit codes: 0 after SIGTERM/SIGINT, 1 on a start-up error.

use anyhow::Context as _;
use clap::Parser;
use outpost_webd::auth::DirectoryAuth;
use outpost_webd::dav::App;
use outpost_webd::server::{self, Options};
use outpost_webd::web::Web;
use outpost_webd::web::session::Sessions;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Outpost's HTTPS daemon: web UI, CalDAV, CardDAV, WebDAV.
#[derive(Debug, Parser)]
#[command(name = "outpost-webd", version, about)]
struct Args {
    /// Configuration file.
    #[arg(long, default_value = outpost_config::DEFAULT_PATH)]
    config: PathBuf,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    outpost_daemon::run("outpost-webd", &args.config, |d| async move {
        let config = &d.config;
        let dav_root = config
            .web
            .dav_root
            .clone()
            .unwrap_or_else(|| config.general.state_dir.join("dav/collections"));
        let store = outpost_davstore::Store::open(&dav_root)
            .with_context(|| format!("opening DAV store {}", dav_root.display()))?;
        let app = Arc::new(App {
            store,
            auth: Arc::new(
                DirectoryAuth::with_lockout(
                    &config.directory.path,
                    outpost_directory::Lockout::from(&config.directory),
                )
                .with_gate(
                    outpost_daemon::AuthGate::from_config(&config.directory),
                    tokio::runtime::Handle::current(),
                ),
            ),
            max_body: config.web.max_body_bytes,
        });
        let opts = Options::from_config(config);
        // Spool files a crash left between creating and unlinking them.
        outpost_webd::body::clean(&opts.spool_dir);
        let sessions_path = config.general.state_dir.join("web/sessions.db");
        let sessions = Sessions::open(
            &sessions_path,
            Duration::from_secs(config.web.session_idle_secs.max(60)),
            Duration::from_secs(config.web.session_max_secs.max(60)),
        )
        .with_context(|| format!("opening the session table {}", sessions_path.display()))?;
        let ca = config.tls.dir.join(outpost_tls::CA_CERT);
        outpost_imapd::mime::set_max_depth(config.general.max_mime_depth);
        let web = Arc::new(Web {
            dav: app,
            opts: Arc::new(opts.clone()),
            sessions,
            mail_root: config.general.mail_root.clone(),
            config: config.clone(),
            ca_path: (config.tls.cert.is_none()).then_some(ca),
            max_mime_depth: config.general.max_mime_depth,
            cache: Default::default(),
            trainer: outpost_hygiene::train::Trainer::new(&config.smtp.spam),
            signer: config.smtp.dkim.enabled.then(|| {
                outpost_hygiene::dkim::Signer::follow(&outpost_hygiene::dkim::KeyDir::of(config))
            }),
        });
        let tls = if config.web.listen.is_empty() {
            None
        } else {
            Some(d.tls()?)
        };
        let bound = outpost_daemon::bind(server::specs(config)).await?;
        tracing::info!(path = %dav_root.display(), "DAV collections");
        d.serve(bound, opts.limits(), tls.as_ref(), move |c| {
            server::session(web.clone(), c)
        })
        .await;
        Ok(())
    })
}
