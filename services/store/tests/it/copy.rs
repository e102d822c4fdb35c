//! COPY's fallback path (#8): a message renamed under a stale snapshot is
//! copied by reading its file, never by re-locking the folder it is copied
//! from, which may be the folder being copied into.

use outpost_store::{Mailbox, create_mailbox_tree, deliver};
use std::fs;
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, SystemTime};

fn age(dir: &Path, by: Duration) {
    let t = SystemTime::now() - by;
    fs::File::open(dir).unwrap().set_modified(t).unwrap();
}

#[test]
fn copy_into_the_same_folder_after_a_rename_does_not_deadlock() {
    let t = tempfile::tempdir().unwrap();
    create_mailbox_tree(t.path(), "d", "u").unwrap();
    deliver(t.path(), "d", "u", "INBOX", b"Subject: x\r\n\r\nhi\r\n").unwrap();
    let mb = Mailbox::open(t.path(), "d", "u").unwrap();
    let root = mb.root().to_path_buf();
    let inbox = mb.folder("INBOX").unwrap();
    inbox.sync().unwrap();
    // Old directory times, so the folder trusts its cached snapshot.
    let hour = Duration::from_secs(3600);
    age(&root.join("cur"), hour);
    age(&root.join("new"), hour);
    inbox.sync().unwrap();
    let uid = inbox.sync().unwrap().snapshot.messages[0].uid;
    // Another process changes the message's flags (a rename) in the same
    // directory tick: the cached snapshot still names the old file.
    let cur = root.join("cur");
    let old = fs::read_dir(&cur).unwrap().next().unwrap().unwrap().path();
    let new = format!("{}F", old.display());
    let before = fs::metadata(&cur).unwrap().modified().unwrap();
    fs::rename(&old, &new).unwrap();
    fs::File::open(&cur).unwrap().set_modified(before).unwrap();

    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let dest = mb.folder("INBOX").unwrap();
        let r = inbox.copy_to(&[uid], &dest).map(|(_, p)| p.len());
        let _ = tx.send(r.map_err(|e| e.to_string()));
    });
    let copied = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("COPY into the same folder deadlocked");
    assert_eq!(copied, Ok(1));
    let mb = Mailbox::open(t.path(), "d", "u").unwrap();
    let snap = mb.folder("INBOX").unwrap().sync().unwrap().snapshot;
    assert_eq!(snap.messages.len(), 2);
    let inbox = mb.folder("INBOX").unwrap();
    for m in &snap.messages {
        assert_eq!(inbox.read(m.uid).unwrap(), b"Subject: x\r\n\r\nhi\r\n");
    }
}
