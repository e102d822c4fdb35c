//! `cargo xtask bench kickstart`: our `ksvalidator` against pykickstart's on
//! the same large generated answer file.
//!
//! Generates a valid answer file of ≥10,000 lines (users, groups, ssh keys,
//! network devices, partitions, a long `%packages` list, scripts and the
//! `org_outpost` addon: every line unique, because pykickstart's
//! `ksvalidator` turns duplicate warnings into errors), installs pykickstart
//! from PyPI into a virtual environment under `target/outpost/` if python3
//! cannot import it, builds
//! our `ksvalidator` in release mode, checks that both accept the file, then
//! times each tool as a process (median of several runs) and prints both
//! times and the ratio. Both tools are also timed on a one-line file so the
//! parse-only ratio (startup subtracted) is shown beside the end-to-end one.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// Lines in the generated file (at least).
const TARGET_LINES: usize = 12_000;

pub fn run() -> anyhow::Result<()> {
    let root = workspace_root();
    let dir = root.join("target/outpost/bench-kickstart");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let big = dir.join("large.ks");
    let text = generate(TARGET_LINES);
    let lines = text.lines().count();
    std::fs::write(&big, &text).with_context(|| format!("writing {}", big.display()))?;
    let tiny = dir.join("tiny.ks");
    std::fs::write(&tiny, "lang en_US.UTF-8\n")
        .with_context(|| format!("writing {}", tiny.display()))?;
    println!(
        "generated {} ({lines} lines, {} KiB)",
        big.display(),
        text.len() / 1024
    );

    let (python, py_validator) = pykickstart_validator(&dir)?;
    println!("building outpost ksvalidator (release)…");
    let status = crate::ci::cargo_command()
        .args([
            "build",
            "--quiet",
            "--release",
            "-p",
            "outpost-kickstart",
            "--bin",
            "ksvalidator",
        ])
        .current_dir(&root)
        .status()
        .context("running cargo build --release -p outpost-kickstart")?;
    if !status.success() {
        bail!("building ksvalidator failed");
    }
    let ours = crate::ci::target_dir().join("release/ksvalidator");

    let ours_cmd = |f: &Path| {
        let mut c = Command::new(&ours);
        c.arg(f);
        c
    };
    let py_cmd = |f: &Path| {
        let mut c = Command::new(&python);
        c.arg(&py_validator).arg(f);
        c
    };
    // Both must accept the file, or the comparison means nothing.
    check_ok("outpost ksvalidator", ours_cmd(&big))?;
    check_ok("pykickstart ksvalidator", py_cmd(&big))?;

    let ours_big = median(9, || ours_cmd(&big))?;
    let ours_tiny = median(9, || ours_cmd(&tiny))?;
    let py_big = median(3, || py_cmd(&big))?;
    let py_tiny = median(3, || py_cmd(&tiny))?;

    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!();
    println!("file: {lines} lines");
    println!(
        "{:<28}{:>12}{:>14}{:>14}",
        "tool", "large (ms)", "1 line (ms)", "parse (ms)"
    );
    let ours_parse = ours_big.saturating_sub(ours_tiny);
    let py_parse = py_big.saturating_sub(py_tiny);
    println!(
        "{:<28}{:>12.1}{:>14.1}{:>14.1}",
        "outpost ksvalidator",
        ms(ours_big),
        ms(ours_tiny),
        ms(ours_parse)
    );
    println!(
        "{:<28}{:>12.1}{:>14.1}{:>14.1}",
        "pykickstart ksvalidator",
        ms(py_big),
        ms(py_tiny),
        ms(py_parse)
    );
    let ratio = ms(py_big) / ms(ours_big).max(0.001);
    let parse_ratio = ms(py_parse) / ms(ours_parse).max(0.001);
    println!();
    println!("ratio (end to end, pykickstart / outpost): {ratio:.1}x");
    println!("ratio (parse only, startup subtracted):    {parse_ratio:.1}x");
    println!(
        "goal: >= 20x end to end: {}",
        if ratio >= 20.0 { "met" } else { "NOT met" }
    );
    Ok(())
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// Finds pykickstart's `ksvalidator`: the one importable by `python3` if
/// pykickstart is installed, else one installed from PyPI into a virtual
/// environment under `dir` (so Debian's externally-managed Python is left
/// alone). Returns the Python interpreter and the script to run with it.
fn pykickstart_validator(dir: &Path) -> anyhow::Result<(PathBuf, PathBuf)> {
    let importable = Command::new("python3")
        .args(["-c", "import pykickstart"])
        .stderr(Stdio::null())
        .status()
        .context("running python3 (install python3 to run this benchmark)")?
        .success();
    let python = if importable {
        PathBuf::from("python3")
    } else {
        let venv = dir.join("venv");
        let python = venv.join("bin/python3");
        if !python.exists() {
            println!("creating {} …", venv.display());
            let ok = Command::new("python3")
                .arg("-m")
                .arg("venv")
                .arg(&venv)
                .status()
                .context("running python3 -m venv")?
                .success();
            if !ok {
                bail!("python3 -m venv failed (on Debian: apt-get install python3-venv)");
            }
        }
        println!("installing pykickstart from PyPI into {} …", venv.display());
        let ok = Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "pykickstart",
            ])
            .status()
            .context("running pip install pykickstart")?
            .success();
        if !ok {
            bail!("pip install pykickstart failed");
        }
        python
    };
    let out = Command::new(&python)
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_path('scripts'))",
        ])
        .output()
        .context("asking python3 for its scripts directory")?;
    let scripts = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let candidates = [
        scripts.join("ksvalidator"),
        PathBuf::from("/usr/local/bin/ksvalidator"),
        PathBuf::from("/usr/bin/ksvalidator"),
    ];
    let script = candidates
        .into_iter()
        .find(|p| p.is_file())
        .context("pykickstart is installed but its ksvalidator script was not found")?;
    Ok((python, script))
}

