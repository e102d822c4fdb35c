//! Outpost's CalDAV/CardDAV storage: Radicale-style folders on disk, no HTTP.
//!
//! # Layout (under `/var/lib/outpost/dav/collections/`)
//!
//! ```text
//! <user>/                      the user's home (calendar-home-set = addressbook-home-set)
//!   <collection>/              one folder per calendar, task list or address book
//!     .Radicale.props          collection properties, JSON object (Radicale's format:
//!                              "tag": "VCALENDAR" | "VADDRESSBOOK", "D:displayname", ...)
//!     .Outpost.index           index snapshot, JSON (see [`Snapshot`])
//!     .Outpost.journal         index changes since the snapshot, one JSON line each
//!     .Outpost.stage-<rev>     an item change being made (gone once it is done)
//!     <name>.ics | <name>.vcf  one item per file, the bytes the client PUT
//! ```
//!
//! **Invariant:** every file is replaced atomically (write to a temporary
//! file, fsync, rename over the target, fsync the folder), so a crash leaves
//! either the old or the new version, never a torn one. An item change (PUT,
//! DELETE, MOVE) is staged, committed by one journal record, then published
//! (see `Collection::commit`); on open, the last record is published again
//! and stages no record names are removed, so after a crash at any point
//! the index and the item files agree and show the item as it was before
//! the change or after it. A journal line whose item file is missing is
//! ignored, and the index is rebuilt from the item files if it is missing or
//! unreadable.
//!
//! **Invariant:** the journal is a sequence of whole records, one JSON line
//! each. A torn tail (crash mid-append) is cut off, durably, when the
//! collection is opened, and every append writes at the end of the last
//! acknowledged record, so no acknowledged record is ever glued onto torn
//! bytes and skipped.
//!
//! **Invariant:** sync tokens and ETags are collection revisions, stored in
//! the index, so they stay valid across restarts. Revisions start at the
//! creation time in milliseconds, so a deleted and re-created collection
//! never reuses a token or an ETag of its previous life.
//!
//! **API boundary:** this crate knows nothing of HTTP, XML or users'
//! passwords; path segments are validated here (no `/`, no leading `.`), so
//! no caller can escape the collections root. Locking is per collection
//! (an [`RwLock`] per open [`Collection`]); the [`Store`] map lock is held only
//! to look a collection up.

#![deny(missing_docs)]

pub mod item;

use item::{Analysis, InvalidItem, ItemMeta};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

/// Collection properties, keyed like Radicale (`tag`, `D:displayname`,
/// `C:calendar-description`, `ICAL:calendar-color`, …) or in Clark notation
/// (`{ns}name`) for dead properties. Values are text, or XML for dead props.
pub type Props = BTreeMap<String, String>;

/// The property holding the collection type, as in Radicale.
pub const TAG: &str = "tag";
/// `tag` value of a calendar or task list.
pub const TAG_CALENDAR: &str = "VCALENDAR";
/// `tag` value of an address book.
pub const TAG_ADDRESSBOOK: &str = "VADDRESSBOOK";
/// Property listing supported calendar components, comma separated (`VEVENT,VTODO`).
pub const SUPPORTED_COMPONENTS: &str = "C:supported-calendar-component-set";
/// Property holding sharing grants, JSON (see [`Grant`]).
pub const GRANTS: &str = "outpost:grants";

const PROPS_FILE: &str = ".Radicale.props";
const INDEX_FILE: &str = ".Outpost.index";
const JOURNAL_FILE: &str = ".Outpost.journal";

/// Prefix of a staged item file, `.Outpost.stage-<rev>` (see
/// [`Collection::commit`]).
const STAGE_PREFIX: &str = ".Outpost.stage-";

/// Fault injection for the crash tests: a multi-step operation calls
/// [`step`] after each step, and a test arms either a crash (a panic, which
/// skips every later step like a killed process) or an I/O error after
/// step `k`.
#[cfg(test)]
mod fault {
    use std::cell::Cell;

    /// What happens at the armed step.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) enum Fault {
        /// The process dies: nothing after the step runs.
        Crash,
        /// The operation fails there with an I/O error.
        Fail,
    }

    thread_local! {
        static ARMED: Cell<Option<(usize, Fault)>> = const { Cell::new(None) };
        static STEPS: Cell<usize> = const { Cell::new(0) };
    }

    /// Arms a fault at step `at` (counted from 1) of this thread, or none.
    pub(crate) fn arm(at: Option<(usize, Fault)>) {
        ARMED.set(at);
        STEPS.set(0);
    }

    /// Steps counted since [`arm`].
    pub(crate) fn steps() -> usize {
        STEPS.get()
    }

    /// Counts a step; the fault armed for it, if any.
    pub(crate) fn hit() -> Option<Fault> {
        let n = STEPS.get() + 1;
        STEPS.set(n);
        ARMED.get().filter(|a| a.0 == n).map(|a| a.1)
    }
}

/// A point between two steps of a multi-step change, where a test may
/// inject a crash or an I/O error (a no-op outside tests).
#[inline]
fn step() -> io::Result<()> {
    #[cfg(test)]
    match fault::hit() {
        Some(fault::Fault::Crash) => panic!("injected crash"),
        Some(fault::Fault::Fail) => return Err(io::Error::other("injected failure")),
        None => {}
    }
    Ok(())
}

#[cfg(test)]
mod crash_tests;

