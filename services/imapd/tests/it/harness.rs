//! One helper per area: [`Server`] starts the server in-process on loopback with one
//! user (`alice@outpost.lan` / `secret`), [`Client`] speaks raw lines.

use outpost_config::Config;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

pub const USER: &str = "alice@outpost.lan";
pub const PASS: &str = "secret-pass-1";

/// A running server; stops when dropped (runtime shut down).
pub struct Server {
    pub imap: SocketAddr,
    pub pop3: SocketAddr,
    pub _dir: tempfile::TempDir,
    pub config: Config,
    _rt: tokio::runtime::Runtime,
}

impl Server {
    pub fn start() -> Server {
        Self::start_with(|_| {})
    }

    pub fn start_with(f: impl FnOnce(&mut Config)) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::default();
        let lo: SocketAddr = "127.0.0.1:0".parse().unwrap();
        config.general.mail_root = dir.path().join("mail");
        config.general.state_dir = dir.path().to_path_buf();
        config.tls.dir = dir.path().join("tls");
        config.directory.path = dir.path().join("directory");
        config.imap.imap_listen = vec![lo];
        config.imap.imaps_listen = vec![lo];
        config.imap.pop3_listen = vec![lo];
        config.imap.pop3s_listen = vec![lo];
        f(&mut config);
        std::fs::create_dir_all(&config.directory.path).unwrap();
        let mut d = outpost_directory::Directory::open(&config.directory.path).unwrap();
        d.add_user(&outpost_directory::NewUser::new(USER, PASS))
            .unwrap();
        outpost_store::create_mailbox_tree(&config.general.mail_root, "outpost.lan", "alice")
            .unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let cfg = config.clone();
        let addrs = rt.block_on(async move {
            let l = outpost_imapd::server::Listeners::bind(&cfg).await.unwrap();
            let addrs = l.addrs();
            let sh = outpost_imapd::server::Shared::new(cfg).unwrap();
            tokio::spawn(l.serve(sh));
            addrs
        });
        Server {
            imap: addrs[0].0,
            pop3: addrs[2].0,
            _dir: dir,
            config,
            _rt: rt,
        }
    }

    pub fn mail_root(&self) -> PathBuf {
        self.config.general.mail_root.clone()
    }

    /// Delivers a message as smtpd would.
    pub fn deliver(&self, folder: &str, msg: &str) {
        outpost_store::deliver(
            &self.mail_root(),
            "outpost.lan",
            "alice",
            folder,
            msg.as_bytes(),
        )
        .unwrap();
    }
}

/// A raw line client with a read timeout.
pub struct Client {
    r: BufReader<TcpStream>,
    w: TcpStream,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        let s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        Client {
            r: BufReader::new(s.try_clone().unwrap()),
            w: s,
        }
    }

    pub fn send(&mut self, s: &str) {
        self.w.write_all(s.as_bytes()).unwrap();
    }

    pub fn line(&mut self) -> String {
        let mut l = String::new();
        self.r.read_line(&mut l).unwrap();
        l
    }

    /// Reads until a line starting with `tag ` (inclusive), following literals.
    pub fn until(&mut self, tag: &str) -> String {
        let mut all = String::new();
        loop {
            let l = self.line();
            assert!(!l.is_empty(), "connection closed; got so far:\n{all}");
            all.push_str(&l);
            if let Some(n) = literal_len(&l) {
                let mut b = vec![0; n];
                self.r.read_exact(&mut b).unwrap();
                all.push_str(&String::from_utf8_lossy(&b));
                continue;
            }
            if l.starts_with(&format!("{tag} ")) {
                return all;
            }
        }
    }

    /// Sends a tagged command and returns everything up to its completion.
    pub fn cmd(&mut self, tag: &str, c: &str) -> String {
        self.send(&format!("{tag} {c}\r\n"));
        self.until(tag)
    }

    pub fn login(&mut self) {
        let g = self.line();
        assert!(g.starts_with("* OK"), "{g}");
        let r = self.cmd("l", &format!("LOGIN {USER} {PASS}"));
        assert!(r.contains("l OK"), "{r}");
    }
}

