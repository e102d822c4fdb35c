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
    let mut dir = outpost_directory::Directory::open(&t.join("directory")).unwrap();
    dir.add_user(&outpost_directory::NewUser::new(ALICE, PASSWORD))
        .unwrap();
    outpost_davstore::create_default_collections(&t.join("dav/collections"), ALICE).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = t.join("outpost.toml");
    std::fs::write(
        &cfg,
        format!(
            "[general]\nhostname = \"outpost.lan\"\nstate_dir = \"{s}\"\n[tls]\ndir = \"{s}/tls\"\n\
             [directory]\npath = \"{s}/directory\"\n[web]\nlisten = [\"127.0.0.1:{port}\"]\n",
            s = t.display()
        ),
    )
    .unwrap();
    let _daemon = Kill(
        Command::new(env!("CARGO_BIN_EXE_outpost-webd"))
            .arg("--config")
            .arg(&cfg)
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "webd did not listen"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
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