/// Errors of the store.
#[derive(Debug)]
pub enum Error {
    /// An I/O error on the path shown.
    Io(PathBuf, io::Error),
    /// A user, collection or item name that is not a single safe path segment.
    BadName(String),
    /// The collection or item does not exist.
    NotFound,
    /// The collection or item already exists.
    Exists,
    /// An `If-Match`/`If-None-Match` precondition failed (HTTP 412).
    PreconditionFailed,
    /// The item is not valid iCalendar/vCard for this collection.
    Invalid(InvalidItem),
    /// The item's UID is already used by another item of the collection
    /// (RFC 4791 §5.3.2.1 `no-uid-conflict`); holds that item's name.
    UidConflict(String),
    /// The calendar does not accept this component type
    /// (RFC 4791 §5.3.2.1 `supported-calendar-component`).
    UnsupportedComponent,
    /// The sync token is not one this collection issued, or is too old.
    InvalidSyncToken,
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Io(p, e) => write!(f, "{}: {e}", p.display()),
            Error::BadName(n) => write!(f, "bad name {n:?}"),
            Error::NotFound => f.write_str("not found"),
            Error::Exists => f.write_str("already exists"),
            Error::PreconditionFailed => f.write_str("precondition failed"),
            Error::Invalid(e) => write!(f, "{e}"),
            Error::UidConflict(h) => write!(f, "UID already used by {h}"),
            Error::UnsupportedComponent => f.write_str("component type not supported here"),
            Error::InvalidSyncToken => f.write_str("invalid sync token"),
        }
    }
}

impl std::error::Error for Error {}

/// Result type of the store.
pub type Result<T> = std::result::Result<T, Error>;

/// Names of the folders in `dir` that are valid collection or user names,
/// sorted (anything else there, e.g. `.Radicale.props`, is not listed).
fn subdir_names(dir: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).map_err(io_err(dir))? {
        let e = e.map_err(io_err(dir))?;
        if let Some(n) = e.file_name().to_str()
            && check_name(n).is_ok()
            && e.file_type().map(|t| t.is_dir()).unwrap_or(false)
        {
            out.push(n.to_string());
        }
    }
    out.sort();
    Ok(out)
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> Error + '_ {
    move |e| Error::Io(path.to_path_buf(), e)
}

/// Checks that `name` is one safe path segment: not empty, no `/` or `\`,
/// no NUL, not starting with `.` (which also rules out `.` and `..` and our
/// own metadata files), at most 255 bytes.
pub fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 255
        && !name.starts_with('.')
        && !name.contains(['/', '\\', '\0']);
    if ok {
        Ok(())
    } else {
        Err(Error::BadName(name.to_string()))
    }
}

/// Checks a collection path: one to [`MAX_NESTING`] names joined by `/`,
/// each a safe segment ([`check_name`]). Nested paths are plain WebDAV
/// collections inside a plain collection (`folder/sub`).
pub fn check_path(path: &str) -> Result<()> {
    let mut n = 0;
    for seg in path.split('/') {
        check_name(seg).map_err(|_| Error::BadName(path.to_string()))?;
        n += 1;
    }
    if n > MAX_NESTING {
        return Err(Error::BadName(path.to_string()));
    }
    Ok(())
}

/// Deepest collection nesting accepted below a home.
pub const MAX_NESTING: usize = 16;

/// Writes `bytes` to `path` atomically: temporary file in the same folder,
/// fsync, rename, fsync of the folder (so the rename itself is durable);
/// the shared `outpost-durable` write (temporaries are `.tmp-…`, which the
/// scans skip).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    outpost_durable::write_atomic(path, bytes, 0o644)
}

fn now_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(1)
}

/// Access a grantee has to a shared collection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Access {
    /// May read items and properties.
    Read,
    /// May also create, change and delete items.
    ReadWrite,
}

/// A sharing grant: `to` is a user address or a group address, resolved by
/// the directory at request time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// Grantee: user or group address.
    pub to: String,
    /// Access granted.
    pub access: Access,
}

/// The index snapshot file (`.Outpost.index`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Snapshot {
    /// Current revision of the collection (the CTag and latest sync token).
    pub rev: u64,
    /// Oldest revision a sync token may name; older tokens are refused.
    pub floor: u64,
    /// Items by file name.
    pub items: BTreeMap<String, ItemMeta>,
    /// Deleted items by file name, with the revision of their deletion.
    pub tombstones: BTreeMap<String, u64>,
}

/// One journal record: item `href` is now `meta` (`None`: deleted) as of
/// revision `rev`; with `from`, it was moved there from that item, which is
/// deleted by the same record (so a MOVE is one atomic record).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct JournalLine {
    rev: u64,
    href: String,
    meta: Option<ItemMeta>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    from: Option<String>,
}

/// Conditions of a write, from `If-Match` / `If-None-Match` (RFC 9110 §13.1).
#[derive(Debug, Clone, Default)]
pub struct Conditions {
    /// `If-Match`: the current ETag must be one of these (`*`: must exist).
    pub if_match: Option<Vec<String>>,
    /// `If-None-Match`: the current ETag must be none of these (`*`: must not exist).
    pub if_none_match: Option<Vec<String>>,
}

impl Conditions {
    fn check(&self, current: Option<&ItemMeta>) -> Result<()> {
        let etag = current.map(ItemMeta::etag);
        if let Some(list) = &self.if_match {
            let ok = match &etag {
                None => false,
                Some(e) => list.iter().any(|t| t == "*" || t == e),
            };
            if !ok {
                return Err(Error::PreconditionFailed);
            }
        }
        if let Some(list) = &self.if_none_match {
            let hit = match &etag {
                None => false,
                Some(e) => list.iter().any(|t| t == "*" || t == e),
            };
            if hit {
                return Err(Error::PreconditionFailed);
            }
        }
        Ok(())
    }
}

