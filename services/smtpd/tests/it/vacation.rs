//! Out-of-office replies (RFC 3834) at local delivery, driven by swaks:
//! one reply per sender per interval, to the envelope sender with a null
//! envelope sender of its own, and none for the hostile or automatic
//! mail of the table below.

use std::net::SocketAddr;

use crate::common::{TestServer, start_with};
use outpost_directory::{Directory, Vacation};

/// Sends `data` (headers and body, LF line ends) with swaks from
/// envelope sender `from` to `to` over `addr`; `auth` signs in as bob.
async fn send(addr: SocketAddr, from: &str, to: &str, data: &str, auth: bool) -> String {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), data.replace('\n', "\r\n")).unwrap();
    let data = format!("@{}", file.path().display());
    let mut args = vec!["--from", from, "--to", to, "--data", &data];
    if auth {
        args.extend([
            "--tls",
            "--auth",
            "PLAIN",
            "--auth-user",
            "bob@outpost.test",
            "--auth-password",
            "bob-secret-12",
        ]);
    }
    let (ok, t) = crate::swaks::swaks(addr, &args).await;
    assert!(ok, "swaks failed: {t}");
    assert!(t.contains("250 2.0.0 Ok: queued"), "{t}");
    t
}

fn away(s: &TestServer) {
    let mut d = Directory::open(&s.shared.config.directory.path).unwrap();
    d.set_vacation(
        "alice@outpost.test",
        &Vacation {
            enabled: true,
            subject: String::new(),
            body: "I am in the field until Friday.\nAsk bob@outpost.test.".into(),
            starts: 0,
            ends: 0,
            interval: 86_400,
        },
    )
    .unwrap();
}

/// The replies waiting in the queue: (recipient, message).
fn replies(s: &TestServer) -> Vec<(String, String)> {
    let q = &s.shared.queue;
    q.list()
        .unwrap()
        .into_iter()
        .filter(|e| e.from.is_empty())
        .map(|e| {
            let m = String::from_utf8_lossy(&q.message(&e.id).unwrap()).into_owned();
            (e.rcpts[0].address.clone(), m)
        })
        .collect()
}

fn mail(from: &str, to: &str, extra: &str, subject: &str) -> String {
    format!(
        "From: {from}\nTo: {to}\nSubject: {subject}\nMessage-ID: <{}@example.org>\n{extra}\nBody.\n",
        subject.len() + extra.len()
    )
}

#[tokio::test]
async fn one_reply_per_sender_threaded_with_a_null_sender() {
    let s = start_with(|_| {}).await;
    away(&s);
    let m = "From: Carol <carol@example.org>\nTo: Alice <alice@outpost.test>\nSubject: Water supply\nMessage-ID: <w1@example.org>\nReferences: <w0@example.org>\n\nHow much is left?\n";
    send(s.mx, "carol@example.org", "alice@outpost.test", m, false).await;
    let r = replies(&s);
    assert_eq!(r.len(), 1, "{r:?}");
    let (to, reply) = &r[0];
    assert_eq!(to, "carol@example.org");
    let env = s.shared.queue.list().unwrap();
    assert!(env.iter().all(|e| e.rcpts.iter().all(|r| r.notify_never)));
    let parsed = mail_parser::MessageParser::new()
        .parse(reply.as_bytes())
        .unwrap();
    assert_eq!(parsed.subject(), Some("Auto: Water supply"));
    assert_eq!(parsed.in_reply_to().as_text(), Some("w1@example.org"));
    let refs = parsed.references().as_text_list().unwrap();
    assert_eq!(refs, ["w0@example.org", "w1@example.org"]);
    assert_eq!(
        parsed.header_raw("Auto-Submitted").map(str::trim),
        Some("auto-replied")
    );
    assert_eq!(
        parsed.from().unwrap().first().unwrap().address(),
        Some("alice@outpost.test")
    );
    assert!(parsed.body_text(0).unwrap().contains("until Friday"));
    // The original is delivered too, and a second message from Carol the
    // same day gets no second reply.
    assert_eq!(s.inbox("alice").len(), 1);
    send(s.mx, "carol@example.org", "alice@outpost.test", m, false).await;
    assert_eq!(replies(&s).len(), 1);
    assert_eq!(s.inbox("alice").len(), 2);

    // A local sender's reply is stored in their inbox at once.
    let m = mail("bob@outpost.test", "alice@outpost.test", "", "Status");
    send(
        s.submission,
        "bob@outpost.test",
        "alice@outpost.test",
        &m,
        true,
    )
    .await;
    let bob = s.inbox("bob");
    assert_eq!(bob.len(), 1, "{bob:?}");
    assert!(bob[0].contains("Subject: Auto: Status"), "{}", bob[0]);
    assert!(bob[0].contains("Auto-Submitted: auto-replied"));
    // Bob's inbox gets no reply to the reply: alice's reply is automatic.
    assert_eq!(replies(&s).len(), 1);
}

