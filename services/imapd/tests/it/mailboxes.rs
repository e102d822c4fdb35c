//! Mailbox-level behaviour with exact replies: LIST-EXTENDED (RFC 5258:
//! selection and return options, RECURSIVEMATCH and CHILDINFO,
//! `\NonExistent`, hierarchy levels that do not exist), LSUB, RENAME of
//! INBOX (RFC 3501 §6.3.5), and QRESYNC sequence match data (RFC 7162
//! §3.2.5.2) once the expunge history has been trimmed.

use crate::harness::{Client, Server};
use crate::imap::check;

#[test]
fn list_extended_selection_return_and_hierarchy() {
    let archive = "* LIST (\\HasNoChildren \\Subscribed \\Archive) \".\" \"Archive\"\n";
    let drafts = "* LIST (\\HasNoChildren \\Subscribed \\Drafts) \".\" \"Drafts\"\n";
    let gone = "* LIST (\\NonExistent \\Subscribed) \".\" \"Gone\"\n";
    let rest = "* LIST (\\HasNoChildren \\Subscribed \\Junk) \".\" \"Junk\"\n\
* LIST (\\HasNoChildren \\Subscribed \\Sent) \".\" \"Sent\"\n\
* LIST (\\HasNoChildren \\Subscribed \\Trash) \".\" \"Trash\"\n";
    check(
        0,
        &[
            ("CREATE A.B.C", "@@ OK CREATE completed\n"),
            ("SUBSCRIBE A.B.C", "@@ OK SUBSCRIBE completed\n"),
            ("SUBSCRIBE Gone", "@@ OK SUBSCRIBE completed\n"),
            // A.B goes; A.B.C stays, so A.B is a level without a mailbox.
            ("DELETE A.B", "@@ OK DELETE completed\n"),
            (
                "LIST \"\" A*",
                "* LIST (\\HasChildren) \".\" \"A\"\n\
* LIST (\\Noselect \\HasChildren) \".\" \"A.B\"\n\
* LIST (\\HasNoChildren) \".\" \"A.B.C\"\n\
* LIST (\\HasNoChildren \\Archive) \".\" \"Archive\"\n@@ OK LIST completed\n",
            ),
            (
                "LIST \"\" %",
                "* LIST (\\HasNoChildren) \".\" \"INBOX\"\n\
* LIST (\\HasChildren) \".\" \"A\"\n\
* LIST (\\HasNoChildren \\Archive) \".\" \"Archive\"\n\
* LIST (\\HasNoChildren \\Drafts) \".\" \"Drafts\"\n\
* LIST (\\HasNoChildren \\Junk) \".\" \"Junk\"\n\
* LIST (\\HasNoChildren \\Sent) \".\" \"Sent\"\n\
* LIST (\\HasNoChildren \\Trash) \".\" \"Trash\"\n@@ OK LIST completed\n",
            ),
            (
                "LIST \"\" inbox",
                "* LIST (\\HasNoChildren) \".\" \"INBOX\"\n@@ OK LIST completed\n",
            ),
            // Subscribed names, existing or not (RFC 9051 §6.3.9 table).
            (
                "LIST (SUBSCRIBED) \"\" *",
                &format!(
                    "* LIST (\\HasNoChildren \\Subscribed) \".\" \"A.B.C\"\n{archive}{drafts}{gone}{rest}@@ OK LIST completed\n"
                ),
            ),
            // RECURSIVEMATCH: A is returned only because of A.B.C.
            (
                "LIST (SUBSCRIBED RECURSIVEMATCH) \"\" %",
                &format!(
                    "* LIST (\\HasChildren) \".\" \"A\" (\"CHILDINFO\" (\"SUBSCRIBED\"))\n{archive}{drafts}{gone}{rest}@@ OK LIST completed\n"
                ),
            ),
            (
                "LIST (SUBSCRIBED RECURSIVEMATCH) \"\" A.%",
                "* LIST (\\NonExistent \\HasChildren) \".\" \"A.B\" (\"CHILDINFO\" (\"SUBSCRIBED\"))\n@@ OK LIST completed\n",
            ),
            // Several patterns; RETURN options.
            (
                "LIST \"\" (A Sent) RETURN (CHILDREN SUBSCRIBED)",
                "* LIST (\\HasChildren) \".\" \"A\"\n\
* LIST (\\HasNoChildren \\Subscribed \\Sent) \".\" \"Sent\"\n@@ OK LIST completed\n",
            ),
            (
                "LIST \"\" A.B.C RETURN (STATUS (MESSAGES UIDNEXT))",
                "* LIST (\\HasNoChildren) \".\" \"A.B.C\"\n\
* STATUS \"A.B.C\" (MESSAGES 0 UIDNEXT 1)\n@@ OK LIST completed\n",
            ),
            (
                "LIST (RECURSIVEMATCH) \"\" %",
                "@@ BAD RECURSIVEMATCH needs another selection option\n",
            ),
            (
                "LIST (BOGUS) \"\" %",
                "@@ BAD unknown LIST selection option BOGUS\n",
            ),
            (
                "LIST \"\" % RETURN (BOGUS)",
                "@@ BAD unknown LIST return option BOGUS\n",
            ),
            (
                "LIST \"\" \"\"",
                "* LIST (\\Noselect) \".\" \"\"\n@@ OK LIST completed\n",
            ),
            // LSUB: "%" shows the unsubscribed level above A.B.C.
            (
                "LSUB \"\" %",
                "* LSUB (\\Noselect) \".\" \"A\"\n* LSUB () \".\" \"Archive\"\n\
* LSUB () \".\" \"Drafts\"\n* LSUB (\\Noselect) \".\" \"Gone\"\n* LSUB () \".\" \"Junk\"\n\
* LSUB () \".\" \"Sent\"\n* LSUB () \".\" \"Trash\"\n@@ OK LSUB completed\n",
            ),
            (
                "LSUB \"\" A*",
                "* LSUB () \".\" \"A.B.C\"\n* LSUB () \".\" \"Archive\"\n@@ OK LSUB completed\n",
            ),
        ],
    );
}

