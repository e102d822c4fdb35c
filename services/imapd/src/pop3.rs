//! POP3 (RFC 1939) with CAPA/UIDL/TOP (RFC 2449), STLS (RFC 2595) and SASL
//! PLAIN (RFC 5034). Serves the INBOX; deletions are applied only on QUIT
//! (UPDATE state), and a lock file keeps one POP3 session per mailbox.
//! Each line is parsed by `outpost-imap-proto` into a [`Pop3Command`]; the
//! state rules, the maildrop and the replies are this module's.

use crate::parse::Reader;
use crate::server::{BoxStream, Shared};
use base64::Engine;
use outpost_imap_proto::pop3::{Pop3Command, Pop3Error, parse_pop3};
use outpost_store::{Flags, Folder, Mailbox, MessageMeta};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tracing::Instrument as _;

struct Maildrop {
    folder: Folder,
    msgs: Vec<MessageMeta>,
    deleted: Vec<bool>,
    /// Retrieved messages, marked `\Seen` at QUIT (one index update, and
    /// nothing changes if the connection drops, like the deletions).
    retrieved: Vec<bool>,
    /// The folder's UIDVALIDITY when the session began (the UIDL prefix).
    uidvalidity: u32,
    _lock: outpost_store::MaildropLock,
}

/// Runs one POP3 connection.
pub async fn run(sh: Arc<Shared>, io: BoxStream, peer: SocketAddr, tls: bool) {
    let mut s = Pop {
        sh,
        io,
        peer,
        tls,
        rd: Reader::new(4096, 0, 4096),
        out: Vec::new(),
        user: None,
        drop: None,
        conn: tracing::Span::current(),
    };
    let _ = s.main().await;
}

struct Pop {
    sh: Arc<Shared>,
    io: BoxStream,
    peer: SocketAddr,
    tls: bool,
    rd: Reader,
    out: Vec<u8>,
    user: Option<String>,
    drop: Option<Maildrop>,
    /// The connection's span: the user and STLS are recorded there, not on
    /// the per-command span.
    conn: tracing::Span,
}

