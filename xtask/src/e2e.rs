//! `cargo xtask e2e`: the installer end to end in QEMU (OVMF, TCG).
//!
//! Five scenarios, each its own check with a `ok`/`FAILED` line and a final
//! `N passed, N failed`:
//! 1. **default**: the ISO's own answer file (`inst.ks=cdrom:/ks/outpost.ks`)
//!    onto one blank 8 GiB disk; then the installed disk boots alone and is
//!    checked from outside: the boot finished with no failed unit (decided
//!    inside the guest: outpost-ready.service prints the result of
//!    `systemctl is-system-running --wait` on the console), the login prompt shows the
//!    answer file's host name, SMTP answers through a loopback-forwarded
//!    port, and offline (`sfdisk`, `debugfs`) the GPT, fstab, Outpost
//!    layout, modes and install log are right. The answer file holds no
//!    password: the first boot prints admin's generated one on the serial
//!    console once, and the disk must hold the same one, root-only, in
//!    `/var/lib/outpost/initial-passwords` (#24).
//! 2. **two-disks**: explicit `part` lines over two disks with
//!    `ignoredisk --only-use`, from an `OEMDRV` stick; a third disk must stay
//!    byte-identical; the `%post` marker must exist; the installed system boots.
//! 3. **refuse-existing**: a disk holding an ext4 filesystem and an answer
//!    file without `clearpart`: the installer refuses, naming the option,
//!    and the disk is byte-identical afterwards.
//! 4. **invalid-oemdrv**: an invalid answer file on an `OEMDRV` stick: a
//!    clear error (`file:line:col`) on the console and nothing written.
//! 5. **oemdrv-partition** (issue 10, #22): the ISO's default answer file
//!    (`zerombr`, `clearpart --all`, `autopart`) on the FAT `OEMDRV`
//!    partition of a USB stick that has a DOS partition table, with a 3 GiB
//!    data disk (GPT, one ext4 partition) and a blank 8 GiB disk attached.
//!    The stick must stay byte-identical and be listed as untouched with the
//!    reason; the layout goes onto the blank (largest) disk; `clearpart --all`
//!    leaves the data disk an empty GPT, as in Anaconda; the installed disk
//!    boots alone.
//!
//! Serial logs are kept under `target/outpost/e2e/`; so are the disk images
//! of a scenario that failed. A passed scenario's images (gigabytes once
//! installed) are deleted unless `--keep-images`: five installs side by side
//! fill a CI machine's disk.
//! Only loopback ports are forwarded. Every wait is bounded. A failure
//! report leads with the guest kernel's own warning lines (RCU stalls,
//! lockups, hung tasks, oopses) before the console's tail. An installed
//! disk whose boot hangs with a guest kernel RCU stall (a TCG vCPU starved
//! by a loaded host) is booted once more, and the report says so; any
//! other failure, or a second stall, fails the scenario.

use crate::qemu::{Bus, Running, Vm};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Arguments of `cargo xtask e2e`.
#[derive(Debug, clap::Args)]
pub struct E2eArgs {
    /// Only boot the ISO (as CD and as disk) and see the installer's first line.
    #[arg(long)]
    pub smoke: bool,
    /// The ISO to test (default: target/outpost/outpost.iso, built if missing).
    #[arg(long, value_name = "PATH")]
    pub iso: Option<PathBuf>,
    /// Run only these scenarios (1-5; repeatable).
    #[arg(long = "only", value_name = "N")]
    pub only: Vec<u32>,
    /// Keep the disk images of passed scenarios (failed ones are always kept).
    #[arg(long)]
    pub keep_images: bool,
}

const MIB: u64 = 1024 * 1024;

fn work_dir() -> PathBuf {
    crate::ci::root().join("target/outpost/e2e")
}

fn timeout(var: &str, default_s: u64) -> Duration {
    Duration::from_secs(
        std::env::var(var)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(default_s),
    )
}

