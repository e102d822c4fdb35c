//! `cargo xtask deny`: `cargo deny check` (advisories, licences, bans,
//! sources; rules in `deny.toml`) offline, against the snapshot of the
//! RustSec advisory database kept beside the project
//! (`../shared/rustsec/advisory-db`, its commit and date in `VERSION`).
//!
//! cargo-deny reads its databases from `db-path`, one directory per
//! `db-urls` entry named after the URL, and wants a git checkout (it reads
//! the commit time to warn about a stale database). The snapshot is a plain
//! tree, so it is copied once per `VERSION` into
//! `target/outpost/advisory-dbs/advisory-db-3157b0e258782691` and committed
//! there with the snapshot's date. Nothing is fetched (`--offline`).
//!
//! cargo-deny itself is not a Debian package: the one on `PATH` is used, or
//! one installed by [`install`] into `target/outpost/tools` (CI starts that
//! build at low priority while the other steps run; see `ci.rs`).

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::ci::{root, run_cmd};

/// The cargo-deny release `install` builds (the one the rules were written
/// against; any 0.19+ reads `deny.toml`).
const VERSION: &str = "0.20.2";

/// The directory cargo-deny derives from the default `db-urls` entry
/// (`https://github.com/rustsec/advisory-db`).
const DB_DIR: &str = "advisory-db-3157b0e258782691";

/// Arguments of `cargo xtask deny`.
#[derive(Debug, clap::Args)]
pub struct DenyArgs {
    /// The advisory database snapshot (default: `$OUTPOST_ADVISORY_DB`, else
    /// `../shared/rustsec/advisory-db` beside the workspace).
    #[arg(long)]
    pub advisory_db: Option<PathBuf>,
}

/// Where `install` puts cargo-deny.
fn tools() -> PathBuf {
    root().join("target/outpost/tools")
}