/// Changes reported by [`Collection::changes_since`].
#[derive(Debug, Clone, Default)]
pub struct Changes {
    /// The revision to hand out as the new sync token.
    pub rev: u64,
    /// Changed or new items.
    pub changed: Vec<(String, ItemMeta)>,
    /// Deleted item names.
    pub deleted: Vec<String>,
}

#[derive(Debug)]
struct State {
    props: Props,
    snap: Snapshot,
    journal_lines: usize,
    /// Length of the journal up to its last acknowledged record: anything
    /// after it is the rest of a failed append and is cut off first.
    journal_len: u64,
    /// The folder has entry changes (a publish) not yet fsynced; the next
    /// commit fsyncs it first.
    dir_dirty: bool,
    /// A write failed in a way that may leave memory and disk apart; the
    /// collection refuses writes and [`Store::collection`] reopens it,
    /// which recovers from what is on disk.
    poisoned: bool,
}

/// One open collection; all its reads and writes go through its lock.
#[derive(Debug)]
pub struct Collection {
    dir: PathBuf,
    state: RwLock<State>,
}

impl Collection {
    fn open(dir: PathBuf) -> Result<Collection> {
        let props_path = dir.join(PROPS_FILE);
        let props: Props = match fs::read(&props_path) {
            Ok(b) => serde_json::from_slice(&b).unwrap_or_default(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if !dir.is_dir() {
                    return Err(Error::NotFound);
                }
                Props::new()
            }
            Err(e) => return Err(Error::Io(props_path, e)),
        };
        let index = load_index(&dir, &props)?;
        Ok(Collection {
            dir,
            state: RwLock::new(State {
                props,
                snap: index.snap,
                journal_lines: index.lines,
                journal_len: index.len,
                dir_dirty: false,
                poisoned: false,
            }),
        })
    }