/// Deletes scenario `n`'s disk images (`s<n>-*.img`), keeping its logs.
/// Returns the bytes the images held on disk.
fn remove_images(n: u32) -> u64 {
    let prefix = format!("s{n}-");
    let mut freed = 0;
    let Ok(entries) = std::fs::read_dir(work_dir()) else {
        return 0;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(&prefix) && name.ends_with(".img") {
            use std::os::unix::fs::MetadataExt;
            let used = e.metadata().map(|m| m.blocks() * 512).unwrap_or(0);
            if std::fs::remove_file(e.path()).is_ok() {
                freed += used;
            }
        }
    }
    freed
}

/// A blank sparse disk image of `mib` MiB.
fn blank_disk(name: &str, mib: u64) -> Result<PathBuf> {
    let p = work_dir().join(name);
    let _ = std::fs::remove_file(&p);
    let f = std::fs::File::create(&p).with_context(|| format!("creating {}", p.display()))?;
    f.set_len(mib * MIB)?;
    Ok(p)
}

fn sha256_file(p: &Path) -> Result<String> {
    let out = tool(Command::new("sha256sum").arg(p))?;
    Ok(out.split_whitespace().next().unwrap_or_default().to_owned())
}

fn tool(cmd: &mut Command) -> Result<String> {
    let what = format!("{cmd:?}");
    let out = cmd
        .output()
        .with_context(|| format!("starting {what} (run `cargo xtask deps`)"))?;
    if !out.status.success() {
        bail!(
            "{what} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// An `OEMDRV`-labelled FAT stick holding `ks.cfg` (Anaconda's override).
fn oemdrv(name: &str, ks: &str) -> Result<PathBuf> {
    let img = blank_disk(name, 16)?;
    let ks_path = work_dir().join(format!("{name}.ks.cfg"));
    std::fs::write(&ks_path, ks)?;
    tool(Command::new("mkfs.vfat").args(["-n", "OEMDRV"]).arg(&img))?;
    tool(
        Command::new("mcopy")
            .arg("-i")
            .arg(&img)
            .arg(&ks_path)
            .arg("::ks.cfg"),
    )?;
    Ok(img)
}

/// `(start, size)` in bytes of every partition, from `sfdisk -J`.
fn partitions(img: &Path) -> Result<Vec<(u64, u64, String)>> {
    let out = tool(Command::new("sfdisk").arg("-J").arg(img))?;
    let v: serde_json::Value = serde_json::from_str(&out).context("parsing sfdisk -J")?;
    let ss = v["partitiontable"]["sectorsize"].as_u64().unwrap_or(512);
    let parts = v["partitiontable"]["partitions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    Ok(parts
        .iter()
        .map(|p| {
            (
                p["start"].as_u64().unwrap_or(0) * ss,
                p["size"].as_u64().unwrap_or(0) * ss,
                p["name"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect())
}

/// Runs `debugfs -R cmd` on the ext4 partition named `name` of `img`.
fn debugfs(img: &Path, part_name: &str, cmd: &str) -> Result<String> {
    let target = e2fs_target(img, part_name)?;
    tool(Command::new("debugfs").args(["-R", cmd, &target]))
}

/// The partition named `part_name` of `img` as e2fsprogs opens it: its unix
/// I/O manager takes `?offset=` after the file name.
fn e2fs_target(img: &Path, part_name: &str) -> Result<String> {
    let parts = partitions(img)?;
    let (start, _, _) = parts
        .iter()
        .find(|p| p.2 == part_name)
        .with_context(|| format!("{}: no partition named {part_name}", img.display()))?;
    Ok(format!("{}?offset={start}", img.display()))
}

/// Replays the ext4 journal of the partition named `part_name` (a guest
/// stopped without a clean shutdown leaves its last writes there). e2fsck
/// replays it and then fails to re-open the file system (`?offset=` is not
/// kept across its restart), so its exit status says nothing: the caller's
/// next debugfs read shows whether the file system is readable.
fn replay_journal(img: &Path, part_name: &str) -> Result<()> {
    let target = e2fs_target(img, part_name)?;
    Command::new("e2fsck")
        .args(["-p", "-E", "journal_only", &target])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .context("running e2fsck")?;
    Ok(())
}

fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

fn find_time(serial: &str, prefix: &str, suffix: &str) -> Option<f64> {
    serial.lines().find_map(|l| {
        let i = l.find(prefix)?;
        let rest = &l[i + prefix.len()..];
        rest.split(suffix).next()?.trim().parse().ok()
    })
}

/// Boots the installed disk(s) alone; checks the boot finished with no failed
/// unit (outpost-ready.service's console line), the login prompt
/// with `hostname`, and (if `smtp`) the SMTP greeting through a forwarded port.
/// Boots an installed disk to its login prompt; returns the notes for the
/// report and the serial console's text.
fn boot_installed(
    name: &str,
    disks: &[&Path],
    hostname: &str,
    smtp: bool,
) -> Result<(String, String)> {
    let port = free_port()?;
    let vm = |name: &str| {
        let mut vm = Vm::new(name).memory_mb(1536).cpus(2);
        for (i, d) in disks.iter().enumerate() {
            vm = vm.disk(d, Bus::Virtio, (i == 0).then_some(0));
        }
        if smtp {
            // A user-mode NIC forwarding one loopback port to the guest's SMTP port,
            // isolated (`restrict=on`: no DNS or other traffic leaves the host);
            // `romfile=` keeps iPXE out of the boot order (no network boot).
            vm = vm
                .arg("-netdev")
                .arg(&format!(
                    "user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:{port}-:25"
                ))
                .arg("-device")
                .arg("virtio-net-pci,netdev=n0,romfile=");
        }
        vm
    };
    // Readiness is decided inside the guest: outpost-ready.service prints
    // this line once `systemctl is-system-running --wait` returns, i.e. when
    // the boot's job queue is empty (a console status line of systemd's own
    // can be lost on a loaded machine; this one is written after the fact).
    const READY: &str = "outpost: boot finished, system ";
    let boot_timeout = timeout("OUTPOST_E2E_BOOT_TIMEOUT", 420);
    let mut run = vm(name).spawn()?;
    // What earlier attempts printed (a first boot prints its one-time
    // notes only once, so the checks read every attempt's console).
    let mut earlier = String::new();
    let mut retried = false;
    let t = match run.wait_for(READY, boot_timeout) {
        Ok(t) => t,
        // Once, and only when the guest kernel itself reports an RCU stall
        // (a TCG vCPU starved by the host: CI saw one boot hang with it
        // while every other boot of the same disk took 30-60 s): boot the
        // same disk again. Any other failure, or a second stall, fails.
        Err(e) if crate::qemu::guest_rcu_stall(&run.serial()) => {
            eprintln!("note: {name}: guest kernel RCU stall under TCG ({e:#}); booting once more");
            earlier = run.serial();
            run.kill();
            retried = true;
            run = vm(&format!("{name}-again")).spawn()?;
            run.wait_for(READY, boot_timeout)?
        }
        Err(e) => return Err(e),
    };
    let short = hostname.split('.').next().unwrap_or(hostname);
    run.wait_for(&format!("{short} login:"), Duration::from_secs(120))?;
    let serial = run.serial();
    let state = serial
        .lines()
        .find_map(|l| Some(l[l.find(READY)? + READY.len()..].trim().to_owned()))
        .unwrap_or_default();
    // Every unit must have started: a failed nftables, ssh or Outpost daemon fails the check.
    let mut failed: Vec<String> = serial
        .lines()
        .filter(|l| l.contains("Failed to start") || l.contains("outpost: failed unit "))
        .map(|l| l.replace("\u{1b}[0;1;39m", "").replace("\u{1b}[0m", ""))
        .collect();
    if state != "running" && failed.is_empty() {
        failed.push(format!("system state {state:?}"));
    }
    if !failed.is_empty() {
        bail!("units failed at boot: {}", failed.join(" | "));
    }
    let mut notes = format!(
        "boot finished (system {state}) after {:.1} s{}, login prompt `{short} login:`",
        t.as_secs_f64(),
        if retried {
            " (second boot: the first hit a guest RCU stall)"
        } else {
            ""
        }
    );
    if smtp {
        let banner = smtp_banner(port, &mut run)?;
        notes.push_str(&format!(", SMTP says `{}`", banner.trim()));
    }
    let serial = earlier + &run.serial();
    run.kill();
    Ok((notes, serial))
}

/// The first-boot password (#24) of `address`, as the appliance printed it
/// on the serial console.
fn console_password(serial: &str, address: &str) -> Option<String> {
    let marker = format!("outpost: initial password of {address}: ");
    serial.lines().find_map(|l| {
        let at = l.find(&marker)?;
        let pw = l[at + marker.len()..].trim();
        (!pw.is_empty()).then(|| pw.to_owned())
    })
}

fn smtp_banner(port: u16, run: &mut Running) -> Result<String> {
    use std::io::Read;
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let attempt = (|| -> Result<String> {
            let mut s = std::net::TcpStream::connect_timeout(
                &([127, 0, 0, 1], port).into(),
                Duration::from_secs(5),
            )?;
            s.set_read_timeout(Some(Duration::from_secs(10)))?;
            let mut buf = [0u8; 512];
            let n = s.read(&mut buf)?;
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            if !text.starts_with("220") {
                bail!("unexpected greeting {text:?}");
            }
            Ok(text)
        })();
        match attempt {
            Ok(t) => return Ok(t),
            Err(e) if Instant::now() > deadline => {
                bail!(
                    "no SMTP greeting on the forwarded port 25: {e:#}; serial tail:\n{}",
                    tail(&run.serial())
                )
            }
            Err(_) => std::thread::sleep(Duration::from_secs(2)),
        }
    }
}

fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    let tail = lines[lines.len().saturating_sub(25)..].join("\n");
    let warnings = crate::qemu::kernel_warnings(s);
    if warnings.is_empty() {
        tail
    } else {
        format!("kernel warnings:\n{}\n[…]\n{tail}", warnings.join("\n"))
    }
}

/// Runs the installer VM until it exits; returns (serial, wall time from the
/// installer's first line to QEMU's exit).
fn install(
    name: &str,
    iso: &Path,
    disks: &[&Path],
    oem: Option<(&Path, Bus)>,
) -> Result<(String, f64)> {
    let mut vm = Vm::new(name).memory_mb(2048).cpus(2).cdrom(iso, Some(0));
    for d in disks {
        vm = vm.disk(d, Bus::Virtio, None);
    }
    if let Some((o, bus)) = oem {
        vm = vm.disk(o, bus, None);
    }
    let mut run = vm.spawn()?;
    let t0 = run.wait_for(
        "outpost-installer ",
        timeout("OUTPOST_E2E_BOOT_TIMEOUT", 420),
    )?;
    let status = run.wait_exit(timeout("OUTPOST_E2E_INSTALL_TIMEOUT", 1500))?;
    let wall = (run.elapsed() - t0).as_secs_f64();
    let serial = run.serial();
    if !serial.contains("install finished in") {
        bail!(
            "the install did not finish (QEMU {status}); serial tail:\n{}",
            tail(&serial)
        );
    }
    Ok((serial, wall))
}

/// Waits for the installer to print `expect` (a refusal), then stops the VM.
fn expect_refusal(
    name: &str,
    iso: &Path,
    disk: &Path,
    oem: &Path,
    expect: &[&str],
) -> Result<String> {
    let mut run = Vm::new(name)
        .memory_mb(1536)
        .cpus(1)
        .cdrom(iso, Some(0))
        .disk(disk, Bus::Virtio, None)
        // The OEMDRV stick on USB, as a field tech plugs it in (usb-storage
        // enumerates late: the installer waits for the device list to settle).
        .disk(oem, Bus::Usb, None)
        .spawn()?;
    run.wait_for(
        "outpost-installer ",
        timeout("OUTPOST_E2E_BOOT_TIMEOUT", 420),
    )?;
    for e in expect {
        run.wait_for(e, Duration::from_secs(120))?;
    }
    // Give a misbehaving installer a moment to write before we look.
    run.wait_for("rescue", Duration::from_secs(60))?;
    let serial = run.serial();
    run.kill();
    if serial.contains("==> partition") {
        bail!("the installer started partitioning");
    }
    Ok(serial)
}

fn answer_file_hostname(ks: &str) -> String {
    outpost_kickstart::parse_str("outpost.ks", ks)
        .ok()
        .and_then(|p| p.kickstart.network.iter().find_map(|n| n.hostname.clone()))
        .unwrap_or_else(|| "outpost".into())
}

/// The ISO's own answer file (`/ks/outpost.ks`), extracted to `name`.
fn iso_answer_file(iso: &Path, name: &str) -> Result<String> {
    let out = work_dir().join(name);
    let _ = std::fs::remove_file(&out);
    tool(
        Command::new("xorriso")
            .args(["-osirrox", "on", "-indev"])
            .arg(iso)
            .args(["-extract", "/ks/outpost.ks"])
            .arg(&out),
    )?;
    std::fs::read_to_string(&out).context("reading the ISO's answer file")
}

/// A disk image of `mib` MiB partitioned by the `sfdisk` script `table`.
fn partitioned_disk(name: &str, mib: u64, table: &str) -> Result<PathBuf> {
    use std::io::Write;
    let img = blank_disk(name, mib)?;
    let mut child = Command::new("sfdisk")
        .arg("-q")
        .arg(&img)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .context("starting sfdisk (run `cargo xtask deps`)")?;
    child
        .stdin
        .take()
        .context("sfdisk stdin")?
        .write_all(table.as_bytes())?;
    if !child.wait()?.success() {
        bail!("sfdisk failed on {}", img.display());
    }
    Ok(img)
}

fn scenario_default(iso: &Path) -> Result<String> {
    let ks = iso_answer_file(iso, "default.ks")?;
    let host = answer_file_hostname(&ks);
    let disk = blank_disk("s1-disk.img", 8192)?;
    let (serial, wall) = install("s1-install", iso, &[&disk], None)?;
    let payload = find_time(&serial, "<== payload (", " s)").unwrap_or(f64::NAN);
    let inner = find_time(&serial, "install finished in", " s").unwrap_or(f64::NAN);
    let parts = partitions(&disk)?;
    let names: Vec<&str> = parts.iter().map(|p| p.2.as_str()).collect();
    if names.first() != Some(&"EFI System Partition") || !names.contains(&"/") {
        bail!("unexpected partitions {names:?}");
    }
    let fstab = debugfs(&disk, "/", "cat /etc/fstab")?;
    if !fstab.contains("UUID=") || !fstab.contains(" / ext4 ") {
        bail!("fstab is not by UUID: {fstab}");
    }
    let modes = debugfs(&disk, "/", "stat /var/mail/outpost.lan/admin")?;
    if !modes.contains("Mode:  0700") {
        bail!("/var/mail/outpost.lan/admin is not 0700: {modes}");
    }
    for p in [
        "/var/mail/outpost.lan/admin/.Sent/cur",
        "/var/mail/outpost.lan/admin/.Archive/new",
        "/etc/outpost/outpost.toml",
        "/var/log/outpost/install.log",
        "/var/spool/outpost/queue",
        "/var/backups/outpost",
        "/var/lib/outpost/files",
    ] {
        let out = debugfs(&disk, "/", &format!("stat {p}"))?;
        if !out.contains("Inode:") {
            bail!("{p} missing on the installed disk");
        }
    }
    if ks.contains("--password") {
        bail!("the ISO's answer file carries a password (#24)");
    }
    let (boot, serial) = boot_installed("s1-boot", &[&disk], &host, true)?;
    // #24: the password was made on this appliance, shown once on the
    // console, and kept root-only on the disk until it is changed.
    let admin = "admin@outpost.lan";
    let Some(pw) = console_password(&serial, admin) else {
        bail!(
            "no first-boot password for {admin} on the serial console; serial tail:\n{}",
            tail(&serial)
        );
    };
    let notes = "/var/lib/outpost/initial-passwords";
    // The guest was stopped, not shut down: what first boot wrote may sit
    // only in the ext4 journal, which debugfs does not read.
    replay_journal(&disk, "/")?;
    let st = debugfs(&disk, "/", &format!("stat {notes}"))?;
    if !st.contains("Mode:  0600") || !st.contains("User:     0") {
        bail!("{notes} is not 0600 root: {st}");
    }
    let text = debugfs(&disk, "/", &format!("cat {notes}"))?;
    if !text.lines().any(|l| l == format!("{admin} {pw}")) {
        bail!("{notes} does not hold the password the console showed: {text}");
    }
    let issue = debugfs(
        &disk,
        "/",
        "cat /etc/issue.d/outpost-initial-passwords.issue",
    )?;
    if !issue.contains(&pw) {
        bail!("the getty issue note does not show the password: {issue}");
    }
    Ok(format!(
        "install {wall:.0} s wall ({inner:.0} s in the installer, payload unpack {payload:.0} s); {boot}; first-boot password of {admin} on the console and in {notes} (0600)"
    ))
}

const TWO_DISKS_KS: &str = r#"# e2e scenario 2: explicit layout over two disks.
cmdline
lang en_US.UTF-8
keyboard us
timezone Etc/UTC --utc
network --bootproto=dhcp --hostname=e2e-two.outpost.lan
rootpw --plaintext e2e-root-pw
ignoredisk --only-use=vda,vdb
zerombr
clearpart --all --initlabel --drives=vda,vdb
part /boot/efi --fstype=efi --size=300 --ondisk=vda
part / --fstype=ext4 --size=2500 --grow --ondisk=vda
part /var/mail --fstype=xfs --size=500 --grow --maxsize=1500 --ondisk=vdb --label=mail
part swap --size=256 --ondisk=vdb
bootloader --timeout=1
poweroff
%post --log=/root/e2e-post.log
echo "e2e post ran" > /root/e2e-post-marker
# On the installed system, print the firewall's state to the serial console
# (a failed nftables.service is otherwise invisible from outside).
cat > /etc/systemd/system/e2e-report.service <<'UNIT'
[Unit]
Description=e2e report
After=multi-user.target nftables.service
[Service]
Type=oneshot
ExecStart=/bin/sh -c 'systemctl status nftables --no-pager -l > /dev/ttyS0 2>&1; nft list ruleset > /dev/ttyS0 2>&1; echo e2e-report-done > /dev/ttyS0'
[Install]
WantedBy=multi-user.target
UNIT
systemctl enable e2e-report.service
%end
%addon org_outpost
domain outpost.lan
user alice --password=Corr3ct-horse-battery --plaintext --fullname="Alice"
%end
"#;

fn scenario_two_disks(iso: &Path) -> Result<String> {
    let a = blank_disk("s2-vda.img", 4096)?;
    let b = blank_disk("s2-vdb.img", 2048)?;
    let c = blank_disk("s2-vdc.img", 1024)?;
    let c_sum = sha256_file(&c)?;
    let oem = oemdrv("s2-oemdrv.img", TWO_DISKS_KS)?;
    let (_serial, wall) = install("s2-install", iso, &[&a, &b, &c], Some((&oem, Bus::Virtio)))?;
    if sha256_file(&c)? != c_sum {
        bail!("vdc (not in --only-use) was modified");
    }
    let pa: Vec<(u64, String)> = partitions(&a)?
        .into_iter()
        .map(|p| (p.1 / MIB, p.2))
        .collect();
    let pb: Vec<(u64, String)> = partitions(&b)?
        .into_iter()
        .map(|p| (p.1 / MIB, p.2))
        .collect();
    // vda: ESP 300 + / growing into the rest (4096 - 2 - 300); vdb: /var/mail capped at 1500, swap 256.
    let want_a = vec![
        (300, "EFI System Partition".to_owned()),
        (3794, "/".to_owned()),
    ];
    let want_b = vec![(1500, "/var/mail".to_owned()), (256, "swap".to_owned())];
    if pa != want_a || pb != want_b {
        bail!("partitions: vda {pa:?} (want {want_a:?}), vdb {pb:?} (want {want_b:?})");
    }
    let marker = debugfs(&a, "/", "cat /root/e2e-post-marker")?;
    if !marker.contains("e2e post ran") {
        bail!("the %post marker is missing");
    }
    let fstab = debugfs(&a, "/", "cat /etc/fstab")?;
    if !fstab.contains(" /var/mail xfs ") {
        bail!("fstab has no /var/mail xfs line: {fstab}");
    }
    let (boot, _) = boot_installed("s2-boot", &[&a, &b], "e2e-two.outpost.lan", false)?;
    Ok(format!(
        "install {wall:.0} s wall; vdc untouched; %post marker present; {boot}"
    ))
}

const NO_CLEARPART_KS: &str = "cmdline\nrootpw --lock\nautopart --type=plain\npoweroff\n";

fn scenario_refuse(iso: &Path) -> Result<String> {
    let disk = blank_disk("s3-disk.img", 3072)?;
    tool(
        Command::new("mkfs.ext4")
            .args(["-q", "-F", "-L", "precious"])
            .arg(&disk),
    )?;
    let before = sha256_file(&disk)?;
    let oem = oemdrv("s3-oemdrv.img", NO_CLEARPART_KS)?;
    expect_refusal(
        "s3-refuse",
        iso,
        &disk,
        &oem,
        &["refusing to overwrite", "clearpart --all"],
    )?;
    if sha256_file(&disk)? != before {
        bail!("the disk changed although the installer refused");
    }
    Ok("refused naming `clearpart --all`; disk byte-identical".into())
}

const INVALID_KS: &str =
    "cmdline\nautopart --type=plain\npart / --size=lots\nfrobnicate --now\npoweroff\n";

fn scenario_invalid(iso: &Path) -> Result<String> {
    let disk = blank_disk("s4-disk.img", 1024)?;
    let before = sha256_file(&disk)?;
    let oem = oemdrv("s4-oemdrv.img", INVALID_KS)?;
    let serial = expect_refusal(
        "s4-invalid",
        iso,
        &disk,
        &oem,
        &["is invalid", "nothing was written"],
    )?;
    if !serial.contains("ks.cfg:3:") {
        bail!(
            "the error does not point at ks.cfg line 3; serial tail:\n{}",
            tail(&serial)
        );
    }
    if sha256_file(&disk)? != before {
        bail!("the disk changed although the answer file was invalid");
    }
    Ok("clear `ks.cfg:LINE:COL: error` on the console; nothing written".into())
}

fn scenario_oemdrv_partition(iso: &Path) -> Result<String> {
    let ks = iso_answer_file(iso, "s5-default.ks")?;
    let host = answer_file_hostname(&ks);
    // The stick: a DOS table, partition 1 (from 1 MiB) FAT labelled OEMDRV
    // holding the default answer file as ks.cfg.
    let stick = partitioned_disk("s5-stick.img", 64, "label: dos\nstart=2048, type=c\n")?;
    tool(
        Command::new("mkfs.vfat")
            .args(["-n", "OEMDRV", "--offset", "2048"])
            .arg(&stick)
            .arg((63 * 1024).to_string()),
    )?;
    let ks_path = work_dir().join("s5-ks.cfg");
    std::fs::write(&ks_path, &ks)?;
    tool(
        Command::new("mcopy")
            .arg("-i")
            .arg(format!("{}@@{MIB}", stick.display()))
            .arg(&ks_path)
            .arg("::ks.cfg"),
    )?;
    // The data disk: GPT, one Linux partition holding ext4.
    let data = partitioned_disk(
        "s5-data.img",
        3072,
        "label: gpt\nstart=2048, size=262144, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4\n",
    )?;
    tool(
        Command::new("mkfs.ext4")
            .args(["-q", "-F", "-L", "precious", "-E", "offset=1048576"])
            .arg(&data)
            .arg("128M"),
    )?;
    let blank = blank_disk("s5-blank.img", 8192)?;
    let stick_sum = sha256_file(&stick)?;
    // vda = data, vdb = blank, sda = the stick on USB (it sorts first).
    let (serial, wall) = install(
        "s5-install",
        iso,
        &[&data, &blank],
        Some((&stick, Bus::Usb)),
    )?;
    if sha256_file(&stick)? != stick_sum {
        bail!("the OEMDRV stick was modified");
    }
    for want in [
        "answer file: ks.cfg on the OEMDRV device /dev/sda1",
        "untouched (the answer file was read from /dev/sda1",
        "note: autopart: vdb holds the whole layout",
    ] {
        if !serial.contains(want) {
            bail!("the serial log lacks `{want}`; tail:\n{}", tail(&serial));
        }
    }
    let pd = partitions(&data)?;
    if !pd.is_empty() {
        bail!("the data disk should be an empty GPT after clearpart --all, has {pd:?}");
    }
    let names: Vec<String> = partitions(&blank)?.into_iter().map(|p| p.2).collect();
    if names.first().map(String::as_str) != Some("EFI System Partition")
        || !names.iter().any(|n| n == "/")
    {
        bail!("unexpected partitions on the blank disk: {names:?}");
    }
    let (boot, _) = boot_installed("s5-boot", &[&blank], &host, false)?;
    Ok(format!(
        "install {wall:.0} s wall; stick byte-identical and listed untouched; layout on vdb, \
         vda cleared; {boot}"
    ))
}

type Scenario = fn(&Path) -> Result<String>;

/// Runs scenario `n`; when it passes, deletes its disk images (unless
/// `keep`) and says how much that freed.
fn run_one<'a>(
    n: u32,
    desc: &'a str,
    f: Scenario,
    iso: &Path,
    keep: bool,
) -> (u32, &'a str, Result<String>, f64) {
    let t = Instant::now();
    let mut r = f(iso);
    if !keep && let Ok(notes) = &mut r {
        let freed = remove_images(n);
        notes.push_str(&format!("; images deleted ({} MiB freed)", freed / MIB));
    }
    (n, desc, r, t.elapsed().as_secs_f64())
}

pub fn run(args: E2eArgs) -> Result<()> {
    if args.smoke {
        return crate::qemu::smoke(&args);
    }
    let iso = args
        .iso
        .clone()
        .unwrap_or_else(|| crate::ci::root().join("target/outpost/outpost.iso"));
    if !iso.exists() {
        bail!(
            "{} does not exist: run `cargo xtask iso` first",
            iso.display()
        );
    }
    std::fs::create_dir_all(work_dir())?;
    let all: [(u32, &str, Scenario); 5] = [
        (1, "default answer file on one 8 GiB disk", scenario_default),
        (
            2,
            "explicit part layout over two disks (ignoredisk --only-use)",
            scenario_two_disks,
        ),
        (
            3,
            "disk holding a filesystem, no clearpart: refused",
            scenario_refuse,
        ),
        (
            4,
            "invalid answer file on an OEMDRV stick",
            scenario_invalid,
        ),
        (
            5,
            "default answer file from an OEMDRV partition; data and blank disks",
            scenario_oemdrv_partition,
        ),
    ];
    let chosen: Vec<_> = all
        .iter()
        .filter(|(n, _, _)| args.only.is_empty() || args.only.contains(n))
        .collect();
    // A previous run's images (kept because it failed) make way first.
    for (n, _, _) in &chosen {
        remove_images(*n);
    }
    // Two QEMUs at a time: ~1.3x throughput on 2 cores (PLATFORM.md). The
    // long scenarios (1, 2, 5) are split: 1 with the short 3 and 4, then 2 and 5.
    let t0 = Instant::now();
    let results: Vec<(u32, &str, Result<String>, f64)> = std::thread::scope(|s| {
        let (odd, even): (Vec<_>, Vec<_>) = chosen
            .iter()
            .copied()
            .partition(|(n, _, _)| matches!(n, 1 | 3 | 4));
        let iso = &iso;
        let keep = args.keep_images;
        let h1 = s.spawn(move || {
            odd.into_iter()
                .map(|&(n, d, f)| run_one(n, d, f, iso, keep))
                .collect::<Vec<_>>()
        });
        let h2 = s.spawn(move || {
            even.into_iter()
                .map(|&(n, d, f)| run_one(n, d, f, iso, keep))
                .collect::<Vec<_>>()
        });
        let mut r = h1.join().unwrap_or_default();
        r.extend(h2.join().unwrap_or_default());
        r.sort_by_key(|x| x.0);
        r
    });
    let (mut passed, mut failed) = (0, 0);
    for (n, desc, r, secs) in &results {
        match r {
            Ok(notes) => {
                passed += 1;
                println!("ok      e2e {n}: {desc} ({secs:.0} s): {notes}");
            }
            Err(e) => {
                failed += 1;
                println!("FAILED  e2e {n}: {desc} ({secs:.0} s): {e:#}");
            }
        }
    }
    println!(
        "e2e: {passed} passed, {failed} failed ({:.0} s; logs in {})",
        t0.elapsed().as_secs_f64(),
        work_dir().display()
    );
    if failed > 0 {
        bail!("{failed} end-to-end scenario(s) failed");
    }
    Ok(())
}
