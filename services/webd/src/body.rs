//! Request bodies as they arrive (#6): read only after the request head has
//! been authenticated, bounded in size and in time, the first
//! `web.body_buffer_bytes` kept in memory and the rest spooled to an
//! anonymous file, so a slow or stalled client holds a buffer of memory
//! and a connection slot for a bounded time, never its whole body.
//!
//! The shape is smtpd's DATA spool (#10): the spool file is created in
//! `<general.state_dir>/web/spool` (0700) and unlinked at once, so a
//! request that ends in any way leaves nothing behind; it is not fsync'd
//! (the store stages and fsyncs what it keeps). The DAV handler takes the
//! body as bytes, so a spooled body is read back just before the handler
//! runs, at most [`Options::spooled`](crate::server::Options) at once.
//!
//! Time: a body must not fall silent for `web.body_timeout_secs`, and must
//! arrive by `body_timeout_secs` plus one second for every
//! `web.body_min_rate` bytes received (Apache's `mod_reqtimeout`
//! `body=…,MinRate=…`), so trickling a byte now and then does not hold a
//! slot either.

use bytes::Bytes;
use http_body_util::BodyExt as _;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt as _;

/// The bounds of one request body.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest body in bytes (`web.max_body_bytes`).
    pub max: usize,
    /// Bytes kept in memory; the rest is spooled (`web.body_buffer_bytes`).
    pub buffer: usize,
    /// Longest silence, and the grace before `min_rate` applies.
    pub timeout: Duration,
    /// Slowest average rate in bytes per second (0: none).
    pub min_rate: u64,
    /// Where spool files are created.
    pub spool_dir: PathBuf,
}

/// Why a body was not received.
#[derive(Debug)]
pub enum Error {
    /// Larger than [`Limits::max`] (413).
    TooLarge,
    /// Too slow (408).
    Timeout,
    /// The client broke the body off or sent a malformed one (400).
    Client(String),
    /// Spooling failed (500).
    Io(std::io::Error),
}

/// A received body: the in-memory head and, if it was larger, the
/// unlinked spool file holding the rest.
#[derive(Debug)]
pub struct Received {
    head: Vec<u8>,
    file: Option<std::fs::File>,
    len: u64,
}

impl Received {
    /// True if part of the body is in a spool file.
    pub fn spilled(&self) -> bool {
        self.file.is_some()
    }

    /// The body's length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True for an empty body.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The whole body in memory (blocking: reads the spool file).
    pub fn into_vec(self) -> std::io::Result<Vec<u8>> {
        let Received {
            mut head,
            file,
            len,
        } = self;
        if let Some(mut f) = file {
            head.reserve_exact(usize::try_from(len).unwrap_or(0).saturating_sub(head.len()));
            f.seek(SeekFrom::Start(0))?;
            f.read_to_end(&mut head)?;
        }
        Ok(head)
    }
}

/// Reads `body` within `limits`.
pub async fn receive<B>(mut body: B, limits: &Limits) -> Result<Received, Error>
where
    B: hyper::body::Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    let start = Instant::now();
    let mut spool = Spool::new(limits.spool_dir.clone(), limits.buffer);
    loop {
        let mut wait = limits.timeout;
        if let Some(credit) = spool.len.checked_div(limits.min_rate) {
            let allowed = limits.timeout + Duration::from_secs(credit);
            let left = allowed.saturating_sub(start.elapsed());
            if left.is_zero() {
                return Err(Error::Timeout);
            }
            wait = wait.min(left);
        }
        let frame = match tokio::time::timeout(wait, body.frame()).await {
            Err(_) => return Err(Error::Timeout),
            Ok(None) => break,
            Ok(Some(Err(e))) => return Err(Error::Client(e.to_string())),
            Ok(Some(Ok(frame))) => frame,
        };
        // Trailers carry nothing the handler reads.
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if spool.len + data.len() as u64 > limits.max as u64 {
            return Err(Error::TooLarge);
        }
        spool.push(&data).await.map_err(Error::Io)?;
    }
    spool.finish().await.map_err(Error::Io)
}

/// A body being received: the first `limit` bytes in memory, the rest in
/// an anonymous file created when needed.
#[derive(Debug)]
struct Spool {
    dir: PathBuf,
    limit: usize,
    head: Vec<u8>,
    file: Option<tokio::fs::File>,
    len: u64,
}

