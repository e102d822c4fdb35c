//! Users, aliases, groups, domain aliases and resolution.

use outpost_directory::{Directory, Error, NewUser, Password, Resolution};

fn dir() -> (tempfile::TempDir, Directory) {
    let t = tempfile::tempdir().unwrap();
    let d = Directory::open(t.path()).unwrap();
    (t, d)
}

#[test]
fn add_list_delete_round_trip() {
    let (_t, mut d) = dir();
    let mut alice = NewUser::new("Alice@Outpost.Test", "correct horse");
    alice.full_name = "Alice Liddell".into();
    alice.aliases = vec!["a.liddell@outpost.test".into()];
    alice.upstream = "alice@company.example".into();
    alice.roles = vec!["admin".into(), "user".into()];
    let u = d.add_user(&alice).unwrap();
    assert_eq!(u.address, "alice@outpost.test");
    assert_eq!(u.aliases, vec!["a.liddell@outpost.test"]);
    assert_eq!(u.roles, vec!["admin", "user"]);
    assert!(u.enabled);
    d.add_user(&NewUser::new("bob@outpost.test", "hunter22hunter"))
        .unwrap();
    let names: Vec<_> = d.users().unwrap().into_iter().map(|u| u.address).collect();
    assert_eq!(names, ["alice@outpost.test", "bob@outpost.test"]);
    d.delete_user("ALICE@outpost.test").unwrap();
    assert!(d.user("alice@outpost.test").unwrap().is_none());
    assert!(d.aliases().unwrap().is_empty(), "aliases go with the user");
}

#[test]
fn bad_input_changes_nothing() {
    let (_t, mut d) = dir();
    d.add_user(&NewUser::new("alice@outpost.test", "correct horse"))
        .unwrap();
    let cases: Vec<(NewUser, &str)> = vec![
        (
            NewUser::new("no-at-sign", "correct horse"),
            "invalid address",
        ),
        (NewUser::new("a@b@c", "correct horse"), "invalid address"),
        (
            NewUser::new("x y@outpost.test", "correct horse"),
            "invalid address",
        ),
        (
            NewUser::new("alice@outpost.test", "correct horse"),
            "exists already",
        ),
        (NewUser::new("carol@outpost.test", "short"), "at least 8"),
        (NewUser::new("carol@outpost.test", "carol"), "at least 8"),
        (
            NewUser::new("carolcarol@outpost.test", "CarolCarol"),
            "user name",
        ),
        (NewUser::new("carol@outpost.test", "aaaaaaaaaa"), "repeat"),
        (
            NewUser {
                password: Password::Hash("$1$salt$abc".into()),
                ..NewUser::new("carol@outpost.test", "")
            },
            "password hash refused",
        ),
        (
            NewUser {
                aliases: vec!["alice@outpost.test".into()],
                ..NewUser::new("carol@outpost.test", "correct horse")
            },
            "alice@outpost.test exists already",
        ),
    ];
    for (u, want) in cases {
        let err = d.add_user(&u).unwrap_err().to_string();
        assert!(err.contains(want), "{}: {err}", u.address);
    }
    assert_eq!(d.users().unwrap().len(), 1);
    assert!(d.aliases().unwrap().is_empty());
    assert!(matches!(
        d.delete_user("nobody@outpost.test"),
        Err(Error::NotFound(_))
    ));
}

#[test]
fn existing_argon2_hash_is_accepted() {
    let (_t, mut d) = dir();
    let hash = outpost_directory::hash_password("from the installer").unwrap();
    d.add_user(&NewUser {
        password: Password::Hash(hash),
        ..NewUser::new("admin@outpost.test", "")
    })
    .unwrap();
    d.authenticate("admin@outpost.test", "from the installer", None)
        .unwrap();
}

#[test]
fn kickstart_sha512_crypt_hash_is_accepted_and_upgraded() {
    let (t, mut d) = dir();
    // `openssl passwd -6 -salt saltsalt 'from kickstart'`
    let crypt = "$6$saltsalt$4lbJDU7TCrb2lq5xjGGSY6FAEpuomXa9eFY5j5FTlCK95lJcl9IYugYTR5FpHj6Z5q5f3axtDe4K5JMR57zo/0";
    d.add_user(&NewUser {
        password: Password::Hash(crypt.into()),
        ..NewUser::new("admin@outpost.test", "")
    })
    .unwrap();
    assert!(
        d.authenticate("admin@outpost.test", "wrong one", None)
            .is_err()
    );
    d.authenticate("admin@outpost.test", "from kickstart", None)
        .unwrap();
    // Now stored as argon2id; the same password still works.
    let conn = rusqlite_hash(t.path());
    assert!(conn.starts_with("$argon2id$"), "{conn}");
    d.authenticate("admin@outpost.test", "from kickstart", None)
        .unwrap();
}

