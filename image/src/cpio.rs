//! A deterministic writer of the "newc" (SVR4, `070701`) cpio format, the
//! format the Linux kernel unpacks as an initramfs
//! (Documentation/driver-api/early-userspace/buffer-format.rst).
//!
//! Hand-written because the format is 110 bytes of ASCII hex per entry and
//! the crates that exist either read only or stamp host inode numbers and
//! owners. Entries are kept in a sorted map, so parents precede children
//! and the output does not depend on insertion order; owners are root,
//! times are one fixed `mtime`, inode numbers count up from 1.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

/// What an archive entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A directory.
    Dir,
    /// A regular file with its contents.
    File(Vec<u8>),
    /// A symbolic link with its target.
    Symlink(String),
    /// A character device (major, minor).
    CharDevice(u32, u32),
}

/// One entry: permission bits (`0o7777`) and kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Permission bits, without the file type.
    pub perm: u32,
    /// The entry's kind and payload.
    pub kind: Kind,
}

/// An in-memory newc archive; paths are relative (`usr/bin/busybox`).
#[derive(Debug, Clone, Default)]
pub struct Archive {
    mtime: u32,
    entries: BTreeMap<String, Entry>,
}

impl Archive {
    /// An empty archive whose entries will all carry `mtime`.
    pub fn new(mtime: u32) -> Self {
        Self {
            mtime,
            entries: BTreeMap::new(),
        }
    }

    fn insert(&mut self, path: &str, entry: Entry) {
        let path = path.trim_start_matches('/').trim_end_matches('/');
        // Parents are implied: the kernel does not create them.
        let mut parent = String::new();
        for part in path
            .split('/')
            .collect::<Vec<_>>()
            .iter()
            .rev()
            .skip(1)
            .rev()
        {
            if !parent.is_empty() {
                parent.push('/');
            }
            parent.push_str(part);
            self.entries.entry(parent.clone()).or_insert(Entry {
                perm: 0o755,
                kind: Kind::Dir,
            });
        }
        self.entries.insert(path.to_owned(), entry);
    }

    /// Adds a directory.
    pub fn dir(&mut self, path: &str, perm: u32) {
        self.insert(
            path,
            Entry {
                perm,
                kind: Kind::Dir,
            },
        );
    }

    /// Adds a regular file.
    pub fn file(&mut self, path: &str, perm: u32, data: Vec<u8>) {
        self.insert(
            path,
            Entry {
                perm,
                kind: Kind::File(data),
            },
        );
    }

    /// Adds a symbolic link.
    pub fn symlink(&mut self, path: &str, target: &str) {
        self.insert(
            path,
            Entry {
                perm: 0o777,
                kind: Kind::Symlink(target.to_owned()),
            },
        );
    }

    /// Adds a character device node.
    pub fn char_device(&mut self, path: &str, perm: u32, major: u32, minor: u32) {
        self.insert(
            path,
            Entry {
                perm,
                kind: Kind::CharDevice(major, minor),
            },
        );
    }