#[test]
fn rename_inbox_moves_the_messages_and_leaves_inbox_empty() {
    check(
        2,
        &[
            ("RENAME INBOX Old.2026", "@@ OK RENAME completed\n"),
            (
                "STATUS INBOX (MESSAGES)",
                "* STATUS \"INBOX\" (MESSAGES 0)\n@@ OK STATUS completed\n",
            ),
            (
                "STATUS Old.2026 (MESSAGES UNSEEN)",
                "* STATUS \"Old.2026\" (MESSAGES 2 UNSEEN 2)\n@@ OK STATUS completed\n",
            ),
            (
                "RENAME Old.2026 INBOX",
                "@@ NO [ALREADYEXISTS] mailbox exists\n",
            ),
            (
                "RENAME INBOX Old.2026",
                "@@ NO [ALREADYEXISTS] mailbox exists\n",
            ),
        ],
    );
}

/// A session with INBOX selected sees the messages go when another
/// session renames INBOX.
#[test]
fn rename_inbox_is_seen_by_a_session_that_has_it_selected() {
    let s = Server::start();
    s.deliver("INBOX", &crate::harness::msg(1));
    let mut a = Client::connect(s.imap);
    a.login();
    a.cmd("a1", "SELECT INBOX");
    let mut b = Client::connect(s.imap);
    b.login();
    assert!(b.cmd("b1", "RENAME INBOX Saved").contains("b1 OK"));
    assert_eq!(
        a.cmd("a2", "NOOP"),
        "* 1 EXPUNGE\r\na2 OK NOOP completed\r\n"
    );
    let r = b.cmd("b2", "SELECT Saved");
    assert!(r.contains("* 1 EXISTS"), "{r}");
    let r = b.cmd("b3", "FETCH 1 BODY[TEXT]");
    assert!(r.contains("body number 1"), "{r}");
}

