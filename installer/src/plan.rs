//! The plan: every disk, partition, size and filesystem the install will
//! create, computed and validated before anything is written.
//!
//! [`make_plan`] turns a [`StorageSpec`] and the discovered disks into a
//! [`Plan`] or a [`PlanError`] naming the answer-file option that would allow
//! what was refused. Sizing follows Anaconda/blivet:
//! - the EFI system partition is 500 MiB growing to 600 MiB (Anaconda's
//!   `platform.py` `PartSpec` for `/boot/efi`);
//! - swap is `swap_suggestion()`: 2×RAM below 2 GiB, RAM below 8 GiB, RAM/2
//!   below 64 GiB, else 4 GiB, and never more than 10% of the disk;
//! - growable partitions share the free space in proportion to their base
//!   size, each capped at its `--maxsize` (blivet's `growPartitions`).
//!
//! Outpost's `autopart` (plain layout) is ESP + `/` (2 GiB growing, ext4) +
//! swap, and — when the disk has at least [`VAR_MAIL_THRESHOLD_MIB`] —
//! `/` capped at 20 GiB with a separate `/var/mail` taking the rest, so a
//! full mail store cannot fill the root filesystem. Everything lands on one
//! disk, chosen as described at [`autopart_disk`].
//!
//! Disks holding the install media or an answer file (an `OEMDRV` or
//! `OUTPOST` filesystem on the disk or any of its partitions, or the device
//! the live system read them from: [`Disk::exclusion`]) are never used or
//! cleared, whatever the answer file says — Anaconda's protected devices.
//! The plan lists them as untouched with the reason.
//!
//! **Invariant:** a plan only exists if every request fits and every disk it
//! writes is blank or released by `clearpart`/`zerombr`; disks not in the plan
//! are never opened for writing.

use crate::disk::{Contents, Disk};
use crate::spec::{ClearWhich, FsType, IgnoreDisk, PartRequest, StorageSpec};
use serde::Serialize;
use std::fmt;

/// Disks at least this large (64 GiB) get `/var/mail` on its own partition.
pub const VAR_MAIL_THRESHOLD_MIB: u64 = 64 * 1024;

/// GPT partition type GUIDs (UEFI spec and the Discoverable Partitions Specification).
pub mod guid {
    /// EFI system partition.
    pub const ESP: &str = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B";
    /// Root partition (x86-64).
    pub const ROOT_X86_64: &str = "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709";
    /// `/var`-style data under a Linux filesystem.
    pub const LINUX_FS: &str = "0FC63DAF-8483-4772-8E79-3D69D8477DE4";
    /// Swap.
    pub const SWAP: &str = "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F";
    /// `/home`.
    pub const HOME: &str = "933AC7E1-2EB4-4F13-B844-0E14E2AEF915";
    /// `/var`.
    pub const VAR: &str = "4D21B016-B534-45C2-A9FB-5C16E091FD2D";
    /// Extended boot loader partition (`/boot`).
    pub const XBOOTLDR: &str = "BC13C2FF-59E6-4262-A352-B275FD6F7172";
}

/// A planned partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedPart {
    /// Partition number (1-based).
    pub number: u32,
    /// Start in MiB from the beginning of the disk (1 MiB aligned).
    pub start_mib: u64,
    /// Size in MiB.
    pub size_mib: u64,
    /// Filesystem to create.
    pub fstype: FsType,
    /// Mount point, or `swap`.
    pub mountpoint: String,
    /// Filesystem label, if any.
    pub label: Option<String>,
    /// GPT type GUID.
    pub type_guid: String,
}

/// What happens to one disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DiskPlan {
    /// The disk.
    pub disk: Disk,
    /// What happens to it.
    pub action: DiskAction,
    /// Partitions of the new table (empty unless the action writes one).
    pub parts: Vec<PlannedPart>,
}

/// What the installer does to a disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DiskAction {
    /// Write a new GPT with `parts` (erasing what `clearpart` released).
    Partition,
    /// Erase (clearpart) and leave an empty GPT.
    Clear,
    /// Not touched, with the reason.
    Untouched(String),
}