impl Spool {
    fn new(dir: PathBuf, limit: usize) -> Spool {
        Spool {
            dir,
            limit,
            head: Vec::new(),
            file: None,
            len: 0,
        }
    }

    async fn push(&mut self, data: &[u8]) -> std::io::Result<()> {
        self.len += data.len() as u64;
        let room = self.limit.saturating_sub(self.head.len()).min(data.len());
        self.head.extend_from_slice(&data[..room]);
        let rest = &data[room..];
        if rest.is_empty() {
            return Ok(());
        }
        if self.file.is_none() {
            self.file = Some(anonymous_file(&self.dir).await?);
        }
        match &mut self.file {
            Some(f) => f.write_all(rest).await,
            None => Ok(()),
        }
    }

    async fn finish(self) -> std::io::Result<Received> {
        let file = match self.file {
            Some(mut f) => {
                f.flush().await?;
                Some(f.into_std().await)
            }
            None => None,
        };
        Ok(Received {
            head: self.head,
            file,
            len: self.len,
        })
    }
}

/// Creates a file in `dir` (mode 0600, the directory created 0700 if
/// missing) and unlinks it at once.
async fn anonymous_file(dir: &Path) -> std::io::Result<tokio::fs::File> {
    tokio::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .await?;
    let path = dir.join(format!("{}.tmp", unique_name()));
    let f = tokio::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .await?;
    tokio::fs::remove_file(&path).await?;
    Ok(f)
}

/// A name no other spool file of this or another process has.
fn unique_name() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{nanos}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Removes spool files a crash left between creating and unlinking them
/// (at start-up, before anything is spooled).
pub fn clean(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        if e.file_name().to_string_lossy().ends_with(".tmp") {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::body::Frame;
    use std::collections::VecDeque;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    fn limits(dir: &Path, max: usize, buffer: usize) -> Limits {
        Limits {
            max,
            buffer,
            timeout: Duration::from_secs(5),
            min_rate: 0,
            spool_dir: dir.join("spool"),
        }
    }

    /// A body delivered in the given chunks, then pending forever if
    /// `stall`.
    struct Chunks {
        chunks: VecDeque<Bytes>,
        stall: bool,
    }

    impl hyper::body::Body for Chunks {
        type Data = Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            let this = self.get_mut();
            match this.chunks.pop_front() {
                Some(c) => Poll::Ready(Some(Ok(Frame::data(c)))),
                None if this.stall => Poll::Pending,
                None => Poll::Ready(None),
            }
        }
    }

    fn chunked(data: &[u8], sizes: &[usize], stall: bool) -> Chunks {
        let mut chunks = VecDeque::new();
        let mut at = 0;
        for n in sizes {
            chunks.push_back(Bytes::copy_from_slice(&data[at..at + n]));
            at += n;
        }
        Chunks { chunks, stall }
    }

    #[tokio::test]
    async fn spills_past_the_buffer_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..10u8).collect();
        for sizes in [vec![10usize], vec![3, 3, 4], vec![1; 10], vec![4, 6]] {
            let got = receive(chunked(&data, &sizes, false), &limits(dir.path(), 100, 4))
                .await
                .unwrap();
            assert!(got.spilled(), "{sizes:?}");
            assert_eq!(got.len(), 10);
            assert_eq!(got.into_vec().unwrap(), data, "{sizes:?}");
            let names = std::fs::read_dir(dir.path().join("spool")).unwrap().count();
            assert_eq!(names, 0, "the spool file has no name");
        }
        let small = receive(
            chunked(b"abcd", &[2, 2], false),
            &limits(dir.path(), 100, 4),
        )
        .await
        .unwrap();
        assert!(!small.spilled());
        assert_eq!(small.into_vec().unwrap(), b"abcd");
    }

    #[tokio::test]
    async fn too_large_and_too_slow_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let data = [7u8; 10];
        let r = receive(chunked(&data, &[5, 5], false), &limits(dir.path(), 9, 4)).await;
        assert!(matches!(r, Err(Error::TooLarge)), "{r:?}");
        let mut l = limits(dir.path(), 100, 4);
        l.timeout = Duration::from_millis(50);
        let r = receive(chunked(&data, &[5], true), &l).await;
        assert!(matches!(r, Err(Error::Timeout)), "{r:?}");
    }
}
