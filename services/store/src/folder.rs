//! One Maildir folder and its index file `outpost-index`, which gives every
//! message a stable UID, its flags (system flags and keywords) and a MODSEQ
//! (RFC 7162), and keeps expunge tombstones for QRESYNC's VANISHED.
//!
//! Index format (text, one record per line, rewritten atomically via
//! `outpost-index.tmp` + rename, so a reader never sees half a file):
//!
//! ```text
//! OUTPOST-INDEX 1 <uidvalidity> <uidnext> <highestmodseq> <vanished-floor> <cur-mtime-ns> <new-mtime-ns>
//! M <uid> <modseq> <size> <internaldate-unix> <flags> <basename>
//! X <uid> <modseq>
//! ```
//!
//! `<flags>` is the Maildir letters (`DFRST`, `-` for none) optionally
//! followed by `+kw1,kw2` for IMAP keywords. `<basename>` is the Maildir
//! name without the `:2,` info part (the unique, stable key). `X` lines are
//! tombstones of expunged UIDs; only the newest [`MAX_TOMBSTONES`] are kept
//! and `<vanished-floor>` is the highest MODSEQ dropped, below which the
//! caller must assume any missing UID may have vanished.
//!
//! **Invariant:** every mutation happens under an exclusive `flock`-style
//! lock on `outpost-index.lock` (so imapd sessions, POP3 and tools serialize)
//! and starts by syncing with the directory, so messages delivered into
//! `new/` or removed behind our back are noticed. The directory mtimes in
//! the header let an unchanged folder skip the `readdir`. If the index is
//! missing or unreadable it is rebuilt from the Maildir with a new
//! UIDVALIDITY (RFC 3501 §2.3.1.1: clients then resynchronise).

use crate::{Result, StoreError, fsops, io, write_durable, write_durable_as};
use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// How many expunge tombstones the index keeps.
pub const MAX_TOMBSTONES: usize = 10_000;

const INDEX: &str = "outpost-index";
const INDEX_TMP: &str = "outpost-index.tmp";
const LOCK: &str = "outpost-index.lock";

/// Longest keyword in bytes.
pub const MAX_KEYWORD_LEN: usize = 128;

/// Message flags: the five IMAP system flags plus keywords.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Flags {
    /// Bit set of `SEEN`, `ANSWERED`, …
    pub bits: u8,
    /// Keywords (`$Forwarded`, `$Junk`, …), sorted, no duplicates.
    pub keywords: Vec<String>,
}

impl Flags {
    /// `\Seen`.
    pub const SEEN: u8 = 1;
    /// `\Answered`.
    pub const ANSWERED: u8 = 2;
    /// `\Flagged`.
    pub const FLAGGED: u8 = 4;
    /// `\Deleted`.
    pub const DELETED: u8 = 8;
    /// `\Draft`.
    pub const DRAFT: u8 = 16;

    /// Maildir info letters, in the required ASCII order.
    const LETTERS: [(char, u8); 5] = [
        ('D', Self::DRAFT),
        ('F', Self::FLAGGED),
        ('R', Self::ANSWERED),
        ('S', Self::SEEN),
        ('T', Self::DELETED),
    ];

    /// Whether a system flag bit is set.
    pub fn has(&self, bit: u8) -> bool {
        self.bits & bit != 0
    }

    /// Maildir letters for the system flags (`""` if none).
    pub fn letters(&self) -> String {
        Self::LETTERS
            .iter()
            .filter(|(_, b)| self.has(*b))
            .map(|(c, _)| *c)
            .collect()
    }

    /// System flag bits from Maildir letters (unknown letters ignored).
    pub fn bits_from_letters(s: &str) -> u8 {
        s.chars()
            .filter_map(|c| Self::LETTERS.iter().find(|(l, _)| *l == c).map(|(_, b)| *b))
            .fold(0, |a, b| a | b)
    }

    /// Whether `k` can be stored as a keyword: an IMAP atom (RFC 9051
    /// `flag-keyword`: no space, control, `(){%*"\\]`) of at most
    /// [`MAX_KEYWORD_LEN`] bytes, and no `,` or `+` (the index separates
    /// keywords with them). Checked at the protocol edge (#21) and again
    /// here, so nothing else can put a newline into the index.
    pub fn valid_keyword(k: &str) -> bool {
        !k.is_empty()
            && k.len() <= MAX_KEYWORD_LEN
            && k.bytes()
                .all(|b| b > b' ' && b < 0x7f && !b"(){%*\"\\],+".contains(&b))
    }

