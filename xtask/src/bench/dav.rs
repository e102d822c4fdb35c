//! `cargo xtask bench dav`: `outpost-webd` against Debian's Radicale on
//! loopback, the same 5,000 events, in one run (issue 7).
//!
//! The measuring code is the `dav_bench` example of `outpost-webd` (it needs
//! the directory and store crates, which xtask does not link); this builds it
//! and the daemon in release mode and runs it. Radicale must be installed
//! (`cargo xtask deps`, ci/packages.txt `# dav`). `OUTPOST_BENCH_EVENTS`
//! and `OUTPOST_BENCH_RUNS` shrink the run (Radicale needs ~20 minutes to
//! import the full 5,000 events on 2 cores).

use anyhow::{Context, bail};
use std::process::Command;

pub fn run() -> anyhow::Result<()> {
    let status = crate::ci::cargo_command()
        .args([
            "build",
            "--release",
            "-p",
            "outpost-webd",
            "--bins",
            "--examples",
        ])
        .status()
        .context("building outpost-webd (release)")?;
    if !status.success() {
        bail!("building outpost-webd failed");
    }
    let target = crate::ci::target_dir();
    let bench = target.join("release/examples/dav_bench");
    let mut cmd = Command::new(&bench);
    for (var, flag) in [
        ("OUTPOST_BENCH_EVENTS", "--events"),
        ("OUTPOST_BENCH_RUNS", "--runs"),
    ] {
        if let Ok(v) = std::env::var(var) {
            cmd.args([flag, &v]);
        }
    }
    let status = cmd
        .status()
        .with_context(|| format!("running {}", bench.display()))?;
    if !status.success() {
        bail!("dav benchmark failed");
    }
    Ok(())
}
