//! Raw protocol tests: exact replies, table driven, one fresh server each.

use tokio::io::AsyncWriteExt;

use crate::common::{script, start, start_with};

const EHLO_MX: &str = "250-mx.outpost.test\r\n250-PIPELINING\r\n250-SIZE 10000\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250-ENHANCEDSTATUSCODES\r\n250-DSN\r\n250 STARTTLS\r\n";

#[tokio::test]
async fn mx_accepts_local_mail_and_refuses_relay() {
    let s = start().await;
    script(
        s.mx,
        &[
            ("EHLO client.example\r\n", EHLO_MX),
            ("MAIL FROM:<sender@remote.example>\r\n", "250 2.1.0 Ok\r\n"),
            ("RCPT TO:<alice@outpost.test>\r\n", "250 2.1.5 Ok\r\n"),
            ("RCPT TO:<ALICE@OUTPOST.TEST>\r\n", "250 2.1.5 Ok\r\n"),
            (
                "RCPT TO:<nobody@outpost.test>\r\n",
                "550 5.1.1 <nobody@outpost.test>: Recipient address rejected: User unknown in local recipient table\r\n",
            ),
            ("RCPT TO:<victim@remote.example>\r\n", "554 5.7.1 <victim@remote.example>: Relay access denied\r\n"),
            ("DATA\r\n", "354 End data with <CR><LF>.<CR><LF>\r\n"),
            ("Subject: hi\r\n\r\n..dotted line\r\nbody\r\n.\r\n", "250 2.0.0 Ok: queued as ID\r\n"),
            ("QUIT\r\n", "221 2.0.0 Bye\r\n"),
        ],
    )
    .await;
    let inbox = s.inbox("alice");
    assert_eq!(inbox.len(), 1, "two RCPTs of one mailbox deliver once");
    assert!(inbox[0].starts_with("Received: from client.example ([127.0.0.1])\r\n\tby mx.outpost.test (Outpost) with ESMTP id "), "{}", inbox[0]);
    assert!(
        inbox[0].ends_with("Subject: hi\r\n\r\n.dotted line\r\nbody\r\n"),
        "{}",
        inbox[0]
    );
    assert!(
        s.shared.queue.list().unwrap().is_empty(),
        "nothing remote was queued"
    );
}

#[tokio::test]
async fn pipelined_transaction_gets_all_replies_in_order() {
    let s = start().await;
    script(
        s.mx,
        &[(
            "EHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<team@outpost.test>\r\nRCPT TO:<Postmaster@outpost.test>\r\nDATA\r\nSubject: p\r\n\r\nx\r\n.\r\nQUIT\r\n",
            &format!(
                "{EHLO_MX}250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n250 2.0.0 Ok: queued as ID\r\n221 2.0.0 Bye\r\n"
            ),
        )],
    )
    .await;
    // The group expands to alice and bob; postmaster is alice's alias.
    assert_eq!(s.inbox("alice").len(), 1);
    assert_eq!(s.inbox("bob").len(), 1);
}

#[tokio::test]
async fn sequence_and_syntax_errors() {
    let s = start().await;
    let cases: &[(&str, &str)] = &[
        (
            "MAIL FROM:<a@b.example>\r\n",
            "503 5.5.1 Error: send HELO/EHLO first\r\n",
        ),
        ("HELO c\r\n", "250 mx.outpost.test\r\n"),
        (
            "RCPT TO:<alice@outpost.test>\r\n",
            "503 5.5.1 Error: need MAIL command\r\n",
        ),
        ("DATA\r\n", "503 5.5.1 Error: need MAIL command\r\n"),
        ("FOO bar\r\n", "500 5.5.2 Error: command not recognized\r\n"),
        (
            "AUTH PLAIN AGFAYg==\r\n",
            "503 5.5.1 Error: authentication not enabled\r\n",
        ),
        ("MAIL FROM:<a@b.example>\r\n", "250 2.1.0 Ok\r\n"),
        (
            "MAIL FROM:<a@b.example>\r\n",
            "503 5.5.1 Error: nested MAIL command\r\n",
        ),
        ("DATA\r\n", "554 5.5.1 Error: no valid recipients\r\n"),
        ("RSET\r\n", "250 2.0.0 Ok\r\n"),
        ("NOOP\r\n", "250 2.0.0 Ok\r\n"),
        (
            "VRFY alice\r\n",
            "252 2.5.2 Cannot VRFY user, but will accept message and attempt delivery\r\n",
        ),
        (
            "EXPN team\r\n",
            "502 5.5.1 Error: command not implemented\r\n",
        ),
        (
            "BDAT 10 LAST\r\n",
            "502 5.5.1 Error: command not implemented\r\n",
        ),
        ("QUIT\r\n", "221 2.0.0 Bye\r\n"),
    ];
    script(s.mx, cases).await;
}

