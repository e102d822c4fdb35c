//! POP3 (RFC 1939) with CAPA/UIDL/TOP (RFC 2449), STLS (RFC 2595) and SASL
//! PLAIN (RFC 5034). Serves the INBOX; deletions are applied only on QUIT
//! (UPDATE state), and a lock file keeps one POP3 session per mailbox.

use crate::parse::Reader;
use crate::server::{BoxStream, Shared};
use base64::Engine;
use outpost_store::{Flags, Folder, Mailbox, MessageMeta};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Maildrop {
    folder: Folder,
    msgs: Vec<MessageMeta>,
    deleted: Vec<bool>,
    /// Retrieved messages, marked `\Seen` at QUIT (one index update, and
    /// nothing changes if the connection drops, like the deletions).
    retrieved: Vec<bool>,
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

    async fn read_line(&mut self) -> std::io::Result<Option<String>> {
        let timeout = Duration::from_secs(if self.drop.is_some() {
            600
        } else {
            self.sh.config.imap.preauth_timeout_secs
        });
        loop {
            match self.rd.take_line() {
                Ok(Some(l)) => return Ok(Some(String::from_utf8_lossy(&l).into_owned())),
                Ok(None) => {}
                Err(_) => return Ok(None),
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
                let log = |outcome: Result<(), &str>| {
                    outpost_daemon::log::login("pop3", mech, &address, self.peer.ip(), outcome)
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
                    let deleted = vec![false; msgs.len()];
                    Ok(Maildrop {
                        folder,
                        msgs,
                        retrieved: deleted.clone(),
                        deleted,
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

    fn msg(&self, arg: Option<&str>) -> Result<usize, &'static str> {
        let d = self.drop.as_ref().ok_or("-ERR not authenticated")?;
        let n: usize = arg
            .and_then(|a| a.parse().ok())
            .ok_or("-ERR message number required")?;
        if n == 0 || n > d.msgs.len() || d.deleted[n - 1] {
            return Err("-ERR no such message");
        }
        Ok(n - 1)
    }

    async fn main(&mut self) -> std::io::Result<()> {
        self.line("+OK Outpost POP3 ready");
        self.flush().await?;
        while let Some(l) = self.read_line().await? {
            let mut parts = l.splitn(3, ' ');
            let cmd = parts.next().unwrap_or("").to_ascii_uppercase();
            let a1 = parts.next().map(str::to_string);
            let a2 = parts.next().map(str::to_string);
            let authed = self.drop.is_some();
            match cmd.as_str() {
                "CAPA" => {
                    let c = self.caps();
                    self.line(&c);
                }
                "QUIT" => {
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
                        let seen: Vec<u32> =
                            seen.into_iter().filter(|u| !uids.contains(u)).collect();
                        let mut r = Ok(());
                        if !seen.is_empty() {
                            // RETR marks messages seen, as Dovecot does.
                            let f = Flags {
                                bits: Flags::SEEN,
                                ..Default::default()
                            };
                            r = d
                                .folder
                                .store(&seen, outpost_store::StoreFlags::Add, &f, None)
                                .map(|_| ());
                        }
                        if r.is_ok() && !uids.is_empty() {
                            r = d.folder.expunge(Some(&uids), false).map(|_| ());
                        }
                        match r {
                            Ok(()) => self.line("+OK bye"),
                            Err(_) => self.line("-ERR some deleted messages not removed"),
                        }
                    } else {
                        self.line("+OK bye");
                    }
                    return self.flush().await;
                }
                "NOOP" if authed => self.line("+OK"),
                "STLS" if !authed && !self.tls => {
                    if self.sh.tls.is_none() {
                        self.line("-ERR TLS unavailable");
                        continue;
                    }
                    self.line("+OK begin TLS");
                    self.flush().await?;
                    self.rd = Reader::new(4096, 0, 4096);
                    let io = std::mem::replace(&mut self.io, Box::new(tokio::io::duplex(1).0));
                    self.io = self.sh.start_tls(io).await?;
                    self.tls = true;
                    continue;
                }
                "USER" if !authed => {
                    if !self.sh.plaintext_ok(self.tls, &self.peer) {
                        self.line("-ERR use STLS first");
                    } else {
                        self.user = a1;
                        self.line("+OK send PASS");
                    }
                }
                "PASS" if !authed => {
                    // The password may contain spaces: take the rest of the line.
                    let pass = l.get(5..).unwrap_or("").to_string();
                    match self.user.take() {
                        Some(u) if self.sh.plaintext_ok(self.tls, &self.peer) => {
                            self.login("USER", &u, &pass).await?
                        }
                        _ => self.line("-ERR USER first"),
                    }
                }
                "AUTH" if !authed => {
                    let Some(mech) = a1 else {
                        self.line("+OK\r\nPLAIN\r\n.");
                        self.flush().await?;
                        continue;
                    };
                    if !mech.eq_ignore_ascii_case("PLAIN")
                        || !self.sh.plaintext_ok(self.tls, &self.peer)
                    {
                        self.line("-ERR unsupported mechanism or TLS required");
                    } else {
                        let resp = match a2 {
                            Some(ir) => Some(ir),
                            None => {
                                self.line("+ ");
                                self.flush().await?;
                                self.read_line().await?
                            }
                        };
                        let decoded = resp.filter(|r| r != "*").and_then(|r| {
                            base64::engine::general_purpose::STANDARD
                                .decode(r.trim())
                                .ok()
                        });
                        let parts: Option<Vec<Vec<u8>>> =
                            decoded.map(|d| d.split(|b| *b == 0).map(<[u8]>::to_vec).collect());
                        match parts {
                            Some(p) if p.len() == 3 => {
                                let (z, u, pw) = (
                                    String::from_utf8_lossy(&p[0]).into_owned(),
                                    String::from_utf8_lossy(&p[1]).into_owned(),
                                    String::from_utf8_lossy(&p[2]).into_owned(),
                                );
                                if !z.is_empty() && !z.eq_ignore_ascii_case(&u) {
                                    // No proxy authorisation (RFC 4616 §2).
                                    outpost_daemon::log::login(
                                        "pop3",
                                        "PLAIN",
                                        &u,
                                        self.peer.ip(),
                                        Err("authzid differs"),
                                    );
                                    self.line("-ERR [AUTH] authorization identity refused");
                                } else {
                                    self.login("PLAIN", &u, &pw).await?;
                                }
                            }
                            _ => self.line("-ERR invalid AUTH response"),
                        }
                    }
                }
                "STAT" if authed => {
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
                "LIST" | "UIDL" if authed => {
                    let uidl = cmd == "UIDL";
                    let d = self.drop.as_ref().map(|d| {
                        (
                            d.msgs.clone(),
                            d.deleted.clone(),
                            d.folder.sync().map(|c| c.snapshot.uidvalidity).unwrap_or(0),
                        )
                    });
                    let Some((msgs, deleted, v)) = d else {
                        continue;
                    };
                    // A UIDL stable across sessions and unique in the
                    // mailbox: UIDVALIDITY plus UID, as Dovecot's %v.%u.
                    let item = |i: usize, m: &MessageMeta| {
                        if uidl {
                            format!("{} {}.{}", i + 1, v, m.uid)
                        } else {
                            format!("{} {}", i + 1, m.size)
                        }
                    };
                    if a1.is_some() {
                        match self.msg(a1.as_deref()) {
                            Ok(i) => self.line(&format!("+OK {}", item(i, &msgs[i]))),
                            Err(e) => self.line(e),
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
                        self.line(&s);
                    }
                }
                "RETR" | "TOP" if authed => {
                    let i = match self.msg(a1.as_deref()) {
                        Ok(i) => i,
                        Err(e) => {
                            self.line(e);
                            continue;
                        }
                    };
                    let top: Option<usize> = if cmd == "TOP" {
                        match a2.as_deref().and_then(|n| n.trim().parse().ok()) {
                            Some(n) => Some(n),
                            None => {
                                self.line("-ERR TOP msg lines");
                                continue;
                            }
                        }
                    } else {
                        None
                    };
                    let Some(d) = self.drop.as_ref() else {
                        continue;
                    };
                    let m = d.msgs[i].clone();
                    let data = match d
                        .folder
                        .read_message(&m)
                        .or_else(|_| d.folder.read(m.uid).map_err(std::io::Error::other))
                    {
                        Ok(b) => b,
                        Err(_) => {
                            self.line("-ERR message vanished");
                            continue;
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
                "DELE" if authed => match self.msg(a1.as_deref()) {
                    Ok(i) => {
                        if let Some(d) = self.drop.as_mut() {
                            d.deleted[i] = true;
                        }
                        self.line("+OK deleted");
                    }
                    Err(e) => self.line(e),
                },
                "RSET" if authed => {
                    if let Some(d) = self.drop.as_mut() {
                        d.deleted.iter_mut().for_each(|x| *x = false);
                    }
                    self.line("+OK");
                }
                _ => self.line("-ERR unknown command or wrong state"),
            }
            // Pipelining (RFC 2449): answer everything already received first.
            if self.rd.buffered() == 0 || self.out.len() > 256 * 1024 {
                self.flush().await?;
            }
        }
        let _ = self.flush().await;
        Ok(())
    }
}
