//! Durability tests (#19): every directory change a reply depends on
//! (renames for flag changes, links and writes for COPY, unlinks for
//! EXPUNGE, new folders and message files) is fsynced before the folder's
//! index is saved and before the call returns, checked on the record that
//! [`crate::fsops`] keeps in test builds.

use crate::fsops::log::{self, Op};
use crate::{Flags, Folder, Mailbox, StoreFlags, create_mailbox_tree, deliver};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const MSG: &[u8] = b"From: a@example.org\r\nSubject: hi\r\n\r\nbody\r\n";

/// Checks `ops`: each changed directory is fsynced after its change, before
/// any later index save and before the end. Returns the changed directories.
fn check_durable(ops: &[Op]) -> Result<BTreeSet<PathBuf>, String> {
    let mut dirty = BTreeSet::new();
    let mut changed = BTreeSet::new();
    for op in ops {
        match op {
            Op::Changed(d) => {
                dirty.insert(d.clone());
                changed.insert(d.clone());
            }
            Op::Synced(d) => {
                dirty.remove(d);
            }
            Op::IndexSaved(d) if !dirty.is_empty() => {
                return Err(format!(
                    "index of {} saved before these were fsynced: {dirty:?}",
                    d.display()
                ));
            }
            Op::IndexSaved(_) => {}
        }
    }
    if !dirty.is_empty() {
        return Err(format!("returned before these were fsynced: {dirty:?}"));
    }
    Ok(changed)
}

fn mailbox(root: &Path) -> Mailbox {
    Mailbox::open(root, "example.org", "ann").unwrap()
}

fn flags(names: &[&str]) -> Flags {
    let mut f = Flags::default();
    for n in names {
        f.insert_imap(n);
    }
    f
}

fn inbox_with(root: &Path, with: &[&str]) -> (Folder, u32) {
    let inbox = mailbox(root).folder("INBOX").unwrap();
    let (_, uid) = inbox.append(MSG, &flags(with), None).unwrap();
    (inbox, uid)
}

/// One operation whose directory changes are checked.
struct Case {
    what: &'static str,
    setup: fn(&Path),
    op: fn(&Path) -> crate::Result<()>,
}

