//! `cargo xtask serve`: every built Outpost daemon in the foreground on
//! 127.0.0.1, for development and for tests with real clients.
//!
//! It writes a throw-away `outpost.toml` under `--state DIR` (every store
//! and the local CA live there too), with the standard ports shifted by
//! `--port-offset` (default +10000: SMTP 10025, submission 10587, SMTPS
//! 10465, IMAP 10143, IMAPS 10993, POP3 10110, POP3S 10995, HTTPS 10443,
//! plain HTTP 10080 for loopback tools such as litmus, and the
//! autoconfig/redirect listener 10081),
//! builds the daemons that exist in the workspace, creates the `--user
//! ADDRESS:PASSWORD` accounts with `outpostctl`, starts each daemon and
//! waits until each one reports, over the systemd notify protocol
//! (`NOTIFY_SOCKET`, a private abstract socket per daemon), `READY=1` with
//! the addresses it bound (`STATUS=listening NAME=ADDR …`). Only when every
//! daemon has bound every listener serve expects does it print the
//! addresses and then a line `ready`: a port taken by another process makes
//! that daemon exit with `Address already in use`, and serve with it. It
//! runs until interrupted (or `--duration` seconds), and stops with an
//! error if a daemon exits. Generic on purpose: a daemon whose crate does
//! not exist yet is simply not started.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::os::linux::net::SocketAddrExt as _;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// Arguments of `cargo xtask serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// State directory (config, mail, queue, directory, TLS); created if
    /// missing, reused if present.
    #[arg(long)]
    pub state: PathBuf,
    /// A user to create, ADDRESS:PASSWORD (repeatable).
    #[arg(long = "user", value_name = "ADDRESS:PASSWORD")]
    pub users: Vec<String>,
    /// Added to every standard port.
    #[arg(long, default_value_t = 10000)]
    pub port_offset: u16,
    /// Stop after this many seconds (0: run until interrupted).
    #[arg(long, default_value_t = 0)]
    pub duration: u64,
    /// Do not run `cargo build` first (use the binaries already built).
    #[arg(long)]
    pub no_build: bool,
}

/// One daemon: its package, binary and the listeners it must open.
struct Daemon {
    package: &'static str,
    dir: &'static str,
    listeners: &'static [(&'static str, u16)],
}

const DAEMONS: &[Daemon] = &[
    Daemon {
        package: "outpost-smtpd",
        dir: "services/smtpd",
        listeners: &[("smtp", 25), ("submission", 587), ("smtps", 465)],
    },
    Daemon {
        package: "outpost-imapd",
        dir: "services/imapd",
        listeners: &[("imap", 143), ("imaps", 993), ("pop3", 110), ("pop3s", 995)],
    },
    Daemon {
        package: "outpost-webd",
        dir: "services/webd",
        listeners: &[("https", 443), ("http", 80)],
    },
];

