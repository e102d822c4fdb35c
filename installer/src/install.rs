//! The live install: find media and answer file → plan → partition → mkfs →
//! mount → payload → configure → Outpost layout → boot loader → `%post` → finish.
//!
//! Every stage is a timed, logged step. Nothing is written before the plan
//! is complete and valid. After the first write, a failure runs `%onerror`,
//! wipes the new partition tables again (unless `preserve-on-error` is on the
//! kernel command line), names the failed step and the log, and exits 1 so
//! the initramfs offers a rescue shell (coreos-installer's behaviour).
//!
//! The log goes to the console and `/tmp/outpost-install.log`; once the
//! target is mounted it is also copied to `/var/log/outpost/install.log` there.

use crate::cmdline::{self, Cmdline, KsSource};
use crate::disk::{self, Contents, Disk, MIB};
use crate::plan::Plan;
use crate::target::{self, NewFs};
use crate::{from_ks, layout, plan, scripts};
use anyhow::{Context, Result, bail};
use nix::mount::{MntFlags, MsFlags};
use outpost_kickstart::{FinishAction, Kickstart, ScriptKind};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{IsTerminal, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Where the target is mounted, as in Anaconda (`%post --nochroot` scripts use it).
pub const SYSIMAGE: &str = "/mnt/sysimage";
/// The live system's log file.
pub const LIVE_LOG: &str = "/tmp/outpost-install.log";
/// The log on the installed system.
pub const TARGET_LOG: &str = "var/log/outpost/install.log";
/// The payload inside the media.
pub const PAYLOAD: &str = "payload/rootfs.tar.zst";

static LOG: Mutex<Option<File>> = Mutex::new(None);

/// Prints a line to the console and appends it to the install log.
pub fn log(msg: &str) {
    println!("{msg}");
    if let Ok(mut g) = LOG.lock()
        && let Some(f) = g.as_mut()
    {
        let _ = writeln!(f, "{msg}");
    }
}

fn open_log() {
    let _ = std::fs::create_dir_all("/tmp");
    if let Ok(f) = File::create(LIVE_LOG)
        && let Ok(mut g) = LOG.lock()
    {
        *g = Some(f);
    }
}

/// How to run an install; [`run_live`] fills it from the kernel command line.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The answer file (else found from `inst.ks=` / OEMDRV).
    pub ks: Option<PathBuf>,
    /// The install media's root directory (else found and mounted).
    pub media: Option<PathBuf>,
    /// Target block devices (else every disk in `/sys/block`).
    pub disks: Vec<PathBuf>,
    /// Whether to reboot/power off at the end as the answer file says.
    pub finish: bool,
    /// The kernel command line.
    pub cmdline: Cmdline,
}

/// Runs the unattended install on this machine (the initramfs's program).
pub fn run_live() -> Result<ExitCode> {
    let line = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
    run(Options {
        finish: true,
        cmdline: cmdline::parse(&line),
        ..Default::default()
    })
}

/// A block device or partition, for finding the media and answer files.
#[derive(Debug, Clone)]
pub struct BlockDev {
    /// Kernel name (`sdb1`).
    pub name: String,
    /// Device node (`/dev/sdb1`).
    pub path: PathBuf,
    /// What [`disk::probe`] found on it.
    pub contents: Contents,
}

/// Every block device and partition in `/sys/class/block` with its contents.
fn block_devices() -> Vec<BlockDev> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir("/sys/class/block") else {
        return out;
    };
    let mut names: Vec<String> = rd
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for name in names {
        if name.starts_with("loop") || name.starts_with("ram") || name.starts_with("zram") {
            continue;
        }
        let path = Path::new("/dev").join(&name);
        let size = std::fs::read_to_string(format!("/sys/class/block/{name}/size"))
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .unwrap_or(0)
            * 512;
        if size == 0 {
            continue;
        }
        if let Ok(contents) = disk::probe(&path, size) {
            out.push(BlockDev {
                name,
                path,
                contents,
            });
        }
    }
    out
}

fn label_of(c: &Contents) -> Option<(&str, &str)> {
    c.fs_label().filter(|(_, l)| !l.is_empty())
}

/// Mount options: Debian's kernel defaults FAT to `iocharset=ascii`, whose
/// module (`nls_ascii`) the initramfs may lack; ISO 8859-1 and code page 437
/// are the ones it loads, so FAT mounts name them explicitly.
fn mount_data(fstype: &str) -> Option<&'static str> {
    (fstype == "vfat").then_some("codepage=437,iocharset=iso8859-1")
}

fn mount_ro(dev: &Path, fstype: &str, at: &Path) -> Result<()> {
    std::fs::create_dir_all(at)?;
    nix::mount::mount(
        Some(dev),
        at,
        Some(fstype),
        MsFlags::MS_RDONLY,
        mount_data(fstype),
    )
    .with_context(|| format!("mounting {} ({fstype}) on {}", dev.display(), at.display()))
}

/// The block devices once their list has stopped changing for 2 s (at most
/// 12 s): USB sticks enumerate asynchronously, and an OEMDRV stick found
/// too late would silently lose its override to the media's answer file.
fn settled_block_devices() -> Vec<BlockDev> {
    let names = || -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir("/sys/class/block")
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    };
    let deadline = Instant::now() + Duration::from_secs(12);
    let mut last = names();
    let mut stable_since = Instant::now();
    while Instant::now() < deadline && stable_since.elapsed() < Duration::from_secs(2) {
        std::thread::sleep(Duration::from_millis(250));
        let now = names();
        if now != last {
            last = now;
            stable_since = Instant::now();
        }
    }
    block_devices()
}

