//! Table tests of the planner: answer-file storage commands × disks → plan or refusal.

use outpost_installer::disk::{Contents, Disk, MIB, Partition};
use outpost_installer::plan::{guid, make_plan, swap_suggestion};
use outpost_installer::spec::*;

fn disk(name: &str, gib: u64, contents: Contents) -> Disk {
    Disk {
        name: name.into(),
        path: format!("/dev/{name}").into(),
        size: gib * 1024 * MIB,
        ids: vec![format!("virtio-SER-{name}")],
        removable: false,
        contents,
        parts: Vec::new(),
        in_use: None,
    }
}

fn blank(name: &str, gib: u64) -> Disk {
    disk(name, gib, Contents::Blank)
}

fn part(mp: &str, size: Option<u64>, grow: bool) -> PartRequest {
    PartRequest {
        mountpoint: mp.into(),
        size,
        grow,
        line: 1,
        ..Default::default()
    }
}

fn clear_all() -> Option<ClearPart> {
    Some(ClearPart {
        which: ClearWhich::All,
        drives: None,
        initlabel: true,
        disklabel: None,
    })
}

/// Compact plan: `vda: /boot/efi 1+600 vfat, / 601+7011 ext4, swap ...; vdb: untouched(...)`.
fn summary(spec: &StorageSpec, disks: &[Disk], ram: u64) -> String {
    match make_plan(spec, disks, ram) {
        Err(e) => format!("error: {e}"),
        Ok(p) => {
            let mut out = Vec::new();
            for d in &p.disks {
                let parts: Vec<String> = d
                    .parts
                    .iter()
                    .map(|q| {
                        format!(
                            "{} {}+{} {}",
                            q.mountpoint,
                            q.start_mib,
                            q.size_mib,
                            q.fstype.as_str()
                        )
                    })
                    .collect();
                out.push(format!(
                    "{}: {:?} [{}]",
                    d.disk.name,
                    d.action,
                    parts.join(", ")
                ));
            }
            out.join("; ")
        }
    }
}

#[track_caller]
fn check(spec: StorageSpec, disks: &[Disk], ram: u64, expect: &str) {
    let got = summary(&spec, disks, ram);
    assert!(got.contains(expect), "\n got: {got}\nwant: {expect}");
}

#[test]
fn swap_follows_anaconda() {
    for (ram, disk, want) in [
        (1024, 100_000, 2048),
        (1024, 8190, 819),
        (4096, 100_000, 4096),
        (16384, 100_000, 8192),
        (16384, 1_000_000, 8192),
        (131072, 1_000_000, 4096),
    ] {
        assert_eq!(swap_suggestion(ram, disk), want, "ram {ram} disk {disk}");
    }
}

#[test]
fn autopart_on_8_gib_disk() {
    let spec = StorageSpec {
        autopart: Some(AutoPart::default()),
        clearpart: clear_all(),
        zerombr: true,
        ..Default::default()
    };
    // 8192 - 2 usable; swap 819 (10 %); ESP grows 500→600 by its share; / takes the rest.
    check(
        spec,
        &[blank("vda", 8)],
        1024,
        "vda: Partition [/boot/efi 1+600 vfat, / 601+6771 ext4, swap 7372+819 swap]",
    );
}

#[test]
fn autopart_gives_var_mail_its_own_partition_on_large_disks() {
    let spec = StorageSpec {
        autopart: Some(AutoPart::default()),
        ..Default::default()
    };
    let got = summary(&spec, &[blank("sda", 100)], 4096);
    assert!(
        got.contains("/boot/efi 1+600 vfat, / 601+20480 ext4, /var/mail 21081+"),
        "{got}"
    );
    assert!(got.ends_with("swap 98303+4096 swap]"), "{got}");
    // Just below the threshold: no /var/mail.
    let got = summary(&spec, &[blank("sda", 63)], 4096);
    assert!(!got.contains("/var/mail"), "{got}");
}