    /// Parses an IMAP flag name into self (system flag or keyword).
    /// `\Recent` is session state, not stored, and is ignored here, as
    /// is anything that is not a [valid keyword](Flags::valid_keyword).
    pub fn insert_imap(&mut self, flag: &str) {
        match flag.to_ascii_lowercase().as_str() {
            "\\seen" => self.bits |= Self::SEEN,
            "\\answered" => self.bits |= Self::ANSWERED,
            "\\flagged" => self.bits |= Self::FLAGGED,
            "\\deleted" => self.bits |= Self::DELETED,
            "\\draft" => self.bits |= Self::DRAFT,
            "\\recent" => {}
            _ if flag.starts_with('\\') => {}
            _ if !Self::valid_keyword(flag) => {}
            _ => {
                if !self.keywords.iter().any(|k| k.eq_ignore_ascii_case(flag)) {
                    self.keywords.push(flag.to_string());
                    self.keywords.sort();
                }
            }
        }
    }

    /// IMAP names of the flags, system flags first.
    pub fn imap_names(&self) -> Vec<&str> {
        let mut v = Vec::new();
        for (bit, name) in [
            (Self::SEEN, "\\Seen"),
            (Self::ANSWERED, "\\Answered"),
            (Self::FLAGGED, "\\Flagged"),
            (Self::DELETED, "\\Deleted"),
            (Self::DRAFT, "\\Draft"),
        ] {
            if self.has(bit) {
                v.push(name);
            }
        }
        v.extend(self.keywords.iter().map(String::as_str));
        v
    }

    fn encode(&self) -> String {
        let mut s = self.letters();
        if s.is_empty() {
            s.push('-');
        }
        if !self.keywords.is_empty() {
            s.push('+');
            s.push_str(&self.keywords.join(","));
        }
        s
    }

    fn decode(s: &str) -> Flags {
        let (letters, kws) = s.split_once('+').unwrap_or((s, ""));
        let mut keywords: Vec<String> = kws
            .split(',')
            .filter(|k| !k.is_empty())
            .map(str::to_string)
            .collect();
        keywords.sort();
        keywords.dedup();
        Flags {
            bits: Self::bits_from_letters(letters),
            keywords,
        }
    }

    fn apply(&self, op: StoreFlags, with: &Flags) -> Flags {
        match op {
            StoreFlags::Replace => with.clone(),
            StoreFlags::Add => {
                let mut f = self.clone();
                f.bits |= with.bits;
                for k in &with.keywords {
                    f.insert_imap(k);
                }
                f
            }
            StoreFlags::Remove => {
                let mut f = self.clone();
                f.bits &= !with.bits;
                f.keywords
                    .retain(|k| !with.keywords.iter().any(|w| w.eq_ignore_ascii_case(k)));
                f
            }
        }
    }
}

/// How STORE combines flags (RFC 3501 §6.4.6: `FLAGS`, `+FLAGS`, `-FLAGS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreFlags {
    /// `FLAGS`.
    Replace,
    /// `+FLAGS`.
    Add,
    /// `-FLAGS`.
    Remove,
}

/// What the index knows about one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageMeta {
    /// IMAP UID.
    pub uid: u32,
    /// MODSEQ of the last change (RFC 7162).
    pub modseq: u64,
    /// Size in bytes of the file (RFC822.SIZE).
    pub size: u64,
    /// INTERNALDATE as Unix seconds (the file mtime, as Dovecot uses it).
    pub internal_date: i64,
    /// Flags.
    pub flags: Flags,
    /// Maildir base name (without `:2,` info).
    pub base: String,
}

impl MessageMeta {
    /// File name in `cur/` (base name plus the info part with the flags).
    pub fn file_name(&self) -> String {
        format!("{}:2,{}", self.base, self.flags.letters())
    }
}

/// A consistent view of a folder.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// UIDVALIDITY.
    pub uidvalidity: u32,
    /// UIDNEXT.
    pub uidnext: u32,
    /// HIGHESTMODSEQ.
    pub highest_modseq: u64,
    /// Messages in UID order.
    pub messages: Vec<MessageMeta>,
    /// Expunge tombstones `(uid, modseq)` in MODSEQ order.
    pub expunged: Vec<(u32, u64)>,
    /// Highest MODSEQ of a tombstone already dropped.
    pub vanished_floor: u64,
    cur_mtime: u128,
    new_mtime: u128,
}

