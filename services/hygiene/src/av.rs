//! The virus scanner: a client of clamd's `INSTREAM` command, and the
//! import of signature databases for `outpostctl av import`.
//!
//! The protocol (clamd(8), "INSTREAM"): the command `zINSTREAM\0` (the `z`
//! form: NUL-terminated command and reply), then the data in chunks, each
//! prefixed with its length as a 4-byte big-endian integer, then a chunk of
//! length zero; clamd answers one line: `stream: OK`, `stream: <name>
//! FOUND`, or `<message> ERROR` (e.g. `INSTREAM size limit exceeded.
//! ERROR` when the stream passes clamd's `StreamMaxLength`, after which
//! clamd closes the connection, so a failed write is followed by a read
//! of that reply).
//!
//! Every scan is bounded: at most `max_scan_bytes` are streamed (larger
//! mail is scanned up to it, as `[smtp.av]` documents) and the whole
//! exchange ends within `timeout_secs`. The signature name clamd reports
//! comes from a database file, so it is sanitised before it can reach an
//! SMTP reply or a log line ([`Scan::Infected`]).

use std::fmt;
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use outpost_config::hygiene::Av;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Largest chunk sent in one `INSTREAM` frame.
const CHUNK: usize = 64 * 1024;
/// Longest reply read from clamd (a reply is one short line).
const MAX_REPLY: usize = 4096;
/// Longest signature name kept.
const MAX_SIGNATURE: usize = 100;
/// Largest signature file `import` copies (main.cvd is ~170 MB).
const MAX_IMPORT: u64 = 1 << 30;

/// What clamd failed at (or, for [`import`], what was refused).
#[derive(Debug)]
pub enum Error {
    /// The socket could not be reached (clamd down).
    Connect(String, std::io::Error),
    /// No complete answer within `timeout_secs`.
    Timeout(String, Duration),
    /// The stream broke off mid-exchange.
    Io(String, std::io::Error),
    /// clamd answered `… ERROR` (the message, sanitised).
    Engine(String, String),
    /// clamd's reply was not one of `OK`, `FOUND` or `ERROR`.
    Reply(String, String),
    /// `import`: the file is not a signature database we accept.
    Refused(PathBuf, String),
    /// `import`: reading or writing a file failed.
    File(PathBuf, std::io::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Connect(a, e) => write!(f, "connecting to clamd at {a}: {e}"),
            Error::Timeout(a, d) => {
                write!(f, "clamd at {a} did not answer within {} s", d.as_secs())
            }
            Error::Io(a, e) => write!(f, "streaming to clamd at {a}: {e}"),
            Error::Engine(a, m) => write!(f, "clamd at {a} failed: {m}"),
            Error::Reply(a, m) => write!(f, "clamd at {a} sent an unexpected reply: {m:?}"),
            Error::Refused(p, m) => write!(f, "refusing {}: {m}", p.display()),
            Error::File(p, e) => write!(f, "{}: {e}", p.display()),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Connect(_, e) | Error::Io(_, e) | Error::File(_, e) => Some(e),
            _ => None,
        }
    }
}

/// clamd's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scan {
    /// No signature matched.
    Clean,
    /// A signature matched: its name, printable ASCII without spaces or
    /// quotes, at most 100 characters (safe in an SMTP reply).
    Infected(String),
}

#[derive(Debug, Clone)]
enum Addr {
    Unix(PathBuf),
    Tcp(String),
}

/// A client of one clamd.
#[derive(Debug, Clone)]
pub struct Clamd {
    addr: Addr,
    timeout: Duration,
    max_scan_bytes: usize,
}

impl Clamd {
    /// The client `[smtp.av]` describes; `None` when `clamd` is empty (no
    /// virus scan). `clamd` is a unix socket path (starting with `/`) or
    /// `HOST:PORT`. A `timeout_secs` of 0 counts as 1.
    pub fn new(cfg: &Av) -> Option<Clamd> {
        let s = cfg.clamd.trim();
        if s.is_empty() {
            return None;
        }
        let addr = if s.starts_with('/') {
            Addr::Unix(PathBuf::from(s))
        } else {
            Addr::Tcp(s.to_string())
        };
        Some(Clamd {
            addr,
            timeout: Duration::from_secs(cfg.timeout_secs.max(1)),
            max_scan_bytes: usize::try_from(cfg.max_scan_bytes).unwrap_or(usize::MAX),
        })
    }

    fn name(&self) -> String {
        match &self.addr {
            Addr::Unix(p) => p.display().to_string(),
            Addr::Tcp(a) => a.clone(),
        }
    }

