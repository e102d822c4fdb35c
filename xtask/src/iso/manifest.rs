//! The `manifest` stage and `cargo xtask verify`.
//!
//! `manifest.json` lists every input (Debian packages with version and
//! `.deb` SHA-256, our binaries, the answer file, the git revision,
//! `SOURCE_DATE_EPOCH`) and every output with its SHA-256 and size; only
//! paths relative to the output directory appear, never host paths.
//! `SHA256SUMS` beside it covers the outputs in `sha256sum -c` format.
//! `verify` checks an ISO file or a written stick twice: the whole image
//! against the manifest (a stick is longer than the image: only the
//! image's length is read), and the ISO's own `/SHA256SUMS` against the
//! files inside it (works without a manifest).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use super::initramfs::Initramfs;
use super::rootfs::{Base, Payload};
use super::{AnswerFile, Binaries, Config, VerifyArgs};
use outpost_image::sums;

/// Everything the manifest describes.
#[derive(Debug)]
pub struct Inputs<'a> {
    /// The plan.
    pub cfg: &'a Config,
    /// The answer file.
    pub answer: &'a AnswerFile,
    /// Our binaries.
    pub bins: &'a Binaries,
    /// The base root.
    pub base: &'a Base,
    /// The payload.
    pub payload: &'a Payload,
    /// The initramfs.
    pub initrd: &'a Initramfs,
    /// The ESP.
    pub esp: &'a super::boot::Esp,
}

/// `manifest.json`.
#[derive(Debug, Serialize, Deserialize)]
pub struct Manifest {
    /// `SOURCE_DATE_EPOCH` of the build.
    pub source_date_epoch: u64,
    /// Git revision of the workspace (`-dirty` when it had changes).
    pub git_revision: String,
    /// Debian suite and mirror.
    pub debian: Debian,
    /// The answer file on the ISO.
    pub answer_file: FileSum,
    /// Release binaries and units in the payload/initramfs.
    pub binaries: Vec<FileSum>,
    /// Debian packages in the payload.
    pub packages: Vec<Package>,
    /// Outputs; `outpost.iso` first.
    pub outputs: Vec<FileSum>,
}

/// Suite and mirror.
#[derive(Debug, Serialize, Deserialize)]
pub struct Debian {
    /// `bookworm`.
    pub suite: String,
    /// The mirror URL.
    pub mirror: String,
    /// Kernel version in the payload and initramfs.
    pub kernel: String,
}

/// A named file with its hash.
#[derive(Debug, Serialize, Deserialize)]
pub struct FileSum {
    /// Name or path relative to the output directory / ISO root.
    pub path: String,
    /// Lowercase hex SHA-256.
    pub sha256: String,
    /// Bytes.
    pub size: u64,
}

/// One installed Debian package.
#[derive(Debug, Serialize, Deserialize)]
pub struct Package {
    /// Package name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Architecture.
    pub arch: String,
    /// SHA-256 of the `.deb` it was installed from (when cached).
    pub deb_sha256: Option<String>,
}

fn file_sum(path: &Path, name: &str) -> Result<FileSum> {
    Ok(FileSum {
        path: name.to_owned(),
        sha256: sums::sha256_file(path)?,
        size: std::fs::metadata(path)?.len(),
    })
}

