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
//!     <name>.ics | <name>.vcf  one item per file, the bytes the client PUT
//! ```
//!
//! **Invariant:** every file is replaced atomically (write to a temporary
//! file, fsync, rename over the target, fsync the folder), so a crash leaves
//! either the old or the new version, never a torn one. The index journal is
//! appended and fsynced after the item file is in place; on open, a journal
//! line whose item file is missing is ignored, and the index is rebuilt from
//! the item files if it is missing or unreadable.
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
/// fsync, rename, fsync of the folder (so the rename itself is durable).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("item");
    let tmp = dir.join(format!(".tmp-{}-{name}", std::process::id()));
    {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    File::open(dir)?.sync_all()
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

#[derive(Debug, Serialize, Deserialize)]
struct JournalLine {
    rev: u64,
    href: String,
    meta: Option<ItemMeta>,
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

    fn write_state(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
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
        let mut st = self.write_state();
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
        let mut st = self.write_state();
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
        let path = self.dir.join(name);
        write_atomic(&path, bytes).map_err(io_err(&path))?;
        let rev = st.snap.rev + 1;
        let meta = ItemMeta {
            rev,
            size: bytes.len() as u64,
            uid: a.uid,
            kinds: a.kinds,
            start: a.start,
            end: a.end,
            props: BTreeMap::new(),
        };
        self.journal(
            &mut st,
            JournalLine {
                rev,
                href: name.to_string(),
                meta: Some(meta.clone()),
            },
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
        let mut st = self.write_state();
        let mut meta = st.snap.items.get(name).cloned().ok_or(Error::NotFound)?;
        for (k, v) in changes {
            match v {
                Some(v) => meta.props.insert(k.clone(), v.clone()),
                None => meta.props.remove(k),
            };
        }
        meta.rev = st.snap.rev + 1;
        self.journal(
            &mut st,
            JournalLine {
                rev: meta.rev,
                href: name.to_string(),
                meta: Some(meta.clone()),
            },
        )?;
        Ok(meta)
    }

    /// Renames an item within this collection (a WebDAV MOVE), under one
    /// lock so the UID never exists twice. `overwrite` allows replacing `to`.
    pub fn rename_item(&self, from: &str, to: &str, overwrite: bool) -> Result<(ItemMeta, bool)> {
        check_name(from)?;
        check_name(to)?;
        let mut st = self.write_state();
        let mut meta = st.snap.items.get(from).cloned().ok_or(Error::NotFound)?;
        let existed = st.snap.items.contains_key(to);
        if existed && !overwrite {
            return Err(Error::PreconditionFailed);
        }
        let (src, dst) = (self.dir.join(from), self.dir.join(to));
        fs::rename(&src, &dst).map_err(io_err(&src))?;
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err(&self.dir))?;
        let rev = st.snap.rev + 1;
        self.journal(
            &mut st,
            JournalLine {
                rev,
                href: from.to_string(),
                meta: None,
            },
        )?;
        meta.rev = rev + 1;
        self.journal(
            &mut st,
            JournalLine {
                rev: rev + 1,
                href: to.to_string(),
                meta: Some(meta.clone()),
            },
        )?;
        Ok((meta, !existed))
    }

    /// Deletes an item after checking `cond`.
    pub fn delete(&self, name: &str, cond: &Conditions) -> Result<()> {
        check_name(name)?;
        let mut st = self.write_state();
        let current = st.snap.items.get(name).ok_or(Error::NotFound)?;
        cond.check(Some(current))?;
        let path = self.dir.join(name);
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::Io(path, e)),
        }
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err(&self.dir))?;
        let rev = st.snap.rev + 1;
        self.journal(
            &mut st,
            JournalLine {
                rev,
                href: name.to_string(),
                meta: None,
            },
        )
    }

    fn journal(&self, st: &mut State, line: JournalLine) -> Result<()> {
        self.append_journal(st, &line)?;
        apply(&mut st.snap, line);
        st.journal_lines += 1;
        self.maybe_compact(st)
    }

    /// Appends one record durably at the end of the last acknowledged one.
    fn append_journal(&self, st: &mut State, line: &JournalLine) -> Result<()> {
        let path = self.dir.join(JOURNAL_FILE);
        let mut text =
            serde_json::to_string(line).map_err(|e| Error::Io(path.clone(), e.into()))?;
        text.push('\n');
        let mut f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io_err(&path))?;
        let start = st.journal_len;
        let r = (|| {
            // Bytes past the last acknowledged record are the rest of an
            // append that failed: write over them, never after them (#18).
            if f.metadata()?.len() != start {
                f.set_len(start)?;
            }
            f.seek(SeekFrom::Start(start))?;
            f.write_all(text.as_bytes())?;
            f.sync_data()
        })();
        if let Err(e) = r {
            let _ = f.set_len(start);
            return Err(Error::Io(path, e));
        }
        if start == 0 {
            // A new journal file: its directory entry must be durable too.
            sync_dir(&self.dir)?;
        }
        st.journal_len += text.len() as u64;
        Ok(())
    }

    /// Compacts when the journal outgrows the snapshot: keeps open() fast
    /// and the journal bounded, at the cost of one snapshot write per
    /// `items + 256` changes.
    fn maybe_compact(&self, st: &mut State) -> Result<()> {
        if st.journal_lines > st.snap.items.len() + 256 {
            save_snapshot(&self.dir, &st.snap)?;
            let path = self.dir.join(JOURNAL_FILE);
            remove_durably(&self.dir, &path)?;
            st.journal_lines = 0;
            st.journal_len = 0;
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
    let path = dir.join(INDEX_FILE);
    let snap: Option<Snapshot> = fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    let Some(mut snap) = snap else {
        let snap = rebuild_index(dir, props)?;
        save_snapshot(dir, &snap)?;
        let _ = fs::remove_file(dir.join(JOURNAL_FILE));
        return Ok(Loaded {
            snap,
            lines: 0,
            len: 0,
        });
    };
    let jpath = dir.join(JOURNAL_FILE);
    let bytes = match fs::read(&jpath) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(Error::Io(jpath, e)),
    };
    let read = read_journal(&bytes);
    let mut lines = 0;
    for j in read.records {
        if j.meta.is_some() && !dir.join(&j.href).is_file() {
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
    if read.good_len < bytes.len() as u64 {
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
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
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
        if let Some(c) = open.get(&key) {
            return Ok(c.clone());
        }
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
        File::open(&home)
            .and_then(|d| d.sync_all())
            .map_err(io_err(&home))?;
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
        File::open(&parent)
            .and_then(|d| d.sync_all())
            .map_err(io_err(&parent))?;
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
