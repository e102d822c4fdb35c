//! `%pre`, `%pre-install`, `%post` and `%onerror` scripts, as Anaconda runs them.
//!
//! `%pre`, `%pre-install` and `%onerror` run in the live system; `%post`
//! runs chrooted into the target (with `/proc`, `/sys`, `/dev` bind-mounted)
//! unless `--nochroot`, where the target is at [`crate::install::SYSIMAGE`].
//! `--interpreter` picks the program (default `/bin/sh`); `--log` appends the
//! output to a file (inside the target for chrooted scripts); a failing
//! script aborts the install only with `--erroronfail`, as in Anaconda.
//! The chroot is entered through the `chroot` program because the
//! workspace forbids `unsafe` (`pre_exec`).

use crate::install::{SYSIMAGE, log};
use anyhow::{Context, Result, bail};
use nix::mount::{MntFlags, MsFlags};
use outpost_kickstart::{Kickstart, Script, ScriptKind};
use std::path::{Path, PathBuf};
use std::process::Command;

fn run_one(s: &Script, n: usize, chroot: Option<&Path>) -> Result<()> {
    let name = format!("ks-script-{}-{n}", s.kind.header().trim_start_matches('%'));
    let (host_path, inner_path) = match chroot {
        Some(root) => {
            let dir = root.join("tmp");
            std::fs::create_dir_all(&dir)?;
            (dir.join(&name), PathBuf::from("/tmp").join(&name))
        }
        None => {
            let p = PathBuf::from("/tmp").join(&name);
            (p.clone(), p)
        }
    };
    std::fs::write(&host_path, &s.body)
        .with_context(|| format!("writing {}", host_path.display()))?;
    let mut cmd = match chroot {
        Some(root) => {
            let mut c = Command::new("chroot");
            c.arg(root).arg(&s.interpreter).arg(&inner_path);
            c
        }
        None => {
            let mut c = Command::new(&s.interpreter);
            c.arg(&inner_path);
            c
        }
    };
    cmd.env(
        "PATH",
        "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    );
    cmd.env("ANA_INSTALL_PATH", SYSIMAGE);
    let what = format!("{} ({}:{})", s.kind.header(), s.origin.file, s.origin.line);
    log(&format!(
        "running {what} with {}{}",
        s.interpreter,
        if chroot.is_some() {
            " in the target"
        } else {
            ""
        }
    ));
    let out = cmd.output().with_context(|| format!("starting {what}"))?;
    let _ = std::fs::remove_file(&host_path);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for l in text.lines() {
        log(&format!("  | {l}"));
    }
    if let Some(logfile) = &s.logfile {
        let p = match chroot {
            Some(root) => root.join(logfile.trim_start_matches('/')),
            None => PathBuf::from(logfile),
        };
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d)?;
        }
        let mut old = std::fs::read(&p).unwrap_or_default();
        old.extend_from_slice(text.as_bytes());
        std::fs::write(&p, old).with_context(|| format!("writing the script log {logfile}"))?;
    }
    if !out.status.success() {
        if s.erroronfail {
            bail!("{what} failed ({}) and has --erroronfail", out.status);
        }
        log(&format!(
            "warning: {what} failed ({}); continuing (no --erroronfail)",
            out.status
        ));
    }
    Ok(())
}

/// Runs every script of `kind` in the live system, in file order.
pub fn run_all(ks: &Kickstart, kind: ScriptKind, chroot: Option<&Path>) -> Result<()> {
    for (n, s) in ks.scripts.iter().filter(|s| s.kind == kind).enumerate() {
        run_one(s, n, chroot)?;
    }
    Ok(())
}

/// Bind mounts undone on drop (innermost first).
struct Binds(Vec<PathBuf>);

impl Drop for Binds {
    fn drop(&mut self) {
        // Recursive binds carry submounts (devpts, efivarfs): detach whole trees.
        for m in self.0.drain(..).rev() {
            let _ = nix::mount::umount2(&m, MntFlags::MNT_DETACH);
        }
    }
}

/// Runs the `%post` scripts: chrooted into `root` unless `--nochroot`.
pub fn run_post(ks: &Kickstart, root: &Path) -> Result<()> {
    let posts: Vec<&Script> = ks
        .scripts
        .iter()
        .filter(|s| s.kind == ScriptKind::Post)
        .collect();
    if posts.is_empty() {
        return Ok(());
    }
    let mut binds = Binds(Vec::new());
    if posts.iter().any(|s| !s.nochroot) {
        for d in ["proc", "sys", "dev", "run"] {
            let at = root.join(d);
            std::fs::create_dir_all(&at)?;
            nix::mount::mount(
                Some(Path::new("/").join(d).as_path()),
                &at,
                None::<&str>,
                // /run is bound alone: below it are the media and OEMDRV mounts.
                if d == "run" {
                    MsFlags::MS_BIND
                } else {
                    MsFlags::MS_BIND | MsFlags::MS_REC
                },
                None::<&str>,
            )
            .with_context(|| format!("bind-mounting /{d} into the target"))?;
            binds.0.push(at);
        }
    }
    for (n, s) in posts.iter().enumerate() {
        run_one(s, n, if s.nochroot { None } else { Some(root) })?;
    }
    drop(binds);
    Ok(())
}
