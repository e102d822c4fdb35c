//! The live install: answer file → plan → disks (work in progress: plan only).

use std::process::ExitCode;

/// Runs the unattended install on this machine.
pub fn run_live() -> anyhow::Result<ExitCode> {
    anyhow::bail!("the install stage is not built yet; use --dry-run")
}
