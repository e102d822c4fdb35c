//! `cargo xtask iso`: builds `target/outpost/outpost.iso`, and
//! `cargo xtask verify`: checks an ISO or a written USB stick.
//!
//! [`run`] reads as the stage list of DESIGN.md §2:
//! config → render → build → rootfs → initramfs → esp → iso → manifest.
//! Each stage is a timed step ([`steps::Steps`]); stages whose inputs did
//! not change are served from `target/outpost/cache` ([`steps::cached`]).
//! Reproducible: `SOURCE_DATE_EPOCH` (default: the last commit's time) is
//! the only time that reaches an output; every archive is sorted, owned
//! by numbers and clamped; serials and GUIDs derive from it.

mod boot;
mod initramfs;
mod manifest;
mod passwords;
mod rootfs;
mod steps;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

pub use manifest::verify;

/// Arguments of `cargo xtask iso`.
#[derive(Debug, clap::Args)]
pub struct IsoArgs {
    /// Site description (YAML), rendered into the answer file.
    #[arg(long, conflicts_with = "ks")]
    pub site: Option<PathBuf>,
    /// Answer file (Kickstart), used as given.
    #[arg(long)]
    pub ks: Option<PathBuf>,
    /// Output directory [default: target/outpost].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Cache directory [default: target/outpost/cache].
    #[arg(long)]
    pub cache: Option<PathBuf>,
    /// Leave out `%packages` names Debian does not have instead of failing.
    #[arg(long)]
    pub ignoremissing: bool,
    /// Build twice (the second time into `OUT/repro` with fresh payload,
    /// initramfs and ESP stages; downloads and the Debian base shared) and
    /// fail unless both ISOs have the same SHA-256.
    #[arg(long)]
    pub check_reproducible: bool,
    /// Debian mirror the root file system is built from.
    #[arg(long, default_value = "http://deb.debian.org/debian")]
    pub mirror: String,
}

/// Arguments of `cargo xtask verify`.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The ISO file or block device to check.
    pub path: PathBuf,
    /// The build manifest [default: target/outpost/manifest.json].
    #[arg(long)]
    pub manifest: Option<PathBuf>,
}

/// The validated, immutable build plan (the `config` stage's output).
#[derive(Debug, Clone)]
pub struct Config {
    /// Workspace root.
    pub root: PathBuf,
    /// Where `outpost.iso`, `SHA256SUMS`, `manifest.json` go.
    pub out: PathBuf,
    /// Cache of downloads and of the Debian base (`rootfs-base`, `debs`).
    pub cache: PathBuf,
    /// Cache of the stages made from local inputs (payload, initramfs,
    /// esp); the same as `cache` except in the reproducibility check.
    pub local_cache: PathBuf,
    /// Scratch space.
    pub work: PathBuf,
    /// `SOURCE_DATE_EPOCH`.
    pub epoch: u64,
    /// Seed for serials and GUIDs.
    pub seed: String,
    /// Debian suite.
    pub suite: String,
    /// Debian mirror.
    pub mirror: String,
    /// `git rev-parse HEAD` (+ `-dirty`).
    pub git_revision: String,
    /// Where the answer file comes from.
    pub answer: Answer,
    /// `--ignoremissing`.
    pub ignoremissing: bool,
}

/// The answer file's origin.
#[derive(Debug, Clone)]
pub enum Answer {
    /// The embedded default site.
    Default,
    /// A site YAML to render.
    Site(PathBuf),
    /// A Kickstart file used as given.
    Ks(PathBuf),
}

/// The validated answer file (the `render` stage's output).
#[derive(Debug, Clone)]
pub struct AnswerFile {
    /// Its text, as it goes onto the ISO.
    pub text: String,
    /// Debian packages `%packages` asks for.
    pub packages: Vec<String>,
}

/// Release binaries (the `build` stage's output).
#[derive(Debug, Clone)]
pub struct Binaries {
    /// `target/release/outpost-installer`.
    pub installer: PathBuf,
    /// Its SHA-256.
    pub installer_sha: String,
    /// Daemons and `outpostctl`: `(name, path)`.
    pub daemons: Vec<(String, PathBuf)>,
    /// `services/*/outpost-*.service`.
    pub units: Vec<PathBuf>,
    /// `(name, sha256)` of every daemon and unit.
    pub hashes: Vec<(String, String)>,
}