/// Finds and mounts the install media: an iso9660 labelled OUTPOST (a CD or
/// a USB stick holding the hybrid image). Retries for a few seconds because
/// USB disks appear late. Returns the mount point and the device it is on.
fn find_media() -> Result<(PathBuf, Option<PathBuf>)> {
    let at = PathBuf::from("/run/outpost/media");
    if at.join(PAYLOAD).exists() {
        return Ok((at.clone(), disk::mount_source(&at)));
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        for d in block_devices() {
            if label_of(&d.contents) == Some(("iso9660", "OUTPOST")) {
                log(&format!(
                    "media: {} (iso9660, label OUTPOST)",
                    d.path.display()
                ));
                mount_ro(&d.path, "iso9660", &at)?;
                return Ok((at, Some(d.path)));
            }
        }
        if Instant::now() > deadline {
            bail!("no install media: no block device holds an iso9660 filesystem labelled OUTPOST");
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Filesystem types an `OEMDRV` device may have (Anaconda's: ext2/3/4, FAT,
/// ISO 9660, XFS), as `blkid`/the probe name them, with the kernel type to
/// mount them as (the ext4 driver reads ext2 and ext3).
const OEMDRV_TYPES: &[(&str, &str)] = &[
    ("ext2", "ext4"),
    ("ext3", "ext4"),
    ("ext4", "ext4"),
    ("vfat", "vfat"),
    ("iso9660", "iso9660"),
    ("xfs", "xfs"),
];

/// An `OEMDRV`-labelled filesystem: the device and its type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OemDrv {
    /// The device (a whole disk or a partition).
    pub path: PathBuf,
    /// Its filesystem type (`ext4`, `vfat`, …), or `?` if nothing says.
    pub fstype: String,
}

/// The `OEMDRV` device among `devs` (probed here) and `blkid_found` (what
/// `blkid -t LABEL=OEMDRV` lists, with the type it reports: it also sees a
/// FAT label kept only in the root directory, as Windows writes it, and
/// filesystems the probe does not know). None is no error; two are (which
/// answer file would win is not obvious to whoever plugged them in).
pub fn find_oemdrv(devs: &[BlockDev], blkid_found: &[(PathBuf, String)]) -> Result<Option<OemDrv>> {
    let mut found: Vec<OemDrv> = devs
        .iter()
        .filter_map(|d| {
            let (t, l) = d.contents.fs_label()?;
            (l == "OEMDRV").then(|| OemDrv {
                path: d.path.clone(),
                fstype: t.to_owned(),
            })
        })
        .collect();
    for (p, t) in blkid_found {
        if !found.iter().any(|f| &f.path == p) {
            found.push(OemDrv {
                path: p.clone(),
                fstype: if t.is_empty() { "?".into() } else { t.clone() },
            });
        }
    }
    match found.len() {
        0 => Ok(None),
        1 => Ok(found.pop()),
        _ => bail!(
            "more than one device is labelled OEMDRV ({}): remove all but the one holding ks.cfg",
            found
                .iter()
                .map(|f| format!("{} {}", f.path.display(), f.fstype))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// What `blkid -t LABEL=OEMDRV` lists, with each device's TYPE; empty when
/// blkid is missing (a workstation) or finds nothing.
fn blkid_oemdrv() -> Vec<(PathBuf, String)> {
    let Ok(out) = Command::new("blkid")
        .args(["-t", "LABEL=OEMDRV", "-o", "device"])
        .output()
    else {
        return Vec::new();
    };
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("/dev/") && !l.starts_with("/dev/loop"))
        .map(|dev| {
            let t = Command::new("blkid")
                .args(["-s", "TYPE", "-o", "value", dev])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
                .unwrap_or_default();
            (PathBuf::from(dev), t)
        })
        .collect()
}

/// Reads `ks.cfg` from the `OEMDRV` filesystem `oem`: mounts it read-only at
/// `mnt`, copies `ks.cfg` from its root to `copy_to`, unmounts. Every way
/// this can fail is an error naming the device — a type the installer cannot
/// mount, a mount that fails, no `ks.cfg` (the files that are there are
/// listed), an unreadable one — so an OEMDRV the technician meant is never
/// passed over for the media's answer file.
pub fn read_oemdrv(oem: &OemDrv, mnt: &Path, copy_to: &Path) -> Result<PathBuf> {
    let dev = oem.path.display();
    let Some(&(_, kernel_type)) = OEMDRV_TYPES.iter().find(|(t, _)| *t == oem.fstype) else {
        bail!(
            "{dev} is labelled OEMDRV but holds a {} filesystem, which the installer cannot read; \
             use ext4, FAT, ISO 9660 or XFS",
            oem.fstype
        );
    };
    mount_ro(&oem.path, kernel_type, mnt).with_context(|| {
        format!(
            "{dev} is labelled OEMDRV ({}) but cannot be mounted",
            oem.fstype
        )
    })?;
    let read = (|| -> Result<String> {
        let ks = mnt.join("ks.cfg");
        if !ks.exists() {
            let mut names: Vec<String> = std::fs::read_dir(mnt)
                .map(|rd| {
                    rd.flatten()
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .filter(|n| n != "lost+found")
                        .collect()
                })
                .unwrap_or_default();
            names.sort();
            names.truncate(10);
            bail!(
                "{dev} is labelled OEMDRV ({}) but has no ks.cfg at its root (it holds: {})",
                oem.fstype,
                if names.is_empty() {
                    "nothing".to_owned()
                } else {
                    names.join(", ")
                }
            );
        }
        std::fs::read_to_string(&ks)
            .with_context(|| format!("reading ks.cfg on the OEMDRV device {dev}"))
    })();
    if nix::mount::umount(mnt).is_err() {
        let _ = nix::mount::umount2(mnt, MntFlags::MNT_DETACH);
    }
    let text = read?;
    if let Some(d) = copy_to.parent() {
        std::fs::create_dir_all(d)?;
    }
    std::fs::write(copy_to, text).with_context(|| format!("writing {}", copy_to.display()))?;
    Ok(copy_to.to_path_buf())
}

/// The answer file: an OEMDRV device's `ks.cfg` overrides `inst.ks=`
/// (Anaconda's rule), then `inst.ks=`, then `/ks/outpost.ks` on the media.
/// Returns its path and the device it was read from (none for the media's
/// own file, which [`find_media`] reports, or a file in the live system).
fn find_answer_file(opts: &Options, media: &Path) -> Result<(PathBuf, Option<PathBuf>)> {
    if let Some(k) = &opts.ks {
        return Ok((k.clone(), None));
    }
    let devs = settled_block_devices();
    if let Some(oem) = find_oemdrv(&devs, &blkid_oemdrv())? {
        let ks = read_oemdrv(
            &oem,
            Path::new("/run/outpost/oemdrv"),
            Path::new("/run/outpost/oemdrv-ks/ks.cfg"),
        )?;
        log(&format!(
            "answer file: ks.cfg on the OEMDRV device {} ({}; overrides inst.ks)",
            oem.path.display(),
            oem.fstype
        ));
        return Ok((ks, Some(oem.path)));
    }
    let src = match &opts.cmdline.ks {
        Some(Ok(s)) => s.clone(),
        Some(Err(e)) => bail!("{e}"),
        None => KsSource::Cdrom {
            device: None,
            path: "/ks/outpost.ks".into(),
        },
    };
    log(&format!("answer file: inst.ks={src}"));
    let (path, from) = match &src {
        KsSource::File(p) => (PathBuf::from(p), disk::mount_source(Path::new(p))),
        KsSource::Cdrom { device: None, path } => (media.join(path.trim_start_matches('/')), None),
        KsSource::Cdrom {
            device: Some(d),
            path,
        }
        | KsSource::Hd { device: d, path } => {
            let dev = devs
                .iter()
                .find(|b| {
                    let label = label_of(&b.contents).map(|(_, l)| l);
                    if let Some(l) = d.strip_prefix("LABEL=") {
                        label == Some(l)
                    } else if let Some(u) = d.strip_prefix("UUID=") {
                        blkid_uuid(&b.path).is_some_and(|x| x.eq_ignore_ascii_case(u))
                    } else {
                        b.name == d.trim_start_matches("/dev/")
                    }
                })
                .with_context(|| format!("inst.ks={src}: no device {d}"))?;
            let fs = dev
                .contents
                .fs_label()
                .map(|(t, _)| t.to_owned())
                .unwrap_or_else(|| "ext4".into());
            let at = PathBuf::from("/run/outpost/ks");
            mount_ro(&dev.path, &fs, &at)?;
            (
                at.join(path.trim_start_matches('/')),
                Some(dev.path.clone()),
            )
        }
    };
    if !path.exists() {
        bail!("inst.ks={src}: {} does not exist", path.display());
    }
    Ok((path, from))
}

/// A filesystem UUID from `blkid` (only used to find `hd:UUID=` answer files).
fn blkid_uuid(dev: &Path) -> Option<String> {
    let out = Command::new("blkid")
        .args(["-s", "UUID", "-o", "value"])
        .arg(dev)
        .output()
        .ok()?;
    let s = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    (!s.is_empty()).then_some(s)
}

/// The expected sha256 of `name` from the media's `SHA256SUMS`.
fn expected_sha256(media: &Path, name: &str) -> Result<String> {
    let text = std::fs::read_to_string(media.join("SHA256SUMS"))
        .context("reading SHA256SUMS on the media")?;
    text.lines()
        .find_map(|l| {
            let (h, f) = l.split_once(char::is_whitespace)?;
            let f = f
                .trim_start()
                .trim_start_matches('*')
                .trim_start_matches("./")
                .trim_start_matches('/');
            (f == name).then(|| h.to_ascii_lowercase())
        })
        .with_context(|| format!("SHA256SUMS on the media has no line for {name}"))
}

fn total_ram_mib() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))?
                .split_whitespace()
                .nth(1)?
                .parse::<u64>()
                .ok()
        })
        .map_or(1024, |k| k / 1024)
}

