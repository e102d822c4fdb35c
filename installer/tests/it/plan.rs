//! Table tests of the planner: answer-file storage commands × disks → plan or refusal.

use outpost_installer::disk::{Contents, Disk, MIB};
use outpost_installer::plan::{make_plan, swap_suggestion};
use outpost_installer::spec::*;

fn disk(name: &str, gib: u64, contents: Contents) -> Disk {
    Disk {
        name: name.into(),
        path: format!("/dev/{name}").into(),
        size: gib * 1024 * MIB,
        ids: vec![format!("virtio-SER-{name}")],
        removable: false,
        contents,
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
        "sda: Untouched(\"install media\") []; sdb: Untouched(\"install media\") []; vda: Partition",
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