/// The validated storage plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// Every discovered disk, in name order.
    pub disks: Vec<DiskPlan>,
    /// Name of the disk holding the ESP, when a boot loader is installed.
    pub boot_disk: Option<String>,
    /// Whether to install the boot loader (`bootloader --location=none` says no).
    pub install_bootloader: bool,
    /// Extra kernel command line from `bootloader --append`.
    pub append: Option<String>,
    /// Boot menu timeout in seconds.
    pub timeout: Option<u32>,
    /// Notes worth printing (accepted-but-ignored options, and similar).
    pub notes: Vec<String>,
}

impl Plan {
    /// Every partition with its disk, in mount order (shortest mount point
    /// first, so `/` is mounted before `/var/mail`).
    pub fn mounts(&self) -> Vec<(&Disk, &PlannedPart)> {
        let mut v: Vec<(&Disk, &PlannedPart)> = self
            .disks
            .iter()
            .flat_map(|d| d.parts.iter().map(move |p| (&d.disk, p)))
            .filter(|(_, p)| p.fstype != FsType::Swap)
            .collect();
        v.sort_by_key(|(_, p)| (p.mountpoint.matches('/').count(), p.mountpoint.len()));
        v
    }

    /// Disks this plan writes to.
    pub fn written(&self) -> impl Iterator<Item = &DiskPlan> {
        self.disks
            .iter()
            .filter(|d| !matches!(d.action, DiskAction::Untouched(_)))
    }
}

/// Why no plan could be made. The message names the option that would allow it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanError(pub String);

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PlanError {}

fn err<T>(msg: impl Into<String>) -> Result<T, PlanError> {
    Err(PlanError(msg.into()))
}

/// Anaconda's recommended swap size in MiB for `ram_mib` of memory on a disk of `disk_mib`.
pub fn swap_suggestion(ram_mib: u64, disk_mib: u64) -> u64 {
    let swap = if ram_mib < 2048 {
        2 * ram_mib
    } else if ram_mib < 8192 {
        ram_mib
    } else if ram_mib < 65536 {
        ram_mib / 2
    } else {
        4096
    };
    // blivet: "don't let the swap be bigger than 10 % of disk space".
    swap.min(disk_mib / 10).max(1)
}

/// A request before placement: base size, growth and cap, all in MiB.
#[derive(Debug, Clone)]
struct Req {
    mountpoint: String,
    fstype: FsType,
    base: u64,
    grow: bool,
    max: Option<u64>,
    disk: Option<String>,
    label: Option<String>,
    what: String,
}

/// Usable MiB on a disk: 1 MiB head (protective MBR, GPT, alignment) and
/// 1 MiB tail (backup GPT) are reserved.
fn usable_mib(d: &Disk) -> u64 {
    d.size_mib().saturating_sub(2)
}

/// blivet's growth: free space is shared among growable requests in
/// proportion to their base size, each capped at its maximum; repeat until
/// nothing more can grow. Returns the final sizes.
fn grow(reqs: &[&Req], usable: u64) -> Vec<u64> {
    let mut sizes: Vec<u64> = reqs.iter().map(|r| r.base).collect();
    for _ in 0..16 {
        let free = usable.saturating_sub(sizes.iter().sum());
        let growing: Vec<usize> = (0..reqs.len())
            .filter(|&i| reqs[i].grow && reqs[i].max.is_none_or(|m| sizes[i] < m))
            .collect();
        if free == 0 || growing.is_empty() {
            break;
        }
        let weight: u64 = growing.iter().map(|&i| reqs[i].base.max(1)).sum();
        let mut given = 0;
        for &i in &growing {
            let mut add = free * reqs[i].base.max(1) / weight;
            if let Some(m) = reqs[i].max {
                add = add.min(m - sizes[i]);
            }
            sizes[i] += add;
            given += add;
        }
        // Rounding crumbs go to the last uncapped grower.
        let left = free - given;
        if left > 0
            && left < growing.len() as u64 * 2
            && let Some(&i) = growing
                .iter()
                .rev()
                .find(|&&i| reqs[i].max.is_none_or(|m| sizes[i] < m))
        {
            let room = reqs[i].max.map_or(left, |m| (m - sizes[i]).min(left));
            sizes[i] += room;
        }
        if given == 0 {
            break;
        }
    }
    sizes
}

