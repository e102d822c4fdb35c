//! The clamd client against a private clamd 1.4, and `import`.

use std::time::{Duration, Instant};

use outpost_config::hygiene::Av;
use outpost_hygiene::av::{Clamd, Error, Scan, import};

use outpost_testkit::engines::{self, EICAR_SIGNATURE, eicar};

/// The test clamd's unix socket.
fn socket(e: &engines::Clamd) -> &std::path::Path {
    e.socket
        .as_deref()
        .expect("the test clamd is on a unix socket")
}

fn client(socket: &std::path::Path, max_scan_bytes: u64) -> Clamd {
    Clamd::new(&Av {
        clamd: socket.display().to_string(),
        timeout_secs: 10,
        max_scan_bytes,
        ..Av::default()
    })
    .unwrap()
}

/// A message carrying `payload` as a base64 attachment after `pad` bytes
/// of text.
fn mail_with(payload: &[u8], pad: usize) -> Vec<u8> {
    let b64 = base64(payload);
    format!(
        "From: a@example.com\r\nTo: b@example.org\r\nSubject: files\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n\
         Content-Type: text/plain\r\n\r\n{}\r\n--b\r\n\
         Content-Type: application/octet-stream; name=\"x.com\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{b64}\r\n--b--\r\n",
        "padding line of text\r\n".repeat(pad / 22 + 1),
    )
    .into_bytes()
}

fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in data.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn none_without_a_socket() {
    assert!(Clamd::new(&Av::default()).is_none());
}

#[tokio::test]
async fn eicar_is_found_and_clean_mail_is_clean() {
    let e = engines::Clamd::shared();
    eprintln!("clamd ready in {:?}", e.started_in);
    let c = client(socket(e), 25 << 20);

    assert_eq!(
        c.scan(&eicar()).await.unwrap(),
        Scan::Infected(EICAR_SIGNATURE.into())
    );
    let t = Instant::now();
    let infected = c.scan(&mail_with(&eicar(), 100)).await.unwrap();
    eprintln!("scan of a mail took {:?}", t.elapsed());
    assert_eq!(infected, Scan::Infected(EICAR_SIGNATURE.into()));

    let clean = mail_with(b"just a harmless attachment", 100);
    assert_eq!(c.scan(&clean).await.unwrap(), Scan::Clean);
    // Several 64 KiB chunks.
    assert_eq!(
        c.scan(&mail_with(&vec![b'x'; 300_000], 200_000))
            .await
            .unwrap(),
        Scan::Clean
    );
    assert_eq!(c.scan(b"").await.unwrap(), Scan::Clean);
}

#[tokio::test]
async fn only_max_scan_bytes_are_streamed() {
    let e = engines::Clamd::shared();
    // The virus after 20 KB of text: beyond a 10 KB limit, within 1 MiB.
    let m = mail_with(&eicar(), 20_000);
    assert_eq!(
        client(socket(e), 10_000).scan(&m).await.unwrap(),
        Scan::Clean
    );
    assert_eq!(
        client(socket(e), 1 << 20).scan(&m).await.unwrap(),
        Scan::Infected(EICAR_SIGNATURE.into())
    );
    // More than clamd's StreamMaxLength (1 MiB here) allowed through:
    // clamd says so and hangs up, and the client reports it.
    let big = vec![b'a'; (e.stream_max as usize) * 2];
    let err = client(socket(e), 25 << 20).scan(&big).await.unwrap_err();
    assert!(matches!(err, Error::Engine(..)), "{err}");
    assert!(
        err.to_string()
            .ends_with("failed: INSTREAM size limit exceeded"),
        "{err}"
    );
}

#[tokio::test]
async fn clamd_down_fails_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let c = client(&dir.path().join("no.sock"), 1000);
    let t = Instant::now();
    let err = c.scan(b"x").await.unwrap_err();
    assert!(matches!(err, Error::Connect(..)), "{err}");
    // TCP too: nothing listens on a port just released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let c = Clamd::new(&Av {
        clamd: format!("127.0.0.1:{port}"),
        ..Av::default()
    })
    .unwrap();
    assert!(matches!(c.scan(b"x").await, Err(Error::Connect(..))));
    assert!(t.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn a_silent_clamd_times_out() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("silent.sock");
    let l = tokio::net::UnixListener::bind(&path).unwrap();
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        loop {
            let (s, _) = l.accept().await.unwrap();
            held.push(s);
        }
    });
    let c = Clamd::new(&Av {
        clamd: path.display().to_string(),
        timeout_secs: 1,
        ..Av::default()
    })
    .unwrap();
    let t = Instant::now();
    let err = c.scan(b"hello").await.unwrap_err();
    assert!(matches!(err, Error::Timeout(..)), "{err}");
    assert!(t.elapsed() < Duration::from_secs(3));
    silent.abort();
}

