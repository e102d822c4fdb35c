//! `cargo xtask bench imap` (placeholder until its issue lands).

pub fn run() -> anyhow::Result<()> {
    anyhow::bail!("cargo xtask bench imap: not built yet")
}