#[tokio::test]
async fn limits_size_and_recipients() {
    let s = start().await;
    let big = format!("Subject: big\r\n\r\n{}\r\n.\r\n", "x".repeat(12_000));
    script(
        s.mx,
        &[
            ("EHLO c\r\n", EHLO_MX),
            (
                "MAIL FROM:<a@b.example> SIZE=20000\r\n",
                "552 5.3.4 Message size exceeds fixed maximum message size\r\n",
            ),
            ("MAIL FROM:<a@b.example> SIZE=100\r\n", "250 2.1.0 Ok\r\n"),
            ("RCPT TO:<alice@outpost.test>\r\n", "250 2.1.5 Ok\r\n"),
            ("RCPT TO:<bob@outpost.test>\r\n", "250 2.1.5 Ok\r\n"),
            ("RCPT TO:<a@outpost.test>\r\n", "250 2.1.5 Ok\r\n"),
            (
                "RCPT TO:<postmaster@outpost.test>\r\n",
                "452 4.5.3 Error: too many recipients\r\n",
            ),
            ("DATA\r\n", "354 End data with <CR><LF>.<CR><LF>\r\n"),
            (
                &big,
                "552 5.3.4 Message size exceeds fixed maximum message size\r\n",
            ),
            // The session goes on after a refused message.
            ("MAIL FROM:<a@b.example>\r\n", "250 2.1.0 Ok\r\n"),
            ("QUIT\r\n", "221 2.0.0 Bye\r\n"),
        ],
    )
    .await;
    assert!(s.inbox("alice").is_empty());
}

#[tokio::test]
async fn submission_requires_tls_before_auth_and_auth_before_mail() {
    let s = start().await;
    script(
        s.submission,
        &[
            ("EHLO c\r\n", EHLO_MX),
            (
                "AUTH PLAIN AGFsaWNlQG91dHBvc3QudGVzdABhbGljZS1zZWNyZXQtMQ==\r\n",
                "530 5.7.0 Must issue a STARTTLS command first\r\n",
            ),
            (
                "MAIL FROM:<alice@outpost.test>\r\n",
                "530 5.7.0 Must issue a STARTTLS command first\r\n",
            ),
            ("QUIT\r\n", "221 2.0.0 Bye\r\n"),
        ],
    )
    .await;
}

#[tokio::test]
async fn idle_timeout_closes_with_421() {
    let s = start_with(|c| c.smtp.idle_timeout_secs = 1).await;
    let mut c = crate::common::Raw::connect(s.mx).await;
    let got = c.read_lines(2).await;
    assert_eq!(
        got,
        "220 mx.outpost.test ESMTP Outpost\r\n421 4.4.2 mx.outpost.test Error: timeout exceeded\r\n"
    );
}

#[tokio::test]
async fn connections_per_ip_are_capped() {
    let s = start_with(|c| c.smtp.max_connections_per_ip = 1).await;
    let mut first = crate::common::Raw::connect(s.mx).await;
    first
        .check("", "220 mx.outpost.test ESMTP Outpost\r\n")
        .await;
    let mut second = crate::common::Raw::connect(s.mx).await;
    second
        .check("", "421 4.7.0 Too many connections from your address\r\n")
        .await;
}

#[tokio::test]
async fn starttls_discards_pipelined_plaintext() {
    // CVE-2011-0411: commands sent after STARTTLS in the same packet must
    // not be executed. The reply to STARTTLS is the last plaintext we see.
    let s = start().await;
    script(
        s.mx,
        &[
            ("EHLO c\r\n", EHLO_MX),
            ("STARTTLS\r\nRSET\r\n", "220 2.0.0 Ready to start TLS\r\n"),
        ],
    )
    .await;
}