impl Snapshot {
    /// Index (0-based sequence number - 1) of a UID.
    pub fn position(&self, uid: u32) -> Option<usize> {
        self.messages.binary_search_by_key(&uid, |m| m.uid).ok()
    }

    /// UIDs expunged after `modseq` (QRESYNC VANISHED (EARLIER), RFC 7162
    /// §3.2.5.1). When tombstones that old were dropped, every UID below
    /// UIDNEXT that no longer exists is reported, which RFC 7162 allows.
    pub fn vanished_since(&self, modseq: u64) -> Vec<u32> {
        if modseq < self.vanished_floor {
            let mut v = Vec::new();
            let mut it = self.messages.iter().map(|m| m.uid).peekable();
            for uid in 1..self.uidnext {
                if it.peek() == Some(&uid) {
                    it.next();
                } else {
                    v.push(uid);
                }
            }
            return v;
        }
        let mut v: Vec<u32> = self
            .expunged
            .iter()
            .filter(|(_, m)| *m > modseq)
            .map(|(u, _)| *u)
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    fn encode(&self) -> String {
        let mut s = String::with_capacity(64 + self.messages.len() * 80);
        s.push_str(&format!(
            "OUTPOST-INDEX 1 {} {} {} {} {} {}\n",
            self.uidvalidity,
            self.uidnext,
            self.highest_modseq,
            self.vanished_floor,
            self.cur_mtime,
            self.new_mtime
        ));
        for m in &self.messages {
            s.push_str(&format!(
                "M {} {} {} {} {} {}\n",
                m.uid,
                m.modseq,
                m.size,
                m.internal_date,
                m.flags.encode(),
                m.base
            ));
        }
        for (u, m) in &self.expunged {
            s.push_str(&format!("X {u} {m}\n"));
        }
        s
    }

    fn decode(text: &str) -> Option<Snapshot> {
        let mut lines = text.lines();
        let head: Vec<&str> = lines.next()?.split(' ').collect();
        if head.len() != 8 || head[0] != "OUTPOST-INDEX" || head[1] != "1" {
            return None;
        }
        let mut s = Snapshot {
            uidvalidity: head[2].parse().ok()?,
            uidnext: head[3].parse().ok()?,
            highest_modseq: head[4].parse().ok()?,
            vanished_floor: head[5].parse().ok()?,
            cur_mtime: head[6].parse().ok()?,
            new_mtime: head[7].parse().ok()?,
            ..Snapshot::default()
        };
        for line in lines {
            if let Some(rest) = line.strip_prefix("M ") {
                let mut p = rest.splitn(6, ' ');
                let m = MessageMeta {
                    uid: p.next()?.parse().ok()?,
                    modseq: p.next()?.parse().ok()?,
                    size: p.next()?.parse().ok()?,
                    internal_date: p.next()?.parse().ok()?,
                    flags: Flags::decode(p.next()?),
                    base: p.next()?.to_string(),
                };
                if m.uid == 0
                    || m.uid >= s.uidnext
                    || s.messages.last().is_some_and(|l| l.uid >= m.uid)
                {
                    return None;
                }
                s.messages.push(m);
            } else if let Some(rest) = line.strip_prefix("X ") {
                let (u, m) = rest.split_once(' ')?;
                s.expunged.push((u.parse().ok()?, m.parse().ok()?));
            } else if !line.is_empty() {
                return None;
            }
        }
        Some(s)
    }
}

/// What a [`Folder::sync`] found.
#[derive(Debug, Clone)]
pub struct SyncChanges {
    /// The folder after the sync.
    pub snapshot: Arc<Snapshot>,
    /// UIDs this sync took from `new/`: `\Recent` for the caller's session
    /// only (RFC 3501 §2.3.2), since the next sync will not see them again.
    pub recent: Vec<u32>,
}

/// One Maildir folder.
#[derive(Debug)]
pub struct Folder {
    dir: PathBuf,
    cache: std::sync::Mutex<Option<(FileStamp, Arc<Snapshot>)>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp(u64, u64, u128);

fn stamp(p: &Path) -> Option<FileStamp> {
    use std::os::unix::fs::MetadataExt;
    let m = fs::metadata(p).ok()?;
    Some(FileStamp(m.ino(), m.len(), mtime_ns(&m)))
}

fn mtime_ns(m: &fs::Metadata) -> u128 {
    m.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos())
}

fn dir_mtime(p: &Path) -> u128 {
    fs::metadata(p).map(|m| mtime_ns(&m)).unwrap_or(0)
}

/// A directory mtime we may rely on to skip a rescan later, or 0. Kernel
/// timestamps are coarse (a jiffy), so an entry added in the same tick as our
/// scan would leave the mtime unchanged: an mtime younger than two seconds is
/// not trusted and forces the next sync to rescan.
fn trusted_mtime(p: &Path) -> u128 {
    let t = dir_mtime(p);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    if now.saturating_sub(t) < 2_000_000_000 {
        0
    } else {
        t
    }
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Splits a Maildir file name into base and flag letters.
fn split_info(name: &str) -> (&str, &str) {
    match name.split_once(":2,") {
        Some((b, f)) => (b, f),
        None => (name.split_once(':').map_or(name, |(b, _)| b), ""),
    }
}

/// Size from Dovecot's `,S=` field, else from the file.
fn size_of(path: &Path, base: &str) -> u64 {
    base.split(',')
        .find_map(|p| p.strip_prefix("S=").and_then(|s| s.parse().ok()))
        .unwrap_or_else(|| fs::metadata(path).map(|m| m.len()).unwrap_or(0))
}

fn file_date(path: &Path) -> i64 {
    fs::metadata(path)
        .ok()
        .and_then(|m| m.modified().ok())
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or_else(now_secs, |d| d.as_secs() as i64)
}

/// The exclusive index lock; released on drop.
struct Lock(fs::File);

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

/// The file whose `flock` is the POP3 maildrop lock.
const MAILDROP_LOCK: &str = "outpost-pop3.lock";

/// Holds a folder's POP3 maildrop lock ([`Folder::lock_maildrop`]); the
/// lock is released when this drops (the file is closed).
#[derive(Debug)]
pub struct MaildropLock {
    _file: fs::File,
}

impl Folder {
    /// A folder at `dir` (a Maildir with `cur/ new/ tmp/`).
    pub fn new(dir: PathBuf) -> Folder {
        Folder {
            dir,
            cache: std::sync::Mutex::new(None),
        }
    }

    /// The folder's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn lock(&self) -> Result<Lock> {
        let p = self.dir.join(LOCK);
        let f = io(
            fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&p),
            || format!("opening {}", p.display()),
        )?;
        io(f.lock(), || format!("locking {}", p.display()))?;
        Ok(Lock(f))
    }