#[test]
fn autopart_options() {
    let ap = AutoPart {
        noswap: true,
        fstype: Some("xfs".into()),
        ..Default::default()
    };
    check(
        StorageSpec {
            autopart: Some(ap),
            ..Default::default()
        },
        &[blank("vda", 8)],
        1024,
        "vda: Partition [/boot/efi 1+600 vfat, / 601+7590 xfs]",
    );
    for (ap, want) in [
        (
            AutoPart {
                kind: Some("lvm".into()),
                ..Default::default()
            },
            "autopart --type=lvm is not supported",
        ),
        (
            AutoPart {
                encrypted: true,
                ..Default::default()
            },
            "autopart --encrypted",
        ),
        (
            AutoPart {
                fstype: Some("btrfs".into()),
                ..Default::default()
            },
            "autopart --fstype=btrfs",
        ),
    ] {
        check(
            StorageSpec {
                autopart: Some(ap),
                ..Default::default()
            },
            &[blank("vda", 8)],
            1024,
            want,
        );
    }
}

#[test]
fn explicit_parts_over_two_disks_with_only_use() {
    let spec = StorageSpec {
        ignoredisk: Some(IgnoreDisk::OnlyUse(vec!["vda,vdb".into()])),
        clearpart: clear_all(),
        reqpart: Some(false),
        parts: vec![
            PartRequest {
                ondisk: Some("vda".into()),
                ..part("/", Some(3000), true)
            },
            PartRequest {
                ondisk: Some("vdb".into()),
                maxsize: Some(2000),
                label: Some("mail".into()),
                ..part("/var/mail", Some(500), true)
            },
            PartRequest {
                ondisk: Some("virtio-SER-vdb".into()),
                ..part("swap", Some(256), false)
            },
        ],
        ..Default::default()
    };
    let disks = [blank("vda", 4), blank("vdb", 4), blank("vdc", 4)];
    check(
        spec,
        &disks,
        1024,
        "vda: Partition [/boot/efi 1+584 vfat, / 585+3510 ext4]; vdb: Partition [/var/mail 1+2000 ext4, swap 2001+256 swap]; vdc: Untouched(\"ignoredisk\") []",
    );
}

#[test]
fn maxsize_caps_growth_and_leaves_space() {
    let spec = StorageSpec {
        reqpart: Some(false),
        parts: vec![PartRequest {
            maxsize: Some(2048),
            ..part("/", Some(1024), true)
        }],
        ..Default::default()
    };
    check(
        spec,
        &[blank("vda", 8)],
        1024,
        "vda: Partition [/boot/efi 1+600 vfat, / 601+2048 ext4]",
    );
}

#[test]
fn recommended_sizes() {
    let spec = StorageSpec {
        parts: vec![
            PartRequest {
                recommended: true,
                ..part("/boot/efi", None, false)
            },
            part("/", Some(4000), false),
            PartRequest {
                recommended: true,
                ..part("swap", None, false)
            },
        ],
        ..Default::default()
    };
    check(
        spec,
        &[blank("vda", 8)],
        1024,
        "vda: Partition [/boot/efi 1+600 vfat, / 601+4000 ext4, swap 4601+819 swap]",
    );
}

