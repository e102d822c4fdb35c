//! The `esp` and `iso` stages: the EFI System Partition (systemd-boot from
//! Debian's `systemd-boot-efi`, the payload's kernel, our initramfs, two
//! boot entries) and the hybrid ISO around it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};

use super::initramfs::{self, Initramfs};
use super::rootfs::{Base, Payload};
use super::steps::{self, Progress};
use super::{AnswerFile, Config};

/// The ISO volume label the installer looks for (contract 8).
pub const VOLUME_LABEL: &str = "OUTPOST";

/// Kernel command line of *Install Outpost*: Anaconda's `inst.ks=cdrom:`
/// convention; the last `console=` becomes `/dev/console` (serial), both
/// get kernel messages.
pub const CMDLINE: &str = "inst.ks=cdrom:/ks/outpost.ks console=tty0 console=ttyS0";

/// Above ~32 MiB an El Torito EFI image stopped booting as a CD
/// (PLATFORM.md); fail early instead of shipping such an ISO.
const ESP_LIMIT: u64 = 32 << 20;

/// The ESP image.
#[derive(Debug, Clone)]
pub struct Esp {
    /// `efiboot.img`.
    pub image: PathBuf,
}

/// systemd-boot's configuration: default entry, 5 s menu.
fn loader_files() -> Vec<(String, String)> {
    vec![
        (
            "loader/loader.conf".into(),
            "default install.conf\ntimeout 5\neditor yes\n".into(),
        ),
        (
            "loader/entries/install.conf".into(),
            format!(
                "title Install Outpost\nlinux /outpost/vmlinuz\ninitrd /outpost/initrd.img\noptions {CMDLINE}\n"
            ),
        ),
        (
            "loader/entries/rescue.conf".into(),
            format!(
                "title Rescue shell\nlinux /outpost/vmlinuz\ninitrd /outpost/initrd.img\noptions {CMDLINE} outpost.rescue\n"
            ),
        ),
    ]
}

/// Builds (or finds) the ESP image.
pub fn esp(cfg: &Config, base: &Base, initrd: &Initramfs, p: &Progress) -> Result<(Esp, bool)> {
    let mut lines = vec![
        "esp-v2".to_owned(),
        base.key.clone(),
        initrd.key.clone(),
        format!("epoch {}", cfg.epoch),
        cfg.seed.clone(),
    ];
    lines.extend(loader_files().into_iter().map(|(a, b)| format!("{a}\n{b}")));
    let key = steps::key(&lines);
    let (dir, cached) = steps::cached(&cfg.local_cache, "esp", &key, |tmp| {
        let mut files = BTreeMap::new();
        let efi = initramfs::resolve(&base.root, "usr/lib/systemd/boot/efi/systemd-bootx64.efi")?;
        files.insert("EFI/BOOT/BOOTX64.EFI".to_owned(), std::fs::read(efi)?);
        let kernel = initramfs::resolve(
            &base.root,
            &format!("boot/vmlinuz-{}", initrd.kernel_version),
        )?;
        files.insert("outpost/vmlinuz".to_owned(), std::fs::read(kernel)?);
        files.insert(
            "outpost/initrd.img".to_owned(),
            std::fs::read(&initrd.image)?,
        );
        for (path, text) in loader_files() {
            files.insert(path, text.into_bytes());
        }
        let image = outpost_image::esp::build(&outpost_image::esp::EspSpec {
            files,
            volume_id: outpost_image::sums::derive_u32(&cfg.seed, "esp-volume-id"),
            label: "OUTPOST-EFI".into(),
            epoch: cfg.epoch,
        })
        .context("building the FAT image")?;
        p.say(format!("{} MiB", image.len() >> 20));
        if image.len() as u64 > ESP_LIMIT {
            bail!(
                "the ESP is {} MiB; above 32 MiB it does not boot as a CD (shrink the initramfs)",
                image.len() >> 20
            );
        }
        std::fs::write(tmp.join("efiboot.img"), image)?;
        Ok(())
    })?;
    Ok((
        Esp {
            image: dir.join("efiboot.img"),
        },
        cached,
    ))
}

/// Writes `out/outpost.iso` (+ the ISO's `SHA256SUMS` and answer file
/// under `out/work/iso`).
pub fn iso(
    cfg: &Config,
    answer: &AnswerFile,
    payload: &Payload,
    esp: &Esp,
    p: &Progress,
) -> Result<PathBuf> {
    let tree = cfg.work.join("iso");
    std::fs::create_dir_all(&tree)?;
    let ks = tree.join("outpost.ks");
    std::fs::write(&ks, &answer.text)?;
    p.say("hashing the payload");
    let sums = outpost_image::sums::format_sums(&[
        (
            "ks/outpost.ks".into(),
            outpost_image::sums::sha256_hex(answer.text.as_bytes()),
        ),
        (
            "payload/rootfs.tar.zst".into(),
            outpost_image::sums::sha256_file(&payload.tarball)?,
        ),
    ]);
    let sums_path = tree.join("SHA256SUMS");
    std::fs::write(&sums_path, sums)?;
    let spec = outpost_image::iso::IsoSpec {
        volume_label: VOLUME_LABEL.into(),
        files: vec![
            ("SHA256SUMS".into(), sums_path),
            ("boot/efiboot.img".into(), esp.image.clone()),
            ("ks/outpost.ks".into(), ks),
            ("payload/rootfs.tar.zst".into(), payload.tarball.clone()),
        ],
        efi_image: "boot/efiboot.img".into(),
        epoch: cfg.epoch,
    };
    std::fs::create_dir_all(&cfg.out)?;
    let out = cfg.out.join("outpost.iso");
    let tmp = cfg.out.join("outpost.iso.tmp");
    p.say("xorriso");
    outpost_image::iso::build(&spec, &tmp).context("writing the ISO")?;
    std::fs::rename(&tmp, &out)?;
    Ok(out)
}
