//! `outpost-imapd --config PATH`: the IMAP (143/993) and POP3 (110/995)
//! daemon. Logs to stderr (journald under systemd). Exit codes: 0 on
//! SIGTERM/SIGINT, 1 when the configuration, TLS material or a listener
//! cannot be set up.

use anyhow::Context;
use clap::Parser;
use std::path::PathBuf;

/// Outpost IMAP and POP3 server.
#[derive(Debug, Parser)]
#[command(name = "outpost-imapd", version, about)]
struct Args {
    /// Configuration file.
    #[arg(long, default_value = outpost_config::DEFAULT_PATH)]
    config: PathBuf,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let config = outpost_config::Config::load(&args.config)
        .with_context(|| format!("loading {}", args.config.display()))?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting tokio")?;
    rt.block_on(async move {
        let listeners = outpost_imapd::server::Listeners::bind(&config).await?;
        let shared = outpost_imapd::server::Shared::new(config)?;
        for (addr, proto, tls) in listeners.addrs() {
            eprintln!(
                "outpost-imapd: listening on {addr} ({proto:?}{})",
                if tls { ", TLS" } else { "" }
            );
        }
        tokio::select! {
            _ = listeners.serve(shared) => {}
            _ = tokio::signal::ctrl_c() => eprintln!("outpost-imapd: shutting down"),
            _ = terminate() => eprintln!("outpost-imapd: shutting down"),
        }
        Ok(())
    })
}

async fn terminate() {
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut s) => {
            s.recv().await;
        }
        Err(_) => std::future::pending().await,
    }
}