    /// The folder of this collection.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn read_state(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The state under the write lock, for a change; refused once a failed
    /// write has poisoned the collection.
    fn writable(&self) -> Result<std::sync::RwLockWriteGuard<'_, State>> {
        let st = self.state.write().unwrap_or_else(|p| p.into_inner());
        if st.poisoned {
            return Err(Error::Io(
                self.dir.clone(),
                io::Error::other("an earlier write failed; the collection must be reopened"),
            ));
        }
        Ok(st)
    }

    /// Whether a failed write poisoned this collection (see [`State`]).
    fn is_poisoned(&self) -> bool {
        self.read_state().poisoned
    }

    /// The collection's properties.
    pub fn props(&self) -> Props {
        self.read_state().props.clone()
    }

    /// Whether this is an address book (`tag` = `VADDRESSBOOK`).
    pub fn is_addressbook(&self) -> bool {
        self.read_state().props.get(TAG).map(String::as_str) == Some(TAG_ADDRESSBOOK)
    }

    /// Whether this is a calendar or task list (`tag` = `VCALENDAR`).
    pub fn is_calendar(&self) -> bool {
        self.read_state().props.get(TAG).map(String::as_str) == Some(TAG_CALENDAR)
    }

    /// Sets (`Some`) or removes (`None`) properties, all or nothing.
    pub fn set_props(&self, changes: &[(String, Option<String>)]) -> Result<()> {
        let mut st = self.writable()?;
        let mut props = st.props.clone();
        for (k, v) in changes {
            match v {
                Some(v) => props.insert(k.clone(), v.clone()),
                None => props.remove(k),
            };
        }
        let path = self.dir.join(PROPS_FILE);
        let json =
            serde_json::to_vec_pretty(&props).map_err(|e| Error::Io(path.clone(), e.into()))?;
        write_atomic(&path, &json).map_err(io_err(&path))?;
        st.props = props;
        Ok(())
    }

    /// The sharing grants of this collection.
    pub fn grants(&self) -> Vec<Grant> {
        self.read_state()
            .props
            .get(GRANTS)
            .and_then(|g| serde_json::from_str(g).ok())
            .unwrap_or_default()
    }

    /// Current revision: the CTag and the latest sync token.
    pub fn rev(&self) -> u64 {
        self.read_state().snap.rev
    }

    /// Calls `f` with the item index under the read lock.
    pub fn with_items<R>(&self, f: impl FnOnce(&BTreeMap<String, ItemMeta>) -> R) -> R {
        f(&self.read_state().snap.items)
    }

    /// Metadata of one item.
    pub fn meta(&self, name: &str) -> Option<ItemMeta> {
        self.read_state().snap.items.get(name).cloned()
    }

    /// Reads one item's bytes together with its metadata (consistent pair).
    pub fn get(&self, name: &str) -> Result<(Vec<u8>, ItemMeta)> {
        check_name(name)?;
        let st = self.read_state();
        let meta = st.snap.items.get(name).cloned().ok_or(Error::NotFound)?;
        let path = self.dir.join(name);
        let bytes = fs::read(&path).map_err(io_err(&path))?;
        Ok((bytes, meta))
    }

    /// Analyses `bytes` for this collection's type (no lock held: parsing
    /// and recurrence expansion run outside the collection lock).
    pub fn analyze(&self, bytes: &[u8]) -> Result<Analysis> {
        let (tag, supported) = {
            let st = self.read_state();
            (
                st.props.get(TAG).cloned(),
                st.props.get(SUPPORTED_COMPONENTS).cloned(),
            )
        };
        // A plain WebDAV collection (no `tag`) stores any bytes as they are.
        let Some(tag) = tag.filter(|t| t == TAG_CALENDAR || t == TAG_ADDRESSBOOK) else {
            return Ok(Analysis {
                uid: None,
                kinds: 0,
                start: i64::MIN,
                end: i64::MAX,
            });
        };
        if tag == TAG_ADDRESSBOOK {
            return item::analyze_vcard(bytes).map_err(Error::Invalid);
        }
        let a = item::analyze_calendar(bytes).map_err(Error::Invalid)?;
        if let Some(sup) = supported {
            let allowed = kinds_of(&sup);
            if a.kinds & allowed == 0 {
                return Err(Error::UnsupportedComponent);
            }
        }
        Ok(a)
    }

    /// Stores an item (create or replace) after checking `cond` and the UID
    /// uniqueness, atomically. Returns the new metadata and whether the item
    /// was created.
    pub fn put(&self, name: &str, bytes: &[u8], cond: &Conditions) -> Result<(ItemMeta, bool)> {
        check_name(name)?;
        let a = self.analyze(bytes)?;
        self.put_analyzed(name, bytes, a, cond)
    }

    /// [`Collection::put`] with an analysis the caller already made.
    pub fn put_analyzed(
        &self,
        name: &str,
        bytes: &[u8],
        a: Analysis,
        cond: &Conditions,
    ) -> Result<(ItemMeta, bool)> {
        check_name(name)?;
        let mut st = self.writable()?;
        let current = st.snap.items.get(name);
        cond.check(current)?;
        let created = current.is_none();
        if let Some(uid) = &a.uid
            && let Some((other, _)) = st
                .snap
                .items
                .iter()
                .find(|(n, m)| *n != name && m.uid.as_deref() == Some(uid))
        {
            return Err(Error::UidConflict(other.clone()));
        }
        let rev = st.snap.rev + 1;
        let stage = stage_path(&self.dir, rev);
        stage_bytes(&stage, bytes)?;
        let meta = ItemMeta {
            rev,
            size: bytes.len() as u64,
            uid: a.uid,
            kinds: a.kinds,
            start: a.start,
            end: a.end,
            props: BTreeMap::new(),
        };
        self.commit(
            &mut st,
            JournalLine {
                rev,
                href: name.to_string(),
                meta: Some(meta.clone()),
                from: None,
            },
            true,
        )?;
        Ok((meta, created))
    }

    /// Sets (`Some`) or removes (`None`) dead properties of an item; the
    /// item gets a new revision (and so a new ETag) like any change.
    pub fn set_item_props(
        &self,
        name: &str,
        changes: &[(String, Option<String>)],
    ) -> Result<ItemMeta> {
        check_name(name)?;
        let mut st = self.writable()?;
        let mut meta = st.snap.items.get(name).cloned().ok_or(Error::NotFound)?;
        for (k, v) in changes {
            match v {
                Some(v) => meta.props.insert(k.clone(), v.clone()),
                None => meta.props.remove(k),
            };
        }
        meta.rev = st.snap.rev + 1;
        self.commit(
            &mut st,
            JournalLine {
                rev: meta.rev,
                href: name.to_string(),
                meta: Some(meta.clone()),
                from: None,
            },
            false,
        )?;
        Ok(meta)
    }

    /// Renames an item within this collection (a WebDAV MOVE), under one
    /// lock so the UID never exists twice. `overwrite` allows replacing `to`.
    ///
    /// Crash-safe like every item change (see `Collection::commit`): the item
    /// is staged as a hard link, and one journal record both deletes `from`
    /// and creates `to`, so a crash at any point leaves the item under
    /// exactly one of the two names.
    pub fn rename_item(&self, from: &str, to: &str, overwrite: bool) -> Result<(ItemMeta, bool)> {
        check_name(from)?;
        check_name(to)?;
        let mut st = self.writable()?;
        let mut meta = st.snap.items.get(from).cloned().ok_or(Error::NotFound)?;
        let existed = st.snap.items.contains_key(to);
        if existed && !overwrite {
            return Err(Error::PreconditionFailed);
        }
        if from == to {
            return Ok((meta, false));
        }
        let rev = st.snap.rev + 1;
        let (src, stage) = (self.dir.join(from), stage_path(&self.dir, rev));
        remove_if_there(&stage).map_err(io_err(&stage))?;
        match fs::hard_link(&src, &stage) {
            Ok(()) => step().map_err(|e| {
                let _ = fs::remove_file(&stage);
                Error::Io(stage.clone(), e)
            })?,
            Err(_) => {
                // No hard links here (some filesystems): a copy does as well.
                let bytes = fs::read(&src).map_err(io_err(&src))?;
                stage_bytes(&stage, &bytes)?;
            }
        }
        meta.rev = rev;
        self.commit(
            &mut st,
            JournalLine {
                rev,
                href: to.to_string(),
                meta: Some(meta.clone()),
                from: Some(from.to_string()),
            },
            true,
        )?;
        Ok((meta, !existed))
    }

    /// Deletes an item after checking `cond`.
    pub fn delete(&self, name: &str, cond: &Conditions) -> Result<()> {
        check_name(name)?;
        let mut st = self.writable()?;
        let current = st.snap.items.get(name).ok_or(Error::NotFound)?;
        cond.check(Some(current))?;
        let rev = st.snap.rev + 1;
        self.commit(
            &mut st,
            JournalLine {
                rev,
                href: name.to_string(),
                meta: None,
                from: None,
            },
            false,
        )
    }

    /// Makes one item change, crash-safe (#19), in three steps:
    ///
    /// 1. **stage** (the caller): the new bytes are written and fsynced to
    ///    `.Outpost.stage-<rev>` (`staged`), invisible to readers;
    /// 2. **commit**: the folder is fsynced (the stage, and the previous
    ///    change's files, are durable), then `line` is appended to the
    ///    journal and fdatasynced: from here on the change has happened;
    /// 3. **publish**: the stage is renamed over the item, and a deleted or
    ///    moved-away item file is removed ([`publish`]).
    ///
    /// A crash before the commit leaves a stage no record names, removed on
    /// open; a crash after it leaves the journal ending with this record,
    /// and opening the collection publishes it again (publishing twice does
    /// nothing more). Only the last record can be unpublished: the next
    /// commit fsyncs the folder first.
    fn commit(&self, st: &mut State, line: JournalLine, staged: bool) -> Result<()> {
        let stage = stage_path(&self.dir, line.rev);
        let abandon = || {
            if staged {
                let _ = fs::remove_file(&stage);
            }
        };
        // A stage left by an earlier change that failed before its commit
        // has this revision too: it must not be published with this record.
        if !staged {
            match fs::remove_file(&stage) {
                Ok(()) => st.dir_dirty = true,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::Io(stage, e)),
            }
        }
        if staged || st.dir_dirty {
            if let Err(e) = step()
                .map_err(io_err(&self.dir))
                .and_then(|()| sync_dir(&self.dir))
            {
                abandon();
                return Err(e);
            }
            st.dir_dirty = false;
        }
        match self.append_journal(st, &line) {
            Ok(()) => {}
            Err(JournalError::NotWritten(e)) => {
                abandon();
                return Err(e);
            }
            Err(JournalError::Unknown(e)) => {
                // The record may be on disk or not: only a reopen, which
                // goes by the journal, can tell.
                st.poisoned = true;
                return Err(e);
            }
        }
        apply(&mut st.snap, line.clone());
        st.journal_lines += 1;
        st.dir_dirty = true;
        if let Err(e) = publish(&self.dir, &line) {
            // Committed but not published: the reopen publishes it.
            st.poisoned = true;
            return Err(e);
        }
        self.maybe_compact(st)
    }

    /// Appends one record durably at the end of the last acknowledged one.
    fn append_journal(
        &self,
        st: &mut State,
        line: &JournalLine,
    ) -> std::result::Result<(), JournalError> {
        let path = self.dir.join(JOURNAL_FILE);
        let not_written = |e: io::Error| JournalError::NotWritten(Error::Io(path.clone(), e));
        let mut text = serde_json::to_string(line).map_err(|e| not_written(e.into()))?;
        text.push('\n');
        let mut f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(not_written)?;
        let start = st.journal_len;
        let r = (|| {
            // Bytes past the last acknowledged record are the rest of an
            // append that failed: write over them, never after them (#18).
            if f.metadata()?.len() != start {
                f.set_len(start)?;
            }
            f.seek(SeekFrom::Start(start))?;
            #[cfg(test)]
            if let Some(fault) = fault::hit() {
                // Half-way through the write: a torn record.
                f.write_all(&text.as_bytes()[..text.len() / 2])?;
                match fault {
                    fault::Fault::Crash => panic!("injected crash mid-append"),
                    fault::Fault::Fail => return Err(io::Error::other("injected torn write")),
                }
            }
            f.write_all(text.as_bytes())?;
            step()?;
            f.sync_data()?;
            step()
        })();
        if let Err(e) = r {
            // Cut the record off again, durably, or say we cannot tell.
            return Err(match f.set_len(start).and_then(|()| f.sync_data()) {
                Ok(()) => not_written(e),
                Err(_) => JournalError::Unknown(Error::Io(path, e)),
            });
        }
        if start == 0 {
            // A new journal file: its directory entry must be durable too.
            sync_dir(&self.dir).map_err(JournalError::Unknown)?;
        }
        st.journal_len += text.len() as u64;
        Ok(())
    }

    /// Compacts when the journal outgrows the snapshot: keeps open() fast
    /// and the journal bounded, at the cost of one snapshot write per
    /// `items + 256` changes. A failure here loses nothing (the journal
    /// stays, and replays onto the old snapshot or the new one alike), so
    /// it does not fail the change that was just committed.
    fn maybe_compact(&self, st: &mut State) -> Result<()> {
        if st.journal_lines <= st.snap.items.len() + 256 {
            return Ok(());
        }
        if save_snapshot(&self.dir, &st.snap).is_err() {
            return Ok(());
        }
        // write_atomic fsynced the folder: the published files are durable.
        st.dir_dirty = false;
        if remove_if_there(&self.dir.join(JOURNAL_FILE)).is_ok() {
            st.journal_lines = 0;
            st.journal_len = 0;
            st.dir_dirty = true;
        }
        Ok(())
    }

    /// What changed after revision `since` (RFC 6578 §3.2); `None` means
    /// an initial sync (everything present).
    pub fn changes_since(&self, since: Option<u64>) -> Result<Changes> {
        let st = self.read_state();
        let snap = &st.snap;
        match since {
            None => Ok(Changes {
                rev: snap.rev,
                changed: snap
                    .items
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
                deleted: Vec::new(),
            }),
            Some(t) if t < snap.floor || t > snap.rev => Err(Error::InvalidSyncToken),
            Some(t) => Ok(Changes {
                rev: snap.rev,
                changed: snap
                    .items
                    .iter()
                    .filter(|(_, m)| m.rev > t)
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
                deleted: snap
                    .tombstones
                    .iter()
                    .filter(|(_, r)| **r > t)
                    .map(|(k, _)| k.clone())
                    .collect(),
            }),
        }
    }
}

