//! What the mail benchmarks (`imap`, `web`) share: the deterministic
//! 10,000-message Maildir, its copy for Dovecot, Outpost's throw-away
//! configuration and account, the private Dovecot instance (own config,
//! base and state directories, high port on 127.0.0.1, no TLS, a static
//! passdb), and the process helpers (kill on drop, wait for a port, RSS of
//! a process tree).

use anyhow::{Context, bail};
use std::io::Write as _;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const MESSAGES: usize = 10_000;
pub const USER: &str = "alice@bench.lan";
pub const PASS: &str = "bench-pass-1";
pub const DOVECOT: &str = "/usr/sbin/dovecot";

/// Kills the child on drop, so no server outlives the benchmark.
pub struct Guard(pub Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn sh(cmd: &mut Command) -> anyhow::Result<String> {
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
/// `S=` sizes, a third already seen) plus the empty special folders, and
/// returns their subjects in the order written.
fn generate(maildir: &Path) -> anyhow::Result<Vec<String>> {
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
    Ok(sent.into_iter().map(|(_, s)| s).collect())
}

fn rfc2822(t: u64) -> String {
    use time::format_description::well_known::Rfc2822;
    i64::try_from(t)
        .ok()
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .and_then(|d| d.format(&Rfc2822).ok())
        .unwrap_or_else(|| "Thu, 01 Jan 1970 00:00:00 +0000".into())
}

/// The generated mailbox: Dovecot's copy and the subjects in the order the
/// messages were written (Outpost's copy is `USER`'s mailbox under the
/// `mail_root` of [`outpost_config`]).
pub struct Corpus {
    pub dovecot: PathBuf,
    pub subjects: Vec<String>,
}

/// Generates `USER`'s Maildir under `<dir>/mail` and copies it for Dovecot.
pub fn corpus(dir: &Path, bench: &str) -> anyhow::Result<Corpus> {
    let outpost = dir.join("mail/bench.lan/alice");
    let dovecot = dir.join("dovecot-mail");
    let t = Instant::now();
    let subjects = generate(&outpost)?;
    sh(Command::new("cp").arg("-a").arg(&outpost).arg(&dovecot))?;
    let size = sh(Command::new("du").arg("-sk").arg(&outpost))?;
    eprintln!(
        "bench {bench}: generated {MESSAGES} messages ({} KiB) in {:.1} s",
        size.split_whitespace().next().unwrap_or("?"),
        t.elapsed().as_secs_f64()
    );
    Ok(Corpus { dovecot, subjects })
}

/// Writes `<dir>/outpost.toml` (stores under `dir`, host `localhost`, the
/// domain `bench.lan`, then `listeners`: the daemon's own section) and
/// creates `USER` with `outpostctl` from `bin`. Returns the config's path.
pub fn outpost_config(dir: &Path, bin: &Path, listeners: &str) -> anyhow::Result<PathBuf> {
    let config = dir.join("outpost.toml");
    std::fs::write(
        &config,
        format!(
            "[general]\nhostname = \"localhost\"\ndomains = [\"bench.lan\"]\nmail_root = \"{m}\"\nstate_dir = \"{d}\"\n\n\
[tls]\ndir = \"{d}/tls\"\n\n[directory]\npath = \"{d}/directory\"\n\n{listeners}",
            m = dir.join("mail").display(),
            d = dir.display()
        ),
    )?;
    let mut add = Command::new(bin.join("outpostctl"))
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
    Ok(config)
}

/// Starts Debian's Dovecot as a private instance on `maildir`: IMAP on
/// 127.0.0.1:`imap`, POP3 too when `pop3` is given, any password
/// accepted for any user (`PASS`), state and logs under `dir`.
pub fn start_dovecot(
    dir: &Path,
    maildir: &Path,
    imap: u16,
    pop3: Option<u16>,
) -> anyhow::Result<Guard> {
    let bin = Path::new(DOVECOT);
    require(&[(DOVECOT, "dovecot-imapd")])?;
    let (protocols, pop3_service) = match pop3 {
        Some(p) => (
            "imap pop3",
            format!(
                "service pop3-login {{\n  inet_listener pop3 {{\n    port = {p}\n  }}\n  inet_listener pop3s {{\n    port = 0\n  }}\n}}\n"
            ),
        ),
        None => ("imap", String::new()),
    };
    let dconf = dir.join("dovecot.conf");
    std::fs::write(
        &dconf,
        format!(
            "base_dir = {d}/dovecot-run\nstate_dir = {d}/dovecot-state\nlog_path = {d}/dovecot.log\n\
protocols = {protocols}\nlisten = 127.0.0.1\nssl = no\ndisable_plaintext_auth = no\nauth_mechanisms = plain login\n\
mail_location = maildir:{m}\nfirst_valid_uid = 100\nmail_plugins = zlib\n\
default_internal_user = dovecot\ndefault_login_user = dovenull\npop3_uidl_format = %v.%u\n\
passdb {{\n  driver = static\n  args = password={PASS}\n}}\nuserdb {{\n  driver = static\n  args = uid=65534 gid=65534 home={d}/dovecot-home\n}}\n\
service imap-login {{\n  inet_listener imap {{\n    port = {imap}\n  }}\n  inet_listener imaps {{\n    port = 0\n  }}\n}}\n\
{pop3_service}protocol imap {{\n  mail_plugins = $mail_plugins imap_zlib\n}}\n",
            d = dir.display(),
            m = maildir.display()
        ),
    )?;
    // Dovecot refuses to access mail as root: the copy belongs to nobody.
    std::fs::create_dir_all(dir.join("dovecot-home"))?;
    for p in [maildir, &dir.join("dovecot-home")] {
        sh(Command::new("chown").args(["-R", "65534:65534"]).arg(p))?;
    }
    let dovecot = Guard(Command::new(bin).arg("-F").arg("-c").arg(&dconf).spawn()?);
    wait_port(imap, "dovecot")?;
    Ok(dovecot)
}

/// Fails unless each program (path, Debian package) is installed.
pub fn require(programs: &[(&str, &str)]) -> anyhow::Result<()> {
    for (path, package) in programs {
        if !Path::new(path).exists() {
            bail!("{path} is missing: install {package} (cargo xtask deps)");
        }
    }
    Ok(())
}

pub fn wait_port(port: u16, what: &str) -> anyhow::Result<()> {
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(30) {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("{what} did not listen on 127.0.0.1:{port} within 30 s")
}

/// Fails unless every port is free on 127.0.0.1.
pub fn ports_free(ports: &[u16]) -> anyhow::Result<()> {
    for &port in ports {
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_err() {
            bail!("127.0.0.1:{port} is in use; the benchmark needs ports {ports:?}");
        }
    }
    Ok(())
}

/// RSS in KiB of `pid` and all its descendants.
pub fn tree_rss(pid: u32) -> u64 {
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
