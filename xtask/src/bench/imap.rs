//! `cargo xtask bench imap`: Outpost's imapd and Dovecot (Debian's
//! `dovecot-imapd`/`dovecot-pop3d`, a private instance with its own config
//! and high ports on 127.0.0.1) serve copies of the same generated
//! 10,000-message Maildir; one client (`services/imapd/examples/imap_bench.rs`)
//! runs the same workload against both. Prints medians, the ratio
//! Dovecot/Outpost (above 1: Outpost is faster), idle RSS and bytes on the
//! wire with and without COMPRESS=DEFLATE. Results also go to
//! `target/bench-imap/results.txt`.

use anyhow::{Context, bail};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const MESSAGES: usize = 10_000;
const TUNABLES: &str = "glibc.malloc.arena_max=2:glibc.malloc.mmap_threshold=131072:glibc.malloc.trim_threshold=131072";
const USER: &str = "alice@bench.lan";
const PASS: &str = "bench-pass-1";
const OUTPOST: (u16, u16) = (31143, 31110);
const DOVECOT: (u16, u16) = (32143, 32110);

/// Kills the child on drop, so no server outlives the benchmark.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or(Path::new("."))
        .to_path_buf()
}

fn sh(cmd: &mut Command) -> anyhow::Result<String> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!("{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Deterministic generator (64-bit LCG): the same Maildir every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn pick<'a>(&mut self, v: &[&'a str]) -> &'a str {
        v[(self.next() as usize) % v.len()]
    }
}

const WORDS: &[&str] = &[
    "supply",
    "convoy",
    "weather",
    "route",
    "fuel",
    "water",
    "medical",
    "report",
    "status",
    "radio",
    "battery",
    "generator",
    "shelter",
    "team",
    "north",
    "south",
    "bridge",
    "river",
    "schedule",
    "delay",
    "inventory",
    "request",
    "approved",
    "pending",
    "urgent",
    "routine",
    "maintenance",
    "vehicle",
    "spare",
    "parts",
];
const TOPICS: &[&str] = &[
    "logistics",
    "weekly",
    "quarterly",
    "daily",
    "incident",
    "planning",
    "budget",
    "training",
];

/// Writes `MESSAGES` messages into `maildir/cur` (Maildir names with
/// `S=` sizes, a third already seen) plus the empty special folders.
fn generate(maildir: &Path) -> anyhow::Result<()> {
    for d in ["", ".Sent", ".Drafts", ".Trash", ".Junk", ".Archive"] {
        for s in ["cur", "new", "tmp"] {
            std::fs::create_dir_all(maildir.join(d).join(s))?;
        }
    }
    let mut rng = Rng(42);
    let base_time: u64 = 1_780_000_000;
    // (Message-ID, Subject) of each message, so a quarter of them can be
    // replies (References, In-Reply-To, "Re:") for SORT and THREAD.
    let mut sent: Vec<(String, String)> = Vec::with_capacity(MESSAGES);
    for i in 0..MESSAGES {
        let topic = rng.pick(TOPICS);
        let from = format!(
            "{}{}@field{}.lan",
            rng.pick(&["ops", "hq", "log", "med"]),
            rng.next() % 50,
            rng.next() % 5
        );
        let mut body = String::new();
        let paras = 2 + rng.next() % 6;
        for _ in 0..paras {
            let words = 40 + rng.next() % 120;
            let mut line_len = 0;
            for _ in 0..words {
                let w = rng.pick(WORDS);
                body.push_str(w);
                line_len += w.len() + 1;
                if line_len > 70 {
                    body.push_str("\r\n");
                    line_len = 0;
                } else {
                    body.push(' ');
                }
            }
            body.push_str("\r\n\r\n");
        }
        if i % 100 == 7 {
            body.push_str("Meet at the zanzibar checkpoint.\r\n");
        }
        let t = base_time + i as u64 * 60;
        let date = format!("Date: {}\r\n", rfc2822(t));
        let id = format!("<{i}.{}@bench.lan>", rng.next());
        let (subject, thread) = if i % 4 == 1 && i > 50 {
            let (pid, psubj) = &sent[i - 1 - (rng.next() % 50) as usize];
            (
                format!("Re: {psubj}"),
                format!("In-Reply-To: {pid}\r\nReferences: {pid}\r\n"),
            )
        } else {
            (format!("{topic} update {i}"), String::new())
        };
        let header = format!(
            "Return-Path: <{from}>\r\nFrom: Field Unit <{from}>\r\nTo: Alice <alice@bench.lan>\r\n{date}\
Subject: {subject}\r\nMessage-ID: {id}\r\n{thread}MIME-Version: 1.0\r\n"
        );
        sent.push((id, subject));
        let msg = if i % 10 == 3 {
            let mut att = String::new();
            for _ in 0..(200 + rng.next() % 200) {
                att.push_str(
                    "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2\r\n",
                );
            }
            format!(
                "{header}Content-Type: multipart/mixed; boundary=\"b{i}\"\r\n\r\n--b{i}\r\n\
Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n--b{i}\r\nContent-Type: application/octet-stream; name=\"log{i}.bin\"\r\n\
Content-Disposition: attachment; filename=\"log{i}.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{att}--b{i}--\r\n"
            )
        } else {
            format!("{header}Content-Type: text/plain; charset=utf-8\r\n\r\n{body}")
        };
        let flags = if i % 3 == 0 { "S" } else { "" };
        let name = format!("{t}.M{i}P1Q1.bench,S={}:2,{flags}", msg.len());
        let p = maildir.join("cur").join(name);
        std::fs::write(&p, &msg)?;
        let f = std::fs::File::options().write(true).open(&p)?;
        f.set_modified(std::time::UNIX_EPOCH + Duration::from_secs(t))?;
    }
    Ok(())
}

