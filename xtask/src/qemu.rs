//! QEMU runner shared by the smoke test and the end-to-end scenarios.
//!
//! [`Vm`] is a builder for one x86-64 UEFI guest (OVMF via `-bios`,
//! `-accel tcg` and `-nic none` unless asked otherwise: PLATFORM.md
//! explains why); [`Running`] watches its serial console, written to a
//! file under `target/outpost/e2e/`, and is killed by PID when dropped,
//! so a failed assertion never leaves a QEMU behind. Every wait has a
//! timeout.
//!
//! ```ignore
//! let mut vm = Vm::new("install")
//!     .memory_mb(2048)
//!     .cdrom(&iso, Some(1))
//!     .disk(&target_disk, Bus::Virtio, Some(0))
//!     .hostfwd(12525, 25)
//!     .spawn()?;
//! vm.wait_for("outpost-installer", Duration::from_secs(300))?;
//! vm.wait_exit(Duration::from_secs(1800))?; // the installer powers off
//! ```

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::e2e::E2eArgs;

/// Firmware image (Debian package `ovmf`).
pub const OVMF: &str = "/usr/share/ovmf/OVMF.fd";

/// How a disk image is attached.
#[allow(
    dead_code,
    reason = "runner API for the e2e scenarios; the smoke test uses part of it"
)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bus {
    /// virtio-blk (`vda`).
    Virtio,
    /// SATA on the q35 AHCI controller (`sda`).
    Sata,
    /// NVMe (`nvme0n1`).
    Nvme,
    /// A USB stick on an xHCI controller (`sda`, removable).
    Usb,
}

#[derive(Debug, Clone)]
struct Drive {
    path: PathBuf,
    bus: Bus,
    cdrom: bool,
    readonly: bool,
    bootindex: Option<u32>,
}

/// A guest to start.
#[derive(Debug, Clone)]
pub struct Vm {
    name: String,
    memory_mb: u32,
    cpus: u32,
    drives: Vec<Drive>,
    hostfwd: Vec<(u16, u16)>,
    no_reboot: bool,
    extra: Vec<String>,
    log_dir: PathBuf,
}

