//! IMAP protocol tests: each case is a fresh server, a script of commands,
//! and the exact replies (UIDVALIDITY and dates normalised).

use crate::harness::{Client, Server, msg};

pub(crate) fn normalize(s: &str) -> String {
    let mut out = String::new();
    for line in s.split_inclusive('\n') {
        let mut l = line.to_string();
        for key in ["UIDVALIDITY ", "APPENDUID ", "COPYUID "] {
            if let Some(i) = l.find(key) {
                let start = i + key.len();
                let end = l[start..]
                    .find([' ', ']', ')'])
                    .map_or(l.len(), |e| start + e);
                l.replace_range(start..end, "V");
            }
        }
        out.push_str(&l);
    }
    out.replace("\r\n", "\n")
}

/// Runs `script` (command, expected reply) against a server holding `n`
/// messages in INBOX; the client is logged in.
pub(crate) fn check(n: usize, script: &[(&str, &str)]) {
    let s = Server::start();
    for i in 0..n {
        s.deliver("INBOX", &msg(i + 1));
    }
    let mut c = Client::connect(s.imap);
    c.login();
    for (i, (cmd, want)) in script.iter().enumerate() {
        let tag = format!("t{i}");
        let got = normalize(&c.cmd(&tag, cmd));
        let want = want.replace("@@", &tag);
        assert_eq!(got, want, "command {cmd:?}");
    }
}

#[test]
fn select_reports_mailbox_state() {
    check(
        2,
        &[(
            "SELECT INBOX",
            "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\n\
* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] flags\n\
* 2 EXISTS\n* 2 RECENT\n* OK [UNSEEN 1] first unseen\n* OK [UIDVALIDITY V] UIDs valid\n\
* OK [UIDNEXT 3] next UID\n* OK [HIGHESTMODSEQ 3] modseq\n@@ OK [READ-WRITE] SELECT completed\n",
        )],
    );
}

#[test]
fn fetch_store_search_expunge() {
    check(
        3,
        &[
            (
                "EXAMINE INBOX",
                "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\n* OK [PERMANENTFLAGS ()] read-only\n* 3 EXISTS\n* 3 RECENT\n* OK [UNSEEN 1] first unseen\n* OK [UIDVALIDITY V] UIDs valid\n* OK [UIDNEXT 4] next UID\n* OK [HIGHESTMODSEQ 4] modseq\n@@ OK [READ-ONLY] EXAMINE completed\n",
            ),
            (
                "SELECT INBOX",
                "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\n* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] flags\n* 3 EXISTS\n* 0 RECENT\n* OK [UNSEEN 1] first unseen\n* OK [UIDVALIDITY V] UIDs valid\n* OK [UIDNEXT 4] next UID\n* OK [HIGHESTMODSEQ 4] modseq\n@@ OK [READ-WRITE] SELECT completed\n",
            ),
            (
                "FETCH 1 (FLAGS RFC822.SIZE)",
                "* 1 FETCH (FLAGS () RFC822.SIZE 156)\n@@ OK FETCH completed\n",
            ),
            (
                "UID FETCH 2 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])",
                "* 2 FETCH (UID 2 BODY[HEADER.FIELDS (SUBJECT)] {20}\nSubject: hello 2\n\n)\n@@ OK FETCH completed\n",
            ),
            (
                "FETCH 2 BODY[TEXT]<0.4>",
                "* 2 FETCH (BODY[TEXT]<0> {4}\nbody FLAGS (\\Seen))\n@@ OK FETCH completed\n",
            ),
            (
                "STORE 1 +FLAGS (\\Deleted $Junk)",
                "* 1 FETCH (FLAGS (\\Deleted $Junk))\n@@ OK STORE completed\n",
            ),
            ("SEARCH UNSEEN", "* SEARCH 1 3\n@@ OK SEARCH completed\n"),
            (
                "UID SEARCH SUBJECT \"hello 3\"",
                "* SEARCH 3\n@@ OK SEARCH completed\n",
            ),
            (
                "SEARCH BODY NUMBER OR SEEN DELETED",
                "* SEARCH 1 2\n@@ OK SEARCH completed\n",
            ),
            (
                "SEARCH RETURN (MIN MAX COUNT) ALL",
                "* ESEARCH (TAG \"@@\") MIN 1 MAX 3 COUNT 3\n@@ OK SEARCH completed\n",
            ),
            ("EXPUNGE", "* 1 EXPUNGE\n@@ OK EXPUNGE completed\n"),
            (
                "FETCH 1:* UID",
                "* 1 FETCH (UID 2)\n* 2 FETCH (UID 3)\n@@ OK FETCH completed\n",
            ),
            ("FETCH 3 UID", "@@ BAD sequence number out of range\n"),
        ],
    );
}

