//! The `initramfs` stage: a newc cpio (written by `outpost-image`, zstd
//! compressed) that boots the installer.
//!
//! Everything except the installer comes from the base root file system,
//! so the modules match the payload's kernel and the libraries match the
//! binaries: busybox (static) as `/init`'s shell, the mkfs tools and
//! partitioning tools with the shared libraries they need (found by
//! reading `DT_NEEDED` with `readelf`, resolved inside the root, never on
//! the host), and the kernel modules for the storage the installer must
//! see (virtio, SATA/AHCI, NVMe, USB storage, CD-ROM) and the file systems
//! it reads and writes, with their dependencies from `modules.dep`, loaded
//! in dependency order by `/init`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use super::rootfs::Base;
use super::steps::{self, Progress};
use super::{Binaries, Config};

/// Kernel modules the installer environment loads (with their
/// dependencies), by name; builtins are skipped. crc32c is a *soft*
/// dependency of ext4/xfs (requested through the crypto API at mount time),
/// which `modules.dep` does not list, hence named here.
pub const MODULES: &[&str] = &[
    // virtual machines
    "virtio_pci",
    "virtio_blk",
    "virtio_scsi",
    // SATA / IDE / SCSI disks and CD-ROMs
    "ahci",
    "ata_piix",
    "sd_mod",
    "sr_mod",
    // NVMe
    "nvme",
    // USB sticks and keyboards
    "xhci_pci",
    "ehci_pci",
    "ohci_pci",
    "uhci_hcd",
    "usb_storage",
    "uas",
    "usbhid",
    "hid_generic",
    // file systems and code pages (the ISO, the ESP, the target)
    "isofs",
    "vfat",
    "nls_cp437",
    "nls_iso8859_1",
    "nls_utf8",
    "ext4",
    "xfs",
    "crc32c_generic",
    "crc32c_intel",
    "efivarfs",
    "loop",
    // software RAID (kickstart `raid`)
    "md_mod",
    "raid1",
    "raid0",
];

/// Tools copied from the base root into `/usr/sbin` (name in the
/// initramfs, path in the root). The installer needs these (contract):
/// busybox has weaker versions of some and none of the others.
pub const TOOLS: &[(&str, &str)] = &[
    ("mke2fs", "usr/sbin/mke2fs"),
    ("mkfs.ext4", "usr/sbin/mke2fs"),
    ("mkfs.ext2", "usr/sbin/mke2fs"),
    ("e2fsck", "usr/sbin/e2fsck"),
    ("tune2fs", "usr/sbin/tune2fs"),
    ("mkfs.xfs", "usr/sbin/mkfs.xfs"),
    ("mkfs.vfat", "usr/sbin/mkfs.fat"),
    ("mkfs.fat", "usr/sbin/mkfs.fat"),
    ("mkswap", "usr/sbin/mkswap"),
    ("blkid", "usr/sbin/blkid"),
    ("sfdisk", "usr/sbin/sfdisk"),
    ("wipefs", "usr/sbin/wipefs"),
    ("blockdev", "usr/sbin/blockdev"),
    ("lsblk", "usr/bin/lsblk"),
    ("partx", "usr/bin/partx"),
];

/// `/init`: contract 8 of the working agreement. Runs under busybox.
pub const INIT: &str = r#"#!/usr/bin/busybox sh
# Outpost installer environment (initramfs /init).
# Mounts the API file systems, loads the storage and file-system modules
# (list written at build time, dependencies first), waits briefly for the
# install medium, then runs the installer. `outpost.rescue` on the kernel
# command line, or an installer failure, gives a shell on the console.
/usr/bin/busybox --install -s
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mkdir -p /proc /sys /dev /run /tmp /mnt
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /run/outpost
mount -t devpts devpts /dev/pts
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -p /run/outpost
[ -d /sys/firmware/efi/efivars ] && mount -t efivarfs efivarfs /sys/firmware/efi/efivars 2>/dev/null
echo 0 > /proc/sys/kernel/printk 2>/dev/null
echo "outpost-init: loading modules"
while read -r m; do insmod "/lib/modules/$(uname -r)/$m" 2>/dev/null; done < /etc/outpost/modules
rescue() {
    echo "outpost-init: $1; starting a rescue shell (exit to reboot)"
    setsid cttyhack sh -l
    reboot -f
}
if grep -qw outpost.rescue /proc/cmdline; then
    rescue "rescue requested on the kernel command line"