    /// Reads the index, reusing the cached parse when the file is unchanged.
    fn load(&self) -> Option<Snapshot> {
        let p = self.dir.join(INDEX);
        let st = stamp(&p)?;
        if let Some((s, snap)) = self.cache.lock().ok()?.as_ref()
            && *s == st
        {
            return Some((**snap).clone());
        }
        let text = fs::read_to_string(&p).ok()?;
        Snapshot::decode(&text)
    }

    /// Returns the current snapshot if the index is fresh, without locking
    /// or cloning: the fast path of NOOP/IDLE polls.
    fn cached_if_fresh(&self) -> Option<Arc<Snapshot>> {
        let st = stamp(&self.dir.join(INDEX))?;
        let guard = self.cache.lock().ok()?;
        let (s, snap) = guard.as_ref()?;
        if *s != st
            || snap.cur_mtime == 0
            || snap.new_mtime == 0
            || snap.cur_mtime != dir_mtime(&self.dir.join("cur"))
            || snap.new_mtime != dir_mtime(&self.dir.join("new"))
        {
            return None;
        }
        Some(snap.clone())
    }

    fn save(&self, snap: Snapshot) -> Result<Arc<Snapshot>> {
        let tmp = self.dir.join(INDEX_TMP);
        let p = self.dir.join(INDEX);
        let text = snap.encode();
        // fsync, rename, fsync of the folder, all before the caller answers
        // the client: an index lost in a power cut would be rebuilt with a
        // new UIDVALIDITY (every client downloads the folder again over what
        // may be a slow link), and an older index coming back would reuse
        // MODSEQs clients have already seen, hiding changes from QRESYNC.
        io(
            fs::File::create(&tmp)
                .and_then(|mut f| f.write_all(text.as_bytes()).and_then(|()| f.sync_data())),
            || format!("writing {}", tmp.display()),
        )?;
        fsops::index_saved(&self.dir);
        io(fsops::rename(&tmp, &p), || {
            format!("writing {}", p.display())
        })?;
        io(fsops::sync_dir(&self.dir), || {
            format!("syncing {}", self.dir.display())
        })?;
        let snap = Arc::new(snap);
        if let (Some(st), Ok(mut c)) = (stamp(&p), self.cache.lock()) {
            *c = Some((st, snap.clone()));
        }
        Ok(snap)
    }

