//! Typed IMAP commands: a tokenised frame ([`crate::parse::Tokens`])
//! becomes a [`Command`] whose arguments have their syntax checked, so the
//! session in imapd dispatches on the enum and never looks at raw tokens
//! except where the meaning depends on the selected mailbox:
//!
//! - sequence sets stay [`Sequence`] (`*` and `$` resolve against the
//!   mailbox: [`Sequence::resolve`]);
//! - SEARCH, SORT and THREAD criteria stay tokens, because `$` is replaced
//!   by the saved result before [`crate::search::parse_keys`] turns them
//!   into a [`crate::search::Key`] (and `*` needs the mailbox's size);
//! - mailbox names stay as sent ([`MailboxArg`]): the session decodes them
//!   (modified UTF-7 or UTF-8 depends on ENABLE IMAP4rev2, and the store
//!   folds `INBOX`).
//!
//! Error texts are those of the `BAD` replies the session sends.

use crate::fetch::{Att, parse_atts};
use crate::parse::{Tok, Tokens};
use crate::seqset::SeqSet;
use crate::wire::parse_date_time;

/// A command with its tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tagged {
    /// The client's tag.
    pub tag: String,
    /// The command.
    pub command: Command,
}

/// A command that could not be typed: the `BAD` reply's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// The client's tag (`*` when there was none).
    pub tag: String,
    /// The command name, upper case, when there was one: the session checks
    /// the state first (an unauthenticated client learns that it must log
    /// in, not what is wrong with its arguments).
    pub name: Option<String>,
    /// Why.
    pub message: String,
}

/// The protocol state a command needs (RFC 9051 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Any state.
    Any,
    /// Not authenticated only (STARTTLS, LOGIN, AUTHENTICATE).
    NotAuthenticated,
    /// Authenticated (a mailbox may be selected).
    Authenticated,
    /// A mailbox is selected.
    Selected,
}

/// A mailbox name as the client sent it (atom, quoted string or literal);
/// the session decodes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxArg(pub String);

/// One end of a sequence range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// A number (non-zero).
    Num(u32),
    /// `*`: the largest number in use.
    Star,
}

/// A sequence set as sent: ranges with `*` unresolved, or `$` (the saved
/// search result, RFC 5182).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sequence {
    /// `$`.
    Saved,
    /// `1:3,7,9:*`.
    Set(Vec<(Bound, Bound)>),
}

impl Sequence {
    /// Parses a sequence set (or `$`).
    pub fn parse(s: &str) -> Option<Sequence> {
        if s == "$" {
            return Some(Sequence::Saved);
        }
        let bound = |x: &str| -> Option<Bound> {
            if x == "*" {
                Some(Bound::Star)
            } else if !x.is_empty() && x.bytes().all(|b| b.is_ascii_digit()) {
                x.parse().ok().filter(|n| *n > 0).map(Bound::Num)
            } else {
                None
            }
        };
        let mut v = Vec::new();
        for part in s.split(',') {
            v.push(match part.split_once(':') {
                Some((a, b)) => (bound(a)?, bound(b)?),
                None => {
                    let n = bound(part)?;
                    (n, n)
                }
            });
        }
        Some(Sequence::Set(v))
    }

    /// The set with `*` as `max`; `None` for `$` (the session holds it).
    pub fn resolve(&self, max: u32) -> Option<SeqSet> {
        let Sequence::Set(v) = self else { return None };
        let n = |b: &Bound| match b {
            Bound::Num(n) => *n,
            Bound::Star => max,
        };
        Some(SeqSet(
            v.iter()
                .map(|(a, b)| (n(a).min(n(b)), n(a).max(n(b))))
                .collect(),
        ))
    }
}

/// A STATUS data item (RFC 9051 §6.3.11, RFC 7162 HIGHESTMODSEQ, RFC
/// 8438 SIZE).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusItem {
    /// MESSAGES.
    Messages,
    /// RECENT.
    Recent,
    /// UIDNEXT.
    UidNext,
    /// UIDVALIDITY.
    UidValidity,
    /// UNSEEN.
    Unseen,
    /// DELETED.
    Deleted,
    /// SIZE.
    Size,
    /// HIGHESTMODSEQ.
    HighestModSeq,
}

impl StatusItem {
    /// The item's name in a response.
    pub fn name(self) -> &'static str {
        match self {
            StatusItem::Messages => "MESSAGES",
            StatusItem::Recent => "RECENT",
            StatusItem::UidNext => "UIDNEXT",
            StatusItem::UidValidity => "UIDVALIDITY",
            StatusItem::Unseen => "UNSEEN",
            StatusItem::Deleted => "DELETED",
            StatusItem::Size => "SIZE",
            StatusItem::HighestModSeq => "HIGHESTMODSEQ",
        }
    }

    fn parse(t: &Tok) -> Option<StatusItem> {
        Some(match t.text()?.to_ascii_uppercase().as_str() {
            "MESSAGES" => StatusItem::Messages,
            "RECENT" => StatusItem::Recent,
            "UIDNEXT" => StatusItem::UidNext,
            "UIDVALIDITY" => StatusItem::UidValidity,
            "UNSEEN" => StatusItem::Unseen,
            "DELETED" => StatusItem::Deleted,
            "SIZE" => StatusItem::Size,
            "HIGHESTMODSEQ" => StatusItem::HighestModSeq,
            _ => return None,
        })
    }

    /// Known items of a list; unknown ones are left out (as before the
    /// typed commands: the session answers with what it knows).
    fn list(items: &[Tok]) -> Vec<StatusItem> {
        items.iter().filter_map(StatusItem::parse).collect()
    }
}

/// SELECT/EXAMINE `(QRESYNC (uidvalidity modseq [known-uids [seq-match]]))`
/// (RFC 7162 §3.2.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Qresync {
    /// The client's UIDVALIDITY.
    pub uidvalidity: u32,
    /// The client's last known MODSEQ.
    pub modseq: u64,
    /// The UIDs the client knows, as sent (`*` resolves to UIDNEXT).
    pub known_uids: Option<String>,
    /// Sequence match data: (message numbers, their UIDs), equal sizes.
    pub seq_match: Option<(SeqSet, SeqSet)>,
}

