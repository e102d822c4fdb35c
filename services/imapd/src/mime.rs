//! MIME views of a message for FETCH: ENVELOPE, BODY/BODYSTRUCTURE,
//! `BODY[section]` and `BINARY[section]` (RFC 9051 §6.4.5, §7.5.2), built on
//! `mail-parser`'s part tree and byte offsets, so sections are served as the
//! exact bytes stored.

use crate::wire::{ntext, string};
use base64::Engine;
use mail_parser::{Address, Message, MessagePart, MimeHeaders, PartType};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The process's MIME nesting limit (`general.max_mime_depth`, set once
/// at start by [`set_max_depth`]).
static MAX_DEPTH: AtomicUsize = AtomicUsize::new(outpost_mime::DEFAULT_MAX_DEPTH);

/// Sets the MIME nesting limit for every later [`parse`].
pub fn set_max_depth(n: usize) {
    MAX_DEPTH.store(n.max(1), Ordering::Relaxed);
}

/// Parses a message through `outpost-mime`'s bounded parser. `None` for a
/// message with no headers or one nested deeper than the limit (#1): the
/// callers then serve it as one opaque part, still listed and fetchable as
/// raw bytes.
pub fn parse(raw: &[u8]) -> Option<Message<'_>> {
    outpost_mime::parse(raw, MAX_DEPTH.load(Ordering::Relaxed))
}

/// The header block of a message (up to and including the blank line).
pub fn header_block(raw: &[u8]) -> &[u8] {
    if let Some(i) = memchr::memmem::find(raw, b"\r\n\r\n") {
        return &raw[..i + 4];
    }
    if let Some(i) = memchr::memmem::find(raw, b"\n\n") {
        return &raw[..i + 2];
    }
    raw
}

fn encode_word(s: &str) -> String {
    if s.is_ascii() {
        s.to_string()
    } else {
        format!(
            "=?UTF-8?B?{}?=",
            base64::engine::general_purpose::STANDARD.encode(s)
        )
    }
}

fn addresses(out: &mut Vec<u8>, a: Option<&Address<'_>>) {
    let Some(a) = a else {
        out.extend_from_slice(b"NIL");
        return;
    };
    let one = |out: &mut Vec<u8>, name: Option<&str>, addr: Option<&str>| {
        out.push(b'(');
        ntext(out, name.map(encode_word).as_deref());
        out.extend_from_slice(b" NIL ");
        let (local, host) = match addr {
            Some(x) => match x.rsplit_once('@') {
                Some((l, h)) => (Some(l), Some(h)),
                None => (Some(x), None),
            },
            None => (None, None),
        };
        ntext(out, local);
        out.push(b' ');
        ntext(out, host);
        out.push(b')');
    };
    let start = out.len();
    out.push(b'(');
    match a {
        Address::List(l) => {
            for x in l {
                one(out, x.name.as_deref(), x.address.as_deref());
            }
        }
        Address::Group(gs) => {
            for g in gs {
                if let Some(name) = &g.name {
                    // RFC 9051 §7.5.2: group start is (NIL NIL "name" NIL),
                    // group end is (NIL NIL NIL NIL).
                    out.extend_from_slice(b"(NIL NIL ");
                    string(out, encode_word(name).as_bytes());
                    out.extend_from_slice(b" NIL)");
                }
                for x in &g.addresses {
                    one(out, x.name.as_deref(), x.address.as_deref());
                }
                if g.name.is_some() {
                    out.extend_from_slice(b"(NIL NIL NIL NIL)");
                }
            }
        }
    }
    if out.len() == start + 1 {
        out.truncate(start);
        out.extend_from_slice(b"NIL");
    } else {
        out.push(b')');
    }
}

fn raw_header(m: &Message<'_>, name: &str) -> Option<String> {
    m.header_raw(name)
        .map(|v| v.replace("\r\n", "").replace('\n', "").trim().to_string())
}