/// Writes `SHA256SUMS` and `manifest.json` next to the ISO.
pub fn write(inp: &Inputs<'_>, iso: &Path) -> Result<()> {
    let cfg = inp.cfg;
    let debs = sums::parse_sums(&std::fs::read_to_string(&inp.base.debs_sums).unwrap_or_default());
    let debs: BTreeMap<String, String> = debs.into_iter().collect();
    let mut packages = Vec::new();
    for line in std::fs::read_to_string(&inp.base.packages_tsv)
        .context("reading the package list")?
        .lines()
    {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() < 3 {
            continue;
        }
        // apt names files name_version_arch.deb with ':' (epochs) as %3a.
        let deb = format!("{}_{}_{}.deb", f[0], f[1].replace(':', "%3a"), f[2]);
        packages.push(Package {
            name: f[0].into(),
            version: f[1].into(),
            arch: f[2].into(),
            deb_sha256: debs.get(&deb).cloned(),
        });
    }
    let mut binaries = vec![file_sum(&inp.bins.installer, "outpost-installer")?];
    for (n, path) in &inp.bins.daemons {
        binaries.push(file_sum(path, n)?);
    }
    for u in &inp.bins.units {
        let n = u
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        binaries.push(file_sum(u, &n)?);
    }
    let outputs = vec![
        file_sum(iso, "outpost.iso")?,
        file_sum(&inp.payload.tarball, "payload/rootfs.tar.zst")?,
        file_sum(&inp.esp.image, "boot/efiboot.img")?,
        file_sum(&inp.initrd.image, "outpost/initrd.img")?,
    ];
    let manifest = Manifest {
        source_date_epoch: cfg.epoch,
        git_revision: cfg.git_revision.clone(),
        debian: Debian {
            suite: cfg.suite.clone(),
            mirror: cfg.mirror.clone(),
            kernel: inp.initrd.kernel_version.clone(),
        },
        answer_file: FileSum {
            path: "ks/outpost.ks".into(),
            sha256: sums::sha256_hex(inp.answer.text.as_bytes()),
            size: inp.answer.text.len() as u64,
        },
        binaries,
        packages,
        outputs,
    };
    std::fs::write(
        cfg.out.join("manifest.json"),
        serde_json::to_string_pretty(&manifest)? + "\n",
    )?;
    std::fs::write(
        cfg.out.join("SHA256SUMS"),
        sums::format_sums(&[("outpost.iso".into(), manifest.outputs[0].sha256.clone())]),
    )?;
    Ok(())
}

/// `cargo xtask verify PATH`.
pub fn verify(args: VerifyArgs) -> Result<()> {
    let manifest_path = args
        .manifest
        .clone()
        .unwrap_or_else(|| crate::ci::root().join("target/outpost/manifest.json"));
    let mut failures = 0;
    if manifest_path.exists() {
        let m: Manifest = serde_json::from_str(&std::fs::read_to_string(&manifest_path)?)
            .with_context(|| format!("reading {}", manifest_path.display()))?;
        let iso = &m.outputs[0];
        let mut f = std::fs::File::open(&args.path)
            .with_context(|| format!("opening {}", args.path.display()))?;
        let got = sums::sha256_reader(&mut (&mut f).take(iso.size))?;
        if got == iso.sha256 {
            println!(
                "ok      image ({} bytes) matches {}",
                iso.size,
                manifest_path.display()
            );
        } else {
            println!("FAILED  image: sha256 {got}, manifest says {}", iso.sha256);
            failures += 1;
        }
    } else {
        println!(
            "note    no manifest at {}: checking the ISO's own SHA256SUMS only",
            manifest_path.display()
        );
    }
    let dir = tempdir()?;
    let text = extract(&args.path, "/SHA256SUMS", &dir.0.join("SHA256SUMS"))
        .and_then(|p| Ok(std::fs::read_to_string(p)?))
        .context("reading /SHA256SUMS from the image")?;
    for (path, want) in sums::parse_sums(&text) {
        let local = dir.0.join(path.replace('/', "_"));
        let got = extract(&args.path, &format!("/{path}"), &local)
            .and_then(|p| Ok(sums::sha256_file(&p)?));
        match got {
            Ok(h) if h == want => println!("ok      /{path}"),
            Ok(h) => {
                println!("FAILED  /{path}: sha256 {h}, SHA256SUMS says {want}");
                failures += 1;
            }
            Err(e) => {
                println!("FAILED  /{path}: {e:#}");
                failures += 1;
            }
        }
        let _ = std::fs::remove_file(&local);
    }
    if failures > 0 {
        bail!("{failures} check(s) failed");
    }
    println!("verified {}", args.path.display());
    Ok(())
}

fn extract(image: &Path, inner: &str, to: &Path) -> Result<PathBuf> {
    let out = Command::new("xorriso")
        .args(["-osirrox", "on", "-indev"])
        .arg(image)
        .arg("-extract")
        .arg(inner)
        .arg(to)
        .output()
        .context("running xorriso (Debian package xorriso)")?;
    if !out.status.success() || !to.exists() {
        bail!(
            "xorriso could not extract {inner}: {}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        );
    }
    Ok(to.to_path_buf())
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tempdir() -> Result<TempDir> {
    let p = std::env::temp_dir().join(format!("outpost-verify-{}", std::process::id()));
    std::fs::create_dir_all(&p)?;
    Ok(TempDir(p))
}
