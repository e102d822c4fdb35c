//! The do stage on a disk image file: a small fake payload is installed
//! with `outpost-installer --ks … --media … --disk IMAGE` (one loop device
//! per partition), then the result is read back with `sfdisk` and `debugfs`.
//! Needs root, loop devices, e2fsprogs, fdisk, zstd and tar (ci/packages.txt).
//! The ESP is left out (`bootloader --location=none`) because the build
//! machines' kernel has no vfat; the QEMU scenarios cover the boot loader.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The installs share `/tmp/outpost-install.log` and `losetup -f` races
/// between processes (nextest runs each test in its own): one at a time,
/// under an exclusive lock on a file.
fn one_at_a_time() -> nix::fcntl::Flock<std::fs::File> {
    let f = std::fs::File::create(std::env::temp_dir().join("outpost-it-install.lock")).unwrap();
    nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| e)
        .unwrap()
}

fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("starting {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

/// A payload with what the configure steps read: passwd files, a zone, a
/// dpkg status, units, a shell for %post.
fn fake_media(dir: &Path) -> PathBuf {
    let root = dir.join("root");
    write(&root, "etc/passwd", "root:x:0:0:root:/root:/bin/bash\n");
    write(&root, "etc/shadow", "root:*:19000:0:99999:7:::\n");
    write(&root, "etc/group", "root:x:0:\nsudo:x:27:\n");
    write(&root, "etc/skel/.profile", "# skel\n");
    write(&root, "root/.profile", "# root\n");
    std::fs::create_dir_all(root.join("usr/share/zoneinfo/Etc")).unwrap();
    std::fs::copy(
        "/usr/share/zoneinfo/Etc/UTC",
        root.join("usr/share/zoneinfo/Etc/UTC"),
    )
    .unwrap();
    write(
        &root,
        "var/lib/dpkg/status",
        "Package: systemd\nStatus: install ok installed\n\nPackage: nftables\nStatus: install ok installed\n",
    );
    write(
        &root,
        "usr/lib/systemd/system/outpost-smtpd.service",
        "[Service]\nExecStart=/usr/bin/true\n[Install]\nWantedBy=multi-user.target\n",
    );
    write(
        &root,
        "usr/lib/systemd/system/nftables.service",
        "[Install]\nWantedBy=sysinit.target\n",
    );
    write(
        &root,
        "usr/lib/systemd/system/systemd-networkd.service",
        "[Install]\nWantedBy=multi-user.target\n",
    );
    std::fs::create_dir_all(root.join("bin")).unwrap();
    std::fs::copy("/bin/busybox", root.join("bin/busybox"))
        .expect("busybox-static must be installed");
    std::os::unix::fs::symlink("busybox", root.join("bin/sh")).unwrap();
    std::fs::create_dir_all(root.join("dev")).unwrap();
    run(Command::new("mknod")
        .arg(root.join("dev/null"))
        .args(["c", "1", "3"]));
    let media = dir.join("media");
    std::fs::create_dir_all(media.join("payload")).unwrap();
    run(Command::new("sh").arg("-c").arg(format!(
        "tar --numeric-owner -C {} -cf - . | zstd -q -T0 -o {}/payload/rootfs.tar.zst && cd {} && sha256sum payload/rootfs.tar.zst > SHA256SUMS",
        root.display(),
        media.display(),
        media.display()
    )));
    media
}

const KS: &str = r#"cmdline
lang C.UTF-8
keyboard us
timezone Etc/UTC --utc
network --bootproto=dhcp --hostname=it-host.outpost.lan
rootpw --plaintext root-secret
user --name=ops --groups=wheel --password=ops-secret --plaintext
sshkey --username=ops "ssh-ed25519 AAAAC3 ops@it"
zerombr
clearpart --all --initlabel
bootloader --location=none
part / --fstype=ext4 --size=200 --grow --label=root
part swap --size=32
firewall --enabled --service=ssh
%packages
nftables
%end
%post --log=/root/post.log
echo "post ran on $(cat /etc/hostname)" > /root/post-marker
%end
%addon org_outpost
domain outpost.lan
user alice --password=Corr3ct-horse --plaintext --role=admin
%end
poweroff
"#;

fn debugfs(img: &Path, offset: u64, cmd: &str) -> String {
    run(Command::new("debugfs")
        .args(["-R", cmd])
        .arg(format!("{}?offset={offset}", img.display())))
}

#[test]
fn install_onto_an_image_file() {
    let _one = one_at_a_time();
    let dir = std::env::temp_dir().join(format!("outpost-it-install-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let media = fake_media(&dir);
    let ks = dir.join("ks.cfg");
    std::fs::write(&ks, KS).unwrap();
    let img = dir.join("disk.img");
    std::fs::File::create(&img)
        .unwrap()
        .set_len(512 << 20)
        .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_outpost-installer"))
        .arg("--ks")
        .arg(&ks)
        .arg("--media")
        .arg(&media)
        .arg("--disk")
        .arg(&img)
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{log}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(log.starts_with("outpost-installer "), "{log}");
    assert!(log.contains("payload: sha256"), "{log}");
    // GPT as sfdisk reads it: / then swap, 1 MiB aligned.
    let sf = run(Command::new("sfdisk").arg("-d").arg(&img));
    assert!(sf.contains("label: gpt"), "{sf}");
    assert!(
        sf.contains(
            "start=        2048, size=      978944, type=4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709"
        ),
        "{sf}"
    );
    assert!(
        sf.contains("size=       65536, type=0657FD6D-A4AB-43C4-84E5-0933C84B4F4F"),
        "{sf}"
    );
    let off = 1 << 20;
    let fstab = debugfs(&img, off, "cat /etc/fstab");
    assert!(
        fstab.contains(" / ext4 errors=remount-ro 0 1") && fstab.contains(" none swap sw 0 0"),
        "{fstab}"
    );
    assert_eq!(debugfs(&img, off, "cat /etc/hostname"), "it-host\n");
    assert_eq!(
        debugfs(&img, off, "cat /root/post-marker"),
        "post ran on it-host\n"
    );
    let shadow = debugfs(&img, off, "cat /etc/shadow");
    assert!(
        shadow.contains("root:$6$") && shadow.contains("ops:$6$"),
        "{shadow}"
    );
    assert!(debugfs(&img, off, "cat /etc/group").contains("sudo:x:27:ops"));
    assert_eq!(
        debugfs(&img, off, "cat /home/ops/.ssh/authorized_keys"),
        "ssh-ed25519 AAAAC3 ops@it\n"
    );
    assert!(
        debugfs(&img, off, "cat /etc/outpost/outpost.toml")
            .contains("hostname = \"it-host.outpost.lan\"")
    );
    for (p, mode) in [
        ("/var/mail/outpost.lan/alice", "0700"),
        ("/var/mail/outpost.lan/alice/.Junk/new", "0700"),
        ("/var/spool/outpost/queue", "0700"),
        ("/var/lib/outpost/files", "0700"),
        ("/var/backups/outpost", "0700"),
        ("/home/ops/.ssh", "0700"),
    ] {
        let st = debugfs(&img, off, &format!("stat {p}"));
        assert!(st.contains(&format!("Mode:  {mode}")), "{p}: {st}");
    }
    assert!(
        debugfs(
            &img,
            off,
            "ls /var/lib/outpost/dav/collections/alice@outpost.lan"
        )
        .contains("calendar")
    );
    assert!(debugfs(&img, off, "ls /var/lib/outpost/directory").len() > 10);
    let null = debugfs(&img, off, "stat /dev/null");
    assert!(null.contains("Type: character special"), "{null}");
    let wants = debugfs(&img, off, "ls /etc/systemd/system/multi-user.target.wants");
    assert!(
        wants.contains("outpost-smtpd.service") && wants.contains("systemd-networkd.service"),
        "{wants}"
    );
    assert!(debugfs(&img, off, "cat /etc/nftables.conf").contains("tcp dport { 22, 25,"));
    assert!(debugfs(&img, off, "cat /var/log/outpost/install.log").contains("==> payload"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_failed_install_wipes_the_new_table() {
    let _one = one_at_a_time();
    let dir = std::env::temp_dir().join(format!("outpost-it-fail-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let media = fake_media(&dir);
    // A checksum that does not match: the payload step fails after partitioning.
    std::fs::write(
        media.join("SHA256SUMS"),
        format!("{}  payload/rootfs.tar.zst\n", "0".repeat(64)),
    )
    .unwrap();
    let ks = dir.join("ks.cfg");
    std::fs::write(&ks, KS).unwrap();
    let img = dir.join("disk.img");
    std::fs::File::create(&img)
        .unwrap()
        .set_len(512 << 20)
        .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_outpost-installer"))
        .args(["--ks"])
        .arg(&ks)
        .arg("--media")
        .arg(&media)
        .arg("--disk")
        .arg(&img)
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{log}");
    assert!(
        log.contains("error: step `payload` failed: payload checksum mismatch"),
        "{log}"
    );
    assert!(log.contains("partition table wiped again"), "{log}");
    assert!(log.contains("/tmp/outpost-install.log"), "{log}");
    let head = std::fs::read(&img).unwrap();
    assert!(
        head[..1 << 20].iter().all(|b| *b == 0),
        "the first MiB is not wiped"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A loop device over `img` (read-only), detached on drop.
struct Loop(PathBuf);

impl Loop {
    fn new(img: &Path) -> Loop {
        let out = run(Command::new("losetup")
            .args(["-f", "--show", "-r"])
            .arg(img));
        Loop(PathBuf::from(out.trim()))
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = Command::new("losetup").arg("-d").arg(&self.0).output();
    }
}

/// An ext4 image labelled OEMDRV holding the files of `files` at its root,
/// made without mounting (`mke2fs -d`).
fn ext4_oemdrv(dir: &Path, name: &str, files: &[(&str, &str)]) -> PathBuf {
    let src = dir.join(format!("{name}.d"));
    std::fs::create_dir_all(&src).unwrap();
    for (f, text) in files {
        std::fs::write(src.join(f), text).unwrap();
    }
    let img = dir.join(name);
    std::fs::File::create(&img)
        .unwrap()
        .set_len(16 << 20)
        .unwrap();
    run(Command::new("mkfs.ext4")
        .args(["-q", "-F", "-L", "OEMDRV", "-d"])
        .arg(&src)
        .arg(&img));
    img
}

/// Regression (#23): an ext4 `OEMDRV` was never read (the media's answer
/// file was used silently). Now its `ks.cfg` is found by label on the
/// device and read through the kernel's ext4 driver (needs root and loop
/// devices, as the installs above).
#[test]
fn an_ext4_oemdrv_answer_file_is_read() {
    use outpost_installer::disk::{Contents, probe};
    use outpost_installer::install::{BlockDev, find_oemdrv, read_oemdrv};
    let _one = one_at_a_time();
    let dir = std::env::temp_dir().join(format!("outpost-it-oemdrv-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let img = ext4_oemdrv(&dir, "oem.img", &[("ks.cfg", KS)]);
    let lo = Loop::new(&img);
    let dev = BlockDev {
        name: "loop".into(),
        path: lo.0.clone(),
        contents: probe(&lo.0, 16 << 20).unwrap(),
    };
    assert_eq!(dev.contents, Contents::Filesystem("ext4 OEMDRV".into()));
    let oem = find_oemdrv(&[dev], &[])
        .unwrap()
        .expect("the OEMDRV device");
    assert_eq!(oem.fstype, "ext4");
    let copy = read_oemdrv(&oem, &dir.join("mnt"), &dir.join("out/ks.cfg")).unwrap();
    assert_eq!(std::fs::read_to_string(copy).unwrap(), KS);
    // Nothing stays mounted.
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap();
    assert!(
        !mounts.contains(&dir.join("mnt").display().to_string()),
        "{mounts}"
    );
    drop(lo);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Regression (#23): an OEMDRV that is found but cannot be read is a loud
/// error naming the device, never a silent fall-back to the media's answer
/// file: no `ks.cfg` (the files present are listed), a filesystem that does
/// not mount, a type the installer cannot read.
#[test]
fn an_unreadable_oemdrv_is_a_loud_error() {
    use outpost_installer::install::{OemDrv, read_oemdrv};
    let _one = one_at_a_time();
    let dir = std::env::temp_dir().join(format!("outpost-it-badoem-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mnt = dir.join("mnt");
    let out = dir.join("out/ks.cfg");
    // Saved by an editor that appends .txt.
    let img = ext4_oemdrv(&dir, "txt.img", &[("ks.cfg.txt", KS)]);
    let lo = Loop::new(&img);
    let oem = OemDrv {
        path: lo.0.clone(),
        fstype: "ext4".into(),
    };
    let e = format!("{:#}", read_oemdrv(&oem, &mnt, &out).unwrap_err());
    assert!(
        e.contains(
            "is labelled OEMDRV (ext4) but has no ks.cfg at its root (it holds: ks.cfg.txt)"
        ),
        "{e}"
    );
    drop(lo);
    // A damaged filesystem: an unknown incompatible feature bit in the
    // superblock (s_feature_incompat at 1024 + 0x60) stops the kernel mounting it.
    let img = ext4_oemdrv(&dir, "bad.img", &[("ks.cfg", KS)]);
    {
        use std::io::{Seek, SeekFrom, Write};
        let mut f = std::fs::OpenOptions::new().write(true).open(&img).unwrap();
        f.seek(SeekFrom::Start(1024 + 0x60 + 3)).unwrap();
        f.write_all(&[0x80]).unwrap();
    }
    let lo = Loop::new(&img);
    let oem = OemDrv {
        path: lo.0.clone(),
        fstype: "ext4".into(),
    };
    let e = format!("{:#}", read_oemdrv(&oem, &mnt, &out).unwrap_err());
    assert!(
        e.contains("is labelled OEMDRV (ext4) but cannot be mounted"),
        "{e}"
    );
    drop(lo);
    let oem = OemDrv {
        path: "/dev/sdz1".into(),
        fstype: "ntfs".into(),
    };
    let e = format!("{:#}", read_oemdrv(&oem, &mnt, &out).unwrap_err());
    assert!(
        e.contains("/dev/sdz1 is labelled OEMDRV but holds a ntfs filesystem, which the installer cannot read"),
        "{e}"
    );
    assert!(!out.exists());
    let _ = std::fs::remove_dir_all(&dir);
}