/// Kills and reaps the daemons when `serve` ends, however it ends.
struct Children(Vec<(&'static str, Child)>);

impl Drop for Children {
    fn drop(&mut self) {
        for (_, c) in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The daemons in the workspace (and `outpostctl`), as serve builds them.
fn present() -> Vec<&'static Daemon> {
    let root = crate::ci::root();
    DAEMONS
        .iter()
        .filter(|d| root.join(d.dir).is_dir())
        .collect()
}

/// `cargo build` of what serve runs (debug profile). `cargo xtask ci` runs
/// it before the tests, so the tests that start serve find it built.
pub fn build_command() -> Command {
    let mut cmd = crate::ci::cargo_command();
    cmd.current_dir(crate::ci::root())
        .args(["build", "--quiet", "-p", "outpostctl"]);
    for d in present() {
        cmd.args(["-p", d.package]);
    }
    cmd
}

pub fn run(args: ServeArgs) -> Result<()> {
    std::fs::create_dir_all(&args.state)
        .with_context(|| format!("creating {}", args.state.display()))?;
    let state = args
        .state
        .canonicalize()
        .with_context(|| format!("resolving {}", args.state.display()))?;
    let mut users = Vec::new();
    for u in &args.users {
        let Some((addr, pass)) = u.split_once(':') else {
            bail!("--user {u:?}: expected ADDRESS:PASSWORD");
        };
        if !addr.contains('@') {
            bail!("--user {u:?}: {addr:?} is not an address");
        }
        users.push((addr.to_ascii_lowercase(), pass.to_string()));
    }
    let mut domains: Vec<String> = users
        .iter()
        .filter_map(|(a, _)| a.rsplit_once('@').map(|(_, d)| d.to_string()))
        .collect();
    domains.dedup();
    if domains.is_empty() {
        domains.push("outpost.test".into());
    }
    let present = present();
    let off = args.port_offset;
    let port = |p: u16| -> Result<u16> {
        p.checked_add(off)
            .context("--port-offset pushes a port past 65535")
    };
    let config = config_text(&state, &domains, off)?;
    let config_path = state.join("outpost.toml");
    std::fs::write(&config_path, config)
        .with_context(|| format!("writing {}", config_path.display()))?;

    if !args.no_build {
        let status = build_command().status().context("running cargo build")?;
        if !status.success() {
            bail!("cargo build of the daemons failed");
        }
    }
    let bin_dir = crate::ci::target_dir().join("debug");

    for (addr, pass) in &users {
        add_user(&bin_dir, &config_path, addr, pass)?;
    }

    let mut children = Children(Vec::new());
    let mut pending: Vec<Pending> = Vec::new();
    for d in &present {
        let bin = bin_dir.join(d.package);
        if !bin.exists() {
            eprintln!("serve: {} not built, skipped", d.package);
            continue;
        }
        // An abstract socket: no path to clean up or to outgrow sun_path.
        let name = format!("outpost-serve-{}-{}", std::process::id(), d.package);
        let sock_addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())
            .context("naming the notify socket")?;
        let sock = UnixDatagram::bind_addr(&sock_addr).context("binding the notify socket")?;
        sock.set_read_timeout(Some(Duration::from_millis(100)))?;
        let child = Command::new(&bin)
            .arg("--config")
            .arg(&config_path)
            .env("NOTIFY_SOCKET", format!("@{name}"))
            .stdin(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        children.0.push((d.package, child));
        let mut want = Vec::new();
        for (lname, p) in d.listeners {
            want.push((*lname, SocketAddr::from(([127, 0, 0, 1], port(*p)?))));
        }
        pending.push(Pending {
            package: d.package,
            sock,
            want,
        });
    }
    if children.0.is_empty() {
        bail!("no daemon binary found in {}", bin_dir.display());
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut reported: BTreeMap<&str, SocketAddr> = BTreeMap::new();
    let mut order: Vec<&str> = Vec::new();
    for Pending {
        package,
        sock,
        want,
    } in &pending
    {
        let bound = wait_ready(package, sock, &mut children, deadline)?;
        for (lname, addr) in want {
            match bound.get(*lname) {
                Some(a) if a == addr => {}
                Some(a) => bail!("{package} bound {lname} on {a}, expected {addr}"),
                None => bail!("{package} is ready but did not bind {lname} ({addr})"),
            }
            reported.insert(lname, *addr);
            order.push(lname);
        }
    }
    println!("state {}", state.display());
    println!("config {}", config_path.display());
    println!("ca {}", state.join("tls/ca.crt").display());
    for name in &order {
        println!("{name} {}", reported[name]);
    }
    println!("ready");
    let end = (args.duration > 0).then(|| Instant::now() + Duration::from_secs(args.duration));
    loop {
        check_alive(&mut children)?;
        if end.is_some_and(|e| Instant::now() >= e) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Waits for `READY=1` from one daemon and returns the listeners its
/// `STATUS=listening NAME=ADDR …` line names; fails if any daemon exits
/// first or the deadline passes.
fn wait_ready(
    package: &str,
    sock: &UnixDatagram,
    children: &mut Children,
    deadline: Instant,
) -> Result<BTreeMap<String, SocketAddr>> {
    let mut buf = vec![0u8; 4096];
    let mut status = String::new();
    loop {
        check_alive(children)?;
        if Instant::now() > deadline {
            bail!("{package} did not report ready within 60 s");
        }
        let n = match sock.recv(&mut buf) {
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(e) => return Err(e).context("reading the notify socket"),
        };
        let msg = String::from_utf8_lossy(&buf[..n]);
        let mut ready = false;
        for line in msg.lines() {
            if line == "READY=1" {
                ready = true;
            } else if let Some(s) = line.strip_prefix("STATUS=") {
                status = s.to_string();
            }
        }
        if ready {
            return parse_status(&status)
                .with_context(|| format!("{package} reported ready with STATUS={status:?}"));
        }
    }
}

/// `listening NAME=ADDR …` (outpost-daemon's `notify::status_line`).
fn parse_status(status: &str) -> Option<BTreeMap<String, SocketAddr>> {
    status
        .strip_prefix("listening")?
        .split_whitespace()
        .map(|kv| {
            let (k, v) = kv.split_once('=')?;
            Some((k.to_string(), v.parse().ok()?))
        })
        .collect()
}

fn check_alive(children: &mut Children) -> Result<()> {
    for (name, c) in &mut children.0 {
        if let Some(status) = c.try_wait()? {
            bail!("{name} exited ({status}); see its log above");
        }
    }
    Ok(())
}

fn add_user(bin_dir: &Path, config: &Path, addr: &str, pass: &str) -> Result<()> {
    use std::io::Write;
    let mut child = Command::new(bin_dir.join("outpostctl"))
        .arg("--config")
        .arg(config)
        .args(["user", "add", addr, "--password-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("running outpostctl")?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = writeln!(stdin, "{pass}");
    }
    let out = child.wait_with_output()?;
    let err = String::from_utf8_lossy(&out.stderr);
    // A reused state directory already has the user: fine.
    if !out.status.success() && !err.contains("exists already") {
        bail!("adding {addr}: {}", err.trim());
    }
    Ok(())
}

/// The throw-away configuration (TOML written by hand: xtask stays free of
/// the daemons' dependencies).
fn config_text(state: &Path, domains: &[String], off: u16) -> Result<String> {
    let a = |p: u16| -> Result<String> {
        let port = p
            .checked_add(off)
            .context("--port-offset pushes a port past 65535")?;
        Ok(format!("[\"127.0.0.1:{port}\"]"))
    };
    let s = |rel: &str| format!("{:?}", state.join(rel).display().to_string());
    let domains: Vec<String> = domains.iter().map(|d| format!("{d:?}")).collect();
    let st = format!("{:?}", state.display().to_string());
    Ok(format!(
        "# Written by cargo xtask serve: throw-away development configuration.\n\
         [general]\nhostname = \"localhost\"\ndomains = [{domains}]\nmail_root = {mail}\nstate_dir = {st}\n\n\
         [tls]\ndir = {tls}\n\n\
         [directory]\npath = {dir}\n\n\
         [smtp]\nmx_listen = {smtp}\nsubmission_listen = {sub}\nsubmissions_listen = {subs}\nqueue_dir = {queue}\n\
         retry_initial_secs = 5\nretry_max_secs = 60\n\n\
         # No SPF/DKIM/DMARC checks: serve has no DNS (nothing may leave\n\
         # loopback), so every result would be temperror after a wait.\n\
         [smtp.checks]\nenabled = false\ndns_servers = [\"127.0.0.1:9\"]\n\n\
         [imap]\nimap_listen = {imap}\nimaps_listen = {imaps}\npop3_listen = {pop3}\npop3s_listen = {pop3s}\n\n\
         [web]\nlisten = {https}\nplain_listen = {http}\nredirect_listen = {redirect}\n",
        domains = domains.join(", "),
        mail = s("mail"),
        tls = s("tls"),
        dir = s("directory"),
        queue = s("queue"),
        smtp = a(25)?,
        sub = a(587)?,
        subs = a(465)?,
        imap = a(143)?,
        imaps = a(993)?,
        pop3 = a(110)?,
        pop3s = a(995)?,
        https = a(443)?,
        http = a(80)?,
        redirect = a(81)?,
    ))
}

/// A started daemon whose readiness `serve` still waits for.
struct Pending {
    package: &'static str,
    /// Its `NOTIFY_SOCKET`.
    sock: UnixDatagram,
    /// The listeners it must report, and where.
    want: Vec<(&'static str, SocketAddr)>,
}
