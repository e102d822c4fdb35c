//! Store and forward: remote mail waits in the durable queue while the
//! smarthost is down, survives a restart, and drains to a real Postfix
//! (STARTTLS) once it is up; AUTH and per-recipient bounces against an
//! Outpost smarthost; expiry bounces.

use std::time::Duration;

use outpost_config::UpstreamTls;
use tokio::io::AsyncWriteExt;

use crate::common::{TestServer, start_with};
use crate::postfix::{Postfix, free_port};

/// Submits one message as alice over implicit TLS (port 465) with raw,
/// pipelined SMTP.
async fn submit(s: &TestServer, to: &[&str], subject: &str) {
    use std::sync::Arc;
    let ca = s.dir.path().join("tls");
    let config = outpost_tls::client_config(&ca, None).unwrap();
    let tcp = tokio::net::TcpStream::connect(s.submissions).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = tokio_rustls::TlsConnector::from(Arc::clone(&config))
        .connect(name, tcp)
        .await
        .unwrap();
    let mut script = String::from(
        "EHLO c\r\nAUTH PLAIN AGFsaWNlQG91dHBvc3QudGVzdABhbGljZS1zZWNyZXQtMQ==\r\nMAIL FROM:<alice@outpost.test>\r\n",
    );
    for t in to {
        script.push_str(&format!("RCPT TO:<{t}>\r\n"));
    }
    script.push_str(&format!(
        "DATA\r\nFrom: alice@outpost.test\r\nSubject: {subject}\r\n\r\nhello\r\n.\r\nQUIT\r\n"
    ));
    tls.write_all(script.as_bytes()).await.unwrap();
    let mut got = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !got.contains("221 2.0.0 Bye") {
        let mut buf = [0u8; 4096];
        let n =
            tokio::time::timeout_at(deadline, tokio::io::AsyncReadExt::read(&mut tls, &mut buf))
                .await
                .expect("reply timeout")
                .unwrap();
        if n == 0 {
            break;
        }
        got.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(got.contains("250 2.0.0 Ok: queued as"), "{got}");
}

/// Polls `cond` every 100 ms for at most `secs` seconds.
async fn wait_for(secs: u64, mut cond: impl FnMut() -> bool) -> bool {
    for _ in 0..secs * 10 {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    cond()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_waits_survives_restart_and_drains_to_postfix_over_starttls() {
    // Certificates for the smarthost from a CA of its own.
    let pki = tempfile::tempdir().unwrap();
    outpost_tls::load_or_create(pki.path(), &["localhost".to_string()]).unwrap();
    let port = free_port();
    let ca = pki.path().join("ca.crt");
    let s = start_with(|c| {
        c.smtp.upstream.host = "localhost".into();
        c.smtp.upstream.port = port;
        c.smtp.upstream.tls = UpstreamTls::Starttls;
        c.smtp.upstream.ca_file = Some(ca.clone());
        c.smtp.retry_initial_secs = 1;
        c.smtp.retry_max_secs = 1;
    })
    .await;
    submit(
        &s,
        &["partner@remote.example", "bob@outpost.test"],
        "offline",
    )
    .await;
    assert_eq!(s.inbox("bob").len(), 1, "local copy delivered at once");
    // Smarthost down: the message stays queued and is retried.
    let q = &s.shared.queue;
    assert!(
        wait_for(10, || q
            .list()
            .unwrap()
            .first()
            .is_some_and(|e| e.attempts >= 1))
        .await
    );
    let env = q.list().unwrap().remove(0);
    assert!(
        env.rcpts[0].last_error.contains("connecting to localhost"),
        "{env:?}"
    );

    // Restart the daemon: the queue is on disk.
    let s = s.restart().await;
    assert_eq!(s.shared.queue.list().unwrap().len(), 1);

    // A backlog built up while offline, written as smtpd writes it.
    const BACKLOG: usize = 200;
    for i in 0..BACKLOG {
        let env = outpost_smtpd::queue::Envelope {
            id: outpost_smtpd::queue::new_id(),
            from: "alice@outpost.test".into(),
            rcpts: vec![outpost_smtpd::queue::QueuedRcpt {
                address: format!("user{i}@remote.example"),
                state: outpost_smtpd::queue::RcptState::Pending,
                last_error: String::new(),
                notify_never: false,
                orcpt: None,
            }],
            created: crate::now(),
            attempts: 0,
            next_attempt: u64::MAX,
            size: 0,
            envid: None,
            ret_headers_only: false,
            submitter: None,
        };
        let body = format!("Subject: backlog {i}\r\n\r\nx\r\n");
        s.shared.queue.enqueue(&env, body.as_bytes()).unwrap();
    }

    let pf = Postfix::start(
        port,
        Some((
            &pki.path().join("server.crt"),
            &pki.path().join("server.key"),
        )),
    );
    let drain_started = std::time::Instant::now();
    s.shared.queue.request_flush().unwrap();
    let q = &s.shared.queue;
    assert!(
        wait_for(60, || q.list().unwrap().is_empty()).await,
        "queue did not drain: {:?}\n{}",
        q.list().unwrap().len(),
        pf.diagnosis()
    );
    eprintln!(
        "relay: drained {} messages to Postfix over STARTTLS in {:.2} s",
        BACKLOG + 1,
        drain_started.elapsed().as_secs_f64()
    );
    assert!(
        wait_for(30, || pf.delivered().len() > BACKLOG).await,
        "{} of {} delivered; bounces to alice: {:?}\n{}",
        pf.delivered().len(),
        BACKLOG + 1,
        s.inbox("alice"),
        pf.diagnosis()
    );
    // Each message exactly once: nothing lost, nothing duplicated.
    let delivered = pf.delivered();
    let mut subjects: Vec<String> = delivered
        .iter()
        .filter_map(|m| m.lines().find_map(|l| l.strip_prefix("Subject: ")))
        .map(str::to_string)
        .collect();
    subjects.sort();
    let mut want: Vec<String> = (0..BACKLOG).map(|i| format!("backlog {i}")).collect();
    want.push("offline".into());
    want.sort();
    assert_eq!(subjects, want, "{}", pf.diagnosis());
    let msg = delivered
        .iter()
        .find(|m| m.contains("Subject: offline"))
        .unwrap();
    assert!(
        msg.contains("Subject: offline")
            && msg.contains("by mx.outpost.test (Outpost) with ESMTPSA"),
        "{msg}"
    );
    assert!(
        pf.log()
            .contains("TLS connection established from localhost"),
        "{}",
        pf.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relays_with_starttls_and_auth_and_bounces_refused_recipients() {
    // The smarthost is another Outpost serving remote.example; it knows
    // alice (the seeded users) and requires STARTTLS and AUTH on port 587.
    let up = start_with(|c| {
        c.general.hostname = "localhost".into();
        c.general.domains = vec!["remote.example".into()];
    })
    .await;
    {
        let mut d = outpost_directory::Directory::open(&up.shared.config.directory.path).unwrap();
        d.add_user(&outpost_directory::NewUser::new(
            "partner@remote.example",
            "partner-pass-1",
        ))
        .unwrap();
    }
    let ca = up.dir.path().join("tls/ca.crt");
    let port = up.submission.port();
    let s = start_with(|c| {
        c.smtp.upstream.host = "localhost".into();
        c.smtp.upstream.port = port;
        c.smtp.upstream.ca_file = Some(ca);
        c.smtp.upstream.username = "alice@outpost.test".into();
        c.smtp.upstream.password = "alice-secret-1".into();
        c.smtp.retry_initial_secs = 1;
    })
    .await;
    submit(
        &s,
        &["partner@remote.example", "nobody@remote.example"],
        "relay",
    )
    .await;
    let q = &s.shared.queue;
    assert!(
        wait_for(20, || q.list().unwrap().is_empty()).await,
        "{:?}",
        q.list().unwrap()
    );
    let inbox = up
        .shared
        .config
        .general
        .mail_root
        .join("remote.example/partner");
    let got = crate::common::maildir_messages(&inbox);
    assert_eq!(got.len(), 1);
    // Submission added the Date and Message-ID the client left out.
    assert!(
        got[0].contains("\r\nDate: ") && got[0].contains("\r\nMessage-ID: <"),
        "{}",
        got[0]
    );
    // nobody@ was refused with 550 5.1.1: alice gets a DSN.
    assert!(wait_for(10, || s.inbox("alice").len() == 1).await);
    let dsn = &s.inbox("alice")[0];
    for want in [
        "From: Mail Delivery System <MAILER-DAEMON@mx.outpost.test>",
        "Content-Type: multipart/report; report-type=delivery-status;",
        "Final-Recipient: rfc822; nobody@remote.example",
        "Action: failed",
        "Status: 5.0.0",
        "Diagnostic-Code: smtp; 550 5.1.1 <nobody@remote.example>: Recipient address rejected",
        "Subject: relay",
    ] {
        assert!(dsn.contains(want), "missing {want:?} in\n{dsn}");
    }
}

#[tokio::test]
async fn undeliverable_mail_bounces_after_the_configured_time() {
    let s = start_with(|c| c.smtp.bounce_after_secs = 0).await;
    submit(&s, &["partner@remote.example"], "expires").await;
    assert!(wait_for(10, || s.inbox("alice").len() == 1).await);
    let dsn = &s.inbox("alice")[0];
    assert!(
        dsn.contains("Status: 4.4.7") && dsn.contains("no smarthost configured"),
        "{dsn}"
    );
    assert!(s.shared.queue.list().unwrap().is_empty());
}

#[tokio::test]
async fn dsn_envid_with_crlf_never_becomes_a_bounce_header() {
    // #20: ENVID and ORCPT are xtext; `+0D+0A` decoded to CR LF and was
    // written into the bounce's delivery-status part as a header line.
    let s = start_with(|c| c.smtp.bounce_after_secs = 0).await;
    let mut c = crate::common::Raw::connect(s.mx).await;
    c.check("", "220 mx.outpost.test ESMTP Outpost\r\n").await;
    let steps: &[(&str, &str)] = &[
        (
            "EHLO c\r\n",
            "250-mx.outpost.test\r\n250-PIPELINING\r\n250-SIZE 10000\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250-ENHANCEDSTATUSCODES\r\n250-DSN\r\n250 STARTTLS\r\n",
        ),
        (
            "MAIL FROM:<x@remote.example> ENVID=x+0D+0ABcc:+20evil@x\r\n",
            "501 5.5.4 Invalid parameter ENVID\r\n",
        ),
        (
            "MAIL FROM:<x@remote.example> ENVID=tab+09x\r\n",
            "501 5.5.4 Invalid parameter ENVID\r\n",
        ),
        (
            "MAIL FROM:<x@remote.example> ENVID=ok+2Bfine\r\n",
            "250 2.1.0 Ok\r\n",
        ),
        (
            "RCPT TO:<bob@outpost.test> ORCPT=rfc822;b+0D+0ABcc:+20evil@x\r\n",
            "501 5.5.4 Invalid parameter ORCPT\r\n",
        ),
        (
            "RCPT TO:<bob@outpost.test> ORCPT=rfc822;bob+7F@outpost.test\r\n",
            "501 5.5.4 Invalid parameter ORCPT\r\n",
        ),
        (
            "RCPT TO:<bob@outpost.test> ORCPT=rfc822;bob@outpost.test\r\n",
            "250 2.1.5 Ok\r\n",
        ),
        ("QUIT\r\n", "221 2.0.0 Bye\r\n"),
    ];
    for (input, want) in steps {
        c.check(input, want).await;
    }

    // An entry queued before the fix (or edited on disk) still cannot
    // inject: the bounce writer drops control characters again.
    let t = crate::now();
    let env = outpost_smtpd::queue::Envelope {
        id: outpost_smtpd::queue::new_id(),
        from: "alice@outpost.test".into(),
        rcpts: vec![outpost_smtpd::queue::QueuedRcpt {
            address: "partner@remote.example".into(),
            state: outpost_smtpd::queue::RcptState::Pending,
            last_error: String::new(),
            notify_never: false,
            orcpt: Some("p\r\nBcc: evil@x".into()),
        }],
        created: t,
        attempts: 0,
        next_attempt: t,
        size: 0,
        envid: Some("x\r\nBcc: evil@x".into()),
        ret_headers_only: false,
        submitter: None,
    };
    s.shared
        .queue
        .enqueue(&env, b"Subject: injected\r\n\r\nx\r\n")
        .unwrap();
    s.shared.queue.request_flush().unwrap();
    assert!(wait_for(10, || s.inbox("alice").len() == 1).await);
    let dsn = &s.inbox("alice")[0];
    assert!(
        !dsn.lines()
            .any(|l| l.to_ascii_lowercase().starts_with("bcc:")),
        "a control character made a header line:\n{dsn}"
    );
    for want in [
        "\r\nOriginal-Envelope-Id: xBcc: evil@x\r\n",
        "\r\nOriginal-Recipient: rfc822; pBcc: evil@x\r\n",
    ] {
        assert!(dsn.contains(want), "missing {want:?} in\n{dsn}");
    }
}

/// A fake smarthost on 127.0.0.1:0 that plays `script` to the first
/// connection; returns its port. The script gets the accepted stream.
async fn fake_smarthost<F, Fut>(script: F) -> u16
where
    F: FnOnce(tokio::net::TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        if let Ok((tcp, _)) = listener.accept().await {
            script(tcp).await;
        }
    });
    port
}

/// A fake smarthost that sends `reply`, then reads until the client gives
/// up.
async fn fake_smarthost_saying(reply: Vec<u8>) -> u16 {
    fake_smarthost(|mut tcp| async move {
        let _ = tcp.write_all(&reply).await;
        let mut sink = [0u8; 1024];
        while matches!(tokio::io::AsyncReadExt::read(&mut tcp, &mut sink).await, Ok(n) if n > 0) {}
    })
    .await
}

/// The message the hostile-smarthost tests queue.
const HOSTILE: &[u8] = b"Subject: hostile\r\n\r\nx\r\n";

/// Starts smtpd relaying to 127.0.0.1:`port` in clear text, queues one
/// message (`body`) for a remote recipient and waits for the first attempt; returns
/// the server, the recipient's `last_error` and this process's peak RSS
/// once the server had started (KiB). The entry must still be queued and
/// pending.
async fn first_attempt(
    port: u16,
    reply_timeout_secs: u64,
    body: &[u8],
) -> (TestServer, String, u64) {
    first_attempt_with(port, reply_timeout_secs, body, UpstreamTls::None).await
}

/// [`first_attempt`] with the given `smtp.upstream.tls`.
async fn first_attempt_with(
    port: u16,
    reply_timeout_secs: u64,
    body: &[u8],
    tls: UpstreamTls,
) -> (TestServer, String, u64) {
    let s = start_with(|c| {
        c.smtp.upstream.host = "127.0.0.1".into();
        c.smtp.upstream.port = port;
        c.smtp.upstream.tls = tls;
        c.smtp.upstream.reply_timeout_secs = reply_timeout_secs;
        // One attempt only.
        c.smtp.retry_initial_secs = 3600;
        c.smtp.retry_max_secs = 3600;
    })
    .await;
    let started = peak_rss_kib();
    let env = crate::common::envelope(&outpost_smtpd::queue::new_id());
    s.shared.queue.enqueue(&env, body).unwrap();
    s.shared.queue.request_flush().unwrap();
    let q = &s.shared.queue;
    assert!(
        wait_for(30, || q
            .list()
            .unwrap()
            .first()
            .is_some_and(|e| e.attempts >= 1))
        .await,
        "no delivery attempt finished: {:?}",
        q.list().unwrap()
    );
    let list = q.list().unwrap();
    assert_eq!(list.len(), 1, "the message stays queued: {list:?}");
    let rc = &list[0].rcpts[0];
    assert_eq!(
        rc.state,
        outpost_smtpd::queue::RcptState::Pending,
        "a temporary failure: {list:?}"
    );
    let err = rc.last_error.clone();
    (s, err, started)
}

/// Peak resident memory of this process in KiB (`VmHWM`).
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smarthost_endless_line_without_newline_is_cut_off_early() {
    // Regression (#11): the reply reader buffered until a newline, so a
    // smarthost sending bytes without one grew memory without bound.
    const TOTAL: usize = 64 << 20;
    let (sent_tx, sent_rx) = tokio::sync::oneshot::channel();
    let port = fake_smarthost(move |mut tcp| async move {
        let chunk = vec![b'x'; 64 << 10];
        let mut sent = 0usize;
        let _ = tcp.write_all(b"220 ").await;
        while sent < TOTAL {
            match tcp.write_all(&chunk).await {
                Ok(()) => sent += chunk.len(),
                Err(_) => break,
            }
        }
        let _ = sent_tx.send(sent);
    })
    .await;
    let (_s, err, before) = first_attempt(port, 300, HOSTILE).await;
    let grown = peak_rss_kib().saturating_sub(before);
    assert!(err.contains("reply line longer than"), "{err}");
    let sent = tokio::time::timeout(Duration::from_secs(30), sent_rx)
        .await
        .unwrap()
        .unwrap();
    eprintln!(
        "relay: gave up after the smarthost sent {sent} of {TOTAL} bytes; peak RSS grew {grown} KiB"
    );
    assert!(sent < TOTAL, "the relay read all {TOTAL} bytes");
    assert!(grown < 16 << 10, "peak RSS grew {grown} KiB");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smarthost_trickling_a_reply_hits_the_total_reply_timeout() {
    // Regression (#11): each read restarted the 300 s timeout, so one byte
    // every few seconds kept a delivery (and its slot) forever.
    let port = fake_smarthost(|mut tcp| async move {
        // Bounded: at most 60 s of trickling.
        for _ in 0..600 {
            if tcp.write_all(b"2").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    let started = std::time::Instant::now();
    let (_s, err, _) = first_attempt(port, 2, HOSTILE).await;
    let took = started.elapsed();
    eprintln!("relay: trickled reply given up after {took:.2?}");
    assert!(err.contains("no complete reply within 2 s"), "{err}");
    assert!(took < Duration::from_secs(20), "{took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smarthost_reply_with_10000_continuation_lines_is_refused() {
    let mut greeting = "220-x\r\n".repeat(10_000);
    greeting.push_str("220 ok\r\n");
    let port = fake_smarthost_saying(greeting.into_bytes()).await;
    let (_s, err, _) = first_attempt(port, 300, HOSTILE).await;
    assert!(err.contains("reply of more than 100 lines"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smarthost_empty_continuation_lines_are_counted_too() {
    // A byte limit alone would let short lines run on without end: lines
    // are counted, so an endless stream of empty "220-" lines still ends.
    let port = fake_smarthost_saying("220-\r\n".repeat(100_000).into_bytes()).await;
    let (_s, err, _) = first_attempt(port, 300, HOSTILE).await;
    assert!(err.contains("reply of more than 100 lines"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smarthost_malformed_reply_code_is_a_temporary_failure() {
    let port = fake_smarthost_saying(b"22x hello\r\n".to_vec()).await;
    let (_s, err, _) = first_attempt(port, 300, HOSTILE).await;
    assert!(err.contains("malformed reply"), "{err}");
    assert!(err.contains("22x hello"), "{err}");
}

/// A smarthost that greets, answers EHLO with `ehlo` and every other
/// command with `454 4.7.0 not now`.
async fn fake_smarthost_with_ehlo(ehlo: &'static str) -> u16 {
    fake_smarthost(move |tcp| async move {
        let (rd, mut wr) = tcp.into_split();
        let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(rd));
        let _ = wr.write_all(b"220 fake.example ESMTP\r\n").await;
        while let Ok(Some(line)) = lines.next_line().await {
            let reply: &[u8] = if line.to_ascii_uppercase().starts_with("EHLO") {
                ehlo.as_bytes()
            } else {
                b"454 4.7.0 not now\r\n"
            };
            if wr.write_all(reply).await.is_err() {
                break;
            }
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smarthost_greeting_that_mentions_starttls_is_no_offer() {
    // Regression (#11): the capability check was `contains("STARTTLS")`
    // over the whole reply, so a greeting line saying the word counted as
    // an offer, and a required-TLS relay went on to send STARTTLS.
    let port = fake_smarthost_with_ehlo(
        "250-fake.example hello, STARTTLS fans\r\n250-X-NOT-STARTTLS\r\n250 8BITMIME\r\n",
    )
    .await;
    let (_s, err, _) = first_attempt_with(port, 300, HOSTILE, UpstreamTls::Starttls).await;
    assert!(err.contains("does not offer STARTTLS"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smarthost_starttls_keyword_is_matched_per_line_in_any_case() {
    // The keyword in lower case with the enhanced-status prefix some
    // servers put on every line is still an offer: the relay asks for it.
    let port =
        fake_smarthost_with_ehlo("250-fake.example\r\n250-SIZE 1000\r\n250 2.0.0 starttls\r\n")
            .await;
    let (_s, err, _) = first_attempt_with(port, 300, HOSTILE, UpstreamTls::Starttls).await;
    assert!(err.contains("STARTTLS: 454 4.7.0 not now"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smarthost_reply_codes_and_separators_are_checked_on_every_line() {
    for (reply, bad) in [
        ("220-fake\r\n22x more\r\n", "22x more"),
        ("220-fake\r\n220+more\r\n", "220+more"),
        ("220-fake\r\nhello\r\n", "hello"),
        ("2200 fake\r\n", "2200 fake"),
    ] {
        let port = fake_smarthost_saying(reply.as_bytes().to_vec()).await;
        let (_s, err, _) = first_attempt(port, 300, HOSTILE).await;
        assert!(err.contains("malformed reply"), "{reply:?}: {err}");
        assert!(err.contains(bad), "{reply:?}: {err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smarthost_reply_longer_than_the_parser_bound_in_all_is_refused() {
    // Lines each under the line bound and fewer than 100 of them, but more
    // than smtp-proto's 4096 bytes in all.
    let mut greeting = format!("220-{}\r\n", "y".repeat(2000)).repeat(3);
    greeting.push_str("220 ok\r\n");
    let port = fake_smarthost_saying(greeting.into_bytes()).await;
    let (_s, err, _) = first_attempt(port, 300, HOSTILE).await;
    assert!(err.contains("reply longer than 4096 bytes"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_server_leaves_no_relay_running() {
    // Regression: `Server::run` spawned the relay and aborted it only when
    // `serve` returned; dropping `run` (a restart) left it running, and two
    // relays on one queue delivered a due message twice.
    let s = start_with(|c| {
        c.smtp.upstream.host = "127.0.0.1".into();
        c.smtp.upstream.port = free_port();
        c.smtp.upstream.tls = UpstreamTls::None;
        c.smtp.retry_initial_secs = 1;
        c.smtp.retry_max_secs = 1;
    })
    .await;
    s.shared
        .queue
        .enqueue(
            &crate::common::envelope(&outpost_smtpd::queue::new_id()),
            b"Subject: x\r\n\r\nx\r\n",
        )
        .unwrap();
    s.shared.queue.request_flush().unwrap();
    let (shared, _dir) = (s.shared.clone(), s.dir.clone());
    let attempts = || shared.queue.list().unwrap()[0].attempts;
    assert!(wait_for(20, || attempts() >= 1).await, "no attempt");
    drop(s);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stopped = attempts();
    // Retries are due every second and the relay scans every 2 s.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        attempts(),
        stopped,
        "a relay still runs after its server stopped"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smarthost_that_stops_reading_mid_data_fails_the_attempt() {
    // A smarthost that answers 354 and then reads nothing: the write of an
    // 8 MiB message stalls once the socket buffers are full; the stall
    // bound ends the attempt and the message stays queued.
    let port = fake_smarthost(|tcp| async move {
        use tokio::io::AsyncBufReadExt;
        let mut tcp = tokio::io::BufReader::new(tcp);
        let _ = tcp.get_mut().write_all(b"220 x\r\n").await;
        let mut line = String::new();
        while matches!(tcp.read_line(&mut line).await, Ok(n) if n > 0) {
            let reply: &[u8] = if line.starts_with("DATA") {
                b"354 go\r\n"
            } else {
                b"250 ok\r\n"
            };
            let _ = tcp.get_mut().write_all(reply).await;
            if line.starts_with("DATA") {
                // Hold the connection, never read again.
                tokio::time::sleep(Duration::from_secs(60)).await;
                return;
            }
            line.clear();
        }
    })
    .await;
    let mut body = b"Subject: big\r\n\r\n".to_vec();
    body.resize(8 << 20, b'x');
    let (_s, err, _) = first_attempt(port, 2, &body).await;
    assert!(err.contains("no progress within 2 s"), "{err}");
}
