//! The `rootfs` stage: a Debian 12 root file system from Debian's packages
//! (mmdebstrap), then the payload: that base plus `overlays/`, the release
//! binaries and their systemd units, packed as a deterministic
//! `rootfs.tar.zst`.
//!
//! Two cache levels: the *base* (mmdebstrap's output, keyed by suite,
//! mirror and package list, not by `SOURCE_DATE_EPOCH`, so a new commit
//! does not download Debian again) and the *payload* (keyed by the base,
//! every overlay/binary/unit byte and the epoch). Downloaded `.deb`s are
//! kept under `cache/debs` and fed back to apt, so a new base after a
//! package-list change downloads only what is new.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use super::steps::{self, Progress};
use super::{Binaries, Config};

/// Bumped whenever the base recipe below changes meaning.
const BASE_RECIPE: &str = "base-v3";

/// What the installed system needs (contract with the installer), beyond
/// mmdebstrap's `minbase`: init, kernel + initramfs-tools (Debian's
/// default `MODULES=most` initrd lands in `/boot`), file system tools,
/// firewall, accounts, locales, keyboard, ssh, CAs; `busybox-static` and
/// the mkfs tools also feed the installer's initramfs, so the installer
/// environment and the installed system share one set of binaries.
pub const TARGET_PACKAGES: &[&str] = &[
    "systemd",
    "systemd-sysv",
    "systemd-boot-efi",
    "systemd-timesyncd",
    "udev",
    "kmod",
    "linux-image-amd64",
    "initramfs-tools",
    "zstd",
    "e2fsprogs",
    "xfsprogs",
    "dosfstools",
    "fdisk",
    "util-linux",
    "nftables",
    "passwd",
    "locales",
    "tzdata",
    "keyboard-configuration",
    "console-setup",
    "openssh-server",
    "ca-certificates",
    "iproute2",
    "busybox-static",
    "less",
];

/// The cached base root file system.
#[derive(Debug, Clone)]
pub struct Base {
    /// Its cache key (an input of later stages).
    pub key: String,
    /// The root directory.
    pub root: PathBuf,
    /// `name\tversion\tarch` lines of every installed package.
    pub packages_tsv: PathBuf,
    /// `sha256  file.deb` lines of the downloaded packages.
    pub debs_sums: PathBuf,
}

/// The packed payload.
#[derive(Debug, Clone)]
pub struct Payload {
    /// `rootfs.tar.zst`.
    pub tarball: PathBuf,
}

/// Builds (or finds) the base root file system.
pub fn base(cfg: &Config, extra: &[String], p: &Progress) -> Result<(Base, bool)> {
    let mut packages: Vec<String> = TARGET_PACKAGES.iter().map(|s| (*s).to_owned()).collect();
    let mut optional: Vec<String> = Vec::new();
    if cfg.ignoremissing {
        // Anaconda's `%packages --ignoremissing`: names the mirror does not
        // have are skipped (and said so) instead of failing the build.
        optional.extend(extra.iter().cloned());
    } else {
        packages.extend(extra.iter().cloned());
    }
    packages.sort();
    packages.dedup();
    optional.sort();
    optional.dedup();
    let key = steps::key(&[
        BASE_RECIPE.to_owned(),
        cfg.suite.clone(),
        cfg.mirror.clone(),
        packages.join(","),
        format!("optional {}", optional.join(",")),
    ]);
    let debs = cfg.cache.join("debs");
    std::fs::create_dir_all(&debs)?;
    let (dir, cached) = steps::cached(&cfg.cache, "rootfs-base", &key, |tmp| {
        p.say(format!(
            "mmdebstrap {} ({} packages)",
            cfg.suite,
            packages.len()
        ));
        mmdebstrap(cfg, &packages, &optional, &debs, tmp)?;
        p.say("hashing downloaded packages");
        let mut sums = Vec::new();
        let mut names: Vec<_> = std::fs::read_dir(&debs)?
            .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
            .filter(|n| n.ends_with(".deb"))
            .collect();
        names.sort();
        for n in names {
            let h = outpost_image::sums::sha256_file(&debs.join(&n))?;
            sums.push((n, h));
        }
        std::fs::write(
            tmp.join("debs.sha256"),
            outpost_image::sums::format_sums(&sums),
        )?;
        Ok(())
    })?;
    Ok((
        Base {
            key,
            root: dir.join("root"),
            packages_tsv: dir.join("packages.tsv"),
            debs_sums: dir.join("debs.sha256"),
        },
        cached,
    ))
}

