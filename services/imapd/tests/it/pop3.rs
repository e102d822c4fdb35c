//! POP3 protocol tests: exact replies, deletions applied only on QUIT, one
//! session per maildrop.

use crate::harness::{Client, Server, msg};

#[test]
fn pop3_session_with_uidl_top_retr_and_dele_on_quit() {
    let s = Server::start();
    s.deliver("INBOX", &msg(1));
    s.deliver("INBOX", ".leading dot\r\n\r\nx\r\n");
    let mut c = Client::connect(s.pop3);
    assert_eq!(c.line(), "+OK Outpost POP3 ready\r\n");
    c.send("USER alice@outpost.lan\r\n");
    assert_eq!(c.line(), "+OK send PASS\r\n");
    c.send("PASS secret-pass-1\r\n");
    assert_eq!(c.line(), "+OK maildrop has 2 messages (175 octets)\r\n");
    // A second session cannot take the maildrop.
    let mut d = Client::connect(s.pop3);
    d.line();
    d.send("USER alice@outpost.lan\r\nPASS secret-pass-1\r\n");
    d.line();
    assert_eq!(d.line(), "-ERR [IN-USE] maildrop already locked\r\n");
    c.send("STAT\r\n");
    assert_eq!(c.line(), "+OK 2 175\r\n");
    c.send("UIDL\r\n");
    assert_eq!(c.line(), "+OK\r\n");
    let u1 = c.line();
    assert!(
        u1.starts_with("1 ") && u1.trim_end().ends_with(".1"),
        "{u1}"
    );
    c.line();
    assert_eq!(c.line(), ".\r\n");
    c.send("TOP 1 0\r\n");
    assert_eq!(c.line(), "+OK 141 octets\r\n");
    for _ in 0..6 {
        c.line();
    }
    assert_eq!(c.line(), ".\r\n");
    c.send("RETR 2\r\n");
    assert_eq!(c.line(), "+OK 19 octets\r\n");
    assert_eq!(c.line(), "..leading dot\r\n");
    c.line();
    c.line();
    assert_eq!(c.line(), ".\r\n");
    c.send("DELE 1\r\nLIST\r\n");
    assert_eq!(c.line(), "+OK deleted\r\n");
    assert_eq!(c.line(), "+OK\r\n");
    assert_eq!(c.line(), "2 19\r\n");
    assert_eq!(c.line(), ".\r\n");
    c.send("QUIT\r\n");
    assert_eq!(c.line(), "+OK bye\r\n");
    let mut c = Client::connect(s.pop3);
    c.line();
    c.send("AUTH PLAIN AGFsaWNlQG91dHBvc3QubGFuAHNlY3JldC1wYXNzLTE=\r\n");
    assert_eq!(c.line(), "+OK maildrop has 1 messages (19 octets)\r\n");
}

#[test]
fn pop3_refuses_plaintext_without_tls_off_loopback() {
    let s = Server::start_with(|c| c.imap.allow_plaintext_loopback = false);
    let mut c = Client::connect(s.pop3);
    c.line();
    c.send("CAPA\r\n");
    let mut caps = String::new();
    loop {
        let l = c.line();
        caps.push_str(&l);
        if l == ".\r\n" {
            break;
        }
    }
    assert!(caps.contains("STLS") && !caps.contains("USER"), "{caps}");
    c.send("USER alice\r\n");
    assert_eq!(c.line(), "-ERR use STLS first\r\n");
}

/// RETR marks a message `\Seen`, at QUIT like the deletions; a dropped
/// connection changes nothing.
#[test]
fn retr_marks_seen_only_at_quit() {
    let s = Server::start();
    s.deliver("INBOX", &msg(1));
    s.deliver("INBOX", &msg(2));
    let pop = |retr: &str, quit: bool| {
        // The server may take a moment to see the previous, dropped
        // connection go and release the maildrop.
        let mut c = (0..50)
            .find_map(|_| {
                let mut c = Client::connect(s.pop3);
                c.line();
                c.send("USER alice@outpost.lan\r\nPASS secret-pass-1\r\n");
                c.line();
                let r = c.line();
                if r.starts_with("+OK maildrop") {
                    return Some(c);
                }
                assert!(r.contains("[IN-USE]"), "{r}");
                std::thread::sleep(std::time::Duration::from_millis(100));
                None
            })
            .expect("the maildrop was released");
        c.send(&format!("RETR {retr}\r\n"));
        assert!(c.line().starts_with("+OK"));
        while c.line() != ".\r\n" {}
        if quit {
            c.send("QUIT\r\n");
            assert_eq!(c.line(), "+OK bye\r\n");
        }
    };
    pop("2", false);
    pop("1", true);
    let mut i = Client::connect(s.imap);
    i.login();
    i.cmd("a", "EXAMINE INBOX");
    assert_eq!(
        i.cmd("b", "FETCH 1:2 FLAGS"),
        "* 1 FETCH (FLAGS (\\Seen))\r\n* 2 FETCH (FLAGS ())\r\nb OK FETCH completed\r\n"
    );
}
