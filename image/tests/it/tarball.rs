//! The payload packer, checked by zstd and GNU tar.

use std::os::unix::fs::symlink;
use std::process::Command;

use outpost_image::tarball::{PackOptions, pack_dir};

use crate::{text, tmp, tool};

fn tree(root: &std::path::Path) {
    std::fs::create_dir_all(root.join("etc/sub")).unwrap();
    std::fs::create_dir_all(root.join("usr/bin")).unwrap();
    std::fs::write(root.join("etc/hostname"), "outpost\n").unwrap();
    std::fs::write(root.join("usr/bin/a"), "binary").unwrap();
    std::fs::hard_link(root.join("usr/bin/a"), root.join("usr/bin/b")).unwrap();
    symlink("usr/bin", root.join("bin")).unwrap();
}

const OPTS: PackOptions = PackOptions {
    clamp_mtime: 1_700_000_000,
    level: 3,
    workers: 2,
};

#[test]
fn zstd_and_tar_accept_the_payload() {
    let dir = tmp();
    let root = dir.path().join("root");
    tree(&root);
    let out = dir.path().join("rootfs.tar.zst");
    pack_dir(&root, std::fs::File::create(&out).unwrap(), OPTS).unwrap();
    tool(Command::new("zstd").arg("-tq").arg(&out));
    let list = text(
        Command::new("tar")
            .env("TZ", "UTC")
            .args(["--zstd", "-tv", "--numeric-owner", "--full-time", "-f"])
            .arg(&out),
    );
    let names: Vec<&str> = list
        .lines()
        .map(|l| l.split_whitespace().nth(5).unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "bin",
            "etc/",
            "etc/hostname",
            "etc/sub/",
            "usr/",
            "usr/bin/",
            "usr/bin/a",
            "usr/bin/b"
        ],
        "{list}"
    );
    assert!(list.contains("usr/bin/b link to usr/bin/a"), "{list}");
    assert!(list.contains("bin -> usr/bin"), "{list}");
    // Files made now are clamped to SOURCE_DATE_EPOCH (2023-11-14 22:13:20 UTC).
    for line in list.lines() {
        assert!(line.contains("2023-11-14 22:13:20"), "{line}");
    }
}

#[test]
fn repacking_after_touching_files_gives_identical_bytes() {
    let dir = tmp();
    let root = dir.path().join("root");
    tree(&root);
    let mut a = Vec::new();
    pack_dir(&root, &mut a, OPTS).unwrap();
    // New mtimes, same content: clamping hides them.
    std::fs::write(root.join("etc/hostname"), "outpost\n").unwrap();
    let mut b = Vec::new();
    pack_dir(&root, &mut b, OPTS).unwrap();
    assert_eq!(a, b);
}

#[test]
fn two_layers_concatenate_into_one_tar_where_the_top_wins() {
    use outpost_image::tarball::pack_layer;
    use std::collections::BTreeSet;
    let dir = tmp();
    let base = dir.path().join("base");
    tree(&base);
    let top = dir.path().join("top");
    std::fs::create_dir_all(top.join("etc")).unwrap();
    std::fs::write(top.join("etc/hostname"), "replaced\n").unwrap();
    std::fs::write(top.join("etc/new"), "new\n").unwrap();
    let out = dir.path().join("rootfs.tar.zst");
    let exclude: BTreeSet<String> = ["etc/hostname".to_owned()].into();
    pack_layer(
        &base,
        std::fs::File::create(&out).unwrap(),
        OPTS,
        &exclude,
        false,
    )
    .unwrap();
    let f = std::fs::OpenOptions::new().append(true).open(&out).unwrap();
    pack_layer(&top, f, OPTS, &BTreeSet::new(), true).unwrap();
    tool(Command::new("zstd").arg("-tq").arg(&out));
    // GNU tar without --ignore-zeros: the stream must be one archive.
    let list = text(Command::new("tar").args(["--zstd", "-tf"]).arg(&out));
    let names: Vec<&str> = list.lines().collect();
    assert_eq!(
        names,
        [
            "bin",
            "etc/",
            "etc/sub/",
            "usr/",
            "usr/bin/",
            "usr/bin/a",
            "usr/bin/b",
            "etc/",
            "etc/hostname",
            "etc/new"
        ],
        "{list}"
    );
    let x = dir.path().join("x");
    std::fs::create_dir(&x).unwrap();
    tool(
        Command::new("tar")
            .args(["--zstd", "-xf"])
            .arg(&out)
            .arg("-C")
            .arg(&x),
    );
    assert_eq!(
        std::fs::read_to_string(x.join("etc/hostname")).unwrap(),
        "replaced\n"
    );
    assert_eq!(
        std::fs::read_to_string(x.join("usr/bin/b")).unwrap(),
        "binary"
    );
}
