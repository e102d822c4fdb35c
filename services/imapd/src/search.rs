//! SEARCH keys (RFC 9051 §6.4.4, RFC 7162 MODSEQ) evaluated against the
//! index and message contents (the keys are parsed by
//! `outpost_imap_proto::search`), and SORT criteria (RFC 5256).
//! [`extract_base_subject`] is the RFC 5256 §2.1 base subject that SORT
//! SUBJECT and both THREAD algorithms compare.
//!
//! Body and text search works on the raw bytes (ASCII case-insensitive
//! substring, which is what RFC 9051 asks for); messages with base64 or
//! quoted-printable parts are decoded with mail-parser first.

use crate::cache::{self, Summary};
pub use outpost_imap_proto::search::{Key, SystemFlag, parse_keys};
use outpost_store::{Flags, MessageMeta};
use std::sync::Arc;

/// One message being evaluated, with lazily loaded content.
pub struct Candidate<'a> {
    /// Index metadata.
    pub meta: &'a MessageMeta,
    /// Sequence number.
    pub seq: u32,
    /// `\Recent` in this session.
    pub recent: bool,
    /// Loads the message bytes.
    pub load: &'a dyn Fn() -> Option<Vec<u8>>,
    raw: Option<Option<Vec<u8>>>,
    summary: Option<Arc<Summary>>,
}

impl std::fmt::Debug for Candidate<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Candidate")
            .field("uid", &self.meta.uid)
            .field("seq", &self.seq)
            .finish()
    }
}

impl<'a> Candidate<'a> {
    /// A candidate.
    pub fn new(
        meta: &'a MessageMeta,
        seq: u32,
        recent: bool,
        load: &'a dyn Fn() -> Option<Vec<u8>>,
    ) -> Self {
        Candidate {
            meta,
            seq,
            recent,
            load,
            raw: None,
            summary: None,
        }
    }

    fn raw(&mut self) -> Option<&[u8]> {
        if self.raw.is_none() {
            self.raw = Some((self.load)());
        }
        self.raw.as_ref().and_then(|r| r.as_deref())
    }

    /// The header summary (cached process-wide).
    pub fn summary(&mut self) -> Arc<Summary> {
        if self.summary.is_none() {
            let load = self.load;
            self.summary = Some(cache::get(&self.meta.base, load));
        }
        self.summary.clone().unwrap_or_default()
    }
}

fn body_contains(raw: &[u8], needle: &str, with_header: bool) -> bool {
    let hdr_len = crate::mime::header_block(raw).len();
    // One lower-cased copy serves the raw search and the decoding check:
    // memmem (SIMD) over it beats a case-folding byte loop.
    let mut lc = raw.to_vec();
    lc.make_ascii_lowercase();
    let searched = if with_header { &lc[..] } else { &lc[hdr_len..] };
    if needle.is_empty() || memchr::memmem::find(searched, needle.as_bytes()).is_some() {
        return true;
    }
    // Only encoded text can hide a match from the raw search.
    let encoded = memchr::memmem::find(&lc, b"content-transfer-encoding: base64").is_some()
        || memchr::memmem::find(&lc, b"content-transfer-encoding: quoted-printable").is_some()
        || (with_header && memchr::memmem::find(&lc[..hdr_len], b"=?").is_some())
        || !raw.is_ascii();
    if !encoded {
        return false;
    }
    let Some(m) = crate::mime::parse(raw) else {
        return false;
    };
    if with_header
        && m.subject()
            .is_some_and(|s| s.to_lowercase().contains(needle))
    {
        return true;
    }
    m.parts.iter().any(|p| match &p.body {
        mail_parser::PartType::Text(t) | mail_parser::PartType::Html(t) => {
            p.encoding != mail_parser::Encoding::None || !t.is_ascii()
        }
        _ => false,
    } && match &p.body {
        mail_parser::PartType::Text(t) | mail_parser::PartType::Html(t) => t.to_lowercase().contains(needle),
        _ => false,
    })
}

fn header_value_contains(raw: &[u8], name: &str, needle: &str) -> bool {
    let hdr = crate::mime::header_block(raw);
    let Some(m) = crate::mime::parse(hdr) else {
        return false;
    };
    m.headers().iter().any(|h| {
        h.name().eq_ignore_ascii_case(name)
            && (needle.is_empty()
                || m.header_raw(h.name())
                    .is_some_and(|v| v.to_lowercase().contains(needle))
                || h.value()
                    .as_text()
                    .is_some_and(|t| t.to_lowercase().contains(needle)))
    })
}

fn day_cmp(t: i64, day: i64, ord: i8) -> bool {
    let d = t.div_euclid(86_400);
    match ord {
        -1 => d < day,
        0 => d == day,
        _ => d >= day,
    }
}