/// Dot-stuffs and terminates a multi-line response (RFC 1939 §3).
fn stuff(out: &mut Vec<u8>, data: &[u8]) {
    for line in data.split_inclusive(|b| *b == b'\n') {
        if line.starts_with(b".") {
            out.push(b'.');
        }
        out.extend_from_slice(line);
        if !line.ends_with(b"\n") {
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(b".\r\n");
}

impl Pop {
    fn line(&mut self, s: &str) {
        self.out.extend_from_slice(s.as_bytes());
        self.out.extend_from_slice(b"\r\n");
    }

    async fn flush(&mut self) -> std::io::Result<()> {
        self.io.write_all(&self.out).await?;
        self.out.clear();
        self.io.flush().await
    }

    /// The next command line, without its CRLF; `None` when the session
    /// ends (EOF, timeout, shutdown, or a line longer than the framing
    /// allows, which is answered first).
    async fn read_line(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        let timeout = Duration::from_secs(if self.drop.is_some() {
            600
        } else {
            self.sh.config.imap.preauth_timeout_secs
        });
        loop {
            match self.rd.take_line() {
                Ok(Some(l)) => return Ok(Some(l)),
                Ok(None) => {}
                Err(_) => {
                    // RFC 2449 §4 bounds command lines at 255 octets; the
                    // framing allows 4,096. A longer line is refused
                    // aloud (a silent close looked like a network fault
                    // to the client, which retried), then the session
                    // ends: what follows cannot be framed.
                    self.line("-ERR line too long");
                    let _ = self.flush().await;
                    return Ok(None);
                }
            }
            let mut buf = [0u8; 4096];
            let sd = self.sh.shutdown.clone();
            let between = self.rd.buffered() == 0;
            tokio::select! {
                r = tokio::time::timeout(timeout, self.io.read(&mut buf)) => match r {
                    Ok(Ok(0)) | Err(_) | Ok(Err(_)) => return Ok(None),
                    Ok(Ok(n)) => self.rd.feed(&buf[..n]),
                },
                // Between commands: deletions are not committed (RFC 1939
                // §6: only QUIT enters the UPDATE state).
                _ = sd.wait(), if between => {
                    self.line("-ERR [SYS/TEMP] server shutting down");
                    let _ = self.flush().await;
                    return Ok(None);
                }
            }
        }
    }

    fn caps(&self) -> String {
        let mut c = String::from(
            "+OK capabilities\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\nAUTH-RESP-CODE\r\n",
        );
        if !self.tls && self.sh.tls.is_some() {
            c.push_str("STLS\r\n");
        }
        if self.sh.plaintext_ok(self.tls, &self.peer) {
            c.push_str("USER\r\nSASL PLAIN\r\n");
        }
        c.push_str("IMPLEMENTATION Outpost\r\n.");
        c
    }

    /// A login refused before the directory is asked (a password or name
    /// that is not UTF-8, a foreign authorisation identity): logged and
    /// delayed like any failed login.
    async fn refuse_login(&mut self, mech: &str, user: &str, reason: &str, reply: &str) {
        outpost_daemon::log::login("pop3", mech, user, self.peer.ip(), Err(reason));
        tokio::time::sleep(Duration::from_millis(300)).await;
        self.line(reply);
    }

    async fn login(&mut self, mech: &str, user: &str, pass: &str) -> std::io::Result<()> {
        match self.sh.authenticate(user, pass, &self.peer).await {
            Err(e) => {
                outpost_daemon::log::login(
                    "pop3",
                    mech,
                    user,
                    self.peer.ip(),
                    Err(crate::server::auth_reason(&e)),
                );
                tokio::time::sleep(Duration::from_millis(300)).await;
                let code = if e.contains("locked") {
                    "[SYS/TEMP]"
                } else {
                    "[AUTH]"
                };
                self.line(&format!("-ERR {code} authentication failed"));
            }
            Ok(u) => {
                let root = self.sh.mail_root();
                let address = u.address.clone();
                let conn = self.conn.clone();
                let log = |outcome: Result<(), &str>| {
                    outpost_daemon::log::login_on(
                        &conn,
                        "pop3",
                        mech,
                        &address,
                        self.peer.ip(),
                        outcome,
                    )
                };
                let r = tokio::task::spawn_blocking(move || -> Result<Maildrop, String> {
                    let mb =
                        Mailbox::open(&root, &u.domain, &u.local).map_err(|e| e.to_string())?;
                    let folder = mb.folder("INBOX").map_err(|e| e.to_string())?;
                    // RFC 1939 §8: one session holds the maildrop.
                    let lock = folder
                        .lock_maildrop()
                        .map_err(|e| e.to_string())?
                        .ok_or_else(|| "locked".to_string())?;
                    let snap = folder.sync().map_err(|e| e.to_string())?.snapshot;
                    let msgs = snap.messages.clone();
                    let uidvalidity = snap.uidvalidity;
                    let deleted = vec![false; msgs.len()];
                    Ok(Maildrop {
                        folder,
                        msgs,
                        retrieved: deleted.clone(),
                        deleted,
                        uidvalidity,
                        _lock: lock,
                    })
                })
                .await;
                match r {
                    Ok(Ok(d)) => {
                        log(Ok(()));
                        let n = d.msgs.len();
                        let size: u64 = d.msgs.iter().map(|m| m.size).sum();
                        self.drop = Some(d);
                        self.line(&format!("+OK maildrop has {n} messages ({size} octets)"));
                    }
                    Ok(Err(e)) if e == "locked" => {
                        log(Err("maildrop in use"));
                        self.line("-ERR [IN-USE] maildrop already locked")
                    }
                    r => {
                        if let Ok(Err(e)) = &r {
                            tracing::error!(user = address.as_str(), error = %e, "opening the maildrop failed");
                        }
                        log(Err("maildrop unavailable"));
                        self.line("-ERR [SYS/TEMP] maildrop unavailable")
                    }
                }
            }
        }
        Ok(())
    }

    /// The index of message `n` (1-based, as sent), if the maildrop has it
    /// and it is not deleted.
    fn msg(&self, n: u32) -> Result<usize, &'static str> {
        let d = self.drop.as_ref().ok_or("-ERR not authenticated")?;
        let n = usize::try_from(n).unwrap_or(usize::MAX);
        if n == 0 || n > d.msgs.len() || d.deleted[n - 1] {
            return Err("-ERR no such message");
        }
        Ok(n - 1)
    }

    /// Sends what is buffered, unless more pipelined commands are already
    /// here (RFC 2449: answer everything received first). Every reply,
    /// refusals included, goes out before the session waits for input:
    /// a refused RETR used to wait for the client's next command.
    async fn answer(&mut self) -> std::io::Result<()> {
        if self.rd.buffered() == 0 || self.out.len() > 256 * 1024 {
            self.flush().await?;
        }
        Ok(())
    }

    /// Runs one command line; says whether it was answered already or the
    /// session is over.
    async fn step(&mut self, l: &str, utf8: bool, authed: bool) -> std::io::Result<Step> {
        match parse_pop3(l) {
            Ok(Pop3Command::Capa) => {
                let c = self.caps();
                self.line(&c);
            }
            Ok(Pop3Command::Quit) => {
                if let Some(d) = self.drop.take() {
                    let pick = |which: &[bool]| -> Vec<u32> {
                        d.msgs
                            .iter()
                            .zip(which)
                            .filter(|(_, on)| **on)
                            .map(|(m, _)| m.uid)
                            .collect()
                    };
                    let (uids, seen) = (pick(&d.deleted), pick(&d.retrieved));
                    let seen: Vec<u32> = seen.into_iter().filter(|u| !uids.contains(u)).collect();
                    let r = crate::imap::blocking(|| {
                        if !seen.is_empty() {
                            // RETR marks messages seen, as Dovecot does.
                            let f = Flags {
                                bits: Flags::SEEN,
                                ..Default::default()
                            };
                            d.folder
                                .store(&seen, outpost_store::StoreFlags::Add, &f, None)?;
                        }
                        if !uids.is_empty() {
                            d.folder.expunge(Some(&uids), false)?;
                        }
                        Ok::<(), outpost_store::StoreError>(())
                    });
                    match r {
                        Ok(()) => self.line("+OK bye"),
                        Err(_) => self.line("-ERR some deleted messages not removed"),
                    }
                } else {
                    self.line("+OK bye");
                }
                self.flush().await?;
                return Ok(Step::Close);
            }
            Ok(Pop3Command::Noop) if authed => self.line("+OK"),
            Ok(Pop3Command::Stls) if !authed && !self.tls => {
                if self.sh.tls.is_none() {
                    self.line("-ERR TLS unavailable");
                    self.answer().await?;
                    return Ok(Step::Answered);
                }
                self.line("+OK begin TLS");
                self.flush().await?;
                self.rd = Reader::new(4096, 0, 4096);
                let io = std::mem::replace(&mut self.io, Box::new(tokio::io::duplex(1).0));
                self.io = self.sh.start_tls(io, &self.conn).await?;
                self.tls = true;
                return Ok(Step::Answered);
            }
            Ok(Pop3Command::User(name)) if !authed => {
                if !self.sh.plaintext_ok(self.tls, &self.peer) {
                    self.line("-ERR use STLS first");
                } else {
                    self.user = name;
                    self.line("+OK send PASS");
                }
            }
            // The password may contain spaces: it is the rest of the line.
            Ok(Pop3Command::Pass(pass)) if !authed => match self.user.take() {
                Some(u) if self.sh.plaintext_ok(self.tls, &self.peer) && !utf8 => {
                    self.refuse_login(
                        "USER",
                        &u,
                        "credentials not UTF-8",
                        "-ERR [AUTH] authentication failed",
                    )
                    .await
                }
                Some(u) if self.sh.plaintext_ok(self.tls, &self.peer) => {
                    self.login("USER", &u, &pass).await?
                }
                _ => self.line("-ERR USER first"),
            },
            Ok(Pop3Command::AuthList) if !authed => {
                // Only mechanisms this connection may use, as CAPA's
                // SASL line: PLAIN needs TLS off loopback.
                if self.sh.plaintext_ok(self.tls, &self.peer) {
                    self.line("+OK\r\nPLAIN\r\n.");
                } else {
                    self.line("+OK\r\n.");
                }
                self.flush().await?;
                return Ok(Step::Answered);
            }
            Ok(Pop3Command::Auth { mechanism, initial }) if !authed => {
                if !mechanism.eq_ignore_ascii_case("PLAIN")
                    || !self.sh.plaintext_ok(self.tls, &self.peer)
                {
                    self.line("-ERR unsupported mechanism or TLS required");
                } else {
                    let resp = match initial {
                        Some(ir) => Some(ir),
                        None => {
                            self.line("+ ");
                            self.flush().await?;
                            self.read_line()
                                .await?
                                .map(|r| String::from_utf8_lossy(&r).into_owned())
                        }
                    };
                    let decoded = resp.filter(|r| r != "*").and_then(|r| {
                        base64::engine::general_purpose::STANDARD
                            .decode(r.trim())
                            .ok()
                    });
                    let parts: Option<Vec<Vec<u8>>> =
                        decoded.map(|d| d.split(|b| *b == 0).map(<[u8]>::to_vec).collect());
                    let text = |b: &[u8]| String::from_utf8(b.to_vec()).ok();
                    match parts {
                        Some(p) if p.len() == 3 && p.iter().any(|x| text(x).is_none()) => {
                            // RFC 4616 §2: all three are UTF-8.
                            let u = String::from_utf8_lossy(&p[1]).into_owned();
                            self.refuse_login(
                                "PLAIN",
                                &u,
                                "credentials not UTF-8",
                                "-ERR [AUTH] authentication failed",
                            )
                            .await
                        }
                        Some(p) if p.len() == 3 => {
                            let (z, u, pw) = (
                                text(&p[0]).unwrap_or_default(),
                                text(&p[1]).unwrap_or_default(),
                                text(&p[2]).unwrap_or_default(),
                            );
                            if !z.is_empty() && !z.eq_ignore_ascii_case(&u) {
                                // No proxy authorisation (RFC 4616 §2).
                                self.refuse_login(
                                    "PLAIN",
                                    &u,
                                    "authzid differs",
                                    "-ERR [AUTH] authorization identity refused",
                                )
                                .await
                            } else {
                                self.login("PLAIN", &u, &pw).await?;
                            }
                        }
                        _ => self.line("-ERR invalid AUTH response"),
                    }
                }
            }
            Ok(Pop3Command::Stat) if authed => {
                let d = self.drop.as_ref().map(|d| {
                    d.msgs
                        .iter()
                        .zip(&d.deleted)
                        .filter(|(_, x)| !**x)
                        .fold((0, 0), |(n, s), (m, _)| (n + 1, s + m.size))
                });
                let (n, s) = d.unwrap_or((0, 0));
                self.line(&format!("+OK {n} {s}"));
            }
            Ok(c @ (Pop3Command::List(n) | Pop3Command::Uidl(n))) if authed => {
                let uidl = matches!(c, Pop3Command::Uidl(_));
                let Some(d) = self.drop.as_ref() else {
                    self.answer().await?;
                    return Ok(Step::Answered);
                };
                // The snapshot of the session's start: RFC 1939 §5's
                // numbering and the UIDL prefix do not change under it
                // (the folder was synced on every UIDL before).
                let (msgs, deleted, v) = (&d.msgs, &d.deleted, d.uidvalidity);
                // A UIDL stable across sessions and unique in the
                // mailbox: UIDVALIDITY plus UID, as Dovecot's %v.%u.
                let item = |i: usize, m: &MessageMeta| {
                    if uidl {
                        format!("{} {}.{}", i + 1, v, m.uid)
                    } else {
                        format!("{} {}", i + 1, m.size)
                    }
                };
                let reply = if let Some(n) = n {
                    match self.msg(n) {
                        Ok(i) => format!("+OK {}", item(i, &msgs[i])),
                        Err(e) => e.to_string(),
                    }
                } else {
                    let mut s = String::from("+OK\r\n");
                    for (i, m) in msgs.iter().enumerate() {
                        if !deleted[i] {
                            s.push_str(&item(i, m));
                            s.push_str("\r\n");
                        }
                    }
                    s.push('.');
                    s
                };
                self.line(&reply);
            }
            Ok(c @ (Pop3Command::Retr(n) | Pop3Command::Top { msg: n, .. })) if authed => {
                let i = match self.msg(n) {
                    Ok(i) => i,
                    Err(e) => {
                        self.line(e);
                        self.answer().await?;
                        return Ok(Step::Answered);
                    }
                };
                let top: Option<usize> = match c {
                    Pop3Command::Top { lines, .. } => {
                        Some(usize::try_from(lines).unwrap_or(usize::MAX))
                    }
                    _ => None,
                };
                let Some(d) = self.drop.as_ref() else {
                    self.answer().await?;
                    return Ok(Step::Answered);
                };
                let m = d.msgs[i].clone();
                let data = match crate::imap::blocking(|| {
                    d.folder
                        .read_message(&m)
                        .or_else(|_| d.folder.read(m.uid).map_err(std::io::Error::other))
                }) {
                    Ok(b) => b,
                    Err(_) => {
                        self.line("-ERR message vanished");
                        self.answer().await?;
                        return Ok(Step::Answered);
                    }
                };
                let data = match top {
                    Some(n) => {
                        let h = crate::mime::header_block(&data).len();
                        let body = &data[h..];
                        let end = body
                            .split_inclusive(|b| *b == b'\n')
                            .take(n)
                            .map(<[u8]>::len)
                            .sum::<usize>();
                        data[..h + end].to_vec()
                    }
                    None => {
                        if !m.flags.has(Flags::SEEN)
                            && let Some(d) = self.drop.as_mut()
                        {
                            d.retrieved[i] = true;
                        }
                        data
                    }
                };
                self.out
                    .extend_from_slice(format!("+OK {} octets\r\n", data.len()).as_bytes());
                let mut o = std::mem::take(&mut self.out);
                stuff(&mut o, &data);
                self.out = o;
            }
            Ok(Pop3Command::Dele(n)) if authed => match self.msg(n) {
                Ok(i) => {
                    if let Some(d) = self.drop.as_mut() {
                        d.deleted[i] = true;
                    }
                    self.line("+OK deleted");
                }
                Err(e) => self.line(e),
            },
            Ok(Pop3Command::Rset) if authed => {
                if let Some(d) = self.drop.as_mut() {
                    d.deleted.iter_mut().for_each(|x| *x = false);
                }
                self.line("+OK");
            }
            Err(e @ (Pop3Error::NumberRequired { .. } | Pop3Error::NoSuchMessage { .. }))
                if authed =>
            {
                self.line(match e {
                    Pop3Error::NumberRequired { .. } => "-ERR message number required",
                    _ => "-ERR no such message",
                });
            }
            Err(Pop3Error::LinesRequired { msg }) if authed => {
                // The message number is checked against the maildrop
                // before the line count.
                let e = self.msg(msg).err().unwrap_or("-ERR TOP msg lines");
                self.line(e);
                self.answer().await?;
                return Ok(Step::Answered);
            }
            _ => self.line("-ERR unknown command or wrong state"),
        }
        Ok(Step::Unanswered)
    }

    async fn main(&mut self) -> std::io::Result<()> {
        self.line("+OK Outpost POP3 ready");
        self.flush().await?;
        while let Some(raw) = self.read_line().await? {
            let authed = self.drop.is_some();
            // The verb and numbers are ASCII, so a lossy view parses the
            // same; only credentials need the exact bytes (two different
            // byte strings must never become one password).
            let utf8 = std::str::from_utf8(&raw).is_ok();
            let l = String::from_utf8_lossy(&raw);
            // The state is checked before the arguments: a refused
            // argument (`Err`) is answered only in the TRANSACTION state,
            // where every command that has one lives; otherwise, like an
            // unknown verb, it is the last arm's "unknown command or wrong
            // state".
            // A span per command: the verb only (never an argument: PASS
            // carries the password), bounded.
            let verb = l
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_ascii_uppercase();
            let span = tracing::info_span!("cmd", name = &*outpost_daemon::log::client_str(&verb));
            match self.step(&l, utf8, authed).instrument(span).await? {
                Step::Close => return Ok(()),
                Step::Answered => continue,
                Step::Unanswered => {}
            }
            self.answer().await?;
        }
        let _ = self.flush().await;
        Ok(())
    }
}

/// What [`Session::step`] did with a command.
enum Step {
    /// Replied and flushed as needed: read the next command.
    Answered,
    /// Replied into the buffer: send it unless more commands are here.
    Unanswered,
    /// The session is over (QUIT, or TLS could not start).
    Close,
}