/// LIST selection options (RFC 5258 §3.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListSelect {
    /// SUBSCRIBED.
    pub subscribed: bool,
    /// SPECIAL-USE (RFC 6154).
    pub special_use: bool,
    /// RECURSIVEMATCH.
    pub recursive: bool,
}

/// How STORE changes flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreMode {
    /// FLAGS.
    Replace,
    /// +FLAGS.
    Add,
    /// -FLAGS.
    Remove,
}

/// One message of APPEND (MULTIAPPEND, RFC 3502, may send several).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendMessage {
    /// Flag names (atoms; the store decides which keywords it keeps).
    pub flags: Vec<String>,
    /// INTERNALDATE, seconds since the epoch.
    pub date: Option<i64>,
    /// The message.
    pub message: Vec<u8>,
}

/// A SORT key (RFC 5256 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    /// ARRIVAL.
    Arrival,
    /// DATE.
    Date,
    /// SIZE.
    Size,
    /// FROM.
    From,
    /// TO.
    To,
    /// CC.
    Cc,
    /// SUBJECT.
    Subject,
}

/// A THREAD algorithm (RFC 5256 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThreadAlgorithm {
    /// ORDEREDSUBJECT.
    OrderedSubject,
    /// REFERENCES.
    References,
}

/// An IMAP command with typed arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// CAPABILITY.
    Capability,
    /// NOOP.
    Noop,
    /// CHECK (a NOOP since RFC 9051).
    Check,
    /// LOGOUT.
    Logout,
    /// ID (RFC 2971); the client's parameters are not kept.
    Id,
    /// STARTTLS.
    StartTls,
    /// LOGIN.
    Login {
        /// User name.
        user: String,
        /// Password.
        password: String,
    },
    /// AUTHENTICATE.
    Authenticate {
        /// The SASL mechanism, as sent.
        mechanism: String,
        /// SASL-IR initial response (RFC 4959), base64 as sent.
        initial: Option<String>,
    },
    /// ENABLE: the capability names, upper case.
    Enable(Vec<String>),
    /// NAMESPACE.
    Namespace,
    /// COMPRESS; `deflate` is whether the mechanism is DEFLATE.
    Compress {
        /// DEFLATE requested.
        deflate: bool,
    },
    /// SELECT (`readonly` false) or EXAMINE.
    Select {
        /// The mailbox.
        mailbox: MailboxArg,
        /// EXAMINE.
        readonly: bool,
        /// The CONDSTORE parameter.
        condstore: bool,
        /// The QRESYNC parameter was given.
        qresync: bool,
        /// Its data, when it came with a list.
        qresync_data: Option<Qresync>,
    },
    /// CREATE.
    Create(MailboxArg),
    /// DELETE.
    Delete(MailboxArg),
    /// RENAME.
    Rename {
        /// From.
        from: MailboxArg,
        /// To.
        to: MailboxArg,
    },
    /// SUBSCRIBE (true) or UNSUBSCRIBE.
    Subscribe(MailboxArg, bool),
    /// LIST or LSUB (RFC 5258 LIST-EXTENDED, RFC 5819 LIST-STATUS).
    List {
        /// LSUB.
        lsub: bool,
        /// Selection options.
        select: ListSelect,
        /// The reference name.
        reference: String,
        /// The patterns (one for LSUB and the basic LIST).
        patterns: Vec<String>,
        /// RETURN (SUBSCRIBED).
        return_subscribed: bool,
        /// RETURN (STATUS (…)).
        return_status: Option<Vec<StatusItem>>,
    },
    /// STATUS.
    Status {
        /// The mailbox.
        mailbox: MailboxArg,
        /// The items asked for.
        items: Vec<StatusItem>,
    },
    /// APPEND.
    Append {
        /// The mailbox.
        mailbox: MailboxArg,
        /// One or more messages.
        messages: Vec<AppendMessage>,
    },
    /// GETQUOTAROOT (INBOX when no mailbox was given).
    GetQuotaRoot(Option<MailboxArg>),
    /// GETQUOTA.
    GetQuota(Option<String>),
    /// SETQUOTA (always refused: quotas are set by the administrator).
    SetQuota,
    /// IDLE.
    Idle,
    /// CLOSE.
    Close,
    /// UNSELECT.
    Unselect,
    /// EXPUNGE, or UID EXPUNGE with a UID set.
    Expunge(Option<Sequence>),
    /// FETCH / UID FETCH.
    Fetch {
        /// UID FETCH.
        uid: bool,
        /// The messages.
        set: Sequence,
        /// What to return.
        items: Vec<Att>,
        /// A modifier list was sent (it enables CONDSTORE).
        modifiers: bool,
        /// CHANGEDSINCE.
        changed_since: Option<u64>,
        /// VANISHED.
        vanished: bool,
    },
    /// STORE / UID STORE.
    Store {
        /// UID STORE.
        uid: bool,
        /// The messages.
        set: Sequence,
        /// UNCHANGEDSINCE (RFC 7162 §3.1.3).
        unchanged_since: Option<u64>,
        /// Replace, add or remove.
        mode: StoreMode,
        /// `.SILENT`.
        silent: bool,
        /// Flag names (atoms).
        flags: Vec<String>,
    },
    /// SEARCH / UID SEARCH.
    Search {
        /// UID SEARCH.
        uid: bool,
        /// ESEARCH RETURN options, upper case (RFC 4731, RFC 5182 SAVE).
        returns: Option<Vec<String>>,
        /// CHARSET, upper case.
        charset: Option<String>,
        /// The search keys, as tokens (see the module documentation).
        criteria: Vec<Tok>,
    },
    /// SORT / UID SORT.
    Sort {
        /// UID SORT.
        uid: bool,
        /// Keys, each with its REVERSE.
        keys: Vec<(SortKey, bool)>,
        /// The search keys.
        criteria: Vec<Tok>,
    },
    /// THREAD / UID THREAD.
    Thread {
        /// UID THREAD.
        uid: bool,
        /// The algorithm; `None` when it is not one we implement.
        algorithm: Option<ThreadAlgorithm>,
        /// The search keys.
        criteria: Vec<Tok>,
    },
    /// COPY / UID COPY (`moving` false) or MOVE / UID MOVE (RFC 6851).
    Copy {
        /// UID COPY / UID MOVE.
        uid: bool,
        /// MOVE.
        moving: bool,
        /// The messages.
        set: Sequence,
        /// The destination.
        mailbox: MailboxArg,
    },
}