/// Component bits named in a `supported-calendar-component-set` value.
pub fn kinds_of(list: &str) -> u8 {
    list.split(',').fold(0, |acc, c| {
        acc | match c.trim().to_ascii_uppercase().as_str() {
            "VEVENT" => item::VEVENT,
            "VTODO" => item::VTODO,
            "VJOURNAL" => item::VJOURNAL,
            "VFREEBUSY" => item::VFREEBUSY,
            _ => 0,
        }
    })
}

fn apply(snap: &mut Snapshot, line: JournalLine) {
    snap.rev = snap.rev.max(line.rev);
    if let Some(from) = line.from {
        snap.items.remove(&from);
        snap.tombstones.insert(from, line.rev);
    }
    match line.meta {
        Some(meta) => {
            snap.tombstones.remove(&line.href);
            snap.items.insert(line.href, meta);
        }
        None => {
            snap.items.remove(&line.href);
            snap.tombstones.insert(line.href, line.rev);
        }
    }
}

/// How an append to the journal failed.
enum JournalError {
    /// The record is not in the journal.
    NotWritten(Error),
    /// The record may be in the journal or not.
    Unknown(Error),
}

/// Path of the stage of the change with revision `rev`.
fn stage_path(dir: &Path, rev: u64) -> PathBuf {
    dir.join(format!("{STAGE_PREFIX}{rev}"))
}