fn literal_len(l: &str) -> Option<usize> {
    let t = l.trim_end();
    let open = t.rfind('{')?;
    t.strip_suffix('}')?[open + 1..].parse().ok()
}

pub fn msg(i: usize) -> String {
    format!(
        "From: Bob <bob@example.lan>\r\nTo: alice@outpost.lan\r\nSubject: hello {i}\r\n\
Message-ID: <m{i}@example.lan>\r\nDate: Thu, 26 Nov 2026 10:00:00 +0000\r\n\r\nbody number {i}\r\n"
    )
}

impl Client {
    /// The underlying socket (for compressed or TLS tests).
    pub fn into_stream(self) -> TcpStream {
        self.w
    }
}

/// The daemons as a user runs them: `cargo xtask serve` (real binaries,
/// the configuration it writes, its local CA), on a port offset where all
/// eight ports were free, with [`USER`] created through `outpostctl`.
/// Dropping it kills the whole process group (serve and its daemons).
pub struct Served {
    pub smtp: SocketAddr,
    pub imap: SocketAddr,
    pub imaps: SocketAddr,
    pub pop3: SocketAddr,
    pub pop3s: SocketAddr,
    state: tempfile::TempDir,
    child: std::process::Child,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.wait();
    }
}

impl Served {
    pub fn start() -> Served {
        use std::os::unix::process::CommandExt;
        let state = tempfile::tempdir().unwrap();
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let log = std::fs::File::create(state.path().join("serve.log")).unwrap();
        // Ports 25..995 plus the offset must all be free; try a few.
        let std_ports = [25u16, 587, 465, 143, 993, 110, 995, 443];
        let seed = std::process::id() as u16;
        let offset = (0..200u16)
            .map(|i| 20000 + (seed.wrapping_add(i * 7919) % 40) * 1000)
            .find(|off| {
                std_ports.iter().all(|p| {
                    std::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], p + off))).is_ok()
                })
            })
            .expect("no free port offset");
        let mut cmd =
            std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
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
        let mut child = cmd
            .current_dir(&root)
            .args(["xtask", "serve", "--state"])
            .arg(state.path())
            .args(["--user", &format!("{USER}:{PASS}")])
            .args(["--port-offset", &offset.to_string()])
            .stdout(std::process::Stdio::piped())
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
        let mut addrs = std::collections::HashMap::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(240);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match rx.recv_timeout(left) {
                Ok(l) if l == "ready" => break,
                Ok(l) => {
                    if let Some((name, addr)) = l.split_once(' ')
                        && let Ok(a) = addr.parse::<SocketAddr>()
                    {
                        addrs.insert(name.to_string(), a);
                    }
                }
                Err(_) => panic!(
                    "cargo xtask serve did not get ready:\n{}",
                    std::fs::read_to_string(state.path().join("serve.log")).unwrap_or_default()
                ),
            }
        }
        let a = |n: &str| {
            *addrs
                .get(n)
                .unwrap_or_else(|| panic!("serve printed no {n}"))
        };
        Served {
            smtp: a("smtp"),
            imap: a("imap"),
            imaps: a("imaps"),
            pop3: a("pop3"),
            pop3s: a("pop3s"),
            child,
            state,
        }
    }

    pub fn mail_root(&self) -> PathBuf {
        self.state.path().join("mail")
    }

    pub fn ca(&self) -> PathBuf {
        self.state.path().join("tls/ca.crt")
    }

    /// Delivers a message straight into the store (fast set-up).
    pub fn deliver(&self, folder: &str, msg: &str) {
        outpost_store::deliver(
            &self.mail_root(),
            "outpost.lan",
            "alice",
            folder,
            msg.as_bytes(),
        )
        .unwrap();
    }
}