#[test]
fn refusals_name_the_option() {
    let used = disk("vda", 8, Contents::Filesystem("ext4".into()));
    let table = disk("vda", 8, Contents::PartitionTable("gpt".into()));
    let junk = disk("vda", 8, Contents::Unknown);
    let auto = || StorageSpec {
        autopart: Some(AutoPart::default()),
        ..Default::default()
    };
    let cases: Vec<(StorageSpec, Vec<Disk>, &str)> = vec![
        (
            auto(),
            vec![used.clone()],
            "disk vda (/dev/vda) holds a ext4 filesystem; refusing to overwrite it. Add `clearpart --all --drives=vda`",
        ),
        (
            auto(),
            vec![table.clone()],
            "holds a gpt partition table; refusing",
        ),
        (
            auto(),
            vec![junk.clone()],
            "holds a unrecognised data; refusing",
        ),
        (
            StorageSpec {
                clearpart: Some(ClearPart {
                    which: ClearWhich::None,
                    drives: None,
                    initlabel: false,
                    disklabel: None,
                }),
                ..auto()
            },
            vec![used.clone()],
            "refusing",
        ),
        (
            StorageSpec {
                clearpart: Some(ClearPart {
                    which: ClearWhich::All,
                    drives: Some(vec!["vdb".into()]),
                    initlabel: false,
                    disklabel: None,
                }),
                ..auto()
            },
            vec![used.clone(), blank("vdb", 1)],
            "disk vda (/dev/vda) holds a ext4",
        ),
        (
            StorageSpec {
                clearpart: Some(ClearPart {
                    which: ClearWhich::Linux,
                    drives: None,
                    initlabel: false,
                    disklabel: None,
                }),
                ..auto()
            },
            vec![table.clone()],
            "refusing",
        ),
        (
            StorageSpec {
                clearpart: Some(ClearPart {
                    which: ClearWhich::List(vec!["vda1".into()]),
                    drives: None,
                    initlabel: false,
                    disklabel: None,
                }),
                ..auto()
            },
            vec![blank("vda", 8)],
            "clearpart --list=vda1",
        ),
        (
            StorageSpec {
                clearpart: Some(ClearPart {
                    which: ClearWhich::All,
                    drives: None,
                    initlabel: true,
                    disklabel: Some("msdos".into()),
                }),
                ..auto()
            },
            vec![blank("vda", 8)],
            "--disklabel=msdos",
        ),
        (
            StorageSpec {
                unsupported: vec![("raid".into(), 7)],
                ..auto()
            },
            vec![blank("vda", 8)],
            "line 7: `raid` is not supported",
        ),
        (
            StorageSpec {
                unsupported: vec![("logvol".into(), 9)],
                ..auto()
            },
            vec![blank("vda", 8)],
            "line 9: `logvol` is not supported",
        ),
        (
            StorageSpec {
                parts: vec![part("/", Some(10), true)],
                ..auto()
            },
            vec![blank("vda", 8)],
            "cannot be combined",
        ),
        (
            StorageSpec {
                parts: vec![part("/", Some(1000), true)],
                ..Default::default()
            },
            vec![blank("vda", 8)],
            "no EFI system partition: add `reqpart`",
        ),
        (
            StorageSpec {
                reqpart: Some(false),
                parts: vec![part("/var", Some(1000), true)],
                ..Default::default()
            },
            vec![blank("vda", 8)],
            "no root filesystem",
        ),
        (
            StorageSpec {
                reqpart: Some(false),
                parts: vec![part("/", Some(100_000), false)],
                ..Default::default()
            },
            vec![blank("vda", 8)],
            "needs 100000 MiB and no usable disk",
        ),
        (
            StorageSpec {
                reqpart: Some(false),
                parts: vec![PartRequest {
                    ondisk: Some("vda".into()),
                    ..part("/", Some(100_000), false)
                }],
                ..Default::default()
            },
            vec![blank("vda", 8)],
            "disk vda has 8190 MiB usable but its partitions need 100000 MiB (/ 100000)",
        ),
        (
            StorageSpec {
                reqpart: Some(false),
                parts: vec![PartRequest {
                    ondisk: Some("sdz".into()),
                    ..part("/", Some(1000), false)
                }],
                ..Default::default()
            },
            vec![blank("vda", 8)],
            "--ondisk names disk `sdz`",
        ),
        (
            StorageSpec {
                reqpart: Some(false),
                parts: vec![part("/", None, false)],
                ..Default::default()
            },
            vec![blank("vda", 8)],
            "give --size=MiB, --grow or --recommended",
        ),
        (
            StorageSpec {
                reqpart: Some(false),
                parts: vec![PartRequest {
                    fstype: Some("btrfs".into()),
                    ..part("/", Some(100), false)
                }],
                ..Default::default()
            },
            vec![blank("vda", 8)],
            "--fstype=btrfs is not supported",
        ),
        (
            StorageSpec {
                reqpart: Some(false),
                parts: vec![
                    part("/", Some(100), false),
                    part("biosboot", Some(1), false),
                ],
                ..Default::default()
            },
            vec![blank("vda", 8)],
            "`biosboot` is not supported",
        ),
        (
            StorageSpec {
                reqpart: Some(false),
                parts: vec![PartRequest {
                    unsupported: vec!["--encrypted".into()],
                    line: 4,
                    ..part("/", Some(100), false)
                }],
                ..Default::default()
            },
            vec![blank("vda", 8)],
            "line 4: part /: `--encrypted` is not supported",
        ),
        (
            StorageSpec {
                reqpart: Some(false),
                parts: vec![part("/", Some(100), false), part("/", Some(100), false)],
                ..Default::default()
            },
            vec![blank("vda", 8)],
            "mount point / is requested twice",
        ),
        (
            StorageSpec {
                reqpart: Some(false),
                parts: vec![PartRequest {
                    maxsize: Some(10),
                    ..part("/", Some(100), true)
                }],
                ..Default::default()
            },
            vec![blank("vda", 8)],
            "--maxsize=10 is smaller",
        ),
        (
            StorageSpec {
                reqpart: Some(false),
                parts: vec![PartRequest {
                    label: Some("a-very-long-label".into()),
                    ..part("/", Some(100), true)
                }],
                ..Default::default()
            },
            vec![blank("vda", 8)],
            "longer than 16 bytes",
        ),
        (
            StorageSpec {
                ignoredisk: Some(IgnoreDisk::OnlyUse(vec!["sdq".into()])),
                ..auto()
            },
            vec![blank("vda", 8)],
            "ignoredisk names disk `sdq`",
        ),
        (
            StorageSpec {
                ignoredisk: Some(IgnoreDisk::Drives(vec!["vda".into()])),
                ..auto()
            },
            vec![blank("vda", 8)],
            "no usable disk",
        ),
        (
            StorageSpec::default(),
            vec![blank("vda", 8)],
            "no `autopart` or `part` lines",
        ),
        (
            StorageSpec {
                bootloader: Some(Bootloader {
                    location: Some("floppy".into()),
                    ..Default::default()
                }),
                ..auto()
            },
            vec![blank("vda", 8)],
            "--location=floppy",
        ),
    ];
    for (spec, disks, want) in cases {
        let got = summary(&spec, &disks, 1024);
        assert!(
            got.starts_with("error: ") && got.contains(want),
            "\n got: {got}\nwant: {want}\nspec: {spec:?}"
        );
    }
}