    /// Brings the index in line with the directory (under the lock held by
    /// the caller). Returns the snapshot, UIDs taken from `new/`, and
    /// whether anything changed.
    fn reconcile(&self) -> Result<(Snapshot, Vec<u32>, bool)> {
        let cur = self.dir.join("cur");
        let new = self.dir.join("new");
        let (mut snap, mut changed) = match self.load() {
            Some(s) => (s, false),
            None => {
                // Lost or corrupt: rebuild. A fresh UIDVALIDITY tells clients
                // their cached UIDs are void (RFC 3501 §2.3.1.1).
                let s = Snapshot {
                    uidvalidity: now_secs().clamp(1, u32::MAX as i64) as u32,
                    uidnext: 1,
                    highest_modseq: 1,
                    ..Snapshot::default()
                };
                (s, true)
            }
        };
        let mut recent = Vec::new();
        // new/ → cur/ with an empty info part; these get UIDs first, after
        // anything already in cur/.
        if changed || snap.new_mtime == 0 || dir_mtime(&new) != snap.new_mtime {
            let mut names: Vec<String> =
                io(fs::read_dir(&new), || format!("listing {}", new.display()))?
                    .flatten()
                    .filter_map(|e| e.file_name().into_string().ok())
                    .filter(|n| !n.starts_with('.'))
                    .collect();
            names.sort_by(|a, b| arrival_key(a).cmp(&arrival_key(b)));
            for n in names {
                let (base, _) = split_info(&n);
                let target = cur.join(format!("{base}:2,"));
                if fsops::rename(&new.join(&n), &target).is_err() {
                    continue; // taken by a concurrent sync of another process
                }
                // Noticed by the cur/ scan below as an unknown file.
                recent.push(base.to_string());
            }
            if !recent.is_empty() {
                // The new UIDs are saved in the index next: the moves must
                // be on disk first.
                for d in [&new, &cur] {
                    io(fsops::sync_dir(d), || format!("syncing {}", d.display()))?;
                }
            }
        }
        let mut recent_uids = Vec::new();
        if changed || !recent.is_empty() || snap.cur_mtime == 0 || dir_mtime(&cur) != snap.cur_mtime
        {
            let mut on_disk: HashMap<String, String> = HashMap::new();
            for e in io(fs::read_dir(&cur), || format!("listing {}", cur.display()))?.flatten() {
                if let Ok(n) = e.file_name().into_string()
                    && !n.starts_with('.')
                {
                    on_disk.insert(split_info(&n).0.to_string(), n);
                }
            }
            let mut kept = Vec::with_capacity(snap.messages.len());
            let mut modseq = snap.highest_modseq;
            for mut m in std::mem::take(&mut snap.messages) {
                match on_disk.remove(&m.base) {
                    Some(name) => {
                        // Another Maildir tool may have changed the flags.
                        let bits = Flags::bits_from_letters(split_info(&name).1);
                        if bits != m.flags.bits {
                            modseq += 1;
                            m.flags.bits = bits;
                            m.modseq = modseq;
                            changed = true;
                        }
                        kept.push(m);
                    }
                    None => {
                        modseq += 1;
                        snap.expunged.push((m.uid, modseq));
                        changed = true;
                    }
                }
            }
            let mut fresh: Vec<(String, String)> = on_disk.into_iter().collect();
            // Maildir names start with the delivery time, which is the order
            // UIDs must follow.
            fresh.sort_by(|a, b| arrival_key(&a.0).cmp(&arrival_key(&b.0)));
            for (base, name) in fresh {
                let path = cur.join(&name);
                modseq += 1;
                let m = MessageMeta {
                    uid: snap.uidnext,
                    modseq,
                    size: size_of(&path, &base),
                    internal_date: file_date(&path),
                    flags: Flags {
                        bits: Flags::bits_from_letters(split_info(&name).1),
                        keywords: vec![],
                    },
                    base,
                };
                if recent.contains(&m.base) {
                    recent_uids.push(m.uid);
                }
                snap.uidnext += 1;
                kept.push(m);
                changed = true;
            }
            snap.messages = kept;
            snap.highest_modseq = modseq;
            if snap.expunged.len() > MAX_TOMBSTONES {
                let drop = snap.expunged.len() - MAX_TOMBSTONES;
                snap.vanished_floor = snap.expunged[drop - 1].1;
                snap.expunged.drain(..drop);
            }
        }
        let (c, n) = (trusted_mtime(&cur), trusted_mtime(&new));
        if (c, n) != (snap.cur_mtime, snap.new_mtime) {
            (snap.cur_mtime, snap.new_mtime) = (c, n);
            changed = true;
        }
        Ok((snap, recent_uids, changed))
    }