fn mmdebstrap(
    cfg: &Config,
    packages: &[String],
    optional: &[String],
    debs: &Path,
    out: &Path,
) -> Result<()> {
    super::ensure_tool("mmdebstrap", "mmdebstrap")?;
    let root = out.join("root");
    let tsv = out.join("packages.tsv");
    let log = out.join("mmdebstrap.log");
    let mut cmd = Command::new("mmdebstrap");
    cmd.env("SOURCE_DATE_EPOCH", cfg.epoch.to_string())
        .env("LC_ALL", "C.UTF-8")
        .args(["--variant=minbase", "--mode=root", "--format=directory"])
        .arg(format!("--include={}", packages.join(",")))
        .arg("--aptopt=Acquire::Languages \"none\"")
        // Documentation is dead weight on an appliance; licences stay.
        .args([
            "--dpkgopt=path-exclude=/usr/share/man/*",
            "--dpkgopt=path-exclude=/usr/share/doc/*",
            "--dpkgopt=path-include=/usr/share/doc/*/copyright",
            "--dpkgopt=path-exclude=/usr/share/info/*",
        ])
        // Keep downloads: feed the cache in, take new .debs out, then drop
        // them from the root (mmdebstrap's documented caching recipe).
        .arg("--skip=download/empty")
        .arg("--skip=essential/unlink")
        .arg("--setup-hook=mkdir -p \"$1\"/var/cache/apt/archives/")
        .arg(format!(
            "--setup-hook=sync-in {} /var/cache/apt/archives/",
            debs.display()
        ))
        .args((!optional.is_empty()).then(|| {
            format!(
                "--customize-hook=for p in {}; do chroot \"$1\" apt-get install -y -q --no-install-recommends \"$p\" || echo \"outpost: %packages --ignoremissing: skipped $p\"; done",
                optional.join(" ")
            )
        }))
        .arg(format!(
            "--customize-hook=sync-out /var/cache/apt/archives {}",
            debs.display()
        ))
        .arg("--customize-hook=rm -f \"$1\"/var/cache/apt/archives/*.deb")
        .arg(format!(
            "--customize-hook=dpkg-query --admindir=\"$1\"/var/lib/dpkg -W -f='${{Package}}\\t${{Version}}\\t${{Architecture}}\\n' | sort > {}",
            tsv.display()
        ))
        // Host-specific or secret state must not ship: ssh host keys are
        // made on first boot (overlays/ has the unit), machine-id is
        // empty so systemd creates one, logs and caches are dropped.
        .arg("--customize-hook=rm -f \"$1\"/etc/ssh/ssh_host_*")
        .arg("--customize-hook=: > \"$1\"/etc/machine-id; rm -f \"$1\"/var/lib/dbus/machine-id")
        .arg("--customize-hook=rm -rf \"$1\"/var/log/apt/* \"$1\"/var/log/dpkg.log \"$1\"/var/log/alternatives.log \"$1\"/var/cache/ldconfig/aux-cache \"$1\"/var/cache/debconf/*-old \"$1\"/var/lib/dpkg/*-old")
        .arg(&cfg.suite)
        .arg(&root)
        .arg(&cfg.mirror);
    let logf = std::fs::File::create(&log)?;
    let status = cmd
        .stdout(logf.try_clone()?)
        .stderr(logf)
        .status()
        .context("running mmdebstrap")?;
    if !status.success() {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(25).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        bail!(
            "mmdebstrap failed with {status} (an unknown %packages name? pass --ignoremissing):\n{}",
            tail.join("\n")
        );
    }
    Ok(())
}

