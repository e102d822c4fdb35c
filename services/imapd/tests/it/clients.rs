//! Real clients against the daemons started by `cargo xtask serve`, as a
//! user would run them: curl (imap://, imaps://, pop3:// with
//! STARTTLS/STLS), Python's imaplib for a CONDSTORE/QRESYNC resync, mbsync
//! for a two-way sync and fetchmail over POP3 with STLS, fed by swaks
//! through the served smtpd. The tools are required: a missing tool fails
//! the test.

use crate::harness::{PASS, USER, msg};
use outpost_testkit::Served;

/// serve with the test user.
fn serve() -> Served {
    Served::start(&[(USER, PASS)])
}

/// Delivers a message straight into the served store (fast set-up).
fn deliver(s: &Served, m: &str) {
    outpost_store::deliver(
        &s.mail_root(),
        "outpost.lan",
        "alice",
        "INBOX",
        m.as_bytes(),
    )
    .unwrap();
}
use std::process::Command;

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| {
        panic!("running {cmd:?}: {e} (is the tool installed? cargo xtask deps)")
    });
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn curl_reads_over_imap_starttls_imaps_and_pop3_stls() {
    let s = serve();
    deliver(&s, &msg(7));
    let ca = s.ca();
    let user = format!("{USER}:{PASS}");
    let out = run(Command::new("curl")
        .args(["-sS", "--max-time", "20", "--ssl-reqd", "--cacert"])
        .arg(&ca)
        .args([
            "-u",
            &user,
            &format!("imap://localhost:{}/INBOX;UID=1", s.addr("imap").port()),
        ]));
    assert!(out.contains("body number 7"), "{out}");
    let out = run(Command::new("curl")
        .args(["-sS", "--max-time", "20", "--cacert"])
        .arg(&ca)
        .args([
            "-u",
            &user,
            &format!("imaps://localhost:{}/INBOX", s.addr("imaps").port()),
            "-X",
            "SEARCH SUBJECT hello",
        ]));
    assert_eq!(out, "* SEARCH 1\r\n");
    let out = run(Command::new("curl")
        .args(["-sS", "--max-time", "20", "--ssl-reqd", "--cacert"])
        .arg(&ca)
        .args([
            "-u",
            &user,
            &format!("pop3://localhost:{}/1", s.addr("pop3").port()),
        ]));
    assert!(out.contains("Subject: hello 7"), "{out}");
    let out = run(Command::new("curl")
        .args(["-sS", "--max-time", "20", "--cacert"])
        .arg(&ca)
        .args([
            "-u",
            &user,
            &format!("pop3s://localhost:{}/", s.addr("pop3s").port()),
        ]));
    assert_eq!(out, "1 156\r\n");
}

#[test]
fn python_imaplib_qresync_resync_after_a_drop() {
    let s = serve();
    for i in 0..20 {
        deliver(&s, &msg(i));
    }
    let script = r#"
import imaplib, sys, re
port = int(sys.argv[1]); user = sys.argv[2]; pw = sys.argv[3]
def conn():
    c = imaplib.IMAP4("127.0.0.1", port); c.login(user, pw); return c
a = conn()
a._simple_command("ENABLE", "QRESYNC"); a._untagged_response("OK", [None], "ENABLED")
typ, _ = a.select("INBOX")
v = int(a.untagged_responses["UIDVALIDITY"][0]); m = int(a.untagged_responses["HIGHESTMODSEQ"][0])
a.shutdown()  # the link drops
b = conn(); b.select("INBOX")
b.store("3", "+FLAGS", "(\\Deleted)"); b.expunge(); b.store("5", "+FLAGS", "(\\Seen)")
b.logout()
c = imaplib.IMAP4("127.0.0.1", port)
c.login(user, pw)
c._simple_command("ENABLE", "QRESYNC")
import io
tag = c._new_tag()
c.send(tag + b" SELECT INBOX (QRESYNC (%d %d 1:20))\r\n" % (v, m))
data = b""
while not data.endswith(b"\r\n") or (tag + b" OK") not in data:
    data += c.readline()
print(data.decode())
c.logout()
"#;
    let out = run(Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(s.addr("imap").port().to_string())
        .arg(USER)
        .arg(PASS));
    assert!(out.contains("* VANISHED (EARLIER) 3"), "{out}");
    assert!(out.contains("FETCH (UID 6 FLAGS (\\Seen)"), "{out}");
    assert_eq!(
        out.matches(" FETCH ").count(),
        1,
        "only the delta is sent: {out}"
    );
}

fn maildir_files(dir: &std::path::Path) -> Vec<String> {
    let mut v = Vec::new();
    for sub in ["cur", "new"] {
        if let Ok(rd) = std::fs::read_dir(dir.join(sub)) {
            v.extend(
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned()),
            );
        }
    }
    v
}

