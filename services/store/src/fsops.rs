//! The directory operations of the store in one place: every rename, link,
//! removal and `mkdir` that a reply may depend on, and the directory fsyncs
//! that make them durable (a rename or unlink is only on disk once its
//! directory is fsynced, see fsync(2)). Test builds record them per thread,
//! so a test can check that each changed directory is fsynced before the
//! index is saved and before the call returns.

use std::fs;
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;

/// Renames `from` to `to`.
pub(crate) fn rename(from: &Path, to: &Path) -> io::Result<()> {
    fs::rename(from, to)?;
    log::changed_by_rename(from, to);
    Ok(())
}

/// Hard-links `to` to `from`.
pub(crate) fn hard_link(from: &Path, to: &Path) -> io::Result<()> {
    #[cfg(test)]
    if log::links_fail() {
        return Err(io::Error::other("links refused (test)"));
    }
    fs::hard_link(from, to)?;
    log::changed(to);
    Ok(())
}

/// Removes the file `path`.
pub(crate) fn remove_file(path: &Path) -> io::Result<()> {
    fs::remove_file(path)?;
    log::changed(path);
    Ok(())
}

/// Removes the directory `path` and everything in it.
pub(crate) fn remove_dir_all(path: &Path) -> io::Result<()> {
    fs::remove_dir_all(path)?;
    log::changed(path);
    Ok(())
}

/// Creates the directory `path` with `mode`; returns whether this call
/// created it (`false`: it was there already).
pub(crate) fn mkdir(path: &Path, mode: u32) -> io::Result<bool> {
    match fs::DirBuilder::new().mode(mode).create(path) {
        Ok(()) => {
            log::changed(path);
            Ok(true)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e),
    }
}

/// fsyncs the directory `dir`, making the changes of its entries durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    outpost_durable::sync_dir(dir)?;
    log::synced(dir);
    Ok(())
}

/// Marks the commit of a folder index (logged, test builds).
pub(crate) fn index_saved(dir: &Path) {
    log::index_saved(dir);
}

#[cfg(not(test))]
mod log {
    use std::path::Path;

    pub(super) fn changed_by_rename(_: &Path, _: &Path) {}
    pub(super) fn changed(_: &Path) {}
    pub(super) fn synced(_: &Path) {}
    pub(super) fn index_saved(_: &Path) {}
}

#[cfg(test)]
pub(crate) mod log {
    //! The per-thread record of directory operations (test builds).

    use std::cell::{Cell, RefCell};
    use std::path::{Path, PathBuf};

    /// One recorded operation.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub(crate) enum Op {
        /// The entries of this directory changed.
        Changed(PathBuf),
        /// This directory was fsynced.
        Synced(PathBuf),
        /// The index of the folder in this directory was committed.
        IndexSaved(PathBuf),
    }

    thread_local! {
        static LOG: RefCell<Option<Vec<Op>>> = const { RefCell::new(None) };
        static NO_LINKS: Cell<bool> = const { Cell::new(false) };
    }

    /// Runs `f` and returns what it did to directories.
    pub(crate) fn record<T>(f: impl FnOnce() -> T) -> (T, Vec<Op>) {
        LOG.set(Some(Vec::new()));
        let out = f();
        (out, LOG.take().unwrap_or_default())
    }

    /// Makes hard links fail on this thread (another filesystem).
    pub(crate) fn refuse_links(on: bool) {
        NO_LINKS.set(on);
    }

    pub(super) fn links_fail() -> bool {
        NO_LINKS.get()
    }

    fn push(op: Op) {
        LOG.with_borrow_mut(|l| {
            if let Some(l) = l {
                l.push(op);
            }
        });
    }

    fn parent(p: &Path) -> PathBuf {
        p.parent().unwrap_or(Path::new(".")).to_path_buf()
    }

    pub(super) fn changed_by_rename(from: &Path, to: &Path) {
        // Leaving `tmp/` needs no fsync: a message that reappears there
        // after a power cut is a stale temporary file (cleaned up by
        // Maildir convention), never a second copy of a message.
        let src = parent(from);
        if src.file_name().is_none_or(|n| n != "tmp") {
            push(Op::Changed(src));
        }
        push(Op::Changed(parent(to)));
    }

    pub(super) fn changed(p: &Path) {
        push(Op::Changed(parent(p)));
    }

    pub(super) fn synced(dir: &Path) {
        push(Op::Synced(dir.to_path_buf()));
    }

    pub(super) fn index_saved(dir: &Path) {
        push(Op::IndexSaved(dir.to_path_buf()));
    }
}
