//! The Outpost mail store: Maildir++ folders on disk plus a small per-folder
//! index that gives IMAP its UIDs, UIDVALIDITY, flags and MODSEQs.
//!
//! Layout (Dovecot-compatible, so an admin could point Dovecot at it):
//! `MAIL_ROOT/<domain>/<user>/` is the Maildir of INBOX (`cur/ new/ tmp/`),
//! every other folder is a Maildir++ sub-folder `.<Name>` beside them
//! (hierarchy separator `.`), subscriptions are listed one per line in
//! `subscriptions`. Standard flags live in the file name (`:2,DFRST`), so the
//! Maildir stays meaningful without our index.
//!
//! **API boundary:** synchronous, no tokio, no protocol knowledge: smtpd and
//! the installer call [`create_mailbox_tree`] and [`deliver`]; imapd uses
//! [`Mailbox`] and [`Folder`].
//!
//! **Invariant:** a message acknowledged by [`deliver`] is on stable storage
//! (tmp → fsync → rename into `new/` → fsync of `new/`), the Maildir
//! delivery protocol of <https://cr.yp.to/proto/maildir.html>.
//!
//! **Invariant:** every rename, link, unlink and `mkdir` that a reply
//! depends on (flag changes rename files, EXPUNGE unlinks, COPY links or
//! writes, CREATE/RENAME/DELETE change the mailbox root) is followed by an
//! fsync of its directory before the folder index recording it is saved and
//! before the call returns. They all go through `fsops`, whose test-build
//! record lets a test check exactly that.

#![deny(missing_docs)]

#[cfg(test)]
mod durability_tests;
mod folder;
mod fsops;
mod mailbox;

pub use folder::{
    Flags, Folder, MAX_KEYWORD_LEN, MAX_TOMBSTONES, MaildropLock, MessageMeta, Snapshot,
    StoreFlags, SyncChanges,
};
pub use mailbox::{Mailbox, SPECIAL_FOLDERS, check_name};

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Errors of the store. Callers branch on [`StoreError::NotFound`] and
/// [`StoreError::Invalid`] (IMAP `NO [NONEXISTENT]` / `BAD`), the rest is I/O.
#[derive(Debug)]
pub enum StoreError {
    /// A folder, message or user that does not exist.
    NotFound(String),
    /// A name or argument the store refuses (path traversal, bad folder name).
    Invalid(String),
    /// Something already exists (CREATE of an existing folder).
    Exists(String),
    /// An I/O error, with what we were doing.
    Io(String, std::io::Error),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::NotFound(s) => write!(f, "not found: {s}"),
            StoreError::Invalid(s) => write!(f, "invalid: {s}"),
            StoreError::Exists(s) => write!(f, "already exists: {s}"),
            StoreError::Io(ctx, e) => write!(f, "{ctx}: {e}"),
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StoreError::Io(_, e) => Some(e),
            _ => None,
        }
    }
}

/// Result type of the store.
pub type Result<T> = std::result::Result<T, StoreError>;

pub(crate) fn io<T>(r: std::io::Result<T>, ctx: impl FnOnce() -> String) -> Result<T> {
    r.map_err(|e| StoreError::Io(ctx(), e))
}

/// Checks that a domain or local part is one safe path component.
/// Lower-cases it: addresses are case-insensitive in practice (RFC 5321 §2.4
/// allows case-sensitive local parts, but every mail system here treats them
/// as insensitive), so `Admin@` and `admin@` share one Maildir.
pub(crate) fn path_component(what: &str, s: &str) -> Result<String> {
    let s = s.trim().to_ascii_lowercase();
    if s.is_empty()
        || s.starts_with('.')
        || s.len() > 255
        || s.chars().any(|c| c == '/' || c == '\0' || c.is_control())
    {
        return Err(StoreError::Invalid(format!(
            "{what} {s:?} is not a safe path component"
        )));
    }
    Ok(s)
}

/// The Maildir root of one user: `mail_root/<domain>/<user>`.
pub fn user_root(mail_root: &Path, domain: &str, user: &str) -> Result<PathBuf> {
    Ok(mail_root
        .join(path_component("domain", domain)?)
        .join(path_component("user", user)?))
}

fn mkdir_0700(p: &Path) -> Result<bool> {
    io(fsops::mkdir(p, 0o700), || {
        format!("creating {}", p.display())
    })
}

/// Creates `cur/ new/ tmp/` under `dir` (and `dir` itself, and any missing
/// parent), mode 0700, durably: a new directory survives a power cut only
/// once its entry in its parent is fsynced, and a delivery acknowledged
/// into it depends on that.
pub(crate) fn make_maildir(dir: &Path) -> Result<()> {
    let missing: Vec<&Path> = dir
        .ancestors()
        .skip(1)
        .take_while(|a| !a.as_os_str().is_empty() && !a.is_dir())
        .collect();
    // Directories whose entries this call made, or found made by a
    // concurrent creator that may not have fsynced them yet.
    let mut touched = vec![dir];
    for a in missing.into_iter().rev() {
        mkdir_0700(a)?;
        touched.extend(a.parent());
    }
    mkdir_0700(dir)?;
    touched.extend(dir.parent());
    for sub in ["cur", "new", "tmp"] {
        mkdir_0700(&dir.join(sub))?;
    }
    touched.sort();
    touched.dedup();
    for d in touched.into_iter().rev() {
        io(fsops::sync_dir(d), || format!("syncing {}", d.display()))?;
    }
    Ok(())
}

