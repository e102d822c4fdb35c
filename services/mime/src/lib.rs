//! `outpost-mime`: the one way Outpost's daemons parse MIME, with a bound
//! on nesting depth that smtpd, imapd and the webmail share.
//!
//! Why a crate of its own: mail-parser 0.11 parses nested `message/rfc822`
//! and `multipart/*` iteratively, but the tree it returns nests one
//! `Message` per level and is dropped recursively, so a 3 MB mail with
//! 100,000 levels overflows the stack of whoever drops it (security review
//! #1). Every caller goes through [`parse`], which refuses such a message
//! (the daemons then treat it as one opaque part: listed and fetchable as
//! raw bytes, never structured), and takes a refused tree apart with a loop
//! ([`dismantle`]) so nothing recurses on it. smtpd refuses the same
//! messages at DATA ([`exceeds`]), as Postfix does with
//! `mime_nesting_limit`, so new mail of that shape never reaches a store.
//!
//! The check costs almost nothing for ordinary mail: [`parse`] measures the
//! tree it has just built (a walk over its parts, not its bytes), and
//! [`exceeds`], for a message not yet parsed, first runs [`nesting_bound`],
//! which counts the `Content-Type: multipart/…` and `message/…` header
//! lines (a level of nesting needs one, a `multipart/digest` at most two);
//! only a message with more of them than the limit allows is parsed and
//! measured exactly.

#![deny(missing_docs)]

pub use mail_parser::{Message, MessageParser, PartType};

/// The default nesting limit (Postfix's `mime_nesting_limit` is 100).
pub const DEFAULT_MAX_DEPTH: usize = 100;

/// An upper bound on the nesting depth of `raw`, from a linear scan: twice
/// the number of lines that start a `Content-Type` header with a
/// `multipart/` or `message/` type (header folding allowed). Lines that only
/// look like headers (in bodies) count too, so the bound is conservative.
pub fn nesting_bound(raw: &[u8]) -> usize {
    let mut s = NestingScan::default();
    s.feed(raw);
    s.bound()
}

const NAME: &[u8] = b"content-type:";
const MULTIPART: &[u8] = b"multipart/";
const MESSAGE: &[u8] = b"message/";
/// Folding whitespace followed after `Content-Type:`.
const MAX_WS: usize = 256;

#[derive(Debug, Clone, Copy, Default)]
enum Phase {
    #[default]
    Idle,
    /// Matched this many bytes of `content-type:`.
    Name(usize),
    /// Skipped this many bytes of whitespace after the colon.
    Ws(usize),
    /// Matched this many bytes of `multipart/` and of `message/`
    /// (`usize::MAX`: no longer possible).
    Type(usize, usize),
}

/// [`nesting_bound`] over a stream, fed in pieces of any size (also as an
/// `io::Write`), so smtpd can check a message spooled to disk without
/// reading it into memory.
#[derive(Debug, Clone)]
pub struct NestingScan {
    phase: Phase,
    line_start: bool,
    count: usize,
}

impl Default for NestingScan {
    fn default() -> Self {
        NestingScan {
            phase: Phase::Idle,
            line_start: true,
            count: 0,
        }
    }
}

impl NestingScan {
    /// Scans the next bytes.
    pub fn feed(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.byte(b);
        }
    }

    /// The bound so far (see [`nesting_bound`]).
    pub fn bound(&self) -> usize {
        self.count.saturating_mul(2)
    }

    fn byte(&mut self, b: u8) {
        let l = b.to_ascii_lowercase();
        self.phase = match self.phase {
            Phase::Name(i) if NAME[i] == l => {
                if i + 1 == NAME.len() {
                    Phase::Ws(0)
                } else {
                    Phase::Name(i + 1)
                }
            }
            Phase::Ws(n) if matches!(b, b' ' | b'\t' | b'\r' | b'\n') && n < MAX_WS => {
                Phase::Ws(n + 1)
            }
            Phase::Ws(_) => self.type_byte(0, 0, l),
            Phase::Type(i, j) => self.type_byte(i, j, l),
            Phase::Idle | Phase::Name(_) => {
                if self.line_start && l == NAME[0] {
                    Phase::Name(1)
                } else {
                    Phase::Idle
                }
            }
        };
        self.line_start = b == b'\n';
    }

    fn type_byte(&mut self, i: usize, j: usize, l: u8) -> Phase {
        let step = |k: usize, word: &[u8]| {
            if k != usize::MAX && word[k] == l {
                k + 1
            } else {
                usize::MAX
            }
        };
        let (i, j) = (step(i, MULTIPART), step(j, MESSAGE));
        if i == MULTIPART.len() || j == MESSAGE.len() {
            self.count += 1;
            Phase::Idle
        } else if i == usize::MAX && j == usize::MAX {
            Phase::Idle
        } else {
            Phase::Type(i, j)
        }
    }
}

