//! Disk discovery: what the installer may write to, and what is on it now.
//!
//! The live initramfs has no udev, so `/dev/disk/by-id` does not exist there.
//! [`discover_sysfs`] therefore rebuilds the same stable names udev would give
//! (`virtio-SERIAL`, `ata-MODEL_SERIAL`, `nvme-MODEL_SERIAL`, `wwn-0x…`) from
//! the serial and WWID attributes in `/sys/block`, so an answer file can pin a
//! disk by serial exactly as it would on an installed Debian system.
//! [`from_image_files`] describes plain files as disks, for `--dry-run` on a
//! workstation and for the table tests.
//!
//! [`probe`] looks at the first and last bytes of a disk to tell a blank disk
//! from one that holds a partition table or a filesystem (with its label). It
//! is hand-written (a dozen well-known magic numbers) because libblkid is C
//! and the installer must not depend on a tool to decide whether it may
//! destroy data. [`partitions`] reads a disk's GPT or DOS table (bounded: at
//! most [`MAX_PARTITIONS`] entries) and probes every partition the same way,
//! so the planner sees an `OEMDRV` or install-media filesystem at any level,
//! and knows which partitions are Linux ones for `clearpart --linux`.

use serde::Serialize;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// One MiB, the unit of every size in a plan.
pub const MIB: u64 = 1024 * 1024;

/// A whole disk the installer could write to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Disk {
    /// Kernel name (`vda`, `sda`, `nvme0n1`) or, for an image file, its file name.
    pub name: String,
    /// The block device or image file to open.
    pub path: PathBuf,
    /// Size in bytes.
    pub size: u64,
    /// Stable names as udev would create them under `/dev/disk/by-id`.
    pub ids: Vec<String>,
    /// Whether the kernel reports the disk as removable (USB sticks, card readers).
    pub removable: bool,
    /// What the disk holds now.
    pub contents: Contents,
    /// Its partitions, when [`Contents::PartitionTable`] (empty otherwise).
    pub parts: Vec<Partition>,
    /// Set by the live installer when the install media or the answer file
    /// was read from this disk (or one of its partitions): why it is in use.
    pub in_use: Option<String>,
}

/// An existing partition, as read from the disk's table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Partition {
    /// Partition number (1-based; DOS logical partitions from 5).
    pub number: u32,
    /// Kernel name (`sda1`, `nvme0n1p2`; `disk.img1` for an image file).
    pub name: String,
    /// Start in bytes from the beginning of the disk.
    pub start: u64,
    /// Size in bytes.
    pub size: u64,
    /// Partition type: a GPT type GUID (upper case) or a DOS type (`0x83`).
    pub type_id: String,
    /// What it holds.
    pub contents: Contents,
}

/// At most this many partitions are read from one table (a GPT has 128
/// slots; a DOS extended chain is followed this far).
pub const MAX_PARTITIONS: usize = 256;

/// Filesystem and member types blivet marks `linux_native` (cleared by
/// `clearpart --linux`), by the names [`probe`] gives them.
const LINUX_NATIVE: &[&str] = &[
    "ext4",
    "xfs",
    "btrfs",
    "swap",
    "LVM2_member",
    "crypto_LUKS",
    "linux_raid_member",
];

