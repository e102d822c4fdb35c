//! `cargo xtask`: the only automation entry point of Outpost.
//!
//! `main` is a flat dispatcher: every subcommand is one module with a
//! `run(args) -> anyhow::Result<()>`.

mod bench;
mod ci;
mod deny;
mod e2e;
mod fuzz;
mod iso;
mod qemu;
mod serve;
#[cfg(test)]
mod tidy;

use clap::{Parser, Subcommand};

/// Outpost's build, test and development tasks.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Build the bootable ISO (target/outpost/outpost.iso).
    Iso(iso::IsoArgs),
    /// Check an ISO or a written USB device against its manifest.
    Verify(iso::VerifyArgs),
    /// Boot the ISO in QEMU and install it end to end.
    E2e(e2e::E2eArgs),
    /// Run every built daemon in the foreground on 127.0.0.1.
    Serve(serve::ServeArgs),
    /// Benchmarks beside real peers (kickstart, smtp, imap, dav).
    Bench(bench::BenchArgs),
    /// Coverage-guided fuzzing of the parsers and sessions (libFuzzer).
    Fuzz(fuzz::FuzzArgs),
    /// cargo deny check, offline: advisories, licences, bans, sources.
    Deny(deny::DenyArgs),
    /// Install the Debian packages the tests need (apt-get, as root).
    Deps(ci::DepsArgs),
    /// What CI runs: deps, fmt, clippy, the test suite, the QEMU tests.
    Ci(ci::CiArgs),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Iso(args) => iso::run(args),
        Command::Verify(args) => iso::verify(args),
        Command::E2e(args) => e2e::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Fuzz(args) => fuzz::run(args),
        Command::Deny(args) => deny::run(args),
        Command::Deps(args) => ci::deps(args),
        Command::Ci(args) => ci::run(args),
    }
}
