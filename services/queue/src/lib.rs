//! The durable outbound queue (`/var/spool/outpost/queue/`).
//!
//! One message is two files named by its queue id: `<id>.msg` (the message
//! as it will be sent, with our `Received:` header) and `<id>.env` (the
//! envelope as JSON: sender, recipients with their state, DSN parameters,
//! attempts, next attempt, last error). Enqueueing writes `.msg` then `.env`,
//! each to a temporary name, fsync, rename, then fsyncs the directory: the
//! `.env` file's appearance is the commit point, and only after it does
//! smtpd answer `250`. Envelope updates are the same write-fsync-rename, so
//! a crash leaves the old or the new state.
//!
//! **Invariant:** reading the queue ([`Queue::open`], [`Queue::scan`],
//! [`Queue::list`], [`Queue::message`]) never deletes anything. A `.msg`
//! without its `.env` is what a crash before the commit leaves, but it is
//! also the state of every enqueue between its two renames, so only
//! [`Queue::cleanup`] removes such leftovers (#17): those older than a grace
//! period (`smtp.queue_orphan_grace_secs`), and only while it holds the
//! queue's lock (`.lock`, exclusive; every enqueue holds it shared).
//!
//! An entry the relay cannot read is moved to `held/` ([`Queue::hold`]),
//! out of the relay's sight, for an administrator to look at.
//!
//! This format is shared with `outpostctl queue …`, which reads and deletes
//! entries directly and asks the daemon to retry everything now by creating
//! the file `.flush` in the queue directory.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};

use outpost_durable::sync_dir;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

/// File whose existence asks the relay to retry every entry now.
pub const FLUSH_FILE: &str = ".flush";
/// The queue's lock: enqueues hold it shared, [`Queue::cleanup`] exclusive.
pub const LOCK_FILE: &str = ".lock";
/// Where entries the relay cannot read are kept for the administrator.
pub const HELD_DIR: &str = "held";
/// Where DATA beyond the in-memory buffer is spooled (anonymous files).
pub const SPOOL_DIR: &str = "spool";

/// What happened to one recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RcptState {
    /// Not delivered yet.
    Pending,
    /// Accepted by the smarthost.
    Delivered,
    /// Permanently refused (or expired); a bounce is due or was sent.
    Failed,
}

/// One recipient of a queued message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueuedRcpt {
    /// The address.
    pub address: String,
    /// Its state.
    pub state: RcptState,
    /// The last reply or error for it.
    #[serde(default)]
    pub last_error: String,
    /// DSN NOTIFY=NEVER (RFC 3461 §4.1): no bounce for this recipient.
    #[serde(default)]
    pub notify_never: bool,
    /// DSN ORCPT (RFC 3461 §4.2), if given.
    #[serde(default)]
    pub orcpt: Option<String>,
}

/// The envelope of a queued message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// Queue id.
    pub id: String,
    /// Envelope sender; empty for bounces (never bounced again).
    pub from: String,
    /// Recipients.
    pub rcpts: Vec<QueuedRcpt>,
    /// Unix seconds when queued.
    pub created: u64,
    /// Delivery attempts so far.
    pub attempts: u32,
    /// Unix seconds of the next attempt.
    pub next_attempt: u64,
    /// Size of `.msg` in bytes.
    pub size: u64,
    /// DSN ENVID (RFC 3461 §4.4), if given.
    #[serde(default)]
    pub envid: Option<String>,
    /// DSN RET=HDRS: bounces carry only the headers.
    #[serde(default)]
    pub ret_headers_only: bool,
    /// The authenticated user who submitted it (for the log), if any.
    #[serde(default)]
    pub submitter: Option<String>,
}

impl Envelope {
    /// Recipients still to be tried.
    pub fn pending(&self) -> impl Iterator<Item = &QueuedRcpt> {
        self.rcpts.iter().filter(|r| r.state == RcptState::Pending)
    }
}

