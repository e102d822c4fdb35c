//! The rspamd client against a private rspamd 3.4.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use outpost_config::hygiene::Spam;
use outpost_hygiene::spam::{Envelope, Error, Rspamd, SpamVerdict, unchecked_header};

use outpost_testkit::engines;

fn cfg(normal: SocketAddr, controller: Option<SocketAddr>, password: &str) -> Spam {
    Spam {
        rspamd: Some(normal),
        controller,
        password: password.into(),
        timeout_secs: 10,
        ..Spam::default()
    }
}

fn client(e: &engines::Rspamd) -> (Rspamd, Spam) {
    let c = cfg(e.normal, Some(e.controller), e.password);
    (Rspamd::new(&c).unwrap(), c)
}

fn message(from: &str, id: &str, subject: &str, body: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: bob@example.org\r\nSubject: {subject}\r\n\
         Message-ID: <{id}@example.com>\r\nDate: Mon, 7 Dec 2026 10:00:00 +0000\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

/// GTUBE, put together at run time (not in the repository as one string).
fn gtube() -> String {
    [
        "XJS*C4JDBQADN1.NSBN3*2IDNEN*",
        "GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X",
    ]
    .concat()
}

const RCPTS: &[&str] = &["bob@example.org"];

fn env<'a>(rcpts: &'a [String], from: &'a str) -> Envelope<'a> {
    Envelope {
        ip: IpAddr::from([192, 0, 2, 10]),
        helo: "mail.example.com",
        from,
        rcpts,
        user: None,
        queue_id: "4XyZ12",
    }
}

fn rcpts() -> Vec<String> {
    RCPTS.iter().map(|s| s.to_string()).collect()
}

#[test]
fn none_without_an_address() {
    assert!(Rspamd::new(&Spam::default()).is_none());
}

#[tokio::test]
async fn gtube_is_rejected_and_plain_mail_is_ham() {
    let e = engines::Rspamd::shared();
    eprintln!("rspamd ready in {:?}", e.started_in);
    let (r, c) = client(e);
    let rc = rcpts();

    let t = Instant::now();
    let spam = r
        .check(
            &message("a@example.com", "g1", "test", &gtube()),
            &env(&rc, "a@example.com"),
        )
        .await
        .unwrap();
    eprintln!("GTUBE check took {:?}: {spam:?}", t.elapsed());
    assert!(spam.score >= c.reject_score, "{spam:?}");
    assert_eq!(spam.verdict(&c), SpamVerdict::Reject);
    assert_eq!(spam.action, "reject");
    assert!(spam.symbols.iter().any(|(n, _)| n == "GTUBE"), "{spam:?}");
    let h = spam.header(&c);
    assert!(
        h.starts_with(
            "X-Spam-Score: 15.00\r\nX-Spam-Status: Yes, score=15.00 required=6.00 tests=GTUBE\r\n"
        ),
        "{h}"
    );
    assert!(h.ends_with("X-Spam-Flag: YES\r\n"), "{h}");

    let t = Instant::now();
    let plain = message(
        "alice@example.com",
        "p1",
        "lunch",
        "Hello Bob,\r\n\r\nshall we have lunch tomorrow at noon, at the usual place?\r\n\r\nAlice",
    );
    let ham = r
        .check(&plain, &env(&rc, "alice@example.com"))
        .await
        .unwrap();
    eprintln!("plain check took {:?}: {ham:?}", t.elapsed());
    assert_eq!(ham.verdict(&c), SpamVerdict::Ham, "{ham:?}");
    let h = ham.header(&c);
    assert!(h.contains("X-Spam-Status: No, score="), "{h}");
    assert!(!h.contains("X-Spam-Flag"), "{h}");
    for line in h.split("\r\n") {
        assert!(line.len() < 998 && line.is_ascii(), "{line:?}");
    }

    // Submission: the authenticated user and several recipients pass.
    let many: Vec<String> = (0..5).map(|i| format!("r{i}@example.org")).collect();
    let sub = Envelope {
        user: Some("alice"),
        ..env(&many, "alice@example.com")
    };
    r.check(&plain, &sub).await.unwrap();
}

#[test]
fn unchecked_header_names_the_reason() {
    assert_eq!(
        unchecked_header("engine unavailable"),
        "X-Spam-Status: Unchecked (engine unavailable)\r\n"
    );
}

#[tokio::test]
async fn engine_down_fails_at_once() {
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let r = Rspamd::new(&cfg(addr, Some(addr), "")).unwrap();
    let t = Instant::now();
    let rc = rcpts();
    let e = r
        .check(b"Subject: x\r\n\r\nx\r\n", &env(&rc, ""))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Connect(..)), "{e}");
    assert!(
        e.to_string()
            .starts_with(&format!("connecting to rspamd at {addr}: ")),
        "{e}"
    );
    let e = r.learn(b"Subject: x\r\n\r\nx\r\n", true).await.unwrap_err();
    assert!(matches!(e, Error::Connect(..)), "{e}");
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
}

