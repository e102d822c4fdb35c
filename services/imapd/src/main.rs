//! `outpost-imapd --config PATH`: the IMAP (143/993) and POP3 (110/995)
//! daemon, on the house skeleton (`outpost-daemon`: logging to journald
//! under systemd, `Type=notify` readiness, SIGTERM drains). Exit codes: 0
//! after SIGTERM/SIGINT, 1 when the configuration, TLS material or a
//! listener cannot be set up.

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
    outpost_daemon::run("outpost-imapd", &args.config, |d| async move {
        use outpost_imapd::server;
        let tls = d.tls()?;
        let shared = server::Shared::for_daemon(&d, &tls);
        let bound = outpost_daemon::bind(server::specs(&d.config)).await?;
        d.serve(bound, server::limits(&d.config), Some(&tls), move |c| {
            server::session(shared.clone(), c)
        })
        .await;
        Ok(())
    })
}
