//! `cargo xtask iso` and `cargo xtask verify` (placeholder; the image issue owns this module).

/// Arguments of `cargo xtask iso`.
#[derive(Debug, clap::Args)]
pub struct IsoArgs {}

/// Arguments of `cargo xtask verify`.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The ISO file or block device to check.
    pub path: std::path::PathBuf,
}

pub fn run(_args: IsoArgs) -> anyhow::Result<()> {
    anyhow::bail!("cargo xtask iso: not built yet")
}

pub fn verify(_args: VerifyArgs) -> anyhow::Result<()> {
    anyhow::bail!("cargo xtask verify: not built yet")
}
