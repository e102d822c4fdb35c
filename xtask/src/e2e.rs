//! `cargo xtask e2e`: QEMU end-to-end tests (placeholder; the installer issue owns this module).

/// Arguments of `cargo xtask e2e`.
#[derive(Debug, clap::Args)]
pub struct E2eArgs {
    /// Only boot the ISO (as CD and as disk) and see the installer's first line.
    #[arg(long)]
    pub smoke: bool,
}

pub fn run(args: E2eArgs) -> anyhow::Result<()> {
    if args.smoke {
        return crate::qemu::smoke(&args);
    }
    anyhow::bail!("cargo xtask e2e: not built yet")
}
