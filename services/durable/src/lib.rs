//! `outpost-durable`: the one way Outpost's stores make a write survive a
//! crash, instead of a copy per store. [`write_atomic`] replaces a file
//! whole (temporary file in the same directory, written, fsynced, renamed
//! over the target, the directory fsynced so the rename itself is on disk);
//! [`sync_dir`] makes renames, links and removals in a directory durable.
//!
//! A crash at any step leaves either the old file or the new one, never a
//! torn mix; a failed step removes its temporary file. Temporary names
//! start with `.tmp-` and carry the process id and a counter, so two
//! writers of one path never share one and a store's scan can skip them.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Whether [`write_atomic_with`] fsyncs the directory after the rename.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parent {
    /// fsync the directory: the new file is durable when the call returns.
    Sync,
    /// Leave it to the caller, who renames more in the same directory and
    /// fsyncs it once ([`sync_dir`]).
    Defer,
}

/// A fresh temporary path beside `path`.
pub fn temp_path(path: &Path) -> PathBuf {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    dir.join(format!(".tmp-{}-{n}-{name}", std::process::id()))
}

/// Replaces `path` with `bytes` (file mode `mode`), durably.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    write_atomic_with(path, mode, Parent::Sync, |w| w.write_all(bytes))
}

/// Replaces `path` with what `write` produces (buffered), durably as
/// `parent` says; returns what `write` returned.
pub fn write_atomic_with<T>(
    path: &Path,
    mode: u32,
    parent: Parent,
    write: impl FnOnce(&mut dyn Write) -> io::Result<T>,
) -> io::Result<T> {
    let tmp = temp_path(path);
    let result: io::Result<T> = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        // The umask may have narrowed `mode`; the caller asked for it.
        f.set_permissions(fs::Permissions::from_mode(mode))?;
        let mut w = io::BufWriter::with_capacity(64 * 1024, &mut f);
        let out = write(&mut w)?;
        w.flush()?;
        drop(w);
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)?;
        Ok(out)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    let out = result?;
    if parent == Parent::Sync {
        sync_dir(path.parent().unwrap_or(Path::new(".")))?;
    }
    Ok(out)
}

/// fsyncs the directory `dir`, making the changes of its entries durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn replaces_whole_files_with_the_asked_mode_and_leaves_no_temporary() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("key.pem");
        write_atomic(&p, b"one", 0o600).unwrap();
        write_atomic(&p, b"two", 0o640).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(fs::metadata(&p).unwrap().mode() & 0o777, 0o640);
        let names: Vec<_> = fs::read_dir(d.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn a_failed_write_keeps_the_old_file_and_removes_its_temporary() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("index");
        write_atomic(&p, b"old", 0o600).unwrap();
        let r = write_atomic_with(&p, 0o600, Parent::Sync, |w| {
            w.write_all(b"half")?;
            Err::<(), _>(io::Error::other("disk full"))
        });
        assert!(r.is_err());
        assert_eq!(fs::read(&p).unwrap(), b"old");
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 1);
    }
}