fn type_guid(mountpoint: &str, fstype: FsType) -> &'static str {
    match (mountpoint, fstype) {
        (_, FsType::Swap) => guid::SWAP,
        ("/boot/efi", _) => guid::ESP,
        ("/", _) => guid::ROOT_X86_64,
        ("/home", _) => guid::HOME,
        ("/var", _) => guid::VAR,
        ("/boot", _) => guid::XBOOTLDR,
        _ => guid::LINUX_FS,
    }
}

fn esp_req(disk: Option<String>) -> Req {
    Req {
        mountpoint: "/boot/efi".into(),
        fstype: FsType::Vfat,
        base: 500,
        grow: true,
        max: Some(600),
        disk,
        label: None,
        what: "EFI system partition".into(),
    }
}

fn list_matches(list: &[String], d: &Disk) -> bool {
    list.iter().flat_map(|s| s.split(',')).any(|s| d.matches(s))
}

/// Turns the storage commands into a plan for these disks; `ram_mib` sizes swap.
pub fn make_plan(spec: &StorageSpec, disks: &[Disk], ram_mib: u64) -> Result<Plan, PlanError> {
    if let Some((cmd, line)) = spec.unsupported.first() {
        let at = if *line > 0 {
            format!("line {line}: ")
        } else {
            String::new()
        };
        return err(format!(
            "{at}`{cmd}` is not supported by the Outpost installer yet; \
             use plain `part` lines or `autopart --type=plain`"
        ));
    }
    let mut notes = Vec::new();
    // 1. Which disks may be used at all.
    let mut usable: Vec<&Disk> = Vec::new();
    let mut untouched: Vec<(&Disk, String)> = Vec::new();
    if let Some(IgnoreDisk::OnlyUse(list) | IgnoreDisk::Drives(list)) = &spec.ignoredisk {
        for name in list.iter().flat_map(|s| s.split(',')) {
            if !disks.iter().any(|d| d.matches(name)) {
                return err(format!(
                    "ignoredisk names disk `{name}`, which does not exist"
                ));
            }
        }
    }
    for d in disks {
        let ignored = match &spec.ignoredisk {
            Some(IgnoreDisk::OnlyUse(list)) => !list_matches(list, d),
            Some(IgnoreDisk::Drives(list)) => list_matches(list, d),
            None => false,
        };
        if let Some(why) = d.exclusion() {
            untouched.push((d, why));
        } else if ignored {
            untouched.push((d, "ignoredisk".into()));
        } else {
            usable.push(d);
        }
    }
    let excluded = || {
        untouched
            .iter()
            .map(|(d, why)| format!("{}: {why}", d.name))
            .collect::<Vec<_>>()
            .join("; ")
    };
    if usable.is_empty() {
        return err(format!(
            "no usable disk: every disk holds the install media or an answer file, or is \
             excluded by `ignoredisk` ({})",
            excluded()
        ));
    }
    let find = |name: &str, opt: &str| -> Result<String, PlanError> {
        if let Some((d, why)) = untouched.iter().find(|(d, _)| d.matches(name)) {
            return err(format!(
                "{opt} names disk `{name}`, which is not a usable disk ({}: {why})",
                d.name
            ));
        }
        usable
            .iter()
            .find(|d| d.matches(name))
            .map(|d| d.name.clone())
            .ok_or_else(|| {
                PlanError(format!(
                    "{opt} names disk `{name}`, which is not a usable disk"
                ))
            })
    };
    // `clearpart --drives` naming a protected disk outright cannot be honoured.
    if let Some(drives) = spec.clearpart.as_ref().and_then(|c| c.drives.as_ref()) {
        for name in drives.iter().flat_map(|s| s.split(',')) {
            let literal = !name.contains(['*', '?']);
            if let Some((d, why)) = untouched
                .iter()
                .find(|(d, why)| literal && why != "ignoredisk" && d.matches(name))
            {
                return err(format!(
                    "clearpart --drives names disk `{name}`, which is never cleared ({}: {why})",
                    d.name
                ));
            }
        }
    }

    // 2. Boot loader.
    let bl = spec.bootloader.clone().unwrap_or_default();
    let install_bootloader = bl.location.as_deref() != Some("none");
    if let Some(loc) = bl.location.as_deref()
        && !["mbr", "partition", "none"].contains(&loc)
    {
        return err(format!(
            "bootloader --location={loc}: expected mbr, partition or none"
        ));
    }
    let boot_drive = match &bl.boot_drive {
        Some(b) => Some(find(b, "bootloader --boot-drive")?),
        None => None,
    };

    // 3. Requests.
    let mut reqs: Vec<Req> = Vec::new();
    if let Some(ap) = &spec.autopart {
        if ap.encrypted {
            return err(
                "autopart --encrypted: disk encryption (LUKS) is not supported by the Outpost installer yet",
            );
        }
        if let Some(kind) = ap.kind.as_deref()
            && kind != "plain"
        {
            return err(format!(
                "autopart --type={kind} is not supported by the Outpost installer yet; use --type=plain"
            ));
        }
        if !spec.parts.is_empty() {
            return err("`autopart` and `part` cannot be combined (as in Anaconda); remove one");
        }
        let fstype = match ap.fstype.as_deref() {
            None => FsType::Ext4,
            Some(f) => match FsType::parse(f) {
                Some(t @ (FsType::Ext4 | FsType::Xfs)) => t,
                _ => return err(format!("autopart --fstype={f}: expected ext4 or xfs")),
            },
        };
        let d = match &boot_drive {
            Some(b) => usable
                .iter()
                .find(|d| &d.name == b)
                .copied()
                .unwrap_or(usable[0]),
            None => {
                let (d, note) = autopart_disk(spec, &usable, ram_mib, ap.noswap);
                notes.push(note);
                d
            }
        };
        let disk = d.name.clone();
        let big = d.size_mib() >= VAR_MAIL_THRESHOLD_MIB;
        reqs.push(esp_req(Some(disk.clone())));
        reqs.push(Req {
            mountpoint: "/".into(),
            fstype,
            base: 2 * 1024,
            grow: true,
            max: big.then_some(20 * 1024),
            disk: Some(disk.clone()),
            label: None,
            what: "autopart /".into(),
        });
        if big {
            reqs.push(Req {
                mountpoint: "/var/mail".into(),
                fstype,
                base: 1024,
                grow: true,
                max: None,
                disk: Some(disk.clone()),
                label: None,
                what: "autopart /var/mail".into(),
            });
        }
        if !ap.noswap {
            reqs.push(Req {
                mountpoint: "swap".into(),
                fstype: FsType::Swap,
                base: swap_suggestion(ram_mib, d.size_mib()),
                grow: false,
                max: None,
                disk: Some(disk.clone()),
                label: None,
                what: "autopart swap".into(),
            });
        }
        if ap.nohome || ap.noboot {
            notes.push("autopart --nohome/--noboot: Outpost's layout has neither; accepted".into());
        }
    }
    if spec.autopart.is_none() {
        if let Some(add_boot) = spec.reqpart {
            if !spec.parts.iter().any(|p| p.mountpoint == "/boot/efi") {
                reqs.push(esp_req(boot_drive.clone()));
            }
            if add_boot && !spec.parts.iter().any(|p| p.mountpoint == "/boot") {
                reqs.push(Req {
                    mountpoint: "/boot".into(),
                    fstype: FsType::Ext4,
                    base: 1024,
                    grow: false,
                    max: None,
                    disk: boot_drive.clone(),
                    label: None,
                    what: "reqpart --add-boot /boot".into(),
                });
            }
        }
        for p in &spec.parts {
            reqs.push(part_req(p, ram_mib, &usable, &find)?);
        }
    }
    if reqs.is_empty() {
        return err("the answer file has no `autopart` or `part` lines: nothing to install onto");
    }
    // 4. Consistency.
    let mut seen = std::collections::BTreeSet::new();
    for r in &reqs {
        if r.mountpoint != "swap" && !seen.insert(r.mountpoint.clone()) {
            return err(format!("mount point {} is requested twice", r.mountpoint));
        }
    }
    if !seen.contains("/") {
        return err("no root filesystem: add `part / --size=… --grow` or `autopart`");
    }
    if install_bootloader && !seen.contains("/boot/efi") {
        return err(
            "no EFI system partition: add `reqpart` or `part /boot/efi --fstype=efi --size=600` \
             (or `bootloader --location=none` to skip the boot loader)",
        );
    }
    if let Some(esp) = reqs.iter().find(|r| r.mountpoint == "/boot/efi")
        && esp.fstype != FsType::Vfat
    {
        return err("part /boot/efi must be --fstype=efi (vfat)");
    }

    // 5. Place requests on disks: pinned ones first, then first fit in disk
    //    order (the boot drive first), as blivet's allocator tries disks in order.
    let mut order: Vec<&Disk> = usable.clone();
    if let Some(b) = &boot_drive {
        order.sort_by_key(|d| &d.name != b);
    }
    let mut placed: Vec<Vec<&Req>> = vec![Vec::new(); order.len()];
    for r in reqs.iter().filter(|r| r.disk.is_some()) {
        let i = order
            .iter()
            .position(|d| Some(&d.name) == r.disk.as_ref())
            .unwrap_or(0);
        placed[i].push(r);
    }
    // Refusing to touch data comes before any complaint about sizes.
    for (i, d) in order.iter().enumerate() {
        if !placed[i].is_empty() {
            may_write(spec, d)?;
        }
        check_fits(d, &placed[i])?;
    }
    for r in reqs.iter().filter(|r| r.disk.is_none()) {
        let fits = |i: usize| {
            placed[i].iter().map(|q| q.base).sum::<u64>() + r.base <= usable_mib(order[i])
        };
        let i = (0..order.len()).find(|&i| fits(i)).ok_or_else(|| {
            PlanError(format!(
                "{} needs {} MiB and no usable disk has that much free",
                r.what, r.base
            ))
        })?;
        placed[i].push(r);
    }

    // 6. clearpart / zerombr: may each disk that gets partitions be written?
    if let Some(cp) = &spec.clearpart {
        if let ClearWhich::List(l) = &cp.which {
            return err(format!(
                "clearpart --list={}: removing single partitions is not supported; use clearpart --all --drives=DISK",
                l.join(",")
            ));
        }
        if let Some(l) = &cp.disklabel
            && l != "gpt"
        {
            return err(format!(
                "clearpart --disklabel={l}: Outpost writes GPT only"
            ));
        }
        if let Some(drives) = &cp.drives {
            for name in drives.iter().flat_map(|s| s.split(',')) {
                if !disks.iter().any(|d| d.matches(name)) {
                    return err(format!(
                        "clearpart --drives names disk `{name}`, which does not exist"
                    ));
                }
            }
        }
    }
    let mut plans = Vec::new();
    for (i, d) in order.iter().enumerate() {
        let wanted = !placed[i].is_empty();
        let clear = cleared(spec, d);
        if wanted {
            may_write(spec, d)?;
        }
        if !wanted {
            let action = if clear && !d.contents.is_blank() {
                DiskAction::Clear
            } else {
                DiskAction::Untouched("no partitions requested".into())
            };
            plans.push(DiskPlan {
                disk: (*d).clone(),
                action,
                parts: Vec::new(),
            });
            continue;
        }
        // Order on disk: ESP, /boot, then the answer file's order, swap last.
        let mut rs = placed[i].clone();
        rs.sort_by_key(|r| match r.mountpoint.as_str() {
            "/boot/efi" => 0,
            "/boot" => 1,
            "swap" => 3,
            _ => 2,
        });
        check_fits(d, &rs)?;
        let avail = usable_mib(d);
        let sizes = grow(&rs, avail);
        let mut start = 1;
        let mut parts = Vec::new();
        for (n, (r, size)) in rs.iter().zip(sizes).enumerate() {
            parts.push(PlannedPart {
                number: n as u32 + 1,
                start_mib: start,
                size_mib: size,
                fstype: r.fstype,
                mountpoint: r.mountpoint.clone(),
                label: r.label.clone(),
                type_guid: type_guid(&r.mountpoint, r.fstype).into(),
            });
            start += size;
        }
        plans.push(DiskPlan {
            disk: (*d).clone(),
            action: DiskAction::Partition,
            parts,
        });
    }
    for (d, why) in untouched {
        plans.push(DiskPlan {
            disk: d.clone(),
            action: DiskAction::Untouched(why),
            parts: Vec::new(),
        });
    }
    plans.sort_by(|a, b| a.disk.name.cmp(&b.disk.name));
    let boot_disk = plans
        .iter()
        .find(|p| p.parts.iter().any(|q| q.mountpoint == "/boot/efi"))
        .map(|p| p.disk.name.clone());
    Ok(Plan {
        disks: plans,
        boot_disk: if install_bootloader { boot_disk } else { None },
        install_bootloader,
        append: bl.append.clone(),
        timeout: bl.timeout,
        notes,
    })
}

