//! The real `outpost-webd` binary: reads its `--config`, creates the local CA
//! on first start, serves HTTPS, and answers a TLS client (curl, verifying
//! against the exported `ca.crt`).

use crate::harness::{ALICE, PASSWORD};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn https_daemon_from_config_with_local_ca() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let cfg = crate::harness::daemon_state(t, "[web]\nlisten = [\"127.0.0.1:0\"]\n");
    let (child, bound) = crate::harness::spawn_ready(
        Command::new(env!("CARGO_BIN_EXE_outpost-webd"))
            .arg("--config")
            .arg(&cfg)
            .stderr(Stdio::null()),
        t,
    );
    let _daemon = Kill(child);
    let port = crate::harness::bound(&bound, "https").port();
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "20", "--cacert"])
        .arg(t.join("tls/ca.crt"))
        .args(["--resolve", &format!("localhost:{port}:127.0.0.1")])
        .args([
            "-u",
            &format!("{ALICE}:{PASSWORD}"),
            "-X",
            "PROPFIND",
            "-H",
            "Depth: 1",
        ])
        .arg(format!("https://localhost:{port}/dav/{ALICE}/"))
        .output()
        .expect("curl (apt-get install curl)");
    let body = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        body.contains("<D:href>/dav/alice@outpost.lan/calendar/</D:href>"),
        "{body}"
    );
    assert!(
        body.contains("<D:href>/dav/alice@outpost.lan/contacts/</D:href>"),
        "{body}"
    );
}

/// A restart waits for work, not for idle browsers: on SIGTERM an idle
/// keep-alive connection is closed at once and the daemon exits, instead
/// of holding the restart for the whole grace period
/// (`general.shutdown_grace_secs`, 30 s).
#[test]
fn sigterm_closes_idle_keep_alive_connections_and_exits_promptly() {
    use std::io::{Read, Write};
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let cfg = crate::harness::daemon_state(
        t,
        "[web]\nlisten = [\"127.0.0.1:0\"]\nplain_listen = [\"127.0.0.1:0\"]\n",
    );
    let (child, bound) = crate::harness::spawn_ready(
        Command::new(env!("CARGO_BIN_EXE_outpost-webd"))
            .arg("--config")
            .arg(&cfg)
            .stderr(Stdio::null()),
        t,
    );
    let mut daemon = Kill(child);
    let mut sock = std::net::TcpStream::connect(crate::harness::bound(&bound, "http")).unwrap();
    // One request on a keep-alive connection, answered in full.
    sock.write_all(b"OPTIONS /dav/ HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut b = [0u8; 4096];
    let n = sock.read(&mut b).unwrap();
    let head = String::from_utf8_lossy(&b[..n]).into_owned();
    assert!(head.starts_with("HTTP/1.1 "), "{head}");
    assert!(
        !head.to_ascii_lowercase().contains("connection: close"),
        "{head}"
    );
    // The connection stays open, idle.
    sock.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    assert!(
        sock.read(&mut b).is_err(),
        "the server closed an idle keep-alive connection"
    );

    let pid = daemon.0.id().to_string();
    let killed = Instant::now();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let r = sock.read(&mut b);
    assert!(
        matches!(r, Ok(0)),
        "expected the idle connection closed at once, got {r:?} after {:?}",
        killed.elapsed()
    );
    let status = loop {
        if let Some(s) = daemon.0.try_wait().unwrap() {
            break s;
        }
        assert!(
            killed.elapsed() < Duration::from_secs(20),
            "webd still running 20 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
    assert!(
        killed.elapsed() < Duration::from_secs(5),
        "webd took {:?} to stop with one idle connection",
        killed.elapsed()
    );
}

/// systemd's watchdog (`WatchdogSec=` sets `WATCHDOG_USEC`): the daemon
/// says `READY=1` once it listens, then pings `WATCHDOG=1` every half
/// period; told the watchdog is another process's (`WATCHDOG_PID`), it
/// never pings.
#[test]
fn the_daemon_pings_the_systemd_watchdog_it_is_given() {
    use std::os::unix::net::UnixDatagram;
    let run = |watchdog_pid: Option<&str>| -> Vec<String> {
        let tmp = tempfile::tempdir().unwrap();
        let t = tmp.path();
        outpost_directory::Directory::open(&t.join("directory")).unwrap();
        let sock_path = t.join("notify.sock");
        let sock = UnixDatagram::bind(&sock_path).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let cfg = t.join("outpost.toml");
        std::fs::write(
            &cfg,
            format!(
                "[general]\nhostname = \"outpost.lan\"\nstate_dir = \"{s}\"\n[tls]\ndir = \"{s}/tls\"\n\
                 [directory]\npath = \"{s}/directory\"\n[web]\nlisten = []\n\
                 plain_listen = [\"127.0.0.1:0\"]\n",
                s = t.display()
            ),
        )
        .unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_outpost-webd"));
        cmd.arg("--config")
            .arg(&cfg)
            .env("NOTIFY_SOCKET", &sock_path)
            .env("WATCHDOG_USEC", "400000")
            .stderr(Stdio::null());
        if let Some(p) = watchdog_pid {
            cmd.env("WATCHDOG_PID", p);
        }
        let _daemon = Kill(cmd.spawn().unwrap());
        let mut got = Vec::new();
        let start = Instant::now();
        let mut b = [0u8; 4096];
        while start.elapsed() < Duration::from_secs(3) {
            if let Ok(n) = sock.recv(&mut b) {
                got.push(String::from_utf8_lossy(&b[..n]).into_owned());
            }
        }
        got
    };
    let got = run(None);
    let ready = got.iter().position(|m| m.lines().any(|l| l == "READY=1"));
    assert!(ready.is_some(), "no READY=1 in {got:?}");
    let pings = got.iter().filter(|m| m.trim() == "WATCHDOG=1").count();
    // 0.2 s apart for about 3 s; at least a few even on a loaded machine.
    assert!(pings >= 3, "{pings} watchdog pings in 3 s: {got:?}");
    let got = run(Some("1"));
    assert!(
        got.iter().any(|m| m.lines().any(|l| l == "READY=1")),
        "{got:?}"
    );
    assert!(
        !got.iter().any(|m| m.trim() == "WATCHDOG=1"),
        "pinged another process's watchdog: {got:?}"
    );
}