/// The state a command (by upper-case name) needs; `None`: not a command
/// we know.
pub fn state_of(name: &str) -> Option<State> {
    Some(match name {
        "CAPABILITY" | "NOOP" | "CHECK" | "LOGOUT" | "ID" => State::Any,
        "STARTTLS" | "LOGIN" | "AUTHENTICATE" => State::NotAuthenticated,
        "ENABLE" | "NAMESPACE" | "COMPRESS" | "SELECT" | "EXAMINE" | "CREATE" | "DELETE"
        | "RENAME" | "SUBSCRIBE" | "UNSUBSCRIBE" | "LIST" | "LSUB" | "STATUS" | "APPEND"
        | "GETQUOTAROOT" | "GETQUOTA" | "SETQUOTA" | "IDLE" => State::Authenticated,
        "CLOSE" | "UNSELECT" | "EXPUNGE" | "FETCH" | "STORE" | "SEARCH" | "SORT" | "THREAD"
        | "COPY" | "MOVE" | "UID" => State::Selected,
        _ => return None,
    })
}

/// Turns a tokenised frame into a typed command.
pub fn parse(t: Tokens) -> Result<Tagged, Rejected> {
    let Tokens { tag, name, args } = t;
    match command(&name, args) {
        Ok(command) => Ok(Tagged { tag, command }),
        Err(message) => Err(Rejected {
            tag,
            name: Some(name),
            message,
        }),
    }
}

/// Frame bytes → typed command: [`crate::parse::parse_command`] then
/// [`parse`].
pub fn parse_frame(frame: &[u8]) -> Result<Tagged, Rejected> {
    let t = crate::parse::parse_command(frame).map_err(|(tag, message)| Rejected {
        tag,
        name: None,
        message,
    })?;
    parse(t)
}

fn text(a: &[Tok], i: usize) -> Option<String> {
    a.get(i).and_then(Tok::text)
}

fn mailbox(a: &[Tok], i: usize) -> Option<MailboxArg> {
    text(a, i).map(MailboxArg)
}

fn u64_of(t: Option<&Tok>) -> Option<u64> {
    t.and_then(Tok::text).and_then(|v| v.parse().ok())
}

/// A sequence-set argument; `uid` picks the error text.
fn sequence(a: &[Tok], i: usize, uid: bool) -> Result<Sequence, String> {
    text(a, i)
        .as_deref()
        .and_then(Sequence::parse)
        .ok_or_else(|| {
            if uid {
                "bad UID set".to_string()
            } else {
                "bad sequence set".to_string()
            }
        })
}

fn flag_names(toks: &[Tok]) -> Result<Vec<String>, String> {
    toks.iter()
        .map(|t| match t {
            Tok::Atom(f) => Ok(f.clone()),
            _ => Err("a flag is an atom".to_string()),
        })
        .collect()
}

fn command(name: &str, args: Vec<Tok>) -> Result<Command, String> {
    Ok(match name {
        "CAPABILITY" => Command::Capability,
        "NOOP" => Command::Noop,
        "CHECK" => Command::Check,
        "LOGOUT" => Command::Logout,
        "ID" => Command::Id,
        "STARTTLS" => Command::StartTls,
        "NAMESPACE" => Command::Namespace,
        "IDLE" => Command::Idle,
        "CLOSE" => Command::Close,
        "UNSELECT" => Command::Unselect,
        "EXPUNGE" => Command::Expunge(None),
        "SETQUOTA" => Command::SetQuota,
        "LOGIN" => {
            let (Some(user), Some(password)) = (text(&args, 0), text(&args, 1)) else {
                return Err("LOGIN user password".into());
            };
            Command::Login { user, password }
        }
        "AUTHENTICATE" => Command::Authenticate {
            mechanism: text(&args, 0).unwrap_or_default(),
            initial: text(&args, 1),
        },
        "ENABLE" => Command::Enable(
            args.iter()
                .map(|a| a.text().unwrap_or_default().to_ascii_uppercase())
                .collect(),
        ),
        "COMPRESS" => Command::Compress {
            deflate: args.first().is_some_and(|a| a.is("DEFLATE")),
        },
        "SELECT" | "EXAMINE" => select(name == "EXAMINE", &args)?,
        "CREATE" => Command::Create(mailbox(&args, 0).ok_or("CREATE name")?),
        "DELETE" => Command::Delete(mailbox(&args, 0).ok_or("DELETE name")?),
        "RENAME" => {
            let (Some(from), Some(to)) = (mailbox(&args, 0), mailbox(&args, 1)) else {
                return Err("RENAME from to".into());
            };
            Command::Rename { from, to }
        }
        "SUBSCRIBE" | "UNSUBSCRIBE" => Command::Subscribe(
            mailbox(&args, 0).ok_or("mailbox name")?,
            name == "SUBSCRIBE",
        ),
        "LIST" | "LSUB" => list(name, &args)?,
        "STATUS" => {
            let mailbox = mailbox(&args, 0).ok_or("STATUS name")?;
            let Some(Tok::List(items)) = args.get(1) else {
                return Err("STATUS name (items)".into());
            };
            Command::Status {
                mailbox,
                items: StatusItem::list(items),
            }
        }
        "APPEND" => append(args)?,
        "GETQUOTAROOT" => Command::GetQuotaRoot(mailbox(&args, 0)),
        "GETQUOTA" => Command::GetQuota(text(&args, 0)),
        "FETCH" => fetch(&args, false)?,
        "STORE" => store(&args, false)?,
        "SEARCH" => search(args, false)?,
        "SORT" => sort(args, false)?,
        "THREAD" => thread(args, false)?,
        "COPY" | "MOVE" => copy(&args, false, name == "MOVE")?,
        "UID" => {
            let sub = text(&args, 0).unwrap_or_default().to_ascii_uppercase();
            let mut rest = args;
            if !rest.is_empty() {
                rest.remove(0);
            }
            match sub.as_str() {
                "FETCH" => fetch(&rest, true)?,
                "STORE" => store(&rest, true)?,
                "SEARCH" => search(rest, true)?,
                "SORT" => sort(rest, true)?,
                "THREAD" => thread(rest, true)?,
                "COPY" => copy(&rest, true, false)?,
                "MOVE" => copy(&rest, true, true)?,
                "EXPUNGE" => {
                    if text(&rest, 0).is_none() {
                        return Err("UID EXPUNGE set".into());
                    }
                    Command::Expunge(Some(sequence(&rest, 0, true)?))
                }
                _ => return Err("unknown UID command".into()),
            }
        }
        _ => return Err(format!("unknown command {name}")),
    })
}

