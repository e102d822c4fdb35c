//! The storage part of an answer file, as the planner needs it.
//!
//! These types are the installer's own narrow view of the kickstart storage
//! commands (`ignoredisk`, `clearpart`, `zerombr`, `reqpart`, `autopart`,
//! `part`, `bootloader`). [`crate::from_ks`] fills them from the typed model
//! of the `kickstart` crate; tests build them directly. Keeping the planner
//! independent of the parser keeps its table tests short and lets it be
//! checked without any answer file at all.

use serde::Serialize;

/// A filesystem the installer can create.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FsType {
    /// ext4 (`mkfs.ext4`), the default as on Debian.
    Ext4,
    /// XFS (`mkfs.xfs`), Anaconda's default on RHEL.
    Xfs,
    /// FAT32 (`mkfs.vfat -F 32`), for the EFI system partition.
    Vfat,
    /// Linux swap (`mkswap`).
    Swap,
}

impl FsType {
    /// Parses `--fstype` values; `efi` is Anaconda's name for the ESP's FAT.
    pub fn parse(s: &str) -> Option<FsType> {
        match s.to_ascii_lowercase().as_str() {
            "ext4" => Some(FsType::Ext4),
            "xfs" => Some(FsType::Xfs),
            "vfat" | "efi" | "fat32" => Some(FsType::Vfat),
            "swap" => Some(FsType::Swap),
            _ => None,
        }
    }

    /// The name used in fstab and plans.
    pub fn as_str(self) -> &'static str {
        match self {
            FsType::Ext4 => "ext4",
            FsType::Xfs => "xfs",
            FsType::Vfat => "vfat",
            FsType::Swap => "swap",
        }
    }
}

/// `ignoredisk`: which disks the installer may not look at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum IgnoreDisk {
    /// `--drives=a,b`: ignore these.
    Drives(Vec<String>),
    /// `--only-use=a,b`: ignore every other disk.
    OnlyUse(Vec<String>),
}

/// Which existing partitions `clearpart` removes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum ClearWhich {
    /// `--all`.
    All,
    /// `--linux`: only Linux partitions. Outpost always writes a whole new
    /// table, so this is honoured only on disks without foreign partitions.
    Linux,
    /// `--none` (the default).
    None,
    /// `--list=sda1,sdb2`: particular partitions (not supported: refused).
    List(Vec<String>),
}

/// `clearpart`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClearPart {
    /// What to remove.
    pub which: ClearWhich,
    /// `--drives=`: limit to these disks (all usable disks when absent).
    pub drives: Option<Vec<String>>,
    /// `--initlabel`: write a fresh disk label even on disks with an unknown one.
    pub initlabel: bool,
    /// `--disklabel=`: only `gpt` is supported.
    pub disklabel: Option<String>,
}

/// `autopart`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AutoPart {
    /// `--type=`: only `plain` is supported (Anaconda's default is `lvm`; the
    /// installer says so rather than silently using plain partitions).
    pub kind: Option<String>,
    /// `--fstype=` for `/` and `/var/mail`.
    pub fstype: Option<String>,
    /// `--noswap`.
    pub noswap: bool,
    /// `--nohome`: Outpost's autopart has no `/home`; accepted, no effect.
    pub nohome: bool,
    /// `--noboot`: Outpost's autopart has no separate `/boot`; accepted, no effect.
    pub noboot: bool,
    /// `--encrypted`: refused (LUKS not supported yet).
    pub encrypted: bool,
}

/// One `part` line.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PartRequest {
    /// Mount point, `swap`, or a special name (`biosboot`, …).
    pub mountpoint: String,
    /// `--size=` in MiB.
    pub size: Option<u64>,
    /// `--grow`.
    pub grow: bool,
    /// `--maxsize=` in MiB.
    pub maxsize: Option<u64>,
    /// `--ondisk=`/`--ondrive=`.
    pub ondisk: Option<String>,
    /// `--fstype=`.
    pub fstype: Option<String>,
    /// `--label=`.
    pub label: Option<String>,
    /// `--recommended`.
    pub recommended: bool,
    /// Options the installer cannot honour (`--encrypted`, `--onpart`,
    /// `--noformat`, `--usepart`, …), refused at plan time.
    pub unsupported: Vec<String>,
    /// Line in the answer file, for messages.
    pub line: usize,
}

/// `bootloader`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Bootloader {
    /// `--location=`: `mbr`/`partition` (UEFI ignores the difference) or `none`.
    pub location: Option<String>,
    /// `--append=`: extra kernel command line.
    pub append: Option<String>,
    /// `--boot-drive=`: the disk that gets the ESP.
    pub boot_drive: Option<String>,
    /// `--timeout=` in seconds.
    pub timeout: Option<u32>,
}

/// Everything the planner reads from the answer file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StorageSpec {
    /// `ignoredisk`.
    pub ignoredisk: Option<IgnoreDisk>,
    /// `clearpart`.
    pub clearpart: Option<ClearPart>,
    /// `zerombr`.
    pub zerombr: bool,
    /// `reqpart` (`Some(true)` with `--add-boot`).
    pub reqpart: Option<bool>,
    /// `autopart`.
    pub autopart: Option<AutoPart>,
    /// `part` lines in order.
    pub parts: Vec<PartRequest>,
    /// `bootloader`.
    pub bootloader: Option<Bootloader>,
    /// Storage commands the installer cannot honour yet (`raid`, `volgroup`,
    /// `logvol`, `btrfs`, `iscsi`, …) with their line: refused at plan time.
    pub unsupported: Vec<(String, usize)>,
}
