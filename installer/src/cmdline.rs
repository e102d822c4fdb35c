//! The kernel command line as the installer reads it (Anaconda's boot options).
//!
//! - `inst.ks=` (also legacy `ks=`) says where the answer file is:
//!   `cdrom:/path` (the install media: *any* iso9660 filesystem labelled
//!   `OUTPOST`, whether it is a CD `sr0` or a USB stick holding the hybrid
//!   image), `cdrom:DEV:/path`, `hd:LABEL=X:/path`, `hd:UUID=X:/path`,
//!   `hd:sdb1:/path` (also `/dev/sdb1`), `file:/path` (the live system).
//!   Network sources (`http:`, `nfs:`) are refused: Outpost installs offline.
//! - `inst.cmdline` never asks anything.
//! - `preserve-on-error` (also `--preserve-on-error`, `inst.preserve-on-error`)
//!   keeps a half-written disk for inspection instead of wiping it.
//! - `console=` arguments are carried over to the installed system's
//!   boot entry, so a serial console keeps working after the reboot.

use serde::Serialize;

/// Where `inst.ks=` points.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum KsSource {
    /// The install media (or a named CD device), path inside it.
    Cdrom {
        /// `cdrom:DEV:/path` names the device; usually absent.
        device: Option<String>,
        /// Absolute path inside the filesystem.
        path: String,
    },
    /// A filesystem found by label, UUID or device name, path inside it.
    Hd {
        /// `LABEL=X`, `UUID=X` or a device name (`sdb1`, `/dev/sdb1`).
        device: String,
        /// Absolute path inside the filesystem.
        path: String,
    },
    /// A file in the live system.
    File(String),
}

impl std::fmt::Display for KsSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KsSource::Cdrom { device: None, path } => write!(f, "cdrom:{path}"),
            KsSource::Cdrom {
                device: Some(d),
                path,
            } => write!(f, "cdrom:{d}:{path}"),
            KsSource::Hd { device, path } => write!(f, "hd:{device}:{path}"),
            KsSource::File(p) => write!(f, "file:{p}"),
        }
    }
}

/// Parses an `inst.ks=` value.
pub fn parse_ks_source(v: &str) -> Result<KsSource, String> {
    let bad = || format!("inst.ks={v}: expected cdrom:/PATH, hd:DEVICE:/PATH or file:/PATH");
    if let Some(rest) = v.strip_prefix("cdrom") {
        let rest = rest.strip_prefix(':').unwrap_or(rest);
        if rest.is_empty() {
            return Ok(KsSource::Cdrom {
                device: None,
                path: "/ks.cfg".into(),
            });
        }
        if rest.starts_with('/') && !rest.starts_with("/dev/") {
            return Ok(KsSource::Cdrom {
                device: None,
                path: rest.into(),
            });
        }
        let (dev, path) = rest.rsplit_once(":/").ok_or_else(bad)?;
        return Ok(KsSource::Cdrom {
            device: Some(dev.into()),
            path: format!("/{path}"),
        });
    }
    if let Some(rest) = v.strip_prefix("hd:") {
        // The device may itself contain `=` (LABEL=, UUID=) but not `:/`.
        let (dev, path) = rest.rsplit_once(":/").ok_or_else(bad)?;
        if dev.is_empty() {
            return Err(bad());
        }
        return Ok(KsSource::Hd {
            device: dev.into(),
            path: format!("/{path}"),
        });
    }
    if let Some(rest) = v.strip_prefix("file:") {
        if !rest.starts_with('/') {
            return Err(bad());
        }
        return Ok(KsSource::File(rest.into()));
    }
    for net in ["http:", "https:", "ftp:", "nfs:", "bd:"] {
        if v.starts_with(net) {
            return Err(format!(
                "inst.ks={v}: Outpost installs offline; network sources are not supported"
            ));
        }
    }
    Err(bad())
}