const CASES: &[Case] = &[
    Case {
        what: "first delivery to a new user",
        setup: |_| {},
        op: |r| deliver(r, "example.org", "ann", "", MSG).map(drop),
    },
    Case {
        what: "creating a mailbox tree",
        setup: |_| {},
        op: |r| create_mailbox_tree(r, "example.org", "ann").map(drop),
    },
    Case {
        what: "delivery",
        setup: |r| drop(mailbox(r)),
        op: |r| deliver(r, "example.org", "ann", "Junk", MSG).map(drop),
    },
    Case {
        what: "sync takes new mail into cur",
        setup: |r| drop(deliver(r, "example.org", "ann", "", MSG).unwrap()),
        op: |r| mailbox(r).folder("INBOX")?.sync().map(drop),
    },
    Case {
        what: "APPEND",
        setup: |r| drop(mailbox(r)),
        op: |r| {
            mailbox(r)
                .folder("Drafts")?
                .append(MSG, &flags(&["\\Draft"]), None)
                .map(drop)
        },
    },
    Case {
        what: "STORE renames the file",
        setup: |r| drop(inbox_with(r, &[])),
        op: |r| {
            let inbox = mailbox(r).folder("INBOX")?;
            let uid = inbox.sync()?.snapshot.messages[0].uid;
            inbox
                .store(&[uid], StoreFlags::Add, &flags(&["\\Seen"]), None)
                .map(drop)
        },
    },
    Case {
        what: "EXPUNGE unlinks",
        setup: |r| drop(inbox_with(r, &["\\Deleted"])),
        op: |r| mailbox(r).folder("INBOX")?.expunge(None, false).map(drop),
    },
    Case {
        what: "COPY links",
        setup: |r| drop(inbox_with(r, &["\\Seen"])),
        op: |r| {
            let mb = mailbox(r);
            let (inbox, trash) = (mb.folder("INBOX")?, mb.folder("Trash")?);
            let uid = inbox.sync()?.snapshot.messages[0].uid;
            inbox.copy_to(&[uid], &trash).map(drop)
        },
    },
    Case {
        what: "COPY without hard links writes",
        setup: |r| drop(inbox_with(r, &["\\Seen"])),
        op: |r| {
            let mb = mailbox(r);
            let (inbox, trash) = (mb.folder("INBOX")?, mb.folder("Trash")?);
            let uid = inbox.sync()?.snapshot.messages[0].uid;
            log::refuse_links(true);
            let r = inbox.copy_to(&[uid], &trash).map(drop);
            log::refuse_links(false);
            r
        },
    },
    Case {
        what: "CREATE with superiors",
        setup: |r| drop(mailbox(r)),
        op: |r| mailbox(r).create("Lists.rust.async"),
    },
    Case {
        what: "DELETE",
        setup: |r| mailbox(r).create("Old").unwrap(),
        op: |r| mailbox(r).delete("Old"),
    },
    Case {
        what: "RENAME with inferiors",
        setup: |r| {
            let mb = mailbox(r);
            mb.create("A.b").unwrap();
            mb.subscribe("A.b", true).unwrap();
        },
        op: |r| mailbox(r).rename("A", "Z"),
    },
    Case {
        what: "RENAME INBOX",
        setup: |r| drop(inbox_with(r, &[])),
        op: |r| mailbox(r).rename("INBOX", "Before"),
    },
    Case {
        what: "SUBSCRIBE",
        setup: |r| drop(mailbox(r)),
        op: |r| mailbox(r).subscribe("Lists", true),
    },
];

/// Regression (#19): STORE, EXPUNGE and COPY (and folder changes) answered
/// before the renames, unlinks and links in `cur/` were fsynced, so a power
/// cut could bring back old flags or expunged mail, or lose a copy.
#[test]
fn every_rename_link_and_unlink_is_fsynced_before_the_reply() {
    let mut failed = Vec::new();
    for Case { what, setup, op } in CASES {
        let tmp = tempfile::tempdir().unwrap();
        setup(tmp.path());
        let (r, ops) = log::record(|| op(tmp.path()));
        r.unwrap_or_else(|e| panic!("{what}: {e}"));
        let root = tmp.path().display().to_string();
        match check_durable(&ops) {
            Ok(changed) => assert!(!changed.is_empty(), "{what}: changed no directory"),
            Err(e) => failed.push(format!("{what}: {}", e.replace(&root, "ROOT"))),
        }
    }
    assert!(failed.is_empty(), "\n{}", failed.join("\n"));
}

/// A COPY without hard links (another filesystem) gets the name the index
/// records and the UID it reported (it used to be written under another
/// name and renamed, ignoring a failed rename).
#[test]
fn a_copy_without_hard_links_keeps_flags_and_the_reported_uid() {
    let tmp = tempfile::tempdir().unwrap();
    let (inbox, uid) = inbox_with(tmp.path(), &["\\Seen", "\\Flagged"]);
    let trash = mailbox(tmp.path()).folder("Trash").unwrap();
    log::refuse_links(true);
    let (_, pairs) = inbox.copy_to(&[uid], &trash).unwrap();
    log::refuse_links(false);
    let snap = trash.sync().unwrap().snapshot;
    assert_eq!(snap.messages.len(), 1);
    let m = &snap.messages[0];
    assert_eq!(pairs, [(uid, m.uid)]);
    assert_eq!(m.flags.bits, Flags::SEEN | Flags::FLAGGED);
    assert!(trash.path_of(m).is_file(), "{}", trash.path_of(m).display());
    assert_eq!(trash.read(m.uid).unwrap(), MSG);
}
