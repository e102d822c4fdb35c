//! `outpost-smtpd`: loads `/etc/outpost/outpost.toml` (or `--config`),
//! binds the MX, submission and submissions listeners and serves until
//! killed. Logs go to stderr, one line per event (journald adds the time).
//!
//! Exit codes: 0 never (it runs until killed), 1 configuration or startup
//! error (the message names the file, key or address).

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;

/// Outpost SMTP daemon (MX 25, submission 587, submissions 465).
#[derive(Debug, Parser)]
#[command(name = "outpost-smtpd", version, about)]
struct Args {
    /// Configuration file.
    #[arg(long, default_value = outpost_config::DEFAULT_PATH)]
    config: PathBuf,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let config = outpost_config::Config::load(&args.config)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    runtime.block_on(async move {
        let shared = outpost_smtpd::Shared::new(config)?;
        let server = outpost_smtpd::Server::bind(shared).await?;
        for (kind, addr) in server.local_addrs() {
            eprintln!("smtpd: listening kind={kind:?} addr={addr}");
        }
        eprintln!("outpost-smtpd {} ready", env!("CARGO_PKG_VERSION"));
        server.run().await
    })
}
