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
//!
//! The mail hygiene engines run beside the daemons when they are
//! installed (`outpost_testkit::engines`, under `<state>/rspamd` and
//! `<state>/clamd`): rspamd's normal worker and controller on 11333/11334
//! and clamd on 3310, shifted by the offset like every other port, and
//! written into `[smtp.spam]` and `[smtp.av]`. clamd's database is
//! `--clamav-db DIR`, or one signature for the EICAR test string. An
//! engine that is not installed is named in one line and left off, as is
//! every engine with `--no-engines`; one that exits stops serve like a
//! daemon. They start while the daemons do (rspamd needs about 1.5 s), so
//! `ready` waits for the slower of the two. `--smarthost HOST:PORT` points
//! the relay at a test smarthost (no TLS: serve is loopback only).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::os::linux::net::SocketAddrExt as _;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use outpost_testkit::engines;

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
    /// Do not start rspamd and clamd (no spam or virus checks).
    #[arg(long)]
    pub no_engines: bool,
    /// clamd's signature database (default: the EICAR test signature only).
    #[arg(long, value_name = "DIR")]
    pub clamav_db: Option<PathBuf>,
    /// Relay mail for remote recipients to this smarthost (no TLS).
    #[arg(long, value_name = "HOST:PORT")]
    pub smarthost: Option<String>,
}

/// The engines' standard ports, before the offset: rspamd's normal worker
/// and controller, clamd.
const RSPAMD_PORTS: (u16, u16) = (11333, 11334);
const CLAMD_PORT: u16 = 3310;

/// Longest message clamd is given (`[smtp.av] max_scan_bytes`); clamd's
/// `StreamMaxLength` is a little more.
const MAX_SCAN_BYTES: u64 = 25 << 20;

/// What serve writes into the configuration beyond the listeners.
#[derive(Debug, Default)]
struct Extras {
    /// rspamd's normal worker and controller.
    spam: Option<(SocketAddr, SocketAddr)>,
    /// clamd's address and database directory.
    av: Option<(SocketAddr, PathBuf)>,
    /// The smarthost.
    smarthost: Option<(String, u16)>,
}

/// The engines serve runs (each stopped when dropped).
#[derive(Default)]
struct Engines {
    rspamd: Option<engines::Rspamd>,
    clamd: Option<engines::Clamd>,
}

impl Engines {
    fn check(&mut self) -> Result<()> {
        if let Some(r) = &mut self.rspamd {
            r.check().map_err(anyhow::Error::msg)?;
        }
        if let Some(c) = &mut self.clamd {
            c.check().map_err(anyhow::Error::msg)?;
        }
        Ok(())
    }
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
    let mut extras = Extras {
        smarthost: args.smarthost.as_deref().map(parse_smarthost).transpose()?,
        ..Extras::default()
    };
    let loopback =
        |p: u16| -> Result<SocketAddr> { Ok(SocketAddr::from(([127, 0, 0, 1], port(p)?))) };
    let clamav_db = match &args.clamav_db {
        Some(d) => Some(
            d.canonicalize()
                .with_context(|| format!("--clamav-db {}", d.display()))?,
        ),
        None => None,
    };
    if !args.no_engines {
        match engines::installed("rspamd") {
            Some(_) => {
                extras.spam = Some((loopback(RSPAMD_PORTS.0)?, loopback(RSPAMD_PORTS.1)?));
            }
            None => eprintln!("serve: rspamd is not installed (cargo xtask deps): no spam checks"),
        }
        match engines::installed("clamd") {
            Some(_) => {
                let db = clamav_db.clone().unwrap_or_else(|| state.join("clamd/db"));
                extras.av = Some((loopback(CLAMD_PORT)?, db));
            }
            None => eprintln!("serve: clamd is not installed (cargo xtask deps): no virus scan"),
        }
    }
    // A port another process holds fails here, in the words the daemons
    // use (`Address already in use`), before anything is started.
    let engine_ports = extras
        .spam
        .iter()
        .flat_map(|(n, c)| [n, c])
        .chain(extras.av.iter().map(|(a, _)| a));
    for a in engine_ports {
        std::net::TcpListener::bind(a).with_context(|| format!("binding the engines' {a}"))?;
    }
    let config = config_text(&state, &domains, off, &extras)?;
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

