//! DATA beyond the in-memory buffer (`smtp.data_buffer_bytes`) goes to an
//! anonymous file in the queue's spool directory, so a slow client cannot
//! pin a whole message of memory per session (#10).

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::AsyncWriteExt;

use crate::common::{Raw, TestServer, start_with};

/// This process's open files that live (or lived, now unlinked) in `dir`,
/// with their sizes.
fn open_files_in(dir: &Path) -> Vec<(PathBuf, u64)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc/self/fd").unwrap().flatten() {
        let Ok(target) = std::fs::read_link(e.path()) else {
            continue;
        };
        if target.starts_with(dir) {
            let size = std::fs::metadata(e.path()).map(|m| m.len()).unwrap_or(0);
            out.push((target, size));
        }
    }
    out
}

fn spool_dir(s: &TestServer) -> PathBuf {
    s.shared.config.smtp.queue_dir.join("spool")
}

fn dir_names(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Polls `cond` every 50 ms for at most `secs` seconds.
async fn wait_for(secs: u64, mut cond: impl FnMut() -> bool) -> bool {
    for _ in 0..secs * 20 {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cond()
}

/// A message of about `size` bytes: headers, then numbered lines with
/// 8-bit text and lines that start with a dot.
fn message(size: usize) -> Vec<u8> {
    let mut m = b"From: alice@outpost.test\r\nTo: bob@outpost.test\r\nSubject: big\r\n\
        Date: Mon, 1 Jan 2024 00:00:00 +0000\r\nMessage-ID: <big@outpost.test>\r\n\r\n"
        .to_vec();
    let mut i = 0;
    while m.len() < size {
        m.extend_from_slice(format!("{i:08} caf\u{e9} \u{2014} line\r\n").as_bytes());
        if i % 97 == 0 {
            m.extend_from_slice(b".starts with a dot\r\n");
        }
        i += 1;
    }
    m
}

/// RFC 5321 §4.5.2 dot-stuffing of a CRLF message, without the final dot.
fn stuffed(m: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(m.len() + 1024);
    let mut start = true;
    for &b in m {
        if start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        start = b == b'\n';
    }
    out
}

fn maildir_files(root: &Path) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for sub in ["new", "cur"] {
        for e in std::fs::read_dir(root.join(sub)).into_iter().flatten() {
            out.push(std::fs::read(e.unwrap().path()).unwrap());
        }
    }
    out
}

#[tokio::test]
async fn data_larger_than_the_buffer_is_spooled_and_arrives_intact() {
    // #10: DATA was collected in memory, up to max_message_size per session.
    let s = start_with(|c| {
        c.smtp.data_buffer_bytes = 4096;
        c.smtp.max_message_size = 2_000_000;
    })
    .await;
    let original = message(300_000);
    let mut c = Raw::connect_tls(&s).await;
    c.check("", "220 mx.outpost.test ESMTP Outpost\r\n").await;
    c.check(
        "EHLO c\r\nAUTH PLAIN AGFsaWNlQG91dHBvc3QudGVzdABhbGljZS1zZWNyZXQtMQ==\r\nMAIL FROM:<alice@outpost.test>\r\nRCPT TO:<bob@outpost.test>\r\nRCPT TO:<partner@remote.example>\r\nDATA\r\n",
        "250-mx.outpost.test\r\n250-PIPELINING\r\n250-SIZE 2000000\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250-ENHANCEDSTATUSCODES\r\n250-DSN\r\n250 AUTH PLAIN LOGIN\r\n235 2.7.0 Authentication successful\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n",
    )
    .await;
    c.stream.write_all(&stuffed(&original)).await.unwrap();
    c.stream.flush().await.unwrap();
    // Mid-DATA the rest is in a file of the spool directory, which has no
    // name (nothing to leave behind).
    let spool = spool_dir(&s);
    let want = (original.len() - 4096) as u64;
    assert!(
        wait_for(10, || open_files_in(&spool).iter().any(|(_, n)| *n == want)).await,
        "spooled: {:?}",
        open_files_in(&spool)
    );
    for (path, _) in open_files_in(&spool) {
        assert!(path.to_string_lossy().ends_with(" (deleted)"), "{path:?}");
    }
    assert!(dir_names(&spool).is_empty(), "{:?}", dir_names(&spool));
    c.check(".\r\n", "250 2.0.0 Ok: queued as ID\r\n").await;

    let bob = maildir_files(&s.shared.config.general.mail_root.join("outpost.test/bob"));
    assert_eq!(bob.len(), 1);
    let got = &bob[0];
    assert!(got.starts_with(b"Received: from c ([127.0.0.1])\r\n"));
    let received_len = got.len() - original.len();
    assert_eq!(&got[received_len..], &original[..], "local copy differs");
    let queued = s.shared.queue.list().unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].size, got.len() as u64);
    assert_eq!(
        s.shared.queue.message(&queued[0].id).unwrap(),
        *got,
        "queued copy differs"
    );
    assert!(
        open_files_in(&spool).is_empty(),
        "{:?}",
        open_files_in(&spool)
    );
    assert!(dir_names(&spool).is_empty());
}