    /// Adds a host directory tree under `prefix` (`""` for the root):
    /// directories, regular files and symlinks keep their permission bits;
    /// owners and times are not carried over.
    pub fn add_tree(&mut self, host: &Path, prefix: &str) -> io::Result<()> {
        let mut names: Vec<_> = std::fs::read_dir(host)?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<_, _>>()?;
        names.sort();
        for name in names {
            let name = name
                .to_str()
                .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "non-UTF-8 file name"))?;
            let path = host.join(name);
            let rel = if prefix.is_empty() {
                name.to_owned()
            } else {
                format!("{prefix}/{name}")
            };
            let meta = std::fs::symlink_metadata(&path)?;
            let ft = meta.file_type();
            let perm = meta.mode() & 0o7777;
            if ft.is_symlink() {
                let target = std::fs::read_link(&path)?;
                self.symlink(&rel, &target.to_string_lossy());
            } else if ft.is_dir() {
                self.dir(&rel, perm);
                self.add_tree(&path, &rel)?;
            } else if ft.is_file() {
                self.file(&rel, perm, std::fs::read(&path)?);
            } else if ft.is_char_device() {
                let rdev = meta.rdev();
                self.char_device(&rel, perm, major(rdev), minor(rdev));
            } else {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("unsupported file type at {}", path.display()),
                ));
            }
        }
        Ok(())
    }

    /// The entries, sorted by path.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &Entry)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Writes the archive, ending with the `TRAILER!!!` entry.
    pub fn write_to<W: Write>(&self, mut w: W) -> io::Result<()> {
        let mut offset = 0usize;
        for (ino, (path, entry)) in self.entries.iter().enumerate() {
            let (ty, nlink, data, rdev): (u32, u32, &[u8], (u32, u32)) = match &entry.kind {
                Kind::Dir => (0o040000, 2, &[], (0, 0)),
                Kind::File(d) => (0o100000, 1, d, (0, 0)),
                Kind::Symlink(t) => (0o120000, 1, t.as_bytes(), (0, 0)),
                Kind::CharDevice(ma, mi) => (0o020000, 1, &[], (*ma, *mi)),
            };
            offset += write_entry(
                &mut w,
                offset,
                (ino + 1) as u32,
                ty | (entry.perm & 0o7777),
                nlink,
                self.mtime,
                rdev,
                path,
                data,
            )?;
        }
        write_entry(&mut w, offset, 0, 0, 1, 0, (0, 0), "TRAILER!!!", &[])?;
        Ok(())
    }

    /// The archive as bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_to(&mut out)
            .expect("writing to a Vec cannot fail");
        out
    }
}

fn major(rdev: u64) -> u32 {
    (((rdev >> 32) & 0xffff_f000) | ((rdev >> 8) & 0xfff)) as u32
}

fn minor(rdev: u64) -> u32 {
    (((rdev >> 12) & 0xffff_ff00) | (rdev & 0xff)) as u32
}

fn pad<W: Write>(w: &mut W, len: usize) -> io::Result<usize> {
    let n = (4 - len % 4) % 4;
    w.write_all(&[0u8; 3][..n])?;
    Ok(n)
}

#[allow(clippy::too_many_arguments)] // Reason: mirrors the header's fields one to one.
fn write_entry<W: Write>(
    w: &mut W,
    offset: usize,
    ino: u32,
    mode: u32,
    nlink: u32,
    mtime: u32,
    rdev: (u32, u32),
    name: &str,
    data: &[u8],
) -> io::Result<usize> {
    let header = format!(
        "070701{ino:08X}{mode:08X}{uid:08X}{gid:08X}{nlink:08X}{mtime:08X}{size:08X}\
         {dmaj:08X}{dmin:08X}{rmaj:08X}{rmin:08X}{namesize:08X}{check:08X}",
        uid = 0,
        gid = 0,
        size = data.len(),
        dmaj = 0,
        dmin = 0,
        rmaj = rdev.0,
        rmin = rdev.1,
        namesize = name.len() + 1,
        check = 0,
    );
    debug_assert_eq!(header.len(), 110);
    w.write_all(header.as_bytes())?;
    w.write_all(name.as_bytes())?;
    w.write_all(&[0])?;
    let mut n = offset + 110 + name.len() + 1;
    n += pad(w, n)?;
    w.write_all(data)?;
    n += data.len();
    n += pad(w, n)?;
    Ok(n - offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parents_are_implied_and_sorted() {
        let mut a = Archive::new(0);
        a.file("usr/bin/x", 0o755, b"hi".to_vec());
        a.symlink("bin", "usr/bin");
        let names: Vec<_> = a.entries().map(|(p, _)| p.to_owned()).collect();
        assert_eq!(names, ["bin", "usr", "usr/bin", "usr/bin/x"]);
        let bytes = a.to_bytes();
        assert_eq!(bytes.len() % 4, 0);
        assert!(bytes.starts_with(b"070701"));
    }

    #[test]
    fn insertion_order_does_not_matter() {
        let mut a = Archive::new(7);
        a.file("b", 0o644, vec![1]);
        a.file("a", 0o644, vec![2, 3]);
        let mut b = Archive::new(7);
        b.file("a", 0o644, vec![2, 3]);
        b.file("b", 0o644, vec![1]);
        assert_eq!(a.to_bytes(), b.to_bytes());
    }
}
