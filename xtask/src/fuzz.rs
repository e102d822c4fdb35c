//! `cargo xtask fuzz`: coverage-guided fuzzing of the targets in
//! `outpost-fuzz` with libFuzzer, on the stable toolchain.
//!
//! One instrumented build (into `target/fuzz`, its own target directory so
//! the ordinary builds keep their cache) serves every target; the target is
//! chosen at run time with `OUTPOST_FUZZ_TARGET`. The instrumentation is
//! rustc's sanitizer-coverage pass with the options `cargo fuzz` uses
//! (inline 8-bit counters, PC table, comparison tracing, stack depth), plus
//! overflow checks and `--cfg fuzzing`. Debug assertions stay off:
//! mail-parser has a `debug_assert!` that fires on input it handles well.
//!
//! Each run starts from the committed seeds in `fuzz/corpus/<target>/` and
//! grows a working corpus in `target/fuzz/corpus/<target>/`; a crash is
//! saved in `target/fuzz/artifacts/<target>/` and fails the command. To
//! keep a finding fixed, copy it to `fuzz/regressions/<target>/` (the
//! replay test runs it on every `cargo test`).

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Arguments of `cargo xtask fuzz`.
#[derive(Debug, clap::Args)]
pub struct FuzzArgs {
    /// A target name, or `all` (one after the other).
    pub target: Option<String>,
    /// List the targets and exit.
    #[arg(long)]
    pub list: bool,
    /// Seconds to fuzz each target.
    #[arg(long, default_value_t = 60)]
    pub time: u64,
    /// Parallel libFuzzer jobs per target.
    #[arg(long, default_value_t = 1)]
    pub jobs: u32,
    /// libFuzzer's RSS limit per process, in MiB.
    #[arg(long, default_value_t = 2048)]
    pub rss_limit_mb: u64,
    /// Optimisation level of the instrumented build (0-3). CI's short run
    /// takes 1: the build of the whole tree is the step's cost, not the
    /// executions. Each level has its own build directory.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u8).range(0..=3))]
    pub opt_level: u8,
}

const TRIPLE: &str = "x86_64-unknown-linux-gnu";

fn fuzz_dir() -> PathBuf {
    crate::ci::target_dir().join("fuzz")
}

/// The targets, from `outpost-fuzz-targets` (built without
/// instrumentation: it only prints the table).
fn targets(root: &Path) -> Result<Vec<(String, String)>> {
    let out = crate::ci::cargo_command()
        .current_dir(root)
        .args([
            "run",
            "-q",
            "-p",
            "outpost-fuzz",
            "--bin",
            "outpost-fuzz-targets",
        ])
        .output()
        .context("running outpost-fuzz-targets")?;
    if !out.status.success() {
        bail!(
            "outpost-fuzz-targets failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(n, a)| (n.to_string(), a.to_string()))
        .collect())
}

/// Builds the instrumented libFuzzer binary; returns its path.
fn build(root: &Path, opt_level: u8) -> Result<PathBuf> {
    let flags = [
        "-Cpasses=sancov-module",
        "-Cllvm-args=-sanitizer-coverage-level=4",
        "-Cllvm-args=-sanitizer-coverage-inline-8bit-counters",
        "-Cllvm-args=-sanitizer-coverage-pc-table",
        "-Cllvm-args=-sanitizer-coverage-trace-compares",
        "-Cllvm-args=-sanitizer-coverage-stack-depth",
        "--cfg=fuzzing",
        "-Coverflow-checks",
        "-Cforce-frame-pointers",
    ]
    .join(" ");
    // Level 3 keeps the directory it always had (and its cache).
    let dir = match opt_level {
        3 => fuzz_dir(),
        n => fuzz_dir().join(format!("o{n}")),
    };
    println!(
        "fuzz: building the instrumented targets at opt-level {opt_level} ({})",
        dir.display()
    );
    crate::ci::run_cmd(
        crate::ci::cargo_command()
            .current_dir(root)
            // `--target` keeps RUSTFLAGS off build scripts and proc macros.
            .env("RUSTFLAGS", flags)
            .env("CARGO_PROFILE_RELEASE_LTO", "false")
            .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "16")
            .env("CARGO_PROFILE_RELEASE_DEBUG", "line-tables-only")
            .env("CARGO_PROFILE_RELEASE_OPT_LEVEL", opt_level.to_string())
            .args([
                "build",
                "--release",
                "-p",
                "outpost-fuzz",
                "--bin",
                "outpost-fuzz",
            ])
            .args(["--features", "fuzzing", "--target", TRIPLE])
            .arg("--target-dir")
            .arg(&dir),
    )?;
    Ok(dir.join(TRIPLE).join("release").join("outpost-fuzz"))
}