/// Runs the whole install with `opts`.
pub fn run(opts: Options) -> Result<ExitCode> {
    open_log();
    let t0 = Instant::now();
    let (media, media_dev) = match &opts.media {
        Some(m) => (m.clone(), None),
        None => match find_media() {
            Ok(m) => m,
            Err(e) => {
                log(&format!("error: {e:#}"));
                return Ok(ExitCode::from(2));
            }
        },
    };
    let (ks_path, ks_dev) = match find_answer_file(&opts, &media) {
        Ok(p) => p,
        Err(e) => {
            log(&format!("error: no usable answer file: {e:#}"));
            log(
                "nothing was written. Fix the answer file (or boot parameter inst.ks=) and boot again.",
            );
            return Ok(ExitCode::from(2));
        }
    };
    let ks = match outpost_kickstart::parse_file(&ks_path) {
        Ok(p) => {
            for w in &p.warnings {
                log(&w.to_string());
            }
            p.kickstart
        }
        Err(diags) => {
            log(&format!(
                "error: the answer file {} is invalid:",
                ks_path.display()
            ));
            for d in &diags.items {
                log(&format!("  {d}"));
            }
            log("nothing was written. Fix the answer file and boot again.");
            return Ok(ExitCode::from(2));
        }
    };
    // %pre runs in the live system before storage is planned (Anaconda).
    if let Err(e) = scripts::run_all(&ks, ScriptKind::Pre, None) {
        log(&format!("error: %pre failed: {e:#}"));
        log("nothing was written.");
        return Ok(ExitCode::from(2));
    }
    let mut disks = if opts.disks.is_empty() {
        disk::discover_sysfs(Path::new("/sys/block"), Path::new("/dev")).context("listing disks")?
    } else {
        disk::from_image_files(&opts.disks)?
    };
    // The devices the media and the answer file came from are never targets.
    if let Some(d) = &media_dev {
        disk::mark_in_use(&mut disks, d, "the install media");
    }
    if let Some(d) = &ks_dev {
        disk::mark_in_use(&mut disks, d, "the answer file");
    }
    let spec = from_ks::storage_spec(&ks);
    let plan = match plan::make_plan(&spec, &disks, total_ram_mib()).and_then(|p| {
        layout::check(&ks).map_err(|e| plan::PlanError(e.to_string()))?;
        Ok(p)
    }) {
        Ok(p) => p,
        Err(e) => {
            log(&format!("error: {e}"));
            log("refusing to install: nothing was written.");
            return Ok(ExitCode::from(2));
        }
    };
    for l in plan.to_string().lines() {
        log(l);
    }
    let payload_sha = match expected_sha256(&media, PAYLOAD) {
        Ok(h) => h,
        Err(e) => {
            log(&format!("error: {e:#}; nothing was written."));
            return Ok(ExitCode::from(2));
        }
    };
    let mut inst = Installer {
        ks: &ks,
        plan: &plan,
        media: &media,
        cmdline: &opts.cmdline,
        mounts: Vec::new(),
        fss: Vec::new(),
        written: false,
        parts: Default::default(),
        loops: Vec::new(),
    };
    let result = inst.install(&payload_sha);
    match result {
        Ok(()) => {
            log(&format!(
                "install finished in {:.1} s",
                t0.elapsed().as_secs_f64()
            ));
            inst.unmount_all();
            if let Ok(mut g) = LOG.lock() {
                *g = None;
            }
            if opts.finish {
                finish(&ks);
            }
            Ok(ExitCode::SUCCESS)
        }
        Err((step, e)) => {
            log(&format!("error: step `{step}` failed: {e:#}"));
            let _ = scripts::run_all(&ks, ScriptKind::OnError, None);
            inst.unmount_all();
            if inst.written {
                if opts.cmdline.preserve_on_error {
                    log("preserve-on-error is set: the disks are left as they are for inspection");
                } else {
                    inst.wipe_tables();
                }
            }
            log(&format!(
                "the full log is {LIVE_LOG} on the live system; a rescue shell follows"
            ));
            Ok(ExitCode::from(1))
        }
    }
}