/// A queue directory.
#[derive(Debug)]
pub struct Queue {
    dir: PathBuf,
}

/// What [`Queue::cleanup`] did.
#[derive(Debug, Default)]
pub struct Cleanup {
    /// The files it removed.
    pub removed: Vec<PathBuf>,
    /// An enqueue held the lock: nothing was looked at, try again later.
    pub busy: bool,
}

/// What [`Queue::scan`] found.
#[derive(Debug, Default)]
pub struct Scan {
    /// The envelopes, oldest first.
    pub entries: Vec<Envelope>,
    /// (id, parse error) of the envelopes that cannot be read.
    pub unreadable: Vec<(String, String)>,
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A new queue id: hex seconds, microseconds, pid and a counter, so ids
/// are unique across restarts and sort roughly by age.
pub fn new_id() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!(
        "{:X}{:05X}{:X}{:X}",
        now.as_secs(),
        now.subsec_micros(),
        std::process::id() & 0xFFFF,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_alphanumeric())
}

fn check_id(id: &str) -> std::io::Result<()> {
    if valid_id(id) {
        Ok(())
    } else {
        Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("invalid queue id {id:?}"),
        ))
    }
}

impl Queue {
    /// Opens (creating, mode 0700) a queue directory. Deletes nothing: a
    /// lone `.msg` may be an enqueue in progress (see [`Queue::cleanup`]).
    pub fn open(dir: &Path) -> std::io::Result<Queue> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        Ok(Queue {
            dir: dir.to_owned(),
        })
    }

    /// Removes the leftovers of interrupted enqueues older than `grace`:
    /// `.msg` files without their `.env`, temporary files, and spool files.
    /// Takes the queue's lock exclusively and does nothing (`busy`) if an
    /// enqueue holds it; a complete entry is never touched.
    pub fn cleanup(&self, grace: Duration) -> std::io::Result<Cleanup> {
        let lock = self.lock_file()?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                return Ok(Cleanup {
                    removed: Vec::new(),
                    busy: true,
                });
            }
            Err(fs::TryLockError::Error(e)) => return Err(e),
        }
        let now = SystemTime::now();
        let old = |meta: &fs::Metadata| {
            meta.modified()
                .ok()
                .and_then(|m| now.duration_since(m).ok())
                .is_some_and(|age| age >= grace)
        };
        let mut removed = Vec::new();
        for entry in fs::read_dir(&self.dir)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            // Temporaries of interrupted writes: `.tmp-…` (outpost-durable),
            // `….tmp` (before it).
            let leftover = name.starts_with(".tmp-")
                || name.ends_with(".tmp")
                || name
                    .strip_suffix(".msg")
                    .is_some_and(|id| !self.env_path(id).exists());
            if !leftover {
                continue;
            }
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_file() && old(&meta) && fs::remove_file(entry.path()).is_ok() {
                removed.push(entry.path());
            }
        }
        // Spool files are unlinked when created; one that is still there
        // was left by a crash in between.
        if let Ok(rd) = fs::read_dir(self.dir.join(SPOOL_DIR)) {
            for entry in rd.flatten() {
                if let Ok(meta) = entry.metadata()
                    && meta.is_file()
                    && old(&meta)
                    && fs::remove_file(entry.path()).is_ok()
                {
                    removed.push(entry.path());
                }
            }
        }
        if !removed.is_empty() {
            sync_dir(&self.dir)?;
        }
        drop(lock);
        Ok(Cleanup {
            removed,
            busy: false,
        })
    }

    fn lock_file(&self) -> std::io::Result<fs::File> {
        fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(self.dir.join(LOCK_FILE))
    }

    /// The queue directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn env_path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.env"))
    }

    fn msg_path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.msg"))
    }

    /// Durably adds a message; returns when both files and the directory
    /// entry are on stable storage.
    pub fn enqueue(&self, env: &Envelope, message: &[u8]) -> std::io::Result<()> {
        self.enqueue_with(env, |w| w.write_all(message))
    }

    /// Durably adds a message whose bytes `write` produces (from a spool
    /// file, say); `env.size` must be their length. Holds the queue's lock
    /// shared throughout, so [`Queue::cleanup`] never sees it half done.
    pub fn enqueue_with<T>(
        &self,
        env: &Envelope,
        write: impl FnOnce(&mut dyn Write) -> std::io::Result<T>,
    ) -> std::io::Result<T> {
        let lock = self.lock_file()?;
        lock.lock_shared()?;
        let out = write_atomic_with(&self.msg_path(&env.id), false, write)?;
        let json = serde_json::to_vec_pretty(env).map_err(std::io::Error::other)?;
        write_atomic(&self.env_path(&env.id), &json, false)?;
        sync_dir(&self.dir)?;
        drop(lock);
        Ok(out)
    }

    /// Rewrites an envelope (after an attempt).
    pub fn update(&self, env: &Envelope) -> std::io::Result<()> {
        let json = serde_json::to_vec_pretty(env).map_err(std::io::Error::other)?;
        let lock = self.lock_file()?;
        lock.lock_shared()?;
        write_atomic(&self.env_path(&env.id), &json, true)
    }

    /// Removes an entry: the envelope first, so a crash in between leaves an
    /// orphan `.msg` that [`Queue::cleanup`] removes, never a half entry.
    pub fn remove(&self, id: &str) -> std::io::Result<()> {
        check_id(id)?;
        fs::remove_file(self.env_path(id))?;
        let _ = fs::remove_file(self.msg_path(id));
        sync_dir(&self.dir)
    }

    /// Every envelope, oldest first, and the ids of the entries whose
    /// envelope cannot be parsed.
    pub fn scan(&self) -> std::io::Result<Scan> {
        let mut scan = Scan::default();
        for entry in fs::read_dir(&self.dir)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            // `.tmp-…` names are writes in progress (outpost-durable).
            let Some(id) = name.strip_suffix(".env").filter(|_| !name.starts_with('.')) else {
                continue;
            };
            match fs::read(entry.path()).map(|b| serde_json::from_slice::<Envelope>(&b)) {
                Ok(Ok(env)) => scan.entries.push(env),
                Ok(Err(e)) => scan.unreadable.push((id.to_string(), e.to_string())),
                // Removed by the relay between read_dir and read.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        scan.entries
            .sort_by(|a, b| (a.created, &a.id).cmp(&(b.created, &b.id)));
        scan.unreadable.sort();
        Ok(scan)
    }

    /// Every envelope, oldest first. Unreadable envelopes are reported on
    /// in the log and skipped (never deleted: an admin may repair them).
    pub fn list(&self) -> std::io::Result<Vec<Envelope>> {
        let scan = self.scan()?;
        for (id, e) in &scan.unreadable {
            tracing::warn!(envelope = %self.env_path(id).display(), error = %e, "unreadable queue envelope skipped");
        }
        Ok(scan.entries)
    }

    /// True while the entry's envelope is in the queue.
    pub fn contains(&self, id: &str) -> bool {
        valid_id(id) && self.env_path(id).exists()
    }

    /// Moves an entry out of the relay's sight into `held/`: the envelope
    /// first (the entry leaves the queue), then the message, if any.
    pub fn hold(&self, id: &str) -> std::io::Result<()> {
        check_id(id)?;
        let held = self.held_dir();
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&held)?;
        for path in [self.env_path(id), self.msg_path(id)] {
            let name = path.file_name().map(ToOwned::to_owned).unwrap_or_default();
            match fs::rename(&path, held.join(name)) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        sync_dir(&held)?;
        sync_dir(&self.dir)
    }

    /// The directory of held entries (`<queue>/held`).
    pub fn held_dir(&self) -> PathBuf {
        self.dir.join(HELD_DIR)
    }

    /// Ids of the held entries, sorted.
    pub fn held(&self) -> std::io::Result<Vec<String>> {
        let rd = match fs::read_dir(self.held_dir()) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut ids = Vec::new();
        for entry in rd {
            let name = entry?.file_name().to_string_lossy().into_owned();
            if let Some(id) = name.strip_suffix(".env") {
                ids.push(id.to_string());
            }
        }
        ids.sort();
        Ok(ids)
    }

    /// The spool directory for DATA (`<queue>/spool`, created by the first
    /// message that needs it).
    pub fn spool_dir(&self) -> PathBuf {
        self.dir.join(SPOOL_DIR)
    }

    /// The message bytes of an entry.
    pub fn message(&self, id: &str) -> std::io::Result<Vec<u8>> {
        fs::read(self.msg_path(id))
    }

    /// Asks the relay to retry everything now.
    pub fn request_flush(&self) -> std::io::Result<()> {
        fs::write(self.dir.join(FLUSH_FILE), b"")
    }

    /// Consumes a flush request; true if there was one.
    pub fn take_flush(&self) -> bool {
        fs::remove_file(self.dir.join(FLUSH_FILE)).is_ok()
    }
}