fn check_ok(what: &str, mut cmd: Command) -> anyhow::Result<()> {
    let out = cmd.output().with_context(|| format!("running {what}"))?;
    if !out.status.success() {
        bail!(
            "{what} rejected the generated file:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// Median wall time of `n` runs of a command (output discarded).
fn median(n: usize, mut make: impl FnMut() -> Command) -> anyhow::Result<Duration> {
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let mut cmd = make();
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
        let start = Instant::now();
        let status = cmd.status().context("running a validator")?;
        times.push(start.elapsed());
        if !status.success() {
            bail!("validator failed during timing");
        }
    }
    times.sort();
    Ok(times[n / 2])
}

/// A valid answer file of at least `target` lines, every line unique where
/// kickstart would warn on duplicates.
fn generate(target: usize) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(target * 64);
    s.push_str("# Generated by cargo xtask bench kickstart\ntext\neula --agreed\nlang en_US.UTF-8 --addsupport=de_DE,fr_FR\n");
    s.push_str("keyboard --vckeymap=us --xlayouts='us,de'\ntimezone Europe/Berlin --utc\nrootpw --iscrypted $6$salt$hash\n");
    s.push_str("firewall --enabled --service=ssh --port=25:tcp,587:tcp,993:tcp\nservices --enabled=\"sshd, chronyd\" --disabled=cups\n");
    s.push_str("zerombr\nclearpart --all --initlabel --drives=vda\nbootloader --location=mbr --timeout=5 --append=\"console=ttyS0\"\nreboot --eject\n");
    let blocks = target / 12 + 1;
    for i in 0..blocks / 2 {
        let _ = writeln!(s, "# block {i}");
        let _ = writeln!(
            s,
            "user --name=user{i} --gecos=\"User number {i}\" --groups=wheel,mail --password='$6$s{i}$h{i}' --iscrypted --uid={}",
            2000 + i
        );
        let _ = writeln!(s, "group --name=team{i} --gid={}", 5000 + i);
        let _ = writeln!(
            s,
            "sshkey --username=user{i} \"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI{i:08} user{i}@host\""
        );
        let _ = writeln!(
            s,
            "network --bootproto=static --device=eth{i} --ip=10.{}.{}.2 --netmask=255.255.255.0 --gateway=10.{}.{}.1 --nameserver=10.0.0.1 --activate",
            i / 256 % 256,
            i % 256,
            i / 256 % 256,
            i % 256
        );
        let _ = writeln!(
            s,
            "part /srv/data{i} --fstype=ext4 --size={} --ondisk=vda",
            100 + i
        );
    }
    s.push_str("%pre --interpreter=/bin/bash --log=/tmp/pre.log\n");
    for i in 0..blocks {
        let _ = writeln!(s, "echo \"pre step {i} # not a comment\" >> /tmp/pre.out");
    }
    s.push_str("%end\n%post --nochroot --erroronfail\n");
    for i in 0..blocks * 2 {
        let _ = writeln!(
            s,
            "printf '%s\\n' 'post step {i}' >> /mnt/sysimage/root/post.out"
        );
    }
    s.push_str("%end\n%packages --excludedocs\n@core\n");
    for i in 0..blocks * 3 {
        let _ = writeln!(s, "package-{i}");
    }
    s.push_str("-nano\n%end\n");
    // Pad to the target with comment lines (they count as lines to read).
    let mut n = s.lines().count();
    while n < target {
        let _ = writeln!(s, "# padding {n}");
        n += 1;
    }
    s
}