/// Writes `bytes` to the stage `path` (created or truncated) and fsyncs it;
/// on failure removes what it wrote.
fn stage_bytes(path: &Path, bytes: &[u8]) -> Result<()> {
    let r = (|| {
        let mut f = File::create(path)?;
        step()?;
        f.write_all(bytes)?;
        f.sync_all()?;
        step()
    })();
    r.map_err(|e| {
        let _ = fs::remove_file(path);
        Error::Io(path.to_path_buf(), e)
    })
}

/// Removes `path`; a missing file is fine.
fn remove_if_there(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Puts the files in line with a committed record (step 3 of
/// [`Collection::commit`]): its stage, if still there, becomes the item,
/// and a deleted or moved-away item's file is removed. Doing it again does
/// nothing more. Returns whether anything changed.
fn publish(dir: &Path, line: &JournalLine) -> Result<bool> {
    let mut changed = false;
    if line.meta.is_some() {
        let stage = stage_path(dir, line.rev);
        match fs::rename(&stage, dir.join(&line.href)) {
            Ok(()) => changed = true,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::Io(stage, e)),
        }
        step().map_err(io_err(dir))?;
    }
    let gone = match (&line.meta, &line.from) {
        (None, _) => Some(&line.href),
        (Some(_), Some(from)) if *from != line.href => Some(from),
        _ => None,
    };
    if let Some(gone) = gone {
        let path = dir.join(gone);
        match fs::remove_file(&path) {
            Ok(()) => changed = true,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::Io(path, e)),
        }
        step().map_err(io_err(dir))?;
    }
    Ok(changed)
}

/// Recovery on open: publishes the journal's last record again (a crash
/// may have come between its commit and its publish; only the last one can
/// be unpublished) and removes every stage no record names (changes that
/// never committed).
fn recover(dir: &Path, last: Option<&JournalLine>) -> Result<()> {
    let mut changed = false;
    for e in fs::read_dir(dir).map_err(io_err(dir))? {
        let e = e.map_err(io_err(dir))?;
        let name = e.file_name();
        let Some(rev) = name.to_str().and_then(|n| n.strip_prefix(STAGE_PREFIX)) else {
            continue;
        };
        if last.is_some_and(|l| rev.parse() == Ok(l.rev)) {
            continue;
        }
        remove_if_there(&e.path()).map_err(io_err(&e.path()))?;
        changed = true;
    }
    if let Some(last) = last {
        changed |= publish(dir, last)?;
    }
    if changed {
        sync_dir(dir)?;
    }
    Ok(())
}

fn save_snapshot(dir: &Path, snap: &Snapshot) -> Result<()> {
    let path = dir.join(INDEX_FILE);
    let json = serde_json::to_vec(snap).map_err(|e| Error::Io(path.clone(), e.into()))?;
    write_atomic(&path, &json).map_err(io_err(&path))
}

/// The index as loaded: the snapshot with the journal applied, and how many
/// journal records (and bytes) it took.
struct Loaded {
    snap: Snapshot,
    lines: usize,
    len: u64,
}

/// Loads the index (snapshot + journal), or rebuilds it from the item files.
///
/// Leaves the journal ending with its last whole record (see
/// [`read_journal`]), so the next append starts on a line of its own.
fn load_index(dir: &Path, props: &Props) -> Result<Loaded> {
    let jpath = dir.join(JOURNAL_FILE);
    let bytes = match fs::read(&jpath) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(Error::Io(jpath, e)),
    };
    let read = read_journal(&bytes);
    if !read.damaged && read.good_len < bytes.len() as u64 {
        // A torn tail (crash mid-append, never acknowledged): cut it off
        // and make the cut durable before anything is appended after it.
        let f = OpenOptions::new()
            .write(true)
            .open(&jpath)
            .map_err(io_err(&jpath))?;
        f.set_len(read.good_len)
            .and_then(|()| f.sync_all())
            .map_err(io_err(&jpath))?;
    }
    recover(dir, read.records.last())?;
    let path = dir.join(INDEX_FILE);
    let snap: Option<Snapshot> = fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    let Some(mut snap) = snap else {
        let snap = rebuild_index(dir, props)?;
        save_snapshot(dir, &snap)?;
        let _ = fs::remove_file(&jpath);
        return Ok(Loaded {
            snap,
            lines: 0,
            len: 0,
        });
    };
    let mut lines = 0;
    for mut j in read.records {
        if j.meta.is_some() && !dir.join(&j.href).is_file() {
            // The item file is gone (removed behind our back): nothing to
            // index, but a move's source is gone all the same.
            if let Some(from) = j.from.take() {
                apply(
                    &mut snap,
                    JournalLine {
                        rev: j.rev,
                        href: from,
                        meta: None,
                        from: None,
                    },
                );
            }
            continue;
        }
        apply(&mut snap, j);
        lines += 1;
    }
    if read.damaged {
        // A damaged line with whole records after it (written by a version
        // that appended after a torn line): cutting the journal would lose
        // those, so fold everything readable into a fresh snapshot.
        save_snapshot(dir, &snap)?;
        remove_durably(dir, &jpath)?;
        return Ok(Loaded {
            snap,
            lines: 0,
            len: 0,
        });
    }
    Ok(Loaded {
        snap,
        lines,
        len: read.good_len,
    })
}

