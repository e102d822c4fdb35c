//! POP3 protocol tests: exact replies, deletions applied only on QUIT, one
//! session per maildrop.

use crate::harness::{Client, Server, msg};
use std::time::Duration;

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
    // A bare AUTH lists only what this connection may use: PLAIN was
    // listed here although it is refused without TLS.
    c.send("AUTH\r\n");
    assert_eq!(c.line(), "+OK\r\n");
    assert_eq!(c.line(), ".\r\n");
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

/// One pipelined write, then the exact transcript: every refusal keeps its
/// text, the state is checked before the arguments, and message numbers
/// are checked against the maildrop before TOP's line count.
#[test]
fn pop3_refusals_and_state_rules_keep_their_exact_replies() {
    let s = Server::start();
    s.deliver("INBOX", &msg(1));
    s.deliver("INBOX", &msg(2));
    const WRONG: &str = "-ERR unknown command or wrong state";
    const NUMBER: &str = "-ERR message number required";
    const NO_SUCH: &str = "-ERR no such message";
    const TOP: &str = "-ERR TOP msg lines";
    let m1 = msg(1);
    let size = m1.len();
    let header_len = m1.find("\r\n\r\n").unwrap() + 4;
    let header: Vec<&str> = m1[..header_len].lines().collect();
    let body: Vec<&str> = m1.lines().collect();
    let top = format!("+OK {header_len} octets");
    let retr = format!("+OK {size} octets");
    let login = format!("+OK maildrop has 2 messages ({} octets)", 2 * size);
    let (list1, list2, stat) = (
        format!("+OK 1 {size}"),
        format!("+OK 2 {size}"),
        format!("+OK 2 {}", 2 * size),
    );
    let list_after_dele = ["+OK".to_string(), format!("2 {size}"), ".".into()];
    let mut cases: Vec<(&str, Vec<&str>)> = vec![
        // Not authenticated.
        ("", vec![WRONG]),
        ("   ", vec![WRONG]),
        ("RETRX 1", vec![WRONG]),
        ("CAPA\0", vec![WRONG]),
        ("\tCAPA", vec![WRONG]),
        (" QUIT", vec![WRONG]),
        ("STAT", vec![WRONG]),
        ("NOOP", vec![WRONG]),
        ("RSET", vec![WRONG]),
        ("LIST", vec![WRONG]),
        ("UIDL 1", vec![WRONG]),
        ("RETR abc", vec![WRONG]),
        ("TOP 0 x", vec![WRONG]),
        ("DELE 0", vec![WRONG]),
        ("PASS secret-pass-1", vec!["-ERR USER first"]),
        ("AUTH", vec!["+OK", "PLAIN", "."]),
        ("auth ", vec!["-ERR unsupported mechanism or TLS required"]),
        (
            "AUTH LOGIN",
            vec!["-ERR unsupported mechanism or TLS required"],
        ),
        ("AUTH PLAIN ", vec!["-ERR invalid AUTH response"]),
        ("AUTH PLAIN =", vec!["-ERR invalid AUTH response"]),
        ("AUTH PLAIN", vec!["+ "]),
        ("*", vec!["-ERR invalid AUTH response"]),
        ("USER", vec!["+OK send PASS"]),
        ("PASS secret-pass-1", vec!["-ERR USER first"]),
        ("USER alice@outpost.lan", vec!["+OK send PASS"]),
        // The password is the rest of the line, trailing space included.
        (
            "PASS secret-pass-1 ",
            vec!["-ERR [AUTH] authentication failed"],
        ),
        ("PASS secret-pass-1", vec!["-ERR USER first"]),
        ("uSeR alice@outpost.lan extra words", vec!["+OK send PASS"]),
        ("pass secret-pass-1", vec![login.as_str()]),
        // Authenticated.
        ("USER x", vec![WRONG]),
        ("PASS x", vec![WRONG]),
        ("AUTH", vec![WRONG]),
        ("AUTH PLAIN x", vec![WRONG]),
        ("STLS", vec![WRONG]),
        ("RETR", vec![NUMBER]),
        ("RETR 0", vec![NO_SUCH]),
        ("RETR -1", vec![NUMBER]),
        ("RETR 1x", vec![NUMBER]),
        ("RETR  1", vec![NUMBER]),
        ("RETR 1\0", vec![NUMBER]),
        ("RETR 99999999999999999999", vec![NUMBER]),
        ("RETR 18446744073709551616", vec![NUMBER]),
        ("RETR 18446744073709551615", vec![NO_SUCH]),
        ("RETR 4294967296", vec![NO_SUCH]),
        ("RETR 3", vec![NO_SUCH]),
        ("TOP", vec![NUMBER]),
        ("TOP x 1", vec![NUMBER]),
        ("TOP 0 1", vec![NO_SUCH]),
        ("TOP 3 x", vec![NO_SUCH]),
        ("TOP 1", vec![TOP]),
        ("TOP 1 ", vec![TOP]),
        ("TOP 1 x", vec![TOP]),
        ("TOP 1 1 2", vec![TOP]),
        ("TOP 1 -1", vec![TOP]),
        ("TOP 1 99999999999999999999", vec![TOP]),
        ("LIST 0", vec![NO_SUCH]),
        ("LIST x", vec![NUMBER]),
        ("LIST ", vec![NUMBER]),
        ("UIDL 3", vec![NO_SUCH]),
        ("UIDL -", vec![NUMBER]),
        ("DELE", vec![NUMBER]),
        ("DELE 0", vec![NO_SUCH]),
        ("list 1 junk", vec![list1.as_str()]),
        // Numbers are digits only: a leading `+` used to pass.
        ("LIST +2", vec![NUMBER]),
        ("LIST 2", vec![list2.as_str()]),
        ("RETR +1", vec![NUMBER]),
        ("TOP 1 +0", vec![TOP]),
        ("STAT junk", vec![stat.as_str()]),
        ("NOOP junk", vec!["+OK"]),
        ("DELE 1", vec!["+OK deleted"]),
        ("DELE 1", vec![NO_SUCH]),
        ("RETR 1", vec![NO_SUCH]),
        ("TOP 1 x", vec![NO_SUCH]),
        ("LIST 1", vec![NO_SUCH]),
        ("LIST", list_after_dele.iter().map(String::as_str).collect()),
        ("RSET x", vec!["+OK"]),
    ];
    // TOP's line count is trimmed.
    let mut top_lines = vec![top.as_str()];
    top_lines.extend(&header);
    top_lines.push(".");
    cases.push(("top 1  0 ", top_lines));
    let mut retr_lines = vec![retr.as_str()];
    retr_lines.extend(&body);
    retr_lines.push(".");
    cases.push(("RETR 01 x", retr_lines));
    cases.push(("QUIT junk", vec!["+OK bye"]));
    let mut c = Client::connect(s.pop3);
    assert_eq!(c.line(), "+OK Outpost POP3 ready\r\n");
    let input: String = cases.iter().map(|(l, _)| format!("{l}\r\n")).collect();
    c.send(&input);
    let (mut want, mut got) = (String::new(), String::new());
    for (l, replies) in &cases {
        for r in replies {
            want.push_str(&format!("{l:?} → {r}\r\n"));
            let r = c.try_line(Duration::from_secs(10)).unwrap_or_default();
            got.push_str(&format!("{l:?} → {r}"));
        }
    }
    assert_eq!(got, want);
}