/// Regression: a small disk holding data was refused for its size, hiding the
/// more important refusal to overwrite data.
#[test]
fn data_refusal_comes_before_size() {
    let small = disk("vda", 1, Contents::Filesystem("ext4".into()));
    let spec = StorageSpec {
        autopart: Some(AutoPart::default()),
        ..Default::default()
    };
    let got = summary(&spec, &[small], 1024);
    assert!(
        got.contains("refusing to overwrite it. Add `clearpart --all --drives=vda`"),
        "{got}"
    );
}

#[test]
fn permissions_allow_overwriting() {
    let used = disk("vda", 8, Contents::Filesystem("ext4".into()));
    let junk = disk("vda", 8, Contents::Unknown);
    let auto = StorageSpec {
        autopart: Some(AutoPart::default()),
        ..Default::default()
    };
    check(
        StorageSpec {
            clearpart: clear_all(),
            ..auto.clone()
        },
        std::slice::from_ref(&used),
        1024,
        "vda: Partition",
    );
    check(
        StorageSpec {
            zerombr: true,
            ..auto.clone()
        },
        &[junk],
        1024,
        "vda: Partition",
    );
    check(
        StorageSpec {
            clearpart: Some(ClearPart {
                which: ClearWhich::Linux,
                drives: None,
                initlabel: false,
                disklabel: None,
            }),
            ..auto.clone()
        },
        std::slice::from_ref(&used),
        1024,
        "vda: Partition",
    );
    // clearpart --all also erases a disk that gets no partitions, as Anaconda does.
    check(
        StorageSpec {
            clearpart: clear_all(),
            ..auto
        },
        &[
            blank("vda", 8),
            disk("vdb", 1, Contents::Filesystem("xfs".into())),
        ],
        1024,
        "vdb: Clear []",
    );
}

#[test]
fn install_media_and_oemdrv_are_never_targets() {
    let media = disk("sda", 4, Contents::Filesystem("iso9660 OUTPOST".into()));
    let oem = disk("sdb", 1, Contents::Filesystem("vfat OEMDRV".into()));
    let spec = StorageSpec {
        autopart: Some(AutoPart::default()),
        clearpart: clear_all(),
        ..Default::default()
    };
    check(
        spec,
        &[media, oem, blank("vda", 8)],
        1024,
        "sda: Untouched(\"holds the install media (iso9660 OUTPOST)\") []; \
         sdb: Untouched(\"holds the answer file (vfat OEMDRV)\") []; vda: Partition",
    );
}

