//! A user's mailbox: the set of Maildir++ folders under one user root, the
//! mapping between IMAP folder names and directories, and subscriptions.
//!
//! IMAP names use `.` as hierarchy separator, as Dovecot's Maildir++ layout
//! does, so `Lists.rust` is the directory `.Lists.rust`. `INBOX` (any case)
//! is the root itself. Names are stored as the client sent them (modified
//! UTF-7 for IMAP4rev1 clients), again as Dovecot does on disk.

use crate::folder::Folder;
use crate::{Result, StoreError, fsops, io, make_maildir};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The special-use folders every mailbox gets, with their RFC 6154 attribute.
pub const SPECIAL_FOLDERS: [(&str, &str); 5] = [
    ("Sent", "\\Sent"),
    ("Drafts", "\\Drafts"),
    ("Trash", "\\Trash"),
    ("Junk", "\\Junk"),
    ("Archive", "\\Archive"),
];

/// One user's mailbox (all folders).
#[derive(Debug, Clone)]
pub struct Mailbox {
    root: PathBuf,
}

fn is_inbox(name: &str) -> bool {
    name.is_empty() || name.eq_ignore_ascii_case("INBOX")
}

impl Mailbox {
    /// Opens `mail_root/<domain>/<user>`, creating the tree if it is missing.
    pub fn open(mail_root: &Path, domain: &str, user: &str) -> Result<Mailbox> {
        let root = crate::user_root(mail_root, domain, user)?;
        if !root.join("cur").is_dir() {
            crate::create_mailbox_tree(mail_root, domain, user)?;
        }
        Ok(Mailbox { root })
    }

    /// A mailbox at an explicit Maildir root (no creation).
    pub fn open_path(root: PathBuf) -> Mailbox {
        Mailbox { root }
    }

    /// The Maildir root (INBOX).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Canonical IMAP name: `INBOX` in upper case, other names as given.
    pub fn canonical(name: &str) -> String {
        if is_inbox(name) {
            "INBOX".into()
        } else {
            name.to_string()
        }
    }

    /// Directory of folder `name`; validates the name.
    pub fn folder_dir(&self, name: &str) -> Result<PathBuf> {
        if is_inbox(name) {
            return Ok(self.root.clone());
        }
        check_name(name)?;
        Ok(self.root.join(format!(".{name}")))
    }

    /// Opens an existing folder.
    pub fn folder(&self, name: &str) -> Result<Folder> {
        let dir = self.folder_dir(name)?;
        if !dir.join("cur").is_dir() {
            return Err(StoreError::NotFound(format!("folder {name:?}")));
        }
        Ok(Folder::new(dir))
    }

    /// Every folder name, `INBOX` first, the rest sorted.
    pub fn list(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let rd = io(fs::read_dir(&self.root), || {
            format!("listing {}", self.root.display())
        })?;
        for e in rd.flatten() {
            let n = e.file_name();
            let Some(n) = n.to_str() else { continue };
            if let Some(name) = n.strip_prefix('.')
                && !name.is_empty()
                && name != "."
                && e.path().join("cur").is_dir()
            {
                out.push(name.to_string());
            }
        }
        out.sort();
        out.insert(0, "INBOX".into());
        Ok(out)
    }

    /// Creates a folder (and, as RFC 3501 §6.3.3 suggests, its missing
    /// superiors).
    pub fn create(&self, name: &str) -> Result<()> {
        if is_inbox(name) {
            return Err(StoreError::Exists("INBOX".into()));
        }
        let dir = self.folder_dir(name)?;
        if dir.join("cur").is_dir() {
            return Err(StoreError::Exists(name.into()));
        }
        let parts: Vec<&str> = name.split('.').collect();
        for i in 1..parts.len() {
            let sup = parts[..i].join(".");
            if !is_inbox(&sup) {
                make_maildir(&self.folder_dir(&sup)?)?;
            }
        }
        make_maildir(&dir)
    }

    /// Deletes a folder and its messages (not its inferiors, which are
    /// separate Maildir++ folders).
    pub fn delete(&self, name: &str) -> Result<()> {
        if is_inbox(name) {
            return Err(StoreError::Invalid("INBOX cannot be deleted".into()));
        }
        let dir = self.folder_dir(name)?;
        if !dir.is_dir() {
            return Err(StoreError::NotFound(name.into()));
        }
        io(fsops::remove_dir_all(&dir), || {
            format!("deleting {}", dir.display())
        })?;
        self.sync_root()?;
        let _ = self.subscribe(name, false);
        Ok(())
    }