#[test]
fn import_installs_databases_and_refuses_others() {
    let src = tempfile::tempdir().unwrap();
    let db = tempfile::tempdir().unwrap();
    let put = |name: &str, data: &[u8]| {
        let p = src.path().join(name);
        std::fs::write(&p, data).unwrap();
        p
    };
    let hex: String = eicar().iter().map(|b| format!("{b:02x}")).collect();
    let ok = put(
        "local.ndb",
        format!("# ours\nLocal.Test:0:*:{hex}\n").as_bytes(),
    );
    let d = import(db.path(), &ok).unwrap();
    assert!(
        d.starts_with("installed local.ndb (extended (hex) signatures, 1 signatures;"),
        "{d}"
    );
    assert_eq!(
        std::fs::read(db.path().join("local.ndb")).unwrap(),
        std::fs::read(&ok).unwrap()
    );

    let mut cvd = b"ClamAV-VDB:07 Dec 2026 10-00 +0000:27000:3000:90:md5:dsig:builder:1".to_vec();
    cvd.resize(512, b' ');
    cvd.extend_from_slice(b"\x1f\x8b rest of a tar.gz");
    let d = import(db.path(), &put("daily.cvd", &cvd)).unwrap();
    assert!(d.contains("version 27000, 3000 signatures"), "{d}");

    for (name, data, why) in [
        (
            "daily.cvd",
            &b"not a database at all"[..],
            "no \"ClamAV-VDB:\" header",
        ),
        ("x.exe", b"MZ", "unknown database extension \"exe\""),
        ("x.ndb", b"", "no signatures"),
        ("x.hdb", b"\0\0binary", "binary content"),
        ("x.hdb", b"just some words\n", "line 1 is not a signature"),
        ("x.yara", b"nothing here", "no YARA rule"),
    ] {
        let p = put(name, data);
        let err = import(db.path(), &p).unwrap_err().to_string();
        assert!(err.contains(why), "{name}: {err}");
    }
    // Nothing half-written was left behind: only the two installed files.
    let mut left: Vec<String> = std::fs::read_dir(db.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    left.sort();
    assert_eq!(left, ["daily.cvd", "local.ndb"]);
}

#[tokio::test]
async fn an_imported_signature_is_used_by_clamd() {
    // clamd loads what `import` put in its database directory (RELOAD).
    let e = engines::Clamd::temp();
    let src = tempfile::tempdir().unwrap();
    let sample = b"outpost-import-marker-7f3a9c2e harmless test content";
    let hex: String = sample[..30].iter().map(|b| format!("{b:02x}")).collect();
    let f = src.path().join("outpost-local.ndb");
    std::fs::write(&f, format!("Outpost.Local.Marker:0:*:{hex}\n")).unwrap();
    let c = client(socket(&e), 1 << 20);
    assert_eq!(c.scan(sample).await.unwrap(), Scan::Clean);
    import(&e.db_dir, &f).unwrap();
    reload(socket(&e));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match c.scan(sample).await.unwrap() {
            Scan::Infected(s) => {
                assert_eq!(s, "Outpost.Local.Marker.UNOFFICIAL");
                break;
            }
            Scan::Clean => {
                assert!(Instant::now() < deadline, "clamd never loaded the import");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

fn reload(socket: &std::path::Path) {
    use std::io::{Read, Write};
    let mut s = std::os::unix::net::UnixStream::connect(socket).unwrap();
    s.write_all(b"zRELOAD\0").unwrap();
    let mut r = Vec::new();
    s.read_to_end(&mut r).unwrap();
    assert!(
        r.starts_with(b"RELOADING"),
        "{}",
        String::from_utf8_lossy(&r)
    );
}