/// Appends `ENVELOPE` data (RFC 9051 §7.5.2).
pub fn envelope(out: &mut Vec<u8>, m: &Message<'_>) {
    out.push(b'(');
    ntext(out, raw_header(m, "Date").as_deref());
    out.push(b' ');
    match raw_header(m, "Subject") {
        Some(s) => string(out, s.as_bytes()),
        None => out.extend_from_slice(b"NIL"),
    }
    let from = m.from();
    for a in [
        from,
        m.sender().or(from),
        m.reply_to().or(from),
        m.to(),
        m.cc(),
        m.bcc(),
    ] {
        out.push(b' ');
        addresses(out, a);
    }
    out.push(b' ');
    ntext(out, raw_header(m, "In-Reply-To").as_deref());
    out.push(b' ');
    ntext(out, raw_header(m, "Message-ID").as_deref());
    out.push(b')');
}

fn params(
    out: &mut Vec<u8>,
    attrs: Option<&[mail_parser::Attribute<'_>]>,
    default: Option<(&str, &str)>,
) {
    let mut v: Vec<(String, String)> = attrs
        .unwrap_or_default()
        .iter()
        .map(|a| (a.name.to_uppercase(), a.value.to_string()))
        .collect();
    if v.is_empty()
        && let Some((k, val)) = default
    {
        v.push((k.into(), val.into()));
    }
    if v.is_empty() {
        out.extend_from_slice(b"NIL");
        return;
    }
    out.push(b'(');
    for (i, (k, val)) in v.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        string(out, k.as_bytes());
        out.push(b' ');
        string(out, encode_word(val).as_bytes());
    }
    out.push(b')');
}

fn disposition_language_location(out: &mut Vec<u8>, p: &MessagePart<'_>) {
    out.push(b' ');
    match p.content_disposition() {
        Some(d) => {
            out.push(b'(');
            string(out, d.c_type.to_uppercase().as_bytes());
            out.push(b' ');
            params(out, d.attributes(), None);
            out.push(b')');
        }
        None => out.extend_from_slice(b"NIL"),
    }
    out.push(b' ');
    match p.content_language().as_text() {
        Some(l) => {
            out.push(b'(');
            string(out, l.as_bytes());
            out.push(b')');
        }
        None => out.extend_from_slice(b"NIL"),
    }
    out.push(b' ');
    ntext(out, p.content_location());
}

/// Appends `BODYSTRUCTURE` (`ext`) or `BODY` of the message.
pub fn bodystructure(out: &mut Vec<u8>, m: &Message<'_>, ext: bool) {
    let mut left = MAX_STRUCTURE_PARTS;
    part_structure(
        out,
        m,
        0,
        ext,
        0,
        &mut vec![false; m.parts.len()],
        &mut left,
    );
}

/// Parts one BODYSTRUCTURE describes at most; the rest are described as
/// empty text. Far above any real message (their parts are bounded by
/// the message size), it bounds the walk whatever the part table says.
const MAX_STRUCTURE_PARTS: usize = 10_000;

/// The empty text part that stands in for a part not described.
const EMPTY_PART: &[u8] = b"(\"TEXT\" \"PLAIN\" NIL NIL NIL \"7BIT\" 0 0)";