/// The cargo-deny to run, if one is there.
pub fn find() -> Option<PathBuf> {
    let ok = |p: &Path| {
        Command::new(p)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let local = tools().join("bin/cargo-deny");
    if ok(&local) {
        return Some(local);
    }
    let on_path = PathBuf::from("cargo-deny");
    ok(&on_path).then_some(on_path)
}

/// Starts building cargo-deny into `target/outpost/tools` (from crates.io,
/// `--locked`) at the lowest CPU priority; the caller waits for it.
pub fn install(log: &Path) -> Result<Child> {
    let log = std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
    let mut c = Command::new("nice");
    c.arg("-n19")
        .arg(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args([
            "install",
            "--locked",
            "--quiet",
            "cargo-deny",
            "--version",
            VERSION,
        ])
        .arg("--root")
        .arg(tools())
        .env(
            "CARGO_TARGET_DIR",
            root().join("target/outpost/tools-build"),
        )
        // A check that runs once for seconds needs no optimised binary:
        // these halve a build that competes with CI's other steps.
        .env("CARGO_PROFILE_RELEASE_OPT_LEVEL", "1")
        .env("CARGO_PROFILE_RELEASE_LTO", "off")
        .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "16")
        .env("CARGO_PROFILE_RELEASE_DEBUG", "false")
        .env("CARGO_PROFILE_RELEASE_INCREMENTAL", "false")
        .stdout(log.try_clone()?)
        .stderr(log);
    c.spawn().context("starting cargo install cargo-deny")
}

/// The snapshot to check against: `--advisory-db`, else
/// `$OUTPOST_ADVISORY_DB`, else the nearest `shared/rustsec/advisory-db`
/// beside the workspace or beside any directory above it (a CI clone may sit
/// deeper than the checkout the snapshot was put beside).
fn snapshot(args: &DenyArgs) -> Option<PathBuf> {
    let given = args
        .advisory_db
        .clone()
        .or_else(|| std::env::var_os("OUTPOST_ADVISORY_DB").map(PathBuf::from));
    if let Some(p) = given {
        // One the caller named is used or refused, never searched past.
        return p.join("crates").is_dir().then_some(p);
    }
    nearest_snapshot(&root())
}

/// `dir/../shared/rustsec/advisory-db` for `dir` and each directory above
/// it, the first that holds a database.
fn nearest_snapshot(root: &Path) -> Option<PathBuf> {
    root.ancestors()
        .skip(1)
        .map(|d| d.join("shared/rustsec/advisory-db"))
        .find(|p| p.join("crates").is_dir())
}

/// Copies the snapshot to where cargo-deny looks, as a one-commit git
/// checkout dated like the snapshot; redone when `VERSION` changes.
fn prepare_db(snapshot: &Path) -> Result<()> {
    let dbs = root().join("target/outpost/advisory-dbs");
    let dest = dbs.join(DB_DIR);
    let version = std::fs::read_to_string(snapshot.join("../VERSION")).unwrap_or_default();
    let stamp = dbs.join("VERSION");
    if dest.join(".git").is_dir()
        && std::fs::read_to_string(&stamp).is_ok_and(|v| v == version)
        && !version.is_empty()
    {
        return Ok(());
    }
    if dest.exists() {
        std::fs::remove_dir_all(&dest).with_context(|| format!("removing {}", dest.display()))?;
    }
    std::fs::create_dir_all(&dbs)?;
    run_cmd(Command::new("cp").arg("-r").arg(snapshot).arg(&dest))?;
    // `VERSION` is "<commit> (<date>)".
    let date = version
        .split_once('(')
        .and_then(|(_, d)| d.split_once(')'))
        .map(|(d, _)| format!("{d}T00:00:00Z"))
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".into());
    let git = |args: &[&str]| {
        let mut c = Command::new("git");
        c.current_dir(&dest)
            .args([
                "-c",
                "user.name=outpost",
                "-c",
                "user.email=outpost@localhost",
            ])
            .args(args)
            .env("GIT_AUTHOR_DATE", &date)
            .env("GIT_COMMITTER_DATE", &date)
            .stdout(Stdio::null());
        c
    };
    run_cmd(&mut git(&["init", "-q"]))?;
    run_cmd(&mut git(&["add", "-A"]))?;
    run_cmd(&mut git(&[
        "commit",
        "-q",
        "--no-gpg-sign",
        "-m",
        version.trim(),
    ]))?;
    std::fs::write(&stamp, &version)?;
    Ok(())
}

pub fn run(args: DenyArgs) -> Result<()> {
    let deny = match find() {
        Some(d) => d,
        None => {
            let log = root().join("target/outpost/cargo-deny-install.log");
            std::fs::create_dir_all(log.parent().unwrap())?;
            println!(
                "deny: building cargo-deny {VERSION} (log: {})",
                log.display()
            );
            let status = install(&log)?.wait()?;
            if !status.success() {
                bail!(
                    "cargo install cargo-deny failed ({status}); see {}",
                    log.display()
                );
            }
            find().context("cargo-deny was installed but does not run")?
        }
    };
    let mut cmd = Command::new(&deny);
    cmd.current_dir(root()).args(["--offline", "check"]);
    match snapshot(&args) {
        Some(db) => {
            prepare_db(&db)?;
            println!("deny: advisories from {}", db.display());
        }
        None => {
            // Nothing to check advisories against (a clone without the
            // shared snapshot): say so loudly and check the rest.
            println!(
                "deny: WARNING: no advisory database snapshot (shared/rustsec/advisory-db beside \
                 the workspace or a directory above it, or OUTPOST_ADVISORY_DB); advisories \
                 NOT checked"
            );
            cmd.args(["bans", "licenses", "sources"]);
        }
    }
    run_cmd(&mut cmd)
}

#[cfg(test)]
mod tests {
    use super::nearest_snapshot;

    #[test]
    fn the_snapshot_is_found_beside_any_directory_above_the_workspace() {
        let tmp = std::env::temp_dir().join(format!("outpost-deny-{}", std::process::id()));
        let db = tmp.join("shared/rustsec/advisory-db");
        std::fs::create_dir_all(db.join("crates")).unwrap();
        let beside = tmp.join("main");
        let deeper = tmp.join("ci/runs/42/clone");
        std::fs::create_dir_all(&beside).unwrap();
        std::fs::create_dir_all(&deeper).unwrap();
        assert_eq!(nearest_snapshot(&beside), Some(db.clone()));
        assert_eq!(nearest_snapshot(&deeper), Some(db.clone()));
        // A directory named like the database but without one is skipped.
        let empty = tmp.join("ci/shared/rustsec/advisory-db");
        std::fs::create_dir_all(&empty).unwrap();
        assert_eq!(nearest_snapshot(&deeper), Some(db));
        std::fs::remove_dir_all(&tmp).unwrap();
    }
}