/// What [`read_journal`] found.
struct JournalRead {
    /// Whole records, in order.
    records: Vec<JournalLine>,
    /// Length of the journal up to the end of its last whole line.
    good_len: u64,
    /// Whether a damaged line sits before `good_len` (not just a torn tail).
    damaged: bool,
}

/// Splits the journal into records. A record is one JSON line ended by
/// `\n`; each append writes one record and its newline with one `write`,
/// and is acknowledged only after `fdatasync`, so anything after the last
/// newline is the torn rest of an append that was never acknowledged.
///
/// A damaged line followed by whole lines can only come from versions
/// before #18, which appended after a torn line without cutting it: the
/// record glued onto the torn bytes is recovered (it was acknowledged).
fn read_journal(bytes: &[u8]) -> JournalRead {
    let mut out = JournalRead {
        records: Vec::new(),
        good_len: 0,
        damaged: false,
    };
    let mut pending_damage = false;
    let mut pos = 0;
    while let Some(nl) = bytes[pos..].iter().position(|&b| b == b'\n') {
        let line = &bytes[pos..pos + nl];
        pos += nl + 1;
        match serde_json::from_slice::<JournalLine>(line) {
            Ok(j) => {
                out.records.push(j);
                out.good_len = pos as u64;
                out.damaged |= pending_damage;
            }
            Err(_) => {
                if let Some(j) = glued_record(line) {
                    out.records.push(j);
                    out.good_len = pos as u64;
                    out.damaged = true;
                } else {
                    pending_damage = true;
                }
            }
        }
    }
    out
}

/// The whole record at the end of a damaged line, if there is one: records
/// start with `{"rev":` (serde writes fields in order), which cannot occur
/// inside a JSON string (its quotes would be escaped).
fn glued_record(line: &[u8]) -> Option<JournalLine> {
    const START: &[u8] = b"{\"rev\":";
    (1..line.len().saturating_sub(START.len()))
        .filter(|&i| line[i..].starts_with(START))
        .find_map(|i| serde_json::from_slice(&line[i..]).ok())
}

/// Removes `path` and fsyncs its folder (a missing file is fine).
fn remove_durably(dir: &Path, path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::Io(path.to_path_buf(), e)),
    }
    sync_dir(dir)
}

/// fsyncs a folder, so the renames, links and removals in it are durable.
fn sync_dir(dir: &Path) -> Result<()> {
    outpost_durable::sync_dir(dir).map_err(io_err(dir))
}

/// Rebuilds the index by analysing every item file (used when the index is
/// missing, e.g. a collection copied in from Radicale).
fn rebuild_index(dir: &Path, props: &Props) -> Result<Snapshot> {
    let rev = now_millis();
    let mut snap = Snapshot {
        rev,
        floor: rev,
        ..Snapshot::default()
    };
    let is_book = props.get(TAG).map(String::as_str) == Some(TAG_ADDRESSBOOK);
    let mut names: Vec<String> = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        if check_name(&name).is_ok() && entry.file_type().map(|t| t.is_file()).unwrap_or(false) {
            names.push(name);
        }
    }
    names.sort();
    for name in names {
        let p = dir.join(&name);
        let bytes = fs::read(&p).map_err(io_err(&p))?;
        let a = if is_book {
            item::analyze_vcard(&bytes)
        } else {
            item::analyze_calendar(&bytes)
        };
        // Unparseable files are kept on disk but not served.
        let Ok(a) = a else { continue };
        snap.items.insert(
            name,
            ItemMeta {
                rev,
                size: bytes.len() as u64,
                uid: a.uid,
                kinds: a.kinds,
                start: a.start,
                end: a.end,
                props: BTreeMap::new(),
            },
        );
    }
    Ok(snap)
}

/// The collections root: homes of every user, with a cache of open collections.
#[derive(Debug)]
pub struct Store {
    root: PathBuf,
    open: Mutex<HashMap<(String, String), Arc<Collection>>>,
}

impl Store {
    /// Opens (and creates if needed) the collections root.
    pub fn open(root: impl Into<PathBuf>) -> Result<Store> {
        let root = root.into();
        fs::create_dir_all(&root).map_err(io_err(&root))?;
        Ok(Store {
            root,
            open: Mutex::new(HashMap::new()),
        })
    }

    /// The collections root folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The home folder of `user`.
    pub fn home(&self, user: &str) -> Result<PathBuf> {
        check_name(user)?;
        Ok(self.root.join(user))
    }

    /// Names of `user`'s collections, sorted (empty if the home does not exist).
    pub fn list(&self, user: &str) -> Result<Vec<String>> {
        let home = self.home(user)?;
        if !home.exists() {
            return Ok(Vec::new());
        }
        subdir_names(&home)
    }

    /// Users that have a home, sorted.
    pub fn users(&self) -> Result<Vec<String>> {
        subdir_names(&self.root)
    }

    /// Opens an existing collection (cached).
    pub fn collection(&self, user: &str, name: &str) -> Result<Arc<Collection>> {
        check_name(user)?;
        check_path(name)?;
        let key = (user.to_string(), name.to_string());
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = open.get(&key)
            && !c.is_poisoned()
        {
            return Ok(c.clone());
        }
        // Not open yet, or a failed write poisoned it: open it from disk,
        // which finishes or drops the change that failed.
        let c = Arc::new(Collection::open(self.root.join(user).join(name))?);
        open.insert(key, c.clone());
        Ok(c)
    }

