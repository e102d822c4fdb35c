//! SEARCH key parsing (RFC 9051 §6.4.4, RFC 7162 MODSEQ): tokens → [`Key`].
//! Evaluating a key against a mailbox needs the store and stays in imapd.
//!
//! Keys are parsed once the session knows its mailbox: `*` in a sequence
//! or UID set resolves to the mailbox's largest number, and `$` (RFC 5182)
//! is replaced by the saved result before parsing.

use crate::parse::Tok;
use crate::seqset::SeqSet;
use crate::wire::parse_date;

/// An IMAP system flag a search key can test (`\Recent` is session
/// state: [`Key::Recent`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SystemFlag {
    /// `\Seen`.
    Seen,
    /// `\Answered`.
    Answered,
    /// `\Flagged`.
    Flagged,
    /// `\Deleted`.
    Deleted,
    /// `\Draft`.
    Draft,
}

/// One search key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    /// ALL.
    All,
    /// Flag set / not set (`SEEN`, `UNSEEN`, …).
    Flag(SystemFlag, bool),
    /// KEYWORD / UNKEYWORD.
    Keyword(String, bool),
    /// RECENT, NEW (recent and unseen), OLD.
    Recent(bool),
    /// NEW.
    New,
    /// Header field substring: FROM TO CC BCC SUBJECT or HEADER name.
    Header(String, String),
    /// BODY.
    Body(String),
    /// TEXT.
    Text(String),
    /// BEFORE/ON/SINCE on INTERNALDATE (days since epoch), ordering -1/0/1.
    Internal(i64, i8),
    /// SENTBEFORE/SENTON/SENTSINCE on the Date header.
    Sent(i64, i8),
    /// LARGER (true) / SMALLER.
    Size(u64, bool),
    /// UID set.
    Uid(SeqSet),
    /// Sequence set.
    Seq(SeqSet),
    /// MODSEQ n.
    ModSeq(u64),
    /// NOT.
    Not(Box<Key>),
    /// OR.
    Or(Box<Key>, Box<Key>),
    /// A parenthesised list (AND).
    And(Vec<Key>),
}

/// Parses keys from `toks`; `max_seq`/`max_uid` resolve `*`. Keys nest
/// (NOT, OR, parenthesised lists) at most `max_depth` deep: parsing,
/// evaluating and dropping a key recurse, so a line of thousands of NOTs
/// must be refused, not followed (#2).
pub fn parse_keys(
    toks: &[Tok],
    max_seq: u32,
    max_uid: u32,
    max_depth: usize,
) -> Result<Key, String> {
    let mut i = 0;
    let mut v = Vec::new();
    let p = KeyParser {
        ms: max_seq,
        mu: max_uid,
        max_depth,
    };
    while i < toks.len() {
        v.push(p.one(toks, &mut i, 0)?);
    }
    if v.is_empty() {
        return Err("missing search key".into());
    }
    Ok(if v.len() == 1 {
        v.pop().unwrap_or(Key::All)
    } else {
        Key::And(v)
    })
}

struct KeyParser {
    ms: u32,
    mu: u32,
    max_depth: usize,
}

