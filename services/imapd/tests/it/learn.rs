//! Learning from users (issue 15): messages moved into Junk over IMAP
//! train a real rspamd as spam, one moved out of Junk as ham, and a
//! sample like the learned ones is then recognised; a mass move is not
//! held up by the engine and bounded in what it queues.

use crate::harness::{Client, Server};
use outpost_hygiene::spam::{Envelope, Rspamd};
use outpost_testkit::engines;
use std::net::IpAddr;
use std::time::{Duration, Instant};

fn message(id: &str, subject: &str, body: &str) -> String {
    format!(
        "From: offers@velmorant.example\r\nTo: alice@outpost.lan\r\nSubject: {subject}\r\n\
         Message-ID: <{id}@velmorant.example>\r\nDate: Mon, 7 Dec 2026 10:00:00 +0000\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
}

fn sample(i: u32) -> String {
    message(
        &format!("v{i}"),
        &format!("your velmorant bonds, offer {i}"),
        &format!(
            "Exclusive velmorant investment opportunity: guaranteed velmorant returns, \
             transfer your savings into velmorant bonds today and double your velmorant \
             profits with our quantrix wealth programme\r\nOffer code {i}{i}{i}"
        ),
    )
}

fn bayes_spam(r: &Rspamd, rt: &tokio::runtime::Runtime, msg: &str) -> bool {
    let rcpts = vec!["alice@outpost.lan".to_string()];
    let env = Envelope {
        ip: IpAddr::from([192, 0, 2, 7]),
        helo: "mx.velmorant.example",
        from: "offers@velmorant.example",
        rcpts: &rcpts,
        user: None,
        queue_id: "t1",
    };
    let report = rt.block_on(r.check(msg.as_bytes(), &env)).unwrap();
    report
        .symbols
        .iter()
        .any(|(n, s)| n == "BAYES_SPAM" && *s > 0.0)
}

#[test]
fn moving_into_junk_trains_spam_and_out_of_junk_trains_ham() {
    let e = engines::Rspamd::temp();
    let s = Server::start_with(|c| {
        c.smtp.spam.rspamd = Some(e.normal);
        c.smtp.spam.controller = Some(e.controller);
        c.smtp.spam.password = e.password.into();
        c.smtp.spam.timeout_secs = 10;
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let check = Rspamd::new(&s.config.smtp.spam).unwrap();
    assert!(!bayes_spam(&check, &rt, &sample(0)), "nothing learned yet");

    s.deliver("", &sample(1));
    s.deliver("", &sample(2));
    // A message the user rescues from Junk: ham.
    s.deliver(
        "Junk",
        &message(
            "h1",
            "lunch",
            "Hello Alice, shall we have lunch tomorrow at noon at the usual place near the station?",
        ),
    );
    let mut c = Client::connect(s.imap);
    c.login();
    assert!(c.cmd("a1", "SELECT INBOX").contains("a1 OK"));
    let r = c.cmd("a2", "UID MOVE 1:2 Junk");
    assert!(r.contains("a2 OK MOVE completed"), "{r}");
    assert!(c.cmd("a3", "SELECT Junk").contains("a3 OK"));
    // Junk: the ham (UID 1), then the two moved samples.
    let r = c.cmd("a4", "UID MOVE 1 INBOX");
    assert!(r.contains("a4 OK MOVE completed"), "{r}");
    // Copying out of Junk into Trash says nothing about the message.
    assert!(c.cmd("a5", "UID COPY 2 Trash").contains("a5 OK"));

    // The learning runs in the background: a bounded wait for it.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !bayes_spam(&check, &rt, &sample(3)) {
        assert!(
            Instant::now() < deadline,
            "rspamd never learned the moved samples"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // The ham was learned too: rspamd classifies only with both classes.
    let ham = message(
        "h2",
        "lunch again",
        "Hello Alice, shall we have lunch tomorrow at noon at the usual place near the station?",
    );
    assert!(!bayes_spam(&check, &rt, &ham), "the rescued message is ham");
    assert!(c.cmd("a6", "NOOP").contains("a6 OK"));
}

#[test]
fn a_mass_move_into_junk_is_not_held_by_the_engine_and_queues_a_bounded_number() {
    // An engine that accepts connections and never answers: every learn
    // waits its whole timeout, so only the bounded queue fills.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap();
    let s = Server::start_with(|c| {
        c.smtp.spam.rspamd = Some(addr);
        c.smtp.spam.controller = Some(addr);
        c.smtp.spam.timeout_secs = 30;
    });
    for i in 0..300 {
        s.deliver("", &sample(i));
    }
    let mut c = Client::connect(s.imap);
    c.login();
    assert!(c.cmd("a1", "SELECT INBOX").contains("* 300 EXISTS"));
    let r = c.cmd("a2", "MOVE 1:* Junk");
    assert!(r.contains("a2 OK MOVE completed"), "{r}");
    assert!(
        c.cmd("a3", "STATUS Junk (MESSAGES)")
            .contains("(MESSAGES 300)")
    );
    // The session and others go on while the engine hangs.
    let mut other = Client::connect(s.imap);
    other.login();
    assert!(other.cmd("b1", "SELECT Junk").contains("* 300 EXISTS"));
    let r = other.cmd("b2", "MOVE 1:* INBOX");
    assert!(r.contains("b2 OK MOVE completed"), "{r}");
    assert!(c.cmd("a4", "NOOP").contains("a4 OK"));
}