#[tokio::test]
async fn hostile_and_automatic_mail_gets_no_reply() {
    let s = start_with(|_| {}).await;
    away(&s);
    let to = "alice@outpost.test";
    // (envelope sender, header From, header To, extra headers)
    let table: &[(&str, &str, &str, &str)] = &[
        ("owner-list@example.org", "x@example.org", to, ""),
        ("news-request@example.org", "x@example.org", to, ""),
        ("MAILER-DAEMON@example.org", "x@example.org", to, ""),
        ("noreply@example.org", "x@example.org", to, ""),
        (
            "a@example.org",
            "a@example.org",
            to,
            "Auto-Submitted: auto-generated",
        ),
        (
            "b@example.org",
            "b@example.org",
            to,
            "Auto-Submitted: auto-replied",
        ),
        ("c@example.org", "c@example.org", to, "Precedence: bulk"),
        ("d@example.org", "d@example.org", to, "Precedence: list"),
        (
            "e@example.org",
            "e@example.org",
            to,
            "List-Id: <l.example.org>",
        ),
        (
            "f@example.org",
            "f@example.org",
            to,
            "List-Unsubscribe: <mailto:u@example.org>",
        ),
        ("g@example.org", "g@example.org", to, "X-Spam-Flag: YES"),
        (
            "h@example.org",
            "h@example.org",
            to,
            "X-Auto-Response-Suppress: DR, OOF",
        ),
        // Alice only in Bcc (the envelope), or reached through the group.
        ("i@example.org", "i@example.org", "someone@example.org", ""),
        ("j@example.org", "j@example.org", "team@outpost.test", ""),
        // Her own address forged as the sender.
        ("alice@outpost.test", "alice@outpost.test", to, ""),
        ("a@outpost.test", "alice@outpost.test", to, ""),
    ];
    for (env_from, from, hdr_to, extra) in table {
        let rcpt = if *hdr_to == "team@outpost.test" {
            "team@outpost.test"
        } else {
            to
        };
        send(
            s.mx,
            env_from,
            rcpt,
            &mail(from, hdr_to, extra, "Hi"),
            false,
        )
        .await;
        assert_eq!(
            replies(&s),
            Vec::new(),
            "no reply to {env_from} with {extra:?} (To: {hdr_to})"
        );
    }
    assert!(
        s.inbox("alice").len() >= table.len(),
        "every message delivered"
    );
    // The null sender (a bounce) is never answered.
    let t = send(
        s.mx,
        "<>",
        to,
        &mail("m@example.org", to, "", "Bounce"),
        false,
    )
    .await;
    assert!(t.contains("MAIL FROM:<>"), "{t}");
    assert_eq!(replies(&s), Vec::new());
    // An alias in Cc is the user's address too: that one is answered.
    send(
        s.mx,
        "k@example.org",
        "a@outpost.test",
        &mail(
            "k@example.org",
            "x@example.org",
            "Cc: a@outpost.test",
            "Cc'd",
        ),
        false,
    )
    .await;
    assert_eq!(replies(&s).len(), 1);
    // A subject carrying an encoded line break does not split the
    // reply's header.
    send(
        s.mx,
        "l@example.org",
        to,
        &mail(
            "l@example.org",
            to,
            "",
            "=?utf-8?q?hi=0D=0ABcc=3A_victim=40example=2Eorg?=",
        ),
        false,
    )
    .await;
    let r = replies(&s);
    let (_, reply) = r.iter().find(|(a, _)| a == "l@example.org").unwrap();
    assert!(
        !reply
            .lines()
            .any(|l| l.to_ascii_lowercase().starts_with("bcc:")),
        "{reply}"
    );
}

#[tokio::test]
async fn a_flood_of_forged_senders_gets_a_bounded_number_of_replies() {
    let s = start_with(|c| c.smtp.vacation_max_per_hour = 3).await;
    away(&s);
    for i in 0..6 {
        let from = format!("forged{i}@example.org");
        send(
            s.mx,
            &from,
            "alice@outpost.test",
            &mail(&from, "alice@outpost.test", "", "Hi"),
            false,
        )
        .await;
    }
    assert_eq!(replies(&s).len(), 3);
    assert_eq!(s.inbox("alice").len(), 6);
}