impl Binaries {
    /// Lines for cache keys.
    pub fn describe(&self) -> Vec<String> {
        self.hashes
            .iter()
            .map(|(n, h)| format!("bin {n} {h}"))
            .collect()
    }
}

/// `cargo xtask iso`: one build, or two and a comparison.
pub fn run(args: IsoArgs) -> Result<()> {
    let first = config(&args)?;
    // The host tools the stages drive; on a fresh Debian 12 machine the
    // pipeline installs them itself (README: two commands, nothing else).
    for (tool, package) in [
        ("mmdebstrap", "mmdebstrap"),
        ("xorriso", "xorriso"),
        ("depmod", "kmod"),
        ("readelf", "binutils"),
    ] {
        ensure_tool(tool, package)?;
    }
    // One build at a time per cache: stages prune older cache entries,
    // which a concurrent build might be reading.
    std::fs::create_dir_all(&first.cache)?;
    let lock = std::fs::File::create(first.cache.join(".lock"))?;
    if lock.try_lock().is_err() {
        println!(
            "waiting for another `cargo xtask iso` using {}",
            first.cache.display()
        );
        lock.lock().context("locking the cache")?;
    }
    let (a, bins) = build_iso(first.clone(), None)?;
    if !args.check_reproducible {
        return Ok(());
    }
    let mut second = first.clone();
    second.out = first.out.join("repro");
    second.work = second.out.join("work");
    second.local_cache = second.out.join("stage-cache");
    if second.local_cache.exists() {
        std::fs::remove_dir_all(&second.local_cache)?;
    }
    // Same binaries: the workspace may change while the first build runs
    // (and cargo is deterministic anyway); everything after is rebuilt.
    let (b, _) = build_iso(second.clone(), Some(bins))?;
    let (ha, hb) = (
        outpost_image::sums::sha256_file(&a)?,
        outpost_image::sums::sha256_file(&b)?,
    );
    println!("reproducibility: {ha}  {}", a.display());
    println!("reproducibility: {hb}  {}", b.display());
    std::fs::remove_dir_all(&second.local_cache)?;
    if ha != hb {
        bail!(
            "the two builds differ: compare {} and {}",
            a.display(),
            b.display()
        );
    }
    println!("reproducibility: identical");
    Ok(())
}

/// Builds the ISO: the stage list.
fn build_iso(plan: Config, prebuilt: Option<Binaries>) -> Result<(PathBuf, Binaries)> {
    let mut steps = steps::Steps::new();
    let cfg = steps.run("config", |_| Ok((plan, false)))?;
    let answer = steps.run("render", |p| Ok((render(&cfg, p)?, false)))?;
    let bins = steps.run("build", |p| match prebuilt {
        Some(b) => Ok((b, true)),
        None => Ok((build(&cfg, p)?, false)),
    })?;
    let base = steps.run("rootfs", |p| rootfs::base(&cfg, &answer.packages, p))?;
    let payload = steps.run("payload", |p| rootfs::payload(&cfg, &base, &bins, p))?;
    let initrd = steps.run("initramfs", |p| initramfs::build(&cfg, &base, &bins, p))?;
    let esp = steps.run("esp", |p| boot::esp(&cfg, &base, &initrd, p))?;
    let iso = steps.run("iso", |p| {
        Ok((boot::iso(&cfg, &answer, &payload, &esp, p)?, false))
    })?;
    steps.run("manifest", |_| {
        let inputs = manifest::Inputs {
            cfg: &cfg,
            answer: &answer,
            bins: &bins,
            base: &base,
            payload: &payload,
            initrd: &initrd,
            esp: &esp,
        };
        Ok((manifest::write(&inputs, &iso)?, false))
    })?;
    let total: f64 = steps.timings.iter().map(|t| t.1).sum();
    println!(
        "built {} ({} MiB) in {total:.1}s",
        iso.display(),
        std::fs::metadata(&iso)?.len() >> 20
    );
    Ok((iso, bins))
}

