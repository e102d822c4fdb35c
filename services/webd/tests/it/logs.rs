//! The logs of a real-client run (issue 11): `cargo xtask serve`, then
//! swaks (SMTP submission, right and wrong password), curl (IMAP with
//! STARTTLS, POP3 with STLS, HTTPS PROPFIND right and wrong), mbsync (IMAP
//! sync), litmus (WebDAV `basic` suite). The daemons' whole log is then searched for the passwords and the
//! message body used: none may appear; and each login shows up exactly once
//! as an `outpost::auth` event with the right result.

use outpost_testkit::Served;
use std::process::Command;

const USER: &str = "logan@outpost.lan";
const PASS: &str = "Lg-secret-83kq-never-logged";
const WRONG: &str = "Wrong-guess-5b1f-never-logged";
const BODY: &str = "body-marker-q7z-never-logged";

fn output(cmd: &mut Command) -> std::process::Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e} (run `cargo xtask deps`)"))
}

fn ok(cmd: &mut Command) -> String {
    let o = output(cmd);
    assert!(
        o.status.success(),
        "{cmd:?}: {}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The `outpost::auth` events of `protocol` with `result`.
fn logins(log: &str, protocol: &str, result: &str) -> usize {
    log.lines()
        .filter(|l| {
            l.contains("outpost::auth")
                && l.contains(&format!("protocol=\"{protocol}\""))
                && l.contains(&format!("result=\"{result}\""))
        })
        .count()
}

#[test]
fn no_password_or_body_reaches_the_logs_and_each_login_is_logged_once() {
    let s = Served::start(&[(USER, PASS)]);
    let work = tempfile::tempdir().unwrap();
    let ca = s.ca();
    let swaks = |password: &str| {
        let mut c = Command::new("swaks");
        c.args(["--server", "127.0.0.1", "--port"])
            .arg(s.addr("submission").port().to_string())
            .args([
                "-tls",
                "--auth",
                "PLAIN",
                "--auth-user",
                USER,
                "--auth-password",
            ])
            .arg(password)
            .args(["--from", USER, "--to", USER, "--body", BODY]);
        c
    };
    ok(&mut swaks(PASS));
    assert!(!output(&mut swaks(WRONG)).status.success());

    let user = format!("{USER}:{PASS}");
    let got = ok(Command::new("curl")
        .args(["-sS", "--max-time", "30", "--ssl-reqd", "--cacert"])
        .arg(&ca)
        .args(["-u", &user])
        .arg(format!(
            "imap://localhost:{}/INBOX;UID=1",
            s.addr("imap").port()
        )));
    assert!(got.contains(BODY), "{got}");
    let got = ok(Command::new("curl")
        .args(["-sS", "--max-time", "30", "--ssl-reqd", "--cacert"])
        .arg(&ca)
        .args(["-u", &user])
        .arg(format!("pop3://localhost:{}/1", s.addr("pop3").port())));
    assert!(got.contains(BODY), "{got}");
    let dav = format!("https://localhost:{}/dav/", s.addr("https").port());
    let status = |u: &str| {
        ok(Command::new("curl")
            .args([
                "-sS",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "--max-time",
                "30",
            ])
            .arg("--cacert")
            .arg(&ca)
            .args(["-u", u, "-X", "PROPFIND", "-H", "Depth: 0", &dav]))
    };
    assert_eq!(status(&user), "207");
    assert_eq!(status(&format!("{USER}:{WRONG}")), "401");
    // A compressed page: the event counts the bytes that went out.
    let page_bytes = ok(Command::new("curl")
        .args([
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{size_download}",
            "--compressed",
            "--max-time",
            "30",
        ])
        .arg("--cacert")
        .arg(&ca)
        .arg(format!(
            "https://localhost:{}/signin",
            s.addr("https").port()
        )));

    let local = work.path().join("local");
    std::fs::create_dir_all(&local).unwrap();
    let rc = work.path().join("mbsyncrc");
    std::fs::write(
        &rc,
        format!(
            "IMAPAccount outpost\nHost localhost\nPort {}\nUser {USER}\nPass {PASS}\nSSLType STARTTLS\n\
CertificateFile {}\nAuthMechs PLAIN\n\nIMAPStore remote\nAccount outpost\n\n\
MaildirStore local\nPath {}/\nInbox {}/INBOX\nSubFolders Verbatim\n\n\
Channel sync\nFar :remote:\nNear :local:\nPatterns INBOX\nCreate Both\nSyncState *\n",
            s.addr("imap").port(),
            ca.display(),
            local.display(),
            local.display()
        ),
    )
    .unwrap();
    ok(Command::new("mbsync")
        .arg("-c")
        .arg(&rc)
        .arg("-a")
        .env("HOME", work.path()));

    // The events are written as they happen; give the last a moment.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let log = s.log();
    for secret in [PASS, WRONG, BODY] {
        assert!(!log.contains(secret), "{secret:?} is in the log:\n{log}");
    }
    let counts = [
        (logins(&log, "smtp", "ok"), 1),
        (logins(&log, "smtp", "failed"), 1),
        // curl, then mbsync.
        (logins(&log, "imap", "ok"), 2),
        (logins(&log, "pop3", "ok"), 1),
        (logins(&log, "http", "ok"), 1),
        (logins(&log, "http", "failed"), 1),
    ];
    assert!(
        counts.iter().all(|(got, want)| got == want),
        "login events (got, want) smtp ok/failed, imap, pop3, http ok/failed: {counts:?}\n{log}"
    );
    assert_eq!(
        logins(&log, "imap", "failed") + logins(&log, "pop3", "failed"),
        0,
        "{log}"
    );

    // Spans: a login happens inside its command's (or request's) span and
    // is recorded on the connection's, so the message swaks submits after
    // AUTH names its user; one event per queued message and per HTTP
    // request.
    let line = |needles: &[&str]| {
        log.lines()
            .find(|l| needles.iter().all(|n| l.contains(n)))
            .unwrap_or_else(|| panic!("no log line with {needles:?}:\n{log}"))
            .to_string()
    };
    let queued = line(&["outpost::mail", "result=\"queued\""]);
    assert!(
        queued.contains(&format!("user=\"{USER}\""))
            && queued.contains(&format!("from=\"{USER}\""))
            && queued.contains("size="),
        "{queued}"
    );
    let smtp = line(&["outpost::auth", "protocol=\"smtp\"", "result=\"ok\""]);
    assert!(smtp.contains(":cmd{name=\"AUTH\"}"), "{smtp}");
    let imap = line(&["outpost::auth", "protocol=\"imap\"", "result=\"ok\""]);
    assert!(imap.contains(":cmd{tag="), "{imap}");
    let pop3 = line(&["outpost::auth", "protocol=\"pop3\"", "result=\"ok\""]);
    assert!(pop3.contains(":cmd{name="), "{pop3}");
    assert!(pop3.contains("starttls=true"), "{pop3}");
    let http = line(&["outpost::auth", "protocol=\"http\"", "result=\"ok\""]);
    assert!(http.contains(":req{method=\"PROPFIND\""), "{http}");
    let request = line(&["outpost::http", "method=\"PROPFIND\"", "status=207"]);
    assert!(
        request.contains("bytes=") && request.contains("ms="),
        "{request}"
    );
    let page = line(&["outpost::http", "path=\"/signin\"", "status=200"]);
    assert!(
        page_bytes.trim() != "0" && page.contains(&format!("bytes={} ", page_bytes.trim())),
        "the page's event says {page_bytes} bytes: {page}"
    );

    // litmus (WebDAV, Basic auth on every request over serve's plain-HTTP
    // loopback listener): dozens of authenticated requests and bodies; the
    // password must still appear nowhere and no login may count as failed.
    // (`http` here: litmus cannot be given the CA.)
    let litmus = output(
        Command::new("litmus")
            .args([
                "-k",
                &format!("http://{}/dav/{USER}/", s.addr("http")),
                USER,
                PASS,
            ])
            .env("TESTS", "basic")
            .current_dir(work.path()),
    );
    let text = String::from_utf8_lossy(&litmus.stdout);
    assert!(text.contains("summary for `basic'"), "{text}");
    std::thread::sleep(std::time::Duration::from_millis(300));
    let log = s.log();
    for secret in [PASS, WRONG, BODY] {
        assert!(
            !log.contains(secret),
            "{secret:?} is in the log after litmus"
        );
    }
    assert_eq!(
        logins(&log, "http", "failed"),
        1,
        "litmus made a login fail:\n{log}"
    );
    // Its requests re-send the credentials already verified over HTTPS:
    // cached re-authentications, not new logins (auth.rs), so still one.
    assert_eq!(
        logins(&log, "http", "ok"),
        1,
        "a cached re-authentication was logged as a login:\n{log}"
    );
    if std::env::var_os("OUTPOST_SHOW_LOG").is_some() {
        eprintln!("{log}");
    }
}
