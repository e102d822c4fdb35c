//! The IMAP session (RFC 3501 / RFC 9051 and the extensions listed in
//! [`CAPABILITIES`]): one task per connection, generic over the stream so
//! plain, STARTTLS, implicit TLS and COMPRESS share one code path.
//!
//! Flow per command: bytes → [`Reader`] frame → [`parse_command`] →
//! `command()` → responses buffered in `out` → one flush. Changes made by
//! other sessions (or deliveries) are found by re-syncing the folder index
//! after each command (not during FETCH/STORE/SEARCH by sequence number,
//! where RFC 9051 §7.5.1 forbids EXPUNGE) and every second while IDLE.

use crate::fetch::{self, Att};
use crate::parse::{Command, Event, Reader, Tok, parse_command};
use crate::search::{self, Candidate, Key};
use crate::seqset::{self, SeqSet};
use crate::server::{BoxStream, Shared, User};
use crate::wire::{self, string};
use base64::Engine;
use outpost_store::{Flags, Folder, Mailbox, MessageMeta, Snapshot, StoreError, StoreFlags};
use std::collections::{BTreeSet, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Capabilities after TLS/login (STARTTLS, AUTH and LOGINDISABLED vary).
pub const CAPABILITIES: &str = "IMAP4rev1 IMAP4rev2 LITERAL+ SASL-IR ID ENABLE IDLE NAMESPACE UIDPLUS MOVE \
UNSELECT CHILDREN SPECIAL-USE LIST-EXTENDED LIST-STATUS CONDSTORE QRESYNC ESEARCH SEARCHRES SORT THREAD=ORDEREDSUBJECT THREAD=REFERENCES \
QUOTA QUOTA=RES-STORAGE STATUS=SIZE BINARY COMPRESS=DEFLATE";

type R<T> = Result<T, std::io::Error>;

/// A selected mailbox as this session sees it.
struct Selected {
    name: String,
    folder: Folder,
    readonly: bool,
    /// Messages in sequence order (this session's view).
    view: Vec<MessageMeta>,
    recent: HashSet<u32>,
    highest_modseq: u64,
    uidnext: u32,
    /// The saved search result (`$`, RFC 5182), as UIDs.
    saved: Vec<u32>,
}

impl Selected {
    fn seq_of(&self, uid: u32) -> Option<usize> {
        self.view.binary_search_by_key(&uid, |m| m.uid).ok()
    }
    fn max_uid(&self) -> u32 {
        self.view.last().map_or(0, |m| m.uid)
    }
}

struct Session {
    sh: Arc<Shared>,
    io: BoxStream,
    rd: Reader,
    out: Vec<u8>,
    peer: SocketAddr,
    tls: bool,
    compressed: bool,
    user: Option<User>,
    mailbox: Option<Mailbox>,
    sel: Option<Selected>,
    condstore: bool,
    qresync: bool,
    rev2: bool,
    auth_failures: u32,
    /// This session's place in the per-user, per-address count.
    user_ip_slot: Option<crate::server::UserIpSlot>,
}

enum Flow {
    Go,
    Close,
}

/// Runs one IMAP connection to completion.
pub async fn run(sh: Arc<Shared>, io: BoxStream, peer: SocketAddr, tls: bool) {
    let rd = preauth_reader(&sh.config.imap);
    let mut s = Session {
        sh: sh.clone(),
        io,
        rd,
        out: Vec::with_capacity(64 * 1024),
        peer,
        tls,
        compressed: false,
        user: None,
        mailbox: None,
        sel: None,
        condstore: false,
        qresync: false,
        rev2: false,
        auth_failures: 0,
        user_ip_slot: None,
    };
    let _ = s.main().await;
}

/// The framer before login: small literals and a small command (#4), so
/// a client that never logs in cannot make imapd hold more than
/// `preauth_max_command_size` for it.
fn preauth_reader(c: &outpost_config::imap::Imap) -> Reader {
    Reader::new(
        c.max_line_length,
        c.preauth_max_literal_size.min(c.max_literal_size),
        c.preauth_max_command_size,
    )
}

/// The command bound after login: the configured size, but never less
/// than the largest APPEND.
fn max_command(c: &outpost_config::imap::Imap) -> u64 {
    c.max_command_size
        .max(c.max_literal_size.saturating_add(c.max_line_length as u64))
}

/// One flag of STORE or APPEND: a system flag or a valid keyword (an
/// atom, no `,`/`+`), else `BAD` (#21: a literal must not put a newline or
/// a separator into the index).
fn insert_flag(flags: &mut Flags, t: &Tok) -> Result<(), CmdErr> {
    let Tok::Atom(f) = t else {
        return Err(CmdErr::Bad("a flag is an atom".into()));
    };
    if !f.starts_with('\\') && !Flags::valid_keyword(f) {
        return Err(CmdErr::Bad(format!("invalid keyword {f:?}")));
    }
    flags.insert_imap(f);
    Ok(())
}

fn no(store: &StoreError) -> String {
    match store {
        StoreError::NotFound(_) => "NO [NONEXISTENT] no such mailbox".into(),
        StoreError::Exists(_) => "NO [ALREADYEXISTS] mailbox exists".into(),
        StoreError::Invalid(m) => format!("NO [CANNOT] {m}"),
        StoreError::Io(..) => "NO [SERVERBUG] internal error".into(),
    }
}

/// A mailbox name from the client, in the stored (modified UTF-7) form:
/// IMAP4rev2 sessions send UTF-8 (RFC 9051 §5.1), IMAP4rev1 clients
/// modified UTF-7; 8-bit names from a rev1 client are taken as UTF-8 too.
///
/// Names with control characters are refused here, at the protocol edge
/// (#21), before they can reach the store or the subscriptions file.
fn mailbox_name(t: &Tok, utf8: bool) -> Option<String> {
    let n = t.text()?;
    if n.chars().any(char::is_control) {
        return None;
    }
    let n = if utf8 || !n.is_ascii() {
        crate::utf7::encode(&n)
    } else {
        n
    };
    Some(Mailbox::canonical(&n))
}

/// A stored name as this session must see it.
fn wire_name(n: &str, utf8: bool) -> String {
    if utf8 {
        crate::utf7::decode(n).unwrap_or_else(|| n.to_string())
    } else {
        n.to_string()
    }
}

/// LIST/LSUB pattern matching (RFC 9051 §6.3.9): `*` matches anything,
/// `%` anything but the hierarchy delimiter `.`.
///
/// A set-of-states simulation (one pass over the name, a state per pattern
/// position), so the cost is O(|pattern| × |name|) whatever the wildcards;
/// the backtracking matcher this replaces was exponential in the number of
/// `*` (#3). Runs of wildcards collapse first, and a pattern with more
/// literal bytes than the name cannot match, which bounds |pattern| by the
/// name's length.
pub(crate) fn wildcard_match(pat: &[u8], name: &[u8]) -> bool {
    let mut p: Vec<u8> = Vec::with_capacity(pat.len().min(2 * name.len() + 2));
    let mut literals = 0usize;
    for &c in pat {
        match (c, p.last()) {
            (b'*', Some(b'*' | b'%')) => {
                // `%*` and `**` are `*`.
                p.pop();
                p.push(b'*');
            }
            (b'%', Some(b'*' | b'%')) => {}
            (b'*' | b'%', _) => p.push(c),
            _ => {
                literals += 1;
                if literals > name.len() {
                    return false;
                }
                p.push(c);
            }
        }
    }
    let m = p.len();
    let mut cur = vec![false; m + 1];
    let mut next = vec![false; m + 1];
    let close = |set: &mut [bool]| {
        for i in 0..m {
            if set[i] && matches!(p[i], b'*' | b'%') {
                set[i + 1] = true;
            }
        }
    };
    cur[0] = true;
    close(&mut cur);
    for &c in name {
        next.iter_mut().for_each(|b| *b = false);
        let mut any = false;
        for i in 0..m {
            if !cur[i] {
                continue;
            }
            match p[i] {
                b'*' => next[i] = true,
                b'%' if c != b'.' => next[i] = true,
                b'%' => {}
                l if l == c => next[i + 1] = true,
                _ => continue,
            }
            any = true;
        }
        if !any {
            return false;
        }
        close(&mut next);
        std::mem::swap(&mut cur, &mut next);
    }
    cur[m]
}

impl Session {
    fn caps(&self) -> String {
        let mut c = String::from(CAPABILITIES);
        if self.user.is_none() {
            if !self.tls && self.sh.tls.is_some() {
                c.push_str(" STARTTLS");
            }
            if self.sh.plaintext_ok(self.tls, &self.peer) {
                c.push_str(" AUTH=PLAIN");
            } else {
                c.push_str(" LOGINDISABLED");
            }
        }
        c
    }

    fn line(&mut self, s: &str) {
        self.out.extend_from_slice(s.as_bytes());
        self.out.extend_from_slice(b"\r\n");
    }

    async fn flush(&mut self) -> R<()> {
        if !self.out.is_empty() {
            self.io.write_all(&self.out).await?;
            self.out.clear();
        }
        self.io.flush().await
    }

    fn timeout(&self) -> Duration {
        let c = &self.sh.config.imap;
        Duration::from_secs(if self.user.is_some() {
            c.idle_timeout_secs
        } else {
            c.preauth_timeout_secs
        })
    }

    /// Reads more bytes into the reader; `false` on EOF/timeout.
    async fn fill(&mut self, timeout: Duration) -> R<bool> {
        let mut buf = [0u8; 64 * 1024];
        match tokio::time::timeout(timeout, self.io.read(&mut buf)).await {
            Ok(Ok(0)) | Err(_) => Ok(false),
            Ok(Ok(n)) => {
                self.rd.feed(&buf[..n]);
                Ok(true)
            }
            Ok(Err(e)) => Err(e),
        }
    }

    async fn main(&mut self) -> R<()> {
        let greet = format!("* OK [CAPABILITY {}] Outpost IMAP ready", self.caps());
        self.line(&greet);
        self.flush().await?;
        loop {
            while let Some(ev) = self.rd.next_event() {
                match ev {
                    Event::Continue => self.line("+ OK"),
                    Event::TooBig(tag) => self.line(&format!("{tag} NO [TOOBIG] literal too big")),
                    Event::Fatal(m) => {
                        self.line(&format!("* BYE {m}"));
                        return self.flush().await;
                    }
                    Event::Frame(f) => {
                        let flow = match parse_command(&f) {
                            Ok(cmd) => self.command(cmd).await?,
                            Err((tag, m)) => {
                                self.line(&format!("{tag} BAD {m}"));
                                Flow::Go
                            }
                        };
                        if let Flow::Close = flow {
                            return self.flush().await;
                        }
                    }
                }
            }
            self.flush().await?;
            let t = self.timeout();
            // Between commands (nothing half-received) a shutdown ends the
            // session politely; a command in flight finishes first.
            let between = self.rd.buffered() == 0;
            let sd = self.sh.shutdown.clone();
            let more = if between {
                tokio::select! {
                    r = self.fill(t) => r?,
                    _ = sd.wait() => {
                        self.line("* BYE [UNAVAILABLE] Server shutting down");
                        let _ = self.flush().await;
                        return Ok(());
                    }
                }
            } else {
                self.fill(t).await?
            };
            if !more {
                self.line("* BYE idle timeout");
                let _ = self.flush().await;
                return Ok(());
            }
        }
    }

    async fn command(&mut self, cmd: Command) -> R<Flow> {
        let tag = cmd.tag.clone();
        let r = self.dispatch(cmd).await;
        match r {
            Ok(Some(flow)) => Ok(flow),
            Ok(None) => Ok(Flow::Go),
            Err(CmdErr::Io(e)) => Err(e),
            Err(CmdErr::Bad(m)) => {
                self.line(&format!("{tag} BAD {m}"));
                Ok(Flow::Go)
            }
            Err(CmdErr::No(m)) => {
                self.line(&format!("{tag} {m}"));
                Ok(Flow::Go)
            }
        }
    }

    /// Runs a store operation on the user's mailbox off the async worker
    /// (its file locks may wait, #8) and turns its error into a `NO`.
    fn mb<T>(&self, f: impl FnOnce(&Mailbox) -> Result<T, StoreError>) -> Result<T, CmdErr> {
        let m = self.user()?;
        blocking(|| f(m)).map_err(|e| CmdErr::No(no(&e)))
    }

    /// Sends pending mailbox changes (EXISTS, EXPUNGE/VANISHED, FLAGS); the
    /// folder sync may wait on the index lock, so it runs off the worker.
    fn refresh(&mut self, allow_expunge: bool) {
        blocking(|| self.refresh_now(allow_expunge));
    }

    fn refresh_now(&mut self, allow_expunge: bool) {
        let qresync = self.qresync;
        let condstore = self.condstore;
        let Some(sel) = self.sel.as_mut() else { return };
        let Ok(changes) = sel.folder.sync() else {
            return;
        };
        let snap = changes.snapshot;
        sel.recent.extend(changes.recent.iter().copied());
        let mut lines: Vec<String> = Vec::new();
        if allow_expunge {
            let gone: Vec<u32> = sel
                .view
                .iter()
                .map(|m| m.uid)
                .filter(|u| snap.position(*u).is_none())
                .collect();
            if !gone.is_empty() {
                if qresync {
                    lines.push(format!("* VANISHED {}", seqset::format(&gone)));
                    sel.view.retain(|m| snap.position(m.uid).is_some());
                } else {
                    for u in &gone {
                        if let Some(i) = sel.seq_of(*u) {
                            lines.push(format!("* {} EXPUNGE", i + 1));
                            sel.view.remove(i);
                        }
                    }
                }
            }
        }
        for (seq, m) in sel.view.iter_mut().enumerate() {
            if let Some(i) = snap.position(m.uid) {
                let n = &snap.messages[i];
                if n.modseq > m.modseq {
                    *m = n.clone();
                    let mut o = Vec::new();
                    fetch::flags(&mut o, m, sel.recent.contains(&m.uid));
                    let mut l = format!(
                        "* {} FETCH (UID {} {}",
                        seq + 1,
                        m.uid,
                        String::from_utf8_lossy(&o)
                    );
                    if condstore {
                        l.push_str(&format!(" MODSEQ ({})", m.modseq));
                    }
                    l.push(')');
                    lines.push(l);
                }
            }
        }
        let max = sel.max_uid();
        let before = sel.view.len();
        sel.view
            .extend(snap.messages.iter().filter(|m| m.uid > max).cloned());
        if sel.view.len() != before {
            lines.push(format!("* {} EXISTS", sel.view.len()));
            if !self.rev2 {
                let r = sel
                    .view
                    .iter()
                    .filter(|m| sel.recent.contains(&m.uid))
                    .count();
                lines.push(format!("* {r} RECENT"));
            }
        }
        sel.highest_modseq = snap.highest_modseq;
        sel.uidnext = snap.uidnext;
        for l in lines {
            self.line(&l);
        }
    }

    /// The user's quota (directory), else the configured default; 0: none.
    fn quota_limit(&self) -> u64 {
        match self.user.as_ref().map_or(0, |u| u.quota) {
            0 => self.sh.config.imap.quota_bytes,
            q => q,
        }
    }

    fn user(&self) -> Result<&Mailbox, CmdErr> {
        self.mailbox
            .as_ref()
            .ok_or_else(|| CmdErr::Bad("not authenticated".into()))
    }

    fn selected(&mut self) -> Result<&mut Selected, CmdErr> {
        self.sel
            .as_mut()
            .ok_or_else(|| CmdErr::Bad("no mailbox selected".into()))
    }

    async fn login(&mut self, tag: &str, mech: &str, user: &str, pass: &str) -> R<()> {
        let log = |outcome: Result<(), &str>| {
            outpost_daemon::log::login("imap", mech, user, self.peer.ip(), outcome)
        };
        if !self.sh.plaintext_ok(self.tls, &self.peer) {
            log(Err("plaintext before TLS"));
            self.line(&format!("{tag} NO [PRIVACYREQUIRED] use STARTTLS first"));
            return Ok(());
        }
        match self.sh.authenticate(user, pass, &self.peer).await {
            Ok(u) => {
                let Some(slot) = self.sh.claim_user_ip(&u.address, self.peer.ip()) else {
                    log(Err("too many sessions"));
                    self.line(&format!(
                        "{tag} NO [LIMIT] too many sessions for this user from this address"
                    ));
                    return Ok(());
                };
                self.user_ip_slot = Some(slot);
                let root = self.sh.mail_root();
                let (d, l) = (u.domain.clone(), u.local.clone());
                match tokio::task::spawn_blocking(move || Mailbox::open(&root, &d, &l)).await {
                    Ok(Ok(mb)) => {
                        outpost_daemon::log::login(
                            "imap",
                            mech,
                            &u.address,
                            self.peer.ip(),
                            Ok(()),
                        );
                        self.mailbox = Some(mb);
                        self.user = Some(u);
                        let c = &self.sh.config.imap;
                        self.rd.set_limits(c.max_literal_size, max_command(c));
                        let caps = self.caps();
                        self.line(&format!("{tag} OK [CAPABILITY {caps}] logged in"));
                    }
                    r => {
                        if let Ok(Err(e)) = &r {
                            tracing::error!(user = u.address.as_str(), error = %e, "opening the mailbox failed");
                        }
                        log(Err("mailbox unavailable"));
                        self.user_ip_slot = None;
                        self.line(&format!("{tag} NO [UNAVAILABLE] mailbox unavailable"));
                    }
                }
            }
            Err(e) => {
                log(Err(crate::server::auth_reason(&e)));
                self.auth_failures += 1;
                // Slow down guessing within one connection too.
                tokio::time::sleep(Duration::from_millis(
                    300 * self.auth_failures.min(10) as u64,
                ))
                .await;
                let code = if e.contains("locked") {
                    "[UNAVAILABLE]"
                } else {
                    "[AUTHENTICATIONFAILED]"
                };
                self.line(&format!("{tag} NO {code} authentication failed"));
            }
        }
        Ok(())
    }

    async fn dispatch(&mut self, cmd: Command) -> Result<Option<Flow>, CmdErr> {
        let Command { tag, name, args } = cmd;
        let authed = self.user.is_some();
        match name.as_str() {
            "CAPABILITY" => {
                let c = self.caps();
                self.line(&format!("* CAPABILITY {c}"));
                self.line(&format!("{tag} OK CAPABILITY completed"));
            }
            "NOOP" | "CHECK" => {
                self.refresh(true);
                self.line(&format!("{tag} OK {name} completed"));
            }
            "LOGOUT" => {
                self.line("* BYE logging out");
                self.line(&format!("{tag} OK LOGOUT completed"));
                return Ok(Some(Flow::Close));
            }
            "ID" => {
                self.line(&format!(
                    "* ID (\"name\" \"Outpost\" \"version\" \"{}\")",
                    env!("CARGO_PKG_VERSION")
                ));
                self.line(&format!("{tag} OK ID completed"));
            }
            "STARTTLS" if !authed => {
                if self.tls || self.sh.tls.is_none() {
                    return Err(CmdErr::Bad("TLS already active".into()));
                }
                self.line(&format!("{tag} OK begin TLS negotiation"));
                self.flush().await?;
                // Anything pipelined after STARTTLS is discarded (RFC 9051
                // §6.2.1: command injection protection).
                self.rd = preauth_reader(&self.sh.config.imap);
                let io = std::mem::replace(&mut self.io, Box::new(tokio::io::duplex(1).0));
                self.io = self.sh.start_tls(io).await?;
                self.tls = true;
            }
            "LOGIN" if !authed => {
                let (Some(u), Some(p)) = (
                    args.first().and_then(Tok::text),
                    args.get(1).and_then(Tok::text),
                ) else {
                    return Err(CmdErr::Bad("LOGIN user password".into()));
                };
                self.login(&tag, "LOGIN", &u, &p).await?;
            }
            "AUTHENTICATE" if !authed => {
                let mech = args.first().and_then(Tok::text).unwrap_or_default();
                if !mech.eq_ignore_ascii_case("PLAIN") {
                    return Err(CmdErr::No("NO [CANNOT] only PLAIN is supported".into()));
                }
                if !self.sh.plaintext_ok(self.tls, &self.peer) {
                    return Err(CmdErr::No("NO [PRIVACYREQUIRED] use STARTTLS first".into()));
                }
                let resp = match args.get(1).and_then(Tok::text) {
                    Some(ir) => ir, // SASL-IR (RFC 4959)
                    None => {
                        self.line("+ ");
                        self.flush().await?;
                        loop {
                            match self.rd.take_line() {
                                Ok(Some(l)) => break String::from_utf8_lossy(&l).into_owned(),
                                Ok(None) => {
                                    let t = self.timeout();
                                    if !self.fill(t).await? {
                                        return Ok(Some(Flow::Close));
                                    }
                                }
                                Err(_) => return Ok(Some(Flow::Close)),
                            }
                        }
                    }
                };
                if resp == "*" {
                    return Err(CmdErr::Bad("authentication cancelled".into()));
                }
                let resp = if resp == "=" { String::new() } else { resp };
                let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(resp.trim())
                else {
                    return Err(CmdErr::Bad("invalid base64".into()));
                };
                let parts: Vec<&[u8]> = bytes.split(|b| *b == 0).collect();
                if parts.len() != 3 {
                    return Err(CmdErr::Bad("invalid PLAIN response".into()));
                }
                let (z, u, p) = (
                    String::from_utf8_lossy(parts[0]),
                    String::from_utf8_lossy(parts[1]),
                    String::from_utf8_lossy(parts[2]),
                );
                if !z.is_empty() && !z.eq_ignore_ascii_case(&u) {
                    // No proxy authorisation (RFC 4616 §2): nobody may
                    // act as someone else.
                    outpost_daemon::log::login(
                        "imap",
                        "PLAIN",
                        &u,
                        self.peer.ip(),
                        Err("authzid differs"),
                    );
                    return Err(CmdErr::No(
                        "NO [AUTHORIZATIONFAILED] authorization identity refused".into(),
                    ));
                }
                self.login(&tag, "PLAIN", &u, &p).await?;
            }
            "STARTTLS" | "LOGIN" | "AUTHENTICATE" => {
                return Err(CmdErr::Bad("already authenticated".into()));
            }
            _ if !authed => return Err(CmdErr::Bad(format!("{name} needs authentication"))),
            "ENABLE" => {
                let mut en = Vec::new();
                for a in &args {
                    let a = a.text().unwrap_or_default().to_ascii_uppercase();
                    match a.as_str() {
                        "CONDSTORE" => {
                            self.condstore = true;
                            en.push(a);
                        }
                        "QRESYNC" => {
                            self.condstore = true;
                            self.qresync = true;
                            en.push(a);
                        }
                        "IMAP4REV2" => {
                            self.rev2 = true;
                            en.push("IMAP4rev2".into());
                        }
                        _ => {}
                    }
                }
                self.line(format!("* ENABLED {}", en.join(" ")).trim_end());
                self.line(&format!("{tag} OK ENABLE completed"));
            }
            "NAMESPACE" => {
                self.line("* NAMESPACE ((\"\" \".\")) NIL NIL");
                self.line(&format!("{tag} OK NAMESPACE completed"));
            }
            "COMPRESS" => {
                if self.compressed {
                    return Err(CmdErr::No(
                        "NO [COMPRESSIONACTIVE] already compressing".into(),
                    ));
                }
                if !args.first().is_some_and(|a| a.is("DEFLATE")) {
                    return Err(CmdErr::Bad("only DEFLATE".into()));
                }
                self.line(&format!("{tag} OK DEFLATE active"));
                self.flush().await?;
                let io = std::mem::replace(&mut self.io, Box::new(tokio::io::duplex(1).0));
                self.io = Box::new(crate::compress::Deflate::new(io));
                self.compressed = true;
            }
            "SELECT" | "EXAMINE" => blocking(|| self.select(&tag, &name, &args))?,
            "CREATE" => {
                let n = args
                    .first()
                    .and_then(|t| mailbox_name(t, self.rev2))
                    .ok_or_else(|| CmdErr::Bad("CREATE name".into()))?;
                let n = n.trim_end_matches('.').to_string();
                self.mb(|u| u.create(&n))?;
                self.line(&format!("{tag} OK CREATE completed"));
            }
            "DELETE" => {
                let n = args
                    .first()
                    .and_then(|t| mailbox_name(t, self.rev2))
                    .ok_or_else(|| CmdErr::Bad("DELETE name".into()))?;
                if self.sel.as_ref().is_some_and(|s| s.name == n) {
                    self.sel = None;
                }
                self.mb(|u| u.delete(&n))?;
                self.line(&format!("{tag} OK DELETE completed"));
            }
            "RENAME" => {
                let (Some(a), Some(b)) = (
                    args.first().and_then(|t| mailbox_name(t, self.rev2)),
                    args.get(1).and_then(|t| mailbox_name(t, self.rev2)),
                ) else {
                    return Err(CmdErr::Bad("RENAME from to".into()));
                };
                self.mb(|u| u.rename(&a, &b))?;
                self.line(&format!("{tag} OK RENAME completed"));
            }
            "SUBSCRIBE" | "UNSUBSCRIBE" => {
                let n = args
                    .first()
                    .and_then(|t| mailbox_name(t, self.rev2))
                    .ok_or_else(|| CmdErr::Bad("mailbox name".into()))?;
                self.mb(|u| u.subscribe(&n, name == "SUBSCRIBE"))?;
                self.line(&format!("{tag} OK {name} completed"));
            }
            "LIST" | "LSUB" => blocking(|| self.list(&tag, &name, &args))?,
            "STATUS" => {
                let n = args
                    .first()
                    .and_then(|t| mailbox_name(t, self.rev2))
                    .ok_or_else(|| CmdErr::Bad("STATUS name".into()))?;
                let Some(Tok::List(items)) = args.get(1) else {
                    return Err(CmdErr::Bad("STATUS name (items)".into()));
                };
                let line =
                    blocking(|| self.status_line(&n, items)).map_err(|e| CmdErr::No(no(&e)))?;
                self.line(&line);
                self.refresh(true);
                self.line(&format!("{tag} OK STATUS completed"));
            }
            "APPEND" => blocking(|| self.append(&tag, &args))?,
            "GETQUOTAROOT" => {
                let n = args
                    .first()
                    .and_then(|t| mailbox_name(t, self.rev2))
                    .unwrap_or_else(|| "INBOX".into());
                let limit = self.quota_limit();
                if limit == 0 {
                    self.line(&format!(
                        "* QUOTAROOT {}",
                        quoted(&wire_name(&n, self.rev2))
                    ));
                } else {
                    self.line(&format!(
                        "* QUOTAROOT {} \"\"",
                        quoted(&wire_name(&n, self.rev2))
                    ));
                    let used = self.mb(Mailbox::usage)?;
                    self.line(&format!(
                        "* QUOTA \"\" (STORAGE {} {})",
                        used / 1024,
                        limit / 1024
                    ));
                }
                self.line(&format!("{tag} OK GETQUOTAROOT completed"));
            }
            "GETQUOTA" => {
                let limit = self.quota_limit();
                if limit == 0
                    || !args
                        .first()
                        .and_then(Tok::text)
                        .is_some_and(|r| r.is_empty())
                {
                    return Err(CmdErr::No("NO [NONEXISTENT] no such quota root".into()));
                }
                let used = self.mb(Mailbox::usage)?;
                self.line(&format!(
                    "* QUOTA \"\" (STORAGE {} {})",
                    used / 1024,
                    limit / 1024
                ));
                self.line(&format!("{tag} OK GETQUOTA completed"));
            }
            "SETQUOTA" => {
                return Err(CmdErr::No(
                    "NO [NOPERM] quotas are set by the administrator".into(),
                ));
            }
            "IDLE" => return self.idle(&tag).await.map(Some).map_err(CmdErr::Io),
            _ if self.sel.is_none() => {
                return Err(CmdErr::Bad(format!(
                    "unknown command or no mailbox selected: {name}"
                )));
            }
            "CLOSE" | "UNSELECT" => {
                let sel = self.sel.take();
                if name == "CLOSE"
                    && let Some(s) = sel
                    && !s.readonly
                {
                    let _ = blocking(|| s.folder.expunge(None, true));
                }
                self.line(&format!("{tag} OK {name} completed"));
            }
            "EXPUNGE" => blocking(|| self.expunge(&tag, None))?,
            "FETCH" => blocking(|| self.fetch(&tag, &args, false))?,
            "STORE" => blocking(|| self.store(&tag, &args, false))?,
            "SEARCH" => blocking(|| self.search(&tag, &args, false))?,
            "SORT" => blocking(|| self.sort(&tag, &args, false))?,
            "THREAD" => blocking(|| self.thread(&tag, &args, false))?,
            "COPY" | "MOVE" => blocking(|| self.copy(&tag, &args, false, name == "MOVE"))?,
            "UID" => {
                let sub = args
                    .first()
                    .and_then(Tok::text)
                    .unwrap_or_default()
                    .to_ascii_uppercase();
                let rest = &args[1.min(args.len())..];
                match sub.as_str() {
                    "FETCH" => blocking(|| self.fetch(&tag, rest, true))?,
                    "STORE" => blocking(|| self.store(&tag, rest, true))?,
                    "SEARCH" => blocking(|| self.search(&tag, rest, true))?,
                    "SORT" => blocking(|| self.sort(&tag, rest, true))?,
                    "THREAD" => blocking(|| self.thread(&tag, rest, true))?,
                    "COPY" => blocking(|| self.copy(&tag, rest, true, false))?,
                    "MOVE" => blocking(|| self.copy(&tag, rest, true, true))?,
                    "EXPUNGE" => {
                        let max = self.selected()?.max_uid();
                        let arg = rest
                            .first()
                            .and_then(Tok::text)
                            .ok_or_else(|| CmdErr::Bad("UID EXPUNGE set".into()))?;
                        let set = self.uid_set(&arg, max)?;
                        blocking(|| self.expunge(&tag, Some(set)))?;
                    }
                    _ => return Err(CmdErr::Bad("unknown UID command".into())),
                }
            }
            _ => return Err(CmdErr::Bad(format!("unknown command {name}"))),
        }
        Ok(None)
    }

    fn select(&mut self, tag: &str, name: &str, args: &[Tok]) -> Result<(), CmdErr> {
        let n = args
            .first()
            .and_then(|t| mailbox_name(t, self.rev2))
            .ok_or_else(|| CmdErr::Bad("SELECT mailbox".into()))?;
        // Parameters: (CONDSTORE) or (QRESYNC (uidvalidity modseq [known-uids [seq-map]]))
        let mut qr: Option<(u32, u64, Option<String>)> = None;
        // RFC 7162 §3.2.5.2 sequence match data: (known-seqs known-uids).
        let mut seq_match: Option<(SeqSet, SeqSet)> = None;
        if let Some(Tok::List(p)) = args.get(1) {
            let mut i = 0;
            while i < p.len() {
                if p[i].is("CONDSTORE") {
                    self.condstore = true;
                } else if p[i].is("QRESYNC") {
                    if !self.qresync {
                        return Err(CmdErr::Bad("QRESYNC not enabled".into()));
                    }
                    if let Some(Tok::List(q)) = p.get(i + 1) {
                        let v = q.first().and_then(Tok::text).and_then(|v| v.parse().ok());
                        let m = q.get(1).and_then(Tok::text).and_then(|v| v.parse().ok());
                        let (Some(v), Some(m)) = (v, m) else {
                            return Err(CmdErr::Bad("bad QRESYNC parameters".into()));
                        };
                        let mut known = None;
                        for t in q.iter().skip(2) {
                            match t {
                                Tok::List(l) => {
                                    let set = |t: Option<&Tok>| {
                                        t.and_then(Tok::text)
                                            .and_then(|x| SeqSet::parse(&x, u32::MAX))
                                    };
                                    let (Some(seqs), Some(uids), None) =
                                        (set(l.first()), set(l.get(1)), l.get(2))
                                    else {
                                        return Err(CmdErr::Bad(
                                            "bad QRESYNC sequence match data".into(),
                                        ));
                                    };
                                    if seqs.size() != uids.size() {
                                        return Err(CmdErr::Bad(
                                            "QRESYNC sequence match sets differ in size".into(),
                                        ));
                                    }
                                    seq_match = Some((seqs, uids));
                                }
                                t => known = t.text(),
                            }
                        }
                        qr = Some((v, m, known));
                        i += 1;
                    }
                }
                i += 1;
            }
        }
        if self.sel.take().is_some() && (self.qresync || self.rev2) {
            self.line("* OK [CLOSED] previous mailbox closed");
        }
        let folder = self.user()?.folder(&n).map_err(|e| CmdErr::No(no(&e)))?;
        let changes = folder.sync().map_err(|e| CmdErr::No(no(&e)))?;
        let snap = changes.snapshot;
        let readonly = name == "EXAMINE";
        self.line("* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)");
        if readonly {
            self.line("* OK [PERMANENTFLAGS ()] read-only");
        } else {
            self.line(
                "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] flags",
            );
        }
        self.line(&format!("* {} EXISTS", snap.messages.len()));
        if !self.rev2 {
            self.line(&format!("* {} RECENT", changes.recent.len()));
            if let Some(i) = snap.messages.iter().position(|m| !m.flags.has(Flags::SEEN)) {
                self.line(&format!("* OK [UNSEEN {}] first unseen", i + 1));
            }
        }
        self.line(&format!(
            "* OK [UIDVALIDITY {}] UIDs valid",
            snap.uidvalidity
        ));
        self.line(&format!("* OK [UIDNEXT {}] next UID", snap.uidnext));
        self.line(&format!(
            "* OK [HIGHESTMODSEQ {}] modseq",
            snap.highest_modseq
        ));
        if let Some((v, m, known)) = qr
            && v == snap.uidvalidity
        {
            // RFC 7162 §3.2.5.1: what changed since the client's MODSEQ.
            let known = known.and_then(|k| SeqSet::parse(&k, snap.uidnext.max(1)));
            // When the expunge history no longer reaches back to the
            // client's MODSEQ, every missing UID would be reported; the
            // sequence match data trims that (RFC 7162 §3.2.5.2): if the
            // client's and our message number `s` both have UID `u`, no
            // UID up to `u` has vanished.
            let mut settled = 0;
            if m < snap.vanished_floor
                && let Some((seqs, uids)) = &seq_match
            {
                for (s, u) in seqs
                    .iter()
                    .zip(uids.iter())
                    .take_while(|(s, _)| *s as usize <= snap.messages.len())
                {
                    if snap.messages[s as usize - 1].uid == u {
                        settled = settled.max(u);
                    }
                }
            }
            let vanished: Vec<u32> = snap
                .vanished_since(m)
                .into_iter()
                .filter(|u| *u > settled && known.as_ref().is_none_or(|k| k.contains(*u)))
                .collect();
            if !vanished.is_empty() {
                self.line(&format!(
                    "* VANISHED (EARLIER) {}",
                    seqset::format(&vanished)
                ));
            }
            for (i, msg) in snap.messages.iter().enumerate() {
                if msg.modseq > m {
                    let mut o = Vec::new();
                    fetch::flags(&mut o, msg, changes.recent.contains(&msg.uid));
                    let l = format!(
                        "* {} FETCH (UID {} {} MODSEQ ({}))",
                        i + 1,
                        msg.uid,
                        String::from_utf8_lossy(&o),
                        msg.modseq
                    );
                    self.line(&l);
                }
            }
        }
        let sel = Selected {
            name: n,
            folder,
            readonly,
            view: snap.messages.clone(),
            recent: changes.recent.into_iter().collect(),
            highest_modseq: snap.highest_modseq,
            uidnext: snap.uidnext,
            saved: Vec::new(),
        };
        self.sel = Some(sel);
        let mode = if readonly { "READ-ONLY" } else { "READ-WRITE" };
        self.line(&format!("{tag} OK [{mode}] {name} completed"));
        Ok(())
    }

    fn status_line(&self, n: &str, items: &[Tok]) -> Result<String, StoreError> {
        let mb = self
            .mailbox
            .as_ref()
            .ok_or_else(|| StoreError::NotFound(n.into()))?;
        let snap = mb.folder(n)?.sync()?.snapshot;
        let mut parts = Vec::new();
        for it in items {
            let it = it.text().unwrap_or_default().to_ascii_uppercase();
            let v = match it.as_str() {
                "MESSAGES" => snap.messages.len() as u64,
                "RECENT" => 0,
                "UIDNEXT" => snap.uidnext as u64,
                "UIDVALIDITY" => snap.uidvalidity as u64,
                "UNSEEN" => snap
                    .messages
                    .iter()
                    .filter(|m| !m.flags.has(Flags::SEEN))
                    .count() as u64,
                "DELETED" => snap
                    .messages
                    .iter()
                    .filter(|m| m.flags.has(Flags::DELETED))
                    .count() as u64,
                "SIZE" => snap.messages.iter().map(|m| m.size).sum(),
                "HIGHESTMODSEQ" => snap.highest_modseq,
                _ => continue,
            };
            parts.push(format!("{it} {v}"));
        }
        Ok(format!(
            "* STATUS {} ({})",
            quoted(&wire_name(n, self.rev2)),
            parts.join(" ")
        ))
    }

    fn list(&mut self, tag: &str, name: &str, args: &[Tok]) -> Result<(), CmdErr> {
        // LIST [(selection)] reference pattern(s) [RETURN (options)]
        // (RFC 5258 LIST-EXTENDED, RFC 5819 LIST-STATUS, RFC 6154
        // SPECIAL-USE; the RFC 9051 §6.3.9 table decides what is returned).
        let lsub = name == "LSUB";
        let mut i = 0;
        let mut subscribed_only = false;
        let mut special_only = false;
        let mut recursive = false;
        if !lsub && let Some(Tok::List(sel)) = args.first() {
            for s in sel {
                if s.is("SUBSCRIBED") {
                    subscribed_only = true;
                } else if s.is("SPECIAL-USE") {
                    special_only = true;
                } else if s.is("RECURSIVEMATCH") {
                    recursive = true;
                } else if !s.is("REMOTE") {
                    return Err(CmdErr::Bad(format!(
                        "unknown LIST selection option {}",
                        s.text().unwrap_or_default()
                    )));
                }
            }
            if recursive && !subscribed_only && !special_only {
                // RFC 5258 §3: RECURSIVEMATCH alone (or with REMOTE) is an error.
                return Err(CmdErr::Bad(
                    "RECURSIVEMATCH needs another selection option".into(),
                ));
            }
            i = 1;
        }
        // Patterns are matched against the stored (modified UTF-7) names;
        // the wildcards are printable ASCII and survive the encoding.
        let stored = |t: &Tok| {
            t.text().map(|p| {
                if self.rev2 || !p.is_ascii() {
                    crate::utf7::encode(&p)
                } else {
                    p
                }
            })
        };
        let reference = args
            .get(i)
            .and_then(stored)
            .ok_or_else(|| CmdErr::Bad(format!("{name} reference pattern")))?;
        let patterns: Vec<String> = match args.get(i + 1) {
            Some(Tok::List(l)) if !lsub => l.iter().filter_map(stored).collect(),
            Some(t @ (Tok::Atom(_) | Tok::Str(_))) => vec![stored(t).unwrap_or_default()],
            _ => return Err(CmdErr::Bad(format!("{name} reference pattern"))),
        };
        let mut ret_status: Option<Vec<Tok>> = None;
        let mut ret_subscribed = subscribed_only;
        if let Some(t) = args.get(i + 2) {
            let (true, Some(Tok::List(opts)), None) =
                (t.is("RETURN") && !lsub, args.get(i + 3), args.get(i + 4))
            else {
                return Err(CmdErr::Bad(format!("unexpected {name} arguments")));
            };
            let mut j = 0;
            while j < opts.len() {
                if opts[j].is("SUBSCRIBED") {
                    ret_subscribed = true;
                } else if opts[j].is("STATUS")
                    && let Some(Tok::List(items)) = opts.get(j + 1)
                {
                    ret_status = Some(items.clone());
                    j += 1;
                } else if !opts[j].is("CHILDREN") && !opts[j].is("SPECIAL-USE") {
                    // CHILDREN and SPECIAL-USE attributes are always sent.
                    return Err(CmdErr::Bad(format!(
                        "unknown LIST return option {}",
                        opts[j].text().unwrap_or_default()
                    )));
                }
                j += 1;
            }
        }
        if patterns.len() == 1 && patterns[0].is_empty() {
            // RFC 9051 §6.3.9: an empty pattern asks for the delimiter.
            self.line(&format!("* {name} (\\Noselect) \".\" \"\""));
            self.line(&format!("{tag} OK {name} completed"));
            return Ok(());
        }
        let mb = self.user()?.clone();
        let existing: BTreeSet<String> = mb
            .list()
            .map_err(|e| CmdErr::No(no(&e)))?
            .into_iter()
            .collect();
        let subs: BTreeSet<String> = mb
            .subscriptions()
            .map_err(|e| CmdErr::No(no(&e)))?
            .into_iter()
            .map(|s| Mailbox::canonical(&s))
            .collect();
        let by_subscription = lsub || subscribed_only;
        // Every name that could be returned: what exists, what is
        // subscribed (for a subscription listing) and the hierarchy levels
        // above either.
        let mut names: BTreeSet<String> = existing.clone();
        if by_subscription {
            names.extend(subs.iter().cloned());
        }
        for n in names.clone() {
            let mut at = n.as_str();
            while let Some((sup, _)) = at.rsplit_once('.') {
                names.insert(sup.to_string());
                at = sup;
            }
        }
        let meets = |n: &str| {
            let mut ok = true;
            if by_subscription {
                ok &= subs.contains(n);
            }
            if special_only {
                ok &= existing.contains(n) && Mailbox::special_use(n).is_some();
            }
            if !by_subscription && !special_only {
                ok &= existing.contains(n);
            }
            ok
        };
        let matches = |n: &str| {
            patterns.iter().any(|p| {
                let full = format!("{reference}{p}");
                wildcard_match(full.as_bytes(), n.as_bytes())
                    || (n == "INBOX"
                        && wildcard_match(full.to_ascii_uppercase().as_bytes(), b"INBOX"))
            })
        };
        // INBOX first, then the rest in order.
        let mut order: Vec<&String> = names.iter().filter(|n| *n == "INBOX").collect();
        order.extend(names.iter().filter(|n| *n != "INBOX"));
        for f in order {
            if !matches(f) {
                continue;
            }
            let prefix = format!("{f}.");
            let exists = existing.contains(f);
            let hit = meets(f);
            let child_hit = names
                .range(prefix.clone()..)
                .take_while(|d| d.starts_with(&prefix))
                .any(|d| meets(d));
            let has_children = existing
                .range(prefix.clone()..)
                .take_while(|d| d.starts_with(&prefix))
                .next()
                .is_some();
            let mut attrs: Vec<&str> = Vec::new();
            // RFC 5258 §3.5: CHILDINFO tells that children meet the
            // selection criteria (a parent may be returned only for them).
            let childinfo = recursive && child_hit;
            if hit {
                if !exists {
                    attrs.push(if lsub { "\\Noselect" } else { "\\NonExistent" });
                }
            } else if childinfo {
                if !exists {
                    attrs.push("\\NonExistent");
                }
            } else if if by_subscription {
                // RFC 3501 §6.3.9: LSUB "%" returns an unsubscribed level
                // above subscribed names, flagged \Noselect.
                lsub && child_hit && patterns.iter().any(|p| p.ends_with('%'))
            } else {
                !exists && !special_only && has_children
            } {
                // A hierarchy level with nothing of its own (its children
                // exist or are subscribed).
                attrs.push("\\Noselect");
            } else {
                continue;
            }
            if !lsub && (exists || has_children) {
                attrs.push(if has_children {
                    "\\HasChildren"
                } else {
                    "\\HasNoChildren"
                });
            }
            if !lsub && ret_subscribed && subs.contains(f) {
                attrs.push("\\Subscribed");
            }
            if !lsub
                && exists
                && let Some(s) = Mailbox::special_use(f)
            {
                attrs.push(s);
            }
            let mut line = format!(
                "* {name} ({}) \".\" {}",
                attrs.join(" "),
                quoted(&wire_name(f, self.rev2))
            );
            if childinfo {
                let mut crit = Vec::new();
                if subscribed_only {
                    crit.push("\"SUBSCRIBED\"");
                }
                if special_only {
                    crit.push("\"SPECIAL-USE\"");
                }
                line.push_str(&format!(" (\"CHILDINFO\" ({}))", crit.join(" ")));
            }
            self.line(&line);
            if exists
                && let Some(items) = &ret_status
                && let Ok(l) = self.status_line(f, items)
            {
                self.line(&l);
            }
        }
        self.line(&format!("{tag} OK {name} completed"));
        Ok(())
    }

    fn append(&mut self, tag: &str, args: &[Tok]) -> Result<(), CmdErr> {
        let n = args
            .first()
            .and_then(|t| mailbox_name(t, self.rev2))
            .ok_or_else(|| CmdErr::Bad("APPEND mailbox".into()))?;
        let mb = self.user()?.clone();
        let folder = match mb.folder(&n) {
            Ok(f) => f,
            Err(StoreError::NotFound(_)) => {
                return Err(CmdErr::No("NO [TRYCREATE] no such mailbox".into()));
            }
            Err(e) => return Err(CmdErr::No(no(&e))),
        };
        // MULTIAPPEND (RFC 3502): repeated [flags] [date] message.
        let mut items: Vec<(Flags, Option<i64>, &[u8])> = Vec::new();
        let mut i = 1;
        while i < args.len() {
            let mut flags = Flags::default();
            let mut date = None;
            if let Some(Tok::List(fl)) = args.get(i) {
                for f in fl {
                    insert_flag(&mut flags, f)?;
                }
                i += 1;
            }
            if let Some(Tok::Str(d)) = args.get(i)
                && args.get(i + 1).is_some_and(|t| matches!(t, Tok::Str(_)))
            {
                date = Some(
                    wire::parse_date_time(&String::from_utf8_lossy(d))
                        .ok_or_else(|| CmdErr::Bad("bad date-time".into()))?,
                );
                i += 1;
            }
            match args.get(i) {
                Some(Tok::Str(msg)) => items.push((flags, date, msg)),
                _ => return Err(CmdErr::Bad("APPEND needs a message literal".into())),
            }
            i += 1;
        }
        if items.is_empty() {
            return Err(CmdErr::Bad("APPEND needs a message literal".into()));
        }
        let quota = self.quota_limit();
        if quota > 0 {
            let used = mb.usage().map_err(|e| CmdErr::No(no(&e)))?;
            let add: u64 = items.iter().map(|(_, _, m)| m.len() as u64).sum();
            if used + add > quota {
                return Err(CmdErr::No("NO [OVERQUOTA] quota exceeded".into()));
            }
        }
        let mut uids = Vec::new();
        let mut validity = 0;
        for (flags, date, msg) in items {
            let (v, uid) = folder
                .append(msg, &flags, date)
                .map_err(|e| CmdErr::No(no(&e)))?;
            validity = v;
            uids.push(uid);
        }
        self.refresh(true);
        self.line(&format!(
            "{tag} OK [APPENDUID {validity} {}] APPEND completed",
            seqset::format(&uids)
        ));
        Ok(())
    }

    /// Resolves a set to view indexes (sequence numbers or UIDs).
    fn resolve(&mut self, set: &str, uid: bool) -> Result<Vec<usize>, CmdErr> {
        let sel = self.selected()?;
        if set == "$" {
            // RFC 5182: the saved result, less what has been expunged.
            return Ok(sel.saved.iter().filter_map(|u| sel.seq_of(*u)).collect());
        }
        if uid {
            let max = sel.max_uid().max(sel.uidnext.saturating_sub(1));
            let s = SeqSet::parse(set, max).ok_or_else(|| CmdErr::Bad("bad UID set".into()))?;
            Ok(sel
                .view
                .iter()
                .enumerate()
                .filter(|(_, m)| s.contains(m.uid))
                .map(|(i, _)| i)
                .collect())
        } else {
            let max = sel.view.len() as u32;
            let s =
                SeqSet::parse(set, max).ok_or_else(|| CmdErr::Bad("bad sequence set".into()))?;
            if s.0.iter().any(|(_, b)| *b > max) {
                return Err(CmdErr::Bad("sequence number out of range".into()));
            }
            Ok((0..sel.view.len())
                .filter(|i| s.contains(*i as u32 + 1))
                .collect())
        }
    }

    fn fetch(&mut self, tag: &str, args: &[Tok], uid: bool) -> Result<(), CmdErr> {
        let set = args
            .first()
            .and_then(Tok::text)
            .ok_or_else(|| CmdErr::Bad("FETCH set items".into()))?;
        let items = args
            .get(1)
            .ok_or_else(|| CmdErr::Bad("FETCH set items".into()))?;
        let mut atts = fetch::parse_atts(items).map_err(CmdErr::Bad)?;
        let mut changed_since = None;
        let mut vanished = false;
        if let Some(Tok::List(m)) = args.get(2) {
            let mut i = 0;
            while i < m.len() {
                if m[i].is("CHANGEDSINCE") {
                    changed_since = m
                        .get(i + 1)
                        .and_then(Tok::text)
                        .and_then(|v| v.parse::<u64>().ok());
                    if changed_since.is_none() {
                        return Err(CmdErr::Bad("CHANGEDSINCE n".into()));
                    }
                    i += 1;
                } else if m[i].is("VANISHED") {
                    vanished = true;
                }
                i += 1;
            }
            self.condstore = true;
        }
        if vanished && (!uid || !self.qresync || changed_since.is_none()) {
            return Err(CmdErr::Bad(
                "VANISHED needs UID FETCH, QRESYNC and CHANGEDSINCE".into(),
            ));
        }
        if uid && !atts.contains(&Att::Uid) {
            atts.insert(0, Att::Uid);
        }
        if (changed_since.is_some() || self.condstore)
            && !atts.contains(&Att::ModSeq)
            && changed_since.is_some()
        {
            atts.push(Att::ModSeq);
        }
        let idx = self.resolve(&set, uid)?;
        let sets_seen = atts.iter().any(|a| {
            matches!(
                a,
                Att::Section {
                    sets_seen: true,
                    ..
                }
            )
        });
        let needs_body = atts.iter().any(Att::needs_body);
        let needs_env = atts.contains(&Att::Envelope);
        if vanished && let Some(cs) = changed_since {
            let sel = self.selected()?;
            let snap = sel.folder.sync().map_err(|e| CmdErr::No(no(&e)))?.snapshot;
            let max = sel.uidnext;
            let s = self.uid_set(&set, max)?;
            let v: Vec<u32> = snap
                .vanished_since(cs)
                .into_iter()
                .filter(|u| s.contains(*u))
                .collect();
            if !v.is_empty() {
                self.line(&format!("* VANISHED (EARLIER) {}", seqset::format(&v)));
            }
        }
        // Implicit \Seen (RFC 9051 §6.4.5) before rendering, so FLAGS show it.
        if sets_seen && !self.selected()?.readonly {
            let sel = self.selected()?;
            let uids: Vec<u32> = idx
                .iter()
                .map(|i| &sel.view[*i])
                .filter(|m| !m.flags.has(Flags::SEEN))
                .map(|m| m.uid)
                .collect();
            if !uids.is_empty() {
                let f = Flags {
                    bits: Flags::SEEN,
                    ..Default::default()
                };
                let (snap, changed, _) = sel
                    .folder
                    .store(&uids, StoreFlags::Add, &f, None)
                    .map_err(|e| CmdErr::No(no(&e)))?;
                apply_changes(sel, &snap, &changed);
                if !atts.contains(&Att::Flags) {
                    atts.push(Att::Flags);
                }
            }
        }
        let sel = self
            .sel
            .as_ref()
            .ok_or_else(|| CmdErr::Bad("no mailbox selected".into()))?;
        let mut out = std::mem::take(&mut self.out);
        for i in idx {
            let m = &sel.view[i];
            if changed_since.is_some_and(|c| m.modseq <= c) {
                continue;
            }
            let raw = if needs_body {
                match sel.folder.read_message(m) {
                    Ok(r) => Some(r),
                    Err(_) => sel.folder.read(m.uid).ok(),
                }
            } else {
                None
            };
            let env = if needs_env {
                let f = &sel.folder;
                let summary = crate::cache::get(&m.base, || match &raw {
                    Some(r) => Some(r.clone()),
                    None => f.read(m.uid).ok(),
                });
                Some(summary)
            } else {
                None
            };
            if needs_body && raw.is_none() {
                // Expunged by another session meanwhile; RFC 9051 §7.5.1
                // lets us omit it.
                continue;
            }
            out.extend_from_slice(format!("* {} FETCH (", i + 1).as_bytes());
            fetch::render(
                &mut out,
                &atts,
                m,
                sel.recent.contains(&m.uid),
                raw.as_deref(),
                env.as_ref().map(|e| e.envelope.as_slice()),
            );
            out.extend_from_slice(b")\r\n");
        }
        self.out = out;
        if uid {
            self.refresh(true);
        }
        self.line(&format!("{tag} OK FETCH completed"));
        Ok(())
    }

    fn store(&mut self, tag: &str, args: &[Tok], uid: bool) -> Result<(), CmdErr> {
        let set = args
            .first()
            .and_then(Tok::text)
            .ok_or_else(|| CmdErr::Bad("STORE set item flags".into()))?;
        let mut i = 1;
        let mut unchanged_since = None;
        if let Some(Tok::List(m)) = args.get(1) {
            if m.first().is_some_and(|t| t.is("UNCHANGEDSINCE")) {
                unchanged_since = m
                    .get(1)
                    .and_then(Tok::text)
                    .and_then(|v| v.parse::<u64>().ok());
            }
            if unchanged_since.is_none() {
                return Err(CmdErr::Bad("bad STORE modifier".into()));
            }
            self.condstore = true;
            i = 2;
        }
        let item = args
            .get(i)
            .and_then(Tok::text)
            .ok_or_else(|| CmdErr::Bad("STORE item".into()))?
            .to_ascii_uppercase();
        let (op, silent) = match item.as_str() {
            "FLAGS" => (StoreFlags::Replace, false),
            "FLAGS.SILENT" => (StoreFlags::Replace, true),
            "+FLAGS" => (StoreFlags::Add, false),
            "+FLAGS.SILENT" => (StoreFlags::Add, true),
            "-FLAGS" => (StoreFlags::Remove, false),
            "-FLAGS.SILENT" => (StoreFlags::Remove, true),
            _ => return Err(CmdErr::Bad("bad STORE item".into())),
        };
        let mut flags = Flags::default();
        match args.get(i + 1) {
            Some(Tok::List(l)) => {
                for f in l {
                    insert_flag(&mut flags, f)?;
                }
            }
            Some(_) => {
                for a in args[i + 1..].iter() {
                    insert_flag(&mut flags, a)?;
                }
            }
            None => return Err(CmdErr::Bad("STORE flags".into())),
        }
        let idx = self.resolve(&set, uid)?;
        let condstore = self.condstore;
        let sel = self.selected()?;
        if sel.readonly {
            return Err(CmdErr::No("NO [READ-ONLY] mailbox is read-only".into()));
        }
        let uids: Vec<u32> = idx.iter().map(|i| sel.view[*i].uid).collect();
        let (snap, changed, failed) = sel
            .folder
            .store(&uids, op, &flags, unchanged_since)
            .map_err(|e| CmdErr::No(no(&e)))?;
        apply_changes(sel, &snap, &changed);
        let mut lines = Vec::new();
        // RFC 7162 §3.1.3: with UNCHANGEDSINCE the client also learns the
        // new MODSEQ, even for .SILENT.
        for u in &changed {
            if let Some(i) = sel.seq_of(*u) {
                let m = &sel.view[i];
                if silent && unchanged_since.is_none() {
                    continue;
                }
                let mut o = Vec::new();
                if !silent {
                    fetch::flags(&mut o, m, sel.recent.contains(u));
                }
                let mut items = Vec::new();
                if uid {
                    items.push(format!("UID {}", m.uid));
                }
                if !o.is_empty() {
                    items.push(String::from_utf8_lossy(&o).into_owned());
                }
                if condstore {
                    items.push(format!("MODSEQ ({})", m.modseq));
                }
                lines.push(format!("* {} FETCH ({})", i + 1, items.join(" ")));
            }
        }
        for l in lines {
            self.line(&l);
        }
        if uid {
            self.refresh(true);
        }
        if failed.is_empty() {
            self.line(&format!("{tag} OK STORE completed"));
        } else {
            let sel = self.selected()?;
            let mut f: Vec<u32> = if uid {
                failed
            } else {
                failed
                    .iter()
                    .filter_map(|u| sel.seq_of(*u).map(|i| i as u32 + 1))
                    .collect()
            };
            f.sort_unstable();
            self.line(&format!(
                "{tag} OK [MODIFIED {}] conditional STORE failed",
                seqset::format(&f)
            ));
        }
        Ok(())
    }

    /// A UID set argument, `$` (the saved result, RFC 5182) included.
    fn uid_set(&mut self, set: &str, max: u32) -> Result<SeqSet, CmdErr> {
        if set == "$" {
            let mut uids = self.selected()?.saved.clone();
            uids.sort_unstable();
            return Ok(SeqSet(uids.into_iter().map(|u| (u, u)).collect()));
        }
        SeqSet::parse(set, max).ok_or_else(|| CmdErr::Bad("bad UID set".into()))
    }

    /// Replaces `$` in search keys by the saved result (RFC 5182): as
    /// sequence numbers, or as UIDs after `UID`; an empty result becomes a
    /// key that matches nothing.
    fn expand_saved(sel: &Selected, keys: &[Tok]) -> Vec<Tok> {
        let nothing = || Tok::List(vec![Tok::Atom("NOT".into()), Tok::Atom("ALL".into())]);
        let mut out = Vec::with_capacity(keys.len());
        let mut i = 0;
        while i < keys.len() {
            match &keys[i] {
                Tok::Atom(a)
                    if a.eq_ignore_ascii_case("UID")
                        && keys.get(i + 1).is_some_and(|t| t.is("$")) =>
                {
                    let mut uids: Vec<u32> = sel
                        .saved
                        .iter()
                        .copied()
                        .filter(|u| sel.seq_of(*u).is_some())
                        .collect();
                    uids.sort_unstable();
                    if uids.is_empty() {
                        out.push(nothing());
                    } else {
                        out.push(keys[i].clone());
                        out.push(Tok::Atom(seqset::format(&uids)));
                    }
                    i += 1;
                }
                t if t.is("$") => {
                    let mut seqs: Vec<u32> = sel
                        .saved
                        .iter()
                        .filter_map(|u| sel.seq_of(*u).map(|s| s as u32 + 1))
                        .collect();
                    seqs.sort_unstable();
                    out.push(if seqs.is_empty() {
                        nothing()
                    } else {
                        Tok::Atom(seqset::format(&seqs))
                    });
                }
                Tok::List(l) => out.push(Tok::List(Self::expand_saved(sel, l))),
                t => out.push(t.clone()),
            }
            i += 1;
        }
        out
    }

    /// Evaluates search keys over the view; returns matching view indexes.
    fn run_search(&mut self, keys: &[Tok]) -> Result<(Vec<usize>, bool), CmdErr> {
        let depth = self.sh.config.imap.max_search_depth;
        let sel = self.selected()?;
        let keys = Self::expand_saved(sel, keys);
        let key = search::parse_keys(&keys, sel.view.len() as u32, sel.max_uid(), depth)
            .map_err(CmdErr::Bad)?;
        let has_modseq = key.has_modseq();
        let hits = search_view(sel, &key);
        Ok((hits, has_modseq))
    }

    fn search(&mut self, tag: &str, args: &[Tok], uid: bool) -> Result<(), CmdErr> {
        let mut i = 0;
        // ESEARCH (RFC 4731): RETURN (MIN MAX COUNT ALL)
        let mut ret: Option<Vec<String>> = None;
        if args.first().is_some_and(|t| t.is("RETURN")) {
            let Some(Tok::List(opts)) = args.get(1) else {
                return Err(CmdErr::Bad("RETURN (options)".into()));
            };
            ret = Some(
                opts.iter()
                    .filter_map(Tok::text)
                    .map(|o| o.to_ascii_uppercase())
                    .collect(),
            );
            i = 2;
        }
        if args.get(i).is_some_and(|t| t.is("CHARSET")) {
            let cs = args
                .get(i + 1)
                .and_then(Tok::text)
                .unwrap_or_default()
                .to_ascii_uppercase();
            if cs != "UTF-8" && cs != "US-ASCII" {
                return Err(CmdErr::No(
                    "NO [BADCHARSET (UTF-8 US-ASCII)] unsupported charset".into(),
                ));
            }
            i += 2;
        }
        // SEARCHRES (RFC 5182): RETURN (SAVE [MIN] [MAX] …) keeps the
        // result for `$`; a failed search empties it.
        let saving = ret.as_ref().is_some_and(|o| o.iter().any(|x| x == "SAVE"));
        let ret = ret.map(|o| o.into_iter().filter(|x| x != "SAVE").collect::<Vec<_>>());
        let (hits, has_modseq) = match self.run_search(&args[i.min(args.len())..]) {
            Ok(r) => r,
            Err(e) => {
                if saving && let Some(sel) = self.sel.as_mut() {
                    sel.saved.clear();
                }
                return Err(e);
            }
        };
        let sel = self.selected()?;
        if saving {
            let o = ret.as_deref().unwrap_or_default();
            let (min, max) = (o.iter().any(|x| x == "MIN"), o.iter().any(|x| x == "MAX"));
            let mut keep: Vec<usize> = if min || max {
                let mut v = Vec::new();
                v.extend(hits.iter().min().filter(|_| min));
                v.extend(hits.iter().max().filter(|_| max));
                v
            } else {
                hits.clone()
            };
            keep.dedup();
            sel.saved = keep.iter().map(|i| sel.view[*i].uid).collect();
        }
        let nums: Vec<u32> = hits
            .iter()
            .map(|i| if uid { sel.view[*i].uid } else { *i as u32 + 1 })
            .collect();
        let max_modseq = hits.iter().map(|i| sel.view[*i].modseq).max();
        let rev2 = self.rev2;
        if saving && ret.as_ref().is_some_and(Vec::is_empty) {
            // SAVE alone: no ESEARCH response (RFC 5182 §2.1).
        } else if ret.is_some() || rev2 {
            let opts = ret.unwrap_or_else(|| vec!["ALL".into()]);
            let opts = if opts.is_empty() {
                vec!["ALL".into()]
            } else {
                opts
            };
            let mut l = format!("* ESEARCH (TAG {})", quoted(tag));
            if uid {
                l.push_str(" UID");
            }
            if !nums.is_empty() {
                let mut sorted = nums.clone();
                sorted.sort_unstable();
                for o in &opts {
                    match o.as_str() {
                        "MIN" => l.push_str(&format!(" MIN {}", sorted[0])),
                        "MAX" => l.push_str(&format!(" MAX {}", sorted[sorted.len() - 1])),
                        "ALL" => l.push_str(&format!(" ALL {}", seqset::format(&sorted))),
                        _ => {}
                    }
                }
            }
            if opts.iter().any(|o| o == "COUNT") {
                l.push_str(&format!(" COUNT {}", nums.len()));
            }
            if has_modseq && let Some(m) = max_modseq {
                l.push_str(&format!(" MODSEQ {m}"));
            }
            self.line(&l);
        } else {
            let mut l = String::from("* SEARCH");
            for n in &nums {
                l.push_str(&format!(" {n}"));
            }
            if has_modseq && let Some(m) = max_modseq {
                l.push_str(&format!(" (MODSEQ {m})"));
            }
            self.line(&l);
        }
        if uid {
            self.refresh(true);
        }
        self.line(&format!("{tag} OK SEARCH completed"));
        Ok(())
    }

    fn sort(&mut self, tag: &str, args: &[Tok], uid: bool) -> Result<(), CmdErr> {
        let Some(Tok::List(crit)) = args.first() else {
            return Err(CmdErr::Bad("SORT (criteria) charset keys".into()));
        };
        let crit: Vec<String> = crit
            .iter()
            .filter_map(Tok::text)
            .map(|c| c.to_ascii_uppercase())
            .collect();
        const KEYS: [&str; 8] = [
            "REVERSE", "ARRIVAL", "DATE", "SIZE", "FROM", "TO", "CC", "SUBJECT",
        ];
        if crit.is_empty() || crit.last().is_some_and(|c| c == "REVERSE") {
            return Err(CmdErr::Bad("SORT criteria incomplete".into()));
        }
        if let Some(c) = crit.iter().find(|c| !KEYS.contains(&c.as_str())) {
            return Err(CmdErr::Bad(format!("unknown SORT key {c}")));
        }
        #[derive(Clone, Copy)]
        enum By {
            Arrival,
            Date,
            Size,
            From,
            To,
            Cc,
            Subject,
        }
        let mut keys: Vec<(By, bool)> = Vec::new();
        let mut reverse = false;
        for c in &crit {
            let by = match c.as_str() {
                "REVERSE" => {
                    reverse = true;
                    continue;
                }
                "ARRIVAL" => By::Arrival,
                "DATE" => By::Date,
                "SIZE" => By::Size,
                "FROM" => By::From,
                "TO" => By::To,
                "CC" => By::Cc,
                _ => By::Subject,
            };
            keys.push((by, std::mem::take(&mut reverse)));
        }
        let (hits, _) = self.run_search(&args[2.min(args.len())..])?;
        let sel = self.selected()?;
        // Base subjects come from the header cache (computed once per
        // message).
        let mut rows: Vec<(&MessageMeta, Arc<crate::cache::Summary>, u32)> = hits
            .into_iter()
            .map(|i| {
                let m = &sel.view[i];
                let f = &sel.folder;
                let n = if uid { m.uid } else { i as u32 + 1 };
                (m, crate::cache::get(&m.base, || f.read(m.uid).ok()), n)
            })
            .collect();
        rows.sort_unstable_by(|(ma, sa, _), (mb, sb, _)| {
            for &(by, reverse) in &keys {
                let ord = match by {
                    By::Arrival => ma.internal_date.cmp(&mb.internal_date),
                    // RFC 5256 §2.2: the sent date, INTERNALDATE without one.
                    By::Date => {
                        let d = |s: &crate::cache::Summary, m: &MessageMeta| {
                            if s.date != 0 { s.date } else { m.internal_date }
                        };
                        d(sa, ma).cmp(&d(sb, mb))
                    }
                    By::Size => ma.size.cmp(&mb.size),
                    By::From => sa.from_sort.cmp(&sb.from_sort),
                    By::To => sa.to_sort.cmp(&sb.to_sort),
                    By::Cc => sa.cc_sort.cmp(&sb.cc_sort),
                    By::Subject => sa.base_subject.text.cmp(&sb.base_subject.text),
                };
                let ord = if reverse { ord.reverse() } else { ord };
                if ord != std::cmp::Ordering::Equal {
                    return ord;
                }
            }
            ma.uid.cmp(&mb.uid)
        });
        let mut l = String::with_capacity(8 + rows.len() * 6);
        l.push_str("* SORT");
        for (_, _, n) in &rows {
            use std::fmt::Write;
            let _ = write!(l, " {n}");
        }
        self.line(&l);
        self.line(&format!("{tag} OK SORT completed"));
        Ok(())
    }

    fn thread(&mut self, tag: &str, args: &[Tok], uid: bool) -> Result<(), CmdErr> {
        let alg = args
            .first()
            .and_then(Tok::text)
            .unwrap_or_default()
            .to_ascii_uppercase();
        let threads = match alg.as_str() {
            "REFERENCES" => crate::thread::references,
            "ORDEREDSUBJECT" => crate::thread::ordered_subject,
            _ => {
                return Err(CmdErr::No(
                    "NO [CANNOT] unsupported THREAD algorithm".into(),
                ));
            }
        };
        let (hits, _) = self.run_search(&args[2.min(args.len())..])?;
        let sel = self.selected()?;
        let items: Vec<(u32, Arc<crate::cache::Summary>, i64)> = hits
            .into_iter()
            .map(|i| {
                let m = &sel.view[i];
                let f = &sel.folder;
                let s = crate::cache::get(&m.base, || f.read(m.uid).ok());
                let d = if s.date == 0 { m.internal_date } else { s.date };
                (if uid { m.uid } else { i as u32 + 1 }, s, d)
            })
            .collect();
        let l = format!("* THREAD {}", threads(&items));
        self.line(l.trim_end());
        self.line(&format!("{tag} OK THREAD completed"));
        Ok(())
    }

    fn copy(&mut self, tag: &str, args: &[Tok], uid: bool, mv: bool) -> Result<(), CmdErr> {
        let set = args
            .first()
            .and_then(Tok::text)
            .ok_or_else(|| CmdErr::Bad("COPY set mailbox".into()))?;
        let dest = args
            .get(1)
            .and_then(|t| mailbox_name(t, self.rev2))
            .ok_or_else(|| CmdErr::Bad("COPY set mailbox".into()))?;
        let idx = self.resolve(&set, uid)?;
        let mb = self.user()?.clone();
        let dest = match mb.folder(&dest) {
            Ok(f) => f,
            Err(StoreError::NotFound(_)) => {
                return Err(CmdErr::No("NO [TRYCREATE] no such mailbox".into()));
            }
            Err(e) => return Err(CmdErr::No(no(&e))),
        };
        let qresync = self.qresync;
        let sel = self.selected()?;
        if mv && sel.readonly {
            return Err(CmdErr::No("NO [READ-ONLY] mailbox is read-only".into()));
        }
        let mut uids: Vec<u32> = idx.iter().map(|i| sel.view[*i].uid).collect();
        uids.sort_unstable();
        let (v, pairs) = sel
            .folder
            .copy_to(&uids, &dest)
            .map_err(|e| CmdErr::No(no(&e)))?;
        let code = if pairs.is_empty() {
            String::new()
        } else {
            let src: Vec<u32> = pairs.iter().map(|p| p.0).collect();
            let dst: Vec<u32> = pairs.iter().map(|p| p.1).collect();
            format!(
                "[COPYUID {v} {} {}] ",
                seqset::format(&src),
                seqset::format(&dst)
            )
        };
        if !mv {
            self.refresh(true);
            self.line(&format!("{tag} OK {code}COPY completed"));
            return Ok(());
        }
        // MOVE (RFC 6851 §4.3): COPYUID untagged, then the expunges.
        let (snap, gone) = sel
            .folder
            .expunge(Some(&uids), false)
            .map_err(|e| CmdErr::No(no(&e)))?;
        let mut lines = vec![format!("* OK {code}moved")];
        expunge_lines(sel, &gone, qresync, &mut lines);
        sel.highest_modseq = snap.highest_modseq;
        for l in lines {
            self.line(&l);
        }
        self.refresh(true);
        self.line(&format!("{tag} OK MOVE completed"));
        Ok(())
    }

    fn expunge(&mut self, tag: &str, set: Option<SeqSet>) -> Result<(), CmdErr> {
        let qresync = self.qresync;
        let sel = self.selected()?;
        if sel.readonly {
            return Err(CmdErr::No("NO [READ-ONLY] mailbox is read-only".into()));
        }
        let uids: Option<Vec<u32>> = set.map(|s| {
            sel.view
                .iter()
                .map(|m| m.uid)
                .filter(|u| s.contains(*u))
                .collect()
        });
        let (snap, gone) = sel
            .folder
            .expunge(uids.as_deref(), true)
            .map_err(|e| CmdErr::No(no(&e)))?;
        let mut lines = Vec::new();
        expunge_lines(sel, &gone, qresync, &mut lines);
        sel.highest_modseq = snap.highest_modseq;
        for l in lines {
            self.line(&l);
        }
        self.refresh(true);
        let hm = self.sel.as_ref().map_or(0, |s| s.highest_modseq);
        if self.condstore {
            self.line(&format!("{tag} OK [HIGHESTMODSEQ {hm}] EXPUNGE completed"));
        } else {
            self.line(&format!("{tag} OK EXPUNGE completed"));
        }
        Ok(())
    }

    async fn idle(&mut self, tag: &str) -> R<Flow> {
        self.line("+ idling");
        self.refresh(true);
        self.flush().await?;
        // RFC 9051 §6.3.13 / RFC 2177: clients re-issue IDLE at least every
        // 29 minutes; we end it after the configured idle timeout.
        let deadline = tokio::time::Instant::now() + self.timeout();
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        let sd = self.sh.shutdown.clone();
        loop {
            match self.rd.take_line() {
                Ok(Some(l)) => {
                    if l.eq_ignore_ascii_case(b"DONE") {
                        self.line(&format!("{tag} OK IDLE terminated"));
                    } else {
                        self.line(&format!("{tag} BAD expected DONE"));
                    }
                    return Ok(Flow::Go);
                }
                Ok(None) => {}
                Err(_) => return Ok(Flow::Close),
            }
            let mut buf = [0u8; 4096];
            tokio::select! {
                r = self.io.read(&mut buf) => {
                    match r {
                        Ok(0) | Err(_) => return Ok(Flow::Close),
                        Ok(n) => self.rd.feed(&buf[..n]),
                    }
                }
                _ = tick.tick() => {
                    self.refresh(true);
                    self.flush().await?;
                }
                _ = tokio::time::sleep_until(deadline) => {
                    self.line("* BYE IDLE timeout");
                    return Ok(Flow::Close);
                }
                _ = sd.wait() => {
                    self.line("* BYE [UNAVAILABLE] Server shutting down");
                    return Ok(Flow::Close);
                }
            }
        }
    }
}

/// Runs store-bound work (file I/O, searches over thousands of files)
/// without stalling the other sessions on this worker thread.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// A quoted string; UTF-8 stays quoted (RFC 9051 allows it, and only
/// IMAP4rev2 sessions get non-ASCII names); control characters or great
/// length make it a literal.
fn quoted(s: &str) -> String {
    if s.len() < 1024 && !s.chars().any(char::is_control) {
        format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        let mut o = Vec::new();
        string(&mut o, s.as_bytes());
        String::from_utf8_lossy(&o).into_owned()
    }
}

fn apply_changes(sel: &mut Selected, snap: &Snapshot, changed: &[u32]) {
    for u in changed {
        if let (Some(i), Some(j)) = (sel.seq_of(*u), snap.position(*u)) {
            sel.view[i] = snap.messages[j].clone();
        }
    }
}

fn expunge_lines(sel: &mut Selected, gone: &[u32], qresync: bool, lines: &mut Vec<String>) {
    if gone.is_empty() {
        return;
    }
    if qresync {
        let mut g = gone.to_vec();
        g.sort_unstable();
        lines.push(format!("* VANISHED {}", seqset::format(&g)));
        sel.view.retain(|m| g.binary_search(&m.uid).is_err());
    } else {
        for u in gone {
            if let Some(i) = sel.seq_of(*u) {
                lines.push(format!("* {} EXPUNGE", i + 1));
                sel.view.remove(i);
            }
        }
    }
}

/// Runs a search over the view, using both cores for content searches.
fn search_view(sel: &Selected, key: &Key) -> Vec<usize> {
    let n = sel.view.len();
    let eval = |range: std::ops::Range<usize>| -> Vec<usize> {
        let mut hits = Vec::new();
        for i in range {
            let m = &sel.view[i];
            let f = &sel.folder;
            let load = || f.read_message(m).ok().or_else(|| f.read(m.uid).ok());
            let mut c = Candidate::new(m, i as u32 + 1, sel.recent.contains(&m.uid), &load);
            if search::matches(key, &mut c) {
                hits.push(i);
            }
        }
        hits
    };
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(4);
    if n < 256 || threads < 2 {
        return eval(0..n);
    }
    let chunk = n.div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let r = (t * chunk).min(n)..((t + 1) * chunk).min(n);
                s.spawn(move || eval(r))
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    })
}

enum CmdErr {
    Io(std::io::Error),
    Bad(String),
    No(String),
}

impl From<std::io::Error> for CmdErr {
    fn from(e: std::io::Error) -> Self {
        CmdErr::Io(e)
    }
}