/// Whether `dir` is a directory this process can create files in.
fn writable_dir(dir: &Path) -> bool {
    let probe = dir.join(format!(".outpost-fuzz-probe-{}", std::process::id()));
    dir.is_dir() && std::fs::write(&probe, b"").is_ok() && std::fs::remove_file(&probe).is_ok()
}

/// Runs one target for `args.time` seconds; returns the executions done.
fn fuzz_one(bin: &Path, root: &Path, name: &str, args: &FuzzArgs) -> Result<u64> {
    let seeds = root.join("fuzz/corpus").join(name);
    let work = fuzz_dir().join("corpus").join(name);
    let artifacts = fuzz_dir().join("artifacts").join(name);
    std::fs::create_dir_all(&work)?;
    std::fs::create_dir_all(&artifacts)?;
    let log_dir = fuzz_dir().join("logs").join(name);
    std::fs::create_dir_all(&log_dir)?;
    let mut cmd = Command::new(bin);
    // The session targets open a store in a temporary directory for every
    // input and pay its fsyncs; on tmpfs they run ~1.7x faster (imap_session:
    // ~470 → ~820 executions/s here). A TMPDIR the caller set wins.
    if std::env::var_os("TMPDIR").is_none() && writable_dir(Path::new("/dev/shm")) {
        cmd.env("TMPDIR", "/dev/shm");
    }
    cmd.env("OUTPOST_FUZZ_TARGET", name)
        .arg(format!("-max_total_time={}", args.time))
        .arg("-timeout=30")
        .arg("-max_len=262144")
        .arg(format!("-rss_limit_mb={}", args.rss_limit_mb))
        .arg("-print_final_stats=1")
        .arg(format!("-artifact_prefix={}/", artifacts.display()));
    if args.jobs > 1 {
        cmd.arg(format!("-fork={}", args.jobs));
    }
    cmd.arg(&work).arg(&seeds);
    let out = cmd
        .output()
        .with_context(|| format!("starting {}", bin.display()))?;
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    std::fs::write(log_dir.join("last.log"), &log)?;
    // `-fork` reports per-job statistics; the sum is the run's total.
    let execs: u64 = log
        .lines()
        .filter_map(|l| l.strip_prefix("stat::number_of_executed_units:"))
        .filter_map(|v| v.trim().parse::<u64>().ok())
        .sum();
    let execs = if execs == 0 {
        last_progress(&log)
    } else {
        execs
    };
    if !out.status.success() {
        let tail: Vec<&str> = log.lines().rev().take(40).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        bail!(
            "fuzz {name}: libFuzzer found a crash after {execs} executions (input in {}; log in {}):\n{}",
            artifacts.display(),
            log_dir.join("last.log").display(),
            tail.join("\n")
        );
    }
    Ok(execs)
}

/// Executions from the last `#N` progress line (fork mode prints no stats).
fn last_progress(log: &str) -> u64 {
    log.lines()
        .rev()
        .find_map(|l| {
            let n = l.strip_prefix('#')?.split_whitespace().next()?;
            n.parse().ok()
        })
        .unwrap_or(0)
}

pub fn run(args: FuzzArgs) -> Result<()> {
    let root = crate::ci::root();
    let all = targets(&root)?;
    if args.list {
        for (n, a) in &all {
            println!("{n:<14} {a}");
        }
        return Ok(());
    }
    let Some(which) = args.target.as_deref() else {
        bail!("name a target or `all` (see `cargo xtask fuzz --list`)");
    };
    let chosen: Vec<&str> = if which == "all" {
        all.iter().map(|(n, _)| n.as_str()).collect()
    } else if all.iter().any(|(n, _)| n == which) {
        vec![which]
    } else {
        bail!("no fuzz target {which:?} (see `cargo xtask fuzz --list`)");
    };
    let started = std::time::Instant::now();
    let bin = build(&root, args.opt_level)?;
    println!("fuzz: built in {:.0?}", started.elapsed());
    let mut failed = Vec::new();
    for name in chosen {
        let started = std::time::Instant::now();
        match fuzz_one(&bin, &root, name, &args) {
            Ok(n) => println!(
                "ok      fuzz {name}: {n} executions in {:.0?}, no crash",
                started.elapsed()
            ),
            Err(e) => {
                println!("FAILED  {e:#}");
                failed.push(name);
            }
        }
    }
    if !failed.is_empty() {
        bail!("fuzz targets crashed: {}", failed.join(", "));
    }
    Ok(())
}
