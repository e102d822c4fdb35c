//! DATA as it arrives (#10): the first `smtp.data_buffer_bytes` in memory,
//! the rest in an anonymous file in the queue's spool directory, so a slow
//! client holds a buffer of memory, not its whole message.
//!
//! The spool file is unlinked as soon as it is created: a session that
//! ends, in any way, closes it and leaves nothing behind; only a crash in
//! the instant between creating and unlinking can leave a name, which the
//! queue's cleanup pass removes. The spool is not fsync'd: smtpd answers
//! `250` only once the message is copied into the Maildirs and the queue,
//! which are.
//!
//! The in-memory part is also what the header checks read (#16): a spooled
//! message whose header section does not end within it is refused.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;

use tokio::io::AsyncWriteExt;

/// DATA being received.
#[derive(Debug)]
pub(crate) struct Spool {
    dir: PathBuf,
    limit: usize,
    head: Vec<u8>,
    file: Option<tokio::fs::File>,
    len: u64,
    error: Option<std::io::Error>,
}

impl Spool {
    /// An empty spool keeping `limit` bytes in memory, the rest in a file
    /// created in `dir` when needed.
    pub fn new(dir: PathBuf, limit: usize) -> Spool {
        Spool {
            dir,
            limit,
            head: Vec::new(),
            file: None,
            len: 0,
            error: None,
        }
    }

    /// Bytes received so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Appends received bytes. A write error is kept for [`Spool::finish`]
    /// (the client still sends to the final dot).
    pub async fn push(&mut self, mut data: &[u8]) {
        self.len += data.len() as u64;
        if self.error.is_some() {
            return;
        }
        let room = self.limit.saturating_sub(self.head.len()).min(data.len());
        self.head.extend_from_slice(&data[..room]);
        data = &data[room..];
        if data.is_empty() {
            return;
        }
        if let Err(e) = self.write_tail(data).await {
            self.error = Some(e);
            self.file = None;
        }
    }

    async fn write_tail(&mut self, data: &[u8]) -> std::io::Result<()> {
        if self.file.is_none() {
            self.file = Some(anonymous_file(&self.dir).await?);
        }
        match &mut self.file {
            Some(f) => f.write_all(data).await,
            None => Ok(()),
        }
    }

    /// The received message, or the first write error.
    pub async fn finish(self) -> std::io::Result<Body> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let file = match self.file {
            Some(mut f) => {
                f.flush().await?;
                Some(f.into_std().await)
            }
            None => None,
        };
        Ok(Body {
            prefix: Vec::new(),
            head: self.head,
            file,
        })
    }
}

/// Creates a file in `dir` (mode 0600, the directory created 0700 if
/// missing) and unlinks it at once.
async fn anonymous_file(dir: &std::path::Path) -> std::io::Result<tokio::fs::File> {
    tokio::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .await?;
    let path = dir.join(format!("{}.tmp", crate::queue::new_id()));
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

/// A received message: what smtpd adds in front (`Received:` and the
/// submission fix-ups), the in-memory head, and the spooled rest if any.
#[derive(Debug)]
pub(crate) struct Body {
    /// Header fields smtpd prepends.
    pub prefix: Vec<u8>,
    /// The first bytes of the message as the client sent it.
    pub head: Vec<u8>,
    file: Option<std::fs::File>,
}

impl Body {
    /// A message held in memory (bounces, small messages).
    pub fn from_vec(message: Vec<u8>) -> Body {
        Body {
            prefix: Vec::new(),
            head: message,
            file: None,
        }
    }

    /// True if part of the message is in a spool file.
    pub fn spilled(&self) -> bool {
        self.file.is_some()
    }

    /// The whole length, prefix included.
    pub fn len(&self) -> std::io::Result<u64> {
        let tail = match &self.file {
            Some(f) => f.metadata()?.len(),
            None => 0,
        };
        Ok((self.prefix.len() + self.head.len()) as u64 + tail)
    }

    /// Writes the whole message to `w`, streaming the spooled part.
    pub fn write_to(&mut self, w: &mut dyn Write) -> std::io::Result<()> {
        w.write_all(&self.prefix)?;
        w.write_all(&self.head)?;
        if let Some(f) = &mut self.file {
            f.seek(SeekFrom::Start(0))?;
            std::io::copy(f, w)?;
        }
        Ok(())
    }

    /// Reads the whole message into memory (for the store, which takes
    /// bytes).
    pub fn read_all(&mut self) -> std::io::Result<Vec<u8>> {
        let mut out = Vec::with_capacity(usize::try_from(self.len()?).unwrap_or(0));
        out.extend_from_slice(&self.prefix);
        out.extend_from_slice(&self.head);
        if let Some(f) = &mut self.file {
            f.seek(SeekFrom::Start(0))?;
            f.read_to_end(&mut out)?;
        }
        Ok(out)
    }
}

/// True if the header section of `head` (RFC 5322 §2.1) ends within it:
/// it starts with an empty line or contains one.
pub(crate) fn header_section_ends(head: &[u8]) -> bool {
    head.starts_with(b"\r\n")
        || head.starts_with(b"\n")
        || head.windows(2).any(|w| w == b"\n\n")
        || head.windows(3).any(|w| w == b"\n\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_section_end() {
        let cases: [(&[u8], bool); 6] = [
            (b"\r\nbody", true),
            (b"Subject: x\r\n\r\nbody", true),
            (b"Subject: x\n\nbody", true),
            (b"Subject: x\r\n\tfolded\r\n", false),
            (b"Subject: x", false),
            (b"", false),
        ];
        for (head, want) in cases {
            assert_eq!(header_section_ends(head), want, "{head:?}");
        }
    }

    #[tokio::test]
    async fn spills_past_the_limit_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        for chunks in [vec![10usize], vec![3, 3, 4], vec![1; 10], vec![4, 6]] {
            let mut spool = Spool::new(dir.path().join("spool"), 4);
            let data: Vec<u8> = (0..10u8).collect();
            let mut at = 0;
            for n in &chunks {
                spool.push(&data[at..at + n]).await;
                at += n;
            }
            assert_eq!(spool.len(), 10);
            let mut body = spool.finish().await.unwrap();
            assert!(body.spilled(), "{chunks:?}");
            assert_eq!(body.head, &data[..4]);
            body.prefix = b"P:".to_vec();
            let mut want = b"P:".to_vec();
            want.extend_from_slice(&data);
            assert_eq!(body.len().unwrap(), 12);
            assert_eq!(body.read_all().unwrap(), want, "{chunks:?}");
            let mut w = Vec::new();
            body.write_to(&mut w).unwrap();
            assert_eq!(w, want, "{chunks:?}");
            let names = std::fs::read_dir(dir.path().join("spool")).unwrap().count();
            assert_eq!(names, 0, "the spool file has no name");
        }
        let mut small = Spool::new(dir.path().join("other"), 4);
        small.push(b"abcd").await;
        let body = small.finish().await.unwrap();
        assert!(!body.spilled());
        assert!(!dir.path().join("other").exists(), "no file until needed");
    }
}