fi
# USB and SCSI probing is asynchronous: give the medium up to 15 s.
i=0
while [ $i -lt 30 ]; do
    if blkid -t LABEL=OUTPOST -o device >/dev/null 2>&1; then break; fi
    sleep 0.5
    i=$((i + 1))
done
/usr/bin/outpost-installer
rc=$?
if [ $rc -ne 0 ]; then
    rescue "the installer failed (exit $rc)"
fi
# The installer asks for the finish action of the answer file (reboot,
# poweroff, halt) by writing it to /run/outpost/finish; default poweroff.
action=$(cat /run/outpost/finish 2>/dev/null)
sync
case "$action" in
    reboot) reboot -f ;;
    halt) halt -f ;;
    *) poweroff -f ;;
esac
"#;

/// The built initramfs.
#[derive(Debug, Clone)]
pub struct Initramfs {
    /// Cache key.
    pub key: String,
    /// `initrd.img` (zstd-compressed newc cpio).
    pub image: PathBuf,
    /// The kernel version its modules belong to.
    pub kernel_version: String,
}

/// The single kernel version installed in the base root.
pub fn kernel_version(root: &Path) -> Result<String> {
    let mut versions: Vec<String> = std::fs::read_dir(root.join("usr/lib/modules"))
        .context("reading the root's /usr/lib/modules")?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    versions.sort();
    match versions.as_slice() {
        [one] => Ok(one.clone()),
        [] => bail!("no kernel in the base root (linux-image-amd64 missing?)"),
        many => bail!("several kernels in the base root: {}", many.join(", ")),
    }
}

/// Builds (or finds) the initramfs.
pub fn build(
    cfg: &Config,
    base: &Base,
    bins: &Binaries,
    p: &Progress,
) -> Result<(Initramfs, bool)> {
    let kver = kernel_version(&base.root)?;
    let mut lines = vec![
        "initramfs-v1".to_owned(),
        base.key.clone(),
        format!("epoch {}", cfg.epoch),
        format!("installer {}", bins.installer_sha),
        INIT.to_owned(),
    ];
    lines.extend(MODULES.iter().map(|m| format!("module {m}")));
    lines.extend(TOOLS.iter().map(|(n, t)| format!("tool {n} {t}")));
    let key = steps::key(&lines);
    let (dir, cached) = steps::cached(&cfg.local_cache, "initramfs", &key, |tmp| {
        let stage = cfg.work.join("initramfs-root");
        if stage.exists() {
            std::fs::remove_dir_all(&stage)?;
        }
        p.say("collecting binaries and libraries");
        assemble(&base.root, &kver, &bins.installer, &stage)?;
        p.say("writing cpio");
        let mut archive = outpost_image::cpio::Archive::new(cfg.epoch as u32);
        archive.add_tree(&stage, "")?;
        // The kernel opens /dev/console before /init runs; without the node
        // early output is lost (devtmpfs is mounted by /init, later).
        archive.char_device("dev/console", 0o600, 5, 1);
        archive.char_device("dev/null", 0o666, 1, 3);
        let cpio = archive.to_bytes();
        p.say(format!("compressing {} MiB", cpio.len() >> 20));
        let z = zstd_compress(&cpio, 19)?;
        std::fs::write(tmp.join("initrd.img"), z)?;
        std::fs::remove_dir_all(&stage)?;
        Ok(())
    })?;
    Ok((
        Initramfs {
            key,
            image: dir.join("initrd.img"),
            kernel_version: kver,
        },
        cached,
    ))
}

fn zstd_compress(data: &[u8], level: i32) -> Result<Vec<u8>> {
    Ok(zstd::stream::encode_all(data, level)?)
}

