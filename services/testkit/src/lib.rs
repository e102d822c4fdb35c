//! Test support shared by the daemons' integration tests: [`Served`]
//! starts the Outpost daemons the way a user does, with `cargo xtask serve`
//! (real binaries, the configuration serve writes, its local CA and, on
//! request, its rspamd and clamd), so real clients (curl, mbsync,
//! fetchmail, litmus, vdirsyncer, caldav) can be pointed at them;
//! [`postfix::Postfix`] is a private Postfix peer; [`engines`] starts
//! private rspamd and clamd instances; [`dkimpy`] verifies DKIM
//! signatures with an independent implementation. A development dependency of the
//! daemons and of outpost-hygiene, and used by `cargo xtask serve` and
//! `cargo xtask bench`.

pub mod dkimpy;
pub mod engines;
pub mod postfix;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The daemons started by `cargo xtask serve` on a port offset where all
/// of serve's ports were free, with the given users created through
/// `outpostctl`. Dropping it kills the whole process group (serve and its
/// daemons).
#[derive(Debug)]
pub struct Served {
    addrs: HashMap<String, SocketAddr>,
    state: tempfile::TempDir,
    child: Child,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.wait();
    }
}

/// serve's standard ports, before the offset.
const PORTS: [u16; 10] = [25, 587, 465, 143, 993, 110, 995, 443, 80, 81];

/// The engines' standard ports (rspamd's normal worker and controller,
/// clamd), before the offset. Offsets are multiples of 1000, and no two
/// of all these ports are equal modulo 1000, so two serves never share a
/// port.
const ENGINE_PORTS: [u16; 3] = [11333, 11334, 3310];

/// How [`Served::start_with`] runs serve.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Start rspamd and clamd too (`spam`, `spam-controller` and `av` in
    /// [`Served::addr`]). Off by default: the real-client tests need no
    /// engines, and rspamd adds about a second and a CPU's worth of work
    /// to each start.
    pub engines: bool,
    /// More arguments for serve (`--smarthost 127.0.0.1:PORT`, …).
    pub args: Vec<String>,
}

impl Served {
    /// Starts serve with `users` (address, password), without the spam
    /// and virus engines, and waits for `ready`.
    pub fn start(users: &[(&str, &str)]) -> Served {
        Served::start_with(users, &Options::default())
    }