#[test]
fn boot_drive_pins_autopart_and_reqpart() {
    let spec = StorageSpec {
        autopart: Some(AutoPart {
            noswap: true,
            ..Default::default()
        }),
        bootloader: Some(Bootloader {
            boot_drive: Some("virtio-SER-vdb".into()),
            append: Some("quiet".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let disks = [blank("vda", 8), blank("vdb", 8)];
    check(
        spec.clone(),
        &disks,
        1024,
        "vda: Untouched(\"no partitions requested\") []; vdb: Partition [/boot/efi 1+600",
    );
    let plan = make_plan(&spec, &disks, 1024).unwrap();
    let text = plan.to_string();
    assert!(
        text.contains("bootloader: systemd-boot on the ESP of vdb"),
        "{text}"
    );
    assert!(text.contains("append \"quiet\""), "{text}");
    // The plan round-trips through JSON (STYLE.md: printable, serialisable plans).
    let json = serde_json::to_string(&plan).unwrap();
    assert!(json.contains("\"boot_disk\":\"vdb\""), "{json}");
}

#[test]
fn probe_image_files() {
    use outpost_installer::disk::from_image_files;
    let dir = std::env::temp_dir().join(format!("outpost-probe-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let blank_img = dir.join("blank.img");
    let f = std::fs::File::create(&blank_img).unwrap();
    f.set_len(16 * MIB).unwrap();
    let ext = dir.join("ext.img");
    let f = std::fs::File::create(&ext).unwrap();
    f.set_len(16 * MIB).unwrap();
    let st = std::process::Command::new("mkfs.ext4")
        .args(["-q", "-F"])
        .arg(&ext)
        .status()
        .expect("mkfs.ext4 must be installed (e2fsprogs)");
    assert!(st.success());
    let tail = dir.join("tail.img");
    let f = std::fs::File::create(&tail).unwrap();
    f.set_len(16 * MIB).unwrap();
    std::fs::write(
        &tail,
        [vec![0u8; (15 * MIB) as usize], vec![1u8; MIB as usize]].concat(),
    )
    .unwrap();
    let disks = from_image_files(&[blank_img, ext, tail]).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(disks[0].contents, Contents::Blank);
    assert_eq!(disks[1].contents, Contents::Filesystem("ext4".into()));
    assert_eq!(disks[2].contents, Contents::Unknown);
}

/// Runs a tool that builds a test image; panics with its stderr on failure.
fn build(cmd: &mut std::process::Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("starting {cmd:?}: {e} (e2fsprogs, dosfstools, fdisk)"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A sparse image file of `mib` MiB with the `sfdisk` script `table` (if any).
fn image(dir: &std::path::Path, name: &str, mib: u64, table: Option<&str>) -> std::path::PathBuf {
    use std::io::Write;
    let p = dir.join(name);
    std::fs::File::create(&p)
        .unwrap()
        .set_len(mib * MIB)
        .unwrap();
    if let Some(t) = table {
        let mut child = std::process::Command::new("sfdisk")
            .arg("-q")
            .arg(&p)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("sfdisk must be installed (fdisk)");
        child.stdin.take().unwrap().write_all(t.as_bytes()).unwrap();
        assert!(child.wait().unwrap().success(), "sfdisk {name}");
    }
    p
}

/// The storage commands of the default answer file (kickstart/templates/storage.ks.tera
/// without `disk.only_use`).
fn default_storage() -> StorageSpec {
    StorageSpec {
        zerombr: true,
        clearpart: Some(ClearPart {
            which: ClearWhich::All,
            drives: None,
            initlabel: true,
            disklabel: Some("gpt".into()),
        }),
        autopart: Some(AutoPart {
            kind: Some("plain".into()),
            fstype: Some("ext4".into()),
            ..Default::default()
        }),
        bootloader: Some(Bootloader {
            location: Some("mbr".into()),
            timeout: Some(5),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Regression (#22): a USB stick with a partition table whose first partition
/// is the FAT `OEMDRV` holding `ks.cfg` was not recognised as the answer
/// file's source: the default answer file (`zerombr`, `clearpart --all`,
/// `autopart`) planned to partition the stick. Real images, built with
/// sfdisk, mkfs.vfat and mkfs.ext4; named so the stick sorts first, as `sda`
/// does before `vda`.
#[test]
fn a_partitioned_oemdrv_stick_is_never_a_target() {
    use outpost_installer::disk::from_image_files;
    let dir = std::env::temp_dir().join(format!("outpost-it-stick-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // The stick: a DOS table, partition 1 FAT labelled OEMDRV.
    let stick = image(
        &dir,
        "a-stick.img",
        64,
        Some("label: dos\nstart=2048, type=c\n"),
    );
    build(
        std::process::Command::new("mkfs.vfat")
            .args(["-n", "OEMDRV", "--offset", "2048"])
            .arg(&stick)
            .arg(((64 - 1) * 1024).to_string()),
    );
    // A data disk: GPT with one Linux partition holding ext4.
    let data = image(
        &dir,
        "b-data.img",
        4096,
        Some("label: gpt\nstart=2048, size=131072, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4\n"),
    );
    build(
        std::process::Command::new("mkfs.ext4")
            .args(["-q", "-F", "-L", "precious", "-E", "offset=1048576"])
            .arg(&data)
            .arg("64M"),
    );
    let blank = image(&dir, "c-blank.img", 6144, None);
    let disks = from_image_files(&[stick, data, blank]).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let got = summary(&default_storage(), &disks, 1024);
    assert!(
        got.starts_with("a-stick.img: Untouched(") && got.contains("OEMDRV"),
        "{got}"
    );
    assert!(got.contains("b-data.img: Clear []"), "{got}");
    assert!(
        got.contains("c-blank.img: Partition [/boot/efi 1+600 vfat, / 601+"),
        "{got}"
    );
    // The printed plan says which disk was excluded and why.
    let text = make_plan(&default_storage(), &disks, 1024)
        .unwrap()
        .to_string();
    assert!(
        text.contains("disk a-stick.img") && text.contains("untouched (holds the answer file"),
        "{text}"
    );
}

/// Regression (#23): `clearpart --linux` released a disk without a partition
/// table whatever it held, so a FAT stick (or an NTFS or ISO 9660 disk)
/// counted as Linux and would have been overwritten.
#[test]
fn clearpart_linux_spares_table_less_foreign_disks() {
    let linux = || StorageSpec {
        autopart: Some(AutoPart::default()),
        clearpart: Some(ClearPart {
            which: ClearWhich::Linux,
            drives: None,
            initlabel: false,
            disklabel: None,
        }),
        ..Default::default()
    };
    for foreign in ["vfat STICK", "vfat", "ntfs", "iso9660 WIN11", "exfat"] {
        let got = summary(
            &linux(),
            &[disk("vda", 8, Contents::Filesystem(foreign.into()))],
            1024,
        );
        assert!(
            got.starts_with("error: ") && got.contains("refusing to overwrite"),
            "{foreign}: {got}"
        );
    }
    for native in ["ext4", "xfs", "btrfs", "swap", "LVM2_member", "crypto_LUKS"] {
        check(
            linux(),
            &[disk("vda", 8, Contents::Filesystem(native.into()))],
            1024,
            "vda: Partition",
        );
    }
}

/// Regression (#23): an ext4 (or XFS) filesystem labelled `OEMDRV` was probed
/// without its label, so its `ks.cfg` was never read and the media's answer
/// file was used silently.
#[test]
fn probe_reads_ext4_and_xfs_labels() {
    use outpost_installer::disk::from_image_files;
    let dir = std::env::temp_dir().join(format!("outpost-it-labels-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let ext = image(&dir, "ext.img", 16, None);
    build(
        std::process::Command::new("mkfs.ext4")
            .args(["-q", "-F", "-L", "OEMDRV"])
            .arg(&ext),
    );
    let xfs = image(&dir, "xfs.img", 300, None);
    build(
        std::process::Command::new("mkfs.xfs")
            .args(["-q", "-f", "-L", "OEMDRV"])
            .arg(&xfs),
    );
    let disks = from_image_files(&[ext, xfs]).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(
        disks[0].contents,
        Contents::Filesystem("ext4 OEMDRV".into())
    );
    assert_eq!(disks[1].contents, Contents::Filesystem("xfs OEMDRV".into()));
}

fn partition(disk: &str, n: u32, type_id: &str, contents: Contents) -> Partition {
    Partition {
        number: n,
        name: format!("{disk}{n}"),
        start: u64::from(n) * MIB,
        size: 64 * MIB,
        type_id: type_id.into(),
        contents,
    }
}

fn with_parts(mut d: Disk, table: &str, parts: Vec<Partition>) -> Disk {
    d.contents = Contents::PartitionTable(table.into());
    d.parts = parts;
    d
}

/// #22 as a table: the default answer file's storage commands against a USB
/// stick whose partition holds OEMDRV (or the media), a data disk with a
/// Linux partition and a blank disk. The stick is never used or cleared;
/// `clearpart --all` clears the data disk (as Anaconda would); autopart puts
/// the layout on the largest candidate, the first in disk order on a tie.
#[test]
fn autopart_skips_source_sticks_and_picks_like_anaconda() {
    let stick = |fs: &str| {
        with_parts(
            disk("sda", 16, Contents::Blank),
            "dos",
            vec![partition("sda", 1, "0x0c", Contents::Filesystem(fs.into()))],
        )
    };
    let data = |gib| {
        with_parts(
            disk("vda", gib, Contents::Blank),
            "gpt",
            vec![partition(
                "vda",
                1,
                guid::LINUX_FS,
                Contents::Filesystem("ext4 precious".into()),
            )],
        )
    };
    let cases: Vec<(Vec<Disk>, &str)> = vec![
        (
            vec![stick("vfat OEMDRV"), data(8), blank("vdb", 16)],
            "sda: Untouched(\"holds the answer file (vfat OEMDRV) on partition 1 (sda1)\") []; \
             vda: Clear []; vdb: Partition [/boot/efi 1+600 vfat",
        ),
        (
            vec![stick("ext4 OEMDRV"), data(16), blank("vdb", 8)],
            "sda: Untouched(\"holds the answer file (ext4 OEMDRV) on partition 1 (sda1)\") []; \
             vda: Partition [/boot/efi 1+600 vfat",
        ),
        // A tie goes to the first disk in order (Anaconda's boot disk).
        (
            vec![stick("iso9660 OUTPOST"), data(8), blank("vdb", 8)],
            "sda: Untouched(\"holds the install media (iso9660 OUTPOST) on partition 1 (sda1)\") []; \
             vda: Partition [/boot/efi 1+600 vfat",
        ),
        // A disk too small for the layout is no candidate, however first it sorts.
        (
            vec![stick("vfat OEMDRV"), blank("vda", 1), blank("vdb", 4)],
            "vda: Untouched(\"no partitions requested\") []; vdb: Partition",
        ),
    ];
    for (disks, want) in cases {
        check(default_storage(), &disks, 1024, want);
    }
    let disks = [stick("vfat OEMDRV"), data(8), blank("vdb", 16)];
    let text = make_plan(&default_storage(), &disks, 1024)
        .unwrap()
        .to_string();
    assert!(
        text.contains(
            "disk sda /dev/sda 16384 MiB [virtio-SER-sda]: untouched (holds the answer file \
             (vfat OEMDRV) on partition 1 (sda1); dos partition table)"
        ),
        "{text}"
    );
    assert!(
        text.contains("note: autopart: vdb holds the whole layout, the largest disk")
            && text.contains("candidates: vda 8192 MiB, vdb 16384 MiB"),
        "{text}"
    );
    // Without clearpart the data disk is no candidate: the blank one is used.
    let no_clear = StorageSpec {
        autopart: Some(AutoPart::default()),
        ..Default::default()
    };
    check(
        no_clear,
        &[stick("vfat OEMDRV"), data(16), blank("vdb", 8)],
        1024,
        "vda: Untouched(\"no partitions requested\") []; vdb: Partition",
    );
}

/// The device the live system read the media or answer file from is
/// excluded even when nothing on it is labelled (`inst.ks=hd:sdb1:/ks.cfg`),
/// and naming a protected disk outright is refused.
#[test]
fn source_devices_are_excluded_and_cannot_be_named() {
    let mut src = disk("sdb", 16, Contents::Filesystem("ext4 KEYS".into()));
    src.in_use = Some("the answer file was read from /dev/sdb1".into());
    check(
        default_storage(),
        &[src.clone(), blank("vda", 8)],
        1024,
        "sdb: Untouched(\"the answer file was read from /dev/sdb1\") []; vda: Partition",
    );
    let oem = with_parts(
        disk("sda", 1, Contents::Blank),
        "gpt",
        vec![partition(
            "sda",
            2,
            guid::LINUX_FS,
            Contents::Filesystem("vfat OEMDRV".into()),
        )],
    );
    for (spec, want) in [
        (
            StorageSpec {
                clearpart: Some(ClearPart {
                    which: ClearWhich::All,
                    drives: Some(vec!["sda,vda".into()]),
                    initlabel: true,
                    disklabel: None,
                }),
                ..default_storage()
            },
            "clearpart --drives names disk `sda`, which is never cleared (sda: holds the answer file",
        ),
        (
            StorageSpec {
                bootloader: Some(Bootloader {
                    boot_drive: Some("sda".into()),
                    ..Default::default()
                }),
                ..default_storage()
            },
            "bootloader --boot-drive names disk `sda`, which is not a usable disk (sda: holds",
        ),
        (
            StorageSpec {
                ignoredisk: Some(IgnoreDisk::OnlyUse(vec!["sda".into()])),
                ..default_storage()
            },
            "no usable disk: every disk holds the install media or an answer file, or is \
             excluded by `ignoredisk` (sda: holds the answer file (vfat OEMDRV) on partition 2 (sda2); vda: ignoredisk)",
        ),
    ] {
        let got = summary(&spec, &[oem.clone(), blank("vda", 8)], 1024);
        assert!(
            got.starts_with("error: ") && got.contains(want),
            "\n got: {got}\nwant: {want}"
        );
    }
}

/// #23 with partitions: `clearpart --linux` releases a disk whose partitions
/// are all Linux (by filesystem, or by type when they hold nothing foreign),
/// and refuses one with an ESP, an NTFS or a FAT-in-Linux-type partition,
/// naming it.
#[test]
fn clearpart_linux_looks_at_every_partition() {
    let linux = |initlabel| StorageSpec {
        autopart: Some(AutoPart::default()),
        clearpart: Some(ClearPart {
            which: ClearWhich::Linux,
            drives: None,
            initlabel,
            disklabel: None,
        }),
        ..Default::default()
    };
    let base = || disk("vda", 8, Contents::Blank);
    let all_linux = with_parts(
        base(),
        "gpt",
        vec![
            partition(
                "vda",
                1,
                guid::ROOT_X86_64,
                Contents::Filesystem("xfs".into()),
            ),
            partition("vda", 2, guid::SWAP, Contents::Filesystem("swap".into())),
            partition(
                "vda",
                3,
                "E6D6D379-F507-44C2-A23C-238F2A3DF928",
                Contents::Unknown,
            ),
            partition(
                "vda",
                4,
                "0FC63DAF-8483-4772-8E79-3D69D8477DE4",
                Contents::Blank,
            ),
        ],
    );
    check(linux(false), &[all_linux], 1024, "vda: Partition");
    let dos_linux = with_parts(
        base(),
        "dos",
        vec![
            partition("vda", 1, "0x83", Contents::Filesystem("ext4".into())),
            partition("vda", 5, "0x82", Contents::Blank),
        ],
    );
    check(linux(false), &[dos_linux], 1024, "vda: Partition");
    for (p, named) in [
        (
            partition("vda", 1, guid::ESP, Contents::Filesystem("vfat".into())),
            "partition 1 (vda1, vfat filesystem)",
        ),
        (
            partition("vda", 2, "0x07", Contents::Filesystem("ntfs".into())),
            "partition 2 (vda2, ntfs filesystem)",
        ),
        (
            partition(
                "vda",
                1,
                guid::LINUX_FS,
                Contents::Filesystem("vfat DATA".into()),
            ),
            "partition 1 (vda1, vfat DATA filesystem)",
        ),
        (
            partition("vda", 1, "0x07", Contents::Blank),
            "partition 1 (vda1, blank)",
        ),
    ] {
        let d = with_parts(
            base(),
            "gpt",
            vec![
                p,
                partition(
                    "vda",
                    3,
                    guid::LINUX_FS,
                    Contents::Filesystem("ext4".into()),
                ),
            ],
        );
        let got = summary(&linux(false), &[d], 1024);
        assert!(
            got.contains(&format!("`clearpart --linux` keeps its non-Linux {named}"))
                && got.contains("refusing to overwrite"),
            "{got}"
        );
    }
    // An empty table: only with --initlabel (Anaconda keeps the label otherwise).
    let empty = with_parts(base(), "gpt", vec![]);
    check(
        linux(true),
        std::slice::from_ref(&empty),
        1024,
        "vda: Partition",
    );
    let got = summary(&linux(false), &[empty], 1024);
    assert!(
        got.contains("keeps an empty table without `--initlabel`"),
        "{got}"
    );
}