#[allow(
    dead_code,
    reason = "runner API for the e2e scenarios; the smoke test uses part of it"
)]
impl Vm {
    /// A guest named `name` (its serial log is `target/outpost/e2e/<name>.serial.log`).
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            memory_mb: 1536,
            cpus: 1,
            drives: Vec::new(),
            hostfwd: Vec::new(),
            no_reboot: true,
            extra: Vec::new(),
            log_dir: crate::ci::root().join("target/outpost/e2e"),
        }
    }

    /// Guest memory.
    pub fn memory_mb(mut self, mb: u32) -> Self {
        self.memory_mb = mb;
        self
    }

    /// Virtual CPUs (TCG runs one host thread per vCPU).
    pub fn cpus(mut self, n: u32) -> Self {
        self.cpus = n;
        self
    }

    /// Attaches an ISO as a SATA CD-ROM; `bootindex` orders boot devices
    /// (lowest first).
    pub fn cdrom(mut self, iso: &Path, bootindex: Option<u32>) -> Self {
        self.drives.push(Drive {
            path: iso.to_path_buf(),
            bus: Bus::Sata,
            cdrom: true,
            readonly: true,
            bootindex,
        });
        self
    }

    /// Attaches a raw disk image, writable.
    pub fn disk(mut self, image: &Path, bus: Bus, bootindex: Option<u32>) -> Self {
        self.drives.push(Drive {
            path: image.to_path_buf(),
            bus,
            cdrom: false,
            readonly: false,
            bootindex,
        });
        self
    }

    /// Attaches a raw disk image read-only (e.g. the ISO as a USB stick).
    pub fn disk_readonly(mut self, image: &Path, bus: Bus, bootindex: Option<u32>) -> Self {
        self.drives.push(Drive {
            path: image.to_path_buf(),
            bus,
            cdrom: false,
            readonly: true,
            bootindex,
        });
        self
    }

    /// Forwards `127.0.0.1:host` to the guest's `guest` TCP port (adds a
    /// user-mode NIC; without any forward the guest has no network).
    pub fn hostfwd(mut self, host: u16, guest: u16) -> Self {
        self.hostfwd.push((host, guest));
        self
    }

    /// Whether a guest reboot ends QEMU (default `true`: `-no-reboot`).
    /// Set `false` to follow an installer's reboot into the installed system.
    pub fn no_reboot(mut self, yes: bool) -> Self {
        self.no_reboot = yes;
        self
    }

    /// Extra raw QEMU arguments.
    pub fn arg(mut self, a: &str) -> Self {
        self.extra.push(a.to_owned());
        self
    }

    /// The QEMU command line (for logs and tests).
    pub fn command(&self, serial: &Path) -> Command {
        let mut c = Command::new("qemu-system-x86_64");
        c.args(["-machine", "q35", "-accel", "tcg", "-bios", OVMF])
            .args(["-m", &self.memory_mb.to_string()])
            .args(["-smp", &self.cpus.to_string()])
            .args(["-display", "none", "-monitor", "none", "-vga", "none"])
            .arg("-serial")
            .arg(format!("file:{}", serial.display()));
        if self.no_reboot {
            c.arg("-no-reboot");
        }
        if self.hostfwd.is_empty() {
            c.args(["-nic", "none"]);
        } else {
            let fwd: Vec<String> = self
                .hostfwd
                .iter()
                .map(|(h, g)| format!("hostfwd=tcp:127.0.0.1:{h}-:{g}"))
                .collect();
            // No `boot` ROM on the NIC: a failed disk boot must not fall back
            // to PXE/HTTP boot and waste minutes. `-nic` takes no `romfile=`
            // (QEMU rejects it), so the netdev and the device are separate.
            // `restrict=on`: only the forwarded ports; nothing (DNS included)
            // leaves the host.
            c.args([
                "-netdev",
                &format!("user,id=n0,restrict=on,{}", fwd.join(",")),
                "-device",
                "virtio-net-pci,netdev=n0,romfile=",
            ]);
        }
        let mut usb = false;
        for (i, d) in self.drives.iter().enumerate() {
            let id = format!("d{i}");
            let ro = if d.readonly { ",readonly=on" } else { "" };
            let media = if d.cdrom { ",media=cdrom" } else { "" };
            c.arg("-drive").arg(format!(
                "if=none,id={id},format=raw,file={}{ro}{media}",
                d.path.display()
            ));
            let boot = d
                .bootindex
                .map(|b| format!(",bootindex={b}"))
                .unwrap_or_default();
            let dev = match (d.bus, d.cdrom) {
                (_, true) => format!("ide-cd,drive={id}{boot}"),
                (Bus::Virtio, _) => format!("virtio-blk-pci,drive={id}{boot}"),
                (Bus::Sata, _) => format!("ide-hd,drive={id}{boot}"),
                (Bus::Nvme, _) => format!("nvme,drive={id},serial=outpost{i}{boot}"),
                (Bus::Usb, _) => {
                    if !usb {
                        c.args(["-device", "qemu-xhci,id=xhci"]);
                        usb = true;
                    }
                    format!("usb-storage,bus=xhci.0,drive={id},removable=on{boot}")
                }
            };
            c.args(["-device", &dev]);
        }
        c.args(&self.extra);
        c
    }

    /// Starts the guest.
    pub fn spawn(self) -> Result<Running> {
        crate::iso::ensure_tool("qemu-system-x86_64", "qemu-system-x86")?;
        if !Path::new(OVMF).exists() {
            crate::iso::ensure_tool("__ovmf_missing__", "ovmf")?;
        }
        std::fs::create_dir_all(&self.log_dir)?;
        let serial = self.log_dir.join(format!("{}.serial.log", self.name));
        let _ = std::fs::remove_file(&serial);
        std::fs::write(&serial, b"")?;
        let mut cmd = self.command(&serial);
        let stderr = std::fs::File::create(self.log_dir.join(format!("{}.qemu.log", self.name)))?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .context("starting qemu-system-x86_64")?;
        Ok(Running {
            name: self.name,
            child,
            serial,
            started: Instant::now(),
        })
    }
}

/// Kernel messages that say the guest kernel itself got stuck (RCU stalls,
/// lockups, hung tasks, oopses): at most the first 12 such lines.
pub fn kernel_warnings(serial: &str) -> Vec<String> {
    const SIGNS: &[&str] = &[
        "rcu: INFO:",
        "detected stall",
        "kthread starved",
        "timer wakeup didn't happen",
        "soft lockup",
        "hard LOCKUP",
        "blocked for more than",
        "BUG:",
        "Oops:",
        "Kernel panic",
    ];
    serial
        .lines()
        .filter(|l| SIGNS.iter().any(|s| l.contains(s)))
        .take(12)
        .map(str::to_owned)
        .collect()
}

/// Whether the guest kernel reported an RCU stall: under TCG a vCPU thread
/// starved by a loaded host delays the guest's timer interrupts until RCU
/// gives up waiting, which is a property of the emulator's host, not of the
/// system under test.
pub fn guest_rcu_stall(serial: &str) -> bool {
    kernel_warnings(serial).iter().any(|l| {
        l.contains("rcu: INFO:")
            || l.contains("detected stall")
            || l.contains("kthread starved")
            || l.contains("timer wakeup didn't happen")
    })
}

/// A running guest; killed (by PID) when dropped.
#[derive(Debug)]
pub struct Running {
    name: String,
    child: Child,
    serial: PathBuf,
    started: Instant,
}