/// Whether `clearpart` releases `d` (its `--drives` include it and its kind
/// covers what `d` holds; `--linux`: [`Disk::linux_only`]).
fn cleared(spec: &StorageSpec, d: &Disk) -> bool {
    let Some(cp) = &spec.clearpart else {
        return false;
    };
    let on_drive = cp.drives.as_ref().is_none_or(|l| list_matches(l, d));
    on_drive
        && match &cp.which {
            ClearWhich::All => true,
            // A whole new table would drop foreign partitions too; only
            // disks with nothing but Linux data (or nothing) qualify.
            ClearWhich::Linux => d.linux_only(cp.initlabel),
            ClearWhich::None | ClearWhich::List(_) => false,
        }
}

/// A disk that receives partitions must be blank or released by the answer
/// file (`clearpart`, or `zerombr` for unrecognised data).
fn may_write(spec: &StorageSpec, d: &Disk) -> Result<(), PlanError> {
    if d.contents.is_blank()
        || cleared(spec, d)
        || (spec.zerombr && matches!(d.contents, Contents::Unknown))
    {
        return Ok(());
    }
    let why_not_linux = match &spec.clearpart {
        Some(cp) if cp.which == ClearWhich::Linux => {
            let foreign: Vec<String> = d
                .parts
                .iter()
                .filter(|p| !p.is_linux())
                .map(|p| p.describe())
                .collect();
            if !foreign.is_empty() {
                format!(
                    " (`clearpart --linux` keeps its non-Linux {})",
                    foreign.join(", ")
                )
            } else if matches!(d.contents, Contents::PartitionTable(_)) && d.parts.is_empty() {
                " (`clearpart --linux` keeps an empty table without `--initlabel`)".to_owned()
            } else {
                " (`clearpart --linux` releases only Linux filesystems and partitions)".to_owned()
            }
        }
        _ => String::new(),
    };
    err(format!(
        "disk {} ({}) holds a {}{why_not_linux}; refusing to overwrite it. Add `clearpart --all --drives={}` \
         (and `zerombr` for an unrecognised label) to the answer file to allow erasing it",
        d.name,
        d.path.display(),
        d.contents,
        d.name
    ))
}