fn write_atomic(path: &Path, data: &[u8], sync_parent: bool) -> std::io::Result<()> {
    write_atomic_with(path, sync_parent, |w| w.write_all(data))
}

/// The shared durable write (`outpost-durable`), queue files 0600.
fn write_atomic_with<T>(
    path: &Path,
    sync_parent: bool,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<T>,
) -> std::io::Result<T> {
    let parent = if sync_parent {
        outpost_durable::Parent::Sync
    } else {
        outpost_durable::Parent::Defer
    };
    outpost_durable::write_atomic_with(path, 0o600, parent, write)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(id: &str) -> Envelope {
        Envelope {
            id: id.into(),
            from: "a@outpost.test".into(),
            rcpts: vec![QueuedRcpt {
                address: "b@remote.example".into(),
                state: RcptState::Pending,
                last_error: String::new(),
                notify_never: false,
                orcpt: None,
            }],
            created: 1,
            attempts: 0,
            next_attempt: 0,
            size: 5,
            envid: None,
            ret_headers_only: false,
            submitter: None,
        }
    }

    #[test]
    fn enqueue_list_remove_and_crash_leftovers() {
        let dir = tempfile::tempdir().unwrap();
        let q = Queue::open(dir.path()).unwrap();
        let id = new_id();
        q.enqueue(&env(&id), b"hello").unwrap();
        assert_eq!(q.list().unwrap(), vec![env(&id)]);
        assert_eq!(q.message(&id).unwrap(), b"hello");
        // A crash between the two writes leaves a lone .msg: cleaned by
        // the cleanup pass once it is older than the grace period (never
        // by opening, #17).
        fs::write(dir.path().join("ORPHAN.msg"), b"x").unwrap();
        fs::write(dir.path().join("X.env.tmp"), b"x").unwrap();
        // A write in progress (or interrupted) is never an entry.
        fs::write(dir.path().join(".tmp-1-0-Y.env"), b"{").unwrap();
        let q = Queue::open(dir.path()).unwrap();
        assert!(dir.path().join("ORPHAN.msg").exists());
        let scan = q.scan().unwrap();
        assert_eq!((scan.entries.len(), scan.unreadable.len()), (1, 0));
        let c = q.cleanup(Duration::ZERO).unwrap();
        assert_eq!(c.removed.len(), 3, "{c:?}");
        assert!(!dir.path().join("ORPHAN.msg").exists());
        assert!(!dir.path().join("X.env.tmp").exists());
        assert_eq!(q.list().unwrap().len(), 1);
        q.remove(&id).unwrap();
        assert!(q.list().unwrap().is_empty());
        assert!(q.remove("../etc").is_err());
        assert!(q.hold("../etc").is_err());
    }
}
