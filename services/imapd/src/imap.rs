//! The IMAP session (RFC 3501 / RFC 9051 and the extensions listed in
//! [`CAPABILITIES`]): one task per connection, generic over the stream so
//! plain, STARTTLS, implicit TLS and COMPRESS share one code path.
//!
//! Flow per command: bytes → [`Reader`] frame → [`parse_command`] tokens
//! → state check → [`command::parse`] → a typed [`Command`] →
//! `dispatch()` → the operation in `op/` (`auth`, `mailbox`, `message`,
//! `search`) → responses buffered in `out` → one flush. Changes made by
//! other sessions (or deliveries) are found by re-syncing the folder index
//! after each command (not during FETCH/STORE/SEARCH by sequence number,
//! where RFC 9051 §7.5.1 forbids EXPUNGE) and every second while IDLE.

mod op;

use crate::fetch;
use crate::parse::{Event, Reader, Tokens, parse_command};
use crate::search::{self, Candidate, Key};
use crate::seqset;
use crate::server::{BoxStream, Shared, User};
use crate::wire::string;
use outpost_imap_proto::command::{self, Command, MailboxArg, State, Tagged};
use outpost_store::{Flags, Folder, Mailbox, MessageMeta, Snapshot, StoreError};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tracing::Instrument as _;

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
    /// The connection's span (the listener's `conn`): the user and
    /// STARTTLS are recorded there, not on the per-command span.
    conn: tracing::Span,
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
        conn: tracing::Span::current(),
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
fn insert_flag(flags: &mut Flags, f: &str) -> Result<(), CmdErr> {
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
fn mailbox_name(t: &MailboxArg, utf8: bool) -> Option<String> {
    let n = t.0.clone();
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

    async fn command(&mut self, t: Tokens) -> R<Flow> {
        let tag = t.tag.clone();
        let name = outpost_daemon::log::client_str(&t.name).into_owned();
        let r = match self.state_error(&t.name) {
            Some(m) => Err(CmdErr::Bad(m)),
            None => match command::parse(t) {
                Ok(Tagged { command, .. }) => {
                    // A span per command (tag and verb, as the client
                    // sent them, bounded): its events carry them.
                    let span = tracing::info_span!(
                        "cmd",
                        tag = &*outpost_daemon::log::client_str(&tag),
                        name = name.as_str()
                    );
                    self.dispatch(&tag, command).instrument(span).await
                }
                Err(rejected) => Err(CmdErr::Bad(rejected.message)),
            },
        };
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

    /// The `BAD` text when a command (by name) is not allowed in this
    /// state; checked before its arguments, so a client that has not
    /// logged in learns that first.
    fn state_error(&self, name: &str) -> Option<String> {
        let authed = self.user.is_some();
        match command::state_of(name) {
            Some(State::Any) => None,
            Some(State::NotAuthenticated) => authed.then(|| "already authenticated".into()),
            _ if !authed => Some(format!("{name} needs authentication")),
            Some(State::Authenticated) => None,
            Some(State::Selected) | None if self.sel.is_none() => {
                Some(format!("unknown command or no mailbox selected: {name}"))
            }
            Some(State::Selected) | None => None,
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

    /// Runs one typed command; the state was checked by [`Self::command`].
    /// The operations live in `op/` (auth, mailbox, message, search).
    async fn dispatch(&mut self, tag: &str, cmd: Command) -> Result<Option<Flow>, CmdErr> {
        match cmd {
            Command::Capability => {
                let c = self.caps();
                self.line(&format!("* CAPABILITY {c}"));
                self.line(&format!("{tag} OK CAPABILITY completed"));
            }
            Command::Noop | Command::Check => {
                let name = if cmd == Command::Noop {
                    "NOOP"
                } else {
                    "CHECK"
                };
                self.refresh(true);
                self.line(&format!("{tag} OK {name} completed"));
            }
            Command::Logout => {
                self.line("* BYE logging out");
                self.line(&format!("{tag} OK LOGOUT completed"));
                return Ok(Some(Flow::Close));
            }
            Command::Id => {
                self.line(&format!(
                    "* ID (\"name\" \"Outpost\" \"version\" \"{}\")",
                    env!("CARGO_PKG_VERSION")
                ));
                self.line(&format!("{tag} OK ID completed"));
            }
            Command::Namespace => {
                self.line("* NAMESPACE ((\"\" \".\")) NIL NIL");
                self.line(&format!("{tag} OK NAMESPACE completed"));
            }
            Command::StartTls => self.starttls(tag).await?,
            Command::Login { user, password } => self.login(tag, "LOGIN", &user, &password).await?,
            Command::Authenticate { mechanism, initial } => {
                return self.authenticate(tag, &mechanism, initial).await;
            }
            Command::Enable(caps) => self.enable(tag, caps),
            Command::Compress { deflate } => self.compress(tag, deflate).await?,
            Command::Select {
                mailbox,
                readonly,
                condstore,
                qresync,
                qresync_data,
            } => {
                blocking(|| self.select(tag, &mailbox, readonly, condstore, qresync, qresync_data))?
            }
            Command::Create(m) => self.create(tag, &m)?,
            Command::Delete(m) => self.delete(tag, &m)?,
            Command::Rename { from, to } => self.rename(tag, &from, &to)?,
            Command::Subscribe(m, on) => self.subscribe(tag, &m, on)?,
            Command::List {
                lsub,
                select,
                reference,
                patterns,
                return_subscribed,
                return_status,
            } => blocking(|| {
                self.list(
                    tag,
                    lsub,
                    select,
                    &reference,
                    &patterns,
                    return_subscribed,
                    return_status.as_deref(),
                )
            })?,
            Command::Status { mailbox, items } => self.status(tag, &mailbox, &items)?,
            Command::Append { mailbox, messages } => {
                blocking(|| self.append(tag, &mailbox, messages))?
            }
            Command::GetQuotaRoot(m) => self.get_quota_root(tag, m.as_ref())?,
            Command::GetQuota(root) => self.get_quota(tag, root.as_deref())?,
            Command::SetQuota => {
                return Err(CmdErr::No(
                    "NO [NOPERM] quotas are set by the administrator".into(),
                ));
            }
            Command::Idle => return self.idle(tag).await.map(Some).map_err(CmdErr::Io),
            Command::Close | Command::Unselect => {
                let close = cmd == Command::Close;
                self.close(tag, close);
            }
            Command::Expunge(set) => blocking(|| self.expunge(tag, set.as_ref()))?,
            Command::Fetch {
                uid,
                set,
                items,
                modifiers,
                changed_since,
                vanished,
            } => {
                blocking(|| self.fetch(tag, uid, &set, items, modifiers, changed_since, vanished))?
            }
            Command::Store {
                uid,
                set,
                unchanged_since,
                mode,
                silent,
                flags,
            } => blocking(|| self.store(tag, uid, &set, unchanged_since, mode, silent, &flags))?,
            Command::Search {
                uid,
                returns,
                charset,
                criteria,
            } => blocking(|| self.search(tag, uid, returns, charset.as_deref(), &criteria))?,
            Command::Sort {
                uid,
                keys,
                criteria,
            } => blocking(|| self.sort(tag, uid, &keys, &criteria))?,
            Command::Thread {
                uid,
                algorithm,
                criteria,
            } => blocking(|| self.thread(tag, uid, algorithm, &criteria))?,
            Command::Copy {
                uid,
                moving,
                set,
                mailbox,
            } => blocking(|| self.copy(tag, uid, moving, &set, &mailbox))?,
        }
        Ok(None)
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
                Err(e) => {
                    self.line(&format!("* BYE {e}"));
                    return Ok(Flow::Close);
                }
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
pub(crate) fn blocking<T>(f: impl FnOnce() -> T) -> T {
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
