//! Packs a directory tree into a deterministic `tar` stream compressed with
//! zstd (the payload's `rootfs.tar.zst`).
//!
//! Deterministic by construction: entries are visited in byte order of
//! their names, modification times are clamped to `SOURCE_DATE_EPOCH`,
//! owners are numeric (uid/gid only, no user or group names), hard links
//! are recorded as links to the first path seen, and zstd runs with a fixed
//! worker count (its multi-threaded output depends on the worker count, not
//! on scheduling). Extended attributes are not carried.
//!
//! Layers: [`pack_layer`] writes one directory as a complete zstd frame
//! holding tar entries but *no* end-of-archive marker (unless it is the
//! last layer). zstd frames concatenate into one stream, so
//! `base.zst ‖ top.zst` decompresses to a single valid tar: the big Debian
//! layer is packed once and cached, and a rebuild after a change to one
//! daemon repacks only the small top layer. A later layer's entries win
//! on extraction; files it replaces are excluded from earlier layers.

use std::collections::{BTreeSet, HashMap};
use std::io::{self, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use tar::{EntryType, Header};

/// How to pack.
#[derive(Debug, Clone, Copy)]
pub struct PackOptions {
    /// Clamp every mtime to at most this (Unix seconds).
    pub clamp_mtime: u64,
    /// zstd level (1–19).
    pub level: i32,
    /// zstd worker threads; part of the output's identity, keep it fixed.
    pub workers: u32,
}

/// What was packed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PackStats {
    /// Entries written.
    pub entries: u64,
    /// Bytes of regular file contents.
    pub bytes: u64,
}

/// Packs `root` (its contents, not itself) into `out` as tar + zstd.
pub fn pack_dir<W: Write>(root: &Path, out: W, opts: PackOptions) -> io::Result<PackStats> {
    let mut enc = zstd::Encoder::new(out, opts.level)?;
    if opts.workers > 0 {
        enc.multithread(opts.workers)?;
    }
    let stats = {
        let mut builder = tar::Builder::new(&mut enc);
        builder.follow_symlinks(false);
        let mut state = State {
            links: HashMap::new(),
            stats: PackStats::default(),
            clamp: opts.clamp_mtime,
            exclude: &NO_EXCLUDES,
        };
        walk(&mut builder, root, "", &mut state)?;
        builder.finish()?;
        state.stats
    };
    enc.finish()?;
    Ok(stats)
}

/// Packs `root` as one layer (see the module docs): a zstd frame of tar
/// entries; `exclude` lists relative paths of files and symlinks to leave
/// out (a later layer provides them); only the `last` layer ends the
/// archive.
pub fn pack_layer<W: Write>(
    root: &Path,
    out: W,
    opts: PackOptions,
    exclude: &BTreeSet<String>,
    last: bool,
) -> io::Result<PackStats> {
    let mut enc = zstd::Encoder::new(out, opts.level)?;
    if opts.workers > 0 {
        enc.multithread(opts.workers)?;
    }
    let mut hold = HoldBack {
        inner: &mut enc,
        tail: Vec::new(),
    };
    let stats = {
        let mut builder = tar::Builder::new(&mut hold);
        builder.follow_symlinks(false);
        let mut state = State {
            links: HashMap::new(),
            stats: PackStats::default(),
            clamp: opts.clamp_mtime,
            exclude,
        };
        walk(&mut builder, root, "", &mut state)?;
        builder.finish()?;
        state.stats
    };
    // `finish` wrote the two zero blocks that end a tar archive; they are
    // still held back, and only the last layer lets them through.
    if last {
        hold.inner.write_all(&hold.tail)?;
    } else if hold.tail.iter().any(|b| *b != 0) {
        return Err(io::Error::other("tar end marker was not zeros"));
    }
    enc.finish()?;
    Ok(stats)
}

/// Passes everything but the last 1024 bytes through.
struct HoldBack<W: Write> {
    inner: W,
    tail: Vec<u8>,
}

