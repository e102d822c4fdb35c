//! The queue directory shared by smtpd and `outpostctl queue`: readers
//! never delete, crash leftovers are cleaned only after a grace period and
//! under the queue's lock, and an entry the relay cannot read is held
//! rather than retried forever (#17).

use std::path::Path;
use std::time::{Duration, SystemTime};

use outpost_smtpd::queue::{Queue, new_id};

use crate::common::{envelope, start_with};

/// Sets a file's modification time `secs` seconds into the past.
fn age(path: &Path, secs: u64) {
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(SystemTime::now() - Duration::from_secs(secs))
        .unwrap();
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn a_message_being_committed_survives_queue_open_and_list() {
    // #17: `outpostctl queue list` opened the queue, which removed a .msg
    // without its .env: exactly smtpd's state between its two renames.
    let dir = tempfile::tempdir().unwrap();
    let q = Queue::open(dir.path()).unwrap();
    let id = new_id();
    std::fs::write(dir.path().join(format!("{id}.msg")), b"hello").unwrap();
    std::fs::write(dir.path().join(format!("{id}.env.tmp")), b"{").unwrap();
    for _ in 0..3 {
        let q = Queue::open(dir.path()).unwrap();
        assert!(q.list().unwrap().is_empty());
    }
    assert!(q.list().unwrap().is_empty());
    assert_eq!(
        names(dir.path()),
        [format!("{id}.env.tmp"), format!("{id}.msg")]
    );
    // smtpd's second rename completes the entry, body intact.
    std::fs::write(
        dir.path().join(format!("{id}.env")),
        serde_json::to_vec(&envelope(&id)).unwrap(),
    )
    .unwrap();
    assert_eq!(q.list().unwrap(), [envelope(&id)]);
    assert_eq!(q.message(&id).unwrap(), b"hello");
}

#[test]
fn orphans_older_than_the_grace_period_are_cleaned_under_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let q = Queue::open(dir.path()).unwrap();
    let kept = new_id();
    q.enqueue(&envelope(&kept), b"kept").unwrap();
    q.request_flush().unwrap();
    let old = ["OLD.msg", "OLD2.env.tmp", "OLD3.msg.tmp"];
    for name in old {
        std::fs::write(dir.path().join(name), b"x").unwrap();
        age(&dir.path().join(name), 7200);
    }
    std::fs::write(dir.path().join("FRESH.msg"), b"x").unwrap();
    // A complete entry is never an orphan, however old.
    age(&dir.path().join(format!("{kept}.msg")), 7200);
    age(&dir.path().join(format!("{kept}.env")), 7200);
    let grace = Duration::from_secs(3600);

    // While an enqueue holds the lock, cleaning waits for another pass,
    // even with no grace at all.
    let during = q.enqueue_with(&envelope(&new_id()), |w| {
        let c = q.cleanup(Duration::ZERO).unwrap();
        w.write_all(b"body")?;
        Ok(c)
    });
    let during = during.unwrap();
    assert!(during.busy && during.removed.is_empty(), "{during:?}");

    let c = q.cleanup(grace).unwrap();
    assert!(!c.busy);
    let mut removed: Vec<String> = c
        .removed
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    removed.sort();
    assert_eq!(removed, ["OLD.msg", "OLD2.env.tmp", "OLD3.msg.tmp"]);
    let left = names(dir.path());
    assert!(left.contains(&"FRESH.msg".to_string()), "{left:?}");
    assert!(left.contains(&format!("{kept}.msg")), "{left:?}");
    assert!(left.contains(&".flush".to_string()), "{left:?}");
    assert_eq!(q.list().unwrap().len(), 2);
    assert_eq!(q.message(&kept).unwrap(), b"kept");
}

#[tokio::test]
async fn an_unreadable_queue_entry_is_held_not_spun_on() {
    // #17: an entry whose .msg was gone logged "cannot read message" on
    // every scan, forever. Now: a bounce if the envelope can be read, and
    // the entry moves to held/ with one log line.
    let (lost, broken, garbage) = (new_id(), new_id(), new_id());
    let s = start_with(|c| {
        let dir = &c.smtp.queue_dir;
        let q = Queue::open(dir).unwrap();
        q.enqueue(&envelope(&lost), b"Subject: lost\r\n\r\nx\r\n")
            .unwrap();
        std::fs::remove_file(dir.join(format!("{lost}.msg"))).unwrap();
        q.enqueue(&envelope(&broken), b"Subject: broken\r\n\r\nx\r\n")
            .unwrap();
        let msg = dir.join(format!("{broken}.msg"));
        std::fs::remove_file(&msg).unwrap();
        std::fs::create_dir(&msg).unwrap(); // reading it fails (EISDIR)
        std::fs::write(dir.join(format!("{garbage}.env")), b"{not json").unwrap();
        std::fs::write(dir.join(format!("{garbage}.msg")), b"x").unwrap();
    })
    .await;
    let held = s.shared.config.smtp.queue_dir.join("held");
    let want = {
        let mut v = vec![
            format!("{broken}.env"),
            format!("{broken}.msg"),
            format!("{garbage}.env"),
            format!("{garbage}.msg"),
            format!("{lost}.env"),
        ];
        v.sort();
        v
    };
    let mut ok = false;
    for _ in 0..100 {
        if names(&held) == want && s.inbox("alice").len() == 2 {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        ok,
        "held: {:?}, bounces: {}",
        names(&held),
        s.inbox("alice").len()
    );
    assert!(s.shared.queue.list().unwrap().is_empty());
    let bounces = s.inbox("alice");
    for b in &bounces {
        assert!(
            b.contains("Action: failed") && b.contains("could not be read"),
            "{b}"
        );
    }
    // Several more scans: nothing is retried, bounced again or moved.
    s.shared.queue.request_flush().unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(s.inbox("alice").len(), 2);
    assert_eq!(names(&held), want);
}
