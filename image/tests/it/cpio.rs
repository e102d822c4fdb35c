//! The newc writer, read back by GNU cpio.

use std::process::Command;

use outpost_image::cpio::Archive;

use crate::{text, tmp, tool, write};

fn sample() -> Archive {
    let mut a = Archive::new(1_700_000_000);
    a.file("init", 0o755, b"#!/bin/sh\necho hi\n".to_vec());
    a.file("usr/bin/tool", 0o755, vec![0u8; 5]);
    a.symlink("bin", "usr/bin");
    a.char_device("dev/console", 0o600, 5, 1);
    a.dir("empty", 0o700);
    a
}

#[test]
fn gnu_cpio_lists_every_entry_sorted() {
    let dir = tmp();
    let path = write(dir.path(), "a.cpio", &sample().to_bytes());
    let list = text(
        Command::new("cpio")
            .args(["-t", "--quiet", "-F"])
            .arg(&path),
    );
    assert_eq!(
        list.lines().collect::<Vec<_>>(),
        [
            "bin",
            "dev",
            "dev/console",
            "empty",
            "init",
            "usr",
            "usr/bin",
            "usr/bin/tool"
        ]
    );
}

#[test]
fn gnu_cpio_sees_root_owner_modes_and_device() {
    let dir = tmp();
    let path = write(dir.path(), "a.cpio", &sample().to_bytes());
    let list = text(
        Command::new("cpio")
            .args(["-t", "-v", "--numeric-uid-gid", "--quiet", "-F"])
            .arg(&path),
    );
    let line = |name: &str| {
        list.lines()
            .find(|l| l.ends_with(name))
            .unwrap_or_else(|| panic!("{name} missing in:\n{list}"))
            .to_owned()
    };
    assert!(
        line(" init").starts_with("-rwxr-xr-x   1 0        0"),
        "{list}"
    );
    assert!(line(" dev/console").starts_with("crw-------"), "{list}");
    assert!(line(" bin -> usr/bin").starts_with("lrwxrwxrwx"), "{list}");
    assert!(line(" empty").starts_with("drwx------"), "{list}");
}

#[test]
fn gnu_cpio_extracts_the_same_bytes() {
    let dir = tmp();
    let path = write(dir.path(), "a.cpio", &sample().to_bytes());
    let out = dir.path().join("x");
    std::fs::create_dir(&out).unwrap();
    tool(
        Command::new("cpio")
            .current_dir(&out)
            .args(["-i", "--quiet", "--no-absolute-filenames", "-F"])
            .arg(&path)
            // Device nodes need privileges the test should not rely on.
            .arg("--nonmatching")
            .arg("dev/console"),
    );
    assert_eq!(
        std::fs::read(out.join("init")).unwrap(),
        b"#!/bin/sh\necho hi\n"
    );
    assert_eq!(std::fs::read(out.join("bin/tool")).unwrap(), vec![0u8; 5]);
}