/// PASS takes the rest of the line: inner, leading and trailing spaces
/// belong to the password.
#[test]
fn pop3_password_with_spaces() {
    let s = Server::start();
    let mut d = outpost_directory::Directory::open(&s.config.directory.path).unwrap();
    d.add_user(&outpost_directory::NewUser::new(
        "bob@outpost.lan",
        " correct horse  battery ",
    ))
    .unwrap();
    outpost_store::create_mailbox_tree(&s.mail_root(), "outpost.lan", "bob").unwrap();
    let mut c = Client::connect(s.pop3);
    c.line();
    c.send("USER bob@outpost.lan\r\nPASS correct horse  battery\r\n");
    assert_eq!(c.line(), "+OK send PASS\r\n");
    assert_eq!(c.line(), "-ERR [AUTH] authentication failed\r\n");
    c.send("USER bob@outpost.lan\r\nPASS  correct horse  battery \r\n");
    assert_eq!(c.line(), "+OK send PASS\r\n");
    assert_eq!(c.line(), "+OK maildrop has 0 messages (0 octets)\r\n");
}

/// A refused RETR, TOP or DELE was answered only after the client's next
/// command (the reply stayed in the buffer): a client waiting for it
/// hung. Each refusal, sent alone, is answered at once.
#[test]
fn a_refused_retr_or_top_is_answered_without_waiting_for_the_next_command() {
    let s = Server::start();
    s.deliver("INBOX", &msg(1));
    let mut c = Client::connect(s.pop3);
    c.line();
    c.send(&format!("USER {}\r\n", crate::harness::USER));
    c.line();
    c.send(&format!("PASS {}\r\n", crate::harness::PASS));
    assert!(c.line().starts_with("+OK maildrop"));
    for (cmd, want) in [
        ("RETR 0", "-ERR no such message"),
        ("RETR 9", "-ERR no such message"),
        ("RETR x", "-ERR message number required"),
        ("TOP 9 1", "-ERR no such message"),
        ("TOP 1 x", "-ERR TOP msg lines"),
        ("DELE 9", "-ERR no such message"),
    ] {
        c.send(&format!("{cmd}\r\n"));
        let got = c.try_line(Duration::from_secs(5));
        assert_eq!(
            got.as_deref(),
            Some(format!("{want}\r\n").as_str()),
            "{cmd} is answered at once"
        );
    }
}

