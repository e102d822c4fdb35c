//! `cargo xtask deps` and `cargo xtask ci`: what CI runs, runnable by hand.
//!
//! `deps` installs the Debian packages listed in `ci/packages.txt` (only the
//! missing ones, so a warm machine pays nothing). `ci` then runs the steps in
//! the order a reviewer wants them to fail: format, lints, a build of what
//! `cargo xtask serve` runs (the real-client tests start it), the test suite
//! (cargo-nextest over the workspace), a bounded fuzz run of every target,
//! the reproducible ISO, the QEMU smoke
//! boots, the end-to-end installs and `cargo deny` (offline advisories,
//! licences, bans). Every step runs; the last line says how many passed.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Arguments of `cargo xtask deps`.
#[derive(Debug, clap::Args)]
pub struct DepsArgs {}

/// Arguments of `cargo xtask ci`.
#[derive(Debug, clap::Args)]
pub struct CiArgs {
    /// Skip `cargo xtask deps` (packages already installed).
    #[arg(long)]
    pub no_deps: bool,
}

/// The workspace root (xtask lives one level below it).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask has a parent directory")
        .to_path_buf()
}

/// Cargo's target directory: `CARGO_TARGET_DIR` when set (relative to the
/// workspace root if relative, as cargo reads it), else `<root>/target`.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => root().join(dir),
        None => root().join("target"),
    }
}

/// Reads `ci/packages.txt`: one package per line, `#` comments.
fn wanted_packages() -> Result<Vec<String>> {
    let path = root().join("ci/packages.txt");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    Ok(text
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect())
}

/// Whether dpkg reports `pkg` as installed.
fn installed(pkg: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", pkg])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
        .unwrap_or(false)
}

/// A `cargo` command for a nested build. `cargo run` (hence `cargo xtask`)
/// gives this process `CARGO_MANIFEST_DIR`, `CARGO_PKG_*` and the like;
/// passed on, some build scripts (ring's) see a changed environment and
/// rebuild, and the next build from a shell rebuilds again. They are
/// removed so every build of the workspace agrees.
pub fn cargo_command() -> Command {
    let mut c = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy();
        if k.starts_with("CARGO_PKG_")
            || [
                "CARGO_MANIFEST_DIR",
                "CARGO_MANIFEST_PATH",
                "CARGO_CRATE_NAME",
                "CARGO_BIN_NAME",
                "CARGO_PRIMARY_PACKAGE",
                "CARGO_RUSTC_CURRENT_DIR",
            ]
            .contains(&k.as_ref())
        {
            c.env_remove(k.as_ref());
        }
    }
    c
}

/// Runs a command, failing with its description when it fails.
pub fn run_cmd(cmd: &mut Command) -> Result<()> {
    let what = format!("{cmd:?}");
    let status = cmd.status().with_context(|| format!("starting {what}"))?;
    if !status.success() {
        bail!("{what} failed with {status}");
    }
    Ok(())
}

pub fn deps(_args: DepsArgs) -> Result<()> {
    let missing: Vec<String> = wanted_packages()?
        .into_iter()
        .filter(|p| !installed(p))
        .collect();
    if missing.is_empty() {
        println!("deps: all Debian packages present");
        return Ok(());
    }
    println!("deps: installing {}", missing.join(" "));
    run_cmd(Command::new("apt-get").args(["update", "-qq"]))?;
    run_cmd(
        Command::new("apt-get")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .args(["install", "-y", "-qq", "--no-install-recommends"])
            .args(&missing),
    )
}

pub fn run(args: CiArgs) -> Result<()> {
    if !args.no_deps {
        deps(DepsArgs {})?;
    }
    let root = root();
    // cargo-deny is no Debian package: when it is missing, its build starts
    // now at the lowest priority (idle cycles of the test and QEMU steps)
    // and the `deny` step at the end waits for it.
    let deny_build = match crate::deny::find() {
        Some(_) => None,
        None => {
            let log = root.join("target/outpost/cargo-deny-install.log");
            std::fs::create_dir_all(log.parent().expect("a parent"))?;
            println!(
                "ci: building cargo-deny in the background (log: {})",
                log.display()
            );
            Some(crate::deny::install(&log)?)
        }
    };
    let mut deny_build = deny_build;
    let cargo = |args: &[&str]| {
        let mut c = cargo_command();
        c.current_dir(&root).args(args);
        c
    };
    // The order a reviewer wants failures in: cheap static checks, the test
    // suite, then the product itself built and booted in QEMU. Every step
    // runs even when an earlier one failed, so one CI run shows everything.
    let steps: Vec<(&str, Command)> = vec![
        ("fmt", cargo(&["fmt", "--all", "--check"])),
        (
            "clippy",
            cargo(&[
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ]),
        ),
        // What `cargo xtask serve` runs, built before the tests that start
        // it (the real-client tests), outside their time limit.
        ("daemons", crate::serve::build_command()),
        (
            "tests",
            cargo(&["nextest", "run", "--workspace", "--no-fail-fast"]),
        ),
        // A bounded fuzz step: every target for a few seconds from the
        // committed seeds, so a regression the seeds reach is caught here.
        // At opt-level 1: the instrumented build of the whole tree is
        // most of this step, and ten seconds need no fast binary.
        (
            "fuzz",
            cargo(&["xtask", "fuzz", "all", "--time", "10", "--opt-level", "1"]),
        ),
        ("iso", cargo(&["xtask", "iso", "--check-reproducible"])),
        ("smoke", cargo(&["xtask", "e2e", "--smoke"])),
        ("e2e", cargo(&["xtask", "e2e"])),
        // Offline RustSec advisories, licences, bans and sources.
        ("deny", cargo(&["xtask", "deny"])),
    ];
    let (mut passed, mut failed) = (0, Vec::new());
    for (name, mut cmd) in steps {
        // A CI build is one-shot: incremental state (half of a warm
        // target/debug) buys nothing there and a CI disk is small. Children
        // (the tests that build `serve`) inherit it, so no step rebuilds.
        cmd.env("CARGO_INCREMENTAL", "0");
        let started = std::time::Instant::now();
        println!("ci: ── {name} ──");
        if name == "deny"
            && let Some(mut build) = deny_build.take()
        {
            let status = build.wait()?;
            println!("ci: cargo-deny build finished ({status})");
        }
        let ok = run_cmd(&mut cmd)
            .map_err(|e| eprintln!("ci: {name}: {e:#}"))
            .is_ok();
        println!(
            "ci: {name} {} in {:.0?}",
            if ok { "ok" } else { "FAILED" },
            started.elapsed()
        );
        if ok {
            passed += 1;
        } else {
            failed.push(name);
        }
    }
    // The closing line CI reads: the steps, each counted once.
    println!("ci: {passed} passed, {} failed", failed.len());
    if !failed.is_empty() {
        bail!("ci steps failed: {}", failed.join(", "));
    }
    Ok(())
}