fn rusqlite_hash(dir: &std::path::Path) -> String {
    let conn = rusqlite::Connection::open(dir.join(outpost_directory::DB_FILE)).unwrap();
    conn.query_row("SELECT password FROM users", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn resolves_aliases_groups_and_domain_aliases() {
    let (_t, mut d) = dir();
    d.add_user(&NewUser::new("alice@outpost.test", "correct horse"))
        .unwrap();
    d.add_user(&NewUser::new("bob@outpost.test", "correct horse"))
        .unwrap();
    d.add_user(&NewUser::new("carol@outpost.test", "correct horse"))
        .unwrap();
    d.set_enabled("carol@outpost.test", false).unwrap();
    d.add_alias("postmaster@outpost.test", "alice@outpost.test")
        .unwrap();
    d.add_group("team@outpost.test", "The team").unwrap();
    for m in [
        "alice@outpost.test",
        "bob@outpost.test",
        "carol@outpost.test",
        "partner@remote.example",
        "postmaster@outpost.test",
    ] {
        d.add_member("team@outpost.test", m).unwrap();
    }
    // A loop: the group contains an alias of itself.
    d.add_alias("all@outpost.test", "team@outpost.test")
        .unwrap();
    d.add_member("team@outpost.test", "all@outpost.test")
        .unwrap();
    d.add_domain_alias("outpost.example", "outpost.test")
        .unwrap();

    let r = |a: &str| d.resolve(a).unwrap();
    let local = |v: &[&str]| Resolution {
        local: v.iter().map(|s| s.to_string()).collect(),
        remote: vec![],
    };
    assert_eq!(r("alice@outpost.test"), local(&["alice@outpost.test"]));
    assert_eq!(r("ALICE@outpost.example"), local(&["alice@outpost.test"]));
    assert_eq!(r("postmaster@outpost.test"), local(&["alice@outpost.test"]));
    assert_eq!(
        r("carol@outpost.test"),
        Resolution::default(),
        "disabled users get no mail"
    );
    assert_eq!(r("nobody@outpost.test"), Resolution::default());
    let team = r("team@outpost.test");
    assert_eq!(team.local, ["alice@outpost.test", "bob@outpost.test"]);
    assert_eq!(team.remote, ["partner@remote.example"]);
    assert_eq!(r("all@outpost.test"), team);

    assert!(
        d.may_send_as("alice@outpost.test", "postmaster@outpost.test")
            .unwrap()
    );
    assert!(
        d.may_send_as("alice@outpost.test", "alice@outpost.example")
            .unwrap()
    );
    assert!(
        !d.may_send_as("bob@outpost.test", "alice@outpost.test")
            .unwrap()
    );
    assert!(matches!(
        d.add_alias("bob@outpost.test", "alice@outpost.test"),
        Err(Error::Exists(_))
    ));
}

#[test]
fn state_survives_reopen() {
    let t = tempfile::tempdir().unwrap();
    {
        let mut d = Directory::open(t.path()).unwrap();
        d.add_user(&NewUser::new("alice@outpost.test", "correct horse"))
            .unwrap();
    }
    let d = Directory::open(t.path()).unwrap();
    assert!(d.user("alice@outpost.test").unwrap().is_some());
}

/// A version-1 directory (before credential generations and the
/// per-source lockout) opens as version 2 with its users intact.
#[test]
fn version_1_directory_is_migrated() {
    let t = tempfile::tempdir().unwrap();
    {
        let conn = rusqlite::Connection::open(t.path().join(outpost_directory::DB_FILE)).unwrap();
        conn.execute_batch(
            "CREATE TABLE users (address TEXT PRIMARY KEY, full_name TEXT NOT NULL DEFAULT '',
                 password TEXT NOT NULL, roles TEXT NOT NULL DEFAULT '', quota INTEGER NOT NULL DEFAULT 0,
                 enabled INTEGER NOT NULL DEFAULT 1, upstream TEXT NOT NULL DEFAULT '', created INTEGER NOT NULL);
             CREATE TABLE aliases (alias TEXT NOT NULL, target TEXT NOT NULL, PRIMARY KEY (alias, target));
             CREATE TABLE groups (address TEXT PRIMARY KEY, name TEXT NOT NULL DEFAULT '');
             CREATE TABLE group_members (grp TEXT NOT NULL REFERENCES groups(address) ON DELETE CASCADE,
                 member TEXT NOT NULL, PRIMARY KEY (grp, member));
             CREATE TABLE domain_aliases (alias_domain TEXT PRIMARY KEY, target_domain TEXT NOT NULL);
             CREATE TABLE auth_failures (key TEXT PRIMARY KEY, failures INTEGER NOT NULL,
                 first_failure INTEGER NOT NULL, locked_until INTEGER NOT NULL DEFAULT 0);
             INSERT INTO auth_failures VALUES ('user:alice@outpost.test', 9, 0, 9999999999);
             PRAGMA user_version = 1;",
        )
        .unwrap();
        conn.execute(
            "INSERT INTO users (address, password, roles, created) VALUES ('alice@outpost.test', ?1, 'user', 0)",
            [outpost_directory::hash_password("correct horse").unwrap()],
        )
        .unwrap();
    }
    let mut d = Directory::open(t.path()).unwrap();
    let login = d
        .login("alice@outpost.test", "correct horse", Some("192.0.2.1"))
        .unwrap();
    assert_eq!(login.generation, 0);
    d.set_password("alice@outpost.test", "battery staple")
        .unwrap();
    assert!(d.generation("alice@outpost.test").unwrap().unwrap() > 0);
    drop(d);
    let conn = rusqlite::Connection::open(t.path().join(outpost_directory::DB_FILE)).unwrap();
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, outpost_directory::SCHEMA_VERSION);
    let old: bool = conn
        .query_row(
            "SELECT EXISTS(SELECT 1 FROM sqlite_master WHERE name = 'auth_failures')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(!old);
}

#[test]
fn users_are_updated_field_by_field_and_bad_changes_are_refused() {
    use outpost_directory::UserUpdate;
    let (_t, mut d) = dir();
    d.add_user(&NewUser::new("alice@outpost.test", "correct horse"))
        .unwrap();
    let u = d
        .update_user(
            "Alice@Outpost.Test",
            &UserUpdate {
                full_name: Some(" Alice L ".into()),
                roles: Some(vec![
                    "user".into(),
                    "Admin".into(),
                    "admin".into(),
                    "".into(),
                ]),
                quota: Some(5 << 30),
                upstream: Some("Alice@Company.Example".into()),
            },
        )
        .unwrap();
    assert_eq!(u.full_name, "Alice L");
    assert_eq!(u.roles, ["admin", "user"]);
    assert_eq!(u.quota, 5 << 30);
    assert_eq!(u.upstream, "alice@company.example");
    // None leaves a field alone; an empty upstream clears it.
    let u = d
        .update_user(
            "alice@outpost.test",
            &UserUpdate {
                upstream: Some(String::new()),
                ..UserUpdate::default()
            },
        )
        .unwrap();
    assert_eq!(
        (u.full_name.as_str(), u.quota, u.upstream.as_str()),
        ("Alice L", 5 << 30, "")
    );
    let before = d.user("alice@outpost.test").unwrap();
    let bad = [
        UserUpdate {
            full_name: Some("a\nb".into()),
            ..UserUpdate::default()
        },
        UserUpdate {
            roles: Some(vec!["ad min".into()]),
            ..UserUpdate::default()
        },
        UserUpdate {
            roles: Some(vec!["9lives".into()]),
            ..UserUpdate::default()
        },
        UserUpdate {
            roles: Some((0..17).map(|i| format!("r{i}")).collect()),
            ..UserUpdate::default()
        },
        UserUpdate {
            quota: Some(u64::MAX),
            ..UserUpdate::default()
        },
        UserUpdate {
            upstream: Some("not an address".into()),
            ..UserUpdate::default()
        },
        UserUpdate {
            full_name: Some("fine".into()),
            upstream: Some("x@".into()),
            ..UserUpdate::default()
        },
    ];
    for b in &bad {
        assert!(d.update_user("alice@outpost.test", b).is_err(), "{b:?}");
    }
    assert_eq!(
        d.user("alice@outpost.test").unwrap(),
        before,
        "nothing changed"
    );
    assert!(matches!(
        d.update_user("nobody@outpost.test", &UserUpdate::default()),
        Err(Error::NotFound(_))
    ));
    // Domain aliases come and go.
    d.add_domain_alias("outpost.example", "outpost.test")
        .unwrap();
    d.remove_domain_alias("Outpost.Example").unwrap();
    assert!(d.domain_aliases().unwrap().is_empty());
    assert!(matches!(
        d.remove_domain_alias("outpost.example"),
        Err(Error::NotFound(_))
    ));
}

/// A group and its members are one transaction: a bad or repeated member
/// leaves no group (or no new member) behind, never half of it.
#[test]
fn groups_and_members_are_added_all_or_nothing() {
    let t = tempfile::tempdir().unwrap();
    let mut d = Directory::open(t.path()).unwrap();
    let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    for (members, why) in [
        (v(&["a@outpost.test", "not an address"]), "invalid"),
        (
            v(&["a@outpost.test", "b@outpost.test", "A@outpost.test"]),
            "repeated",
        ),
    ] {
        assert!(
            d.add_group_with("crew@outpost.test", "Crew", &members)
                .is_err(),
            "{why}"
        );
        assert!(d.group("crew@outpost.test").unwrap().is_none(), "{why}");
    }
    d.add_group_with("crew@outpost.test", "Crew", &v(&["a@outpost.test"]))
        .unwrap();
    for bad in [
        v(&["b@outpost.test", "a@outpost.test"]),
        v(&["b@outpost.test", "bad address"]),
    ] {
        assert!(d.add_members("crew@outpost.test", &bad).is_err());
        assert_eq!(
            d.group("crew@outpost.test").unwrap().unwrap().members,
            ["a@outpost.test"],
            "{bad:?}"
        );
    }
    assert!(matches!(
        d.add_members("nosuch@outpost.test", &v(&["b@outpost.test"])),
        Err(outpost_directory::Error::NotFound(_))
    ));
    d.add_members(
        "crew@outpost.test",
        &v(&["b@outpost.test", "c@remote.example"]),
    )
    .unwrap();
    assert_eq!(
        d.group("crew@outpost.test").unwrap().unwrap().members,
        ["a@outpost.test", "b@outpost.test", "c@remote.example"]
    );
}