#[allow(
    dead_code,
    reason = "runner API for the e2e scenarios; the smoke test uses part of it"
)]
impl Running {
    /// Everything the guest wrote to its serial console so far.
    pub fn serial(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(&self.serial).unwrap_or_default()).into_owned()
    }

    /// The serial log's path.
    pub fn serial_path(&self) -> &Path {
        &self.serial
    }

    /// Time since start.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    fn tail(&self) -> String {
        let s = self.serial();
        let lines: Vec<&str> = s.lines().collect();
        let tail = lines[lines.len().saturating_sub(20)..].join("\n");
        let warnings = kernel_warnings(&s);
        if warnings.is_empty() {
            tail
        } else {
            // A stack dump fills the tail; the kernel's own verdict lines say
            // what happened.
            format!("kernel warnings:\n{}\n[…]\n{tail}", warnings.join("\n"))
        }
    }

    /// Waits until `pattern` appears on the serial console; returns the
    /// time since start. Fails on timeout or if QEMU exits first.
    pub fn wait_for(&mut self, pattern: &str, timeout: Duration) -> Result<Duration> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.serial().contains(pattern) {
                return Ok(self.started.elapsed());
            }
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "{}: QEMU exited ({status}) before {pattern:?} appeared; serial tail:\n{}",
                    self.name,
                    self.tail()
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "{}: no {pattern:?} on the serial console within {timeout:?}; tail:\n{}",
                    self.name,
                    self.tail()
                );
            }
            sleep(Duration::from_millis(250));
        }
    }

    /// Waits for QEMU to exit (guest power-off, or reboot with
    /// `no_reboot(true)`).
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            if Instant::now() > deadline {
                bail!(
                    "{}: still running after {timeout:?}; serial tail:\n{}",
                    self.name,
                    self.tail()
                );
            }
            sleep(Duration::from_millis(250));
        }
    }

    /// Kills the guest now.
    pub fn kill(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.kill();
    }
}

/// What the smoke test waits for: the installer's first console line.
pub const INSTALLER_MARKER: &str = "outpost-installer ";

/// Boots the ISO as a CD and as a raw (USB) disk, in parallel, and waits for
/// the installer's first line on each serial console.
pub fn smoke(_args: &E2eArgs) -> Result<()> {
    let iso = std::env::var_os("OUTPOST_ISO")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::ci::root().join("target/outpost/outpost.iso"));
    if !iso.exists() {
        bail!(
            "{} does not exist: run `cargo xtask iso` first",
            iso.display()
        );
    }
    let timeout = Duration::from_secs(
        std::env::var("OUTPOST_SMOKE_TIMEOUT")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(300),
    );
    let mut cd = Vm::new("smoke-cd").cdrom(&iso, Some(0)).spawn()?;
    let mut disk = Vm::new("smoke-disk")
        .disk_readonly(&iso, Bus::Usb, Some(0))
        .spawn()?;
    let mut failures = Vec::new();
    for (what, vm) in [("CD", &mut cd), ("disk (USB stick)", &mut disk)] {
        match vm.wait_for(INSTALLER_MARKER, timeout) {
            Ok(t) => println!(
                "ok      ISO as {what}: installer on the console after {:.1}s",
                t.as_secs_f64()
            ),
            Err(e) => {
                println!("FAILED  ISO as {what}: {e:#}");
                failures.push(what);
            }
        }
        vm.kill();
    }
    if !failures.is_empty() {
        bail!("smoke test failed for: {}", failures.join(", "));
    }
    println!("smoke: both boots reached the installer");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Linux 6.1's own wording, as a TCG guest prints it.
    const STALL: &str = "[  12.0] systemd[1]: Starting foo...\n\
        [ 408.5] rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:\n\
        [ 408.5] rcu: rcu_preempt kthread timer wakeup didn't happen for 2501 jiffies! g1 f0x0\n\
        [ 408.5] rcu: rcu_preempt kthread starved for 2502 jiffies!\n\
        [ 408.5]  </IRQ>\n";

    #[test]
    fn an_rcu_stall_is_recognised_and_reported_first() {
        assert!(guest_rcu_stall(STALL));
        let w = kernel_warnings(STALL);
        assert_eq!(w.len(), 3, "{w:?}");
        assert!(w[0].contains("detected stalls"));
    }

    #[test]
    fn other_kernel_trouble_is_reported_but_is_no_stall() {
        let s = "[ 130.1] INFO: task systemd:1 blocked for more than 120 seconds.\n\
                 [ 150.2] watchdog: BUG: soft lockup - CPU#0 stuck for 22s!\n\
                 Failed to start outpost-imapd.service\n";
        assert!(!guest_rcu_stall(s));
        assert_eq!(kernel_warnings(s).len(), 2);
        assert!(kernel_warnings("outpost: boot finished, system running\n").is_empty());
        // "rcu:" lines of a healthy boot are no warning.
        assert!(!guest_rcu_stall(
            "[ 0.17] rcu: Preemptible hierarchical RCU implementation.\n"
        ));
    }
}