/// Base MiB Outpost's autopart needs on a disk of `disk_mib`: ESP 500,
/// `/` 2048 (and `/var/mail` 1024 from [`VAR_MAIL_THRESHOLD_MIB`]), swap.
fn autopart_base_mib(disk_mib: u64, ram_mib: u64, noswap: bool) -> u64 {
    let var_mail = if disk_mib >= VAR_MAIL_THRESHOLD_MIB {
        1024
    } else {
        0
    };
    let swap = if noswap {
        0
    } else {
        swap_suggestion(ram_mib, disk_mib)
    };
    500 + 2048 + var_mail + swap
}

/// The disk `autopart` uses when no `bootloader --boot-drive` names one, and
/// a note saying why, for the printed plan.
///
/// Anaconda (blivet's `_getCandidateDisks` and `allocatePartitions`): every
/// disk that is not ignored and not protected is a candidate — limited to
/// `clearpart --drives` when given — once `clearpart` has released it and if
/// it has room; a growable request (`/`) goes to the candidate where it can
/// grow most, the boot disk (disk order) winning ties. Outpost keeps its
/// whole layout on the disk that gets `/`, so: among the usable disks in
/// `clearpart --drives` (all usable disks without it) that are blank or
/// released by `clearpart`/`zerombr` and hold the layout's base sizes, the
/// one with the most space; on a tie the first in disk order. With no such
/// disk, the first usable one, so the refusal names what stands in the way
/// (data to release, or the size).
pub fn autopart_disk<'a>(
    spec: &StorageSpec,
    usable: &[&'a Disk],
    ram_mib: u64,
    noswap: bool,
) -> (&'a Disk, String) {
    let in_drives = |d: &Disk| {
        spec.clearpart
            .as_ref()
            .and_then(|c| c.drives.as_ref())
            .is_none_or(|l| list_matches(l, d))
    };
    let candidates: Vec<&Disk> = usable
        .iter()
        .copied()
        .filter(|d| in_drives(d) && may_write(spec, d).is_ok())
        .filter(|d| usable_mib(d) >= autopart_base_mib(d.size_mib(), ram_mib, noswap))
        .collect();
    let list = |v: &[&Disk]| {
        v.iter()
            .map(|d| format!("{} {} MiB", d.name, d.size_mib()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    // max_by_key keeps the last maximum: compare on (size, reverse order).
    match candidates
        .iter()
        .enumerate()
        .max_by_key(|(i, d)| (d.size_mib(), std::cmp::Reverse(*i)))
    {
        Some((_, d)) => (
            d,
            format!(
                "autopart: {} holds the whole layout, the largest disk autopart may use \
                 (candidates: {}; the first in disk order wins a tie)",
                d.name,
                list(&candidates)
            ),
        ),
        None => (
            usable[0],
            format!(
                "autopart: no usable disk is both free (blank or released by clearpart) and large \
                 enough; trying {}",
                usable[0].name
            ),
        ),
    }
}

/// Refuses when the base sizes of `rs` exceed what `d` can hold.
fn check_fits(d: &Disk, rs: &[&Req]) -> Result<(), PlanError> {
    let avail = usable_mib(d);
    let need: u64 = rs.iter().map(|r| r.base).sum();
    if need > avail {
        return err(format!(
            "disk {} has {} MiB usable but its partitions need {} MiB ({})",
            d.name,
            avail,
            need,
            rs.iter()
                .map(|r| format!("{} {}", r.mountpoint, r.base))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    Ok(())
}

fn part_req(
    p: &PartRequest,
    ram_mib: u64,
    usable: &[&Disk],
    find: &dyn Fn(&str, &str) -> Result<String, PlanError>,
) -> Result<Req, PlanError> {
    let at = format!("line {}: part {}", p.line, p.mountpoint);
    if let Some(opt) = p.unsupported.first() {
        return err(format!(
            "{at}: `{opt}` is not supported by the Outpost installer yet"
        ));
    }
    let mp = p.mountpoint.as_str();
    if ["biosboot", "prepboot", "appleboot"].contains(&mp)
        || mp.starts_with("raid.")
        || mp.starts_with("pv.")
        || mp.starts_with("btrfs.")
    {
        return err(format!(
            "{at}: `{mp}` is not supported (Outpost boots UEFI with plain partitions only)"
        ));
    }
    if mp != "swap" && !mp.starts_with('/') {
        return err(format!(
            "{at}: expected a mount point starting with `/`, or `swap`"
        ));
    }
    let fstype = match p.fstype.as_deref() {
        Some(f) => FsType::parse(f).ok_or_else(|| {
            PlanError(format!(
                "{at}: --fstype={f} is not supported; expected ext4, xfs, efi/vfat or swap"
            ))
        })?,
        None if mp == "swap" => FsType::Swap,
        None if mp == "/boot/efi" => FsType::Vfat,
        None => FsType::Ext4,
    };
    if (mp == "swap") != (fstype == FsType::Swap) {
        return err(format!(
            "{at}: swap partitions are `part swap` (--fstype=swap only there)"
        ));
    }
    let disk = match &p.ondisk {
        Some(o) => Some(find(o, &format!("{at} --ondisk"))?),
        None => None,
    };
    let disk_mib = disk
        .as_ref()
        .and_then(|n| usable.iter().find(|d| &d.name == n))
        .unwrap_or(&usable[0])
        .size_mib();
    let (base, grow, max) = if p.recommended {
        match mp {
            "swap" => (swap_suggestion(ram_mib, disk_mib), false, None),
            "/boot/efi" => (500, true, Some(600)),
            "/boot" => (1024, false, None),
            _ => {
                return err(format!(
                    "{at}: --recommended only applies to swap, /boot and /boot/efi"
                ));
            }
        }
    } else {
        match (p.size, p.grow) {
            (Some(s), g) => (s, g, p.maxsize),
            // blivet's default base size for a growing partition without --size.
            (None, true) => (1, true, p.maxsize),
            (None, false) => return err(format!("{at}: give --size=MiB, --grow or --recommended")),
        }
    };
    if base == 0 {
        return err(format!("{at}: --size must be at least 1 MiB"));
    }
    if let Some(m) = max
        && m < base
    {
        return err(format!("{at}: --maxsize={m} is smaller than --size={base}"));
    }
    if let Some(l) = &p.label {
        // ext4 labels are 16 bytes, XFS 12, FAT 11.
        let limit = match fstype {
            FsType::Ext4 | FsType::Swap => 16,
            FsType::Xfs => 12,
            FsType::Vfat => 11,
        };
        if l.len() > limit {
            return err(format!(
                "{at}: --label={l} is longer than {limit} bytes, the {} limit",
                fstype.as_str()
            ));
        }
    }
    Ok(Req {
        mountpoint: p.mountpoint.clone(),
        fstype,
        base,
        grow,
        max,
        disk,
        label: p.label.clone(),
        what: at,
    })
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Installation plan (sizes in MiB):")?;
        for d in &self.disks {
            let ids = if d.disk.ids.is_empty() {
                String::new()
            } else {
                format!(" [{}]", d.disk.ids.join(", "))
            };
            let what = match &d.action {
                DiskAction::Partition if d.disk.contents.is_blank() => {
                    "write a new GPT (disk is blank)".to_owned()
                }
                DiskAction::Partition => format!("ERASE ({}) and write a new GPT", d.disk.contents),
                DiskAction::Clear => format!(
                    "ERASE ({}) by clearpart, leave an empty GPT",
                    d.disk.contents
                ),
                DiskAction::Untouched(why) => format!("untouched ({why}; {})", d.disk.contents),
            };
            writeln!(
                f,
                "  disk {} {} {} MiB{}: {}",
                d.disk.name,
                d.disk.path.display(),
                d.disk.size_mib(),
                ids,
                what
            )?;
            for p in &d.parts {
                writeln!(
                    f,
                    "    {:>2}  start {:>7}  size {:>7}  {:<5} {:<10}{}",
                    p.number,
                    p.start_mib,
                    p.size_mib,
                    p.fstype.as_str(),
                    p.mountpoint,
                    p.label
                        .as_deref()
                        .map(|l| format!(" label={l}"))
                        .unwrap_or_default()
                )?;
            }
        }
        match &self.boot_disk {
            Some(b) => writeln!(
                f,
                "  bootloader: systemd-boot on the ESP of {b} as \\EFI\\BOOT\\BOOTX64.EFI{}",
                self.append
                    .as_deref()
                    .map(|a| format!(", append \"{a}\""))
                    .unwrap_or_default()
            )?,
            None => writeln!(f, "  bootloader: none (bootloader --location=none)")?,
        }
        for n in &self.notes {
            writeln!(f, "  note: {n}")?;
        }
        Ok(())
    }
}
