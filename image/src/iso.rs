//! Writes the hybrid ISO: ISO 9660 (Rock Ridge + Joliet) with an El Torito
//! EFI boot entry pointing at the ESP image, and a GPT whose EFI System
//! Partition is that same image, so one file boots as a CD and, written to
//! a USB stick, as a disk.
//!
//! Drives Debian's `xorriso` (libisofs) rather than a hand-written ISO 9660
//! writer: it is the tool Debian's own installer images are made with.
//! `-e IMG -no-emul-boot` + `-efi-boot-part --efi-boot-image` is the
//! combination measured to boot both ways (see PLATFORM.md; the
//! `-isohybrid-gpt-basdat` route writes no partition table without an
//! isolinux MBR). Reproducible: `SOURCE_DATE_EPOCH` fixes the volume dates
//! and UUID (from which libisofs derives the GPT GUIDs) and
//! `--set_all_file_dates` replaces every file's timestamps.

use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

/// What goes into the ISO.
#[derive(Debug, Clone)]
pub struct IsoSpec {
    /// ISO 9660 volume label (the installer looks for `OUTPOST`).
    pub volume_label: String,
    /// Files as `(path inside the ISO, host path)`.
    pub files: Vec<(String, PathBuf)>,
    /// Path inside the ISO of the El Torito EFI image; must be one of `files`.
    pub efi_image: String,
    /// Timestamp for the volume and every file (Unix seconds).
    pub epoch: u64,
}

/// Builds `output` from `spec` with xorriso; the old file is replaced.
pub fn build(spec: &IsoSpec, output: &Path) -> io::Result<()> {
    if !spec.files.iter().any(|(p, _)| p == &spec.efi_image) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("EFI image {} is not among the ISO's files", spec.efi_image),
        ));
    }
    if output.exists() {
        std::fs::remove_file(output)?;
    }
    let mut cmd = Command::new("xorriso");
    cmd.env("SOURCE_DATE_EPOCH", spec.epoch.to_string())
        .env("TZ", "UTC")
        .args(["-as", "mkisofs", "-quiet", "-o"])
        .arg(output)
        .args(["-V", &spec.volume_label, "-r", "-J", "-joliet-long"])
        .args(["--set_all_file_dates", &gmt_date(spec.epoch)])
        .args(["-graft-points", "-e", &spec.efi_image, "-no-emul-boot"])
        .args(["-efi-boot-part", "--efi-boot-image"]);
    let mut files = spec.files.clone();
    files.sort();
    for (iso, host) in &files {
        let mut arg = std::ffi::OsString::from(format!("{}=", iso.trim_start_matches('/')));
        arg.push(host);
        cmd.arg(arg);
    }
    let out = cmd.output().map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("running xorriso (Debian package xorriso): {e}"),
        )
    })?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "xorriso failed with {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(())
}

/// `=SECONDS` is libisofs' "seconds since 1970" date syntax.
fn gmt_date(epoch: u64) -> String {
    format!("={epoch}")
}
