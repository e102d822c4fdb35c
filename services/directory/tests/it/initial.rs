//! The first-boot password (#24): made on the appliance, stored as a hash,
//! kept in clear only in root-only notes until it is changed.

use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::Path;

use outpost_directory::initial::{self, Notes};
use outpost_directory::{AuthError, Directory, NewUser, Password};

const ADMIN: &str = "admin@outpost.test";

struct Box_ {
    t: tempfile::TempDir,
    dir: Directory,
    notes: Notes,
}

/// A directory with `admin` created the way the installer does for a user
/// the answer file gives no password, and notes in a temporary "system".
fn appliance() -> Box_ {
    let t = tempfile::tempdir().unwrap();
    let mut dir = Directory::open(&t.path().join("directory")).unwrap();
    dir.add_user(&NewUser {
        password: Password::Unset,
        roles: vec!["admin".into()],
        ..NewUser::new(ADMIN, "")
    })
    .unwrap();
    let notes = Notes {
        file: t.path().join(initial::FILE_NAME),
        issue: t.path().join("etc/issue.d/outpost-initial-passwords.issue"),
        console: Some(t.path().join("console")),
    };
    std::fs::write(t.path().join("console"), "").unwrap();
    Box_ { t, dir, notes }
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

/// The password the notes file holds for `address`.
fn noted(notes: &Notes, address: &str) -> Option<String> {
    let text = std::fs::read_to_string(&notes.file).ok()?;
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(&format!("{address} ")).map(str::to_owned))
}

fn stored_hash(b: &Box_) -> String {
    let conn = rusqlite::Connection::open(
        b.t.path()
            .join("directory")
            .join(outpost_directory::DB_FILE),
    )
    .unwrap();
    conn.query_row(
        "SELECT password FROM users WHERE address = ?1",
        [ADMIN],
        |r| r.get(0),
    )
    .unwrap()
}

#[test]
fn a_user_without_a_password_cannot_log_in() {
    let b = appliance();
    for guess in ["", "!unset", "outpost", "admin"] {
        assert!(
            matches!(b.dir.login(ADMIN, guess, None), Err(AuthError::Invalid)),
            "{guess:?}"
        );
    }
    assert_eq!(b.dir.users_without_password().unwrap(), [ADMIN]);
}

#[test]
fn first_boot_makes_a_hashed_password_kept_root_only_and_it_logs_in() {
    // Regression (#24): every appliance built from the default site had
    // the password `outpost`; now each makes its own at first boot.
    let mut b = appliance();
    let given = initial::provision(&mut b.dir, &b.notes).unwrap();
    assert_eq!(given, [ADMIN]);
    let pw = noted(&b.notes, ADMIN).expect("the password is in the notes file");
    // 20 base32 characters in groups of five.
    assert_eq!(pw.len(), 23, "{pw}");
    assert!(
        pw.split('-').all(|g| g.len() == 5
            && g.bytes()
                .all(|c| c.is_ascii_lowercase() || (b'2'..=b'7').contains(&c))),
        "{pw}"
    );
    // Only the hash is stored.
    let hash = stored_hash(&b);
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(!hash.contains(&pw));
    // Root only: mode 0600, owned by whoever ran it (root on the appliance).
    let me = std::fs::metadata(b.t.path()).unwrap().uid();
    for p in [&b.notes.file, &b.notes.issue] {
        assert_eq!(mode(p), 0o600, "{}", p.display());
        assert_eq!(std::fs::metadata(p).unwrap().uid(), me);
    }
    let issue = std::fs::read_to_string(&b.notes.issue).unwrap();
    assert!(
        issue.contains(&format!("initial password of {ADMIN}: {pw}")),
        "{issue}"
    );
    assert!(
        !issue.contains('\\'),
        "agetty would expand escapes: {issue}"
    );
    let console = std::fs::read_to_string(b.t.path().join("console")).unwrap();
    assert!(
        console.contains(&format!("outpost: initial password of {ADMIN}: {pw}")),
        "{console}"
    );
    // The login works with it, and nobody else needs a password now.
    let login = b.dir.login(ADMIN, &pw, Some("192.0.2.1")).unwrap();
    assert_eq!(login.user.address, ADMIN);
    assert!(b.dir.users_without_password().unwrap().is_empty());
    // Again (every boot runs it): nothing new, the note stays as it was.
    let before = std::fs::read(&b.notes.file).unwrap();
    assert!(initial::provision(&mut b.dir, &b.notes).unwrap().is_empty());
    assert!(initial::retire(&b.dir, &b.notes).unwrap().is_empty());
    assert_eq!(std::fs::read(&b.notes.file).unwrap(), before);
    let console_again = std::fs::read_to_string(b.t.path().join("console")).unwrap();
    assert_eq!(console_again, console, "shown on the console once");
}