impl std::io::Write for NestingScan {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.feed(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The nesting depth of a parsed message, measured without recursion: a
/// message with one text part is 1; each `multipart` or embedded message
/// adds one.
pub fn depth(m: &Message<'_>) -> usize {
    // (message, part index, depth of that part)
    let mut stack: Vec<(&Message<'_>, usize, usize)> = vec![(m, 0, 1)];
    let mut max = 0;
    while let Some((msg, id, d)) = stack.pop() {
        max = max.max(d);
        let Some(part) = msg.parts.get(id) else {
            continue;
        };
        match &part.body {
            PartType::Multipart(children) => {
                for c in children {
                    let c = *c as usize;
                    // mail-parser's children always come after their parent;
                    // anything else would be a cycle.
                    if c > id {
                        stack.push((msg, c, d + 1));
                    }
                }
            }
            PartType::Message(inner) => stack.push((inner, 0, d + 1)),
            _ => {}
        }
    }
    max
}

/// Takes a message tree apart level by level, so dropping it never recurses
/// however deep it is.
pub fn dismantle(m: Message<'_>) {
    let mut stack = vec![m];
    while let Some(mut m) = stack.pop() {
        for p in &mut m.parts {
            if matches!(p.body, PartType::Message(_)) {
                let body = std::mem::replace(&mut p.body, PartType::Text("".into()));
                if let PartType::Message(inner) = body {
                    stack.push(inner);
                }
            }
        }
        // `m` now holds no nested message: dropping it is shallow.
    }
}

/// Whether `raw` nests deeper than `max_depth`.
pub fn exceeds(raw: &[u8], max_depth: usize) -> bool {
    if nesting_bound(raw) < max_depth {
        return false;
    }
    match MessageParser::new().parse(raw) {
        Some(m) => {
            let too_deep = depth(&m) > max_depth;
            dismantle(m);
            too_deep
        }
        None => false,
    }
}

/// Parses `raw` with mail-parser unless it nests deeper than `max_depth`
/// (then `None`, as for a message with no headers at all). The returned
/// tree is at most `max_depth` deep, so callers may walk it recursively.
pub fn parse(raw: &[u8], max_depth: usize) -> Option<Message<'_>> {
    let m = MessageParser::new().parse(raw)?;
    // Measuring the parsed tree walks its parts, far fewer than the bytes
    // [`nesting_bound`] would scan (that scan made SEARCH BODY 28% slower).
    if depth(&m) <= max_depth {
        return Some(m);
    }
    dismantle(m);
    None
}

/// The header section of a message: up to and including the blank line
/// (CR LF or bare LF), or all of it when there is none.
pub fn header_section(raw: &[u8]) -> &[u8] {
    if let Some(i) = memchr::memmem::find(raw, b"\r\n\r\n") {
        return &raw[..i + 4];
    }
    if let Some(i) = memchr::memmem::find(raw, b"\n\n") {
        return &raw[..i + 2];
    }
    raw
}

/// The header fields only (no body is parsed, so no nesting to bound).
pub fn parse_headers(raw: &[u8]) -> Option<Message<'_>> {
    MessageParser::new().parse_headers(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `levels` messages, each the `message/rfc822` body of the previous.
    pub fn nested(levels: usize) -> Vec<u8> {
        let mut m = Vec::new();
        for _ in 0..levels {
            m.extend_from_slice(b"Subject: x\r\nContent-Type: message/rfc822\r\n\r\n");
        }
        m.extend_from_slice(b"Subject: inner\r\n\r\nhello\r\n");
        m
    }

    fn multiparts(levels: usize) -> Vec<u8> {
        let mut m = Vec::new();
        for i in 0..levels {
            m.extend_from_slice(
                format!("Content-Type: multipart/mixed; boundary=b{i}\r\n\r\n--b{i}\r\n")
                    .as_bytes(),
            );
        }
        m.extend_from_slice(b"Content-Type: text/plain\r\n\r\nhi\r\n");
        for i in (0..levels).rev() {
            m.extend_from_slice(format!("--b{i}--\r\n").as_bytes());
        }
        m
    }

    #[test]
    fn a_hundred_thousand_nested_messages_are_refused_without_overflowing() {
        // Run on a small stack: the recursive drop this replaces overflowed
        // any stack.
        std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(|| {
                let raw = nested(100_000);
                assert!(exceeds(&raw, DEFAULT_MAX_DEPTH));
                assert!(parse(&raw, DEFAULT_MAX_DEPTH).is_none());
            })
            .unwrap()
            .join()
            .unwrap();
    }

    #[test]
    fn depth_is_measured_for_messages_and_multiparts() {
        let raw = b"Subject: plain\r\n\r\nbody\r\n";
        assert_eq!(depth(&parse(raw, 10).unwrap()), 1);
        assert_eq!(nesting_bound(raw), 0);
        let raw = nested(5);
        assert_eq!(depth(&parse(&raw, 10).unwrap()), 6);
        assert!(!exceeds(&raw, 6) && exceeds(&raw, 5));
        let raw = multiparts(5);
        assert_eq!(depth(&parse(&raw, 10).unwrap()), 6);
        assert!(!exceeds(&raw, 6) && exceeds(&raw, 5));
        assert!(parse(&raw, 5).is_none());
    }

    #[test]
    fn the_scan_gives_the_same_bound_in_any_pieces() {
        let raw = multiparts(7);
        let whole = nesting_bound(&raw);
        assert_eq!(whole, 14);
        for piece in [1, 2, 3, 7, 13] {
            let mut s = NestingScan::default();
            for c in raw.chunks(piece) {
                s.feed(c);
            }
            assert_eq!(s.bound(), whole, "pieces of {piece}");
        }
    }

    #[test]
    fn the_scan_sees_folded_and_mixed_case_headers() {
        let raw = b"CONTENT-TYPE:\r\n  Multipart/Mixed; boundary=x\r\n\r\n";
        assert_eq!(nesting_bound(raw), 2);
        let raw = b"content-type: text/plain\r\nX-Content-Type: message/rfc822\r\n";
        assert_eq!(nesting_bound(raw), 0);
    }

    #[test]
    fn a_quoted_printable_part_ending_in_a_soft_break_keeps_every_byte() {
        // mail-parser 0.11.9 subtracted a line break a soft break never
        // added: `=\r\n` before the boundary overflowed (a panic in debug
        // and fuzz builds), `abc=\r\n` lost its `c` (found by `cargo xtask
        // fuzz mime`; fixed in vendor/mail-parser).
        for (body, want) in [
            ("=\r\n", ""),
            ("x=\r\n", "x"),
            ("abc=\r\n", "abc"),
            ("ab=\r\ncd=\r\n", "abcd"),
            ("abc\r\n", "abc"),
            ("abc=3D\r\n", "abc="),
            ("=\n", ""),
            ("abc=\n", "abc"),
        ] {
            let nl = if body.contains("\r\n") { "\r\n" } else { "\n" };
            let raw = format!(
                "Content-Type: multipart/mixed; boundary=\"b\"{nl}{nl}--b{nl}\
                 Content-Type: text/plain{nl}\
                 Content-Transfer-Encoding: quoted-printable{nl}{nl}\
                 {body}--b--{nl}"
            );
            let m = parse(raw.as_bytes(), DEFAULT_MAX_DEPTH).unwrap();
            let part = m
                .body_text(0)
                .unwrap_or_else(|| panic!("no text for {body:?}"));
            assert_eq!(part, want, "quoted-printable body {body:?}");
        }
    }
}
