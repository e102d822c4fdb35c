//! `cargo xtask bench dav` (placeholder until its issue lands).

pub fn run() -> anyhow::Result<()> {
    anyhow::bail!("cargo xtask bench dav: not built yet")
}