/// GPT type GUIDs and DOS types of Linux partitions: Linux data, swap, LVM,
/// RAID, LUKS, `/home`, `/srv`, `/var`, `/var/tmp`, XBOOTLDR and the root and
/// `/usr` types of x86-64, x86, arm64 and arm (the Discoverable Partitions
/// Specification); DOS 0x83 Linux, 0x82 swap, 0x8e LVM, 0xfd RAID.
const LINUX_TYPES: &[&str] = &[
    "0FC63DAF-8483-4772-8E79-3D69D8477DE4",
    "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F",
    "E6D6D379-F507-44C2-A23C-238F2A3DF928",
    "A19D880F-05FC-4D3B-A006-743F0F84911E",
    "CA7D7CCB-63ED-4C53-861C-1742536059CC",
    "933AC7E1-2EB4-4F13-B844-0E14E2AEF915",
    "3B8F8425-20E0-4F3B-907F-1A25A76F98E8",
    "4D21B016-B534-45C2-A9FB-5C16E091FD2D",
    "7EC6F557-3BC5-4ACA-B293-16EF5DF639D1",
    "BC13C2FF-59E6-4262-A352-B275FD6F7172",
    "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709",
    "44479540-F297-41B2-9AF7-D131D5F0458A",
    "B921B045-1DF0-41C3-AF44-4C6F280D3FAE",
    "69DAD710-2CE4-4E3C-B16C-21A1D49ABED3",
    "8484680C-9521-48C6-9C11-B0720656F69E",
    "75250D76-8CC6-458E-BD66-BD47CC81A812",
    "B0E01050-EE5F-4390-949A-9101B17104E9",
    "0x83",
    "0x82",
    "0x8e",
    "0xfd",
];

impl Partition {
    /// Whether `clearpart --linux` may remove it: it holds a Linux-native
    /// filesystem or member (blivet's `linux_native`), or it has a Linux
    /// partition type and holds nothing the probe recognises as foreign.
    pub fn is_linux(&self) -> bool {
        match &self.contents {
            Contents::Filesystem(_) => self.contents.is_linux_native(),
            Contents::Blank | Contents::Unknown => LINUX_TYPES
                .iter()
                .any(|t| t.eq_ignore_ascii_case(&self.type_id)),
            Contents::PartitionTable(_) => false,
        }
    }

    /// `partition 1 (sda1, vfat OEMDRV)`, for messages.
    pub fn describe(&self) -> String {
        format!(
            "partition {} ({}, {})",
            self.number, self.name, self.contents
        )
    }
}

/// What a disk holds before the install, as far as [`probe`] can tell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "detail", rename_all = "kebab-case")]
pub enum Contents {
    /// The first and last MiB are all zeros.
    Blank,
    /// A partition table (`gpt` or `dos`).
    PartitionTable(String),
    /// A filesystem or other signature directly on the disk (`ext4`, `iso9660 OUTPOST`, …).
    Filesystem(String),
    /// Non-zero bytes without a signature the installer knows.
    Unknown,
}

impl Contents {
    /// Whether anything at all is on the disk.
    pub fn is_blank(&self) -> bool {
        matches!(self, Contents::Blank)
    }

    /// For a filesystem, its type and label (`("vfat", "OEMDRV")`; the label
    /// is empty when there is none).
    pub fn fs_label(&self) -> Option<(&str, &str)> {
        match self {
            Contents::Filesystem(s) => Some(s.split_once(' ').unwrap_or((s.as_str(), ""))),
            _ => None,
        }
    }

    /// A Linux-native filesystem or member, as blivet counts them for
    /// `clearpart --linux` (ext2/3/4, XFS, btrfs, swap, LVM PV, LUKS, MD RAID).
    pub fn is_linux_native(&self) -> bool {
        self.fs_label()
            .is_some_and(|(t, _)| LINUX_NATIVE.contains(&t))
    }

    /// The install media (ISO 9660 labelled `OUTPOST`) or an `OEMDRV`
    /// answer-file filesystem (any type): what it is, if either.
    pub fn source_kind(&self) -> Option<String> {
        match self.fs_label()? {
            ("iso9660", "OUTPOST") => Some("the install media (iso9660 OUTPOST)".into()),
            (t, "OEMDRV") => Some(format!("the answer file ({t} OEMDRV)")),
            _ => None,
        }
    }
}

impl std::fmt::Display for Contents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Contents::Blank => f.write_str("blank"),
            Contents::PartitionTable(t) => write!(f, "{t} partition table"),
            Contents::Filesystem(t) => write!(f, "{t} filesystem"),
            Contents::Unknown => f.write_str("unrecognised data"),
        }
    }
}

