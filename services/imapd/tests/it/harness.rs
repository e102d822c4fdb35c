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
    pub imaps: SocketAddr,
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
            imaps: addrs[1].0,
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
        Self::from_stream(TcpStream::connect(addr).unwrap())
    }

    /// Connects from another loopback address (`127.0.0.2`, …), so the
    /// server sees another client.
    pub fn connect_from(src: std::net::Ipv4Addr, addr: SocketAddr) -> Client {
        Self::from_stream(outpost_testkit::connect_from(src, addr))
    }

    fn from_stream(s: TcpStream) -> Client {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        Client {
            r: BufReader::new(s.try_clone().unwrap()),
            w: s,
        }
    }

    /// Sends; `false` once the server has closed the connection.
    pub fn try_send(&mut self, s: &str) -> bool {
        self.w.write_all(s.as_bytes()).is_ok()
    }

    pub fn send(&mut self, s: &str) {
        self.w.write_all(s.as_bytes()).unwrap();
    }

    /// Sends bytes that need not be UTF-8.
    pub fn send_bytes(&mut self, b: &[u8]) {
        self.w.write_all(b).unwrap();
    }

    /// A line if one arrives within `wait` (the socket's timeout is
    /// restored afterwards); `Some("")` when the server closed.
    pub fn try_line(&mut self, wait: Duration) -> Option<String> {
        self.w.set_read_timeout(Some(wait)).unwrap();
        let mut l = String::new();
        let r = self.r.read_line(&mut l);
        self.w
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        match r {
            Ok(_) => Some(l),
            Err(_) if !l.is_empty() => Some(l),
            Err(_) => None,
        }
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

    /// POP3 `USER` + `PASS` as [`USER`] with [`PASS`] (greeting already
    /// read); returns the reply to `PASS`.
    pub fn pop3_login(&mut self) -> String {
        self.send(&format!("USER {USER}\r\n"));
        let r = self.line();
        assert!(r.starts_with("+OK"), "USER: {r}");
        self.send(&format!("PASS {PASS}\r\n"));
        self.line()
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