/// The store's bit for a system flag.
fn flag_bit(f: SystemFlag) -> u8 {
    match f {
        SystemFlag::Seen => Flags::SEEN,
        SystemFlag::Answered => Flags::ANSWERED,
        SystemFlag::Flagged => Flags::FLAGGED,
        SystemFlag::Deleted => Flags::DELETED,
        SystemFlag::Draft => Flags::DRAFT,
    }
}

/// Evaluates `key` on a candidate.
pub fn matches(key: &Key, c: &mut Candidate<'_>) -> bool {
    match key {
        Key::All => true,
        Key::Flag(f, on) => c.meta.flags.has(flag_bit(*f)) == *on,
        Key::Keyword(k, on) => {
            c.meta
                .flags
                .keywords
                .iter()
                .any(|x| x.eq_ignore_ascii_case(k))
                == *on
        }
        Key::Recent(on) => c.recent == *on,
        Key::New => c.recent && !c.meta.flags.has(Flags::SEEN),
        Key::Header(name, needle) => match name.as_str() {
            "subject" => c.summary().subject.contains(needle.as_str()),
            "from" => c.summary().from.contains(needle.as_str()),
            "to" => c.summary().to.contains(needle.as_str()),
            "cc" => c.summary().cc.contains(needle.as_str()),
            "bcc" => c.summary().bcc.contains(needle.as_str()),
            _ => c
                .raw()
                .is_some_and(|r| header_value_contains(r, name, needle)),
        },
        Key::Body(n) => c.raw().is_some_and(|r| body_contains(r, n, false)),
        Key::Text(n) => c.raw().is_some_and(|r| body_contains(r, n, true)),
        Key::Internal(day, ord) => day_cmp(c.meta.internal_date, *day, *ord),
        Key::Sent(day, ord) => {
            let d = c.summary().date;
            let d = if d == 0 { c.meta.internal_date } else { d };
            day_cmp(d, *day, *ord)
        }
        Key::Size(n, larger) => {
            if *larger {
                c.meta.size > *n
            } else {
                c.meta.size < *n
            }
        }
        Key::Uid(s) => s.contains(c.meta.uid),
        Key::Seq(s) => s.contains(c.seq),
        Key::ModSeq(m) => c.meta.modseq >= *m,
        Key::Not(k) => !matches(k, c),
        Key::Or(a, b) => matches(a, c) || matches(b, c),
        Key::And(v) => v.iter().all(|k| matches(k, c)),
    }
}

/// The base subject of RFC 5256 §2.1 and whether the original subject
/// marked a reply or forward (THREAD=REFERENCES step 5 needs both).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BaseSubject {
    /// The base subject, lower-cased (the comparison key).
    pub text: String,
    /// A `subj-refwd` leader (`re:`, `fw:`, `fwd:`), a `(fwd)` trailer or a
    /// `[fwd: …]` wrapper was removed.
    pub reply_or_forward: bool,
}

/// Base subject for SORT SUBJECT and THREAD (RFC 5256 §2.1), lower-cased so
/// that comparing two keys is the case-insensitive comparison SORT uses.
pub fn base_subject(s: &str) -> String {
    extract_base_subject(s).text
}

/// RFC 5256 §2.1 steps 1–7. Subjects from the header cache are already
/// decoded by mail-parser; encoded-words still present (a caller passing a
/// raw header value) are decoded with mail-parser's unstructured-field
/// parser, so there is one RFC 2047 decoder in the daemon.
pub fn extract_base_subject(s: &str) -> BaseSubject {
    // (1) Decode, then tabs and continuations to one space, runs collapsed.
    let decoded;
    let s = if s.contains("=?") {
        let line = format!("{s}\n");
        decoded = mail_parser::parsers::MessageStream::new(line.as_bytes())
            .parse_unstructured()
            .as_text()
            .unwrap_or("")
            .to_string();
        decoded.as_str()
    } else {
        s
    };
    let mut t = String::with_capacity(s.len());
    for c in s.chars() {
        let c = if matches!(c, '\t' | '\r' | '\n') {
            ' '
        } else {
            c
        };
        if !(c == ' ' && t.ends_with(' ')) {
            t.extend(c.to_lowercase());
        }
    }
    let mut reply = false;
    loop {
        // (2) subj-trailer: "(fwd)" / WSP, repeatedly.
        loop {
            if t.ends_with(' ') {
                t.pop();
            } else if t.ends_with("(fwd)") {
                t.truncate(t.len() - 5);
                reply = true;
            } else {
                break;
            }
        }
        // (3)–(5): subj-leader, then one subj-blob if something is left.
        loop {
            let mut changed = false;
            while let Some((n, refwd)) = leader_len(t.as_bytes()) {
                t.drain(..n);
                reply |= refwd;
                changed = true;
            }
            if let Some(n) = blob_len(t.as_bytes())
                && n < t.len()
            {
                t.drain(..n);
                changed = true;
            }
            if !changed {
                break;
            }
        }
        // (6) "[fwd:" subject "]": unwrap and repeat from (2).
        if t.len() >= 6 && t.starts_with("[fwd:") && t.ends_with(']') {
            t = t[5..t.len() - 1].to_string();
            reply = true;
            continue;
        }
        // (7)
        return BaseSubject {
            text: t,
            reply_or_forward: reply,
        };
    }
}