impl Disk {
    /// Size in whole MiB.
    pub fn size_mib(&self) -> u64 {
        self.size / MIB
    }

    /// Whether `spec` names this disk: `vda`, `/dev/vda`, a by-id name with or
    /// without `/dev/disk/by-id/` (or `disk/by-id/`), or a shell-style glob
    /// (`sd*`, `virtio-OUTPOST?`) as Anaconda accepts in `ignoredisk`/`clearpart`.
    pub fn matches(&self, spec: &str) -> bool {
        let spec = spec.trim();
        let bare = spec
            .strip_prefix("/dev/disk/by-id/")
            .or_else(|| spec.strip_prefix("disk/by-id/"))
            .or_else(|| spec.strip_prefix("/dev/"))
            .unwrap_or(spec);
        if glob(bare, &self.name) || self.ids.iter().any(|id| glob(bare, id)) {
            return true;
        }
        // An image file may be named by its path.
        Path::new(spec) == self.path
    }

    /// Why this disk must never be written or cleared, if it must not: the
    /// live installer read the media or the answer file from it
    /// ([`Disk::in_use`]), or it holds the install media (ISO 9660 labelled
    /// `OUTPOST`) or an `OEMDRV` filesystem, on the whole disk or on any
    /// partition. Anaconda likewise protects every disk holding an
    /// installation source or the kickstart device.
    pub fn exclusion(&self) -> Option<String> {
        if let Some(why) = &self.in_use {
            return Some(why.clone());
        }
        if let Some(kind) = self.contents.source_kind() {
            return Some(format!("holds {kind}"));
        }
        self.parts.iter().find_map(|p| {
            let kind = p.contents.source_kind()?;
            Some(format!(
                "holds {kind} on partition {} ({})",
                p.number, p.name
            ))
        })
    }

    /// Whether this disk holds the install media or an answer file (see
    /// [`Disk::exclusion`]): never an install target.
    pub fn is_install_media(&self) -> bool {
        self.exclusion().is_some()
    }

    /// Whether `clearpart --linux` releases the whole disk: it is blank, holds
    /// a Linux-native filesystem directly, or has a partition table whose
    /// partitions are all Linux ones ([`Partition::is_linux`]); an empty table
    /// only with `--initlabel`. Outpost writes a whole new table, so a disk
    /// with any foreign partition is not released.
    pub fn linux_only(&self, initlabel: bool) -> bool {
        match &self.contents {
            Contents::Blank => true,
            Contents::Filesystem(_) => self.contents.is_linux_native(),
            Contents::Unknown => false,
            Contents::PartitionTable(_) if self.parts.is_empty() => initlabel,
            Contents::PartitionTable(_) => self.parts.iter().all(Partition::is_linux),
        }
    }
}

