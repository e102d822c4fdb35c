//! A webd on 127.0.0.1:0 (plain HTTP: loopback is allowed without TLS) with a
//! throw-away directory and store, and a raw HTTP/1.1 client.

use outpost_directory::{Directory, NewUser};
use outpost_webd::auth::DirectoryAuth;
use outpost_webd::dav::App;
use outpost_webd::server::{self, Options};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

/// A running server; the runtime thread ends with the test process.
pub struct Server {
    pub addr: SocketAddr,
    pub _tmp: tempfile::TempDir,
}

pub const ALICE: &str = "alice@outpost.lan";
pub const BOB: &str = "bob@outpost.lan";
pub const PASSWORD: &str = "correct horse 1";

impl Server {
    pub fn start() -> Server {
        Server::start_with(|_| {})
    }

    /// A server whose listener options `tune` adjusts.
    pub fn start_with(tune: impl FnOnce(&mut Options)) -> Server {
        let tmp = tempfile::tempdir().unwrap();
        let dir_path = tmp.path().join("directory");
        let mut dir = Directory::open(&dir_path).unwrap();
        dir.add_user(&NewUser::new(ALICE, PASSWORD)).unwrap();
        dir.add_user(&NewUser::new(BOB, PASSWORD)).unwrap();
        dir.add_group("team@outpost.lan", "Team").unwrap();
        dir.add_member("team@outpost.lan", BOB).unwrap();
        let root = tmp.path().join("dav/collections");
        // Alice's home is laid out like the installer does; Bob's is
        // created by webd on his first login.
        outpost_davstore::create_default_collections(&root, ALICE).unwrap();
        let app = Arc::new(App {
            store: outpost_davstore::Store::open(&root).unwrap(),
            auth: Arc::new(DirectoryAuth::new(&dir_path)),
            max_body: 64 * 1024,
        });
        let mut opts = Options::default();
        opts.spool_dir = tmp.path().join("spool");
        tune(&mut opts);
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        std_listener.set_nonblocking(true).unwrap();
        let addr = std_listener.local_addr().unwrap();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let l = tokio::net::TcpListener::from_std(std_listener).unwrap();
                let _ = server::serve(l, None, app, opts).await;
            });
        });
        Server { addr, _tmp: tmp }
    }

    /// Sends one request (`Connection: close`) and returns status, headers, body.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        user: Option<&str>,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (u16, Vec<(String, String)>, String) {
        request(self.addr, method, path, user, headers, body)
    }
}

/// One plain-HTTP request (`Connection: close`) to `addr` as `user` (with
/// [`PASSWORD`]); returns status, headers, body.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    user: Option<&str>,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, Vec<(String, String)>, String) {
    {
        use base64::Engine as _;
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut req =
            format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
        if let Some(u) = user {
            let c = base64::engine::general_purpose::STANDARD.encode(format!("{u}:{PASSWORD}"));
            req.push_str(&format!("Authorization: Basic {c}\r\n"));
        }
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
        s.write_all(req.as_bytes()).unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).unwrap();
        let text = String::from_utf8_lossy(&out).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let mut lines = head.lines();
        let status = lines
            .next()
            .unwrap_or("")
            .split(' ')
            .nth(1)
            .unwrap_or("0")
            .parse()
            .unwrap();
        let headers = lines
            .filter_map(|l| l.split_once(": "))
            .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
            .collect();
        (status, headers, body.to_string())
    }
}

/// Replaces revision numbers (13+ digits: they start at the creation time
/// in milliseconds) with `N`, so expected XML can be exact.
pub fn normalize(s: &str) -> String {
    let mut out = String::new();
    let mut digits = String::new();
    for c in s.chars().chain(std::iter::once('\u{0}')) {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        if digits.len() >= 13 {
            out.push('N');
        } else {
            out.push_str(&digits);
        }
        digits.clear();
        if c != '\u{0}' {
            out.push(c);
        }
    }
    out
}

/// Adjusts the expansion bounds of a [`Server`] (a table column).
pub type DavLimitsFn = fn(&mut outpost_webd::dav::Limits);

/// Spawns a real daemon (`cmd`, configured with port-0 listeners) with a
/// private `NOTIFY_SOCKET` under `dir` and waits for its `READY=1`;
/// returns the child and the listeners its `STATUS=` line names. No port
/// is guessed, so parallel tests never race for one.
pub fn spawn_ready(
    cmd: &mut std::process::Command,
    dir: &std::path::Path,
) -> (std::process::Child, Vec<(String, SocketAddr)>) {
    use std::os::unix::net::UnixDatagram;
    let path = dir.join("notify.sock");
    let sock = UnixDatagram::bind(&path).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut child = cmd.env("NOTIFY_SOCKET", &path).spawn().unwrap();
    let start = std::time::Instant::now();
    let mut b = [0u8; 4096];
    loop {
        if let Ok(n) = sock.recv(&mut b) {
            let msg = String::from_utf8_lossy(&b[..n]).into_owned();
            if msg.lines().any(|l| l == "READY=1") {
                let status = msg
                    .lines()
                    .find_map(|l| l.strip_prefix("STATUS="))
                    .unwrap_or("");
                let bound = outpost_daemon::notify::parse_status(status)
                    .unwrap_or_else(|| panic!("bad STATUS in {msg:?}"));
                return (child, bound);
            }
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the daemon exited before it was ready: {status}");
        }
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("the daemon was not ready after 60 s");
        }
    }
}

/// The address of listener `name` in [`spawn_ready`]'s list.
pub fn bound(list: &[(String, SocketAddr)], name: &str) -> SocketAddr {
    list.iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no {name} listener in {list:?}"))
        .1
}

/// A state directory under `t` for the real daemon: a directory with
/// [`ALICE`], her default collections, and `outpost.toml` with the
/// general, TLS and directory sections plus `rest` (its `[web]`, `[log]`);
/// returns the config's path.
pub fn daemon_state(t: &std::path::Path, rest: &str) -> std::path::PathBuf {
    let mut dir = Directory::open(&t.join("directory")).unwrap();
    dir.add_user(&NewUser::new(ALICE, PASSWORD)).unwrap();
    outpost_davstore::create_default_collections(&t.join("dav/collections"), ALICE).unwrap();
    let cfg = t.join("outpost.toml");
    std::fs::write(
        &cfg,
        format!(
            "[general]\nhostname = \"outpost.lan\"\nstate_dir = \"{s}\"\nmail_root = \"{s}/mail\"\n\
             [tls]\ndir = \"{s}/tls\"\n\
             [directory]\npath = \"{s}/directory\"\n{rest}",
            s = t.display()
        ),
    )
    .unwrap();
    cfg
}
