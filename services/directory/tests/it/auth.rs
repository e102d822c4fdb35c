//! Authentication and the lockout shared by all daemons.

use std::time::Duration;

use outpost_directory::{AuthError, Directory, Lockout, LockoutPolicy, NewUser};

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
    // Locked now for the guessing source, even with the right password,
    // even from another daemon. (Only for that source since #14: see
    // `guesser_cannot_lock_out_the_victim`.)
    match smtp.authenticate("alice@outpost.test", "correct horse", Some("192.0.2.1")) {
        Err(AuthError::Locked(s)) => assert!((1..=60).contains(&s), "{s}"),
        other => panic!("expected a lockout, got {other:?}"),
    }
    // Trying while locked doubles the lock (30 s, 60 s, 120 s ...).
    match smtp.authenticate("alice@outpost.test", "correct horse", Some("192.0.2.1")) {
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

/// #13: parallel guesses bypassed the lockout, because checking the lock,
/// verifying the password and recording the failure were three separate
/// steps: 60 simultaneous LOGINs got 53 password checks.
#[test]
fn parallel_guesses_do_not_bypass_the_lockout() {
    const THREADS: usize = 60;
    const BUDGET: u32 = 5;
    let t = tempfile::tempdir().unwrap();
    let policy = LockoutPolicy {
        threshold: BUDGET,
        window: Duration::from_secs(900),
        lockout: Duration::from_secs(60),
    };
    let mut d = Directory::open_with(t.path(), policy).unwrap();
    d.add_user(&NewUser::new("alice@outpost.test", "correct horse"))
        .unwrap();
    let barrier = std::sync::Barrier::new(THREADS);
    let results: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|i| {
                let (barrier, path) = (&barrier, t.path());
                s.spawn(move || {
                    let d = Directory::open_with(path, policy).unwrap();
                    // One right password in the middle of the wrong ones.
                    let password = if i == THREADS / 2 {
                        "correct horse".to_string()
                    } else {
                        format!("guess {i}")
                    };
                    barrier.wait();
                    d.authenticate("alice@outpost.test", &password, Some("192.0.2.7"))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    // `Locked` means the password was not checked; everything else was.
    let checked = results
        .iter()
        .filter(|r| !matches!(r, Err(AuthError::Locked(_))))
        .count();
    assert!(
        checked <= BUDGET as usize,
        "{checked} password checks for a budget of {BUDGET}: {results:?}"
    );
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Ok(_) | Err(AuthError::Invalid | AuthError::Locked(_)))),
        "{results:?}"
    );
    // The budget is spent (unless the right guess was among the checked
    // ones, which is what a budget of 5 allows): the right password is
    // refused unchecked from that source now.
    if results.iter().all(|r| r.is_err()) {
        assert!(matches!(
            d.authenticate("alice@outpost.test", "correct horse", Some("192.0.2.7")),
            Err(AuthError::Locked(_))
        ));
    }
}

/// #13 across sources: a guesser with many addresses is bounded by the
/// account-wide budget, also when all its attempts arrive at once.
#[test]
fn parallel_guesses_from_many_sources_are_bounded_by_the_account_budget() {
    const THREADS: usize = 60;
    let t = tempfile::tempdir().unwrap();
    let policy = Lockout {
        account_failures: 10,
        ..Lockout::default()
    };
    let mut d = Directory::open_with(t.path(), policy).unwrap();
    d.add_user(&NewUser::new("alice@outpost.test", "correct horse"))
        .unwrap();
    let barrier = std::sync::Barrier::new(THREADS);
    let results: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|i| {
                let (barrier, path) = (&barrier, t.path());
                s.spawn(move || {
                    let d = Directory::open_with(path, policy).unwrap();
                    barrier.wait();
                    d.authenticate(
                        "alice@outpost.test",
                        &format!("guess {i}"),
                        Some(&format!("198.51.100.{i}")),
                    )
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let checked = results
        .iter()
        .filter(|r| !matches!(r, Err(AuthError::Locked(_))))
        .count();
    assert!(checked <= 10, "{checked} password checks: {results:?}");
}

fn lockout(per_source: u32, client: u32, account: u32) -> Lockout {
    Lockout {
        per_source_failures: per_source,
        client_failures: client,
        window: Duration::from_secs(900),
        lockout: Duration::from_secs(60),
        max_lockout: Duration::from_secs(3600),
        account_failures: account,
        account_window: Duration::from_secs(300),
        account_lockout: Duration::from_secs(120),
    }
}

/// #14: anyone could lock any account out of every protocol for 24 h with
/// 16 wrong guesses from 16 addresses. Now a guesser locks only itself;
/// the victim, from an address without failures, still logs in, on every
/// daemon; only the account-wide cap can stop it, and only briefly.
#[test]
fn guesser_cannot_lock_out_the_victim() {
    let t = tempfile::tempdir().unwrap();
    let policy = lockout(3, 10, 20);
    let mut imap = Directory::open_with(t.path(), policy).unwrap();
    imap.add_user(&NewUser::new("alice@outpost.test", "correct horse"))
        .unwrap();
    let smtp = Directory::open_with(t.path(), policy).unwrap();
    // One source hammers: three checked guesses, then refused unchecked.
    for i in 0..10 {
        let r = imap.authenticate("alice@outpost.test", &format!("g{i}"), Some("192.0.2.66"));
        let want_locked = i >= 3;
        assert_eq!(
            matches!(r, Err(AuthError::Locked(_))),
            want_locked,
            "{i}: {r:?}"
        );
    }
    // 16 addresses, one guess each (the review's attack).
    for i in 0..16 {
        assert_eq!(
            imap.authenticate(
                "alice@outpost.test",
                "guess",
                Some(&format!("203.0.113.{i}"))
            ),
            Err(AuthError::Invalid)
        );
    }
    // The victim, from its own address, on either daemon.
    for d in [&imap, &smtp] {
        d.authenticate("alice@outpost.test", "correct horse", Some("198.51.100.7"))
            .unwrap();
    }
    // The guesser is still locked out, right password or not.
    assert!(matches!(
        smtp.authenticate("alice@outpost.test", "correct horse", Some("192.0.2.66")),
        Err(AuthError::Locked(_))
    ));
    // Failure 20 of the account (3 + 16 + 1) trips the account-wide cap:
    // short (120 s here), never the old 24 h.
    assert_eq!(
        imap.authenticate("alice@outpost.test", "guess", Some("203.0.113.99")),
        Err(AuthError::Invalid)
    );
    match smtp.authenticate("alice@outpost.test", "correct horse", Some("198.51.100.7")) {
        Err(AuthError::Locked(s)) => assert!((1..=120).contains(&s), "{s}"),
        other => panic!("expected the account-wide lock, got {other:?}"),
    }
}

/// #14: a source's lock doubles with every further failure, up to the cap.
#[test]
fn source_lock_backs_off_exponentially_up_to_the_cap() {
    let t = tempfile::tempdir().unwrap();
    let policy = Lockout {
        lockout: Duration::from_secs(10),
        max_lockout: Duration::from_secs(40),
        ..lockout(2, 100, 100)
    };
    let mut d = Directory::open_with(t.path(), policy).unwrap();
    d.add_user(&NewUser::new("alice@outpost.test", "correct horse"))
        .unwrap();
    let src = Some("192.0.2.5");
    for _ in 0..2 {
        assert_eq!(
            d.authenticate("alice@outpost.test", "guess", src),
            Err(AuthError::Invalid)
        );
    }
    let mut locks = Vec::new();
    for _ in 0..4 {
        match d.authenticate("alice@outpost.test", "correct horse", src) {
            Err(AuthError::Locked(s)) => locks.push(s),
            other => panic!("expected a lockout, got {other:?}"),
        }
    }
    // 10 s after failure 2, then 20, 40, and 40 (the cap); a second may
    // tick over between two attempts.
    let want = [20, 40, 40, 40];
    for (got, want) in locks.iter().zip(want) {
        assert!((want - 1..=want).contains(got), "{locks:?}");
    }

    // Without hammering: after a lock is over, the next failure (still
    // within the window) locks twice as long as the last one.
    let policy = Lockout {
        lockout: Duration::from_secs(1),
        ..lockout(2, 100, 100)
    };
    let d = Directory::open_with(t.path(), policy).unwrap();
    let src = Some("192.0.2.6");
    for _ in 0..2 {
        assert_eq!(
            d.authenticate("alice@outpost.test", "guess", src),
            Err(AuthError::Invalid)
        );
    }
    // The 1 s lock ends; the next failure (within the window) is checked
    // and locks for 2 s, and a try while that lasts for 4 s.
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(
        d.authenticate("alice@outpost.test", "guess", src),
        Err(AuthError::Invalid)
    );
    assert_eq!(
        d.authenticate("alice@outpost.test", "correct horse", src),
        Err(AuthError::Locked(4))
    );
}

/// #14: the account-wide cap is short and lifts by itself; a configured
/// day is cut to an hour.
#[test]
fn account_wide_cap_is_short_and_expires() {
    let t = tempfile::tempdir().unwrap();
    let policy = Lockout {
        account_lockout: Duration::from_secs(2),
        ..lockout(5, 100, 4)
    };
    let mut d = Directory::open_with(t.path(), policy).unwrap();
    d.add_user(&NewUser::new("alice@outpost.test", "correct horse"))
        .unwrap();
    for i in 0..4 {
        assert_eq!(
            d.authenticate(
                "alice@outpost.test",
                "guess",
                Some(&format!("203.0.113.{i}"))
            ),
            Err(AuthError::Invalid)
        );
    }
    match d.authenticate("alice@outpost.test", "correct horse", Some("198.51.100.7")) {
        Err(AuthError::Locked(s)) => assert!((1..=2).contains(&s), "{s}"),
        other => panic!("expected the account-wide lock, got {other:?}"),
    }
    std::thread::sleep(Duration::from_millis(2100));
    d.authenticate("alice@outpost.test", "correct horse", Some("198.51.100.7"))
        .unwrap();
    // After the lock the count starts afresh: one more failure locks nothing.
    assert_eq!(
        d.authenticate("alice@outpost.test", "guess", Some("203.0.113.50")),
        Err(AuthError::Invalid)
    );
    d.authenticate("alice@outpost.test", "correct horse", Some("198.51.100.7"))
        .unwrap();

    let policy = Lockout {
        account_lockout: Duration::from_secs(86_400),
        ..lockout(5, 100, 1)
    };
    let d = Directory::open_with(t.path(), policy).unwrap();
    assert_eq!(
        d.authenticate("bob@outpost.test", "guess", Some("203.0.113.1")),
        Err(AuthError::Invalid)
    );
    match d.authenticate("bob@outpost.test", "guess", Some("203.0.113.2")) {
        Err(AuthError::Locked(s)) => assert!((3599..=3600).contains(&s), "{s}"),
        other => panic!("expected the account-wide lock, got {other:?}"),
    }
}

/// #14: an IPv6 client is counted by its /64 (a host has the whole
/// prefix), an IPv4-mapped address as IPv4.
#[test]
fn ipv6_sources_are_counted_per_64() {
    let t = tempfile::tempdir().unwrap();
    let mut d = Directory::open_with(t.path(), lockout(2, 100, 100)).unwrap();
    d.add_user(&NewUser::new("alice@outpost.test", "correct horse"))
        .unwrap();
    for c in ["2001:db8::1", "2001:db8::2"] {
        assert_eq!(
            d.authenticate("alice@outpost.test", "guess", Some(c)),
            Err(AuthError::Invalid)
        );
    }
    assert!(matches!(
        d.authenticate(
            "alice@outpost.test",
            "correct horse",
            Some("2001:db8::ffff:1")
        ),
        Err(AuthError::Locked(_))
    ));
    d.authenticate(
        "alice@outpost.test",
        "correct horse",
        Some("2001:db8:0:1::1"),
    )
    .unwrap();
    for c in ["192.0.2.9", "::ffff:192.0.2.9"] {
        let _ = d.authenticate("alice@outpost.test", "guess", Some(c));
    }
    assert!(matches!(
        d.authenticate("alice@outpost.test", "correct horse", Some("192.0.2.9")),
        Err(AuthError::Locked(_))
    ));
}

/// A success clears this source's count for the account, so a user's
/// typos do not add up to a lock over the day.
#[test]
fn success_clears_the_sources_count() {
    let t = tempfile::tempdir().unwrap();
    let mut d = Directory::open_with(t.path(), lockout(3, 100, 100)).unwrap();
    d.add_user(&NewUser::new("alice@outpost.test", "correct horse"))
        .unwrap();
    for _ in 0..5 {
        for _ in 0..2 {
            assert_eq!(
                d.authenticate("alice@outpost.test", "typo", Some("192.0.2.1")),
                Err(AuthError::Invalid)
            );
        }
        d.authenticate("alice@outpost.test", "correct horse", Some("192.0.2.1"))
            .unwrap();
    }
}

#[test]
fn lockout_defaults_are_the_config_defaults() {
    let l = Lockout::default();
    assert_eq!(l, Lockout::from(&outpost_config::Directory::default()));
    assert_eq!(
        (l.per_source_failures, l.client_failures, l.account_failures),
        (5, 20, 30)
    );
    // The older three-field policy keeps the other defaults.
    let old = Lockout::from(LockoutPolicy {
        threshold: 3,
        window: Duration::from_secs(60),
        lockout: Duration::from_secs(30),
    });
    assert_eq!((old.per_source_failures, old.client_failures), (3, 3));
    assert_eq!(old.account_lockout, l.account_lockout);
}

/// #15: the daemons' login caches trusted a remembered login for 60 s
/// (imapd) or 300 s (webd) after a password change, a disable or a
/// lockout. The credential generation and `check_cached` let them ask.
#[test]
fn credential_generation_ends_cached_logins() {
    let t = tempfile::tempdir().unwrap();
    let mut d = Directory::open_with(t.path(), lockout(2, 100, 100)).unwrap();
    let a = "alice@outpost.test";
    let src = Some("198.51.100.7");
    d.add_user(&NewUser::new(a, "correct horse")).unwrap();
    let l1 = d.login(a, "correct horse", src).unwrap();
    assert_eq!(Some(l1.generation), d.generation(a).unwrap());
    assert_eq!(d.check_cached(a, src, l1.generation), Ok(()));

    d.set_password(a, "battery staple").unwrap();
    assert_eq!(
        d.check_cached(a, src, l1.generation),
        Err(AuthError::Invalid)
    );
    let l2 = d.login(a, "battery staple", src).unwrap();
    assert!(l2.generation > l1.generation);

    d.set_enabled(a, false).unwrap();
    assert_eq!(
        d.check_cached(a, src, l2.generation),
        Err(AuthError::Invalid)
    );
    d.set_enabled(a, true).unwrap();
    assert_eq!(
        d.check_cached(a, src, l2.generation),
        Err(AuthError::Invalid),
        "re-enabling does not bring old cache entries back"
    );
    let l3 = d.login(a, "battery staple", src).unwrap();

    // A lock on any of the attempt's counters holds for cached logins too.
    for _ in 0..2 {
        assert_eq!(
            d.authenticate(a, "guess", Some("192.0.2.66")),
            Err(AuthError::Invalid)
        );
    }
    assert!(matches!(
        d.check_cached(a, Some("192.0.2.66"), l3.generation),
        Err(AuthError::Locked(_))
    ));
    assert_eq!(d.check_cached(a, src, l3.generation), Ok(()));

    // Deleted, then re-created with the same password: a new generation.
    d.delete_user(a).unwrap();
    assert_eq!(
        d.check_cached(a, src, l3.generation),
        Err(AuthError::Invalid)
    );
    d.add_user(&NewUser::new(a, "battery staple")).unwrap();
    assert_eq!(
        d.check_cached(a, src, l3.generation),
        Err(AuthError::Invalid)
    );
    let l4 = d.login(a, "battery staple", src).unwrap();
    assert!(l4.generation > l3.generation);
}