/// Hostile lines against POP3, each on a fresh connection:
///
/// - a command line longer than the 4,096-byte framing limit passed when
///   it arrived in one read (up to ~8 KB), and a longer one closed the
///   connection without a word; now every overlong line is answered
///   `-ERR line too long` and the session ends;
/// - a password that is not UTF-8 was converted lossily, so the bytes
///   `\xff` and `\xfe` both logged in a user whose password holds
///   `\u{fffd}` (U+FFFD, the replacement character) in their place; now credentials that are not
///   UTF-8 are refused, over USER/PASS and AUTH PLAIN alike.
#[test]
fn pop3_refuses_overlong_lines_aloud_and_never_folds_password_bytes() {
    let s = Server::start();
    let mut d = outpost_directory::Directory::open(&s.config.directory.path).unwrap();
    d.add_user(&outpost_directory::NewUser::new(
        "bob@outpost.lan",
        "pw\u{fffd}-long-1",
    ))
    .unwrap();
    outpost_store::create_mailbox_tree(&s.mail_root(), "outpost.lan", "bob").unwrap();
    const FAILED: &str = "-ERR [AUTH] authentication failed\r\n";
    // The password is `pw`, then the bytes under test, then `-long-1`.
    let plain = |pw: &[u8]| {
        let mut v = b"\0bob@outpost.lan\0pw".to_vec();
        v.extend_from_slice(pw);
        v.extend_from_slice(b"-long-1");
        use base64::Engine;
        format!(
            "AUTH PLAIN {}\r\n",
            base64::engine::general_purpose::STANDARD.encode(v)
        )
        .into_bytes()
    };
    let user_pass = |pw: &[u8]| {
        let mut v = b"USER bob@outpost.lan\r\nPASS pw".to_vec();
        v.extend_from_slice(pw);
        v.extend_from_slice(b"-long-1\r\n");
        v
    };
    let long = |n: usize| format!("NOOP {}\r\n", "x".repeat(n - 5)).into_bytes();
    let cases: Vec<(&str, Vec<u8>, Vec<&str>)> = vec![
        (
            "4096-byte line",
            long(4096),
            vec!["-ERR unknown command or wrong state\r\n"],
        ),
        (
            "4097-byte line",
            long(4097),
            vec!["-ERR line too long\r\n", ""],
        ),
        (
            "8000-byte line",
            long(8000),
            vec!["-ERR line too long\r\n", ""],
        ),
        (
            "100 KB line",
            long(100_000),
            vec!["-ERR line too long\r\n", ""],
        ),
        (
            "USER/PASS \\xff",
            user_pass(b"\xff"),
            vec!["+OK send PASS\r\n", FAILED],
        ),
        (
            "USER/PASS \\xfe",
            user_pass(b"\xfe"),
            vec!["+OK send PASS\r\n", FAILED],
        ),
        ("AUTH PLAIN \\xff", plain(b"\xff"), vec![FAILED]),
        (
            "USER/PASS U+FFFD",
            [user_pass("\u{fffd}".as_bytes()), b"QUIT\r\n".to_vec()].concat(),
            vec![
                "+OK send PASS\r\n",
                "+OK maildrop has 0 messages (0 octets)\r\n",
                "+OK bye\r\n",
            ],
        ),
    ];
    for (what, input, want) in cases {
        let mut c = Client::connect(s.pop3);
        c.line();
        c.send_bytes(&input);
        for w in want {
            let got = c.try_line(Duration::from_secs(10)).unwrap_or_default();
            assert_eq!(got, w, "{what}");
        }
    }
    let mut c = Client::connect(s.pop3);
    c.line();
    c.send_bytes(&plain("\u{fffd}".as_bytes()));
    assert_eq!(c.line(), "+OK maildrop has 0 messages (0 octets)\r\n");
}