/// Describes part `id` of `m`. A hostile message can make mail-parser's
/// part table list one part under several parents (or under itself):
/// walked naively that is exponential (a 459-byte message took 2 GB;
/// found by fuzzing). So each part of a message is described once
/// (`seen`), a child must come after its parent in the table, and the
/// whole walk has a budget (`left`).
fn part_structure(
    out: &mut Vec<u8>,
    m: &Message<'_>,
    id: usize,
    ext: bool,
    depth: usize,
    seen: &mut [bool],
    left: &mut usize,
) {
    let Some(p) = m.parts.get(id) else {
        out.extend_from_slice(b"NIL");
        return;
    };
    if *left == 0 || seen.get(id).copied().unwrap_or(true) {
        out.extend_from_slice(EMPTY_PART);
        return;
    }
    *left -= 1;
    seen[id] = true;
    let raw = m.raw_message();
    let body = raw
        .get(p.offset_body as usize..p.offset_end as usize)
        .unwrap_or_default();
    let ct = p.content_type();
    out.push(b'(');
    if let (PartType::Multipart(children), true) = (&p.body, depth < 50) {
        let mut any = false;
        for c in children.iter().map(|c| *c as usize).filter(|c| *c > id) {
            part_structure(out, m, c, ext, depth + 1, seen, left);
            any = true;
        }
        if !any {
            // RFC 9051 requires at least one part; describe an empty text.
            out.extend_from_slice(EMPTY_PART);
        }
        out.push(b' ');
        let sub = ct
            .and_then(|c| c.subtype())
            .unwrap_or("mixed")
            .to_uppercase();
        string(out, sub.as_bytes());
        if ext {
            out.push(b' ');
            params(out, ct.and_then(|c| c.attributes()), None);
            disposition_language_location(out, p);
        }
        out.push(b')');
        return;
    }
    let (ty, sub) = match ct {
        Some(c) => (
            c.ctype().to_uppercase(),
            c.subtype().unwrap_or("").to_uppercase(),
        ),
        None => ("TEXT".into(), "PLAIN".into()),
    };
    let sub = if sub.is_empty() && ty == "TEXT" {
        "PLAIN".to_string()
    } else {
        sub
    };
    string(out, ty.as_bytes());
    out.push(b' ');
    string(out, sub.as_bytes());
    out.push(b' ');
    let default = (ty == "TEXT").then_some(("CHARSET", "US-ASCII"));
    params(out, ct.and_then(|c| c.attributes()), default);
    out.push(b' ');
    ntext(out, p.content_id());
    out.push(b' ');
    ntext(out, p.content_description());
    out.push(b' ');
    let enc = p
        .content_transfer_encoding()
        .unwrap_or("7BIT")
        .to_uppercase();
    string(out, enc.as_bytes());
    out.extend_from_slice(format!(" {}", body.len()).as_bytes());
    let lines = memchr::memchr_iter(b'\n', body).count();
    if let (PartType::Message(inner), true) = (&p.body, depth < 50) {
        out.push(b' ');
        envelope(out, inner);
        out.push(b' ');
        let mut inner_seen = vec![false; inner.parts.len()];
        part_structure(out, inner, 0, ext, depth + 1, &mut inner_seen, left);
        out.extend_from_slice(format!(" {lines}").as_bytes());
    } else if ty == "TEXT" {
        out.extend_from_slice(format!(" {lines}").as_bytes());
    }
    if ext {
        out.extend_from_slice(b" NIL");
        disposition_language_location(out, p);
    }
    out.push(b')');
}

pub use outpost_imap_proto::fetch::{Section, SectionText};

/// Finds `(message owning the part, part index)` for a part path.
fn locate<'a, 'b>(m: &'a Message<'b>, path: &[u32]) -> Option<(&'a Message<'b>, usize)> {
    let mut msg = m;
    let mut id = 0usize;
    for (i, &n) in path.iter().enumerate() {
        if i > 0
            && let PartType::Message(inner) = &msg.parts.get(id)?.body
        {
            msg = inner;
            id = 0;
        }
        match &msg.parts.get(id)?.body {
            PartType::Multipart(children) => id = *children.get(n as usize - 1)? as usize,
            _ if n == 1 => {}
            _ => return None,
        }
    }
    Some((msg, id))
}

