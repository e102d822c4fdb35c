//! `cargo xtask bench smtp`: the same load against Outpost's smtpd and
//! against Postfix, both delivering into a Maildir on this machine, in one
//! run.
//!
//! Load: Postfix's `smtp-source` (4 parallel sessions, one message per
//! connection, 4 KB bodies, 2,000 messages; override with
//! `OUTPOST_BENCH_SMTP_MESSAGES`). The clock stops when the last message is
//! in the Maildir: for Outpost that is when smtp-source finishes (its `250`
//! means delivered); Postfix answers `250` once queued and delivers after,
//! so its clock runs until the Maildir holds every message. Idle RSS is
//! measured before the load: smtpd's one process; Postfix's master and the
//! children it keeps running when idle. Both peers listen on 127.0.0.1
//! only; Postfix is a private instance (own config, queue and Maildir under
//! a temporary directory), the system's Postfix is not touched.
//! Outpost is built with `--release` (set `OUTPOST_BENCH_PROFILE=debug` to
//! skip the release build).

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

const SESSIONS: usize = 4;
const MSG_LEN: usize = 4096;

/// Kills and reaps a child when dropped.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Removes the scratch directory when dropped.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Outcome {
    secs: f64,
    rss_kib: u64,
}

pub fn run() -> Result<()> {
    let messages: usize = std::env::var("OUTPOST_BENCH_SMTP_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let root = crate::ci::root();
    let profile = std::env::var("OUTPOST_BENCH_PROFILE").unwrap_or_else(|_| "release".into());
    for tool in ["smtp-source", "postfix"] {
        if Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .stdout(Stdio::null())
            .status()
            .map(|s| !s.success())
            .unwrap_or(true)
        {
            bail!("{tool} is missing: apt-get install postfix (cargo xtask deps)");
        }
    }
    let mut build = crate::ci::cargo_command();
    build.current_dir(&root).args([
        "build",
        "--quiet",
        "-p",
        "outpost-smtpd",
        "-p",
        "outpostctl",
    ]);
    if profile == "release" {
        build.arg("--release");
    }
    if !build.status().context("running cargo build")?.success() {
        bail!("building outpost-smtpd failed");
    }
    let bin_dir = crate::ci::target_dir().join(&profile);

    let scratch = std::env::temp_dir().join(format!("outpost-bench-smtp-{}", std::process::id()));
    std::fs::create_dir_all(&scratch)?;
    // Postfix's daemons (user postfix) must traverse the scratch directory.
    std::fs::set_permissions(&scratch, std::fs::Permissions::from_mode(0o755))?;
    let _cleanup = TempDir(scratch.clone());

    println!(
        "bench smtp: {messages} messages of {MSG_LEN} bytes, {SESSIONS} sessions, one message per connection"
    );
    let outpost = bench_outpost(&bin_dir, &scratch.join("outpost"), messages)?;
    let postfix = bench_postfix(&scratch.join("postfix"), messages)?;
    let rate = |o: &Outcome| messages as f64 / o.secs;
    println!();
    println!(
        "{:<10} {:>10} {:>10} {:>14}",
        "peer", "seconds", "msgs/s", "idle RSS KiB"
    );
    println!(
        "{:<10} {:>10.2} {:>10.0} {:>14}",
        "outpost",
        outpost.secs,
        rate(&outpost),
        outpost.rss_kib
    );
    println!(
        "{:<10} {:>10.2} {:>10.0} {:>14}",
        "postfix",
        postfix.secs,
        rate(&postfix),
        postfix.rss_kib
    );
    println!(
        "ratio outpost/postfix: {:.2}x throughput, {:.2}x idle RSS ({profile} build)",
        rate(&outpost) / rate(&postfix),
        outpost.rss_kib as f64 / postfix.rss_kib as f64
    );
    Ok(())
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))?
        .local_addr()?
        .port())
}