fn rfc2822(t: u64) -> String {
    use time::format_description::well_known::Rfc2822;
    i64::try_from(t)
        .ok()
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .and_then(|d| d.format(&Rfc2822).ok())
        .unwrap_or_else(|| "Thu, 01 Jan 1970 00:00:00 +0000".into())
}

fn wait_port(port: u16, what: &str) -> anyhow::Result<()> {
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(30) {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("{what} did not listen on 127.0.0.1:{port} within 30 s")
}

fn port_free(port: u16) -> bool {
    std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// RSS in KiB of `pid` and all its descendants.
fn tree_rss(pid: u32) -> u64 {
    let mut procs: Vec<(u32, u32, u64)> = Vec::new();
    if let Ok(rd) = std::fs::read_dir("/proc") {
        for e in rd.flatten() {
            let Ok(p) = e.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let Ok(status) = std::fs::read_to_string(format!("/proc/{p}/status")) else {
                continue;
            };
            let field = |k: &str| {
                status
                    .lines()
                    .find(|l| l.starts_with(k))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0)
            };
            procs.push((p, field("PPid:") as u32, field("VmRSS:")));
        }
    }
    let mut set = vec![pid];
    let mut i = 0;
    while i < set.len() {
        let parent = set[i];
        for (p, pp, _) in &procs {
            if *pp == parent && !set.contains(p) {
                set.push(*p);
            }
        }
        i += 1;
    }
    procs
        .iter()
        .filter(|(p, _, _)| set.contains(p))
        .map(|(_, _, r)| r)
        .sum()
}

fn run_client(example: &Path, ports: (u16, u16)) -> anyhow::Result<BTreeMap<String, f64>> {
    let out = sh(Command::new(example).args([
        &format!("127.0.0.1:{}", ports.0),
        &format!("127.0.0.1:{}", ports.1),
        USER,
        PASS,
        "quarterly",
        "zanzibar",
    ]))?;
    let mut m = BTreeMap::new();
    for l in out.lines() {
        let mut p = l.split_whitespace();
        if p.next() == Some("RESULT")
            && let (Some(k), Some(v)) = (p.next(), p.next().and_then(|v| v.parse().ok()))
        {
            m.insert(k.to_string(), v);
        }
    }
    Ok(m)
}

pub fn run() -> anyhow::Result<()> {
    let ws = workspace();
    for port in [OUTPOST.0, OUTPOST.1, DOVECOT.0, DOVECOT.1] {
        if !port_free(port) {
            bail!(
                "127.0.0.1:{port} is in use; the benchmark needs ports {OUTPOST:?} and {DOVECOT:?}"
            );
        }
    }
    let dovecot = Path::new("/usr/sbin/dovecot");
    if !dovecot.exists() {
        bail!("dovecot is missing: install dovecot-imapd and dovecot-pop3d (cargo xtask deps)");
    }
    eprintln!("bench imap: building release binaries");
    sh(crate::ci::cargo_command().current_dir(&ws).args([
        "build",
        "--release",
        "-p",
        "outpost-imapd",
        "--bin",
        "outpost-imapd",
        "--example",
        "imap_bench",
    ]))?;
    sh(crate::ci::cargo_command().current_dir(&ws).args([
        "build",
        "--release",
        "-p",
        "outpostctl",
    ]))?;
    let rel = crate::ci::target_dir().join("release");
    let dir = ws.join("target/bench-imap");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let outpost_maildir = dir.join("mail/bench.lan/alice");
    let dovecot_maildir = dir.join("dovecot-mail");
    let t = Instant::now();
    generate(&outpost_maildir)?;
    sh(Command::new("cp")
        .arg("-a")
        .arg(&outpost_maildir)
        .arg(&dovecot_maildir))?;
    let size = sh(Command::new("du").arg("-sk").arg(&outpost_maildir))?;
    eprintln!(
        "bench imap: generated {MESSAGES} messages ({} KiB) in {:.1} s",
        size.split_whitespace().next().unwrap_or("?"),
        t.elapsed().as_secs_f64()
    );

    // Outpost.
    let config = dir.join("outpost.toml");
    std::fs::write(
        &config,
        format!(
            "[general]\nhostname = \"localhost\"\ndomains = [\"bench.lan\"]\nmail_root = \"{m}\"\nstate_dir = \"{d}\"\n\n\
[tls]\ndir = \"{d}/tls\"\n\n[directory]\npath = \"{d}/directory\"\n\n\
[imap]\nimap_listen = [\"127.0.0.1:{}\"]\nimaps_listen = []\npop3_listen = [\"127.0.0.1:{}\"]\npop3s_listen = []\n",
            OUTPOST.0,
            OUTPOST.1,
            m = dir.join("mail").display(),
            d = dir.display()
        ),
    )?;
    let mut add = Command::new(rel.join("outpostctl"))
        .arg("--config")
        .arg(&config)
        .args(["user", "add", USER, "--password-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .context("running outpostctl user add")?;
    add.stdin
        .take()
        .context("stdin")?
        .write_all(format!("{PASS}\n").as_bytes())?;
    if !add.wait()?.success() {
        bail!("outpostctl user add failed");
    }
    let log = std::fs::File::create(dir.join("outpost-imapd.log"))?;
    let outpost = Guard(
        Command::new(rel.join("outpost-imapd"))
            // The allocator settings of outpost-imapd.service.
            .env("GLIBC_TUNABLES", TUNABLES)
            .arg("--config")
            .arg(&config)
            .stderr(log)
            .spawn()?,
    );
    wait_port(OUTPOST.0, "outpost-imapd")?;

    // Dovecot: private instance, own base_dir, no TLS, static passdb.
    let dconf = dir.join("dovecot.conf");
    std::fs::write(
        &dconf,
        format!(
            "base_dir = {d}/dovecot-run\nstate_dir = {d}/dovecot-state\nlog_path = {d}/dovecot.log\n\
protocols = imap pop3\nlisten = 127.0.0.1\nssl = no\ndisable_plaintext_auth = no\nauth_mechanisms = plain login\n\
mail_location = maildir:{m}\nfirst_valid_uid = 100\nmail_plugins = zlib\n\
default_internal_user = dovecot\ndefault_login_user = dovenull\npop3_uidl_format = %v.%u\n\
passdb {{\n  driver = static\n  args = password={PASS}\n}}\nuserdb {{\n  driver = static\n  args = uid=65534 gid=65534 home={d}/dovecot-home\n}}\n\
service imap-login {{\n  inet_listener imap {{\n    port = {}\n  }}\n  inet_listener imaps {{\n    port = 0\n  }}\n}}\n\
service pop3-login {{\n  inet_listener pop3 {{\n    port = {}\n  }}\n  inet_listener pop3s {{\n    port = 0\n  }}\n}}\n\
protocol imap {{\n  mail_plugins = $mail_plugins imap_zlib\n}}\n",
            DOVECOT.0,
            DOVECOT.1,
            d = dir.display(),
            m = dovecot_maildir.display()
        ),
    )?;
    // Dovecot refuses to access mail as root: the copy belongs to nobody.
    std::fs::create_dir_all(dir.join("dovecot-home"))?;
    for p in [&dovecot_maildir, &dir.join("dovecot-home")] {
        sh(Command::new("chown").args(["-R", "65534:65534"]).arg(p))?;
    }
    let dovecot = Guard(
        Command::new(dovecot)
            .arg("-F")
            .arg("-c")
            .arg(&dconf)
            .spawn()?,
    );
    wait_port(DOVECOT.0, "dovecot")?;
    std::thread::sleep(Duration::from_millis(500));
    let rss_start = (tree_rss(outpost.0.id()), tree_rss(dovecot.0.id()));

    let example = rel.join("examples/imap_bench");
    eprintln!("bench imap: running the workload against Outpost");
    let o = run_client(&example, OUTPOST)?;
    eprintln!("bench imap: running the workload against Dovecot");
    let d = run_client(&example, DOVECOT)?;
    std::thread::sleep(Duration::from_millis(500));
    let rss_end = (tree_rss(outpost.0.id()), tree_rss(dovecot.0.id()));
    drop(dovecot);
    drop(outpost);

    let mut report = String::new();
    writeln!(
        report,
        "IMAP/POP3 benchmark: {MESSAGES} messages, loopback, medians (Dovecot/Outpost > 1: Outpost faster)"
    )?;
    writeln!(
        report,
        "{:<28} {:>12} {:>12} {:>8}",
        "operation", "outpost", "dovecot", "ratio"
    )?;
    for (k, label) in [
        ("login_select_ms", "LOGIN+SELECT (ms)"),
        ("fetch_envelopes_ms", "UID FETCH 1:* env (ms)"),
        ("search_subject_ms", "SEARCH SUBJECT (ms)"),
        ("search_body_ms", "SEARCH BODY (ms)"),
        ("sort_subject_ms", "SORT (SUBJECT) (ms)"),
        ("thread_references_ms", "THREAD REFERENCES (ms)"),
        ("fetch_1000_bodies_ms", "1000 BODY[] FETCHes (ms)"),
        ("pop3_uidl_retr_1000_ms", "POP3 UIDL+1000 RETR (ms)"),
    ] {
        let (a, b) = (
            o.get(k).copied().unwrap_or(f64::NAN),
            d.get(k).copied().unwrap_or(f64::NAN),
        );
        writeln!(report, "{label:<28} {a:>12.2} {b:>12.2} {:>8.2}", b / a)?;
    }
    for (k, label) in [
        ("search_subject_hits", "SEARCH SUBJECT hits"),
        ("search_body_hits", "SEARCH BODY hits"),
        ("sort_subject_hash", "SORT reply hash"),
        ("thread_references_hash", "THREAD reply hash"),
        ("fetch_envelopes_bytes", "envelope FETCH bytes"),
        ("wire_plain_bytes", "resync bytes, plain"),
        ("wire_compressed_bytes", "resync bytes, COMPRESS"),
    ] {
        let (a, b) = (
            o.get(k).copied().unwrap_or(f64::NAN),
            d.get(k).copied().unwrap_or(f64::NAN),
        );
        writeln!(report, "{label:<28} {a:>12} {b:>12}")?;
    }
    writeln!(
        report,
        "{:<28} {:>12} {:>12}",
        "idle RSS at start (KiB)", rss_start.0, rss_start.1
    )?;
    writeln!(
        report,
        "{:<28} {:>12} {:>12}",
        "idle RSS after run (KiB)", rss_end.0, rss_end.1
    )?;
    print!("{report}");
    std::fs::write(dir.join("results.txt"), &report)?;
    Ok(())
}
