//! Store behaviour on a temporary directory; each test is independent.

use outpost_store::{Flags, Mailbox, StoreFlags, create_mailbox_tree, deliver};
use std::os::unix::fs::PermissionsExt;

fn msg(n: usize) -> Vec<u8> {
    format!("From: a@b.lan\r\nSubject: m{n}\r\n\r\nbody {n}\r\n").into_bytes()
}

#[test]
fn tree_has_special_folders_with_mode_0700() {
    let t = tempfile::tempdir().unwrap();
    let root = create_mailbox_tree(t.path(), "Outpost.LAN", "Admin").unwrap();
    assert_eq!(root, t.path().join("outpost.lan/admin"));
    for d in ["", ".Sent", ".Drafts", ".Trash", ".Junk", ".Archive"] {
        for sub in ["cur", "new", "tmp"] {
            let p = root.join(d).join(sub);
            let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o700, "{}", p.display());
        }
    }
    let mb = Mailbox::open_path(root);
    assert_eq!(
        mb.list().unwrap(),
        ["INBOX", "Archive", "Drafts", "Junk", "Sent", "Trash"]
    );
    assert_eq!(mb.subscriptions().unwrap().len(), 5);
    // Idempotent.
    create_mailbox_tree(t.path(), "outpost.lan", "admin").unwrap();
}

#[test]
fn unsafe_names_are_refused() {
    let t = tempfile::tempdir().unwrap();
    for (d, u) in [
        ("..", "x"),
        ("a/b", "x"),
        ("d", "../x"),
        ("d", ""),
        ("d", ".hidden"),
    ] {
        assert!(create_mailbox_tree(t.path(), d, u).is_err(), "{d} {u}");
    }
    let mb = Mailbox::open(t.path(), "d", "u").unwrap();
    for name in ["a/b", ".x", "x.", "a..b"] {
        assert!(mb.create(name).is_err(), "{name}");
    }
}

#[test]
fn deliver_then_sync_assigns_uids_in_arrival_order_and_recent_once() {
    let t = tempfile::tempdir().unwrap();
    for i in 0..3 {
        let p = deliver(t.path(), "d", "u", "INBOX", &msg(i)).unwrap();
        assert!(p.parent().unwrap().ends_with("new"));
    }
    let mb = Mailbox::open(t.path(), "d", "u").unwrap();
    let f = mb.folder("INBOX").unwrap();
    let s = f.sync().unwrap();
    assert_eq!(s.recent, [1, 2, 3]);
    assert_eq!(s.snapshot.uidnext, 4);
    assert_eq!(f.read(2).unwrap(), msg(1));
    // A second view (another session) sees them, but not as recent.
    let f2 = mb.folder("INBOX").unwrap();
    let s2 = f2.sync().unwrap();
    assert!(s2.recent.is_empty());
    assert_eq!(s2.snapshot.messages.len(), 3);
    assert_eq!(s2.snapshot.uidvalidity, s.snapshot.uidvalidity);
}

#[test]
fn store_flags_renames_file_and_bumps_modseq() {
    let t = tempfile::tempdir().unwrap();
    deliver(t.path(), "d", "u", "", &msg(0)).unwrap();
    let f = Mailbox::open(t.path(), "d", "u")
        .unwrap()
        .folder("INBOX")
        .unwrap();
    let before = f.sync().unwrap().snapshot.highest_modseq;
    let mut fl = Flags::default();
    fl.insert_imap("\\Seen");
    fl.insert_imap("$Forwarded");
    let (snap, changed, failed) = f.store(&[1], StoreFlags::Add, &fl, None).unwrap();
    assert_eq!((changed, failed), (vec![1], vec![]));
    assert!(snap.highest_modseq > before);
    let name = snap.messages[0].file_name();
    assert!(name.ends_with(":2,S"), "{name}");
    assert!(f.dir().join("cur").join(&name).exists());
    // CONDSTORE UNCHANGEDSINCE older than the message: refused.
    let (_, changed, failed) = f
        .store(&[1], StoreFlags::Remove, &fl, Some(before))
        .unwrap();
    assert_eq!((changed, failed), (vec![], vec![1]));
    // Another tool changes the flags in the file name: noticed.
    std::fs::rename(
        f.dir().join("cur").join(&name),
        f.dir().join("cur").join(name.replace(":2,S", ":2,FS")),
    )
    .unwrap();
    let f2 = Mailbox::open(t.path(), "d", "u")
        .unwrap()
        .folder("INBOX")
        .unwrap();
    let s = f2.sync().unwrap().snapshot;
    assert_eq!(
        s.messages[0].flags.imap_names(),
        ["\\Seen", "\\Flagged", "$Forwarded"]
    );
}