fn select(readonly: bool, args: &[Tok]) -> Result<Command, String> {
    let mailbox = mailbox(args, 0).ok_or("SELECT mailbox")?;
    let (mut condstore, mut qresync, mut qresync_data) = (false, false, None);
    if let Some(Tok::List(p)) = args.get(1) {
        let mut i = 0;
        while i < p.len() {
            if p[i].is("CONDSTORE") {
                condstore = true;
            } else if p[i].is("QRESYNC") {
                qresync = true;
                if let Some(Tok::List(q)) = p.get(i + 1) {
                    let v = text(q, 0).and_then(|v| v.parse().ok());
                    let m = text(q, 1).and_then(|v| v.parse().ok());
                    let (Some(uidvalidity), Some(modseq)) = (v, m) else {
                        return Err("bad QRESYNC parameters".into());
                    };
                    let mut known_uids = None;
                    let mut seq_match = None;
                    for t in q.iter().skip(2) {
                        match t {
                            Tok::List(l) => {
                                let set =
                                    |i: usize| text(l, i).and_then(|x| SeqSet::parse(&x, u32::MAX));
                                let (Some(seqs), Some(uids), None) = (set(0), set(1), l.get(2))
                                else {
                                    return Err("bad QRESYNC sequence match data".into());
                                };
                                if seqs.size() != uids.size() {
                                    return Err("QRESYNC sequence match sets differ in size".into());
                                }
                                seq_match = Some((seqs, uids));
                            }
                            t => known_uids = t.text(),
                        }
                    }
                    qresync_data = Some(Qresync {
                        uidvalidity,
                        modseq,
                        known_uids,
                        seq_match,
                    });
                    i += 1;
                }
            }
            i += 1;
        }
    }
    Ok(Command::Select {
        mailbox,
        readonly,
        condstore,
        qresync,
        qresync_data,
    })
}

fn list(name: &str, args: &[Tok]) -> Result<Command, String> {
    // LIST [(selection)] reference pattern(s) [RETURN (options)]
    let lsub = name == "LSUB";
    let mut i = 0;
    let mut select = ListSelect::default();
    if !lsub && let Some(Tok::List(sel)) = args.first() {
        for s in sel {
            if s.is("SUBSCRIBED") {
                select.subscribed = true;
            } else if s.is("SPECIAL-USE") {
                select.special_use = true;
            } else if s.is("RECURSIVEMATCH") {
                select.recursive = true;
            } else if !s.is("REMOTE") {
                return Err(format!(
                    "unknown LIST selection option {}",
                    s.text().unwrap_or_default()
                ));
            }
        }
        if select.recursive && !select.subscribed && !select.special_use {
            // RFC 5258 §3: RECURSIVEMATCH alone (or with REMOTE) is an error.
            return Err("RECURSIVEMATCH needs another selection option".into());
        }
        i = 1;
    }
    let reference = text(args, i).ok_or_else(|| format!("{name} reference pattern"))?;
    let patterns: Vec<String> = match args.get(i + 1) {
        Some(Tok::List(l)) if !lsub => l.iter().filter_map(Tok::text).collect(),
        Some(t @ (Tok::Atom(_) | Tok::Str(_))) => vec![t.text().unwrap_or_default()],
        _ => return Err(format!("{name} reference pattern")),
    };
    let mut return_status = None;
    let mut return_subscribed = false;
    if let Some(t) = args.get(i + 2) {
        let (true, Some(Tok::List(opts)), None) =
            (t.is("RETURN") && !lsub, args.get(i + 3), args.get(i + 4))
        else {
            return Err(format!("unexpected {name} arguments"));
        };
        let mut j = 0;
        while j < opts.len() {
            if opts[j].is("SUBSCRIBED") {
                return_subscribed = true;
            } else if opts[j].is("STATUS")
                && let Some(Tok::List(items)) = opts.get(j + 1)
            {
                return_status = Some(StatusItem::list(items));
                j += 1;
            } else if !opts[j].is("CHILDREN") && !opts[j].is("SPECIAL-USE") {
                // CHILDREN and SPECIAL-USE attributes are always sent.
                return Err(format!(
                    "unknown LIST return option {}",
                    opts[j].text().unwrap_or_default()
                ));
            }
            j += 1;
        }
    }
    Ok(Command::List {
        lsub,
        select,
        reference,
        patterns,
        return_subscribed,
        return_status,
    })
}