    /// Scans `message` (its first `max_scan_bytes` bytes).
    pub async fn scan(&self, message: &[u8]) -> Result<Scan, Error> {
        let data = &message[..message.len().min(self.max_scan_bytes)];
        let name = self.name();
        let work = async {
            match &self.addr {
                Addr::Unix(p) => {
                    let s = tokio::net::UnixStream::connect(p)
                        .await
                        .map_err(|e| Error::Connect(name.clone(), e))?;
                    instream(s, data, &name).await
                }
                Addr::Tcp(a) => {
                    let s = tokio::net::TcpStream::connect(a.as_str())
                        .await
                        .map_err(|e| Error::Connect(name.clone(), e))?;
                    let _ = s.set_nodelay(true);
                    instream(s, data, &name).await
                }
            }
        };
        match tokio::time::timeout(self.timeout, work).await {
            Ok(r) => r,
            Err(_) => Err(Error::Timeout(name, self.timeout)),
        }
    }
}

impl Clamd {
    /// Asks clamd to load its database again now (`RELOAD`), so a
    /// signature file just imported scans the next message rather than
    /// after clamd's next `SelfCheck`. Returns clamd's answer
    /// (`RELOADING`).
    pub async fn reload(&self) -> Result<String, Error> {
        let name = self.name();
        let work = async {
            match &self.addr {
                Addr::Unix(p) => {
                    let s = tokio::net::UnixStream::connect(p)
                        .await
                        .map_err(|e| Error::Connect(name.clone(), e))?;
                    command(s, b"zRELOAD\0", &name).await
                }
                Addr::Tcp(a) => {
                    let s = tokio::net::TcpStream::connect(a.as_str())
                        .await
                        .map_err(|e| Error::Connect(name.clone(), e))?;
                    command(s, b"zRELOAD\0", &name).await
                }
            }
        };
        let reply = match tokio::time::timeout(self.timeout, work).await {
            Ok(r) => r?,
            Err(_) => return Err(Error::Timeout(name, self.timeout)),
        };
        if reply == "RELOADING" {
            Ok(reply)
        } else {
            Err(Error::Reply(name, reply))
        }
    }
}

/// One short clamd command and its NUL-terminated reply (bounded).
async fn command<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    cmd: &[u8],
    name: &str,
) -> Result<String, Error> {
    s.write_all(cmd)
        .await
        .map_err(|e| Error::Io(name.to_string(), e))?;
    let mut reply = Vec::new();
    let mut buf = [0u8; 256];
    loop {
        let n = s
            .read(&mut buf)
            .await
            .map_err(|e| Error::Io(name.to_string(), e))?;
        reply.extend_from_slice(&buf[..n]);
        if n == 0 || reply.contains(&0) || reply.len() >= MAX_REPLY {
            break;
        }
    }
    let end = reply.iter().position(|&b| b == 0).unwrap_or(reply.len());
    Ok(String::from_utf8_lossy(&reply[..end]).trim().to_string())
}

/// The `INSTREAM` exchange over any stream.
async fn instream<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    data: &[u8],
    name: &str,
) -> Result<Scan, Error> {
    let sent = async {
        s.write_all(b"zINSTREAM\0").await?;
        for chunk in data.chunks(CHUNK) {
            // `chunks` never yields more than CHUNK (64 KiB) bytes.
            let len = u32::try_from(chunk.len()).unwrap_or(u32::MAX);
            s.write_all(&len.to_be_bytes()).await?;
            s.write_all(chunk).await?;
        }
        s.write_all(&0u32.to_be_bytes()).await?;
        s.flush().await
    }
    .await;
    // Even when the write failed (clamd closes after "size limit
    // exceeded"), its reply may be waiting: read it first.
    let mut reply = Vec::new();
    let mut buf = [0u8; 512];
    let read_err = loop {
        match s.read(&mut buf).await {
            Ok(0) => break None,
            Ok(n) => {
                reply.extend_from_slice(&buf[..n]);
                if reply.contains(&0) || reply.len() >= MAX_REPLY {
                    break None;
                }
            }
            Err(e) => break Some(e),
        }
    };
    if reply.is_empty() {
        return Err(match (sent, read_err) {
            (Err(e), _) | (Ok(()), Some(e)) => Error::Io(name.to_string(), e),
            (Ok(()), None) => Error::Reply(name.to_string(), String::new()),
        });
    }
    parse_reply(&reply, name)
}