    // The engines start while the daemons do; smtpd only connects to them
    // per message.
    let rspamd = extras.spam.map(|(normal, controller)| {
        let dir = state.join("rspamd");
        std::thread::spawn(move || {
            engines::Rspamd::start_with(
                &dir,
                engines::RspamdOptions {
                    normal: Some(normal),
                    controller: Some(controller),
                    ..Default::default()
                },
            )
        })
    });
    let clamd = extras.av.clone().map(|(addr, db)| {
        let dir = state.join("clamd");
        let options = engines::ClamdOptions {
            db_dir: clamav_db.is_some().then_some(db),
            tcp: Some(addr),
            stream_max: Some(MAX_SCAN_BYTES + (1 << 20)),
            // A real database takes a while to load (the whole of ClamAV's
            // takes tens of seconds and a gigabyte).
            timeout: Some(Duration::from_secs(if clamav_db.is_some() {
                600
            } else {
                60
            })),
        };
        std::thread::spawn(move || engines::Clamd::start_with(&dir, &options))
    });
    let mut engines = Engines::default();
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
    let joined = |what: &str| anyhow::anyhow!("the thread starting {what} panicked");
    if let Some(t) = rspamd {
        engines.rspamd = Some(
            t.join()
                .map_err(|_| joined("rspamd"))?
                .map_err(anyhow::Error::msg)?,
        );
    }
    if let Some(t) = clamd {
        engines.clamd = Some(
            t.join()
                .map_err(|_| joined("clamd"))?
                .map_err(anyhow::Error::msg)?,
        );
    }
    if let Some(r) = &engines.rspamd {
        reported.insert("spam", r.normal);
        reported.insert("spam-controller", r.controller);
        order.extend(["spam", "spam-controller"]);
    }
    if let Some(c) = &engines.clamd {
        reported.insert("av", c.tcp.context("clamd on TCP")?);
        order.push("av");
    }
    println!("state {}", state.display());
    println!("config {}", config_path.display());
    println!("ca {}", state.join("tls/ca.crt").display());
    for name in &order {
        println!("{name} {}", reported[name]);
    }
    if let Some((host, p)) = &extras.smarthost {
        println!("smarthost {host}:{p}");
    }
    println!("ready");
    let end = (args.duration > 0).then(|| Instant::now() + Duration::from_secs(args.duration));
    loop {
        check_alive(&mut children)?;
        engines.check()?;
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

/// `HOST:PORT` of `--smarthost`.
fn parse_smarthost(s: &str) -> Result<(String, u16)> {
    let parsed = s.rsplit_once(':').and_then(|(host, port)| {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        Some((host.to_string(), port.parse::<u16>().ok()?)).filter(|(h, _)| !h.is_empty())
    });
    parsed.with_context(|| format!("--smarthost {s:?}: expected HOST:PORT"))
}

/// The throw-away configuration (TOML written by hand: xtask stays free of
/// the daemons' dependencies).
fn config_text(state: &Path, domains: &[String], off: u16, extras: &Extras) -> Result<String> {
    let a = |p: u16| -> Result<String> {
        let port = p
            .checked_add(off)
            .context("--port-offset pushes a port past 65535")?;
        Ok(format!("[\"127.0.0.1:{port}\"]"))
    };
    let s = |rel: &str| format!("{:?}", state.join(rel).display().to_string());
    let domains: Vec<String> = domains.iter().map(|d| format!("{d:?}")).collect();
    let st = format!("{:?}", state.display().to_string());
    // Engines and smarthost: `[smtp.*]` tables, after `[smtp.checks]`.
    let mut hygiene = String::new();
    if let Some((normal, controller)) = extras.spam {
        hygiene.push_str(&format!(
            "[smtp.spam]\nrspamd = \"{normal}\"\ncontroller = \"{controller}\"\npassword = {:?}\n\n",
            engines::RSPAMD_PASSWORD
        ));
    }
    if let Some((addr, db)) = &extras.av {
        hygiene.push_str(&format!(
            "[smtp.av]\nclamd = \"{addr}\"\nmax_scan_bytes = {MAX_SCAN_BYTES}\ndatabase_dir = {:?}\n\n",
            db.display().to_string()
        ));
    }
    if let Some((host, port)) = &extras.smarthost {
        hygiene.push_str(&format!(
            "# A test smarthost on loopback: no TLS.\n\
             [smtp.upstream]\nhost = {host:?}\nport = {port}\ntls = \"none\"\n\n"
        ));
    }
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
         {hygiene}\
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

#[cfg(test)]
mod tests {
    //! serve as the tests start it (`outpost_testkit::Served`), with its
    //! engines and a test smarthost: mail from outside meets rspamd and
    //! clamd, and submitted mail for a remote address reaches the
    //! smarthost. swaks is the client; the EICAR file is made here.

    use std::net::SocketAddr;
    use std::process::Command;
    use std::time::{Duration, Instant};

    use outpost_testkit::postfix::{Options as PostfixOptions, Postfix};
    use outpost_testkit::{Options, Served, engines};

    const ALICE: &str = "alice@outpost.test";
    const PASS: &str = "alice-secret-1";

    fn swaks(addr: SocketAddr, args: &[&str]) -> (bool, String) {
        let out = Command::new("swaks")
            .args(["--server", &addr.ip().to_string()])
            .args(["--port", &addr.port().to_string()])
            .args(["--helo", "client.test", "--timeout", "30"])
            .args(args)
            .output()
            .expect("running swaks (apt-get install swaks)");
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        (out.status.success(), text)
    }

    /// A scratch directory, removed when dropped (xtask has no tempfile).
    struct Scratch(std::path::PathBuf);

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn inbox(s: &Served) -> Vec<String> {
        let dir = s.mail_root().join("outpost.test/alice/new");
        let mut out: Vec<String> = std::fs::read_dir(dir)
            .map(|r| r.flatten().map(|e| e.path()).collect::<Vec<_>>())
            .unwrap_or_default()
            .iter()
            .filter_map(|p| std::fs::read_to_string(p).ok())
            .collect();
        out.sort();
        out
    }

    #[test]
    fn serve_wires_rspamd_clamd_and_the_smarthost() {
        for bin in ["rspamd", "clamd", "swaks", "postfix"] {
            assert!(
                engines::installed(bin).is_some(),
                "{bin} is not installed: run `cargo xtask deps`"
            );
        }
        let relay = Scratch(
            std::env::temp_dir().join(format!("outpost-serve-test-{}", std::process::id())),
        );
        std::fs::create_dir_all(&relay.0).unwrap();
        let relay_port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let smarthost = Postfix::start(
            &relay.0.join("postfix"),
            PostfixOptions {
                port: relay_port,
                hostname: "smarthost.test",
                domain: "remote.example",
                mailbox: "carol",
                tls: None,
            },
        )
        .unwrap();
        let started = Instant::now();
        let s = Served::start_with(
            &[(ALICE, PASS)],
            &Options {
                engines: true,
                args: vec!["--smarthost".into(), format!("127.0.0.1:{relay_port}")],
            },
        );
        eprintln!("serve ready in {:?}", started.elapsed());
        // serve printed the engines with the shifted standard ports.
        let off = s.addr("smtp").port() - 25;
        assert_eq!(s.addr("spam").port(), 11333 + off);
        assert_eq!(s.addr("spam-controller").port(), 11334 + off);
        assert_eq!(s.addr("av").port(), 3310 + off);
        let mx = s.addr("smtp");
        let outside = ["--from", "someone@remote.example", "--to", ALICE];

        // GTUBE scores 15, serve's reject score: refused.
        let gtube = [
            "XJS*C4JDBQADN1.NSBN3*2IDNEN*",
            "GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X",
        ]
        .concat();
        let (ok, t) = swaks(mx, &[&outside[..], &["--body", &gtube]].concat());
        assert!(
            !ok && t.contains("550 5.7.1 Message refused as spam"),
            "{t}"
        );

        // The EICAR file as an attachment: refused, naming the signature.
        let eicar = relay.0.join("eicar.txt");
        std::fs::write(&eicar, engines::eicar()).unwrap();
        let attach = format!("@{}", eicar.display());
        let (ok, t) = swaks(mx, &[&outside[..], &["--attach", &attach]].concat());
        assert!(
            !ok && t.contains(&format!(
                "550 5.7.1 Message refused: virus found ({})",
                engines::EICAR_SIGNATURE
            )),
            "{t}"
        );
        assert!(inbox(&s).is_empty(), "{:?}", inbox(&s));

        // Plain mail: delivered, with both engines' verdicts.
        let (ok, t) = swaks(
            mx,
            &[&outside[..], &["--body", "Lunch tomorrow at noon?"]].concat(),
        );
        assert!(ok, "{t}");
        let inbox = inbox(&s);
        assert_eq!(inbox.len(), 1, "{inbox:?}");
        assert!(inbox[0].contains("X-Virus-Status: Clean"), "{}", inbox[0]);
        assert!(inbox[0].contains("X-Spam-Status: No,"), "{}", inbox[0]);

        // Submitted mail for a remote address goes to the smarthost.
        let (ok, t) = swaks(
            s.addr("submission"),
            &[
                "--tls",
                "--auth",
                "PLAIN",
                "--auth-user",
                ALICE,
                "--auth-password",
                PASS,
                "--from",
                ALICE,
                "--to",
                "carol@remote.example",
                "--body",
                "Relayed through the smarthost.",
            ],
        );
        assert!(ok, "{t}");
        eprintln!("checks done at {:?}", started.elapsed());
        let deadline = Instant::now() + Duration::from_secs(60);
        let new = smarthost.maildir().join("new");
        while std::fs::read_dir(&new).map_or(0, |r| r.count()) == 0 {
            assert!(
                Instant::now() < deadline,
                "the smarthost got nothing:\n{}\nserve:\n{}",
                smarthost.diagnosis(),
                s.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        eprintln!("relayed at {:?}", started.elapsed());
    }
}