#[test]
fn changing_the_password_removes_the_notes() {
    let mut b = appliance();
    initial::provision(&mut b.dir, &b.notes).unwrap();
    let pw = noted(&b.notes, ADMIN).unwrap();
    b.dir
        .set_password(ADMIN, "a new and secret phrase")
        .unwrap();
    assert_eq!(initial::retire(&b.dir, &b.notes).unwrap(), [ADMIN]);
    assert!(!b.notes.file.exists() && !b.notes.issue.exists());
    assert!(b.dir.login(ADMIN, &pw, None).is_err());
    b.dir.login(ADMIN, "a new and secret phrase", None).unwrap();
}

#[test]
fn notes_of_other_users_stay_until_theirs_change() {
    let mut b = appliance();
    b.dir
        .add_user(&NewUser {
            password: Password::Unset,
            ..NewUser::new("bob@outpost.test", "")
        })
        .unwrap();
    let given = initial::provision(&mut b.dir, &b.notes).unwrap();
    assert_eq!(given, [ADMIN, "bob@outpost.test"]);
    let bob = noted(&b.notes, "bob@outpost.test").unwrap();
    assert_ne!(noted(&b.notes, ADMIN).unwrap(), bob, "one password each");
    b.dir
        .set_password(ADMIN, "a new and secret phrase")
        .unwrap();
    assert_eq!(initial::retire(&b.dir, &b.notes).unwrap(), [ADMIN]);
    assert_eq!(noted(&b.notes, ADMIN), None);
    assert_eq!(noted(&b.notes, "bob@outpost.test").as_deref(), Some(&*bob));
    let issue = std::fs::read_to_string(&b.notes.issue).unwrap();
    assert!(!issue.contains(ADMIN) && issue.contains(&bob), "{issue}");
    // Deleting bob retires his too, and with it both files.
    b.dir.delete_user("bob@outpost.test").unwrap();
    assert_eq!(
        initial::retire(&b.dir, &b.notes).unwrap(),
        ["bob@outpost.test"]
    );
    assert!(!b.notes.file.exists() && !b.notes.issue.exists());
}

#[test]
fn a_crash_before_the_hash_is_stored_gives_a_new_password_next_boot() {
    // The clear text is written first; if the hash never made it, the
    // stale line is dropped and the next boot makes a new password.
    let mut b = appliance();
    std::fs::write(&b.notes.file, format!("{ADMIN} never-stored-aaaa\n")).unwrap();
    assert_eq!(initial::provision(&mut b.dir, &b.notes).unwrap(), [ADMIN]);
    let pw = noted(&b.notes, ADMIN).unwrap();
    assert_ne!(pw, "never-stored-aaaa");
    assert_eq!(mode(&b.notes.file), 0o600, "a wider old file is narrowed");
    b.dir.login(ADMIN, &pw, None).unwrap();
}

#[test]
fn generated_passwords_are_random() {
    let mut seen = std::collections::HashSet::new();
    for _ in 0..1000 {
        assert!(seen.insert(initial::generate()));
    }
}
