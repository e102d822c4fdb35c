//! `cargo xtask bench kickstart` (placeholder until its issue lands).

pub fn run() -> anyhow::Result<()> {
    anyhow::bail!("cargo xtask bench kickstart: not built yet")
}
