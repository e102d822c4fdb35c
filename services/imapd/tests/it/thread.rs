//! SORT and THREAD (RFC 5256) over the wire: one corpus that exercises a
//! missing parent (dummy), replies without References merged by subject,
//! `Re: [fwd: …]` and `(fwd)` subjects, encoded-word subjects, a duplicate
//! Message-ID, missing Message-IDs, a References loop and a missing Date;
//! then the exact SORT and THREAD replies. The expected THREAD=REFERENCES
//! reply is also what Dovecot 2.3 answers for this corpus.

use crate::harness::{Client, Server};

/// (Message-ID, References, In-Reply-To, Subject, time of the Date on
/// 2020-06-01 UTC); empty = absent.
const CORPUS: &[(&str, &str, &str, &str, &str)] = &[
    ("<a@x>", "", "", "Plans", "10:00"),
    ("<b@x>", "", "<a@x>", "Re: Plans", "10:05"),
    ("<c@x>", "<a@x> <b@x>", "<b@x>", "Re: Re: Plans", "10:10"),
    ("<d@x>", "<lost@x>", "", "Re: Budget", "10:15"),
    ("<e@x>", "<lost@x>", "", "RE: budget", "10:20"),
    ("<f@x>", "", "", "Re: Plans", "10:25"),
    ("<g@x>", "", "", "Fwd: =?UTF-8?Q?Caf=C3=A9?= menu", "10:30"),
    (
        "<h@x>",
        "",
        "",
        "Re: [fwd: =?UTF-8?Q?caf=C3=A9?= menu]",
        "10:35",
    ),
    ("<a@x>", "", "", "Duplicate", "10:40"),
    ("<loop1@x>", "<loop2@x>", "", "Loop one", "10:45"),
    ("<loop2@x>", "<loop1@x>", "", "Loop two", "10:50"),
    ("", "", "", "Lunch", "10:55"),
    ("", "", "", "lunch", "11:00"),
    ("<i@x>", "", "", "[outpost] Re: Plans (fwd)", "09:00"),
    ("<j@x>", "", "", "No date", ""),
];

/// Message `i` (from 1) of [`CORPUS`] as delivered bytes.
fn corpus_message(i: usize) -> String {
    let (id, refs, irt, subject, date) = CORPUS[i - 1];
    let date = if date.is_empty() {
        String::new()
    } else {
        format!("Mon, 01 Jun 2020 {date}:00 +0000")
    };
    let mut m = String::from("From: Bob <bob@example.lan>\r\nTo: alice@outpost.lan\r\n");
    for (name, value) in [
        ("Message-ID", id),
        ("References", refs),
        ("In-Reply-To", irt),
        ("Subject", subject),
        ("Date", &date),
    ] {
        if !value.is_empty() {
            m.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    m.push_str(&format!("\r\nmessage {i}\r\n"));
    m
}

/// Number of messages in the corpus.
fn corpus_len() -> usize {
    CORPUS.len()
}

/// THREAD=REFERENCES of the whole corpus, in order: the RFC 5256 §3 steps
/// give 14 (an earlier `Re:` without References) and 6 as children of 1,
/// dummies for the absent `<lost@x>` and for the two `café menu` forwards,
/// one for the two `lunch` messages without Message-ID, and 10 under 11
/// (the loop is cut where it would close).
const REFERENCES: &str = "(1 (14)(2 3)(6))((4)(5))((7)(8))(9)(11 10)((12)(13))(15)";

/// THREAD=ORDEREDSUBJECT of the corpus.
const ORDEREDSUBJECT: &str = "(14 (1)(2)(3)(6))(4 5)(7 8)(9)(10)(11)(12 13)(15)";

fn check(script: &[(&str, &str)]) {
    let s = Server::start();
    for i in 1..=corpus_len() {
        s.deliver("INBOX", &corpus_message(i));
    }
    let mut c = Client::connect(s.imap);
    c.login();
    let r = c.cmd("s", "SELECT INBOX");
    assert!(r.contains("s OK"), "{r}");
    for (i, (cmd, want)) in script.iter().enumerate() {
        let tag = format!("t{i}");
        let got = c.cmd(&tag, cmd).replace("\r\n", "\n");
        let want = want.replace("@@", &tag);
        assert_eq!(got, want, "command {cmd:?}");
    }
}

#[test]
fn thread_references_follows_rfc5256() {
    check(&[
        (
            "THREAD REFERENCES UTF-8 ALL",
            &format!("* THREAD {REFERENCES}\n@@ OK THREAD completed\n"),
        ),
        (
            "UID THREAD REFERENCES US-ASCII ALL",
            &format!("* THREAD {REFERENCES}\n@@ OK THREAD completed\n"),
        ),
        // Only the searched messages are threaded: without 1 the dummy
        // for <a@x> is promoted away, and the three replies 14, 2 and 6
        // share a new dummy (step 5: neither is the original).
        (
            "THREAD REFERENCES UTF-8 2:6,14",
            "* THREAD ((14)(2 3)(6))((4)(5))\n@@ OK THREAD completed\n",
        ),
        (
            "THREAD REFERENCES UTF-8 SUBJECT nothing-matches",
            "* THREAD\n@@ OK THREAD completed\n",
        ),
    ]);
}

#[test]
fn thread_orderedsubject_follows_rfc5256() {
    check(&[
        (
            "THREAD ORDEREDSUBJECT UTF-8 ALL",
            &format!("* THREAD {ORDEREDSUBJECT}\n@@ OK THREAD completed\n"),
        ),
        (
            "THREAD ORDEREDSUBJECT UTF-8 1:3,6",
            "* THREAD (1 (2)(3)(6))\n@@ OK THREAD completed\n",
        ),
        (
            "THREAD XYZZY UTF-8 ALL",
            "@@ NO [CANNOT] unsupported THREAD algorithm\n",
        ),
    ]);
}

#[test]
fn sort_subject_uses_the_rfc5256_base_subject() {
    check(&[
        (
            "SORT (SUBJECT) UTF-8 ALL",
            "* SORT 4 5 7 8 9 10 11 12 13 15 1 2 3 6 14\n@@ OK SORT completed\n",
        ),
        (
            "SORT (REVERSE SUBJECT) UTF-8 1:8",
            "* SORT 1 2 3 6 7 8 4 5\n@@ OK SORT completed\n",
        ),
    ]);
}

#[test]
fn capability_advertises_both_thread_algorithms() {
    let s = Server::start();
    let mut c = Client::connect(s.imap);
    c.login();
    let r = c.cmd("c", "CAPABILITY");
    assert!(
        r.contains(" SORT THREAD=ORDEREDSUBJECT THREAD=REFERENCES "),
        "{r}"
    );
}