fn append(args: Vec<Tok>) -> Result<Command, String> {
    let mailbox = mailbox(&args, 0).ok_or("APPEND mailbox")?;
    // MULTIAPPEND (RFC 3502): repeated [flags] [date] message. The
    // literals move into the command: no copy of a message is made.
    let mut messages = Vec::new();
    let mut it = args.into_iter().skip(1).peekable();
    while it.peek().is_some() {
        let mut flags = Vec::new();
        let mut date = None;
        if let Some(Tok::List(fl)) = it.peek() {
            flags = flag_names(fl)?;
            it.next();
        }
        let first = it.next();
        let message = match (first, it.peek()) {
            (Some(Tok::Str(d)), Some(Tok::Str(_))) => {
                date = Some(parse_date_time(&String::from_utf8_lossy(&d)).ok_or("bad date-time")?);
                match it.next() {
                    Some(Tok::Str(m)) => m,
                    _ => return Err("APPEND needs a message literal".into()),
                }
            }
            (Some(Tok::Str(m)), _) => m,
            _ => return Err("APPEND needs a message literal".into()),
        };
        messages.push(AppendMessage {
            flags,
            date,
            message,
        });
    }
    if messages.is_empty() {
        return Err("APPEND needs a message literal".into());
    }
    Ok(Command::Append { mailbox, messages })
}

fn fetch(args: &[Tok], uid: bool) -> Result<Command, String> {
    if text(args, 0).is_none() {
        return Err("FETCH set items".into());
    }
    let items = args.get(1).ok_or("FETCH set items")?;
    let items = parse_atts(items)?;
    let mut changed_since = None;
    let mut vanished = false;
    let mut modifiers = false;
    if let Some(Tok::List(m)) = args.get(2) {
        modifiers = true;
        let mut i = 0;
        while i < m.len() {
            if m[i].is("CHANGEDSINCE") {
                changed_since = Some(u64_of(m.get(i + 1)).ok_or("CHANGEDSINCE n")?);
                i += 1;
            } else if m[i].is("VANISHED") {
                vanished = true;
            }
            i += 1;
        }
    }
    Ok(Command::Fetch {
        uid,
        set: sequence(args, 0, uid)?,
        items,
        modifiers,
        changed_since,
        vanished,
    })
}

fn store(args: &[Tok], uid: bool) -> Result<Command, String> {
    if text(args, 0).is_none() {
        return Err("STORE set item flags".into());
    }
    let mut i = 1;
    let mut unchanged_since = None;
    if let Some(Tok::List(m)) = args.get(1) {
        if m.first().is_some_and(|t| t.is("UNCHANGEDSINCE")) {
            unchanged_since = u64_of(m.get(1));
        }
        if unchanged_since.is_none() {
            return Err("bad STORE modifier".into());
        }
        i = 2;
    }
    let item = text(args, i).ok_or("STORE item")?.to_ascii_uppercase();
    let (mode, silent) = match item.as_str() {
        "FLAGS" => (StoreMode::Replace, false),
        "FLAGS.SILENT" => (StoreMode::Replace, true),
        "+FLAGS" => (StoreMode::Add, false),
        "+FLAGS.SILENT" => (StoreMode::Add, true),
        "-FLAGS" => (StoreMode::Remove, false),
        "-FLAGS.SILENT" => (StoreMode::Remove, true),
        _ => return Err("bad STORE item".into()),
    };
    let flags = match args.get(i + 1) {
        Some(Tok::List(l)) => flag_names(l)?,
        Some(_) => flag_names(&args[i + 1..])?,
        None => return Err("STORE flags".into()),
    };
    Ok(Command::Store {
        uid,
        set: sequence(args, 0, uid)?,
        unchanged_since,
        mode,
        silent,
        flags,
    })
}

fn search(args: Vec<Tok>, uid: bool) -> Result<Command, String> {
    let mut it = args.into_iter().peekable();
    // ESEARCH (RFC 4731): RETURN (MIN MAX COUNT ALL [SAVE])
    let mut returns = None;
    if it.peek().is_some_and(|t| t.is("RETURN")) {
        it.next();
        let Some(Tok::List(opts)) = it.next() else {
            return Err("RETURN (options)".into());
        };
        returns = Some(
            opts.iter()
                .filter_map(Tok::text)
                .map(|o| o.to_ascii_uppercase())
                .collect(),
        );
    }
    let mut charset = None;
    if it.peek().is_some_and(|t| t.is("CHARSET")) {
        it.next();
        charset = Some(
            it.next()
                .and_then(|t| t.text())
                .unwrap_or_default()
                .to_ascii_uppercase(),
        );
    }
    Ok(Command::Search {
        uid,
        returns,
        charset,
        criteria: it.collect(),
    })
}

fn sort(args: Vec<Tok>, uid: bool) -> Result<Command, String> {
    let Some(Tok::List(crit)) = args.first() else {
        return Err("SORT (criteria) charset keys".into());
    };
    let crit: Vec<String> = crit
        .iter()
        .filter_map(Tok::text)
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if crit.is_empty() || crit.last().is_some_and(|c| c == "REVERSE") {
        return Err("SORT criteria incomplete".into());
    }
    let mut keys = Vec::new();
    let mut reverse = false;
    for c in &crit {
        let by = match c.as_str() {
            "REVERSE" => {
                reverse = true;
                continue;
            }
            "ARRIVAL" => SortKey::Arrival,
            "DATE" => SortKey::Date,
            "SIZE" => SortKey::Size,
            "FROM" => SortKey::From,
            "TO" => SortKey::To,
            "CC" => SortKey::Cc,
            "SUBJECT" => SortKey::Subject,
            _ => return Err(format!("unknown SORT key {c}")),
        };
        keys.push((by, std::mem::take(&mut reverse)));
    }
    // The charset (args[1]) is not checked: UTF-8 and US-ASCII criteria
    // compare the same.
    Ok(Command::Sort {
        uid,
        keys,
        criteria: args.into_iter().skip(2).collect(),
    })
}