/// Creates a user's mailbox: the INBOX Maildir plus the special-use folders
/// `.Sent .Drafts .Trash .Junk .Archive` (each with `cur/ new/ tmp/`, 0700),
/// and subscribes them. Idempotent: existing folders and mail are kept.
pub fn create_mailbox_tree(mail_root: &Path, domain: &str, user: &str) -> Result<PathBuf> {
    let root = user_root(mail_root, domain, user)?;
    make_maildir(&root)?;
    let mb = Mailbox::open_path(root.clone());
    for (name, _) in SPECIAL_FOLDERS {
        make_maildir(&root.join(format!(".{name}")))?;
        mb.subscribe(name, true)?;
    }
    Ok(root)
}

static DELIVERY_COUNTER: AtomicU64 = AtomicU64::new(0);

pub(crate) fn hostname() -> String {
    let h = fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| fs::read_to_string("/etc/hostname"))
        .unwrap_or_else(|_| "localhost".into());
    // Maildir: '/' and ':' are not allowed in the host part; Dovecot encodes
    // them as \057 and \072.
    h.trim().replace('/', "\\057").replace(':', "\\072")
}

/// A unique Maildir base name `SECS.MUSECSPpidQn.host,S=size` (the `S=`
/// field is Dovecot's: the size is known without a stat).
pub(crate) fn unique_name(size: usize) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let n = DELIVERY_COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(
        "{}.M{}P{}Q{}.{},S={}",
        now.as_secs(),
        now.subsec_micros(),
        std::process::id(),
        n,
        hostname(),
        size
    )
}

/// Writes `bytes` durably into `tmp/` and renames it into `sub` (`new` or
/// `cur`, with `suffix` such as `:2,S`), fsyncing file and directory.
/// Returns the new base name.
pub(crate) fn write_durable(
    maildir: &Path,
    sub: &str,
    bytes: &[u8],
    suffix: &str,
) -> Result<String> {
    let base = unique_name(bytes.len());
    write_durable_as(maildir, sub, &base, bytes, suffix)?;
    Ok(base)
}

/// [`write_durable`] under a base name the caller chose ([`unique_name`]).
pub(crate) fn write_durable_as(
    maildir: &Path,
    sub: &str,
    base: &str,
    bytes: &[u8],
    suffix: &str,
) -> Result<()> {
    let tmp = maildir.join("tmp").join(base);
    let mut f = io(
        fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp),
        || format!("creating {}", tmp.display()),
    )?;
    let r = f.write_all(bytes).and_then(|()| f.sync_all());
    if let Err(e) = r {
        let _ = fs::remove_file(&tmp);
        return Err(StoreError::Io(format!("writing {}", tmp.display()), e));
    }
    drop(f);
    let dest_dir = maildir.join(sub);
    let dest = dest_dir.join(format!("{base}{suffix}"));
    if let Err(e) = fsops::rename(&tmp, &dest) {
        let _ = fs::remove_file(&tmp);
        return Err(StoreError::Io(
            format!("renaming into {}", dest.display()),
            e,
        ));
    }
    // The rename is only durable once the directory entry is on disk.
    io(fsops::sync_dir(&dest_dir), || {
        format!("syncing {}", dest_dir.display())
    })
}

/// Delivers one message durably into `folder` (`""` or `INBOX` for the
/// inbox, else a folder name such as `Junk`) of `user@domain`, creating the
/// mailbox tree if the user has none yet. Returns the path of the new file.
///
/// Lock-free (the Maildir protocol needs none); imapd assigns the UID when
/// it next syncs the folder, within a second for IDLE sessions.
pub fn deliver(
    mail_root: &Path,
    domain: &str,
    user: &str,
    folder: &str,
    bytes: &[u8],
) -> Result<PathBuf> {
    let root = user_root(mail_root, domain, user)?;
    let dir = Mailbox::open_path(root.clone()).folder_dir(folder)?;
    // `tmp` is the last of cur/new/tmp that `make_maildir` creates.
    if !dir.join("tmp").is_dir() {
        // A concurrent first delivery may still be creating the tree;
        // creating it is idempotent.
        if dir == root || Mailbox::special_use(folder).is_some() {
            create_mailbox_tree(mail_root, domain, user)?;
        }
        if !dir.join("tmp").is_dir() {
            return Err(StoreError::NotFound(format!("folder {folder:?}")));
        }
    }
    let base = write_durable(&dir, "new", bytes, "")?;
    Ok(dir.join("new").join(base))
}