/// Packs base + overlays + binaries + units into `rootfs.tar.zst`, as two
/// zstd frames (see `outpost_image::tarball::pack_layer`): the Debian base
/// layer, cached on its own, and the small top layer of our files, so a
/// rebuild after a change to one daemon repacks only the top.
pub fn payload(
    cfg: &Config,
    base: &Base,
    bins: &Binaries,
    p: &Progress,
) -> Result<(Payload, bool)> {
    let overlays = cfg.root.join("overlays");
    let top = cfg.work.join("payload-top");
    if top.exists() {
        std::fs::remove_dir_all(&top)?;
    }
    std::fs::create_dir_all(&top)?;
    if overlays.is_dir() {
        // Every top-level entry except the folder's own README.
        let mut entries: Vec<PathBuf> = std::fs::read_dir(&overlays)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.file_name().is_some_and(|n| n != "README.md"))
            .collect();
        entries.sort();
        if !entries.is_empty() {
            crate::ci::run_cmd(
                Command::new("cp")
                    .args(["-a", "--no-preserve=ownership"])
                    .args(&entries)
                    .arg(format!("{}/", top.display())),
            )?;
        }
    }
    for (name, path) in &bins.daemons {
        install_file(path, &top.join("usr/bin").join(name), 0o755)?;
    }
    for unit in &bins.units {
        let name = unit.file_name().context("unit without a name")?;
        install_file(unit, &top.join("usr/lib/systemd/system").join(name), 0o644)?;
    }
    // Files of the top layer that replace files of the base.
    let mut exclude = BTreeSet::new();
    let mut top_files = Vec::new();
    list_files(&top, "", &mut top_files)?;
    for rel in &top_files {
        let in_base = base.root.join(rel);
        if in_base.is_symlink() || in_base.is_file() {
            exclude.insert(rel.clone());
        }
    }
    let opts = outpost_image::tarball::PackOptions {
        clamp_mtime: cfg.epoch,
        level: 6,
        workers: 2,
    };
    let base_key = steps::key(&[
        "payload-base-v1".to_owned(),
        base.key.clone(),
        format!("epoch {}", cfg.epoch),
        format!(
            "exclude {}",
            exclude.iter().cloned().collect::<Vec<_>>().join(",")
        ),
    ]);
    let (base_dir, base_cached) =
        steps::cached(&cfg.local_cache, "payload-base", &base_key, |tmp| {
            p.say("packing the Debian layer");
            let out = std::fs::File::create(tmp.join("base.tar.zst"))?;
            let stats = outpost_image::tarball::pack_layer(
                &base.root,
                std::io::BufWriter::new(out),
                opts,
                &exclude,
                false,
            )
            .context("packing the Debian layer")?;
            p.say(format!(
                "{} entries, {} MiB",
                stats.entries,
                stats.bytes >> 20
            ));
            Ok(())
        })?;
    let mut lines = vec![
        "payload-v2".to_owned(),
        base_key,
        format!("top {}", tree_hash(&top)?),
    ];
    lines.extend(bins.describe());
    let key = steps::key(&lines);
    let (dir, cached) = steps::cached(&cfg.local_cache, "payload", &key, |tmp| {
        p.say("packing the Outpost layer");
        let path = tmp.join("rootfs.tar.zst");
        std::fs::copy(base_dir.join("base.tar.zst"), &path)?;
        let out = std::fs::OpenOptions::new().append(true).open(&path)?;
        outpost_image::tarball::pack_layer(
            &top,
            std::io::BufWriter::new(out),
            opts,
            &BTreeSet::new(),
            true,
        )
        .context("packing the Outpost layer")?;
        Ok(())
    })?;
    std::fs::remove_dir_all(&top)?;
    Ok((
        Payload {
            tarball: dir.join("rootfs.tar.zst"),
        },
        cached && base_cached,
    ))
}

/// Relative paths of every non-directory below `dir`.
fn list_files(dir: &Path, prefix: &str, out: &mut Vec<String>) -> Result<()> {
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let rel = format!("{prefix}{}", e.file_name().to_string_lossy());
        if e.file_type()?.is_dir() {
            list_files(&e.path(), &format!("{rel}/"), out)?;
        } else {
            out.push(rel);
        }
    }
    Ok(())
}

fn install_file(from: &Path, to: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent)?;
    }
    if to.exists() || to.is_symlink() {
        std::fs::remove_file(to)?;
    }
    std::fs::copy(from, to).with_context(|| format!("copying {}", from.display()))?;
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(mode))?;
    Ok(())
}

/// SHA-256 over every path, mode and content below `dir` (sorted), so an
/// overlay edit invalidates the payload but a `touch` does not.
pub fn tree_hash(dir: &Path) -> Result<String> {
    use std::os::unix::fs::PermissionsExt;
    let mut lines = Vec::new();
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) -> Result<()> {
        if !dir.is_dir() {
            return Ok(());
        }
        let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let path = e.path();
            let rel = path.strip_prefix(base)?.display().to_string();
            let meta = std::fs::symlink_metadata(&path)?;
            let mode = meta.permissions().mode();
            if meta.is_dir() {
                out.push(format!("d {rel} {mode:o}"));
                walk(base, &path, out)?;
            } else if meta.file_type().is_symlink() {
                out.push(format!("l {rel} {}", std::fs::read_link(&path)?.display()));
            } else {
                let h = outpost_image::sums::sha256_file(&path)?;
                out.push(format!("f {rel} {mode:o} {h}"));
            }
        }
        Ok(())
    }
    walk(dir, dir, &mut lines)?;
    Ok(steps::key(&lines))
}
