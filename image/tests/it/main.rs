//! Integration tests of `outpost-image`: every writer's output is checked
//! by an independent tool from Debian (cpio, fsck.fat/mtools, tar/zstd,
//! xorriso/isoinfo/7z/sgdisk/sfdisk). The tools are listed in
//! `ci/packages.txt`; a missing tool fails the test, it never skips.

mod cpio;
mod esp;
mod iso;
mod tarball;

use std::path::Path;
use std::process::{Command, Output};

/// Runs a tool and returns its output; panics (naming the tool) when it is
/// missing or fails.
pub fn tool(cmd: &mut Command) -> Output {
    let what = format!("{cmd:?}");
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run ({e}); install it with `cargo xtask deps`"));
    assert!(
        out.status.success(),
        "{what} failed with {}:\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Stdout of a tool as text.
pub fn text(cmd: &mut Command) -> String {
    String::from_utf8_lossy(&tool(cmd).stdout).into_owned()
}

/// A fresh temporary directory.
pub fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// Writes `data` to `dir/name` and returns the path.
pub fn write(dir: &Path, name: &str, data: &[u8]) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, data).unwrap();
    p
}
