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
//! from one that holds a partition table or a filesystem. It is hand-written
//! (a dozen well-known magic numbers) because libblkid is C and the installer
//! must not depend on a tool to decide whether it may destroy data.

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

    /// Whether this disk is the install media (an iso9660 labelled OUTPOST) or an
    /// OEMDRV answer-file stick: never an install target.
    pub fn is_install_media(&self) -> bool {
        matches!(&self.contents, Contents::Filesystem(f)
            if f == "iso9660 OUTPOST" || f.starts_with("vfat OEMDRV"))
            || matches!(&self.contents, Contents::PartitionTable(t) if t.contains("OUTPOST"))
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
    let head = read_at(&mut f, 0, MIB as usize)?;
    let at = |off: usize, magic: &[u8]| head.get(off..off + magic.len()) == Some(magic);
    let label_at = |off: usize, len: usize| {
        head.get(off..off + len)
            .map(|b| {
                String::from_utf8_lossy(b)
                    .trim_end_matches([' ', '\0'])
                    .to_owned()
            })
            .unwrap_or_default()
    };
    // ISO 9660 primary volume descriptor at sector 16 (ECMA-119 §8.4); a hybrid
    // ISO also carries a partition table, but it is the install media first.
    if at(32769, b"CD001") {
        return Ok(Contents::Filesystem(format!(
            "iso9660 {}",
            label_at(32808, 32)
        )));
    }
    // GPT header at LBA 1 (UEFI 2.10 §5.3.2), assuming 512-byte sectors, or at 4096.
    if at(512, b"EFI PART") || at(4096, b"EFI PART") {
        return Ok(Contents::PartitionTable("gpt".into()));
    }
    if at(0x438, &[0x53, 0xEF]) {
        return Ok(Contents::Filesystem("ext4".into()));
    }
    if at(0, b"XFSB") {
        return Ok(Contents::Filesystem("xfs".into()));
    }
    if at(4086, b"SWAPSPACE2") {
        return Ok(Contents::Filesystem("swap".into()));
    }
    if at(0, b"LUKS\xba\xbe") {
        return Ok(Contents::Filesystem("crypto_LUKS".into()));
    }
    if at(512, b"LABELONE") || at(536, b"LVM2 001") {
        return Ok(Contents::Filesystem("LVM2_member".into()));
    }
    if at(82, b"FAT32   ") {
        return Ok(Contents::Filesystem(format!("vfat {}", label_at(71, 11))));
    }
    if at(54, b"FAT12   ") || at(54, b"FAT16   ") {
        return Ok(Contents::Filesystem(format!("vfat {}", label_at(43, 11))));
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
        let tail = read_at(&mut f, size - MIB, MIB as usize)?;
        if tail.iter().any(|b| *b != 0) {
            return Ok(Contents::Unknown);
        }
    }
    Ok(Contents::Blank)
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
            Ok(Disk {
                contents: probe(p, size)?,
                name,
                path: p.clone(),
                size,
                ids: Vec::new(),
                removable: false,
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
        let contents = probe(&path, size).unwrap_or(Contents::Unknown);
        disks.push(Disk {
            ids: by_id_names(&sys, &name),
            removable: read_trim(&sys.join("removable")).as_deref() == Some("1"),
            name,
            path,
            size,
            contents,
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
