//! `cargo xtask serve`: every daemon on 127.0.0.1 (placeholder; the mail-core issue owns this module).

/// Arguments of `cargo xtask serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {}

pub fn run(_args: ServeArgs) -> anyhow::Result<()> {
    anyhow::bail!("cargo xtask serve: not built yet")
}
