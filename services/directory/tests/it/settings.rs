//! A user's own settings and out-of-office replies.

use outpost_directory::{Directory, Error, NewUser, Settings, Vacation};

fn dir() -> (tempfile::TempDir, Directory) {
    let t = tempfile::tempdir().unwrap();
    let mut d = Directory::open(t.path()).unwrap();
    let mut alice = NewUser::new("alice@outpost.test", "correct horse");
    alice.aliases = vec!["sales@outpost.test".into()];
    d.add_user(&alice).unwrap();
    d.add_user(&NewUser::new("bob@outpost.test", "correct horse"))
        .unwrap();
    (t, d)
}

#[test]
fn settings_round_trip_and_refusals_change_nothing() {
    let (t, mut d) = dir();
    assert_eq!(
        d.settings("alice@outpost.test").unwrap(),
        Settings::default()
    );
    let s = Settings {
        signature: "Alice\nField office, tent 4".into(),
        identity: "Sales@Outpost.Test".into(),
    };
    d.set_settings("alice@outpost.test", " Alice Liddell ", &s)
        .unwrap();
    let got = d.settings("alice@outpost.test").unwrap();
    assert_eq!(got.signature, s.signature);
    assert_eq!(got.identity, "sales@outpost.test");
    assert_eq!(
        d.user("alice@outpost.test").unwrap().unwrap().full_name,
        "Alice Liddell"
    );
    // Hostile and wrong input: refused, nothing changed.
    let refused: &[(&str, Settings)] = &[
        ("Alice\r\nBcc: x@y", Settings::default()),
        (&"n".repeat(201), Settings::default()),
        (
            "A",
            Settings {
                signature: "x".repeat(outpost_directory::MAX_SIGNATURE + 1),
                identity: String::new(),
            },
        ),
        (
            "A",
            Settings {
                signature: "bell \u{7}".into(),
                identity: String::new(),
            },
        ),
        (
            "A",
            Settings {
                signature: String::new(),
                identity: "bob@outpost.test".into(),
            },
        ),
    ];
    for (name, s) in refused {
        assert!(
            matches!(
                d.set_settings("alice@outpost.test", name, s),
                Err(Error::Invalid(_))
            ),
            "{name:?} {s:?} must be refused"
        );
    }
    assert!(matches!(
        d.set_settings("nobody@outpost.test", "N", &Settings::default()),
        Err(Error::NotFound(_))
    ));
    assert_eq!(d.settings("alice@outpost.test").unwrap(), got);
    // Deleting the user deletes the settings.
    d.delete_user("alice@outpost.test").unwrap();
    drop(d);
    let d = Directory::open(t.path()).unwrap();
    assert_eq!(
        d.settings("alice@outpost.test").unwrap(),
        Settings::default()
    );
}

#[test]
fn vacations_are_validated_and_answer_each_sender_once_per_interval() {
    let (_t, mut d) = dir();
    assert_eq!(d.vacation("alice@outpost.test").unwrap(), None);
    let v = Vacation {
        enabled: true,
        subject: "Away".into(),
        body: "Back on Monday.".into(),
        starts: 1000,
        ends: 2_000_000,
        interval: 60, // raised to the floor
    };
    d.set_vacation("alice@outpost.test", &v).unwrap();
    let got = d.vacation("alice@outpost.test").unwrap().unwrap();
    assert_eq!(got.interval, outpost_directory::MIN_VACATION_INTERVAL);
    assert!(!got.active_at(999) && got.active_at(1000) && !got.active_at(2_000_000));
    for bad in [
        Vacation {
            body: String::new(),
            ..v.clone()
        },
        Vacation {
            subject: "a\nb".into(),
            ..v.clone()
        },
        Vacation {
            body: "x".repeat(outpost_directory::MAX_VACATION_BODY + 1),
            ..v.clone()
        },
        Vacation {
            ends: 999,
            ..v.clone()
        },
    ] {
        assert!(matches!(
            d.set_vacation("alice@outpost.test", &bad),
            Err(Error::Invalid(_))
        ));
    }
    assert!(matches!(
        d.set_vacation("nobody@outpost.test", &v),
        Err(Error::NotFound(_))
    ));
    assert_eq!(d.vacation("alice@outpost.test").unwrap().unwrap(), got);

    let day = 86_400;
    let due = |d: &mut Directory, who: &str, now| {
        d.vacation_reply_due("alice@outpost.test", who, day, 3, now)
            .unwrap()
    };
    assert!(due(&mut d, "Carol@Example.org", 10_000));
    assert!(!due(&mut d, "carol@example.org", 10_001), "once per sender");
    assert!(
        due(&mut d, "carol@example.org", 10_000 + day),
        "again after the interval"
    );
    // At most three replies an hour, whoever the senders are.
    assert!(due(&mut d, "s1@example.org", 200_000));
    assert!(due(&mut d, "s2@example.org", 200_001));
    assert!(due(&mut d, "s3@example.org", 200_002));
    assert!(!due(&mut d, "s4@example.org", 200_003));
    assert!(due(&mut d, "s4@example.org", 200_003 + 3600));
    // Turning the reply off and on again forgets whom it answered.
    d.set_vacation(
        "alice@outpost.test",
        &Vacation {
            enabled: false,
            ..v.clone()
        },
    )
    .unwrap();
    d.set_vacation("alice@outpost.test", &v).unwrap();
    assert!(due(&mut d, "s1@example.org", 200_003 + 3601));
}