fn assemble(root: &Path, kver: &str, installer: &Path, stage: &Path) -> Result<()> {
    for d in [
        "usr/bin",
        "usr/sbin",
        "usr/lib/x86_64-linux-gnu",
        "usr/lib64",
        "etc/outpost",
        "proc",
        "sys",
        "dev",
        "run",
        "tmp",
        "mnt",
        "root",
    ] {
        std::fs::create_dir_all(stage.join(d))?;
    }
    // Merged /usr, as on the installed system.
    for (link, target) in [
        ("bin", "usr/bin"),
        ("sbin", "usr/sbin"),
        ("lib", "usr/lib"),
        ("lib64", "usr/lib64"),
    ] {
        std::os::unix::fs::symlink(target, stage.join(link))?;
    }
    std::fs::write(stage.join("init"), INIT)?;
    set_mode(&stage.join("init"), 0o755)?;
    copy(
        &resolve(root, "usr/bin/busybox")?,
        &stage.join("usr/bin/busybox"),
        0o755,
    )?;
    let mut elf: Vec<PathBuf> = Vec::new();
    for (name, path) in TOOLS {
        let src = resolve(root, path)?;
        let dst = stage.join("usr/sbin").join(name);
        copy(&src, &dst, 0o755)?;
        elf.push(src);
    }
    copy(installer, &stage.join("usr/bin/outpost-installer"), 0o755)?;
    elf.push(installer.to_path_buf());
    // mke2fs reads its defaults (ext4 features) from /etc/mke2fs.conf.
    copy(
        &resolve(root, "etc/mke2fs.conf")?,
        &stage.join("etc/mke2fs.conf"),
        0o644,
    )?;
    std::fs::write(stage.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n")?;
    std::fs::write(stage.join("etc/group"), "root:x:0:\n")?;
    // Shared libraries: breadth-first over DT_NEEDED, resolved in the root.
    let mut seen = BTreeSet::new();
    let mut queue = elf;
    while let Some(bin) = queue.pop() {
        for lib in needed(&bin)? {
            if !seen.insert(lib.clone()) {
                continue;
            }
            let src = find_lib(root, &lib).with_context(|| {
                format!(
                    "{} needs {lib}, which the root does not have",
                    bin.display()
                )
            })?;
            copy(
                &src,
                &stage.join("usr/lib/x86_64-linux-gnu").join(&lib),
                0o755,
            )?;
            queue.push(src);
        }
    }
    std::os::unix::fs::symlink(
        "../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
        stage.join("usr/lib64/ld-linux-x86-64.so.2"),
    )?;
    if !stage
        .join("usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")
        .exists()
    {
        let src = find_lib(root, "ld-linux-x86-64.so.2")?;
        copy(
            &src,
            &stage.join("usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"),
            0o755,
        )?;
    }
    modules(root, kver, stage)?;
    Ok(())
}

/// Copies the wanted modules and their dependencies, writes the load
/// order to `/etc/outpost/modules` and runs `depmod` so busybox
/// `modprobe` works in the rescue shell.
fn modules(root: &Path, kver: &str, stage: &Path) -> Result<()> {
    let mdir = root.join("usr/lib/modules").join(kver);
    let dep_text = std::fs::read_to_string(mdir.join("modules.dep"))
        .context("reading modules.dep of the base root")?;
    let builtin = std::fs::read_to_string(mdir.join("modules.builtin")).unwrap_or_default();
    let norm = |p: &str| -> String {
        let base = p.rsplit('/').next().unwrap_or(p);
        let base = base.split(".ko").next().unwrap_or(base);
        base.replace('-', "_")
    };
    let mut deps: BTreeMap<String, (String, Vec<String>)> = BTreeMap::new();
    for line in dep_text.lines() {
        if let Some((m, rest)) = line.split_once(':') {
            let d: Vec<String> = rest.split_whitespace().map(str::to_owned).collect();
            deps.insert(norm(m), (m.to_owned(), d));
        }
    }
    let builtins: BTreeSet<String> = builtin.lines().map(norm).collect();
    let mut order: Vec<String> = Vec::new();
    fn visit(path: &str, by_path: &BTreeMap<String, Vec<String>>, order: &mut Vec<String>) {
        if order.iter().any(|p| p == path) {
            return;
        }
        for d in by_path.get(path).into_iter().flatten() {
            visit(d, by_path, order);
        }
        order.push(path.to_owned());
    }
    let by_path: BTreeMap<String, Vec<String>> =
        deps.values().map(|(p, d)| (p.clone(), d.clone())).collect();
    for m in MODULES {
        match deps.get(*m) {
            Some((path, _)) => visit(path, &by_path, &mut order),
            None if builtins.contains(*m) => {}
            None => bail!("kernel {kver} has no module {m} (neither loadable nor built in)"),
        }
    }
    let out = stage.join("usr/lib/modules").join(kver);
    for m in &order {
        copy(&mdir.join(m), &out.join(m), 0o644)?;
    }
    for f in [
        "modules.order",
        "modules.builtin",
        "modules.builtin.modinfo",
    ] {
        if mdir.join(f).exists() {
            copy(&mdir.join(f), &out.join(f), 0o644)?;
        }
    }
    std::fs::write(stage.join("etc/outpost/modules"), order.join("\n") + "\n")?;
    crate::ci::run_cmd(Command::new("depmod").arg("-b").arg(stage).arg(kver))?;
    Ok(())
}

/// `DT_NEEDED` entries of an ELF file (empty for static binaries).
fn needed(bin: &Path) -> Result<Vec<String>> {
    let out = Command::new("readelf")
        .arg("-dW")
        .arg(bin)
        .output()
        .context("running readelf (Debian package binutils)")?;
    if !out.status.success() {
        bail!("readelf -d {} failed", bin.display());
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains("(NEEDED)"))
        .filter_map(|l| {
            let start = l.find('[')? + 1;
            let end = l.rfind(']')?;
            Some(l[start..end].to_owned())
        })
        .collect())
}