#[test]
fn envelope_and_bodystructure() {
    check(
        1,
        &[
            (
                "SELECT INBOX",
                "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\n* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] flags\n* 1 EXISTS\n* 1 RECENT\n* OK [UNSEEN 1] first unseen\n* OK [UIDVALIDITY V] UIDs valid\n* OK [UIDNEXT 2] next UID\n* OK [HIGHESTMODSEQ 2] modseq\n@@ OK [READ-WRITE] SELECT completed\n",
            ),
            (
                "FETCH 1 (ENVELOPE BODYSTRUCTURE)",
                "* 1 FETCH (ENVELOPE (\"Thu, 26 Nov 2026 10:00:00 +0000\" \"hello 1\" ((\"Bob\" NIL \"bob\" \"example.lan\")) ((\"Bob\" NIL \"bob\" \"example.lan\")) ((\"Bob\" NIL \"bob\" \"example.lan\")) ((NIL NIL \"alice\" \"outpost.lan\")) NIL NIL NIL \"<m1@example.lan>\") BODYSTRUCTURE (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 15 1 NIL NIL NIL NIL))\n@@ OK FETCH completed\n",
            ),
        ],
    );
}

#[test]
fn mailboxes_list_create_rename_status_append_copy_move() {
    check(
        1,
        &[
            (
                "LIST \"\" *",
                "* LIST (\\HasNoChildren) \".\" \"INBOX\"\n* LIST (\\HasNoChildren \\Archive) \".\" \"Archive\"\n* LIST (\\HasNoChildren \\Drafts) \".\" \"Drafts\"\n* LIST (\\HasNoChildren \\Junk) \".\" \"Junk\"\n* LIST (\\HasNoChildren \\Sent) \".\" \"Sent\"\n* LIST (\\HasNoChildren \\Trash) \".\" \"Trash\"\n@@ OK LIST completed\n",
            ),
            ("CREATE Work.2026", "@@ OK CREATE completed\n"),
            ("CREATE Work", "@@ NO [ALREADYEXISTS] mailbox exists\n"),
            ("RENAME Work Jobs", "@@ OK RENAME completed\n"),
            (
                "LIST (SPECIAL-USE) \"\" \"*\" RETURN (STATUS (MESSAGES))",
                "* LIST (\\HasNoChildren \\Archive) \".\" \"Archive\"\n* STATUS \"Archive\" (MESSAGES 0)\n* LIST (\\HasNoChildren \\Drafts) \".\" \"Drafts\"\n* STATUS \"Drafts\" (MESSAGES 0)\n* LIST (\\HasNoChildren \\Junk) \".\" \"Junk\"\n* STATUS \"Junk\" (MESSAGES 0)\n* LIST (\\HasNoChildren \\Sent) \".\" \"Sent\"\n* STATUS \"Sent\" (MESSAGES 0)\n* LIST (\\HasNoChildren \\Trash) \".\" \"Trash\"\n* STATUS \"Trash\" (MESSAGES 0)\n@@ OK LIST completed\n",
            ),
            (
                "LIST \"\" Jobs%",
                "* LIST (\\HasChildren) \".\" \"Jobs\"\n@@ OK LIST completed\n",
            ),
            (
                "APPEND Jobs.2026 (\\Seen) {5+}\r\nhello",
                "@@ OK [APPENDUID V 1] APPEND completed\n",
            ),
            (
                "APPEND Nope {1+}\r\nx",
                "@@ NO [TRYCREATE] no such mailbox\n",
            ),
            (
                "STATUS Jobs.2026 (MESSAGES UNSEEN UIDNEXT)",
                "* STATUS \"Jobs.2026\" (MESSAGES 1 UNSEEN 0 UIDNEXT 2)\n@@ OK STATUS completed\n",
            ),
            (
                "SELECT INBOX",
                "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\n* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] flags\n* 1 EXISTS\n* 1 RECENT\n* OK [UNSEEN 1] first unseen\n* OK [UIDVALIDITY V] UIDs valid\n* OK [UIDNEXT 2] next UID\n* OK [HIGHESTMODSEQ 2] modseq\n@@ OK [READ-WRITE] SELECT completed\n",
            ),
            ("COPY 1 Trash", "@@ OK [COPYUID V 1 1] COPY completed\n"),
            (
                "UID MOVE 1 Archive",
                "* OK [COPYUID V 1 1] moved\n* 1 EXPUNGE\n@@ OK MOVE completed\n",
            ),
            (
                "STATUS Archive (MESSAGES)",
                "* STATUS \"Archive\" (MESSAGES 1)\n@@ OK STATUS completed\n",
            ),
            ("DELETE Jobs.2026", "@@ OK DELETE completed\n"),
        ],
    );
}