/// Minimal shell glob: `*` any run, `?` one character; everything else literal.
pub fn glob(pattern: &str, text: &str) -> bool {
    fn rec(p: &[char], t: &[char]) -> bool {
        match p.split_first() {
            None => t.is_empty(),
            Some(('*', rest)) => (0..=t.len()).any(|i| rec(rest, &t[i..])),
            Some(('?', rest)) => !t.is_empty() && rec(rest, &t[1..]),
            Some((c, rest)) => t.first() == Some(c) && rec(rest, &t[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    rec(&p, &t)
}

/// Reads `len` bytes at `offset`, or fewer at the end of the disk.
fn read_at(f: &mut File, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
    f.seek(SeekFrom::Start(offset))?;
    let mut buf = Vec::with_capacity(len);
    f.take(len as u64).read_to_end(&mut buf)?;
    Ok(buf)
}

/// Tells what a disk of `size` bytes at `path` holds (see [`Contents`]).
pub fn probe(path: &Path, size: u64) -> std::io::Result<Contents> {
    let mut f = File::open(path)?;
    probe_region(&mut f, 0, size)
}

/// Reads a label of `len` bytes at `off` in `head`: trailing spaces and NULs dropped.
fn label_in(head: &[u8], off: usize, len: usize) -> String {
    head.get(off..off + len)
        .map(|b| {
            let b = b.split(|c| *c == 0).next().unwrap_or_default();
            String::from_utf8_lossy(b).trim_end_matches(' ').to_owned()
        })
        .unwrap_or_default()
}

/// `TYPE LABEL`, or `TYPE` when the label is empty.
fn fs(t: &str, label: String) -> Contents {
    if label.is_empty() {
        Contents::Filesystem(t.into())
    } else {
        Contents::Filesystem(format!("{t} {label}"))
    }
}

/// Tells what the `size` bytes at `offset` in `f` hold (a disk or a partition).
pub fn probe_region(f: &mut File, offset: u64, size: u64) -> std::io::Result<Contents> {
    let head = read_at(f, offset, (MIB.min(size)) as usize)?;
    let at = |off: usize, magic: &[u8]| head.get(off..off + magic.len()) == Some(magic);
    // ISO 9660 primary volume descriptor at sector 16 (ECMA-119 §8.4); a hybrid
    // ISO also carries a partition table, but it is the install media first.
    if at(32769, b"CD001") {
        return Ok(fs("iso9660", label_in(&head, 32808, 32)));
    }
    // GPT header at LBA 1 (UEFI 2.10 §5.3.2), assuming 512-byte sectors, or at 4096.
    if at(512, b"EFI PART") || at(4096, b"EFI PART") {
        return Ok(Contents::PartitionTable("gpt".into()));
    }
    // ext2/3/4 superblock at 1024: magic at +56, s_volume_name (16 bytes) at +120.
    if at(0x438, &[0x53, 0xEF]) {
        return Ok(fs("ext4", label_in(&head, 0x478, 16)));
    }
    // XFS superblock: sb_fname (12 bytes) at 108.
    if at(0, b"XFSB") {
        return Ok(fs("xfs", label_in(&head, 108, 12)));
    }
    // btrfs superblock at 64 KiB: magic at +64, label (256 bytes) at +299.
    if at(0x10040, b"_BHRfS_M") {
        return Ok(fs("btrfs", label_in(&head, 0x1012b, 256)));
    }
    if at(4086, b"SWAPSPACE2") {
        return Ok(fs("swap", label_in(&head, 1024 + 28, 16)));
    }
    if at(0, b"LUKS\xba\xbe") {
        return Ok(Contents::Filesystem("crypto_LUKS".into()));
    }
    if at(512, b"LABELONE") || at(536, b"LVM2 001") {
        return Ok(Contents::Filesystem("LVM2_member".into()));
    }
    // MD RAID superblock 1.1 (at 0) or 1.2 (at 4 KiB), magic a92b4efc little-endian.
    if at(0, &[0xfc, 0x4e, 0x2b, 0xa9]) || at(4096, &[0xfc, 0x4e, 0x2b, 0xa9]) {
        return Ok(Contents::Filesystem("linux_raid_member".into()));
    }
    // NTFS and exFAT boot sectors carry 55 AA too: before the DOS check.
    if at(3, b"NTFS    ") {
        return Ok(Contents::Filesystem("ntfs".into()));
    }
    if at(3, b"EXFAT   ") {
        return Ok(Contents::Filesystem("exfat".into()));
    }
    if at(82, b"FAT32   ") {
        return Ok(fs("vfat", label_in(&head, 71, 11)));
    }
    if at(54, b"FAT12   ") || at(54, b"FAT16   ") {
        return Ok(fs("vfat", label_in(&head, 43, 11)));
    }
    // An MBR boot signature with at least one non-empty partition entry.
    if at(510, &[0x55, 0xAA]) && (0..4).any(|i| head.get(446 + 16 * i + 4).is_some_and(|t| *t != 0))
    {
        return Ok(Contents::PartitionTable("dos".into()));
    }
    if head.iter().any(|b| *b != 0) {
        return Ok(Contents::Unknown);
    }
    // A lone backup GPT at the end still means a partition table was there.
    if size > 2 * MIB {
        let tail = read_at(f, offset + size - MIB, MIB as usize)?;
        if tail.iter().any(|b| *b != 0) {
            return Ok(Contents::Unknown);
        }
    }
    Ok(Contents::Blank)
}

/// A GPT GUID in its textual form (upper case) from the on-disk bytes (the
/// first three fields little-endian).
fn guid_text(b: &[u8]) -> String {
    let h = |r: std::ops::Range<usize>, rev: bool| {
        let mut v: Vec<u8> = b[r].to_vec();
        if rev {
            v.reverse();
        }
        v.iter().map(|x| format!("{x:02X}")).collect::<String>()
    };
    format!(
        "{}-{}-{}-{}-{}",
        h(0..4, true),
        h(4..6, true),
        h(6..8, true),
        h(8..10, false),
        h(10..16, false)
    )
}

fn u32_at(b: &[u8], off: usize) -> u64 {
    b.get(off..off + 4)
        .map_or(0, |x| u32::from_le_bytes([x[0], x[1], x[2], x[3]]) as u64)
}

fn u64_at(b: &[u8], off: usize) -> u64 {
    b.get(off..off + 8).map_or(0, |x| {
        let mut a = [0u8; 8];
        a.copy_from_slice(x);
        u64::from_le_bytes(a)
    })
}

/// `sda` + 1 → `sda1`; `nvme0n1` + 1 → `nvme0n1p1` (the kernel's rule).
pub fn part_name(disk: &str, n: u32) -> String {
    if disk.ends_with(|c: char| c.is_ascii_digit()) {
        format!("{disk}p{n}")
    } else {
        format!("{disk}{n}")
    }
}

/// The entries of the partition table on the disk `f` of `size` bytes
/// (named after `disk`), each probed: GPT (512- or 4096-byte sectors) or DOS
/// with its extended chain. Entries outside the disk are skipped; at most
/// [`MAX_PARTITIONS`] are read. No table, no partitions.
pub fn partitions(f: &mut File, disk: &str, size: u64) -> std::io::Result<Vec<Partition>> {
    let mut raw: Vec<(u32, u64, u64, String)> = Vec::new();
    let head = read_at(f, 0, 8192)?;
    let gpt_sector = [512u64, 4096]
        .into_iter()
        .find(|ss| head.get(*ss as usize..*ss as usize + 8) == Some(b"EFI PART"));
    if let Some(ss) = gpt_sector {
        let h = &head[ss as usize..];
        let entries_lba = u64_at(h, 72);
        let count = (u32_at(h, 80) as usize).min(MAX_PARTITIONS);
        let esize = u32_at(h, 84);
        if (128..=4096).contains(&esize) && esize.is_multiple_of(8) {
            let table = read_at(f, entries_lba.saturating_mul(ss), count * esize as usize)?;
            for i in 0..count {
                let Some(e) = table.get(i * esize as usize..i * esize as usize + 128) else {
                    break;
                };
                if e[..16].iter().all(|b| *b == 0) {
                    continue;
                }
                let (first, last) = (u64_at(e, 32), u64_at(e, 40));
                if last < first {
                    continue;
                }
                raw.push((
                    i as u32 + 1,
                    first.saturating_mul(ss),
                    (last - first + 1).saturating_mul(ss),
                    guid_text(&e[..16]),
                ));
            }
        }
    } else if head.get(510..512) == Some(&[0x55, 0xAA]) {
        let entry = |sector: &[u8], i: usize| {
            let e = &sector[446 + 16 * i..462 + 16 * i];
            (e[4], u32_at(e, 8), u32_at(e, 12))
        };
        let mut ext = None;
        for i in 0..4 {
            let (t, start, len) = entry(&head, i);
            if t == 0 || len == 0 {
                continue;
            }
            if [0x05, 0x0f, 0x85].contains(&t) {
                ext = Some(start);
                continue;
            }
            raw.push((i as u32 + 1, start * 512, len * 512, format!("0x{t:02x}")));
        }
        // Logical partitions: a chain of EBRs, each relative to the extended
        // partition's start (the link) or to itself (the partition).
        if let Some(ext_start) = ext {
            let mut ebr = ext_start;
            let mut n = 5;
            let mut seen = std::collections::BTreeSet::new();
            while raw.len() < MAX_PARTITIONS && seen.insert(ebr) && ebr * 512 < size {
                let sector = read_at(f, ebr * 512, 512)?;
                if sector.len() < 512 || sector[510..512] != [0x55, 0xAA] {
                    break;
                }
                let (t, start, len) = entry(&sector, 0);
                if t != 0 && len != 0 {
                    raw.push((n, (ebr + start) * 512, len * 512, format!("0x{t:02x}")));
                    n += 1;
                }
                let (t2, next, _) = entry(&sector, 1);
                if t2 == 0 || next == 0 {
                    break;
                }
                ebr = ext_start + next;
            }
        }
    }
    raw.truncate(MAX_PARTITIONS);
    let mut out = Vec::new();
    for (number, start, len, type_id) in raw {
        if start >= size || len == 0 {
            continue;
        }
        let len = len.min(size - start);
        out.push(Partition {
            number,
            name: part_name(disk, number),
            start,
            size: len,
            type_id,
            contents: probe_region(f, start, len)?,
        });
    }
    Ok(out)
}

/// Probes the whole disk and, when it holds a partition table, its partitions.
fn probe_disk(path: &Path, name: &str, size: u64) -> std::io::Result<(Contents, Vec<Partition>)> {
    let mut f = File::open(path)?;
    let contents = probe_region(&mut f, 0, size)?;
    let parts = if matches!(contents, Contents::PartitionTable(_)) {
        partitions(&mut f, name, size)?
    } else {
        Vec::new()
    };
    Ok((contents, parts))
}

/// Describes plain files (disk images) as disks, for `--dry-run` and tests.
pub fn from_image_files(paths: &[PathBuf]) -> std::io::Result<Vec<Disk>> {
    paths
        .iter()
        .map(|p| {
            // Seeking to the end sizes block devices too (their metadata length is 0).
            let size = File::open(p)?.seek(SeekFrom::End(0))?;
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| p.display().to_string());
            let (contents, parts) = probe_disk(p, &name, size)?;
            Ok(Disk {
                contents,
                parts,
                name,
                path: p.clone(),
                size,
                ids: Vec::new(),
                removable: false,
                in_use: None,
            })
        })
        .collect()
}

fn read_trim(path: &Path) -> Option<String> {
    let s = std::fs::read_to_string(path).ok()?;
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

/// udev replaces whitespace and unsafe characters in by-id names with `_`.
fn udev_safe(s: &str) -> String {
    s.trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "#+-.:=@_".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The by-id names udev's `60-persistent-storage.rules` would give this disk.
fn by_id_names(sys: &Path, name: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let serial = read_trim(&sys.join("serial")).or_else(|| read_trim(&sys.join("device/serial")));
    let model = read_trim(&sys.join("device/model"));
    if let Some(serial) = &serial {
        if name.starts_with("vd") {
            ids.push(format!("virtio-{}", udev_safe(serial)));
        } else if name.starts_with("nvme") {
            let m = model.as_deref().map(udev_safe).unwrap_or_default();
            ids.push(format!("nvme-{m}_{}", udev_safe(serial)));
        } else {
            let m = model.as_deref().map(udev_safe).unwrap_or_default();
            ids.push(format!("ata-{m}_{}", udev_safe(serial)));
        }
    }
    let wwid = read_trim(&sys.join("wwid")).or_else(|| read_trim(&sys.join("device/wwid")));
    if let Some(w) = wwid {
        // `naa.5000c500…` → `wwn-0x5000c500…` (udev's ID_WWN form).
        let w = w
            .strip_prefix("naa.")
            .map(|h| format!("0x{h}"))
            .unwrap_or(w);
        ids.push(format!("wwn-{}", udev_safe(&w)));
    }
    ids
}

/// The partitions of `name` the kernel lists under `sys` (its
/// `/sys/block/NAME` directory): number, name, start and size in bytes.
fn sysfs_partitions(sys: &Path, name: &str) -> Vec<(u32, String, u64, u64)> {
    let Ok(rd) = std::fs::read_dir(sys) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in rd.flatten() {
        let pname = e.file_name().to_string_lossy().into_owned();
        if !pname.starts_with(name) {
            continue;
        }
        let d = e.path();
        let num = |f: &str| read_trim(&d.join(f)).and_then(|s| s.parse::<u64>().ok());
        if let (Some(n), Some(start), Some(len)) = (num("partition"), num("start"), num("size")) {
            out.push((n as u32, pname, start * 512, len * 512));
        }
    }
    out
}

/// The whole disk a block device belongs to: `sda1` → `sda`, `sda` → `sda`,
/// from `/sys/class/block` (a partition's sysfs directory sits inside its
/// disk's). A loop device is followed to the disk holding its backing file
/// when that file is on a mounted block device.
pub fn whole_disk_of(dev: &Path) -> Option<String> {
    let name = dev.file_name()?.to_string_lossy().into_owned();
    let class = Path::new("/sys/class/block").join(&name);
    let real = std::fs::canonicalize(&class).ok()?;
    if name.starts_with("loop") {
        let backing = read_trim(&real.join("loop/backing_file"))?;
        let src = mount_source(Path::new(&backing))?;
        return whole_disk_of(&src);
    }
    if real.join("partition").exists() {
        return Some(real.parent()?.file_name()?.to_string_lossy().into_owned());
    }
    Some(name)
}

/// The block device holding the filesystem `path` is on, from
/// `/proc/self/mounts` (the longest mount point that contains it).
pub fn mount_source(path: &Path) -> Option<PathBuf> {
    let mounts = std::fs::read_to_string("/proc/self/mounts").ok()?;
    let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    mounts
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let (src, at) = (w.next()?, w.next()?);
            // Mount points escape spaces as \040.
            let at = PathBuf::from(at.replace("\\040", " "));
            (src.starts_with("/dev/") && path.starts_with(&at)).then(|| (at, PathBuf::from(src)))
        })
        .max_by_key(|(at, _)| at.as_os_str().len())
        .map(|(_, src)| src)
}

/// Records on `disks` that the live system read `what` from the block
/// device `dev` (a disk or a partition): that disk is then excluded.
pub fn mark_in_use(disks: &mut [Disk], dev: &Path, what: &str) {
    let Some(disk) = whole_disk_of(dev) else {
        return;
    };
    if let Some(d) = disks.iter_mut().find(|d| d.name == disk)
        && d.in_use.is_none()
    {
        d.in_use = Some(format!("{what} was read from {}", dev.display()));
    }
}

/// Lists the whole disks under `sys_block` (normally `/sys/block`), with their
/// device nodes under `dev` (normally `/dev`). Loop, RAM, zram, optical and
/// device-mapper devices are skipped: Outpost installs onto real disks only.
pub fn discover_sysfs(sys_block: &Path, dev: &Path) -> std::io::Result<Vec<Disk>> {
    let mut disks = Vec::new();
    let mut names: Vec<String> = std::fs::read_dir(sys_block)?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for name in names {
        if ["loop", "ram", "zram", "sr", "dm-", "md", "fd", "nbd"]
            .iter()
            .any(|p| name.starts_with(p))
        {
            continue;
        }
        let sys = sys_block.join(&name);
        let sectors: u64 = read_trim(&sys.join("size"))
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        if sectors == 0 {
            continue;
        }
        // /sys/block/*/size counts 512-byte units whatever the logical sector size.
        let size = sectors * 512;
        let path = dev.join(&name);
        let (contents, mut parts) =
            probe_disk(&path, &name, size).unwrap_or((Contents::Unknown, Vec::new()));
        // Partitions the kernel found that the table reader did not (an odd
        // table, a hybrid image): probed where the kernel says they are.
        for (number, pname, start, len) in sysfs_partitions(&sys, &name) {
            if parts.iter().any(|p| p.number == number) || parts.len() >= MAX_PARTITIONS {
                continue;
            }
            let contents = File::open(&path)
                .and_then(|mut f| probe_region(&mut f, start, len))
                .unwrap_or(Contents::Unknown);
            parts.push(Partition {
                number,
                name: pname,
                start,
                size: len,
                type_id: "?".into(),
                contents,
            });
        }
        parts.sort_by_key(|p| p.number);
        disks.push(Disk {
            ids: by_id_names(&sys, &name),
            removable: read_trim(&sys.join("removable")).as_deref() == Some("1"),
            name,
            path,
            size,
            contents,
            parts,
            in_use: None,
        });
    }
    Ok(disks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_matches_like_anaconda() {
        for (p, t, want) in [
            ("sd*", "sda", true),
            ("sd*", "vda", false),
            ("vd?", "vdb", true),
            ("vd?", "vdb1", false),
            ("*", "", true),
            ("virtio-OUT*", "virtio-OUTPOST1", true),
        ] {
            assert_eq!(glob(p, t), want, "{p} vs {t}");
        }
    }

    #[test]
    fn disk_matches_names_ids_and_paths() {
        let d = Disk {
            name: "vda".into(),
            path: "/dev/vda".into(),
            size: 8 << 30,
            ids: vec!["virtio-SER1".into(), "wwn-0x5000".into()],
            removable: false,
            contents: Contents::Blank,
            parts: Vec::new(),
            in_use: None,
        };
        for s in [
            "vda",
            "/dev/vda",
            "virtio-SER1",
            "/dev/disk/by-id/wwn-0x5000",
            "disk/by-id/virtio-SER1",
            "v*",
        ] {
            assert!(d.matches(s), "{s}");
        }
        for s in ["vdb", "sda", "virtio-SER2"] {
            assert!(!d.matches(s), "{s}");
        }
    }

    #[test]
    fn sysfs_names_follow_udev() {
        let dir = std::env::temp_dir().join(format!("outpost-sysfs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let sys = dir.join("sys");
        let dev = dir.join("dev");
        std::fs::create_dir_all(sys.join("vda")).unwrap();
        std::fs::create_dir_all(sys.join("sda/device")).unwrap();
        std::fs::create_dir_all(sys.join("loop0")).unwrap();
        std::fs::create_dir_all(&dev).unwrap();
        std::fs::write(sys.join("vda/size"), "16777216\n").unwrap();
        std::fs::write(sys.join("vda/serial"), "OUTPOST1\n").unwrap();
        std::fs::write(sys.join("sda/size"), "2048\n").unwrap();
        std::fs::write(sys.join("sda/removable"), "1\n").unwrap();
        std::fs::write(sys.join("sda/device/model"), "Flash Disk \n").unwrap();
        std::fs::write(sys.join("sda/device/serial"), "0042\n").unwrap();
        std::fs::write(sys.join("sda/device/wwid"), "naa.5000c5\n").unwrap();
        std::fs::write(sys.join("loop0/size"), "2048\n").unwrap();
        let disks = discover_sysfs(&sys, &dev).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(disks.len(), 2);
        assert_eq!(disks[0].name, "sda");
        assert_eq!(disks[0].ids, ["ata-Flash_Disk_0042", "wwn-0x5000c5"]);
        assert!(disks[0].removable);
        assert_eq!(disks[1].name, "vda");
        assert_eq!(disks[1].ids, ["virtio-OUTPOST1"]);
        assert_eq!(disks[1].size_mib(), 8192);
    }
}
