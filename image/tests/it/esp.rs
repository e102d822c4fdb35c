//! The ESP builder, checked by dosfstools' `fsck.fat` and mtools.

use std::collections::BTreeMap;
use std::process::Command;

use outpost_image::esp::{EspSpec, build};

use crate::{text, tmp, tool, write};

fn spec() -> EspSpec {
    let mut files = BTreeMap::new();
    files.insert("EFI/BOOT/BOOTX64.EFI".to_owned(), vec![0x4d; 300_000]);
    files.insert("loader/loader.conf".to_owned(), b"timeout 5\n".to_vec());
    files.insert(
        "loader/entries/install.conf".to_owned(),
        b"title Install\n".to_vec(),
    );
    EspSpec {
        files,
        volume_id: 0xdead_beef,
        label: "OUTPOST-EFI".into(),
        epoch: 1_700_000_000,
    }
}

#[test]
fn fsck_fat_finds_no_problem() {
    let dir = tmp();
    let img = write(dir.path(), "esp.img", &build(&spec()).unwrap());
    tool(Command::new("fsck.fat").arg("-n").arg(&img));
}

#[test]
fn mtools_reads_files_label_and_serial() {
    let dir = tmp();
    let img = write(dir.path(), "esp.img", &build(&spec()).unwrap());
    let listing = text(Command::new("mdir").arg("-i").arg(&img).args(["-/", "::/"]));
    assert!(listing.contains("BOOTX64.EFI"), "{listing}");
    assert!(listing.contains("install.conf"), "{listing}");
    assert!(listing.contains("OUTPOST-EFI"), "{listing}");
    assert!(listing.contains("DEAD-BEEF"), "{listing}");
    // The directory entries carry SOURCE_DATE_EPOCH (2023-11-14 22:13), not now.
    assert!(listing.contains("2023-11-14  22:13"), "{listing}");
    let out = dir.path().join("loader.conf");
    tool(
        Command::new("mcopy")
            .arg("-i")
            .arg(&img)
            .arg("::/loader/loader.conf")
            .arg(&out),
    );
    assert_eq!(std::fs::read(out).unwrap(), b"timeout 5\n");
}

#[test]
fn same_spec_gives_identical_images() {
    assert_eq!(build(&spec()).unwrap(), build(&spec()).unwrap());
}