#[test]
fn condstore_qresync_vanished() {
    check(
        3,
        &[
            (
                "ENABLE QRESYNC",
                "* ENABLED QRESYNC\n@@ OK ENABLE completed\n",
            ),
            (
                "SELECT INBOX",
                "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\n* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] flags\n* 3 EXISTS\n* 3 RECENT\n* OK [UNSEEN 1] first unseen\n* OK [UIDVALIDITY V] UIDs valid\n* OK [UIDNEXT 4] next UID\n* OK [HIGHESTMODSEQ 4] modseq\n@@ OK [READ-WRITE] SELECT completed\n",
            ),
            (
                "UID STORE 2 +FLAGS.SILENT (\\Deleted)",
                "@@ OK STORE completed\n",
            ),
            (
                "STORE 3 (UNCHANGEDSINCE 1) +FLAGS (\\Seen)",
                "@@ OK [MODIFIED 3] conditional STORE failed\n",
            ),
            (
                "UID EXPUNGE 1:3",
                "* VANISHED 2\n@@ OK [HIGHESTMODSEQ 6] EXPUNGE completed\n",
            ),
            (
                "UID FETCH 1:* (FLAGS) (CHANGEDSINCE 4 VANISHED)",
                "* VANISHED (EARLIER) 2\n@@ OK FETCH completed\n",
            ),
            (
                "UID STORE 3 +FLAGS (\\Flagged)",
                "* 2 FETCH (UID 3 FLAGS (\\Flagged \\Recent) MODSEQ (7))\n@@ OK STORE completed\n",
            ),
            (
                "UID FETCH 1:* (FLAGS) (CHANGEDSINCE 6)",
                "* 2 FETCH (UID 3 FLAGS (\\Flagged \\Recent) MODSEQ (7))\n@@ OK FETCH completed\n",
            ),
        ],
    );
}

#[test]
fn qresync_select_after_a_drop_gets_only_the_delta() {
    let s = Server::start();
    for i in 0..5 {
        s.deliver("INBOX", &msg(i));
    }
    let mut a = Client::connect(s.imap);
    a.login();
    a.cmd("e", "ENABLE QRESYNC");
    let sel = a.cmd("s", "SELECT INBOX");
    let v: String = sel
        .split("UIDVALIDITY ")
        .nth(1)
        .unwrap()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    drop(a); // the link drops
    let mut b = Client::connect(s.imap);
    b.login();
    b.cmd("a", "SELECT INBOX");
    b.cmd("b", "STORE 1 +FLAGS (\\Deleted)");
    b.cmd("c", "EXPUNGE");
    b.cmd("d", "STORE 2 +FLAGS (\\Seen)");
    let mut a = Client::connect(s.imap);
    a.login();
    a.cmd("e", "ENABLE QRESYNC");
    let r = a.cmd("s", &format!("SELECT INBOX (QRESYNC ({v} 6 1:5))"));
    assert!(r.contains("* VANISHED (EARLIER) 1\r\n"), "{r}");
    assert!(
        r.contains("* 2 FETCH (UID 3 FLAGS (\\Seen) MODSEQ (9))\r\n"),
        "{r}"
    );
    assert_eq!(r.matches("FETCH").count(), 1, "{r}");
}

#[test]
fn two_sessions_see_each_others_changes_and_idle_wakes_on_delivery() {
    let s = Server::start();
    s.deliver("INBOX", &msg(1));
    let mut a = Client::connect(s.imap);
    a.login();
    a.cmd("s", "SELECT INBOX");
    let mut b = Client::connect(s.imap);
    b.login();
    let r = b.cmd("s", "SELECT INBOX");
    assert!(
        r.contains("* 0 RECENT"),
        "\\Recent goes to one session only: {r}"
    );
    b.cmd("f", "STORE 1 +FLAGS (\\Flagged)");
    let r = a.cmd("n", "NOOP");
    assert_eq!(
        r,
        "* 1 FETCH (UID 1 FLAGS (\\Flagged \\Recent))\r\nn OK NOOP completed\r\n"
    );
    a.send("i IDLE\r\n");
    assert_eq!(a.line(), "+ idling\r\n");
    let t = std::time::Instant::now();
    s.deliver("INBOX", &msg(2));
    assert_eq!(a.line(), "* 2 EXISTS\r\n");
    assert!(
        t.elapsed() < std::time::Duration::from_secs(2),
        "IDLE woke after {:?}",
        t.elapsed()
    );
    assert_eq!(a.line(), "* 2 RECENT\r\n");
    a.send("DONE\r\n");
    assert_eq!(a.line(), "i OK IDLE terminated\r\n");
}