/// What the installer takes from `/proc/cmdline`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Cmdline {
    /// `inst.ks=` / `ks=`, parsed; `Err` keeps the message for a bad value.
    pub ks: Option<Result<KsSource, String>>,
    /// `inst.cmdline`: never prompt.
    pub cmdline_mode: bool,
    /// Keep a failed install's disks as they are.
    pub preserve_on_error: bool,
    /// `console=` arguments, in order.
    pub consoles: Vec<String>,
}

/// Parses a kernel command line (whitespace-separated, `"…"` quoting as the kernel does).
pub fn parse(line: &str) -> Cmdline {
    let mut c = Cmdline::default();
    for arg in split(line) {
        let (key, val) = match arg.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (arg.as_str(), None),
        };
        match (key, val) {
            ("inst.ks" | "ks", Some(v)) => c.ks = Some(parse_ks_source(v)),
            ("inst.ks" | "ks", None) => {
                c.ks = Some(Ok(KsSource::Cdrom {
                    device: None,
                    path: "/ks.cfg".into(),
                }))
            }
            ("inst.cmdline", _) => c.cmdline_mode = true,
            ("preserve-on-error" | "--preserve-on-error" | "inst.preserve-on-error", _) => {
                c.preserve_on_error = true
            }
            ("console", Some(_)) => c.consoles.push(arg.clone()),
            _ => {}
        }
    }
    c
}

/// Splits like the kernel: spaces separate, double quotes group.
fn split(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for ch in line.chars() {
        match ch {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ks_sources() {
        let cd = |d: Option<&str>, p: &str| KsSource::Cdrom {
            device: d.map(Into::into),
            path: p.into(),
        };
        let hd = |d: &str, p: &str| KsSource::Hd {
            device: d.into(),
            path: p.into(),
        };
        for (input, want) in [
            ("cdrom:/ks/outpost.ks", Ok(cd(None, "/ks/outpost.ks"))),
            ("cdrom", Ok(cd(None, "/ks.cfg"))),
            ("cdrom:sr0:/ks.cfg", Ok(cd(Some("sr0"), "/ks.cfg"))),
            (
                "cdrom:/dev/sr1:/a/ks.cfg",
                Ok(cd(Some("/dev/sr1"), "/a/ks.cfg")),
            ),
            ("hd:LABEL=KS:/ks.cfg", Ok(hd("LABEL=KS", "/ks.cfg"))),
            (
                "hd:UUID=1234-ABCD:/dir/ks.cfg",
                Ok(hd("UUID=1234-ABCD", "/dir/ks.cfg")),
            ),
            ("hd:sdb1:/ks.cfg", Ok(hd("sdb1", "/ks.cfg"))),
            ("hd:/dev/sdb1:/ks.cfg", Ok(hd("/dev/sdb1", "/ks.cfg"))),
            ("file:/ks.cfg", Ok(KsSource::File("/ks.cfg".into()))),
        ] {
            assert_eq!(parse_ks_source(input), want, "{input}");
        }
        for (input, want) in [
            ("http://x/ks.cfg", "network sources are not supported"),
            ("hd:sdb1", "expected cdrom:"),
            ("file:ks.cfg", "expected cdrom:"),
            ("floppy", "expected cdrom:"),
        ] {
            let e = parse_ks_source(input).unwrap_err();
            assert!(e.contains(want), "{input}: {e}");
        }
    }

    #[test]
    fn cmdline() {
        let c = parse(
            "BOOT_IMAGE=/vmlinuz inst.ks=cdrom:/ks/outpost.ks console=tty0 console=ttyS0,115200 inst.cmdline \
             preserve-on-error quiet x=\"a b\"",
        );
        assert_eq!(
            c.ks,
            Some(Ok(KsSource::Cdrom {
                device: None,
                path: "/ks/outpost.ks".into()
            }))
        );
        assert!(c.cmdline_mode && c.preserve_on_error);
        assert_eq!(c.consoles, ["console=tty0", "console=ttyS0,115200"]);
        assert_eq!(parse("ro quiet"), Cmdline::default());
    }
}