fn wait_listening(port: u16) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            bail!("nothing listens on 127.0.0.1:{port}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

fn count_files(dir: &Path) -> usize {
    ["new", "cur"]
        .iter()
        .map(|s| {
            std::fs::read_dir(dir.join(s))
                .map(|r| r.count())
                .unwrap_or(0)
        })
        .sum()
}

/// Runs smtp-source to completion (bounded) against 127.0.0.1:`port`.
fn load(port: u16, messages: usize, to: &str) -> Result<()> {
    let mut child = Guard(
        Command::new("smtp-source")
            .args(["-s", &SESSIONS.to_string(), "-m", &messages.to_string()])
            .args([
                "-l",
                &MSG_LEN.to_string(),
                "-f",
                "load@remote.example",
                "-t",
                to,
            ])
            .arg(format!("127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .spawn()
            .context("running smtp-source")?,
    );
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        if let Some(status) = child.0.try_wait()? {
            if !status.success() {
                bail!("smtp-source failed ({status})");
            }
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("smtp-source did not finish in 600 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn bench_outpost(bin_dir: &Path, dir: &Path, messages: usize) -> Result<Outcome> {
    std::fs::create_dir_all(dir)?;
    let port = free_port()?;
    let s = |rel: &str| format!("{:?}", dir.join(rel).display().to_string());
    let config = format!(
        "[general]\nhostname = \"localhost\"\ndomains = [\"outpost.test\"]\nmail_root = {}\nstate_dir = {}\n\
         [tls]\ndir = {}\n[directory]\npath = {}\n\
         [smtp]\nmx_listen = [\"127.0.0.1:{port}\"]\nsubmission_listen = [\"127.0.0.1:{}\"]\nsubmissions_listen = [\"127.0.0.1:{}\"]\nqueue_dir = {}\n\n\
         # Postfix checks nothing here either: the plain variant compares\n\
         # delivery alone.\n\
         [smtp.checks]\nenabled = false\n\n[smtp.attachments]\nenabled = false\n",
        s("mail"),
        s("state"),
        s("tls"),
        s("directory"),
        free_port()?,
        free_port()?,
        s("queue"),
    );
    let config_path = dir.join("outpost.toml");
    std::fs::write(&config_path, config)?;
    let mut add = Command::new(bin_dir.join("outpostctl"))
        .arg("--config")
        .arg(&config_path)
        .args(["user", "add", "alice@outpost.test", "--password-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .context("running outpostctl")?;
    {
        use std::io::Write;
        let mut stdin = add.stdin.take().context("outpostctl stdin")?;
        writeln!(stdin, "bench-password-1")?;
    }
    if !add.wait()?.success() {
        bail!("outpostctl user add failed");
    }
    let log = std::fs::File::create(dir.join("smtpd.log"))?;
    let daemon = Guard(
        Command::new(bin_dir.join("outpost-smtpd"))
            .arg("--config")
            .arg(&config_path)
            .stderr(log)
            .spawn()
            .context("starting outpost-smtpd")?,
    );
    wait_listening(port)?;
    std::thread::sleep(Duration::from_millis(500));
    let rss = outpost_testkit::rss_kib(daemon.0.id());
    let start = Instant::now();
    load(port, messages, "alice@outpost.test")?;
    let secs = start.elapsed().as_secs_f64();
    let delivered = count_files(&dir.join("mail/outpost.test/alice"));
    if delivered != messages {
        bail!("outpost: {delivered} of {messages} messages in the Maildir");
    }
    println!("outpost-smtpd: {messages} delivered in {secs:.2} s");
    Ok(Outcome { secs, rss_kib: rss })
}

fn bench_postfix(dir: &Path, messages: usize) -> Result<Outcome> {
    let port = free_port()?;
    let pf = outpost_testkit::postfix::Postfix::start(
        dir,
        outpost_testkit::postfix::Options {
            port,
            hostname: "localhost",
            domain: "outpost.test",
            mailbox: "alice",
            tls: None,
        },
    )
    .map_err(anyhow::Error::msg)?;
    // Let the connection from wait_listening's probe finish and the idle
    // set of processes settle.
    std::thread::sleep(Duration::from_secs(2));
    let master_pid = pf.master_pid().context("reading Postfix's master.pid")?;
    let rss = outpost_testkit::rss_kib(master_pid)
        + children(master_pid)
            .iter()
            .map(|p| outpost_testkit::rss_kib(*p))
            .sum::<u64>();
    let start = Instant::now();
    load(port, messages, "alice@outpost.test")?;
    let maildir = pf.maildir();
    let deadline = Instant::now() + Duration::from_secs(600);
    while count_files(&maildir) < messages {
        if Instant::now() > deadline {
            bail!(
                "postfix delivered only {} of {messages}",
                count_files(&maildir)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let secs = start.elapsed().as_secs_f64();
    println!("postfix: {messages} delivered in {secs:.2} s");
    Ok(Outcome { secs, rss_kib: rss })
}

/// Direct children of `pid` (from /proc).
fn children(pid: u32) -> Vec<u32> {
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    rd.filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()))
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/stat"))
                .ok()
                .and_then(|s| {
                    // Field 4 is the parent pid; the command (field 2) may
                    // contain spaces, so count from its closing parenthesis.
                    s.rsplit_once(')').and_then(|(_, rest)| {
                        rest.split_whitespace().nth(1).and_then(|x| x.parse().ok())
                    })
                })
                == Some(pid)
        })
        .collect()
}