struct Installer<'a> {
    ks: &'a Kickstart,
    plan: &'a Plan,
    media: &'a Path,
    cmdline: &'a Cmdline,
    mounts: Vec<PathBuf>,
    fss: Vec<NewFs>,
    written: bool,
    /// Partition devices by (disk name, partition number).
    parts: std::collections::BTreeMap<(String, u32), PathBuf>,
    /// Loop devices attached for image-file targets, detached at the end.
    loops: Vec<PathBuf>,
}

type StepResult = std::result::Result<(), (&'static str, anyhow::Error)>;

fn step<T>(
    name: &'static str,
    f: impl FnOnce() -> Result<T>,
) -> std::result::Result<T, (&'static str, anyhow::Error)> {
    let t = Instant::now();
    log(&format!("==> {name}"));
    let r = f().map_err(|e| (name, e))?;
    log(&format!("<== {name} ({:.1} s)", t.elapsed().as_secs_f64()));
    Ok(r)
}

/// A fresh random (version 4) UUID.
fn uuid4() -> [u8; 16] {
    let mut b = [0u8; 16];
    if let Ok(mut f) = File::open("/dev/urandom") {
        let _ = f.read_exact(&mut b);
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    b
}

fn uuid_string(b: &[u8; 16]) -> String {
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// A textual GUID in the GPT on-disk byte order (first three fields little-endian).
fn guid_bytes(s: &str) -> Result<[u8; 16]> {
    let hex: String = s.chars().filter(|c| *c != '-').collect();
    if hex.len() != 32 {
        bail!("bad GUID {s}");
    }
    let mut b = [0u8; 16];
    for i in 0..16 {
        b[i] = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)?;
    }
    b[0..4].reverse();
    b[4..6].reverse();
    b[6..8].reverse();
    Ok(b)
}

/// `/dev/vda` + 1 → `/dev/vda1`; `/dev/nvme0n1` + 1 → `/dev/nvme0n1p1`.
pub fn part_path(disk: &Path, n: u32) -> PathBuf {
    let s = disk.display().to_string();
    if s.ends_with(|c: char| c.is_ascii_digit()) {
        PathBuf::from(format!("{s}p{n}"))
    } else {
        PathBuf::from(format!("{s}{n}"))
    }
}

/// Waits up to 10 s for a partition's device node. devtmpfs creates it when
/// the kernel re-reads the table; if it does not (no devtmpfs), the node is
/// made from the numbers in `/sys/class/block/NAME/dev`.
fn wait_for_node(pp: &Path) -> Result<()> {
    let name = pp
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !pp.exists() {
        if let Ok(nums) = std::fs::read_to_string(format!("/sys/class/block/{name}/dev"))
            && let Some((maj, min)) = nums.trim().split_once(':')
        {
            let (maj, min): (u64, u64) = (maj.parse()?, min.parse()?);
            let _ = nix::sys::stat::mknod(
                pp,
                nix::sys::stat::SFlag::S_IFBLK,
                nix::sys::stat::Mode::from_bits_truncate(0o600),
                nix::sys::stat::makedev(maj, min),
            );
            continue;
        }
        if Instant::now() > deadline {
            bail!(
                "{} did not appear after re-reading the partition table",
                pp.display()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

fn run_tool(cmd: &mut Command) -> Result<()> {
    let what = format!("{cmd:?}");
    let out = cmd.output().with_context(|| format!("starting {what}"))?;
    if !out.status.success() {
        bail!(
            "{what} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

fn zero(f: &mut File, offset: u64, len: u64) -> Result<()> {
    f.seek(SeekFrom::Start(offset))?;
    let buf = vec![0u8; MIB as usize];
    let mut left = len;
    while left > 0 {
        let n = left.min(MIB);
        f.write_all(&buf[..n as usize])?;
        left -= n;
    }
    Ok(())
}

fn sector_size(d: &Disk) -> u64 {
    std::fs::read_to_string(format!("/sys/block/{}/queue/logical_block_size", d.name))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(512)
}

impl Installer<'_> {
    fn install(&mut self, payload_sha: &str) -> StepResult {
        step("partition", || self.partition())?;
        step("mkfs", || self.mkfs())?;
        step("mount", || self.mount(false))?;
        let root = PathBuf::from(SYSIMAGE);
        step("%pre-install", || {
            scripts::run_all(self.ks, ScriptKind::PreInstall, None)
        })?;
        step("payload", || {
            unpack_payload(&self.media.join(PAYLOAD), &root, payload_sha)
        })?;
        step("mount ESP", || self.mount(true))?;
        step("configure", || self.configure(&root))?;
        step("outpost layout", || layout::lay_out(&root, self.ks))?;
        step("bootloader", || self.bootloader(&root))?;
        step("%post", || scripts::run_post(self.ks, &root))?;
        step("finish", || {
            let dst = root.join(TARGET_LOG);
            std::fs::create_dir_all(dst.parent().unwrap_or(&root))?;
            std::fs::copy(LIVE_LOG, &dst).context("copying the log to the target")?;
            nix::unistd::sync();
            Ok(())
        })?;
        Ok(())
    }

    fn partition(&mut self) -> Result<()> {
        for d in self.plan.written() {
            let path = &d.disk.path;
            let ss = sector_size(&d.disk);
            let mut f = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(path)
                .with_context(|| format!("opening {}", path.display()))?;
            self.written = true;
            // Wipe old labels at both ends (primary and backup GPT, MBR, fs superblocks).
            zero(&mut f, 0, MIB)
                .with_context(|| format!("wiping the start of {}", path.display()))?;
            zero(&mut f, d.disk.size.saturating_sub(MIB), MIB)
                .with_context(|| format!("wiping the end of {}", path.display()))?;
            let mut gpt = gptman::GPT::new_from(&mut f, ss, uuid4())
                .with_context(|| format!("creating a GPT for {}", path.display()))?;
            gpt.align = MIB / ss;
            for p in &d.parts {
                let start = p.start_mib * MIB / ss;
                let end = (p.start_mib + p.size_mib) * MIB / ss - 1;
                let name = match p.mountpoint.as_str() {
                    "/boot/efi" => "EFI System Partition".to_owned(),
                    m => m.to_owned(),
                };
                gpt[p.number] = gptman::GPTPartitionEntry {
                    partition_type_guid: guid_bytes(&p.type_guid)?,
                    unique_partition_guid: uuid4(),
                    starting_lba: start,
                    ending_lba: end,
                    attribute_bits: 0,
                    partition_name: name.as_str().into(),
                };
            }
            gpt.write_into(&mut f)
                .with_context(|| format!("writing partition table to {}", path.display()))?;
            gptman::GPT::write_protective_mbr_into(&mut f, ss)
                .with_context(|| format!("writing the protective MBR to {}", path.display()))?;
            f.sync_all()?;
            drop(f);
            log(&format!(
                "{}: new GPT with {} partitions",
                path.display(),
                d.parts.len()
            ));
            let is_file = std::fs::metadata(path)
                .map(|m| m.is_file())
                .unwrap_or(false);
            for p in &d.parts {
                let dev = if is_file {
                    // An image file (testing on a workstation): one loop device per
                    // partition, because loop partition scanning is not always available.
                    let out = Command::new("losetup")
                        .args(["-f", "--show", "-o"])
                        .arg((p.start_mib * MIB).to_string())
                        .arg("--sizelimit")
                        .arg((p.size_mib * MIB).to_string())
                        .arg(path)
                        .output()
                        .context("starting losetup")?;
                    if !out.status.success() {
                        bail!(
                            "losetup failed: {}",
                            String::from_utf8_lossy(&out.stderr).trim()
                        );
                    }
                    let l = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
                    self.loops.push(l.clone());
                    l
                } else {
                    part_path(path, p.number)
                };
                self.parts.insert((d.disk.name.clone(), p.number), dev);
            }
            if !is_file {
                run_tool(Command::new("blockdev").arg("--rereadpt").arg(path)).with_context(
                    || format!("re-reading the partition table of {}", path.display()),
                )?;
                for p in &d.parts {
                    let pp = part_path(path, p.number);
                    wait_for_node(&pp)?;
                }
            }
        }
        Ok(())
    }

    fn part_dev(&self, disk: &str, n: u32) -> Result<PathBuf> {
        self.parts
            .get(&(disk.to_owned(), n))
            .cloned()
            .with_context(|| format!("no device for partition {n} of {disk}"))
    }

    fn detach_loops(&mut self) {
        for l in self.loops.drain(..).rev() {
            let _ = Command::new("losetup").arg("-d").arg(&l).output();
        }
    }

    fn mkfs(&mut self) -> Result<()> {
        for d in self.plan.written() {
            for p in &d.parts {
                let dev = self.part_dev(&d.disk.name, p.number)?;
                // Old superblocks inside the new partition would confuse blkid.
                let mut f = std::fs::OpenOptions::new()
                    .write(true)
                    .open(&dev)
                    .with_context(|| format!("opening {}", dev.display()))?;
                zero(&mut f, 0, MIB.min(p.size_mib * MIB))?;
                f.sync_all()?;
                drop(f);
                let u = uuid4();
                let mut uuid = uuid_string(&u);
                let label = p.label.clone();
                let mut cmd = match p.fstype {
                    crate::spec::FsType::Ext4 => {
                        let mut c = Command::new("mkfs.ext4");
                        c.args(["-F", "-q", "-U", &uuid]);
                        if let Some(l) = &label {
                            c.args(["-L", l]);
                        }
                        c
                    }
                    crate::spec::FsType::Xfs => {
                        let mut c = Command::new("mkfs.xfs");
                        c.args(["-f", "-q", "-m", &format!("uuid={uuid}")]);
                        if let Some(l) = &label {
                            c.args(["-L", l]);
                        }
                        c
                    }
                    crate::spec::FsType::Vfat => {
                        let id = format!("{:02X}{:02X}{:02X}{:02X}", u[0], u[1], u[2], u[3]);
                        // fstab and blkid show a FAT volume id as XXXX-XXXX.
                        uuid = format!("{}-{}", &id[0..4], &id[4..8]);
                        let mut c = Command::new("mkfs.vfat");
                        c.args(["-F", "32", "-i", &id]);
                        c.args(["-n", label.as_deref().unwrap_or("ESP")]);
                        c
                    }
                    crate::spec::FsType::Swap => {
                        let mut c = Command::new("mkswap");
                        c.args(["-U", &uuid]);
                        if let Some(l) = &label {
                            c.args(["-L", l]);
                        }
                        c
                    }
                };
                cmd.arg(&dev);
                run_tool(&mut cmd).with_context(|| {
                    format!("creating {} on {}", p.fstype.as_str(), dev.display())
                })?;
                log(&format!(
                    "{}: {} {} UUID={uuid}",
                    dev.display(),
                    p.fstype.as_str(),
                    p.mountpoint
                ));
                self.fss.push(NewFs {
                    mountpoint: p.mountpoint.clone(),
                    fstype: p.fstype.as_str().into(),
                    uuid,
                });
            }
        }
        Ok(())
    }

    /// Mounts the new filesystems under [`SYSIMAGE`]: everything but FAT
    /// before the payload (so e.g. a separate `/var/mail` receives its files),
    /// FAT (the ESP) after it (`esp = true`), because FAT cannot hold the
    /// owners and modes the payload's directories carry.
    fn mount(&mut self, esp: bool) -> Result<()> {
        for (d, p) in self.plan.mounts() {
            if (p.fstype == crate::spec::FsType::Vfat) != esp {
                continue;
            }
            let dev = self.part_dev(&d.name, p.number)?;
            let at = Path::new(SYSIMAGE).join(p.mountpoint.trim_start_matches('/'));
            std::fs::create_dir_all(&at).with_context(|| format!("creating {}", at.display()))?;
            nix::mount::mount(
                Some(&dev),
                &at,
                Some(p.fstype.as_str()),
                MsFlags::empty(),
                mount_data(p.fstype.as_str()),
            )
            .with_context(|| format!("mounting {} on {}", dev.display(), at.display()))?;
            self.mounts.push(at);
        }
        Ok(())
    }

    fn unmount_all(&mut self) {
        for m in self.mounts.drain(..).rev() {
            if nix::mount::umount(&m).is_err() {
                let _ = nix::mount::umount2(&m, MntFlags::MNT_DETACH);
            }
        }
        nix::unistd::sync();
        self.detach_loops();
    }

    /// Undoes the partitioning: zeroes the first and last MiB of every disk written.
    fn wipe_tables(&self) {
        for d in self.plan.written() {
            let r = std::fs::OpenOptions::new()
                .write(true)
                .open(&d.disk.path)
                .map_err(anyhow::Error::from)
                .and_then(|mut f| {
                    zero(&mut f, 0, MIB)?;
                    zero(&mut f, d.disk.size.saturating_sub(MIB), MIB)?;
                    f.sync_all()?;
                    Ok(())
                });
            match r {
                Ok(()) => log(&format!(
                    "{}: partition table wiped again (boot with preserve-on-error to keep it)",
                    d.disk.path.display()
                )),
                Err(e) => log(&format!(
                    "{}: could not wipe the partition table: {e:#}",
                    d.disk.path.display()
                )),
            }
            let _ = Command::new("blockdev")
                .arg("--rereadpt")
                .arg(&d.disk.path)
                .output();
        }
    }

    fn configure(&self, root: &Path) -> Result<()> {
        std::fs::write(root.join("etc/fstab"), target::fstab(&self.fss))
            .context("writing /etc/fstab")?;
        target::write_hostname(root, self.ks)?;
        target::write_system_settings(root, self.ks)?;
        if self.ks.lang.is_some() && root.join("usr/sbin/locale-gen").exists() {
            // locale-gen compiles the locales the answer file named; C.UTF-8 needs nothing.
            let r = Command::new("chroot")
                .arg(root)
                .args(["/usr/sbin/locale-gen"])
                .output();
            match r {
                Ok(o) if o.status.success() => {}
                Ok(o) => log(&format!(
                    "warning: locale-gen failed: {}",
                    String::from_utf8_lossy(&o.stderr).trim()
                )),
                Err(e) => log(&format!("warning: could not run locale-gen: {e}")),
            }
        }
        target::write_users(root, self.ks)?;
        // A reproducible payload ships no SSH host keys (they must be unique
        // per machine); without them ssh.service fails at boot.
        if root.join("usr/bin/ssh-keygen").exists() {
            match Command::new("chroot")
                .arg(root)
                .args(["/usr/bin/ssh-keygen", "-A"])
                .output()
            {
                Ok(o) if o.status.success() => log("ssh: host keys generated"),
                Ok(o) => log(&format!(
                    "warning: ssh-keygen -A failed: {}",
                    String::from_utf8_lossy(&o.stderr).trim()
                )),
                Err(e) => log(&format!("warning: could not run ssh-keygen: {e}")),
            }
        }
        for w in target::check_packages(root, self.ks)? {
            log(&format!("warning: {w}"));
        }
        let ports = layout::firewall_ports(self.ks);
        match target::nftables(self.ks, &ports)? {
            Some(rules) => {
                std::fs::write(root.join("etc/nftables.conf"), rules)
                    .context("writing /etc/nftables.conf")?;
                if !target::enable_unit(root, "nftables.service")? {
                    log(
                        "warning: the payload has no nftables.service; firewall rules written but not enabled",
                    );
                }
            }
            None => target::disable_unit(root, "nftables.service")?,
        }
        if !self.ks.network.is_empty() && !target::enable_unit(root, "systemd-networkd.service")? {
            log("warning: the payload has no systemd-networkd.service");
        }
        // Every bundled Outpost daemon in the payload is enabled (contract 7).
        for dir in ["usr/lib/systemd/system", "lib/systemd/system"] {
            if let Ok(rd) = std::fs::read_dir(root.join(dir)) {
                let mut units: Vec<String> = rd
                    .flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect();
                units.sort();
                for u in units
                    .iter()
                    .filter(|u| u.starts_with("outpost-") && u.ends_with(".service"))
                {
                    if layout::service_wanted(self.ks, u) {
                        target::enable_unit(root, u)?;
                        log(&format!("enabled {u}"));
                    }
                }
            }
        }
        if let Some(s) = &self.ks.services {
            for u in &s.disabled {
                target::disable_unit(root, u)?;
            }
            for u in &s.enabled {
                if !target::enable_unit(root, u)? {
                    bail!("services --enabled={u}: no such unit in the payload");
                }
            }
        }
        if self.ks.selinux.is_some() {
            log("note: selinux: accepted, no effect on Debian (AppArmor is the LSM)");
        }
        Ok(())
    }

    fn bootloader(&self, root: &Path) -> Result<()> {
        if !self.plan.install_bootloader {
            log("bootloader --location=none: no boot loader installed");
            return Ok(());
        }
        let esp = root.join("boot/efi");
        let efi = ["usr/lib/systemd/boot/efi/systemd-bootx64.efi", "lib/systemd/boot/efi/systemd-bootx64.efi"]
            .iter()
            .map(|p| root.join(p))
            .find(|p| p.exists())
            .context("the payload has no systemd-boot (usr/lib/systemd/boot/efi/systemd-bootx64.efi from systemd-boot-efi)")?;
        for dst in ["EFI/BOOT/BOOTX64.EFI", "EFI/systemd/systemd-bootx64.efi"] {
            let d = esp.join(dst);
            std::fs::create_dir_all(d.parent().unwrap_or(&esp))?;
            std::fs::copy(&efi, &d)
                .with_context(|| format!("copying systemd-boot to {}", d.display()))?;
        }
        let boot = root.join("boot");
        let mut kernels: Vec<String> = std::fs::read_dir(&boot)
            .context("reading the payload's /boot")?
            .flatten()
            .filter_map(|e| {
                e.file_name()
                    .to_str()?
                    .strip_prefix("vmlinuz-")
                    .map(str::to_owned)
            })
            .collect();
        kernels.sort();
        let version = kernels
            .pop()
            .context("the payload's /boot has no vmlinuz-*")?;
        let initrd = boot.join(format!("initrd.img-{version}"));
        if !initrd.exists() {
            bail!("the payload has no {}", initrd.display());
        }
        std::fs::create_dir_all(esp.join("outpost"))?;
        std::fs::copy(
            boot.join(format!("vmlinuz-{version}")),
            esp.join(format!("outpost/vmlinuz-{version}")),
        )?;
        std::fs::copy(&initrd, esp.join(format!("outpost/initrd.img-{version}")))?;
        let root_uuid = &self
            .fss
            .iter()
            .find(|f| f.mountpoint == "/")
            .context("no root filesystem")?
            .uuid;
        let mut options = format!("root=UUID={root_uuid} ro");
        for c in &self.cmdline.consoles {
            options.push(' ');
            options.push_str(c);
        }
        if let Some(a) = &self.plan.append {
            options.push(' ');
            options.push_str(a);
        }
        let host = target::hostname(self.ks);
        std::fs::create_dir_all(esp.join("loader/entries"))?;
        std::fs::write(
            esp.join("loader/entries/outpost.conf"),
            format!(
                "title Outpost ({host})\nversion {version}\nlinux /outpost/vmlinuz-{version}\ninitrd /outpost/initrd.img-{version}\noptions {options}\n"
            ),
        )?;
        std::fs::write(
            esp.join("loader/loader.conf"),
            format!(
                "default outpost.conf\ntimeout {}\neditor no\n",
                self.plan.timeout.unwrap_or(3)
            ),
        )?;
        log(&format!(
            "systemd-boot: \\EFI\\BOOT\\BOOTX64.EFI, entry outpost.conf (kernel {version}, {options})"
        ));
        Ok(())
    }
}

/// Counts bytes read and prints progress: a `\r` bar on a terminal, plain
/// lines every 5 s otherwise (serial consoles and logs).
struct Progress<R> {
    inner: R,
    hasher: Sha256,
    done: u64,
    total: u64,
    start: Instant,
    last: Instant,
    tty: bool,
}

impl<R: Read> Read for Progress<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.done += n as u64;
        let every = if self.tty {
            Duration::from_millis(250)
        } else {
            Duration::from_secs(5)
        };
        if self.last.elapsed() >= every {
            self.last = Instant::now();
            self.report(false);
        }
        Ok(n)
    }
}

impl<R> Progress<R> {
    fn report(&self, end: bool) {
        let secs = self.start.elapsed().as_secs_f64().max(0.001);
        let pct = (self.done * 100).checked_div(self.total).unwrap_or(100);
        let line = format!(
            "payload: {:>4}/{} MiB ({pct:>3}%) {:.1} MiB/s",
            self.done / MIB,
            self.total / MIB,
            self.done as f64 / MIB as f64 / secs
        );
        if self.tty {
            let width = 30;
            let filled = (pct as usize * width / 100).min(width);
            print!(
                "\r[{}{}] {line}",
                "#".repeat(filled),
                " ".repeat(width - filled)
            );
            if end {
                println!();
            }
            let _ = std::io::stdout().flush();
            if end
                && let Ok(mut g) = LOG.lock()
                && let Some(f) = g.as_mut()
            {
                let _ = writeln!(f, "{line}");
            }
        } else {
            log(&line);
        }
    }
}

/// Creates a character/block device or FIFO entry of the payload.
fn make_node<R: Read>(root: &Path, entry: &tar::Entry<R>) -> Result<()> {
    use nix::sys::stat::{Mode, SFlag, makedev, mknod};
    let h = entry.header();
    let rel = entry.path()?.into_owned();
    let rel = rel.strip_prefix("./").unwrap_or(&rel).to_path_buf();
    if rel
        .components()
        .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        bail!("{} escapes the target", rel.display());
    }
    let dst = root.join(&rel);
    if let Some(d) = dst.parent() {
        std::fs::create_dir_all(d)?;
    }
    let _ = std::fs::remove_file(&dst);
    let kind = if h.entry_type().is_fifo() {
        SFlag::S_IFIFO
    } else if h.entry_type().is_block_special() {
        SFlag::S_IFBLK
    } else {
        SFlag::S_IFCHR
    };
    let dev = makedev(
        h.device_major()?.unwrap_or(0) as u64,
        h.device_minor()?.unwrap_or(0) as u64,
    );
    let mode = Mode::from_bits_truncate(h.mode()? & 0o7777);
    mknod(&dst, kind, mode, dev).with_context(|| format!("mknod {}", dst.display()))?;
    std::os::unix::fs::lchown(&dst, Some(h.uid()? as u32), Some(h.gid()? as u32))?;
    Ok(())
}

/// Unpacks the payload tarball into `root`, hashing the compressed bytes on
/// the way (one pass over the media) and failing if the sha256 differs from
/// `SHA256SUMS`. Ownership, modes, mtimes and hard links are kept.
pub fn unpack_payload(payload: &Path, root: &Path, expected_sha256: &str) -> Result<()> {
    let f = File::open(payload).with_context(|| format!("opening {}", payload.display()))?;
    let total = f.metadata()?.len();
    let now = Instant::now();
    let mut progress = Progress {
        inner: std::io::BufReader::with_capacity(4 * MIB as usize, f),
        hasher: Sha256::new(),
        done: 0,
        total,
        start: now,
        last: now,
        tty: std::io::stdout().is_terminal(),
    };
    {
        let dec = zstd::stream::read::Decoder::new(&mut progress).context("starting zstd")?;
        let mut ar = tar::Archive::new(dec);
        ar.set_preserve_permissions(true);
        ar.set_preserve_ownerships(true);
        ar.set_preserve_mtime(true);
        ar.set_unpack_xattrs(false);
        ar.set_overwrite(true);
        for entry in ar.entries().context("reading the payload")? {
            let mut entry = entry.context("reading the payload")?;
            let kind = entry.header().entry_type();
            if kind.is_character_special() || kind.is_block_special() || kind.is_fifo() {
                // The tar crate would write these as empty regular files.
                make_node(root, &entry).context("creating a device node from the payload")?;
                continue;
            }
            entry.unpack_in(root).with_context(|| {
                format!(
                    "unpacking {} from {}",
                    entry
                        .path()
                        .map(|p| p.display().to_string())
                        .unwrap_or_default(),
                    payload.display()
                )
            })?;
        }
    }
    // Drain what the tar reader left (end-of-archive padding) so the hash covers the file.
    std::io::copy(&mut progress, &mut std::io::sink())?;
    progress.report(true);
    let got: String = progress
        .hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    if got != expected_sha256 {
        bail!(
            "payload checksum mismatch: SHA256SUMS says {expected_sha256}, the media has {got} (damaged media?)"
        );
    }
    log(&format!("payload: sha256 {got} verified"));
    Ok(())
}

/// `reboot`, `poweroff`, `halt` (default `halt`, as Anaconda), with `--eject`.
///
/// In the initramfs, `/init` runs the installer as a child and performs the
/// action it finds in `/run/outpost/finish` (after a final `sync`); outside
/// it (no `/run/outpost`), the installer calls reboot(2) itself.
fn finish(ks: &Kickstart) {
    let f = ks.finish.clone();
    let action = f.as_ref().map(|f| f.action).unwrap_or(FinishAction::Halt);
    if f.as_ref().is_some_and(|f| f.eject) {
        let _ = Command::new("eject").output();
    }
    nix::unistd::sync();
    let word = match action {
        FinishAction::Reboot => "reboot",
        FinishAction::Poweroff | FinishAction::Shutdown => "poweroff",
        FinishAction::Halt => "halt",
    };
    log(&format!("finishing: {word}"));
    if Path::new("/run/outpost").is_dir()
        && std::fs::write("/run/outpost/finish", format!("{word}\n")).is_ok()
    {
        return;
    }
    let mode = match action {
        FinishAction::Reboot => nix::sys::reboot::RebootMode::RB_AUTOBOOT,
        FinishAction::Poweroff | FinishAction::Shutdown => {
            nix::sys::reboot::RebootMode::RB_POWER_OFF
        }
        FinishAction::Halt => nix::sys::reboot::RebootMode::RB_HALT_SYSTEM,
    };
    let Err(e) = nix::sys::reboot::reboot(mode);
    log(&format!("warning: {word} failed: {e}"));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev(path: &str, c: &str) -> BlockDev {
        BlockDev {
            name: path.trim_start_matches("/dev/").into(),
            path: path.into(),
            contents: if c.is_empty() {
                Contents::PartitionTable("dos".into())
            } else {
                Contents::Filesystem(c.into())
            },
        }
    }

    /// An OEMDRV of any type is found by its label, from the probe or from
    /// blkid (a FAT label kept only in the root directory, or a type the
    /// probe does not know); two of them are an error.
    #[test]
    fn oemdrv_found_by_probe_or_blkid() {
        let devs = [
            dev("/dev/sda", ""),
            dev("/dev/sda1", "ext4 OEMDRV"),
            dev("/dev/vda", "ext4 root"),
        ];
        let oem = find_oemdrv(&devs, &[("/dev/sda1".into(), "ext4".into())])
            .unwrap()
            .unwrap();
        assert_eq!(
            (oem.path.to_str(), oem.fstype.as_str()),
            (Some("/dev/sda1"), "ext4")
        );
        let oem = find_oemdrv(&devs[..1], &[("/dev/sda1".into(), "vfat".into())])
            .unwrap()
            .unwrap();
        assert_eq!(oem.fstype, "vfat");
        assert_eq!(find_oemdrv(&devs[2..], &[]).unwrap(), None);
        let e = find_oemdrv(&devs, &[("/dev/sdb".into(), "exfat".into())]).unwrap_err();
        assert!(
            e.to_string().contains(
                "more than one device is labelled OEMDRV (/dev/sda1 ext4, /dev/sdb exfat)"
            ),
            "{e}"
        );
    }

    #[test]
    fn guids_and_paths() {
        let b = guid_bytes(crate::plan::guid::ESP).unwrap();
        assert_eq!(b[..4], [0x28, 0x73, 0x2A, 0xC1]);
        assert_eq!(part_path(Path::new("/dev/vda"), 2), Path::new("/dev/vda2"));
        assert_eq!(
            part_path(Path::new("/dev/nvme0n1"), 1),
            Path::new("/dev/nvme0n1p1")
        );
        assert_eq!(
            part_path(Path::new("/dev/loop3"), 1),
            Path::new("/dev/loop3p1")
        );
        let u = uuid_string(&uuid4());
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
    }
}