#[test]
fn expunge_leaves_tombstones_for_vanished() {
    let t = tempfile::tempdir().unwrap();
    for i in 0..4 {
        deliver(t.path(), "d", "u", "", &msg(i)).unwrap();
    }
    let f = Mailbox::open(t.path(), "d", "u")
        .unwrap()
        .folder("INBOX")
        .unwrap();
    let m0 = f.sync().unwrap().snapshot.highest_modseq;
    let mut del = Flags::default();
    del.insert_imap("\\Deleted");
    f.store(&[2, 3], StoreFlags::Add, &del, None).unwrap();
    let (snap, gone) = f.expunge(Some(&[3, 4]), true).unwrap();
    assert_eq!(gone, [3]);
    assert_eq!(
        snap.messages.iter().map(|m| m.uid).collect::<Vec<_>>(),
        [1, 2, 4]
    );
    let (snap, gone) = f.expunge(None, true).unwrap();
    assert_eq!(gone, [2]);
    assert_eq!(snap.vanished_since(m0), [2, 3]);
    // A file removed behind our back is an expunge too.
    std::fs::remove_file(f.path_of(&snap.messages[0])).unwrap();
    let s = Mailbox::open(t.path(), "d", "u")
        .unwrap()
        .folder("INBOX")
        .unwrap()
        .sync()
        .unwrap();
    assert_eq!(s.snapshot.vanished_since(m0), [1, 2, 3]);
}

#[test]
fn append_and_copy_report_uids() {
    let t = tempfile::tempdir().unwrap();
    let mb = Mailbox::open(t.path(), "d", "u").unwrap();
    let inbox = mb.folder("INBOX").unwrap();
    let mut fl = Flags::default();
    fl.insert_imap("\\Seen");
    let (v, uid) = inbox.append(&msg(7), &fl, Some(1_000_000_000)).unwrap();
    assert_eq!(uid, 1);
    assert!(v > 0);
    let snap = inbox.sync().unwrap().snapshot;
    assert_eq!(snap.messages[0].internal_date, 1_000_000_000);
    let sent = mb.folder("Sent").unwrap();
    let (_, pairs) = inbox.copy_to(&[1], &sent).unwrap();
    assert_eq!(pairs, [(1, 1)]);
    assert_eq!(sent.read(1).unwrap(), msg(7));
    assert!(
        sent.sync().unwrap().snapshot.messages[0]
            .flags
            .has(Flags::SEEN)
    );
}

#[test]
fn corrupt_index_is_rebuilt_with_new_uidvalidity_and_keeps_mail() {
    let t = tempfile::tempdir().unwrap();
    for i in 0..3 {
        deliver(t.path(), "d", "u", "", &msg(i)).unwrap();
    }
    let f = Mailbox::open(t.path(), "d", "u")
        .unwrap()
        .folder("INBOX")
        .unwrap();
    f.sync().unwrap();
    std::fs::write(f.dir().join("outpost-index"), "garbage\n").unwrap();
    let f = Mailbox::open(t.path(), "d", "u")
        .unwrap()
        .folder("INBOX")
        .unwrap();
    let s = f.sync().unwrap().snapshot;
    assert_eq!(s.messages.len(), 3);
    assert_eq!(f.read(3).unwrap(), msg(2));
}

#[test]
fn folders_create_rename_delete() {
    let t = tempfile::tempdir().unwrap();
    let mb = Mailbox::open(t.path(), "d", "u").unwrap();
    mb.create("Lists.rust").unwrap();
    assert!(mb.create("Lists.rust").is_err());
    mb.subscribe("Lists.rust", true).unwrap();
    mb.rename("Lists", "Old").unwrap();
    let l = mb.list().unwrap();
    assert!(
        l.contains(&"Old.rust".to_string()) && !l.contains(&"Lists".to_string()),
        "{l:?}"
    );
    assert!(
        mb.subscriptions()
            .unwrap()
            .contains(&"Old.rust".to_string())
    );
    mb.delete("Old.rust").unwrap();
    assert!(mb.folder("Old.rust").is_err());
}