/// `subj-blob = "[" *BLOBCHAR "]" *WSP` (after step 1 WSP is only SP).
fn blob_len(s: &[u8]) -> Option<usize> {
    if s.first() != Some(&b'[') {
        return None;
    }
    let end = 1 + s[1..].iter().position(|&b| b == b'[' || b == b']')?;
    if s[end] != b']' {
        return None;
    }
    let mut i = end + 1;
    while s.get(i) == Some(&b' ') {
        i += 1;
    }
    Some(i)
}

/// `subj-refwd = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":"`.
fn refwd_len(s: &[u8]) -> Option<usize> {
    let mut i = if s.starts_with(b"re") || (s.starts_with(b"fw") && !s.starts_with(b"fwd")) {
        2
    } else if s.starts_with(b"fwd") {
        3
    } else {
        return None;
    };
    while s.get(i) == Some(&b' ') {
        i += 1;
    }
    if let Some(n) = blob_len(&s[i..]) {
        i += n;
    }
    (s.get(i) == Some(&b':')).then_some(i + 1)
}

/// `subj-leader = (*subj-blob subj-refwd) / WSP`: its length, and whether it
/// was a `subj-refwd` (a reply or forward) rather than white space.
fn leader_len(s: &[u8]) -> Option<(usize, bool)> {
    if s.first() == Some(&b' ') {
        return Some((1, false));
    }
    let mut i = 0;
    while let Some(n) = blob_len(&s[i..]) {
        i += n;
    }
    refwd_len(&s[i..]).map(|n| (i + n, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_subject_follows_rfc5256_2_1() {
        // (subject, base subject, reply or forward)
        let cases: &[(&str, &str, bool)] = &[
            ("Hello", "hello", false),
            ("", "", false),
            ("   ", "", false),
            ("Re: Hello", "hello", true),
            ("RE:Hello", "hello", true),
            ("re : hello", "hello", true),
            ("Fwd: hello", "hello", true),
            ("FW: hello", "hello", true),
            ("fwd:fw:re: re: hello", "hello", true),
            ("Re[2]: hello", "hello", true),
            ("Re [2] : hello", "hello", true),
            ("[list] Re: hello", "hello", true),
            ("[list][x] re: hello", "hello", true),
            ("[list] hello", "hello", false),
            ("[list] [tag] hello", "hello", false),
            ("Re: [list] Re: hello", "hello", true),
            // A blob is removed only if something is left (step 4).
            ("[list]", "[list]", false),
            ("Re: [list]", "[list]", true),
            ("[a] [b]", "[b]", false),
            ("[unclosed hello", "[unclosed hello", false),
            ("hello (fwd)", "hello", true),
            ("hello (FWD) (fwd)  ", "hello", true),
            ("hello(fwd)", "hello", true),
            ("(fwd)", "", true),
            ("[Fwd: hello]", "hello", true),
            ("Re: [fwd: Re: hello (fwd)]", "hello", true),
            ("[fwd: [fwd: hello]]", "hello", true),
            ("[fwd: hello] more", "more", false),
            ("re", "re", false),
            ("Re:", "", true),
            ("reply: hello", "reply: hello", false),
            ("Rehearsal", "rehearsal", false),
            ("fwd hello", "fwd hello", false),
            ("hello\tworld", "hello world", false),
            ("hello \r\n\t  world  ", "hello world", false),
            ("Re: =?UTF-8?Q?caf=C3=A9?=", "café", true),
            (
                "=?ISO-8859-1?Q?Re=3A_caf=E9?= =?UTF-8?B?IGF1IGxhaXQ=?=",
                "café au lait",
                true,
            ),
            ("RE: ÉTÉ", "été", true),
        ];
        for (subject, want, reply) in cases {
            let got = extract_base_subject(subject);
            assert_eq!(
                (got.text.as_str(), got.reply_or_forward),
                (*want, *reply),
                "subject {subject:?}"
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn base_subject_is_stable(s in "[rRefwdFWD:\\[\\]() \t\u{e9}x]{0,24}") {
            let once = base_subject(&s);
            proptest::prop_assert_eq!(base_subject(&once), once.clone());
        }
    }
}