    /// Starts serve with `users` as `options` say and waits for `ready`.
    ///
    /// The port offset is one where all of serve's ports were free a
    /// moment ago; another test (a thread of this process, or another
    /// process) can take one of them before serve binds it. serve then
    /// exits with `Address already in use`, and the next offset is tried.
    pub fn start_with(users: &[(&str, &str)], options: &Options) -> Served {
        static STARTED: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0);
        let ports: Vec<u16> = if options.engines {
            PORTS.iter().chain(&ENGINE_PORTS).copied().collect()
        } else {
            PORTS.to_vec()
        };
        // The highest offset that keeps every port below 65536.
        let top = ports.iter().max().map_or(0, |p| u16::MAX - p);
        let mut tried = Vec::new();
        for _ in 0..6 {
            // Threads of one process (`cargo test`) share the pid: the
            // counter keeps their first choices apart.
            let seed = (std::process::id() as u16)
                .wrapping_add(STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed) * 13);
            let offset = (0..200u16)
                .map(|i| 20000 + (seed.wrapping_add(i * 7919) % 40) * 1000)
                .filter(|off| *off <= top && !tried.contains(off))
                .find(|off| {
                    ports.iter().all(|p| {
                        std::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], p + off)))
                            .is_ok()
                    })
                })
                .expect("no free port offset");
            tried.push(offset);
            match Served::start_at(users, offset, options) {
                Ok(s) => return s,
                Err(log) if log.contains("Address already in use") => continue,
                Err(log) => panic!("cargo xtask serve did not get ready:\n{log}"),
            }
        }
        panic!("cargo xtask serve lost its ports to other processes at offsets {tried:?}")
    }

    /// One attempt at `offset`: the serve log if it did not get ready.
    fn start_at(users: &[(&str, &str)], offset: u16, options: &Options) -> Result<Served, String> {
        use std::os::unix::process::CommandExt;
        let state = tempfile::tempdir().unwrap();
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let log = std::fs::File::create(state.path().join("serve.log")).unwrap();
        let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        // What the test runner exports for the test itself (CARGO_PKG_*,
        // CARGO_MANIFEST_DIR, OUT_DIR, LD_LIBRARY_PATH, NEXTEST_*) must not
        // leak into cargo: build scripts watching them would rebuild.
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy().into_owned();
            let keep = ["CARGO_HOME", "CARGO_TARGET_DIR"].contains(&k.as_str())
                || k.starts_with("CARGO_BUILD_");
            if !keep
                && (k.starts_with("CARGO_")
                    || k.starts_with("NEXTEST")
                    || k.starts_with("__CARGO")
                    || ["OUT_DIR", "LD_LIBRARY_PATH", "RUSTC", "RUSTDOC"].contains(&k.as_str()))
            {
                cmd.env_remove(&k);
            }
        }
        cmd.current_dir(&root)
            .args(["xtask", "serve", "--state"])
            .arg(state.path())
            .args(["--port-offset", &offset.to_string()]);
        for (address, password) in users {
            cmd.args(["--user", &format!("{address}:{password}")]);
        }
        if !options.engines {
            cmd.arg("--no-engines");
        }
        cmd.args(&options.args);
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect("running cargo xtask serve");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut addrs = HashMap::new();
        let deadline = Instant::now() + Duration::from_secs(240);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(l) if l == "ready" => break,
                Ok(l) => {
                    if let Some((name, addr)) = l.split_once(' ')
                        && let Ok(a) = addr.parse::<SocketAddr>()
                    {
                        addrs.insert(name.to_string(), a);
                    }
                }
                Err(_) => {
                    let _ = Command::new("kill")
                        .args(["-KILL", "--", &format!("-{}", child.id())])
                        .status();
                    let _ = child.wait();
                    return Err(
                        std::fs::read_to_string(state.path().join("serve.log")).unwrap_or_default()
                    );
                }
            }
        }
        Ok(Served {
            addrs,
            state,
            child,
        })
    }

    /// The address serve printed for a listener (`smtp`, `imap`, `imaps`,
    /// `pop3`, `pop3s`, `https`, `http`, …; with engines `spam`,
    /// `spam-controller`, `av`).
    pub fn addr(&self, name: &str) -> SocketAddr {
        *self
            .addrs
            .get(name)
            .unwrap_or_else(|| panic!("serve printed no {name} listener"))
    }

    /// The state directory (configuration, stores, CA).
    pub fn state(&self) -> &Path {
        self.state.path()
    }

    /// The Maildir root.
    pub fn mail_root(&self) -> PathBuf {
        self.state().join("mail")
    }

    /// What the daemons (and serve) wrote to stderr so far: their logs.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.state().join("serve.log")).unwrap_or_default()
    }

    /// The process id of one of this serve's daemons (`outpost-imapd`, …):
    /// the process running that binary with this state's configuration.
    pub fn pid(&self, daemon: &str) -> Option<u32> {
        let state = self.state().to_string_lossy().into_owned();
        std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let cmd = std::fs::read(e.path().join("cmdline")).ok()?;
            let args: Vec<String> = cmd
                .split(|b| *b == 0)
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            let exe = Path::new(args.first()?).file_name()?.to_str()?.to_string();
            (exe == daemon && args.iter().any(|a| a.starts_with(&state))).then_some(pid)
        })
    }

    /// The local CA certificate the daemons' certificates chain to.
    pub fn ca(&self) -> PathBuf {
        self.state().join("tls/ca.crt")
    }
}

/// The resident set of process `pid` in KiB (`VmRSS` in /proc), 0 if it
/// is gone: the benchmarks' idle-memory figure.
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        })
        .unwrap_or(0)
}

/// A blocking TCP connection to `addr` from the loopback address `src`
/// (`127.0.0.2`, …), so a server sees several clients: tests of per-address
/// caps and lockouts. (std cannot bind before connecting.)
pub fn connect_from(src: std::net::Ipv4Addr, addr: SocketAddr) -> std::net::TcpStream {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .unwrap();
    let s = rt.block_on(async {
        let sock = tokio::net::TcpSocket::new_v4().unwrap();
        sock.bind((src, 0).into()).unwrap();
        sock.connect(addr).await.unwrap().into_std().unwrap()
    });
    s.set_nonblocking(false).unwrap();
    s
}