    fn mutate<T>(&self, f: impl FnOnce(&mut Snapshot) -> Result<T>) -> Result<(Arc<Snapshot>, T)> {
        let _l = self.lock()?;
        let (mut snap, _, _) = self.reconcile()?;
        let out = f(&mut snap)?;
        snap.cur_mtime = trusted_mtime(&self.dir.join("cur"));
        snap.new_mtime = trusted_mtime(&self.dir.join("new"));
        Ok((self.save(snap)?, out))
    }

    /// Syncs the index with the directory and returns the current view.
    pub fn sync(&self) -> Result<SyncChanges> {
        if let Some(snapshot) = self.cached_if_fresh() {
            return Ok(SyncChanges {
                snapshot,
                recent: Vec::new(),
            });
        }
        let _l = self.lock()?;
        let (snap, recent, changed) = self.reconcile()?;
        let snapshot = if changed {
            self.save(snap)?
        } else {
            let snap = Arc::new(snap);
            if let (Some(st), Ok(mut c)) = (stamp(&self.dir.join(INDEX)), self.cache.lock()) {
                *c = Some((st, snap.clone()));
            }
            snap
        };
        Ok(SyncChanges { snapshot, recent })
    }

    /// Reads a message by its base name, whatever its flags are now,
    /// without taking the index lock (for callers that may hold it).
    fn read_unlocked(&self, m: &MessageMeta) -> Result<Vec<u8>> {
        let prefix = format!("{}:", m.base);
        for sub in ["cur", "new"] {
            let dir = self.dir.join(sub);
            let Ok(rd) = fs::read_dir(&dir) else { continue };
            for e in rd.flatten() {
                let name = e.file_name();
                let Some(n) = name.to_str() else { continue };
                if n == m.base || n.starts_with(&prefix) {
                    match fs::read(e.path()) {
                        Ok(b) => return Ok(b),
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => return Err(StoreError::Io(format!("reading UID {}", m.uid), e)),
                    }
                }
            }
        }
        Err(StoreError::NotFound(format!("UID {}", m.uid)))
    }

    /// Path of a message's file for reading.
    pub fn path_of(&self, m: &MessageMeta) -> PathBuf {
        self.dir.join("cur").join(m.file_name())
    }

    /// The bytes of the message `m` names, read from its file as of the
    /// snapshot `m` came from (no re-sync: a concurrent flag change may
    /// have renamed it, and the caller falls back to [`Folder::read`]).
    /// Sessions read through this, so the file layout stays the store's.
    pub fn read_message(&self, m: &MessageMeta) -> std::io::Result<Vec<u8>> {
        fs::read(self.path_of(m))
    }