fn field(reply: &str, key: &str) -> String {
    let i = reply
        .find(key)
        .unwrap_or_else(|| panic!("{key} in {reply}"))
        + key.len();
    reply[i..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect()
}

/// More than `MAX_TOMBSTONES` expunges push the expunge history past the
/// client's MODSEQ. Without sequence match data every missing UID is
/// reported; with it, only those above the highest UID both sides still
/// agree on.
#[test]
fn qresync_sequence_match_data_trims_vanished_after_history_loss() {
    let s = Server::start();
    let new = s.mail_root().join("outpost.lan/alice/new");
    let total = outpost_store::MAX_TOMBSTONES + 15;
    for i in 1..=total {
        let body = format!("Subject: m{i}\r\n\r\nx\r\n");
        std::fs::write(
            new.join(format!("{i:06}.M1P1Q{i}.test,S={}", body.len())),
            body,
        )
        .unwrap();
    }
    let mut a = Client::connect(s.imap);
    a.login();
    a.cmd("a0", "ENABLE QRESYNC");
    let r = a.cmd("a1", "SELECT INBOX");
    assert!(r.contains(&format!("* {total} EXISTS")), "{r}");
    let v = field(&r, "UIDVALIDITY ");
    // UIDs 1:5 go long before the client's last sync...
    a.cmd("a2", "UID STORE 1:5 +FLAGS.SILENT (\\Deleted)");
    let r = a.cmd("a3", "UID EXPUNGE 1:5");
    let m0 = field(&r, "HIGHESTMODSEQ ");
    // ...then everything from UID 10 on, which overflows the history.
    a.cmd("a4", "UID STORE 10:* +FLAGS.SILENT (\\Deleted)");
    let r = a.cmd("a5", "UID EXPUNGE 10:*");
    assert!(
        r.contains(&format!("* VANISHED 10:{total}")),
        "{}",
        &r[..200.min(r.len())]
    );

    let mut b = Client::connect(s.imap);
    b.login();
    b.cmd("b0", "ENABLE QRESYNC");
    let vanished = |c: &mut Client, tag: &str, params: &str| {
        let r = c.cmd(tag, &format!("SELECT INBOX (QRESYNC ({v} {m0}{params}))"));
        r.lines()
            .find(|l| l.starts_with("* VANISHED") || l.starts_with(&format!("{tag} BAD")))
            .unwrap_or("none")
            .to_string()
    };
    // The client knew 6:total as sequence numbers 1:total-5.
    assert_eq!(
        vanished(&mut b, "b1", ""),
        format!("* VANISHED (EARLIER) 1:5,10:{total}")
    );
    assert_eq!(
        vanished(&mut b, "b2", " 1:* (1:4 6:9)"),
        format!("* VANISHED (EARLIER) 10:{total}")
    );
    // A pair that no longer matches proves nothing.
    assert_eq!(
        vanished(&mut b, "b3", &format!(" 6:{total} (1,4 1,4)")),
        format!("* VANISHED (EARLIER) 10:{total}")
    );
    assert_eq!(
        vanished(&mut b, "b4", " (1:4 6:8)"),
        "b4 BAD QRESYNC sequence match sets differ in size"
    );
}

/// Names are stored in modified UTF-7 (as Dovecot's Maildir++ does);
/// IMAP4rev1 clients see that form, IMAP4rev2 sessions UTF-8.
#[test]
fn mailbox_names_are_utf8_for_imap4rev2_and_modified_utf7_for_rev1() {
    let s = Server::start();
    let mut old = Client::connect(s.imap);
    old.login();
    assert!(old.cmd("a1", "CREATE Entw&APw-rfe").contains("a1 OK"));
    let mut new = Client::connect(s.imap);
    new.login();
    assert!(
        new.cmd("b0", "ENABLE IMAP4rev2")
            .contains("* ENABLED IMAP4rev2")
    );
    assert_eq!(
        new.cmd("b1", "LIST \"\" Entw*"),
        "* LIST (\\HasNoChildren) \".\" \"Entwürfe\"\r\nb1 OK LIST completed\r\n"
    );
    assert!(
        new.cmd("b2", "CREATE \"Отправленные.2026\"")
            .contains("b2 OK")
    );
    assert!(new.cmd("b3", "SELECT Entwürfe").contains("b3 OK"));
    assert_eq!(
        new.cmd("b4", "STATUS \"Отправленные.2026\" (MESSAGES)"),
        "* STATUS \"Отправленные.2026\" (MESSAGES 0)\r\nb4 OK STATUS completed\r\n"
    );
    assert_eq!(
        old.cmd("a2", "LIST \"\" &BB4*"),
        "* LIST (\\HasChildren) \".\" \"&BB4EQgQ,BEAEMAQyBDsENQQ9BD0ESwQ1-\"\r\n\
* LIST (\\HasNoChildren) \".\" \"&BB4EQgQ,BEAEMAQyBDsENQQ9BD0ESwQ1-.2026\"\r\na2 OK LIST completed\r\n"
    );
    let root = s.mail_root().join("outpost.lan/alice");
    assert!(root.join(".Entw&APw-rfe/cur").is_dir());
    assert!(
        root.join(".&BB4EQgQ,BEAEMAQyBDsENQQ9BD0ESwQ1-.2026/cur")
            .is_dir()
    );
}

/// `max_user_ip_connections`: one session too many gets `NO [LIMIT]`; a
/// logout frees its place.
#[test]
fn sessions_per_user_and_address_are_limited() {
    let s = Server::start_with(|c| c.imap.max_user_ip_connections = 2);
    let login = |c: &mut Client, tag: &str| {
        let g = c.line();
        assert!(g.starts_with("* OK"), "{g}");
        c.cmd(
            tag,
            &format!("LOGIN {} {}", crate::harness::USER, crate::harness::PASS),
        )
    };
    let mut a = Client::connect(s.imap);
    assert!(login(&mut a, "a").contains("a OK"));
    let mut b = Client::connect(s.imap);
    assert!(login(&mut b, "b").contains("b OK"));
    let mut c = Client::connect(s.imap);
    assert_eq!(
        login(&mut c, "c"),
        "c NO [LIMIT] too many sessions for this user from this address\r\n"
    );
    assert!(a.cmd("a2", "LOGOUT").contains("a2 OK"));
    drop(a);
    // The server notices the closed session at once; allow it a moment.
    let mut ok = false;
    for i in 0..50 {
        let r = c.cmd(
            &format!("c{i}"),
            &format!("LOGIN {} {}", crate::harness::USER, crate::harness::PASS),
        );
        if r.contains(" OK ") {
            ok = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(ok, "a place came free after LOGOUT");
}