fn parse_reply(reply: &[u8], name: &str) -> Result<Scan, Error> {
    let end = reply.iter().position(|&b| b == 0).unwrap_or(reply.len());
    let line = String::from_utf8_lossy(&reply[..end]);
    let line = line.trim_end_matches(['\r', '\n']).trim();
    if let Some(rest) = line.strip_suffix(" FOUND") {
        let sig = rest.strip_prefix("stream:").unwrap_or(rest).trim();
        return Ok(Scan::Infected(sanitise_signature(sig)));
    }
    if line.ends_with("ERROR") {
        let msg = line.strip_suffix("ERROR").unwrap_or(line).trim();
        let msg = msg.trim_end_matches('.');
        return Err(Error::Engine(name.to_string(), sanitise(msg, 200)));
    }
    match line.strip_prefix("stream:").map(str::trim) {
        Some("OK") => Ok(Scan::Clean),
        _ => Err(Error::Reply(name.to_string(), sanitise(line, 200))),
    }
}

/// A signature name as it may appear in an SMTP reply: `[A-Za-z0-9._:/-]`
/// (others become `_`), at most 100 characters, never empty.
fn sanitise_signature(s: &str) -> String {
    let out: String = s
        .chars()
        .take(MAX_SIGNATURE)
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._:/-+".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() {
        "unknown".into()
    } else {
        out
    }
}

fn sanitise(s: &str, max: usize) -> String {
    s.chars()
        .take(max)
        .map(|c| if (' '..='~').contains(&c) { c } else { '?' })
        .collect()
}

/// The database kinds `import` accepts, by extension (clamd's
/// `cli_strbcasestr` list in libclamav/readdb.h), and the line separator of
/// the text formats (`None`: a signed container, checked by its header).
const KINDS: &[(&str, Option<char>, &str)] = &[
    ("cvd", None, "signed ClamAV database"),
    ("cld", None, "ClamAV database (incremental)"),
    ("cud", None, "ClamAV database (unsigned)"),
    ("hdb", Some(':'), "MD5 file hashes"),
    ("hsb", Some(':'), "SHA file hashes"),
    ("hdu", Some(':'), "MD5 file hashes (PUA)"),
    ("hsu", Some(':'), "SHA file hashes (PUA)"),
    ("mdb", Some(':'), "PE section MD5 hashes"),
    ("msb", Some(':'), "PE section SHA hashes"),
    ("mdu", Some(':'), "PE section MD5 hashes (PUA)"),
    ("msu", Some(':'), "PE section SHA hashes (PUA)"),
    ("ndb", Some(':'), "extended (hex) signatures"),
    ("ndu", Some(':'), "extended signatures (PUA)"),
    ("ldb", Some(';'), "logical signatures"),
    ("ldu", Some(';'), "logical signatures (PUA)"),
    ("cdb", Some(':'), "container metadata signatures"),
    ("fp", Some(':'), "false-positive allow list (MD5)"),
    ("sfp", Some(':'), "false-positive allow list (SHA)"),
    ("ign2", Some(':'), "ignored signatures"),
    ("ign", Some(':'), "ignored signatures"),
    ("idb", Some(':'), "icon signatures"),
    ("pdb", Some(':'), "phishing domain list"),
    ("gdb", Some(':'), "phishing domain list (GDB)"),
    ("wdb", Some(':'), "phishing allow list"),
    ("yara", Some('{'), "YARA rules"),
    ("yar", Some('{'), "YARA rules"),
];

/// Copies the signature database `file` into `db_dir` (clamd's
/// `DatabaseDirectory`) under its own name, atomically: a temporary file
/// in `db_dir` (its `.tmp` extension is one clamd does not load), fsync,
/// rename, fsync of the directory. Refuses extensions clamd would not load
/// as a database, a `.cvd`/`.cld`/`.cud` without the `ClamAV-VDB:` header,
/// and a text database that is empty, binary or has no signature lines.
/// Returns what was installed, for `outpostctl av import` to print; clamd
/// loads it at its next `SelfCheck` (or `RELOAD`).
pub fn import(db_dir: &Path, file: &Path) -> Result<String, Error> {
    let refuse = |m: String| Error::Refused(file.to_path_buf(), m);
    let fname = file
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| refuse("no file name".into()))?;
    if fname.starts_with('.')
        || !fname
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-+".contains(c))
    {
        return Err(refuse(
            "the file name must be ASCII letters, digits, '.', '_', '-' or '+'".into(),
        ));
    }
    let ext = fname
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    let Some(&(_, sep, what)) = KINDS.iter().find(|(e, _, _)| *e == ext) else {
        let known: Vec<&str> = KINDS.iter().map(|(e, _, _)| *e).collect();
        return Err(refuse(format!(
            "unknown database extension {:?} (known: {})",
            ext,
            known.join(", ")
        )));
    };

    let file_err = |e| Error::File(file.to_path_buf(), e);
    let meta = fs::metadata(file).map_err(file_err)?;
    if !meta.is_file() {
        return Err(refuse("not a regular file".into()));
    }
    if meta.len() > MAX_IMPORT {
        return Err(refuse(format!("larger than {} bytes", MAX_IMPORT)));
    }
    let mut data = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    fs::File::open(file)
        .map_err(file_err)?
        .take(MAX_IMPORT + 1)
        .read_to_end(&mut data)
        .map_err(file_err)?;

    let detail = match sep {
        None => check_cvd(&data).map_err(refuse)?,
        Some(sep) => check_text(&data, sep).map_err(refuse)?,
    };

    let dest = db_dir.join(fname);
    let tmp = db_dir.join(format!(".{fname}.{}.tmp", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        f.write_all(&data)?;
        f.sync_all()?;
        drop(f);
        set_readable(&tmp)?;
        fs::rename(&tmp, &dest)?;
        fs::File::open(db_dir)?.sync_all()
    };
    if let Err(e) = write() {
        let _ = fs::remove_file(&tmp);
        return Err(Error::File(dest, e));
    }
    Ok(format!(
        "installed {fname} ({what}, {}; {} bytes) into {}; clamd loads it at its next SelfCheck or RELOAD",
        detail,
        data.len(),
        db_dir.display()
    ))
}