#[tokio::test]
async fn a_session_that_disconnects_mid_data_leaves_no_spool_file() {
    let s = start_with(|c| {
        c.smtp.data_buffer_bytes = 4096;
        c.smtp.max_message_size = 2_000_000;
    })
    .await;
    let spool = spool_dir(&s);
    let mut c = Raw::connect(s.mx).await;
    c.check("", "220 mx.outpost.test ESMTP Outpost\r\n").await;
    c.check(
        "HELO c\r\nMAIL FROM:<x@remote.example>\r\nRCPT TO:<bob@outpost.test>\r\nDATA\r\n",
        "250 mx.outpost.test\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n",
    )
    .await;
    c.stream
        .write_all(&stuffed(&message(100_000)))
        .await
        .unwrap();
    c.stream.flush().await.unwrap();
    assert!(wait_for(10, || !open_files_in(&spool).is_empty()).await);
    drop(c);
    assert!(
        wait_for(10, || open_files_in(&spool).is_empty()).await,
        "{:?}",
        open_files_in(&spool)
    );
    assert!(dir_names(&spool).is_empty(), "{:?}", dir_names(&spool));
    assert!(s.inbox("bob").is_empty());
    assert!(s.shared.queue.list().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_sessions_mid_data_do_not_pin_their_messages_in_memory() {
    // Eight sessions each send 4 MiB and stall before the final dot. Held
    // in memory that is 32 MiB or more; spooled it is a buffer each.
    const SESSIONS: usize = 8;
    const SIZE: usize = 4 << 20;
    let s = start_with(|c| c.smtp.max_message_size = 8 << 20).await;
    let spool = spool_dir(&s);
    let data = stuffed(&message(SIZE));
    let pid = std::process::id();
    let before = outpost_testkit::rss_kib(pid);
    let mut sessions = Vec::new();
    for _ in 0..SESSIONS {
        let mut c = Raw::connect(s.mx).await;
        c.check("", "220 mx.outpost.test ESMTP Outpost\r\n").await;
        c.check(
            "HELO c\r\nMAIL FROM:<x@remote.example>\r\nRCPT TO:<bob@outpost.test>\r\nDATA\r\n",
            "250 mx.outpost.test\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n",
        )
        .await;
        c.stream.write_all(&data).await.unwrap();
        c.stream.flush().await.unwrap();
        sessions.push(c);
    }
    // Wait until every session's data was read (in the spool, with the fix).
    let spooled = (SIZE - 256 * 1024) as u64;
    let all_read = wait_for(20, || {
        open_files_in(&spool)
            .iter()
            .filter(|(_, n)| *n >= spooled)
            .count()
            == SESSIONS
    })
    .await;
    let grown = outpost_testkit::rss_kib(pid).saturating_sub(before);
    eprintln!(
        "data: {SESSIONS} sessions x {} KiB mid-DATA: RSS grew by {grown} KiB",
        SIZE / 1024
    );
    assert!(all_read, "spooled: {:?}", open_files_in(&spool));
    assert!(
        grown < (SESSIONS * SIZE / 1024 / 2) as u64,
        "RSS grew by {grown} KiB"
    );
    drop(sessions);
}

#[tokio::test]
async fn a_spooled_header_section_must_fit_the_buffer() {
    // The header checks (#16) read the in-memory head: a second From
    // pushed past it by padding headers must not slip through.
    let s = start_with(|c| {
        c.smtp.data_buffer_bytes = 4096;
        c.smtp.max_message_size = 2_000_000;
    })
    .await;
    let padding = "X-Pad: 0123456789012345678901234567890123456789\r\n".repeat(200);
    let hidden =
        format!("From: ceo@outpost.test\r\n{padding}From: x@remote.example\r\n\r\nbody\r\n.\r\n");
    let mut c = Raw::connect(s.mx).await;
    c.check("", "220 mx.outpost.test ESMTP Outpost\r\n").await;
    c.check(
        &format!("HELO c\r\nMAIL FROM:<x@remote.example>\r\nRCPT TO:<bob@outpost.test>\r\nDATA\r\n{hidden}"),
        "250 mx.outpost.test\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n552 5.3.4 Header section exceeds 4096 bytes\r\n",
    )
    .await;
    assert!(s.inbox("bob").is_empty());
}