fn select_fields(block: &[u8], names: &[String], not: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut keep = false;
    for line in block.split_inclusive(|b| *b == b'\n') {
        if line == b"\r\n" || line == b"\n" {
            break;
        }
        if !(line.starts_with(b" ") || line.starts_with(b"\t")) {
            let name = line.split(|b| *b == b':').next().unwrap_or_default();
            let name = String::from_utf8_lossy(name);
            let hit = names.iter().any(|n| n.eq_ignore_ascii_case(name.trim()));
            keep = hit != not;
        }
        if keep {
            out.extend_from_slice(line);
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// The bytes of `BODY[section]`. `None` when the part does not exist
/// (served as empty, as other servers do).
pub fn section(raw: &[u8], m: Option<&Message<'_>>, s: &Section) -> Option<Vec<u8>> {
    if s.path.is_empty() {
        return Some(match &s.text {
            SectionText::All => raw.to_vec(),
            SectionText::Header => header_block(raw).to_vec(),
            SectionText::Text => raw[header_block(raw).len()..].to_vec(),
            SectionText::Fields(n, not) => select_fields(header_block(raw), n, *not),
            SectionText::Mime => return None,
        });
    }
    let (msg, id) = locate(m?, &s.path)?;
    let p = msg.parts.get(id)?;
    let r = msg.raw_message();
    let slice = |a: u32, b: u32| r.get(a as usize..b as usize).map(<[u8]>::to_vec);
    match &s.text {
        SectionText::All => slice(p.offset_body, p.offset_end),
        SectionText::Mime => slice(p.offset_header, p.offset_body),
        other => {
            // HEADER/TEXT of a part apply to an encapsulated message.
            let PartType::Message(inner) = &p.body else {
                return None;
            };
            let ir = inner.raw_message();
            let root = inner.parts.first()?;
            let hdr = ir.get(root.offset_header as usize..root.offset_body as usize)?;
            match other {
                SectionText::Header => Some(hdr.to_vec()),
                SectionText::Fields(n, not) => Some(select_fields(hdr, n, *not)),
                _ => ir
                    .get(root.offset_body as usize..root.offset_end as usize)
                    .map(<[u8]>::to_vec),
            }
        }
    }
}

/// Decoded content of a leaf part for `BINARY[section]` (RFC 3516).
pub fn binary(raw: &[u8], m: Option<&Message<'_>>, path: &[u32]) -> Option<Vec<u8>> {
    if path.is_empty() {
        return Some(raw.to_vec());
    }
    let (msg, id) = locate(m?, path)?;
    let p = msg.parts.get(id)?;
    match &p.body {
        PartType::Text(t) | PartType::Html(t) => Some(t.as_bytes().to_vec()),
        PartType::Binary(b) | PartType::InlineBinary(b) => Some(b.to_vec()),
        _ => msg
            .raw_message()
            .get(p.offset_body as usize..p.offset_end as usize)
            .map(<[u8]>::to_vec),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIXED: &[u8] = b"From: Ann <ann@a.lan>\r\nTo: bob@b.lan\r\nSubject: hi\r\nMessage-ID: <1@a>\r\n\
Content-Type: multipart/mixed; boundary=XX\r\n\r\n--XX\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nhello\r\n\
--XX\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\naGk=\r\n--XX--\r\n";

    #[test]
    fn a_small_message_cannot_make_bodystructure_explode() {
        // Found by fuzzing: 459 bytes whose part table lists parts under
        // several parents; described naively, the structure took 2 GB.
        for raw in [
            &include_bytes!("../../../fuzz/regressions/mime/bodystructure-shared-parts-1")[..],
            include_bytes!("../../../fuzz/regressions/mime/bodystructure-shared-parts-2"),
        ] {
            let m = parse(raw).unwrap();
            for ext in [true, false] {
                let mut o = Vec::new();
                bodystructure(&mut o, &m, ext);
                assert!(o.len() < 64 * 1024, "{} bytes", o.len());
            }
        }
    }

    #[test]
    fn structure_and_sections() {
        let m = parse(MIXED).unwrap();
        let mut o = Vec::new();
        bodystructure(&mut o, &m, false);
        assert_eq!(
            String::from_utf8(o).unwrap(),
            "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\") NIL NIL \"7BIT\" 5 0)\
(\"APPLICATION\" \"OCTET-STREAM\" NIL NIL NIL \"BASE64\" 4) \"MIXED\")"
        );
        let s = |x: &str| section(MIXED, Some(&m), &Section::parse(x).unwrap()).unwrap();
        assert_eq!(s("1"), b"hello");
        assert_eq!(
            s("HEADER.FIELDS (subject TO)"),
            b"To: bob@b.lan\r\nSubject: hi\r\n\r\n"
        );
        assert_eq!(binary(MIXED, Some(&m), &[2]).unwrap(), b"hi");
        let mut e = Vec::new();
        envelope(&mut e, &m);
        assert_eq!(
            String::from_utf8(e).unwrap(),
            "(NIL \"hi\" ((\"Ann\" NIL \"ann\" \"a.lan\")) ((\"Ann\" NIL \"ann\" \"a.lan\")) \
((\"Ann\" NIL \"ann\" \"a.lan\")) ((NIL NIL \"bob\" \"b.lan\")) NIL NIL NIL \"<1@a>\")"
        );
    }
}