#[test]
fn concurrent_deliveries_and_syncs_lose_nothing() {
    let t = tempfile::tempdir().unwrap();
    Mailbox::open(t.path(), "d", "u").unwrap();
    let root = t.path().to_path_buf();
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let root = root.clone();
            std::thread::spawn(move || {
                for i in 0..50 {
                    deliver(&root, "d", "u", "", &msg(w * 100 + i)).unwrap();
                }
            })
        })
        .collect();
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let root = root.clone();
            std::thread::spawn(move || {
                let f = Mailbox::open(&root, "d", "u")
                    .unwrap()
                    .folder("INBOX")
                    .unwrap();
                let mut recent = 0;
                for _ in 0..100 {
                    recent += f.sync().unwrap().recent.len();
                }
                recent
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    let mut recent: usize = readers.into_iter().map(|r| r.join().unwrap()).sum();
    let f = Mailbox::open(&root, "d", "u")
        .unwrap()
        .folder("INBOX")
        .unwrap();
    let s = f.sync().unwrap();
    recent += s.recent.len();
    assert_eq!(s.snapshot.messages.len(), 200);
    // \Recent went to exactly one session per message.
    assert_eq!(recent, 200);
    let uids: Vec<u32> = s.snapshot.messages.iter().map(|m| m.uid).collect();
    assert_eq!(uids, (1..=200).collect::<Vec<_>>());
}

/// Regression: the first deliveries to a new user arriving at once (four
/// SMTP sessions) all create the tree; none may fail, none may be lost.
#[test]
fn concurrent_first_deliveries_all_land() {
    for round in 0..20 {
        let t = tempfile::tempdir().unwrap();
        let start = std::sync::Arc::new(std::sync::Barrier::new(8));
        let threads: Vec<_> = (0..8)
            .map(|n| {
                let root = t.path().to_path_buf();
                let start = start.clone();
                let folder = if n % 2 == 0 { "INBOX" } else { "Junk" };
                std::thread::spawn(move || {
                    start.wait();
                    deliver(&root, "outpost.lan", "alice", folder, &msg(n))
                })
            })
            .collect();
        for th in threads {
            th.join()
                .unwrap()
                .unwrap_or_else(|e| panic!("round {round}: {e}"));
        }
        let mb = Mailbox::open_path(t.path().join("outpost.lan/alice"));
        assert_eq!(mb.subscriptions().unwrap().len(), 5, "round {round}");
        let count = |d: &str| {
            std::fs::read_dir(t.path().join("outpost.lan/alice").join(d))
                .unwrap()
                .count()
        };
        assert_eq!(count("new") + count(".Junk/new"), 8, "round {round}");
    }
}

/// Concurrent SUBSCRIBEs of different names from different sessions: the
/// read-modify-write is serialised, so none is lost.
#[test]
fn concurrent_subscribes_lose_nothing() {
    let t = tempfile::tempdir().unwrap();
    let root = create_mailbox_tree(t.path(), "outpost.lan", "bob").unwrap();
    let threads: Vec<_> = (0..16)
        .map(|n| {
            let root = root.clone();
            std::thread::spawn(move || Mailbox::open_path(root).subscribe(&format!("F{n}"), true))
        })
        .collect();
    for th in threads {
        th.join().unwrap().unwrap();
    }
    assert_eq!(
        Mailbox::open_path(root).subscriptions().unwrap().len(),
        5 + 16
    );
}

/// UIDs follow arrival time, read numerically from the Maildir name
/// (`M999` before `M1000`, though not as text).
#[test]
fn uids_follow_arrival_order_not_name_text() {
    let t = tempfile::tempdir().unwrap();
    let root = create_mailbox_tree(t.path(), "outpost.lan", "carol").unwrap();
    let names = [
        "1700000000.M999P7Q1.host,S=20",
        "1700000000.M1000P7Q2.host,S=20",
        "1700000000.M1000P7Q10.host,S=20",
        "1700000001.M5P7Q11.host,S=20",
        "999999999.M50P7Q0.host,S=20",
    ];
    for (i, n) in names.iter().enumerate() {
        std::fs::write(
            root.join("new").join(n),
            format!("Subject: {i}\r\n\r\nx\r\n"),
        )
        .unwrap();
    }
    let snap = Mailbox::open_path(root)
        .folder("INBOX")
        .unwrap()
        .sync()
        .unwrap()
        .snapshot;
    let order: Vec<&str> = snap.messages.iter().map(|m| m.base.as_str()).collect();
    assert_eq!(
        order,
        [names[4], names[0], names[1], names[2], names[3]],
        "UIDs 1..5 in arrival order"
    );
}

#[test]
fn read_message_reads_the_file_a_snapshot_names() {
    let t = tempfile::tempdir().unwrap();
    let root = create_mailbox_tree(t.path(), "outpost.lan", "admin").unwrap();
    let f = Mailbox::open_path(root).folder("INBOX").unwrap();
    let (_, uid) = f.append(&msg(1), &Flags::default(), None).unwrap();
    let snap = f.sync().unwrap().snapshot;
    let m = &snap.messages[snap.position(uid).unwrap()];
    assert_eq!(f.read_message(m).unwrap(), msg(1));
    assert_eq!(f.read_message(m).unwrap(), f.read(uid).unwrap());
    // After an expunge the old snapshot's file is gone: an error, not bytes.
    f.expunge(Some(&[uid]), false).unwrap();
    assert_eq!(
        f.read_message(m).unwrap_err().kind(),
        std::io::ErrorKind::NotFound
    );
}

#[test]
fn maildrop_lock_is_exclusive_until_dropped() {
    let t = tempfile::tempdir().unwrap();
    let root = create_mailbox_tree(t.path(), "outpost.lan", "admin").unwrap();
    let mb = Mailbox::open_path(root);
    let a = mb.folder("INBOX").unwrap();
    let b = mb.folder("INBOX").unwrap();
    let held = a.lock_maildrop().unwrap().expect("first lock");
    assert!(b.lock_maildrop().unwrap().is_none(), "second lock refused");
    // The same file name and flock as before, so an older imapd agrees.
    let file = std::fs::File::open(a.dir().join("outpost-pop3.lock")).unwrap();
    assert!(file.try_lock().is_err());
    drop(held);
    assert!(file.try_lock().is_ok());
    file.unlock().unwrap();
    assert!(
        b.lock_maildrop().unwrap().is_some(),
        "free again after drop"
    );
}