    /// Takes the POP3 maildrop lock of this folder (RFC 1939 §8: one
    /// session holds a maildrop): an exclusive, non-blocking `flock` on
    /// `outpost-pop3.lock` in the folder, held until the guard drops.
    /// `Ok(None)` when the lock is not to be had (another session holds
    /// it); an error only when the lock file cannot be opened.
    pub fn lock_maildrop(&self) -> std::io::Result<Option<MaildropLock>> {
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.dir.join(MAILDROP_LOCK))?;
        Ok(file.try_lock().ok().map(|()| MaildropLock { _file: file }))
    }

    /// Reads a message. If a concurrent flag change renamed the file, the
    /// folder is re-synced and the read retried once.
    pub fn read(&self, uid: u32) -> Result<Vec<u8>> {
        for attempt in 0..2 {
            let snap = self.sync()?.snapshot;
            let Some(i) = snap.position(uid) else {
                return Err(StoreError::NotFound(format!("UID {uid}")));
            };
            match fs::read(self.path_of(&snap.messages[i])) {
                Ok(b) => return Ok(b),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && attempt == 0 => {
                    if let Ok(mut c) = self.cache.lock() {
                        *c = None;
                    }
                }
                Err(e) => return Err(StoreError::Io(format!("reading UID {uid}"), e)),
            }
        }
        Err(StoreError::NotFound(format!("UID {uid}")))
    }

    /// Appends a message durably (IMAP APPEND); returns `(uidvalidity, uid)`
    /// for UIDPLUS's APPENDUID.
    pub fn append(
        &self,
        bytes: &[u8],
        flags: &Flags,
        internal_date: Option<i64>,
    ) -> Result<(u32, u32)> {
        let (snap, uid) = self.mutate(|snap| {
            let suffix = format!(":2,{}", flags.letters());
            let base = write_durable(&self.dir, "cur", bytes, &suffix)?;
            let path = self.dir.join("cur").join(format!("{base}{suffix}"));
            let date = internal_date.unwrap_or_else(now_secs);
            if let Some(t) = internal_date
                && let Ok(f) = fs::File::options().write(true).open(&path)
            {
                let when = UNIX_EPOCH + std::time::Duration::from_secs(t.max(0) as u64);
                let _ = f.set_modified(when);
            }
            snap.highest_modseq += 1;
            let uid = snap.uidnext;
            snap.uidnext += 1;
            snap.messages.push(MessageMeta {
                uid,
                modseq: snap.highest_modseq,
                size: bytes.len() as u64,
                internal_date: date,
                flags: flags.clone(),
                base,
            });
            Ok(uid)
        })?;
        Ok((snap.uidvalidity, uid))
    }

    /// Changes flags of `uids` (RFC 3501 STORE). With `unchanged_since`
    /// (CONDSTORE, RFC 7162 §3.1.3) messages with a higher MODSEQ are left
    /// alone and returned in the second list. Returns the snapshot after the
    /// change, the UIDs whose flags changed, and the UIDs that failed.
    pub fn store(
        &self,
        uids: &[u32],
        op: StoreFlags,
        flags: &Flags,
        unchanged_since: Option<u64>,
    ) -> Result<(Arc<Snapshot>, Vec<u32>, Vec<u32>)> {
        let (snap, (changed, failed)) = self.mutate(|snap| {
            let (mut changed, mut failed) = (Vec::new(), Vec::new());
            let cur = self.dir.join("cur");
            let mut renamed = false;
            for &uid in uids {
                let Some(i) = snap.position(uid) else {
                    continue;
                };
                let m = &snap.messages[i];
                if unchanged_since.is_some_and(|u| m.modseq > u) {
                    failed.push(uid);
                    continue;
                }
                let nf = m.flags.apply(op, flags);
                if nf == m.flags {
                    continue;
                }
                if nf.bits != m.flags.bits {
                    let from = cur.join(m.file_name());
                    let to = cur.join(format!("{}:2,{}", m.base, nf.letters()));
                    io(fsops::rename(&from, &to), || {
                        format!("renaming {}", from.display())
                    })?;
                    renamed = true;
                }
                snap.highest_modseq += 1;
                let hm = snap.highest_modseq;
                let m = &mut snap.messages[i];
                m.flags = nf;
                m.modseq = hm;
                changed.push(uid);
            }
            // Flags live in the file names: a rename lost in a power cut
            // would bring the old flags back over the saved index.
            if renamed {
                io(fsops::sync_dir(&cur), || {
                    format!("syncing {}", cur.display())
                })?;
            }
            Ok((changed, failed))
        })?;
        Ok((snap, changed, failed))
    }

    /// Removes messages: those in `uids` if given (MOVE, UID EXPUNGE filters
    /// further by `\Deleted` through `only_deleted`), else every `\Deleted`
    /// one. Returns the snapshot and the removed UIDs.
    pub fn expunge(
        &self,
        uids: Option<&[u32]>,
        only_deleted: bool,
    ) -> Result<(Arc<Snapshot>, Vec<u32>)> {
        self.mutate(|snap| {
            let cur = self.dir.join("cur");
            let mut gone = Vec::new();
            let mut kept = Vec::with_capacity(snap.messages.len());
            for m in std::mem::take(&mut snap.messages) {
                let selected = uids.is_none_or(|u| u.binary_search(&m.uid).is_ok());
                if selected && (!only_deleted || m.flags.has(Flags::DELETED)) {
                    match fsops::remove_file(&cur.join(m.file_name())) {
                        Ok(()) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => {
                            kept.push(m);
                            snap.messages.extend(kept);
                            return Err(StoreError::Io("expunging".into(), e));
                        }
                    }
                    snap.highest_modseq += 1;
                    snap.expunged.push((m.uid, snap.highest_modseq));
                    gone.push(m.uid);
                } else {
                    kept.push(m);
                }
            }
            snap.messages = kept;
            if snap.expunged.len() > MAX_TOMBSTONES {
                let drop = snap.expunged.len() - MAX_TOMBSTONES;
                snap.vanished_floor = snap.expunged[drop - 1].1;
                snap.expunged.drain(..drop);
            }
            // A file whose unlink is lost in a power cut would come back
            // as a new message with a new UID.
            if !gone.is_empty() {
                io(fsops::sync_dir(&cur), || {
                    format!("syncing {}", cur.display())
                })?;
            }
            Ok(gone)
        })
    }

    /// Copies messages into `dest` (hard links where possible, so a copy
    /// costs no space). Returns `(dest uidvalidity, [(src uid, dest uid)])`
    /// for COPYUID (RFC 4315).
    pub fn copy_to(&self, uids: &[u32], dest: &Folder) -> Result<(u32, Vec<(u32, u32)>)> {
        let snap = self.sync()?.snapshot;
        let mut sources = Vec::new();
        for &uid in uids {
            if let Some(i) = snap.position(uid) {
                sources.push(snap.messages[i].clone());
            }
        }
        let (dsnap, pairs) = dest.mutate(|d| {
            let mut pairs = Vec::new();
            for m in &sources {
                let base = crate::unique_name(m.size as usize);
                let name = format!("{base}:2,{}", m.flags.letters());
                let to = dest.dir.join("cur").join(&name);
                let from = self.path_of(m);
                if fsops::hard_link(&from, &to).is_err() {
                    // Renamed meanwhile (a flag change), or another file
                    // system: read + write, under the name the index
                    // records. The file is found by its base name, without
                    // `self.read`: that syncs `self` under its index lock,
                    // and when `self` is `dest` this closure already holds
                    // that lock (#8: COPY into the selected folder
                    // deadlocked).
                    let bytes = self.read_unlocked(m)?;
                    let suffix = format!(":2,{}", m.flags.letters());
                    write_durable_as(&dest.dir, "cur", &base, &bytes, &suffix)?;
                }
                d.highest_modseq += 1;
                let uid = d.uidnext;
                d.uidnext += 1;
                d.messages.push(MessageMeta {
                    uid,
                    modseq: d.highest_modseq,
                    size: m.size,
                    internal_date: m.internal_date,
                    flags: m.flags.clone(),
                    base,
                });
                pairs.push((m.uid, uid));
            }
            if !pairs.is_empty() {
                let cur = dest.dir.join("cur");
                io(fsops::sync_dir(&cur), || {
                    format!("syncing {}", cur.display())
                })?;
            }
            Ok(pairs)
        })?;
        Ok((dsnap.uidvalidity, pairs))
    }
}

/// Arrival order of a Maildir name `SECS.M<usec>P<pid>Q<n>.host…` (the
/// parts Dovecot and Outpost write, in any order in the second field):
/// numerically, since `M999` comes after `M1000` as text. Names of other
/// shapes sort by their text after those.
fn arrival_key(name: &str) -> (u64, u64, u64, &str) {
    let mut parts = name.splitn(3, '.');
    let secs = parts
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or(u64::MAX);
    let mid = parts.next().unwrap_or("");
    let field = |tag: char| -> u64 {
        mid.find(tag)
            .map(|i| {
                mid[i + 1..]
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .collect::<String>()
            })
            .and_then(|d| d.parse().ok())
            .unwrap_or(0)
    };
    (secs, field('M'), field('Q'), name)
}