fn config(args: &IsoArgs) -> Result<Config> {
    let root = crate::ci::root();
    let target = root.join("target/outpost");
    let epoch = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) => v
            .trim()
            .parse()
            .context("SOURCE_DATE_EPOCH is not a number")?,
        Err(_) => git(&root, &["log", "-1", "--format=%ct"])?
            .parse()
            .context("reading the last commit's time")?,
    };
    let mut rev = git(&root, &["rev-parse", "HEAD"])?;
    if !git(&root, &["status", "--porcelain", "--untracked-files=no"])?.is_empty() {
        rev.push_str("-dirty");
    }
    let answer = match (&args.site, &args.ks) {
        (Some(s), _) => Answer::Site(abs(s)?),
        (None, Some(k)) => Answer::Ks(abs(k)?),
        (None, None) => Answer::Default,
    };
    let out = match &args.out {
        Some(o) => abs(o)?,
        None => target.clone(),
    };
    let cache = match &args.cache {
        Some(c) => abs(c)?,
        None => target.join("cache"),
    };
    Ok(Config {
        work: out.join("work"),
        local_cache: cache.clone(),
        root,
        out,
        cache,
        epoch,
        seed: format!("outpost-{epoch}"),
        suite: "bookworm".into(),
        mirror: args.mirror.clone(),
        git_revision: rev,
        answer,
        ignoremissing: args.ignoremissing,
    })
}

fn abs(p: &Path) -> Result<PathBuf> {
    Ok(std::env::current_dir()?.join(p))
}

