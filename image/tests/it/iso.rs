//! The hybrid ISO writer, checked by xorriso (El Torito), sgdisk and
//! sfdisk (GPT with an EFI System Partition and a backup header), isoinfo
//! and 7z (the ISO 9660 tree).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use outpost_image::esp::{EspSpec, build as build_esp};
use outpost_image::iso::{IsoSpec, build};
use outpost_image::sums::sha256_file;

use crate::{text, tmp, write};

fn make(dir: &Path, name: &str) -> std::path::PathBuf {
    let mut files = BTreeMap::new();
    files.insert("EFI/BOOT/BOOTX64.EFI".to_owned(), vec![0x4d; 100_000]);
    let esp = write(
        dir,
        "efiboot.img",
        &build_esp(&EspSpec {
            files,
            volume_id: 1,
            label: "OUTPOST-EFI".into(),
            epoch: 1_700_000_000,
        })
        .unwrap(),
    );
    let ks = write(dir, "outpost.ks", b"text\nreboot\n");
    let payload = write(dir, "rootfs.tar.zst", &[7u8; 10_000]);
    let out = dir.join(name);
    build(
        &IsoSpec {
            volume_label: "OUTPOST".into(),
            files: vec![
                ("boot/efiboot.img".into(), esp),
                ("ks/outpost.ks".into(), ks),
                ("payload/rootfs.tar.zst".into(), payload),
            ],
            efi_image: "boot/efiboot.img".into(),
            epoch: 1_700_000_000,
        },
        &out,
    )
    .unwrap();
    out
}

#[test]
fn xorriso_reports_a_uefi_el_torito_entry() {
    let dir = tmp();
    let iso = make(dir.path(), "a.iso");
    let report = text(
        Command::new("xorriso")
            .arg("-indev")
            .arg(&iso)
            .args(["-report_el_torito", "plain"]),
    );
    assert!(
        report.contains("El Torito boot img :   1  UEFI  y   none"),
        "{report}"
    );
    assert!(report.contains("/boot/efiboot.img"), "{report}");
}

#[test]
fn sgdisk_and_sfdisk_verify_the_gpt_with_an_esp() {
    let dir = tmp();
    let iso = make(dir.path(), "a.iso");
    let verify = text(Command::new("sgdisk").arg("-v").arg(&iso));
    assert!(verify.contains("No problems found"), "{verify}");
    let table = text(Command::new("sgdisk").arg("-p").arg(&iso));
    assert!(
        table.lines().any(|l| l.contains("EF00")),
        "no EFI System Partition:\n{table}"
    );
    let dump = text(Command::new("sfdisk").arg("--dump").arg(&iso));
    assert!(dump.contains("label: gpt"), "{dump}");
    assert!(
        dump.contains("C12A7328-F81F-11D2-BA4B-00A0C93EC93B"),
        "ESP type GUID missing:\n{dump}"
    );
    text(Command::new("sfdisk").arg("--verify").arg(&iso));
}

#[test]
fn isoinfo_and_7z_list_the_tree_with_label() {
    let dir = tmp();
    let iso = make(dir.path(), "a.iso");
    let files = text(Command::new("isoinfo").args(["-R", "-f", "-i"]).arg(&iso));
    for want in [
        "/ks/outpost.ks",
        "/payload/rootfs.tar.zst",
        "/boot/efiboot.img",
    ] {
        assert!(files.lines().any(|l| l == want), "{want} missing:\n{files}");
    }
    let pvd = text(Command::new("isoinfo").arg("-d").arg("-i").arg(&iso));
    assert!(pvd.contains("Volume id: OUTPOST"), "{pvd}");
    let listing = text(Command::new("7z").args(["l", "-tiso"]).arg(&iso));
    assert!(
        listing.contains("payload/rootfs.tar.zst") || listing.contains("payload\\rootfs.tar.zst"),
        "{listing}"
    );
}

#[test]
fn two_builds_are_byte_identical() {
    let a = tmp();
    let b = tmp();
    let x = make(a.path(), "x.iso");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let y = make(b.path(), "y.iso");
    assert_eq!(sha256_file(&x).unwrap(), sha256_file(&y).unwrap());
}
