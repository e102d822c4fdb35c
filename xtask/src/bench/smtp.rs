//! `cargo xtask bench smtp` (placeholder until its issue lands).

pub fn run() -> anyhow::Result<()> {
    anyhow::bail!("cargo xtask bench smtp: not built yet")
}