#[test]
fn auth_rules_plain_sasl_ir_and_failures() {
    let s = Server::start();
    let mut c = Client::connect(s.imap);
    let g = c.line();
    assert!(g.contains("STARTTLS") && g.contains("AUTH=PLAIN"), "{g}");
    let r = c.cmd(
        "a",
        "AUTHENTICATE PLAIN AGFsaWNlQG91dHBvc3QubGFuAHdyb25nLXBhc3MtMQ==",
    );
    assert_eq!(r, "a NO [AUTHENTICATIONFAILED] authentication failed\r\n");
    let r = c.cmd(
        "b",
        "AUTHENTICATE PLAIN AGFsaWNlQG91dHBvc3QubGFuAHNlY3JldC1wYXNzLTE=",
    );
    assert!(r.starts_with("b OK [CAPABILITY "), "{r}");
    let r = c.cmd("c", "SELECT Nope");
    assert_eq!(r, "c NO [NONEXISTENT] no such mailbox\r\n");
    let r = c.cmd("d", "FETCH 1 FLAGS");
    assert_eq!(r, "d BAD unknown command or no mailbox selected: FETCH\r\n");
    // Not loopback-exempt: plaintext refused before TLS.
    let s2 = Server::start_with(|c| c.imap.allow_plaintext_loopback = false);
    let mut c = Client::connect(s2.imap);
    let g = c.line();
    assert!(g.contains("LOGINDISABLED"), "{g}");
    assert_eq!(
        c.cmd("x", "LOGIN alice secret"),
        "x NO [PRIVACYREQUIRED] use STARTTLS first\r\n"
    );
}

#[test]
fn limits_literal_too_big_and_line_too_long() {
    let s = Server::start_with(|c| {
        c.imap.max_literal_size = 10;
        c.imap.max_line_length = 100;
    });
    let mut c = Client::connect(s.imap);
    c.login();
    assert_eq!(
        c.cmd("a", "APPEND INBOX {11}"),
        "a NO [TOOBIG] literal too big\r\n"
    );
    c.send(&format!("b NOOP {}\r\n", "x".repeat(200)));
    assert_eq!(c.line(), "* BYE command line too long\r\n");
}

#[test]
fn synchronising_literal_gets_continuation() {
    let s = Server::start();
    let mut c = Client::connect(s.imap);
    c.line();
    c.send("a LOGIN {17}\r\n");
    assert_eq!(c.line(), "+ OK\r\n");
    c.send("alice@outpost.lan secret-pass-1\r\n");
    assert!(c.until("a").starts_with("a OK"));
}

#[test]
fn compress_deflate_round_trip() {
    use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
    use std::io::{Read, Write};
    let s = Server::start();
    s.deliver("INBOX", &msg(1));
    let mut c = Client::connect(s.imap);
    c.login();
    assert_eq!(c.cmd("z", "COMPRESS DEFLATE"), "z OK DEFLATE active\r\n");
    // Use the raw socket under the client for compressed I/O.
    let mut raw = c.into_stream();
    let mut comp = Compress::new(Compression::default(), false);
    let mut out = Vec::with_capacity(1024);
    comp.compress_vec(
        b"s SELECT INBOX\r\nf FETCH 1 BODY[]\r\n",
        &mut out,
        FlushCompress::Sync,
    )
    .unwrap();
    raw.write_all(&out).unwrap();
    let mut de = Decompress::new(false);
    let mut text = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&text).contains("f OK") {
        let n = raw.read(&mut buf).unwrap();
        assert!(n > 0);
        let mut o = Vec::with_capacity(65536);
        de.decompress_vec(&buf[..n], &mut o, FlushDecompress::Sync)
            .unwrap();
        text.extend_from_slice(&o);
    }
    let t = String::from_utf8_lossy(&text);
    assert!(
        t.contains("body number 1") && t.contains("f OK FETCH completed"),
        "{t}"
    );
}

#[test]
fn quota_is_reported_and_enforced_on_append() {
    let s = Server::start_with(|c| c.imap.quota_bytes = 2048);
    s.deliver("INBOX", &msg(1));
    let mut c = Client::connect(s.imap);
    c.login();
    assert_eq!(
        c.cmd("q", "GETQUOTAROOT INBOX"),
        "* QUOTAROOT \"INBOX\" \"\"\r\n* QUOTA \"\" (STORAGE 0 2)\r\nq OK GETQUOTAROOT completed\r\n"
    );
    let big = "x".repeat(3000);
    c.send(&format!("a APPEND INBOX {{{}+}}\r\n{big}\r\n", big.len()));
    assert_eq!(c.until("a"), "a NO [OVERQUOTA] quota exceeded\r\n");
}