#[cfg(unix)]
fn set_readable(p: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(p, fs::Permissions::from_mode(0o644))
}

#[cfg(not(unix))]
fn set_readable(_: &Path) -> std::io::Result<()> {
    Ok(())
}

/// A `.cvd`/`.cld`/`.cud` starts with a 512-byte header
/// `ClamAV-VDB:<time>:<version>:<signatures>:<level>:<md5>:<dsig>:<builder>:<stime>`.
fn check_cvd(data: &[u8]) -> Result<String, String> {
    if !data.starts_with(b"ClamAV-VDB:") {
        return Err("not a ClamAV database (no \"ClamAV-VDB:\" header)".into());
    }
    if data.len() < 512 {
        return Err("truncated (shorter than the 512-byte header)".into());
    }
    let header = String::from_utf8_lossy(&data[..512]);
    let fields: Vec<&str> = header.trim_end_matches(['\0', ' ']).split(':').collect();
    let version = fields.get(2).and_then(|v| v.trim().parse::<u64>().ok());
    let sigs = fields.get(3).and_then(|v| v.trim().parse::<u64>().ok());
    match (version, sigs) {
        (Some(v), Some(s)) => Ok(format!("version {v}, {s} signatures")),
        _ => Err("malformed \"ClamAV-VDB:\" header".into()),
    }
}

/// A text database: UTF-8 without NUL, and at least one signature line
/// (for line formats: a non-comment line with the field separator; for
/// YARA: a `rule` with a body).
fn check_text(data: &[u8], sep: char) -> Result<String, String> {
    if data.contains(&0) {
        return Err("binary content in a text database".into());
    }
    let text = std::str::from_utf8(data).map_err(|_| "not UTF-8 text".to_string())?;
    if sep == '{' {
        let rules = text
            .lines()
            .filter(|l| {
                let l = l.trim_start();
                l.starts_with("rule ")
                    || l.starts_with("private rule ")
                    || l.starts_with("global rule ")
            })
            .count();
        if rules == 0 || !text.contains('{') {
            return Err("no YARA rule in the file".into());
        }
        return Ok(format!("{rules} rules"));
    }
    let mut sigs = 0usize;
    for (i, line) in text.lines().enumerate() {
        let l = line.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        if !l.contains(sep) {
            return Err(format!("line {} is not a signature (no '{sep}')", i + 1));
        }
        sigs += 1;
    }
    if sigs == 0 {
        return Err("no signatures in the file".into());
    }
    Ok(format!("{sigs} signatures"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies() {
        let n = "clamd";
        assert_eq!(parse_reply(b"stream: OK\0", n).unwrap(), Scan::Clean);
        assert_eq!(
            parse_reply(b"stream: Win.Test.EICAR_HDB-1 FOUND\0", n).unwrap(),
            Scan::Infected("Win.Test.EICAR_HDB-1".into())
        );
        assert_eq!(
            parse_reply(b"stream: evil \"<sig>\"\r\n\x01 FOUND\0", n).unwrap(),
            Scan::Infected("evil___sig_____".into())
        );
        let e = parse_reply(b"INSTREAM size limit exceeded. ERROR\0", n).unwrap_err();
        assert_eq!(
            e.to_string(),
            "clamd at clamd failed: INSTREAM size limit exceeded"
        );
        assert!(matches!(parse_reply(b"PONG\0", n), Err(Error::Reply(..))));
        let long = format!("stream: {} FOUND\0", "A".repeat(1000));
        let Scan::Infected(s) = parse_reply(long.as_bytes(), n).unwrap() else {
            panic!()
        };
        assert_eq!(s.len(), MAX_SIGNATURE);
    }
}