#[test]
fn mbsync_two_way_sync_of_1000_messages_with_flags_and_deletions() {
    let s = serve();
    for i in 0..1000 {
        deliver(&s, &msg(i));
    }
    let work = tempfile::tempdir().unwrap();
    let local = work.path().join("local");
    std::fs::create_dir_all(&local).unwrap();
    let cfg = work.path().join("mbsyncrc");
    std::fs::write(
        &cfg,
        format!(
            "IMAPAccount outpost\nHost localhost\nPort {}\nUser {USER}\nPass {PASS}\nSSLType STARTTLS\n\
CertificateFile {}\nAuthMechs PLAIN\n\nIMAPStore remote\nAccount outpost\n\n\
MaildirStore local\nPath {}/\nInbox {}/INBOX\nSubFolders Verbatim\n\n\
Channel sync\nFar :remote:\nNear :local:\nPatterns INBOX Sent\nCreate Both\nExpunge Both\nSyncState *\n",
            s.addr("imap").port(),
            s.ca().display(),
            local.display(),
            local.display()
        ),
    )
    .unwrap();
    let mbsync = || run(Command::new("mbsync").arg("-c").arg(&cfg).arg("-a"));
    let t = std::time::Instant::now();
    mbsync();
    eprintln!("mbsync initial sync of 1000 messages: {:?}", t.elapsed());
    let inbox = local.join("INBOX");
    assert_eq!(maildir_files(&inbox).len(), 1000);

    // Near side: mark 10 seen, delete 5.
    let mut files: Vec<String> = maildir_files(&inbox);
    files.sort();
    let cur = inbox.join("cur");
    let mut seen_subjects = Vec::new();
    for f in files.iter().take(10) {
        let p = if cur.join(f).exists() {
            cur.join(f)
        } else {
            inbox.join("new").join(f)
        };
        let body = std::fs::read_to_string(&p).unwrap();
        seen_subjects.push(
            body.lines()
                .find(|l| l.starts_with("Subject:"))
                .unwrap()
                .to_string(),
        );
        let base = f.split(":2,").next().unwrap();
        std::fs::rename(&p, cur.join(format!("{base}:2,S"))).unwrap();
    }
    for f in files.iter().skip(10).take(5) {
        let p = if cur.join(f).exists() {
            cur.join(f)
        } else {
            inbox.join("new").join(f)
        };
        std::fs::remove_file(p).unwrap();
    }
    // Far side: flag UIDs 991..1000, delete and expunge UIDs 981..985.
    let mut c = crate::harness::Client::connect(s.addr("imap"));
    c.login();
    c.cmd("a", "SELECT INBOX");
    c.cmd("b", "UID STORE 991:1000 +FLAGS (\\Flagged)");
    c.cmd("c", "UID STORE 981:985 +FLAGS (\\Deleted)");
    c.cmd("d", "EXPUNGE");
    let t = std::time::Instant::now();
    mbsync();
    eprintln!("mbsync resync: {:?}", t.elapsed());

    let local_files = maildir_files(&inbox);
    assert_eq!(local_files.len(), 990, "5 deleted on each side");
    let flagged = local_files
        .iter()
        .filter(|f| f.split(":2,").nth(1).is_some_and(|fl| fl.contains('F')))
        .count();
    assert_eq!(flagged, 10, "far-side flags arrived");
    let r = c.cmd("e", "STATUS INBOX (MESSAGES)");
    assert!(r.contains("(MESSAGES 990)"), "{r}");
    let r = c.cmd("f", "UID SEARCH SEEN");
    let seen: Vec<&str> = r.lines().next().unwrap().split(' ').skip(2).collect();
    assert_eq!(seen.len(), 10, "near-side \\Seen arrived: {r}");
    let r = c.cmd(
        "g",
        &format!("UID FETCH {} BODY.PEEK[HEADER.FIELDS (SUBJECT)]", seen[0]),
    );
    assert!(seen_subjects.iter().any(|s| r.contains(s.as_str())), "{r}");
    // A third run changes nothing.
    mbsync();
    assert_eq!(maildir_files(&inbox).len(), 990);
}

