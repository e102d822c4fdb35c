//! A real client against smtpd: swaks (Debian package `swaks`). The test
//! fails if swaks is missing.

use std::net::SocketAddr;
use std::time::Duration;

use crate::common::start;

/// Runs swaks against `addr` with `args`; returns (success, transcript).
pub(crate) async fn swaks(addr: SocketAddr, args: &[&str]) -> (bool, String) {
    let mut cmd = tokio::process::Command::new("swaks");
    cmd.arg("--server")
        .arg(addr.ip().to_string())
        .arg("--port")
        .arg(addr.port().to_string())
        .arg("--helo")
        .arg("client.test")
        .args(args)
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(30), cmd.output())
        .await
        .expect("swaks timed out")
        .expect("running swaks (apt-get install swaks)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

pub(crate) const ALICE: [&str; 6] = [
    "--auth-user",
    "alice@outpost.test",
    "--auth-password",
    "alice-secret-1",
    "--from",
    "alice@outpost.test",
];

#[tokio::test]
async fn submission_starttls_auth_plain_and_login() {
    let s = start().await;
    for mech in ["PLAIN", "LOGIN"] {
        let mut args = vec!["--tls", "--auth", mech, "--to", "bob@outpost.test"];
        args.extend(ALICE);
        let (ok, t) = swaks(s.submission, &args).await;
        assert!(ok, "{mech}: {t}");
        assert!(t.contains("<-  220 2.0.0 Ready to start TLS"), "{t}");
        assert!(t.contains("<~  235 2.7.0 Authentication successful"), "{t}");
        assert!(t.contains("<~  250 2.0.0 Ok: queued as "), "{t}");
    }
    assert_eq!(s.inbox("bob").len(), 2);
    assert!(s.inbox("bob")[0].contains("with ESMTPSA id"));
}

#[tokio::test]
async fn submissions_implicit_tls_and_remote_mail_is_queued() {
    let s = start().await;
    let mut args = vec![
        "--tls-on-connect",
        "--auth",
        "PLAIN",
        "--to",
        "partner@remote.example",
    ];
    args.extend(ALICE);
    let (ok, t) = swaks(s.submissions, &args).await;
    assert!(ok, "{t}");
    let queued = s.shared.queue.list().unwrap();
    assert_eq!(queued.len(), 1, "{t}");
    assert_eq!(queued[0].from, "alice@outpost.test");
    assert_eq!(queued[0].rcpts[0].address, "partner@remote.example");
    assert!(
        s.dir.path().join("tls/ca.crt").exists(),
        "local CA created on first start"
    );
}

#[tokio::test]
async fn refusals_relay_spoofing_bad_password_size() {
    let s = start().await;
    // MX: no open relay.
    let (ok, t) = swaks(
        s.mx,
        &[
            "--from",
            "x@remote.example",
            "--to",
            "victim@elsewhere.example",
        ],
    )
    .await;
    assert!(
        !ok && t.contains("<** 554 5.7.1 <victim@elsewhere.example>: Relay access denied"),
        "{t}"
    );
    // Submission: bob may not send as alice.
    let (ok, t) = swaks(
        s.submission,
        &[
            "--tls",
            "--auth",
            "PLAIN",
            "--auth-user",
            "bob@outpost.test",
            "--auth-password",
            "bob-secret-12",
            "--from",
            "alice@outpost.test",
            "--to",
            "alice@outpost.test",
        ],
    )
    .await;
    assert!(!ok && t.contains("<~* 553 5.7.1 <alice@outpost.test>: Sender address rejected: not owned by user bob@outpost.test"), "{t}");
    // ... nor in the From: header.
    let (ok, t) = swaks(
        s.submission,
        &[
            "--tls",
            "--auth",
            "PLAIN",
            "--auth-user",
            "bob@outpost.test",
            "--auth-password",
            "bob-secret-12",
            "--from",
            "bob@outpost.test",
            "--to",
            "alice@outpost.test",
            "--header",
            "From: Alice <alice@outpost.test>",
        ],
    )
    .await;
    assert!(
        !ok && t.contains("<~* 550 5.7.1 <alice@outpost.test>: From header rejected"),
        "{t}"
    );
    // Wrong password.
    let (ok, t) = swaks(
        s.submission,
        &[
            "--tls",
            "--auth",
            "PLAIN",
            "--auth-user",
            "alice@outpost.test",
            "--auth-password",
            "wrong",
            "--to",
            "bob@outpost.test",
            "--from",
            "alice@outpost.test",
        ],
    )
    .await;
    assert!(
        !ok && t.contains("<~* 535 5.7.8 Authentication credentials invalid"),
        "{t}"
    );
    // Size limit (10 000 bytes in the test config).
    let body = "y".repeat(20_000);
    let (ok, t) = swaks(
        s.mx,
        &[
            "--from",
            "x@remote.example",
            "--to",
            "alice@outpost.test",
            "--body",
            &body,
        ],
    )
    .await;
    assert!(
        !ok && t.contains("<** 552 5.3.4 Message size exceeds fixed maximum message size"),
        "{t}"
    );
    assert!(s.inbox("alice").is_empty());
    assert!(s.inbox("bob").is_empty());
}

#[tokio::test]
async fn pipelining_and_8bit_bodies() {
    let s = start().await;
    let (ok, t) = swaks(
        s.mx,
        &[
            "--pipeline",
            "--from",
            "x@remote.example",
            "--to",
            "alice@outpost.test,bob@outpost.test",
            "--header",
            "Subject: Grüße",
            "--add-header",
            "Content-Type: text/plain; charset=utf-8",
            "--add-header",
            "Content-Transfer-Encoding: 8bit",
            "--body",
            "Größe: ünïcödé ✓",
        ],
    )
    .await;
    assert!(ok, "{t}");
    assert!(
        t.contains("<~  250 2.0.0 Ok: queued as ") || t.contains("<-  250 2.0.0 Ok: queued as "),
        "{t}"
    );
    let inbox = s.inbox("alice");
    assert_eq!(inbox.len(), 1);
    assert!(
        inbox[0].contains("Größe: ünïcödé ✓"),
        "8-bit body intact: {}",
        inbox[0]
    );
    assert_eq!(s.inbox("bob").len(), 1);
}