    /// Renames a folder and its inferiors (RFC 3501 §6.3.5).
    ///
    /// Renaming INBOX is special (RFC 3501 §6.3.5, RFC 9051 §6.3.6): its
    /// messages move to a new folder `to` and INBOX stays, empty; its
    /// inferiors are not touched. Each message file is renamed (no copy),
    /// so a crash part-way leaves every message in exactly one of the two.
    pub fn rename(&self, from: &str, to: &str) -> Result<()> {
        if is_inbox(to) {
            return Err(StoreError::Exists("INBOX".into()));
        }
        if is_inbox(from) {
            return self.rename_inbox(to);
        }
        let src = self.folder_dir(from)?;
        let dst = self.folder_dir(to)?;
        if !src.is_dir() {
            return Err(StoreError::NotFound(from.into()));
        }
        if dst.exists() {
            return Err(StoreError::Exists(to.into()));
        }
        let children: Vec<String> = self
            .list()?
            .into_iter()
            .filter(|n| n.starts_with(&format!("{from}.")))
            .collect();
        io(fsops::rename(&src, &dst), || {
            format!("renaming {}", src.display())
        })?;
        for c in children {
            let new = format!("{to}{}", &c[from.len()..]);
            let (s, d) = (self.folder_dir(&c)?, self.folder_dir(&new)?);
            io(fsops::rename(&s, &d), || {
                format!("renaming {}", s.display())
            })?;
        }
        self.sync_root()?;
        let subs = self.subscriptions()?;
        for s in subs {
            if s == from || s.starts_with(&format!("{from}.")) {
                self.subscribe(&s, false)?;
                self.subscribe(&format!("{to}{}", &s[from.len()..]), true)?;
            }
        }
        Ok(())
    }

    fn rename_inbox(&self, to: &str) -> Result<()> {
        self.create(to)?;
        let dst = self.folder_dir(to)?;
        for sub in ["new", "cur"] {
            let src = self.root.join(sub);
            let rd = io(fs::read_dir(&src), || format!("listing {}", src.display()))?;
            for e in rd {
                let e = io(e, || format!("listing {}", src.display()))?;
                let target = dst.join(sub).join(e.file_name());
                io(fsops::rename(&e.path(), &target), || {
                    format!("moving {}", e.path().display())
                })?;
            }
            for d in [&src, &dst.join(sub)] {
                io(fsops::sync_dir(d), || format!("syncing {}", d.display()))?;
            }
        }
        Ok(())
    }

    /// Subscribed names, from the Dovecot-style `subscriptions` file.
    pub fn subscriptions(&self) -> Result<Vec<String>> {
        let p = self.root.join("subscriptions");
        match fs::read_to_string(&p) {
            Ok(s) => Ok(s
                .lines()
                .filter(|l| !l.is_empty() && !l.starts_with("V\t"))
                .map(str::to_string)
                .collect()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(StoreError::Io(format!("reading {}", p.display()), e)),
        }
    }

    /// Adds (`on`) or removes a subscription. The read-modify-write runs
    /// under an exclusive lock on `subscriptions.lock`, so concurrent
    /// sessions and processes (two first deliveries creating the tree, two
    /// IMAP clients subscribing) neither lose an update nor trip over each
    /// other's temporary file.
    pub fn subscribe(&self, name: &str, on: bool) -> Result<()> {
        let name = Self::canonical(name);
        if !is_inbox(&name) {
            // One name per line in the file (#21).
            check_name(&name)?;
        }
        let lock_path = self.root.join("subscriptions.lock");
        let lock = io(
            fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&lock_path),
            || format!("opening {}", lock_path.display()),
        )?;
        io(lock.lock(), || format!("locking {}", lock_path.display()))?;
        let mut subs = self.subscriptions()?;
        subs.retain(|s| *s != name);
        if on {
            subs.push(name);
        }
        subs.sort();
        let mut text = subs.join("\n");
        text.push('\n');
        let p = self.root.join("subscriptions");
        let tmp = self.root.join("subscriptions.tmp");
        io(
            fs::File::create(&tmp)
                .and_then(|mut f| f.write_all(text.as_bytes()).and_then(|()| f.sync_all())),
            || format!("writing {}", tmp.display()),
        )?;
        io(fsops::rename(&tmp, &p), || {
            format!("writing {}", p.display())
        })?;
        self.sync_root()
        // `lock` is released when it is dropped here.
    }

    /// fsyncs the mailbox root, where folders and `subscriptions` live.
    fn sync_root(&self) -> Result<()> {
        io(fsops::sync_dir(&self.root), || {
            format!("syncing {}", self.root.display())
        })
    }

    /// The RFC 6154 special-use attribute of a folder, if it has one.
    pub fn special_use(name: &str) -> Option<&'static str> {
        SPECIAL_FOLDERS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, a)| *a)
    }

    /// Total bytes of all messages (for QUOTA), from the folder indexes.
    pub fn usage(&self) -> Result<u64> {
        let mut total = 0;
        for name in self.list()? {
            if let Ok(f) = self.folder(&name) {
                total += f
                    .sync()?
                    .snapshot
                    .messages
                    .iter()
                    .map(|m| m.size)
                    .sum::<u64>();
            }
        }
        Ok(total)
    }
}

/// Whether a folder name (other than INBOX) is acceptable. Names become
/// one directory entry `.name` and one line of `subscriptions`: no `/`, no
/// empty hierarchy level, nothing that could climb out of the root, no
/// control character (a newline would split a line, #21).
pub fn check_name(name: &str) -> Result<()> {
    let bad = name.is_empty()
        || name.contains('/')
        || name.starts_with('.')
        || name.ends_with('.')
        || name.contains("..")
        || name.len() > 200
        || name.chars().any(|c| c.is_control());
    if bad {
        return Err(StoreError::Invalid(format!("folder name {name:?}")));
    }
    Ok(())
}
