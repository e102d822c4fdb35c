//! The durable outbound queue (`/var/spool/outpost/queue/`).
//!
//! One message is two files named by its queue id: `<id>.msg` (the message
//! as it will be sent, with our `Received:` header) and `<id>.env` (the
//! envelope as JSON: sender, recipients with their state, DSN parameters,
//! attempts, next attempt, last error). Enqueueing writes `.msg` then `.env`,
//! each to a temporary name, fsync, rename, then fsyncs the directory: the
//! `.env` file's appearance is the commit point, and only after it does
//! smtpd answer `250`. A `.msg` without `.env` is the leftover of a crash
//! before the commit and is removed by [`Queue::open`]. Envelope updates are
//! the same write-fsync-rename, so a crash leaves the old or the new state.
//!
//! This format is shared with `outpostctl queue …`, which reads and deletes
//! entries directly and asks the daemon to retry everything now by creating
//! the file `.flush` in the queue directory.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

/// File whose existence asks the relay to retry every entry now.
pub const FLUSH_FILE: &str = ".flush";

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

impl Queue {
    /// Opens (creating, mode 0700) a queue directory and removes leftovers
    /// of interrupted enqueues.
    pub fn open(dir: &Path) -> std::io::Result<Queue> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        let q = Queue {
            dir: dir.to_owned(),
        };
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".tmp") {
                let _ = fs::remove_file(entry.path());
            } else if let Some(id) = name.strip_suffix(".msg")
                && !q.env_path(id).exists()
            {
                let _ = fs::remove_file(entry.path());
            }
        }
        Ok(q)
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
        write_atomic(&self.msg_path(&env.id), message, false)?;
        let json = serde_json::to_vec_pretty(env).map_err(std::io::Error::other)?;
        write_atomic(&self.env_path(&env.id), &json, false)?;
        sync_dir(&self.dir)
    }

    /// Rewrites an envelope (after an attempt).
    pub fn update(&self, env: &Envelope) -> std::io::Result<()> {
        let json = serde_json::to_vec_pretty(env).map_err(std::io::Error::other)?;
        write_atomic(&self.env_path(&env.id), &json, true)
    }

    /// Removes an entry: the envelope first, so a crash in between leaves an
    /// orphan `.msg` that [`Queue::open`] cleans up, never a half entry.
    pub fn remove(&self, id: &str) -> std::io::Result<()> {
        if !valid_id(id) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("invalid queue id {id:?}"),
            ));
        }
        fs::remove_file(self.env_path(id))?;
        let _ = fs::remove_file(self.msg_path(id));
        sync_dir(&self.dir)
    }

    /// Every envelope, oldest first. Unreadable envelopes are reported on
    /// stderr and skipped (never deleted: an admin may repair them).
    pub fn list(&self) -> std::io::Result<Vec<Envelope>> {
        let mut out = Vec::new();
        for entry in fs::read_dir(&self.dir)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.ends_with(".env") {
                continue;
            }
            match fs::read(entry.path()).map(|b| serde_json::from_slice::<Envelope>(&b)) {
                Ok(Ok(env)) => out.push(env),
                Ok(Err(e)) => eprintln!("queue: {}: {e}", entry.path().display()),
                // Removed by the relay between read_dir and read.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        out.sort_by(|a, b| (a.created, &a.id).cmp(&(b.created, &b.id)));
        Ok(out)
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
    let tmp = path.with_extension(format!(
        "{}.tmp",
        path.extension().and_then(|e| e.to_str()).unwrap_or("")
    ));
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(data)?;
    f.sync_all()?;
    drop(f);
    fs::rename(&tmp, path)?;
    if sync_parent && let Some(dir) = path.parent() {
        sync_dir(dir)?;
    }
    Ok(())
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    fs::File::open(dir)?.sync_all()
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
        // A crash between the two writes leaves a lone .msg: cleaned on open.
        fs::write(dir.path().join("ORPHAN.msg"), b"x").unwrap();
        fs::write(dir.path().join("X.env.tmp"), b"x").unwrap();
        let q = Queue::open(dir.path()).unwrap();
        assert!(!dir.path().join("ORPHAN.msg").exists());
        assert!(!dir.path().join("X.env.tmp").exists());
        assert_eq!(q.list().unwrap().len(), 1);
        q.remove(&id).unwrap();
        assert!(q.list().unwrap().is_empty());
        assert!(q.remove("../etc").is_err());
    }
}
