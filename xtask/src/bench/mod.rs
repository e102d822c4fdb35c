//! `cargo xtask bench WHAT`: benchmarks run beside real peers in one run.
//!
//! Each benchmark is one module owned by the issue that needs it.

mod dav;
mod fixture;
mod imap;
mod kickstart;
mod smtp;
mod web;

/// Arguments of `cargo xtask bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Which benchmark: kickstart, smtp, imap, dav, web.
    pub what: String,
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    match args.what.as_str() {
        "kickstart" => kickstart::run(),
        "smtp" => smtp::run(),
        "imap" => imap::run(),
        "dav" => dav::run(),
        "web" => web::run(),
        other => {
            anyhow::bail!("unknown benchmark {other:?} (known: kickstart, smtp, imap, dav, web)")
        }
    }
}