#[tokio::test]
async fn byte_at_a_time_gives_the_same_replies() {
    // Chunked replay: the parser state must survive any split of the input.
    let s = start().await;
    let input = "EHLO c\r\nMAIL FROM:<x@remote.example> BODY=8BITMIME SMTPUTF8\r\nRCPT TO:<bob@outpost.test> NOTIFY=NEVER\r\nDATA\r\nSubject: slow\r\n\r\n.hidden\r\n..\r\n.\r\nQUIT\r\n";
    let want = format!(
        "220 mx.outpost.test ESMTP Outpost\r\n{EHLO_MX}250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n250 2.0.0 Ok: queued as ID\r\n221 2.0.0 Bye\r\n"
    );
    let mut c = crate::common::Raw::connect(s.mx).await;
    for b in input.as_bytes() {
        c.stream.write_all(std::slice::from_ref(b)).await.unwrap();
        c.stream.flush().await.unwrap();
    }
    let got = crate::common::normalize(&c.read_lines(want.matches("\r\n").count()).await);
    assert_eq!(got, want);
    let inbox = s.inbox("bob");
    assert_eq!(inbox.len(), 1);
    assert!(
        inbox[0].ends_with("Subject: slow\r\n\r\nhidden\r\n.\r\n"),
        "{}",
        inbox[0]
    );
}

#[tokio::test]
async fn auth_failures_close_the_session_and_lock_the_account() {
    let s = start_with(|c| {
        c.directory.lockout_threshold = 2;
        c.smtp.max_auth_failures_per_session = 3;
    })
    .await;
    // alice / wrong, as AUTH PLAIN initial responses; then AUTH LOGIN.
    let wrong = "AUTH PLAIN AGFsaWNlQG91dHBvc3QudGVzdAB3cm9uZw==\r\n";
    let right = "AUTH PLAIN AGFsaWNlQG91dHBvc3QudGVzdABhbGljZS1zZWNyZXQtMQ==\r\n";
    let mut c = crate::common::Raw::connect_tls(&s).await;
    c.check("", "220 mx.outpost.test ESMTP Outpost\r\n").await;
    c.check("EHLO c\r\n", "250-mx.outpost.test\r\n250-PIPELINING\r\n250-SIZE 10000\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250-ENHANCEDSTATUSCODES\r\n250-DSN\r\n250 AUTH PLAIN LOGIN\r\n").await;
    c.check(wrong, "535 5.7.8 Authentication credentials invalid\r\n")
        .await;
    c.check(wrong, "535 5.7.8 Authentication credentials invalid\r\n")
        .await;
    // Locked now (threshold 2): even the right password is refused, and
    // the third failure in this session ends it.
    c.check(right, "454 4.7.0 Temporary authentication failure\r\n421 4.7.0 Too many failed authentication attempts\r\n").await;
    // The lock is in the shared directory: a new session is refused too.
    let mut c = crate::common::Raw::connect_tls(&s).await;
    c.check("", "220 mx.outpost.test ESMTP Outpost\r\n").await;
    c.check("EHLO c\r\nAUTH LOGIN\r\n", &format!("{}334 VXNlcm5hbWU6\r\n", "250-mx.outpost.test\r\n250-PIPELINING\r\n250-SIZE 10000\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250-ENHANCEDSTATUSCODES\r\n250-DSN\r\n250 AUTH PLAIN LOGIN\r\n")).await;
    c.check("YWxpY2VAb3V0cG9zdC50ZXN0\r\n", "334 UGFzc3dvcmQ6\r\n")
        .await;
    c.check(
        "YWxpY2Utc2VjcmV0LTE=\r\n",
        "454 4.7.0 Temporary authentication failure\r\n",
    )
    .await;
    // bob (another account, same client address) is locked as well: the
    // client address collected two failures.
    c.check(
        "AUTH PLAIN AGJvYkBvdXRwb3N0LnRlc3QAYm9iLXNlY3JldC0xMg==\r\n",
        "454 4.7.0 Temporary authentication failure\r\n",
    )
    .await;
}