#[test]
fn fetchmail_over_pop3_with_stls() {
    let s = serve();
    let work = tempfile::tempdir().unwrap();
    // Mail arrives the real way: swaks → the served smtpd → the store.
    for i in 0..3 {
        let file = work.path().join(format!("msg{i}.eml"));
        std::fs::write(&file, msg(i)).unwrap();
        run(Command::new("swaks")
            .args(["--server", "127.0.0.1", "--port"])
            .arg(s.addr("smtp").port().to_string())
            .args(["--from", "bob@example.lan", "--to", USER, "--data"])
            .arg(&file));
    }
    let rc = work.path().join("fetchmailrc");
    let out = work.path().join("mbox");
    std::fs::write(
        &rc,
        format!(
            "set no syslog\npoll localhost protocol pop3 port {} auth password\n  user \"{USER}\" password \"{PASS}\"\n\
  sslproto tls1.2+ sslcertck sslcertfile \"{}\"\n  mda \"/bin/sh -c 'cat >> {}'\"\n",
            s.addr("pop3").port(),
            s.ca().display(),
            out.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&rc, std::fs::Permissions::from_mode(0o600)).unwrap();
    let o = Command::new("fetchmail")
        .arg("-f")
        .arg(&rc)
        .args(["--nodetach", "--nokeep", "-v"])
        .env("HOME", work.path())
        .env("FETCHMAILHOME", work.path())
        .output()
        .expect("running fetchmail (cargo xtask deps installs it)");
    let log = String::from_utf8_lossy(&o.stderr).into_owned() + &String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{log}");
    assert!(log.contains("STLS"), "fetchmail used STLS: {log}");
    let mbox = std::fs::read_to_string(&out).unwrap();
    assert_eq!(mbox.matches("Subject: hello").count(), 3, "{mbox}");
    // --nokeep: deleted on the server at QUIT.
    let st = outpost_store::Mailbox::open(&s.mail_root(), "outpost.lan", "alice").unwrap();
    assert_eq!(
        st.folder("INBOX")
            .unwrap()
            .sync()
            .unwrap()
            .snapshot
            .messages
            .len(),
        0
    );
}

/// A line-at-a-time raw TCP client for the shutdown test.
struct Raw {
    r: std::io::BufReader<std::net::TcpStream>,
    w: std::net::TcpStream,
}

impl Raw {
    fn connect(addr: std::net::SocketAddr) -> Raw {
        let s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
            .unwrap();
        Raw {
            r: std::io::BufReader::new(s.try_clone().unwrap()),
            w: s,
        }
    }

    fn send(&mut self, s: &str) {
        use std::io::Write;
        self.w.write_all(s.as_bytes()).unwrap();
    }

    fn line(&mut self) -> String {
        use std::io::BufRead;
        let mut l = String::new();
        self.r.read_line(&mut l).unwrap();
        l
    }

    /// Reads lines until one starts with `prefix`; returns it.
    fn until(&mut self, prefix: &str) -> String {
        loop {
            let l = self.line();
            if l.is_empty() || l.starts_with(prefix) {
                return l;
            }
        }
    }
}

/// SIGTERM while an IMAP client IDLEs and an SMTP client is in the middle
/// of DATA (issue 11): the IDLE ends with `* BYE`, the DATA transfer is
/// finished and acknowledged (`250`), then the session is closed with `421`;
/// the acknowledged message is in the mailbox, and both daemons exit.
#[test]
fn sigterm_ends_idle_and_smtp_data_cleanly_and_loses_nothing() {
    let s = serve();
    let mut imap = Raw::connect(s.addr("imap"));
    imap.line();
    imap.send(&format!("a LOGIN {USER} {PASS}\r\n"));
    assert!(imap.until("a ").starts_with("a OK"));
    imap.send("b SELECT INBOX\r\n");
    assert!(imap.until("b ").starts_with("b OK"));
    imap.send("c IDLE\r\n");
    assert!(imap.line().starts_with("+ "));

    let mut smtp = Raw::connect(s.addr("smtp"));
    assert!(smtp.line().starts_with("220 "));
    smtp.send("EHLO client.test\r\n");
    assert!(smtp.until("250 ").starts_with("250 "));
    smtp.send("MAIL FROM:<bob@example.lan>\r\n");
    assert!(smtp.line().starts_with("250 "));
    smtp.send(&format!("RCPT TO:<{USER}>\r\n"));
    assert!(smtp.line().starts_with("250 "));
    smtp.send("DATA\r\n");
    assert!(smtp.line().starts_with("354 "));
    smtp.send("From: bob@example.lan\r\nSubject: in flight\r\n\r\nfirst half, ");

    for d in ["outpost-imapd", "outpost-smtpd"] {
        let pid = s.pid(d).unwrap_or_else(|| panic!("{d} is not running"));
        let ok = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
    }

    assert_eq!(imap.line(), "* BYE [UNAVAILABLE] Server shutting down\r\n");
    assert_eq!(imap.line(), "", "the IMAP connection is closed");

    smtp.send("second half, marker-sigterm-7c1\r\n.\r\n");
    let r = smtp.line();
    assert!(r.starts_with("250 2.0.0 Ok: queued as "), "{r}");
    let r = smtp.line();
    assert!(r.starts_with("421 4.3.2 "), "{r}");
    assert_eq!(smtp.line(), "", "the SMTP connection is closed");

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while ["outpost-imapd", "outpost-smtpd"]
        .iter()
        .any(|d| s.pid(d).is_some())
    {
        assert!(std::time::Instant::now() < deadline, "daemons did not exit");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // In the mailbox: new/ as delivered, or cur/ if imapd's last sync of
    // the folder (racing its own shutdown) already took it.
    let inbox = s.mail_root().join("outpost.lan/alice");
    let stored = ["new", "cur"]
        .iter()
        .flat_map(|sub| std::fs::read_dir(inbox.join(sub)).unwrap().flatten())
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .any(|m| m.contains("first half, second half, marker-sigterm-7c1"));
    assert!(stored, "the acknowledged message is in {}", inbox.display());
}

/// Open descriptors of process `pid`.
fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

/// Whether a greeting starting with `prefix` arrives on `s` within `wait`.
fn greets(s: &mut std::net::TcpStream, prefix: &str, wait: std::time::Duration) -> bool {
    use std::io::Read;
    s.set_read_timeout(Some(wait)).unwrap();
    let mut got = Vec::new();
    let mut b = [0u8; 256];
    while !got.contains(&b'\n') {
        match s.read(&mut b) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&b[..n]),
        }
    }
    String::from_utf8_lossy(&got).starts_with(prefix)
}