impl KeyParser {
    fn one(&self, toks: &[Tok], i: &mut usize, depth: usize) -> Result<Key, String> {
        if depth >= self.max_depth {
            return Err(format!(
                "search keys nested more than {} deep",
                self.max_depth
            ));
        }
        let (ms, mu) = (self.ms, self.mu);
        let t = toks.get(*i).ok_or("missing search key")?;
        *i += 1;
        let arg = |i: &mut usize| -> Result<String, String> {
            let a = toks
                .get(*i)
                .and_then(Tok::text)
                .ok_or("missing search argument")?;
            *i += 1;
            Ok(a)
        };
        let date = |s: String| parse_date(&s).ok_or_else(|| format!("bad date {s:?}"));
        let key = match t {
            Tok::List(l) => {
                let mut j = 0;
                let mut v = Vec::new();
                while j < l.len() {
                    v.push(self.one(l, &mut j, depth + 1)?);
                }
                Key::And(v)
            }
            Tok::Str(_) => return Err("unexpected string in search".into()),
            Tok::Atom(a) => match a.to_ascii_uppercase().as_str() {
                "ALL" => Key::All,
                "ANSWERED" => Key::Flag(SystemFlag::Answered, true),
                "UNANSWERED" => Key::Flag(SystemFlag::Answered, false),
                "DELETED" => Key::Flag(SystemFlag::Deleted, true),
                "UNDELETED" => Key::Flag(SystemFlag::Deleted, false),
                "DRAFT" => Key::Flag(SystemFlag::Draft, true),
                "UNDRAFT" => Key::Flag(SystemFlag::Draft, false),
                "FLAGGED" => Key::Flag(SystemFlag::Flagged, true),
                "UNFLAGGED" => Key::Flag(SystemFlag::Flagged, false),
                "SEEN" => Key::Flag(SystemFlag::Seen, true),
                "UNSEEN" => Key::Flag(SystemFlag::Seen, false),
                "RECENT" => Key::Recent(true),
                "OLD" => Key::Recent(false),
                "NEW" => Key::New,
                "KEYWORD" => Key::Keyword(arg(i)?, true),
                "UNKEYWORD" => Key::Keyword(arg(i)?, false),
                f @ ("FROM" | "TO" | "CC" | "BCC" | "SUBJECT") => {
                    Key::Header(f.to_ascii_lowercase(), arg(i)?.to_lowercase())
                }
                "HEADER" => {
                    let name = arg(i)?;
                    Key::Header(name.to_ascii_lowercase(), arg(i)?.to_lowercase())
                }
                "BODY" => Key::Body(arg(i)?.to_lowercase()),
                "TEXT" => Key::Text(arg(i)?.to_lowercase()),
                "BEFORE" => Key::Internal(date(arg(i)?)?, -1),
                "ON" => Key::Internal(date(arg(i)?)?, 0),
                "SINCE" => Key::Internal(date(arg(i)?)?, 1),
                "SENTBEFORE" => Key::Sent(date(arg(i)?)?, -1),
                "SENTON" => Key::Sent(date(arg(i)?)?, 0),
                "SENTSINCE" => Key::Sent(date(arg(i)?)?, 1),
                "LARGER" => Key::Size(arg(i)?.parse().map_err(|_| "bad number")?, true),
                "SMALLER" => Key::Size(arg(i)?.parse().map_err(|_| "bad number")?, false),
                "UID" => Key::Uid(SeqSet::parse(&arg(i)?, mu).ok_or("bad UID set")?),
                "NOT" => Key::Not(Box::new(self.one(toks, i, depth + 1)?)),
                "OR" => {
                    let a = self.one(toks, i, depth + 1)?;
                    let b = self.one(toks, i, depth + 1)?;
                    Key::Or(Box::new(a), Box::new(b))
                }
                "MODSEQ" => {
                    // MODSEQ [entry-name entry-type] n (RFC 7162 §3.1.5).
                    let mut a = arg(i)?;
                    if a.starts_with('/') || a.starts_with('"') {
                        arg(i)?;
                        a = arg(i)?;
                    }
                    Key::ModSeq(a.parse().map_err(|_| "bad MODSEQ")?)
                }
                other => Key::Seq(
                    SeqSet::parse(other, ms)
                        .ok_or_else(|| format!("unknown search key {other}"))?,
                ),
            },
        };
        Ok(key)
    }
}

impl Key {
    /// Whether the key (anywhere) needs MODSEQ in the result.
    pub fn has_modseq(&self) -> bool {
        match self {
            Key::ModSeq(_) => true,
            Key::Not(k) => k.has_modseq(),
            Key::Or(a, b) => a.has_modseq() || b.has_modseq(),
            Key::And(v) => v.iter().any(Key::has_modseq),
            _ => false,
        }
    }
}