#[tokio::test]
async fn authenticated_submission_over_implicit_tls() {
    let s = start().await;
    let mut c = crate::common::Raw::connect_tls(&s).await;
    c.check("", "220 mx.outpost.test ESMTP Outpost\r\n").await;
    let steps: &[(&str, &str)] = &[
        (
            "EHLO c\r\n",
            "250-mx.outpost.test\r\n250-PIPELINING\r\n250-SIZE 10000\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250-ENHANCEDSTATUSCODES\r\n250-DSN\r\n250 AUTH PLAIN LOGIN\r\n",
        ),
        ("STARTTLS\r\n", "554 5.5.1 Error: TLS already active\r\n"),
        (
            "MAIL FROM:<alice@outpost.test>\r\n",
            "530 5.7.0 Authentication required\r\n",
        ),
        ("AUTH PLAIN\r\n", "334 \r\n"),
        (
            "AGFsaWNlQG91dHBvc3QudGVzdABhbGljZS1zZWNyZXQtMQ==\r\n",
            "235 2.7.0 Authentication successful\r\n",
        ),
        (
            "AUTH PLAIN AGFsaWNlQG91dHBvc3QudGVzdABhbGljZS1zZWNyZXQtMQ==\r\n",
            "503 5.5.1 Error: already authenticated\r\n",
        ),
        (
            "MAIL FROM:<>\r\n",
            "553 5.7.1 <>: Sender address rejected: not owned by user alice@outpost.test\r\n",
        ),
        // An alias of alice is hers to use.
        ("MAIL FROM:<a@outpost.test>\r\n", "250 2.1.0 Ok\r\n"),
        ("RCPT TO:<someone@remote.example>\r\n", "250 2.1.5 Ok\r\n"),
        ("QUIT\r\n", "221 2.0.0 Bye\r\n"),
    ];
    for (input, want) in steps {
        c.check(input, want).await;
    }
}

#[tokio::test]
async fn a_full_mailbox_refuses_mail_with_552() {
    let s = start().await;
    {
        let mut d = outpost_directory::Directory::open(&s.shared.config.directory.path).unwrap();
        let mut carol = outpost_directory::NewUser::new("carol@outpost.test", "carol-secret-1");
        carol.quota = 300;
        d.add_user(&carol).unwrap();
    }
    let msg = format!("Subject: fill\r\n\r\n{}\r\n.\r\n", "z".repeat(400));
    script(
        s.mx,
        &[
            ("HELO c\r\n", "250 mx.outpost.test\r\n"),
            ("MAIL FROM:<x@remote.example>\r\n", "250 2.1.0 Ok\r\n"),
            ("RCPT TO:<carol@outpost.test>\r\n", "250 2.1.5 Ok\r\n"),
            ("DATA\r\n", "354 End data with <CR><LF>.<CR><LF>\r\n"),
            (&msg, "250 2.0.0 Ok: queued as ID\r\n"),
            ("MAIL FROM:<x@remote.example>\r\n", "250 2.1.0 Ok\r\n"),
            (
                "RCPT TO:<carol@outpost.test>\r\n",
                "552 5.2.2 <carol@outpost.test>: Recipient address rejected: mailbox full\r\n",
            ),
        ],
    )
    .await;
}

/// Sends one transaction per case on an open session and checks the reply
/// to the end of DATA (MAIL, RCPT and DATA must be accepted).
async fn data_cases(c: &mut crate::common::Raw, from: &str, cases: &[(&str, &str)]) {
    for (message, want) in cases {
        c.check(
            &format!("MAIL FROM:<{from}>\r\nRCPT TO:<bob@outpost.test>\r\nDATA\r\n{message}.\r\n"),
            &format!(
                "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n{want}\r\n"
            ),
        )
        .await;
    }
}