impl<W: Write> Write for HoldBack<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.tail.extend_from_slice(buf);
        if self.tail.len() > END_MARKER {
            let n = self.tail.len() - END_MARKER;
            self.inner.write_all(&self.tail[..n])?;
            self.tail.drain(..n);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Two 512-byte zero blocks end a tar archive.
const END_MARKER: usize = 1024;

/// Packs `root` into an uncompressed tar stream (used by tests and callers
/// that compress elsewhere).
pub fn tar_dir<W: Write>(root: &Path, out: W, clamp_mtime: u64) -> io::Result<PackStats> {
    let mut builder = tar::Builder::new(out);
    let mut state = State {
        links: HashMap::new(),
        stats: PackStats::default(),
        clamp: clamp_mtime,
        exclude: &NO_EXCLUDES,
    };
    walk(&mut builder, root, "", &mut state)?;
    builder.finish()?;
    Ok(state.stats)
}

struct State<'a> {
    links: HashMap<(u64, u64), String>,
    stats: PackStats,
    clamp: u64,
    exclude: &'a BTreeSet<String>,
}

static NO_EXCLUDES: BTreeSet<String> = BTreeSet::new();

fn walk<W: Write>(
    b: &mut tar::Builder<W>,
    dir: &Path,
    prefix: &str,
    st: &mut State<'_>,
) -> io::Result<()> {
    let mut names: Vec<_> = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<Result<_, _>>()?;
    // Byte order, independent of the file system's directory order.
    names.sort_by(|a, b| a.as_encoded_bytes().cmp(b.as_encoded_bytes()));
    for name in names {
        let path = dir.join(&name);
        let rel = format!("{prefix}{}", name.to_string_lossy());
        let meta = std::fs::symlink_metadata(&path)?;
        let ft = meta.file_type();
        if !ft.is_dir() && st.exclude.contains(&rel) {
            continue;
        }
        let mut h = Header::new_gnu();
        h.set_mode(meta.mode() & 0o7777);
        h.set_uid(u64::from(meta.uid()));
        h.set_gid(u64::from(meta.gid()));
        h.set_mtime((meta.mtime().max(0) as u64).min(st.clamp));
        h.set_size(0);
        st.stats.entries += 1;
        if ft.is_dir() {
            h.set_entry_type(EntryType::Directory);
            b.append_data(&mut h, format!("{rel}/"), io::empty())?;
            walk(b, &path, &format!("{rel}/"), st)?;
        } else if ft.is_symlink() {
            h.set_entry_type(EntryType::Symlink);
            let target = std::fs::read_link(&path)?;
            b.append_link(&mut h, &rel, target)?;
        } else if ft.is_file() {
            if meta.nlink() > 1 {
                let key = (meta.dev(), meta.ino());
                if let Some(first) = st.links.get(&key) {
                    h.set_entry_type(EntryType::Link);
                    b.append_link(&mut h, &rel, first)?;
                    continue;
                }
                st.links.insert(key, rel.clone());
            }
            h.set_entry_type(EntryType::Regular);
            h.set_size(meta.len());
            st.stats.bytes += meta.len();
            let f = std::fs::File::open(&path)?;
            b.append_data(&mut h, &rel, f)?;
        } else if ft.is_char_device() || ft.is_block_device() {
            h.set_entry_type(if ft.is_char_device() {
                EntryType::Char
            } else {
                EntryType::Block
            });
            let rdev = meta.rdev();
            h.set_device_major(((rdev >> 8) & 0xfff) as u32 | ((rdev >> 32) as u32 & !0xfff))?;
            h.set_device_minor((rdev & 0xff) as u32 | ((rdev >> 12) as u32 & !0xff))?;
            b.append_data(&mut h, &rel, io::empty())?;
        } else if ft.is_fifo() {
            h.set_entry_type(EntryType::Fifo);
            b.append_data(&mut h, &rel, io::empty())?;
        } else {
            // Sockets are runtime state; nothing to carry.
            st.stats.entries -= 1;
        }
    }
    Ok(())
}