#[test]
fn searchres_saves_results_for_dollar() {
    check(
        5,
        &[
            (
                "SELECT INBOX",
                "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\n* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] flags\n* 5 EXISTS\n* 5 RECENT\n* OK [UNSEEN 1] first unseen\n* OK [UIDVALIDITY V] UIDs valid\n* OK [UIDNEXT 6] next UID\n* OK [HIGHESTMODSEQ 6] modseq\n@@ OK [READ-WRITE] SELECT completed\n",
            ),
            // SAVE alone: no ESEARCH (RFC 5182 §2.1).
            (
                "SEARCH RETURN (SAVE) SUBJECT \"hello 2\"",
                "@@ OK SEARCH completed\n",
            ),
            (
                "FETCH $ (UID)",
                "* 2 FETCH (UID 2)\n@@ OK FETCH completed\n",
            ),
            (
                "UID SEARCH RETURN (SAVE MIN MAX) OR SUBJECT \"hello 1\" OR SUBJECT \"hello 3\" SUBJECT \"hello 5\"",
                "* ESEARCH (TAG \"@@\") UID MIN 1 MAX 5\n@@ OK SEARCH completed\n",
            ),
            ("SEARCH $", "* SEARCH 1 5\n@@ OK SEARCH completed\n"),
            (
                "SEARCH UID $ SUBJECT \"hello 5\"",
                "* SEARCH 5\n@@ OK SEARCH completed\n",
            ),
            (
                "UID STORE $ +FLAGS.SILENT (\\Deleted)",
                "@@ OK STORE completed\n",
            ),
            (
                "EXPUNGE",
                "* 1 EXPUNGE\n* 4 EXPUNGE\n@@ OK EXPUNGE completed\n",
            ),
            // Expunged messages leave the saved result.
            ("SEARCH $", "* SEARCH\n@@ OK SEARCH completed\n"),
            ("UID FETCH $ FLAGS", "@@ OK FETCH completed\n"),
            ("SEARCH RETURN (SAVE) ALL", "@@ OK SEARCH completed\n"),
            ("SEARCH $", "* SEARCH 1 2 3\n@@ OK SEARCH completed\n"),
            // A failed SEARCH ... SAVE empties it.
            (
                "SEARCH RETURN (SAVE) BOGUS",
                "@@ BAD unknown search key BOGUS\n",
            ),
            ("SEARCH $", "* SEARCH\n@@ OK SEARCH completed\n"),
            ("UID EXPUNGE $", "@@ OK EXPUNGE completed\n"),
        ],
    );
}

/// #15: the login cache (60 s) let a disabled user, an old password and a
/// locked-out source log in again; each must take effect at once.
#[test]
fn login_cache_honours_disable_password_change_and_lockout() {
    use crate::harness::{PASS, USER};
    let s = Server::start_with(|c| c.directory.per_source_failures = 2);
    let open = || outpost_directory::Directory::open(&s.config.directory.path).unwrap();
    let login = |pass: &str| {
        let mut c = Client::connect(s.imap);
        assert!(c.line().starts_with("* OK"));
        c.cmd("l", &format!("LOGIN {USER} {pass}"))
    };
    let ok = "l OK [CAPABILITY ";
    // Cached now.
    assert!(login(PASS).starts_with(ok));
    assert!(login(PASS).starts_with(ok));
    open().set_enabled(USER, false).unwrap();
    assert_eq!(
        login(PASS),
        "l NO [AUTHENTICATIONFAILED] authentication failed\r\n"
    );
    open().set_enabled(USER, true).unwrap();
    assert!(login(PASS).starts_with(ok));
    open().set_password(USER, "a new password").unwrap();
    assert_eq!(
        login(PASS),
        "l NO [AUTHENTICATIONFAILED] authentication failed\r\n"
    );
    assert!(login("\"a new password\"").starts_with(ok));
    // Two failures lock this source (127.0.0.1) out of the account; the
    // cached right password is refused as well.
    for _ in 0..2 {
        assert_eq!(
            login("wrong"),
            "l NO [AUTHENTICATIONFAILED] authentication failed\r\n"
        );
    }
    assert_eq!(
        login("\"a new password\""),
        "l NO [UNAVAILABLE] authentication failed\r\n"
    );
}
