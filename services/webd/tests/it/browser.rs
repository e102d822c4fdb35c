//! The web UI in a real browser: Debian's `chromium` driven by Playwright
//! for Python (from PyPI, pinned; the browser is Debian's, nothing is
//! downloaded) against one `cargo xtask serve`. The scenarios are in
//! `tests/browser/webmail.py`; screenshots land in
//! `target/outpost/screenshots/`. Fails (does not skip) when chromium or
//! the venv is missing: `cargo xtask deps` installs chromium.

use crate::clients::run_bounded;
use crate::harness::{ALICE, BOB, PASSWORD};
use outpost_testkit::Served;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// The administrator the admin scenarios sign in as.
const ADMIN: &str = "admin@outpost.lan";

/// The Playwright release the scenarios are written against.
const PLAYWRIGHT: &str = "playwright==1.65.3";

/// A Python with Playwright: a venv under the target folder, made once.
fn playwright_python() -> PathBuf {
    let venv = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser-pyenv");
    let py = venv.join("bin/python3");
    let ok = Command::new(&py)
        .args(["-c", "import playwright.sync_api"])
        .status()
        .map(|s| s.success());
    if ok.unwrap_or(false) {
        return py;
    }
    let out = run_bounded(
        Command::new("python3").arg("-m").arg("venv").arg(&venv),
        Duration::from_secs(120),
    );
    assert!(
        out.status.success(),
        "python3 -m venv (apt-get install python3-venv): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run_bounded(
        Command::new(&py).args(["-m", "pip", "install", "--quiet", PLAYWRIGHT]),
        Duration::from_secs(600),
    );
    assert!(
        out.status.success(),
        "pip install {PLAYWRIGHT}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    py
}

#[test]
fn webmail_in_chromium() {
    assert!(
        std::path::Path::new("/usr/bin/chromium").exists(),
        "no /usr/bin/chromium: run `cargo xtask deps`"
    );
    let python = playwright_python();
    let s = Served::start(&[(ALICE, PASSWORD), (BOB, PASSWORD)]);
    // An administrator, made the way an admin would: with outpostctl.
    let ctl =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/debug/outpostctl");
    let mut add = Command::new(&ctl)
        .arg("--config")
        .arg(s.state().join("outpost.toml"))
        .args(["user", "add", ADMIN, "--role", "admin", "--password-stdin"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("running {}: {e}", ctl.display()));
    {
        use std::io::Write as _;
        writeln!(add.stdin.take().unwrap(), "{PASSWORD}").unwrap();
    }
    assert!(add.wait().unwrap().success(), "outpostctl user add {ADMIN}");
    let shots =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/outpost/screenshots");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser/webmail.py");
    let out = run_bounded(
        Command::new(&python)
            .arg(script)
            .args([
                "--base",
                &format!("https://localhost:{}", s.addr("https").port()),
            ])
            .args(["--smtp", &s.addr("smtp").to_string()])
            .args(["--imap", &s.addr("imap").to_string()])
            .args(["--alice", ALICE, "--bob", BOB, "--password", PASSWORD])
            .arg("--shots")
            .arg(&shots)
            .arg("--queue")
            .arg(s.state().join("queue"))
            .args(["--admin", ADMIN]),
        Duration::from_secs(300),
    );
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{text}");
    assert!(
        out.status.success() && text.contains("webmail: all checks passed"),
        "{text}\n--- serve log ---\n{}",
        s.log()
    );
}
