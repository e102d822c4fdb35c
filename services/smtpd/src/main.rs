//! `outpost-smtpd`: loads `/etc/outpost/outpost.toml` (or `--config`),
//! binds the MX, submission and submissions listeners and serves until
//! SIGTERM, on the house skeleton (`outpost-daemon`: journald logging under
//! systemd, `Type=notify` readiness, a drain on SIGTERM).
//!
//! Exit codes: 0 after SIGTERM/SIGINT, 1 configuration or startup error
//! (the message names the file, key or address).

use std::path::PathBuf;

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
    outpost_daemon::run("outpost-smtpd", &args.config, |d| async move {
        let tls = d.tls()?;
        let shared = outpost_smtpd::Shared::for_daemon(&d, &tls)?;
        let relay = tokio::spawn(outpost_smtpd::relay::run(shared.clone()));
        let bound = outpost_daemon::bind(outpost_smtpd::specs(&d.config)).await?;
        d.serve(
            bound,
            outpost_smtpd::limits(&d.config),
            Some(&tls),
            move |c| outpost_smtpd::session(shared.clone(), c),
        )
        .await;
        relay.abort();
        Ok(())
    })
}
