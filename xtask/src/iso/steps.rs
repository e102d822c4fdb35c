//! Timed pipeline steps and the stage cache.
//!
//! A step prints one line when it finishes (name, time, whether it came
//! from the cache); on a terminal an `indicatif` spinner shows the step's
//! latest message while it runs, in CI logs the messages are plain lines.
//! The cache keeps one output directory per stage under
//! `target/outpost/cache/<stage>/<key>`, where the key is the SHA-256 of a
//! description of every input of the stage: a warm rebuild finds the
//! directory and skips the stage.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};

/// Reports progress of one step.
#[derive(Debug, Clone)]
pub struct Progress {
    bar: Option<ProgressBar>,
    name: &'static str,
}

impl Progress {
    /// Shows a status message for the running step.
    pub fn say(&self, msg: impl AsRef<str>) {
        match &self.bar {
            Some(b) => b.set_message(msg.as_ref().to_owned()),
            None => println!("    {}: {}", self.name, msg.as_ref()),
        }
    }
}

/// Runs the pipeline's steps in order and keeps their timings.
#[derive(Debug)]
pub struct Steps {
    tty: bool,
    /// `(step, seconds, cached)` for every finished step.
    pub timings: Vec<(&'static str, f64, bool)>,
}

impl Steps {
    /// Spinner on a terminal, plain lines otherwise.
    pub fn new() -> Self {
        Self {
            tty: std::io::stderr().is_terminal(),
            timings: Vec::new(),
        }
    }

    /// Runs `f` as the step `name`; `f` returns its value and whether it
    /// was served from the cache.
    pub fn run<T>(
        &mut self,
        name: &'static str,
        f: impl FnOnce(&Progress) -> Result<(T, bool)>,
    ) -> Result<T> {
        let start = Instant::now();
        let bar = self.tty.then(|| {
            let b = ProgressBar::new_spinner();
            b.set_style(
                ProgressStyle::with_template("{spinner} {prefix:<10} {elapsed:>4} {wide_msg}")
                    .expect("valid template"),
            );
            b.set_prefix(name);
            b.enable_steady_tick(Duration::from_millis(200));
            b
        });
        if bar.is_none() {
            println!("==> {name}");
        }
        let progress = Progress {
            bar: bar.clone(),
            name,
        };
        let result = f(&progress).with_context(|| format!("stage {name}"));
        let secs = start.elapsed().as_secs_f64();
        if let Some(b) = bar {
            b.finish_and_clear();
        }
        match result {
            Ok((v, cached)) => {
                let how = if cached { " (cached)" } else { "" };
                println!("{name:<10} {secs:>7.1}s{how}");
                self.timings.push((name, secs, cached));
                Ok(v)
            }
            Err(e) => {
                println!("{name:<10} {secs:>7.1}s FAILED");
                Err(e)
            }
        }
    }
}

/// Computes a cache key: SHA-256 of the lines describing every input.
pub fn key(lines: &[String]) -> String {
    outpost_image::sums::sha256_hex(lines.join("\n").as_bytes())[..32].to_owned()
}

/// Returns `cache/<stage>/<key>`, creating it with `make` (into a temporary
/// sibling, renamed when complete) unless it exists. Older keys of the
/// stage are removed afterwards: the cache holds one generation per stage
/// (root file systems are a gigabyte each). Returns `(dir, was_cached)`.
pub fn cached(
    cache: &Path,
    stage: &str,
    key: &str,
    make: impl FnOnce(&Path) -> Result<()>,
) -> Result<(PathBuf, bool)> {
    let stage_dir = cache.join(stage);
    let dir = stage_dir.join(key);
    if dir.is_dir() {
        return Ok((dir, true));
    }
    std::fs::create_dir_all(&stage_dir)
        .with_context(|| format!("creating {}", stage_dir.display()))?;
    let tmp = stage_dir.join(format!("{key}.tmp"));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).with_context(|| format!("removing {}", tmp.display()))?;
    }
    std::fs::create_dir_all(&tmp)?;
    make(&tmp)?;
    std::fs::rename(&tmp, &dir)?;
    for entry in std::fs::read_dir(&stage_dir)? {
        let path = entry?.path();
        if path != dir {
            let _ = std::fs::remove_dir_all(&path);
        }
    }
    Ok((dir, false))
}