    /// Creates a collection with `props` (`tag` decides its type). A nested
    /// path (`a/b`) needs its parent collection to exist ([`Error::NotFound`]).
    pub fn create(&self, user: &str, name: &str, props: &Props) -> Result<Arc<Collection>> {
        check_name(user)?;
        check_path(name)?;
        let mut home = self.root.join(user);
        fs::create_dir_all(&home).map_err(io_err(&home))?;
        let dir = home.join(name);
        if let Some((parent, _)) = name.rsplit_once('/') {
            home = home.join(parent);
            if !home.is_dir() {
                return Err(Error::NotFound);
            }
        }
        match fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Err(Error::Exists),
            Err(e) => return Err(Error::Io(dir, e)),
        }
        let ppath = dir.join(PROPS_FILE);
        let json =
            serde_json::to_vec_pretty(props).map_err(|e| Error::Io(ppath.clone(), e.into()))?;
        write_atomic(&ppath, &json).map_err(io_err(&ppath))?;
        let rev = now_millis();
        save_snapshot(
            &dir,
            &Snapshot {
                rev,
                floor: rev,
                ..Snapshot::default()
            },
        )?;
        outpost_durable::sync_dir(&home).map_err(io_err(&home))?;
        self.forget(user, name);
        self.collection(user, name)
    }

    /// Drops cached collections at `path` and below (after a rename/delete).
    fn forget(&self, user: &str, path: &str) {
        let below = format!("{path}/");
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.retain(|(u, n), _| !(u == user && (n == path || n.starts_with(&below))));
    }

    /// Names of the collections nested directly in collection `path`, sorted.
    pub fn children(&self, user: &str, path: &str) -> Result<Vec<String>> {
        check_name(user)?;
        check_path(path)?;
        subdir_names(&self.root.join(user).join(path))
    }

    /// Renames (moves) a collection within one home (paths may be nested;
    /// the destination's parent must exist).
    pub fn rename(&self, user: &str, from: &str, to: &str) -> Result<()> {
        check_name(user)?;
        check_path(from)?;
        check_path(to)?;
        let home = self.root.join(user);
        if !home.join(from).is_dir() {
            return Err(Error::NotFound);
        }
        if home.join(to).exists() {
            return Err(Error::Exists);
        }
        let parent = home
            .join(to)
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or(home.clone());
        if !parent.is_dir() {
            return Err(Error::NotFound);
        }
        fs::rename(home.join(from), home.join(to)).map_err(io_err(&home))?;
        outpost_durable::sync_dir(&parent).map_err(io_err(&parent))?;
        self.forget(user, from);
        self.forget(user, to);
        Ok(())
    }

    /// Deletes a collection and everything in it (nested collections too).
    pub fn delete(&self, user: &str, name: &str) -> Result<()> {
        check_name(user)?;
        check_path(name)?;
        let dir = self.root.join(user).join(name);
        if !dir.is_dir() {
            return Err(Error::NotFound);
        }
        // Rename first so a crash mid-delete never leaves a half collection
        // visible under its name.
        let trash = self.root.join(user).join(format!(
            ".deleted-{}-{}",
            name.replace('/', "_"),
            now_millis()
        ));
        fs::rename(&dir, &trash).map_err(io_err(&dir))?;
        // The rename is the delete: on disk before the client is answered,
        // or an acknowledged DELETE comes back after a power cut.
        let home = self.root.join(user);
        let parent = dir.parent().map(Path::to_path_buf).unwrap_or(home.clone());
        outpost_durable::sync_dir(&parent).map_err(io_err(&parent))?;
        if parent != home {
            outpost_durable::sync_dir(&home).map_err(io_err(&home))?;
        }
        self.forget(user, name);
        fs::remove_dir_all(&trash).map_err(io_err(&trash))
    }
}

/// Default collection names created for every user.
pub const DEFAULT_CALENDAR: &str = "calendar";
/// Default task list name.
pub const DEFAULT_TASKS: &str = "tasks";
/// Default address book name.
pub const DEFAULT_CONTACTS: &str = "contacts";

/// Properties of a new calendar with the given display name and components.
pub fn calendar_props(display: &str, components: &str) -> Props {
    let mut p = Props::new();
    p.insert(TAG.into(), TAG_CALENDAR.into());
    p.insert("D:displayname".into(), display.into());
    p.insert(SUPPORTED_COMPONENTS.into(), components.into());
    p
}

/// Properties of a new address book with the given display name.
pub fn addressbook_props(display: &str) -> Props {
    let mut p = Props::new();
    p.insert(TAG.into(), TAG_ADDRESSBOOK.into());
    p.insert("D:displayname".into(), display.into());
    p
}

/// Creates `user`'s default calendar (`calendar`, VEVENT), task list
/// (`tasks`, VTODO) and address book (`contacts`) under `collections_root`.
/// Idempotent: existing collections are left as they are.
pub fn create_default_collections(collections_root: &Path, user: &str) -> Result<()> {
    let store = Store::open(collections_root)?;
    let defaults = [
        (DEFAULT_CALENDAR, calendar_props("Calendar", "VEVENT")),
        (DEFAULT_TASKS, calendar_props("Tasks", "VTODO")),
        (DEFAULT_CONTACTS, addressbook_props("Contacts")),
    ];
    for (name, props) in defaults {
        match store.create(user, name, &props) {
            Ok(_) | Err(Error::Exists) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