#[tokio::test]
async fn two_from_headers_do_not_bypass_the_sender_check() {
    // #16: only the last From: was checked, so a forged From: followed by
    // alice's own was accepted from alice (RFC 5322 §3.6 allows one From
    // and one Sender; every address in them must be the user's).
    let s = start().await;
    let mut c = crate::common::Raw::connect_tls(&s).await;
    c.check("", "220 mx.outpost.test ESMTP Outpost\r\n").await;
    c.check(
        "EHLO c\r\nAUTH PLAIN AGFsaWNlQG91dHBvc3QudGVzdABhbGljZS1zZWNyZXQtMQ==\r\n",
        "250-mx.outpost.test\r\n250-PIPELINING\r\n250-SIZE 10000\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250-ENHANCEDSTATUSCODES\r\n250-DSN\r\n250 AUTH PLAIN LOGIN\r\n235 2.7.0 Authentication successful\r\n",
    )
    .await;
    let two_from = "550 5.6.0 Message has 2 From header fields, RFC 5322 section 3.6 allows one";
    let not_alice = "not owned by user alice@outpost.test";
    let cases: &[(&str, &str)] = &[
        (
            "From: CEO <bob@outpost.test>\r\nFrom: alice@outpost.test\r\n\r\nx\r\n",
            two_from,
        ),
        (
            "From: alice@outpost.test\r\nSubject: s\r\nfrom: CEO <bob@outpost.test>\r\n\r\nx\r\n",
            two_from,
        ),
        (
            "From: alice@outpost.test\r\nFrom: alice@outpost.test\r\n\r\nx\r\n",
            two_from,
        ),
        (
            "From: alice@outpost.test\r\nSender: alice@outpost.test\r\nSENDER: alice@outpost.test\r\n\r\nx\r\n",
            "550 5.6.0 Message has 2 Sender header fields, RFC 5322 section 3.6 allows one",
        ),
        (
            "From: CEO <bob@outpost.test>, alice@outpost.test\r\n\r\nx\r\n",
            &format!("550 5.7.1 <bob@outpost.test>: From header rejected: {not_alice}"),
        ),
        (
            "From: alice@outpost.test, CEO <bob@outpost.test>\r\n\r\nx\r\n",
            &format!("550 5.7.1 <bob@outpost.test>: From header rejected: {not_alice}"),
        ),
        (
            "From: Board: CEO <bob@outpost.test>;, alice@outpost.test\r\n\r\nx\r\n",
            &format!("550 5.7.1 <bob@outpost.test>: From header rejected: {not_alice}"),
        ),
        (
            "From: alice@outpost.test\r\nSender: bob@outpost.test\r\n\r\nx\r\n",
            &format!("550 5.7.1 <bob@outpost.test>: Sender header rejected: {not_alice}"),
        ),
        (
            "From: bob@outpost.test:;\r\n\r\nx\r\n",
            "550 5.7.1 From header rejected: no address of user alice@outpost.test",
        ),
        // Alice's own addresses, in a list and as Sender, are fine.
        (
            "From: Alice <alice@outpost.test>, a@outpost.test\r\nSender: alice@outpost.test\r\n\r\nx\r\n",
            "250 2.0.0 Ok: queued as ID",
        ),
        (
            "Subject: no From at all\r\n\r\nx\r\n",
            "250 2.0.0 Ok: queued as ID",
        ),
    ];
    data_cases(&mut c, "alice@outpost.test", cases).await;
    assert_eq!(s.inbox("bob").len(), 2, "only the last two were delivered");

    // Inbound mail with two From fields is refused too: a reader's client
    // shows one of them and would believe it.
    let mut c = crate::common::Raw::connect(s.mx).await;
    c.check("", "220 mx.outpost.test ESMTP Outpost\r\n").await;
    c.check("HELO c\r\n", "250 mx.outpost.test\r\n").await;
    data_cases(
        &mut c,
        "x@remote.example",
        &[(
            "From: ceo@outpost.test\r\nFrom: x@remote.example\r\n\r\nx\r\n",
            two_from,
        )],
    )
    .await;
    assert_eq!(s.inbox("bob").len(), 2);
}

#[tokio::test]
async fn mail_nested_deeper_than_the_mime_limit_is_refused_with_554() {
    let s = start_with(|c| {
        c.general.max_mime_depth = 5;
        c.smtp.data_buffer_bytes = 1024;
    })
    .await;
    let nested = |levels: usize, pad: usize| {
        let mut m = String::from("Subject: top\r\nContent-Type: message/rfc822\r\n\r\n");
        m.push_str(&format!("X-Pad: {}\r\n", "p".repeat(pad)));
        for _ in 1..levels {
            m.push_str("Subject: x\r\nContent-Type: message/rfc822\r\n\r\n");
        }
        m.push_str("Subject: inner\r\n\r\nhello\r\n");
        m
    };
    let mut c = crate::common::Raw::connect(s.mx).await;
    c.check("", "220 mx.outpost.test ESMTP Outpost\r\n").await;
    c.check("EHLO client.example\r\n", EHLO_MX).await;
    data_cases(
        &mut c,
        "sender@remote.example",
        &[
            // In memory, and spooled past the 1 KiB buffer.
            (&nested(4, 10), "250 2.0.0 Ok: queued as ID"),
            (&nested(4, 2000), "250 2.0.0 Ok: queued as ID"),
            (
                &nested(9, 10),
                "554 5.6.0 MIME nesting exceeds the limit of 5 levels",
            ),
            (
                &nested(9, 2000),
                "554 5.6.0 MIME nesting exceeds the limit of 5 levels",
            ),
        ],
    )
    .await;
    assert_eq!(s.inbox("bob").len(), 2);
}