fn git(root: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new("git")
        .current_dir(root)
        .args(args)
        .output()
        .context("running git")?;
    if !out.status.success() {
        bail!("git {} failed", args.join(" "));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn render(cfg: &Config, p: &steps::Progress) -> Result<AnswerFile> {
    // A site is rendered through the kickstart crate's templates; the
    // rendered text is then parsed again below like any answer file, so a
    // template bug cannot slip an invalid file onto the ISO.
    // Passwords (#24): whatever goes onto the ISO is public, so a mail
    // user's password may only be a hash, and not of a weak password
    // (`outpost_kickstart::passwords`); without one, the appliance makes
    // one at first boot.
    let (name, text) = match &cfg.answer {
        Answer::Default => (
            "default-site.yaml".to_owned(),
            outpost_kickstart::render::render_site_checked(
                outpost_kickstart::render::DEFAULT_SITE,
                "default-site.yaml",
                &passwords::verify,
            )
            .map_err(|e| anyhow::anyhow!("rendering the default site: {e}"))?,
        ),
        Answer::Ks(path) => (
            path.display().to_string(),
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
        ),
        Answer::Site(path) => {
            let yaml = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            let name = path.display().to_string();
            let text =
                outpost_kickstart::render::render_site_checked(&yaml, &name, &passwords::verify)
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
            (name, text)
        }
    };
    let parsed = match outpost_kickstart::parse_str(&name, &text) {
        Ok(parsed) => parsed,
        Err(diags) => bail!("the answer file is invalid:\n{diags}"),
    };
    if matches!(cfg.answer, Answer::Ks(_)) {
        let refused =
            outpost_kickstart::passwords::check_for_image(&parsed.kickstart, &passwords::verify);
        if !refused.is_empty() {
            let lines: Vec<String> = refused.iter().map(ToString::to_string).collect();
            bail!(
                "the answer file's passwords cannot go onto an image:\n{}",
                lines.join("\n")
            );
        }
    }
    for w in &parsed.warnings {
        p.say(w.to_string());
    }
    let packages = parsed
        .kickstart
        .packages
        .as_ref()
        .map(|pk| pk.packages.clone())
        .unwrap_or_default();
    Ok(AnswerFile { text, packages })
}

/// Builds the installer and every daemon release binary that exists
/// (`outpost-*d`, `outpostctl`).
///
/// Known gap: release binaries embed source paths (panic locations) of
/// the build machine. `--remap-path-prefix` in RUSTFLAGS would fix that,
/// but changing RUSTFLAGS in the shared target directory makes every
/// other release build of the workspace recompile all dependencies, on
/// two cores; until trim-paths is stable the paths stay (they are the same
/// for every build in one checkout, so reproducibility holds).
fn build(cfg: &Config, p: &steps::Progress) -> Result<Binaries> {
    let meta = crate::ci::cargo_command()
        .current_dir(&cfg.root)
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--offline",
        ])
        .output()
        .context("running cargo metadata")?;
    if !meta.status.success() {
        bail!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&meta.stderr)
        );
    }
    let meta: serde_json::Value = serde_json::from_slice(&meta.stdout)?;
    let mut packages = Vec::new();
    let mut daemon_names = Vec::new();
    for pkg in meta["packages"].as_array().into_iter().flatten() {
        for t in pkg["targets"].as_array().into_iter().flatten() {
            let is_bin = t["kind"]
                .as_array()
                .is_some_and(|k| k.iter().any(|k| k == "bin"));
            let name = t["name"].as_str().unwrap_or_default();
            let wanted = name == "outpost-installer"
                || name == "outpostctl"
                || (name.starts_with("outpost-") && name.ends_with('d'));
            // A crate being written may declare a binary whose source does
            // not exist yet: that daemon does not exist "at the time".
            let exists = t["src_path"]
                .as_str()
                .is_some_and(|s| Path::new(s).exists());
            if is_bin && wanted && exists {
                packages.push(pkg["name"].as_str().unwrap_or_default().to_owned());
                if name != "outpost-installer" {
                    daemon_names.push(name.to_owned());
                }
            }
        }
    }
    packages.sort();
    packages.dedup();
    daemon_names.sort();
    p.say(format!("cargo build --release ({})", packages.join(", ")));
    let mut cmd = crate::ci::cargo_command();
    cmd.current_dir(&cfg.root)
        .env("SOURCE_DATE_EPOCH", cfg.epoch.to_string())
        .args(["build", "--release", "--quiet"]);
    for pkg in &packages {
        cmd.args(["-p", pkg]);
    }
    for name in std::iter::once("outpost-installer").chain(daemon_names.iter().map(String::as_str))
    {
        cmd.args(["--bin", name]);
    }
    crate::ci::run_cmd(&mut cmd)?;
    // Snapshot the binaries: target/release is shared with everyone's
    // builds and may change while this pipeline still reads them.
    let release = cfg.work.join("bin");
    if release.exists() {
        std::fs::remove_dir_all(&release)?;
    }
    std::fs::create_dir_all(&release)?;
    for name in std::iter::once("outpost-installer").chain(daemon_names.iter().map(String::as_str))
    {
        let from = crate::ci::target_dir().join("release").join(name);
        std::fs::copy(&from, release.join(name))
            .with_context(|| format!("copying {}", from.display()))?;
    }
    let installer = release.join("outpost-installer");
    let installer_sha = outpost_image::sums::sha256_file(&installer)
        .with_context(|| format!("reading {}", installer.display()))?;
    let mut hashes = vec![("outpost-installer".to_owned(), installer_sha.clone())];
    let mut daemons = Vec::new();
    for name in daemon_names {
        let path = release.join(&name);
        hashes.push((name.clone(), outpost_image::sums::sha256_file(&path)?));
        daemons.push((name, path));
    }
    let mut units = Vec::new();
    if let Ok(dirs) = std::fs::read_dir(cfg.root.join("services")) {
        for d in dirs.flatten() {
            for f in std::fs::read_dir(d.path())?.flatten() {
                let n = f.file_name().to_string_lossy().into_owned();
                if n.starts_with("outpost-") && n.ends_with(".service") {
                    units.push(f.path());
                }
            }
        }
    }
    units.sort();
    for u in &units {
        let n = u
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        hashes.push((n, outpost_image::sums::sha256_file(u)?));
    }
    Ok(Binaries {
        installer,
        installer_sha,
        daemons,
        units,
        hashes,
    })
}

/// Fails with the Debian package to install when `tool` is missing;
/// installs it with apt-get when running as root (the build machine is a
/// Debian 12 box the pipeline may provision).
pub fn ensure_tool(tool: &str, package: &str) -> Result<()> {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false);
    if found {
        return Ok(());
    }
    // A fresh machine may have no package lists yet (apt-get install would
    // then find nothing): refresh them first.
    crate::ci::run_cmd(Command::new("apt-get").args(["update", "-qq"]))
        .with_context(|| format!("{tool} is missing; refreshing apt's package lists"))?;
    crate::ci::run_cmd(
        Command::new("apt-get")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .args(["install", "-y", "-qq", "--no-install-recommends", package]),
    )
    .with_context(|| format!("{tool} is missing; install the Debian package {package}"))
}
