//! Real clients against the server: curl (imap://, imaps://, pop3:// with
//! STARTTLS/STLS), and Python's imaplib for a CONDSTORE/QRESYNC resync.
//! The tools are required: a missing tool fails the test.

use crate::harness::{PASS, Server, USER, msg};
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
    let s = Server::start_with(|c| c.imap.allow_plaintext_loopback = false);
    s.deliver("INBOX", &msg(7));
    let ca = s.ca();
    let user = format!("{USER}:{PASS}");
    let out = run(Command::new("curl")
        .args(["-sS", "--max-time", "20", "--ssl-reqd", "--cacert"])
        .arg(&ca)
        .args([
            "-u",
            &user,
            &format!("imap://localhost:{}/INBOX;UID=1", s.imap.port()),
        ]));
    assert!(out.contains("body number 7"), "{out}");
    let out = run(Command::new("curl")
        .args(["-sS", "--max-time", "20", "--cacert"])
        .arg(&ca)
        .args([
            "-u",
            &user,
            &format!("imaps://localhost:{}/INBOX", s.imaps.port()),
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
            &format!("pop3://localhost:{}/1", s.pop3.port()),
        ]));
    assert!(out.contains("Subject: hello 7"), "{out}");
    let out = run(Command::new("curl")
        .args(["-sS", "--max-time", "20", "--cacert"])
        .arg(&ca)
        .args([
            "-u",
            &user,
            &format!("pop3s://localhost:{}/", s.pop3s.port()),
        ]));
    assert_eq!(out, "1 156\r\n");
}

#[test]
fn python_imaplib_qresync_resync_after_a_drop() {
    let s = Server::start();
    for i in 0..20 {
        s.deliver("INBOX", &msg(i));
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
        .arg(s.imap.port().to_string())
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
