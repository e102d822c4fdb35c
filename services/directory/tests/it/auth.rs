//! Authentication and the lockout shared by all daemons.

use std::time::Duration;

use outpost_directory::{AuthError, Directory, LockoutPolicy, NewUser};

fn policy() -> LockoutPolicy {
    LockoutPolicy {
        threshold: 3,
        window: Duration::from_secs(60),
        lockout: Duration::from_secs(30),
    }
}

#[test]
fn right_and_wrong_passwords() {
    let t = tempfile::tempdir().unwrap();
    let mut d = Directory::open_with(t.path(), policy()).unwrap();
    d.add_user(&NewUser::new("alice@outpost.test", "correct horse"))
        .unwrap();
    assert_eq!(
        d.authenticate("Alice@outpost.test", "correct horse", None)
            .unwrap()
            .address,
        "alice@outpost.test"
    );
    assert_eq!(
        d.authenticate("alice@outpost.test", "wrong", None),
        Err(AuthError::Invalid)
    );
    assert_eq!(
        d.authenticate("nobody@outpost.test", "wrong", None),
        Err(AuthError::Invalid)
    );
    d.set_enabled("alice@outpost.test", false).unwrap();
    assert_eq!(
        d.authenticate("alice@outpost.test", "correct horse", None),
        Err(AuthError::Disabled)
    );
    d.set_enabled("alice@outpost.test", true).unwrap();
    d.set_password("alice@outpost.test", "battery staple")
        .unwrap();
    assert_eq!(
        d.authenticate("alice@outpost.test", "correct horse", None),
        Err(AuthError::Invalid)
    );
    d.authenticate("alice@outpost.test", "battery staple", None)
        .unwrap();
}

#[test]
fn lockout_is_shared_between_processes_and_backs_off() {
    let t = tempfile::tempdir().unwrap();
    let mut imap = Directory::open_with(t.path(), policy()).unwrap();
    imap.add_user(&NewUser::new("alice@outpost.test", "correct horse"))
        .unwrap();
    // A second handle stands for another daemon.
    let smtp = Directory::open_with(t.path(), policy()).unwrap();
    for _ in 0..3 {
        assert_eq!(
            imap.authenticate("alice@outpost.test", "guess", Some("192.0.2.1")),
            Err(AuthError::Invalid)
        );
    }
    // Locked now, even with the right password, even from another daemon.
    match smtp.authenticate("alice@outpost.test", "correct horse", Some("192.0.2.9")) {
        Err(AuthError::Locked(s)) => assert!((1..=60).contains(&s), "{s}"),
        other => panic!("expected a lockout, got {other:?}"),
    }
    // Trying while locked doubles the lock (30 s, 60 s, 120 s ...).
    match smtp.authenticate("alice@outpost.test", "correct horse", None) {
        Err(AuthError::Locked(s)) => assert!(s > 60, "{s}"),
        other => panic!("expected a lockout, got {other:?}"),
    }
    // The client address that guessed is locked for other accounts too.
    imap.add_user(&NewUser::new("bob@outpost.test", "correct horse"))
        .unwrap();
    assert!(matches!(
        smtp.authenticate("bob@outpost.test", "correct horse", Some("192.0.2.1")),
        Err(AuthError::Locked(_))
    ));
    smtp.authenticate("bob@outpost.test", "correct horse", Some("192.0.2.2"))
        .unwrap();
    // An admin resetting the password lifts the account's lock.
    imap.set_password("alice@outpost.test", "battery staple")
        .unwrap();
    smtp.authenticate("alice@outpost.test", "battery staple", None)
        .unwrap();
}