fn find_lib(root: &Path, name: &str) -> Result<PathBuf> {
    for dir in ["usr/lib/x86_64-linux-gnu", "usr/lib", "usr/lib64"] {
        let rel = format!("{dir}/{name}");
        if root.join(&rel).exists() || root.join(&rel).is_symlink() {
            return resolve(root, &rel);
        }
    }
    bail!("library {name} not found in the root")
}

/// Follows symlinks inside `root` (absolute targets are re-rooted), so
/// nothing is ever read from the host's own file system.
pub fn resolve(root: &Path, rel: &str) -> Result<PathBuf> {
    let mut parts: Vec<String> = Vec::new();
    let mut todo: Vec<String> = rel.split('/').rev().map(str::to_owned).collect();
    let mut hops = 0;
    while let Some(part) = todo.pop() {
        match part.as_str() {
            "" | "." => continue,
            ".." => {
                parts.pop();
                continue;
            }
            _ => {}
        }
        parts.push(part);
        let here = root.join(parts.join("/"));
        if here.is_symlink() {
            hops += 1;
            if hops > 40 {
                bail!("too many symlinks resolving {rel}");
            }
            let target = std::fs::read_link(&here)?;
            let target = target.to_string_lossy().into_owned();
            parts.pop();
            if target.starts_with('/') {
                parts.clear();
            }
            todo.extend(target.split('/').rev().map(str::to_owned));
        }
    }
    let path = root.join(parts.join("/"));
    if !path.exists() {
        bail!("{rel} does not exist in the root");
    }
    Ok(path)
}

fn copy(from: &Path, to: &Path, mode: u32) -> Result<()> {
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::copy(from, to).with_context(|| format!("copying {}", from.display()))?;
    set_mode(to, mode)
}

fn set_mode(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_is_valid_busybox_shell() {
        let path = std::env::temp_dir().join(format!("outpost-init-{}", std::process::id()));
        std::fs::write(&path, INIT).unwrap();
        let out = Command::new("busybox")
            .args(["sh", "-n"])
            .arg(&path)
            .output()
            .expect("busybox (Debian package busybox-static) must be installed");
        let _ = std::fs::remove_file(&path);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    #[test]
    fn resolve_stays_inside_the_root() {
        let root = std::env::temp_dir().join(format!("outpost-resolve-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("usr/lib/x86_64-linux-gnu")).unwrap();
        std::fs::write(root.join("usr/lib/x86_64-linux-gnu/libz.so.1.2"), "z").unwrap();
        std::os::unix::fs::symlink("usr/lib", root.join("lib")).unwrap();
        std::os::unix::fs::symlink(
            "libz.so.1.2",
            root.join("usr/lib/x86_64-linux-gnu/libz.so.1"),
        )
        .unwrap();
        // An absolute target means the root's /, never the host's.
        std::os::unix::fs::symlink("/lib/x86_64-linux-gnu/libz.so.1", root.join("abs")).unwrap();
        let want = root.join("usr/lib/x86_64-linux-gnu/libz.so.1.2");
        assert_eq!(
            resolve(&root, "lib/x86_64-linux-gnu/libz.so.1").unwrap(),
            want
        );
        assert_eq!(resolve(&root, "abs").unwrap(), want);
        assert!(resolve(&root, "etc/passwd").is_err());
        std::fs::remove_dir_all(&root).unwrap();
    }
}
