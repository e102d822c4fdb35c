//! The filters in smtpd's path: submitted mail is DKIM-signed; mail from
//! outside gets one Authentication-Results (a forged one removed) and
//! executables are refused with 550. The engines themselves are tested
//! against real rspamd, clamd, dnsmasq and dkimpy in `outpost-hygiene`.

use crate::common::start;
use crate::swaks::{ALICE, swaks};

#[tokio::test]
async fn submitted_mail_is_signed_and_mail_from_outside_is_checked() {
    let s = start().await;
    // Submission: two signatures (RSA and Ed25519) of the From domain,
    // local mail included (sign_local).
    let mut args = vec!["--tls", "--auth", "PLAIN", "--to", "bob@outpost.test"];
    args.extend(ALICE);
    let (ok, t) = swaks(s.submission, &args).await;
    assert!(ok, "{t}");
    let bob = s.inbox("bob");
    assert_eq!(bob.len(), 1);
    assert_eq!(
        bob[0].matches("DKIM-Signature: v=1;").count(),
        2,
        "{}",
        bob[0]
    );
    assert!(
        bob[0].contains("d=outpost.test") && bob[0].contains("s=outpost-rsa"),
        "{}",
        bob[0]
    );
    assert!(bob[0].contains("s=outpost-ed25519"), "{}", bob[0]);
    assert!(!bob[0].contains("Authentication-Results"), "{}", bob[0]);
    // The keys were made under the state folder, 0600.
    let key = s
        .shared
        .config
        .general
        .state_dir
        .join("dkim/outpost-rsa.key");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // MX: a forged result claiming to be ours is removed, ours is added
    // (temperror: the test's DNS answers nothing), nothing is signed.
    let (ok, t) = swaks(
        s.mx,
        &[
            "--from",
            "someone@remote.example",
            "--to",
            "bob@outpost.test",
            "--add-header",
            "Authentication-Results: mx.outpost.test; dkim=pass header.d=outpost.test",
            "--add-header",
            "Authentication-Results: other.example; spf=pass",
        ],
    )
    .await;
    assert!(ok, "{t}");
    let bob = s.inbox("bob");
    let m = bob
        .iter()
        .find(|m| m.contains("someone@remote.example"))
        .unwrap();
    assert_eq!(
        m.matches("Authentication-Results: mx.outpost.test;")
            .count(),
        1,
        "{m}"
    );
    assert!(m.contains("temperror"), "{m}");
    assert!(!m.contains("dkim=pass header.d=outpost.test"), "{m}");
    assert!(
        m.contains("Authentication-Results: other.example; spf=pass"),
        "{m}"
    );
    assert!(!m.contains("DKIM-Signature"), "{m}");
}

#[tokio::test]
async fn an_executable_attachment_is_refused_and_nothing_is_stored() {
    let s = start().await;
    let exe = std::env::temp_dir().join(format!("outpost-test-{}.exe", std::process::id()));
    std::fs::write(&exe, b"MZ\x90\x00 not really a program").unwrap();
    let (ok, t) = swaks(
        s.mx,
        &[
            "--from",
            "someone@remote.example",
            "--to",
            "bob@outpost.test",
            "--attach",
            &format!("@{}", exe.display()),
        ],
    )
    .await;
    std::fs::remove_file(&exe).ok();
    assert!(!ok, "{t}");
    assert!(
        t.contains("<** 550 5.7.1 Message refused: attachment"),
        "{t}"
    );
    assert!(t.contains(".exe"), "{t}");
    assert!(s.inbox("bob").is_empty());
}