fn thread(args: Vec<Tok>, uid: bool) -> Result<Command, String> {
    let algorithm = match text(&args, 0)
        .unwrap_or_default()
        .to_ascii_uppercase()
        .as_str()
    {
        "REFERENCES" => Some(ThreadAlgorithm::References),
        "ORDEREDSUBJECT" => Some(ThreadAlgorithm::OrderedSubject),
        _ => None,
    };
    Ok(Command::Thread {
        uid,
        algorithm,
        criteria: args.into_iter().skip(2).collect(),
    })
}

fn copy(args: &[Tok], uid: bool, moving: bool) -> Result<Command, String> {
    let (Some(_), Some(mailbox)) = (text(args, 0), mailbox(args, 1)) else {
        return Err("COPY set mailbox".into());
    };
    Ok(Command::Copy {
        uid,
        moving,
        set: sequence(args, 0, uid)?,
        mailbox,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fetch::{Section, SectionText};
    use crate::parse::{Event, Reader};
    use proptest::prelude::*;

    fn typed(line: &str) -> Result<Command, String> {
        parse_frame(line.as_bytes())
            .map(|t| t.command)
            .map_err(|r| r.message)
    }

    fn mb(s: &str) -> MailboxArg {
        MailboxArg(s.into())
    }

    fn set(v: &[(Bound, Bound)]) -> Sequence {
        Sequence::Set(v.to_vec())
    }

    use Bound::{Num, Star};

    #[test]
    fn accepted_commands() {
        let body = |peek: bool| Att::Section {
            echo: "BODY[HEADER.FIELDS (FROM)]".into(),
            section: Section {
                path: vec![],
                text: SectionText::Fields(vec!["FROM".into()], false),
            },
            partial: None,
            sets_seen: !peek,
            binary: false,
            size_only: false,
        };
        let cases: Vec<(&str, Command)> = vec![
            ("a capability\r\n", Command::Capability),
            ("a NOOP extra\r\n", Command::Noop),
            (
                "a LOGIN alice \"pass word\"\r\n",
                Command::Login {
                    user: "alice".into(),
                    password: "pass word".into(),
                },
            ),
            (
                "a LOGIN {5+}\r\nalice {2+}\r\npw\r\n",
                Command::Login {
                    user: "alice".into(),
                    password: "pw".into(),
                },
            ),
            (
                "a AUTHENTICATE plain AGFsaWNlAHB3\r\n",
                Command::Authenticate {
                    mechanism: "plain".into(),
                    initial: Some("AGFsaWNlAHB3".into()),
                },
            ),
            (
                "a ENABLE condstore Imap4rev2\r\n",
                Command::Enable(vec!["CONDSTORE".into(), "IMAP4REV2".into()]),
            ),
            (
                "a COMPRESS deflate\r\n",
                Command::Compress { deflate: true },
            ),
            (
                "a EXAMINE \"Sent Items\" (CONDSTORE)\r\n",
                Command::Select {
                    mailbox: mb("Sent Items"),
                    readonly: true,
                    condstore: true,
                    qresync: false,
                    qresync_data: None,
                },
            ),
            (
                "a SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211 (1:3 4:6)))\r\n",
                Command::Select {
                    mailbox: mb("INBOX"),
                    readonly: false,
                    condstore: false,
                    qresync: true,
                    qresync_data: Some(Qresync {
                        uidvalidity: 67890007,
                        modseq: 20050715194045000,
                        known_uids: Some("41,43:211".into()),
                        seq_match: Some((SeqSet(vec![(1, 3)]), SeqSet(vec![(4, 6)]))),
                    }),
                },
            ),
            (
                "a RENAME a b\r\n",
                Command::Rename {
                    from: mb("a"),
                    to: mb("b"),
                },
            ),
            ("a UNSUBSCRIBE x\r\n", Command::Subscribe(mb("x"), false)),
            (
                "a LIST (SUBSCRIBED RECURSIVEMATCH) \"\" (\"*\" %) RETURN (STATUS (MESSAGES bogus UIDNEXT) SUBSCRIBED)\r\n",
                Command::List {
                    lsub: false,
                    select: ListSelect {
                        subscribed: true,
                        special_use: false,
                        recursive: true,
                    },
                    reference: String::new(),
                    patterns: vec!["*".into(), "%".into()],
                    return_subscribed: true,
                    return_status: Some(vec![StatusItem::Messages, StatusItem::UidNext]),
                },
            ),
            (
                "a LSUB \"\" *\r\n",
                Command::List {
                    lsub: true,
                    select: ListSelect::default(),
                    reference: String::new(),
                    patterns: vec!["*".into()],
                    return_subscribed: false,
                    return_status: None,
                },
            ),
            (
                "a STATUS INBOX (UNSEEN SIZE HIGHESTMODSEQ)\r\n",
                Command::Status {
                    mailbox: mb("INBOX"),
                    items: vec![
                        StatusItem::Unseen,
                        StatusItem::Size,
                        StatusItem::HighestModSeq,
                    ],
                },
            ),
            (
                "a APPEND Drafts (\\Draft $x) \"05-Dec-2026 10:00:00 +0000\" {2+}\r\nhi {1+}\r\nX\r\n",
                Command::Append {
                    mailbox: mb("Drafts"),
                    messages: vec![
                        AppendMessage {
                            flags: vec!["\\Draft".into(), "$x".into()],
                            date: Some(1796464800),
                            message: b"hi".to_vec(),
                        },
                        AppendMessage {
                            flags: vec![],
                            date: None,
                            message: b"X".to_vec(),
                        },
                    ],
                },
            ),
            ("a GETQUOTAROOT\r\n", Command::GetQuotaRoot(None)),
            (
                "a GETQUOTA \"\"\r\n",
                Command::GetQuota(Some(String::new())),
            ),
            ("a EXPUNGE\r\n", Command::Expunge(None)),
            (
                "a UID EXPUNGE 3:*\r\n",
                Command::Expunge(Some(set(&[(Num(3), Star)]))),
            ),
            (
                "a UID FETCH 1:* (UID BODY.PEEK[HEADER.FIELDS (FROM)]) (CHANGEDSINCE 7 VANISHED)\r\n",
                Command::Fetch {
                    uid: true,
                    set: set(&[(Num(1), Star)]),
                    items: vec![Att::Uid, body(true)],
                    modifiers: true,
                    changed_since: Some(7),
                    vanished: true,
                },
            ),
            (
                "a FETCH $ fast\r\n",
                Command::Fetch {
                    uid: false,
                    set: Sequence::Saved,
                    items: vec![Att::Flags, Att::InternalDate, Att::Size],
                    modifiers: false,
                    changed_since: None,
                    vanished: false,
                },
            ),
            (
                "a STORE 2,4:5 (UNCHANGEDSINCE 9) -flags.silent \\Seen $Junk\r\n",
                Command::Store {
                    uid: false,
                    set: set(&[(Num(2), Num(2)), (Num(4), Num(5))]),
                    unchanged_since: Some(9),
                    mode: StoreMode::Remove,
                    silent: true,
                    flags: vec!["\\Seen".into(), "$Junk".into()],
                },
            ),
            (
                "a UID SEARCH RETURN (min count SAVE) CHARSET utf-8 UNSEEN\r\n",
                Command::Search {
                    uid: true,
                    returns: Some(vec!["MIN".into(), "COUNT".into(), "SAVE".into()]),
                    charset: Some("UTF-8".into()),
                    criteria: vec![Tok::Atom("UNSEEN".into())],
                },
            ),
            (
                "a SORT (REVERSE DATE subject) UTF-8 ALL\r\n",
                Command::Sort {
                    uid: false,
                    keys: vec![(SortKey::Date, true), (SortKey::Subject, false)],
                    criteria: vec![Tok::Atom("ALL".into())],
                },
            ),
            (
                "a UID THREAD references UTF-8 ALL\r\n",
                Command::Thread {
                    uid: true,
                    algorithm: Some(ThreadAlgorithm::References),
                    criteria: vec![Tok::Atom("ALL".into())],
                },
            ),
            (
                "a THREAD X-UNKNOWN UTF-8 ALL\r\n",
                Command::Thread {
                    uid: false,
                    algorithm: None,
                    criteria: vec![Tok::Atom("ALL".into())],
                },
            ),
            (
                "a UID MOVE 7 Trash\r\n",
                Command::Copy {
                    uid: true,
                    moving: true,
                    set: set(&[(Num(7), Num(7))]),
                    mailbox: mb("Trash"),
                },
            ),
        ];
        for (line, want) in cases {
            assert_eq!(typed(line), Ok(want), "{line:?}");
        }
    }

    /// Hostile and malformed input: each gets its `BAD` text, none panics.
    #[test]
    fn rejected_commands() {
        let long = format!("a FETCH {} FLAGS\r\n", "1,".repeat(5000) + "x");
        let cases: Vec<(&str, &str)> = vec![
            ("a FROB\r\n", "unknown command FROB"),
            ("a LOGIN alice\r\n", "LOGIN user password"),
            ("a LOGIN (a) (b)\r\n", "LOGIN user password"),
            ("a SELECT\r\n", "SELECT mailbox"),
            (
                "a SELECT INBOX (QRESYNC (x 1))\r\n",
                "bad QRESYNC parameters",
            ),
            (
                "a SELECT INBOX (QRESYNC (1 1 (1:3 4)))\r\n",
                "QRESYNC sequence match sets differ in size",
            ),
            (
                "a SELECT INBOX (QRESYNC (1 1 (1:3)))\r\n",
                "bad QRESYNC sequence match data",
            ),
            ("a CREATE\r\n", "CREATE name"),
            ("a RENAME a\r\n", "RENAME from to"),
            ("a STATUS INBOX MESSAGES\r\n", "STATUS name (items)"),
            (
                "a LIST (BOGUS) \"\" *\r\n",
                "unknown LIST selection option BOGUS",
            ),
            (
                "a LIST (RECURSIVEMATCH) \"\" *\r\n",
                "RECURSIVEMATCH needs another selection option",
            ),
            ("a LIST \"\"\r\n", "LIST reference pattern"),
            ("a LSUB \"\" (a b)\r\n", "LSUB reference pattern"),
            ("a LIST \"\" * EXTRA\r\n", "unexpected LIST arguments"),
            (
                "a LIST \"\" * RETURN (NOPE)\r\n",
                "unknown LIST return option NOPE",
            ),
            ("a APPEND INBOX\r\n", "APPEND needs a message literal"),
            (
                "a APPEND INBOX (\"\\\\Seen\") {1+}\r\nx\r\n",
                "a flag is an atom",
            ),
            (
                "a APPEND INBOX \"yesterday\" {1+}\r\nx\r\n",
                "bad date-time",
            ),
            (
                "a APPEND INBOX {1+}\r\nx FLAGS\r\n",
                "APPEND needs a message literal",
            ),
            ("a FETCH\r\n", "FETCH set items"),
            ("a FETCH 1\r\n", "FETCH set items"),
            ("a FETCH 1 NOPE\r\n", "unknown fetch item NOPE"),
            ("a FETCH 0 FLAGS\r\n", "bad sequence set"),
            ("a FETCH 1:x FLAGS\r\n", "bad sequence set"),
            ("a FETCH +1 FLAGS\r\n", "bad sequence set"),
            ("a FETCH 99999999999 FLAGS\r\n", "bad sequence set"),
            ("a UID FETCH , FLAGS\r\n", "bad UID set"),
            (long.as_str(), "bad sequence set"),
            ("a FETCH 1 FLAGS (CHANGEDSINCE)\r\n", "CHANGEDSINCE n"),
            ("a FETCH 1 FLAGS (CHANGEDSINCE -1)\r\n", "CHANGEDSINCE n"),
            (
                "a STORE 1 (UNCHANGEDSINCE x) FLAGS \\Seen\r\n",
                "bad STORE modifier",
            ),
            ("a STORE 1 FLAGZ \\Seen\r\n", "bad STORE item"),
            ("a STORE 1 FLAGS\r\n", "STORE flags"),
            ("a STORE 1 FLAGS (\"x\")\r\n", "a flag is an atom"),
            ("a SEARCH RETURN ALL\r\n", "RETURN (options)"),
            ("a SORT DATE ALL\r\n", "SORT (criteria) charset keys"),
            (
                "a SORT (DATE REVERSE) UTF-8 ALL\r\n",
                "SORT criteria incomplete",
            ),
            ("a SORT () UTF-8 ALL\r\n", "SORT criteria incomplete"),
            ("a SORT (COLOUR) UTF-8 ALL\r\n", "unknown SORT key COLOUR"),
            ("a COPY 1\r\n", "COPY set mailbox"),
            ("a UID\r\n", "unknown UID command"),
            ("a UID FROB 1\r\n", "unknown UID command"),
            ("a UID EXPUNGE\r\n", "UID EXPUNGE set"),
        ];
        for (line, want) in cases {
            assert_eq!(typed(line), Err(want.to_string()), "{line:?}");
        }
        let r = parse_frame(b"t7 FROB\r\n").unwrap_err();
        assert_eq!((r.tag.as_str(), r.name.as_deref()), ("t7", Some("FROB")));
        let r = parse_frame(b"+ NOOP\r\n").unwrap_err();
        assert_eq!((r.tag.as_str(), r.name), ("*", None));
    }

    #[test]
    fn every_known_command_has_a_state_and_unknown_ones_none() {
        for name in [
            "CAPABILITY",
            "NOOP",
            "LOGIN",
            "SELECT",
            "FETCH",
            "UID",
            "IDLE",
            "APPEND",
        ] {
            assert!(state_of(name).is_some(), "{name}");
        }
        assert_eq!(state_of("LOGIN"), Some(State::NotAuthenticated));
        assert_eq!(state_of("UID"), Some(State::Selected));
        assert_eq!(state_of("FROB"), None);
        // Every name `command` knows has a state, so the session never
        // runs a command whose state it did not check.
        for name in [
            "CAPABILITY",
            "NOOP",
            "CHECK",
            "LOGOUT",
            "ID",
            "STARTTLS",
            "NAMESPACE",
            "IDLE",
            "CLOSE",
            "UNSELECT",
            "EXPUNGE",
            "SETQUOTA",
            "LOGIN",
            "AUTHENTICATE",
            "ENABLE",
            "COMPRESS",
            "SELECT",
            "EXAMINE",
            "CREATE",
            "DELETE",
            "RENAME",
            "SUBSCRIBE",
            "UNSUBSCRIBE",
            "LIST",
            "LSUB",
            "STATUS",
            "APPEND",
            "GETQUOTAROOT",
            "GETQUOTA",
            "FETCH",
            "STORE",
            "SEARCH",
            "SORT",
            "THREAD",
            "COPY",
            "MOVE",
            "UID",
        ] {
            assert!(state_of(name).is_some(), "{name}");
        }
    }

    #[test]
    fn sequences_resolve_star_and_order_ranges() {
        let s = Sequence::parse("5:2,*,7:*").unwrap();
        assert_eq!(s.resolve(9), Some(SeqSet(vec![(2, 5), (9, 9), (7, 9)])));
        assert_eq!(Sequence::parse("$"), Some(Sequence::Saved));
        assert_eq!(Sequence::Saved.resolve(9), None);
        for bad in [
            "",
            "0",
            "1:",
            ":1",
            "1,,2",
            "$,1",
            "1:2:3",
            "4294967296",
            "-1",
        ] {
            assert_eq!(Sequence::parse(bad), None, "{bad:?}");
        }
    }

    /// A script fed 1, 2, 3 … bytes at a time through the framer gives the
    /// same typed commands as fed whole.
    #[test]
    fn chunked_replay_gives_the_same_typed_commands() {
        let script: &[u8] = b"a1 LOGIN {5}\r\nalice \"se\\\"cret\"\r\n\
            a2 UID FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (From Subject)]<0.100>) (CHANGEDSINCE 3)\r\n\
            a3 APPEND INBOX (\\Seen) {3+}\r\nabc\r\n\
            a4 SEARCH RETURN (COUNT) OR (SEEN FLAGGED) NOT SUBJECT \"x y\"\r\n\
            a5 STORE 1:3 +FLAGS.SILENT (\\Deleted)\r\n";
        let run = |chunk: usize| {
            let mut r = Reader::new(1000, 1000, u64::MAX);
            let mut out = Vec::new();
            for c in script.chunks(chunk) {
                r.feed(c);
                while let Some(ev) = r.next_event() {
                    if let Event::Frame(f) = ev {
                        out.push(parse_frame(&f));
                    }
                }
            }
            out
        };
        let whole = run(script.len());
        assert_eq!(whole.len(), 5);
        assert!(whole.iter().all(Result::is_ok), "{whole:?}");
        for chunk in 1..48 {
            assert_eq!(run(chunk), whole, "chunk size {chunk}");
        }
    }

    proptest! {
        #[test]
        fn arbitrary_frames_never_panic(data in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = parse_frame(&data);
        }

        #[test]
        fn command_shaped_lines_never_panic(
            name in "(FETCH|UID FETCH|STORE|UID STORE|SELECT|LIST|STATUS|APPEND|SEARCH|SORT|THREAD|COPY|UID EXPUNGE|LOGIN)",
            words in proptest::collection::vec("[A-Za-z0-9:*$,.\\\\\\[\\]<>()\"+-]{0,10}", 0..8),
        ) {
            let _ = parse_frame(format!("t {name} {}\r\n", words.join(" ")).as_bytes());
        }
    }
}