/// Issue 11: an accept error (EMFILE) must not end a listener. imapd and
/// smtpd, running under serve, get their descriptor limit cut to a few
/// above what they hold (`prlimit`); idle connections use up the rest, the
/// next client waits in the backlog, and is greeted once they close; then
/// every listener of the daemon (plain and TLS, every protocol) accepts.
#[test]
fn every_listener_accepts_again_after_imapd_and_smtpd_run_out_of_descriptors() {
    use std::time::Duration;
    let s = serve();
    let daemons: [(&str, &str, &[&str], &str); 2] = [
        (
            "outpost-imapd",
            "imap",
            &["imap", "imaps", "pop3", "pop3s"],
            "* OK",
        ),
        (
            "outpost-smtpd",
            "smtp",
            &["smtp", "submission", "smtps"],
            "220 ",
        ),
    ];
    for (daemon, port, listeners, greeting) in daemons {
        let pid = s
            .pid(daemon)
            .unwrap_or_else(|| panic!("{daemon} is not running"));
        let limit = open_fds(pid) + 6;
        run(Command::new("prlimit")
            .arg(format!("--pid={pid}"))
            .arg(format!("--nofile={limit}:{limit}")));
        let idle: Vec<std::net::TcpStream> = (0..15)
            .map(|_| std::net::TcpStream::connect(s.addr(port)).unwrap())
            .collect();
        std::thread::sleep(Duration::from_millis(500));
        assert!(
            open_fds(pid) >= limit - 1,
            "{daemon}: the idle connections use up its descriptors ({} of {limit})",
            open_fds(pid)
        );
        let mut queued = std::net::TcpStream::connect(s.addr(port)).unwrap();
        assert!(
            !greets(&mut queued, greeting, Duration::from_millis(700)),
            "{daemon}: out of descriptors, the next client waits"
        );
        drop(idle);
        assert!(
            greets(&mut queued, greeting, Duration::from_secs(10)),
            "{daemon}: the waiting client is greeted once descriptors are free"
        );
        drop(queued);
        for l in listeners {
            let g = if l.starts_with("pop3") {
                "+OK"
            } else {
                greeting
            };
            if ["imaps", "pop3s", "smtps"].contains(l) {
                // TLS: a real handshake (Python's ssl, the local CA), then
                // the greeting.
                let script = "import socket,ssl,sys\n\
                    c=ssl.create_default_context(cafile=sys.argv[1])\n\
                    s=c.wrap_socket(socket.create_connection(('127.0.0.1',int(sys.argv[2])),10),server_hostname='localhost')\n\
                    print(s.recv(512).decode())";
                let out = run(Command::new("python3")
                    .args(["-c", script])
                    .arg(s.ca())
                    .arg(s.addr(l).port().to_string()));
                assert!(out.starts_with(g), "{daemon}: {l} greets over TLS: {out}");
            } else {
                let mut c = std::net::TcpStream::connect(s.addr(l)).unwrap();
                assert!(
                    greets(&mut c, g, Duration::from_secs(10)),
                    "{daemon}: {l} still greets"
                );
            }
        }
        assert_eq!(
            s.pid(daemon),
            Some(pid),
            "{daemon} is still the same process"
        );
    }
}