#[tokio::test]
async fn a_silent_engine_times_out() {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    // Accepts, reads, never answers.
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        loop {
            let (s, _) = l.accept().await.unwrap();
            held.push(s);
        }
    });
    let r = Rspamd::new(&Spam {
        timeout_secs: 1,
        ..cfg(addr, Some(addr), "")
    })
    .unwrap();
    let rc = rcpts();
    let t = Instant::now();
    let e = r
        .check(b"Subject: x\r\n\r\nx\r\n", &env(&rc, ""))
        .await
        .unwrap_err();
    let took = t.elapsed();
    assert!(matches!(e, Error::Timeout(..)), "{e}");
    assert_eq!(
        e.to_string(),
        format!("rspamd at {addr} did not answer within 1 s")
    );
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(3),
        "{took:?}"
    );
    silent.abort();
}

#[tokio::test]
async fn a_reply_that_is_not_rspamd_is_an_error() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let server = tokio::spawn(async move {
        for reply in [
            "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 21\r\n\r\n{\"error\":\"exploded\"}\n".to_string(),
            "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n<html>".to_string(),
            // Larger than the 1 MiB cap on a reply.
            format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{}", 2 << 20, " ".repeat(2 << 20)),
        ] {
            let (mut s, _) = l.accept().await.unwrap();
            let mut buf = vec![0u8; 65536];
            let _ = s.read(&mut buf).await;
            let _ = s.write_all(reply.as_bytes()).await;
        }
    });
    let r = Rspamd::new(&cfg(addr, None, "")).unwrap();
    let rc = rcpts();
    let m = b"Subject: x\r\n\r\nx\r\n";
    let e = r.check(m, &env(&rc, "")).await.unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("rspamd at {addr} answered 500: exploded")
    );
    let e = r.check(m, &env(&rc, "")).await.unwrap_err();
    assert!(matches!(e, Error::Reply(..)), "{e}");
    let e = r.check(m, &env(&rc, "")).await.unwrap_err();
    assert!(matches!(e, Error::Http(..)), "{e}");
    assert!(matches!(r.learn(m, true).await, Err(Error::NoController)));
    server.await.unwrap();
}

#[tokio::test]
async fn learning_spam_raises_its_score() {
    // An rspamd of its own: learning changes the classifier.
    let e = engines::Rspamd::temp();
    let (r, c) = client(&e);
    let rc = rcpts();
    let from = "offers@velmorant.example";
    let body = "Exclusive velmorant investment opportunity: guaranteed velmorant returns, \
                transfer your savings into velmorant bonds today and double your velmorant \
                profits with our quantrix wealth programme";
    // Each sample differs a little: rspamd's learn cache knows a message
    // by its content, so identical bodies would count as one.
    let sample = |i: u32| {
        let subject = format!("your velmorant bonds, offer {i}");
        message(
            from,
            &format!("v{i}"),
            &subject,
            &format!("{body}\r\nOffer code {i}{i}{i}"),
        )
    };

    let before = r.check(&sample(0), &env(&rc, from)).await.unwrap();
    assert!(
        !before.symbols.iter().any(|(n, _)| n.starts_with("BAYES")),
        "{before:?}"
    );

    // The controller wants its password (loopback is not trusted here).
    let anonymous = Rspamd::new(&cfg(e.normal, Some(e.controller), "")).unwrap();
    let err = anonymous.learn(&sample(1), true).await.unwrap_err();
    assert!(matches!(err, Error::Status(_, 403 | 401, _)), "{err}");

    // rspamd counts a token once two learned messages have it, and
    // classifies only when both classes have min_learns (1 here).
    let t = Instant::now();
    r.learn(&sample(1), true).await.unwrap();
    eprintln!("learnspam took {:?}", t.elapsed());
    r.learn(&sample(2), true).await.unwrap();
    let ham = message(
        "alice@example.com",
        "h1",
        "lunch",
        "Hello Bob, shall we have lunch tomorrow at noon at the usual place near the station?",
    );
    r.learn(&ham, false).await.unwrap();
    // The same message again: rspamd says "already learned", which is fine.
    r.learn(&sample(1), true).await.unwrap();
    r.learn(&ham, false).await.unwrap();

    let after = r.check(&sample(3), &env(&rc, from)).await.unwrap();
    assert!(
        after
            .symbols
            .iter()
            .any(|(n, s)| n == "BAYES_SPAM" && *s > 0.0),
        "{after:?}"
    );
    assert!(
        after.score > before.score + 3.0,
        "before {before:?}\nafter {after:?}"
    );
    assert!(after.header(&c).contains("BAYES_SPAM"));
}
