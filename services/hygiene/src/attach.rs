//! The attachment policy: executables are refused whatever the virus
//! scanner says, by name and by content.
//!
//! [`blocked`] walks every part of a message, embedded `message/rfc822`
//! messages included (through `outpost-mime`, so nesting is bounded as
//! everywhere else), and looks at
//!
//! - the file name, both the `Content-Disposition` `filename` and the
//!   `Content-Type` `name` (clients differ in which they show; mail-parser
//!   decodes RFC 2231 and RFC 2047 forms), after the rules Windows applies
//!   when it saves a file: trailing dots and spaces are dropped, so
//!   `x.exe.` and `x.exe ` are `x.exe`; a directory part is ignored; the
//!   extension is compared case-insensitively, so `invoice.pdf.exe` and
//!   `X.EXE` are caught;
//! - with `block_sniffed`, the decoded content's first bytes: a Windows PE
//!   (`MZ` with a `PE\0\0` header where `e_lfanew` points), ELF, Mach-O
//!   (thin and universal) and, in attachments, `#!` scripts;
//! - the names in a zip archive's central directory (any part whose content
//!   starts like a zip), bounded in entries and without decompressing: an
//!   archive inside the archive is not opened (that is the virus
//!   scanner's job).
//!
//! The reason returned is printable ASCII and bounded, ready for an SMTP
//! reply: `attachment "x.exe" is a blocked type (.exe)`.

use mail_parser::decoders::base64::base64_decode;
use mail_parser::decoders::quoted_printable::quoted_printable_decode;
use mail_parser::{Encoding, Message, MessagePart, MimeHeaders, PartType};
use outpost_config::hygiene::Attachments;

/// Most zip central-directory entries looked at.
const MAX_ZIP_ENTRIES: usize = 10_000;
/// Most characters of a file name quoted in a reason.
const MAX_QUOTED: usize = 60;
/// Most parts looked at in one message (mail-parser's own limit on parts
/// is far larger; this bounds the work per message).
const MAX_PARTS: usize = 10_000;

/// Why `message` is refused by `policy`, or `None` when it passes (or the
/// policy is disabled).
pub fn blocked(message: &[u8], policy: &Attachments) -> Option<String> {
    if !policy.enabled {
        return None;
    }
    if outpost_mime::exceeds(message, outpost_mime::DEFAULT_MAX_DEPTH) {
        // smtpd refuses such mail at DATA already; a caller that did not
        // must not let a deep nest hide an attachment.
        return Some(format!(
            "the message nests deeper than {} levels and cannot be checked",
            outpost_mime::DEFAULT_MAX_DEPTH
        ));
    }
    let root = outpost_mime::parse(message, outpost_mime::DEFAULT_MAX_DEPTH)?;
    let found = walk(&root, policy);
    outpost_mime::dismantle(root);
    found
}

fn walk(root: &Message<'_>, policy: &Attachments) -> Option<String> {
    let mut stack: Vec<&Message<'_>> = vec![root];
    let mut seen = 0usize;
    while let Some(msg) = stack.pop() {
        for (i, part) in msg.parts.iter().enumerate() {
            seen += 1;
            if seen > MAX_PARTS {
                return Some(format!("the message has more than {MAX_PARTS} parts"));
            }
            let names = part_names(part);
            for name in &names {
                if let Some(ext) = blocked_extension(name, policy) {
                    return Some(format!(
                        "attachment {} is a blocked type (.{ext})",
                        quote(name)
                    ));
                }
            }
            let label = names
                .first()
                .map(|n| quote(n))
                .unwrap_or_else(|| "(unnamed)".into());
            if let PartType::Message(inner) = &part.body {
                stack.push(inner);
                continue;
            }
            let Some(content) = decoded(msg, part) else {
                continue;
            };
            if let Some(entries) = zip_names(&content) {
                for entry in entries {
                    if let Some(ext) = blocked_extension(&entry, policy) {
                        return Some(format!(
                            "attachment {label} contains {}, a blocked type (.{ext})",
                            quote(&entry)
                        ));
                    }
                }
            }
            if policy.block_sniffed {
                // The message's own text is not an attachment: a `#!` at
                // the start of a plain mail is someone quoting a script.
                let attachment = !names.is_empty()
                    || part
                        .content_disposition()
                        .is_some_and(|d| d.c_type.eq_ignore_ascii_case("attachment"))
                    || !matches!(part.body, PartType::Text(_) | PartType::Html(_))
                    || (i != 0 && !msg.text_body.contains(&(i as u32)));
                if let Some(kind) = sniff(&content, attachment) {
                    return Some(format!("attachment {label} is an executable ({kind})"));
                }
            }
        }
    }
    None
}

/// The names a part goes by (filename and name, when both are there).
fn part_names(part: &MessagePart<'_>) -> Vec<String> {
    let mut names = Vec::new();
    let a = part
        .content_disposition()
        .and_then(|d| d.attribute("filename"));
    let b = part.content_type().and_then(|t| t.attribute("name"));
    for n in [a, b].into_iter().flatten() {
        if !n.is_empty() && !names.iter().any(|m: &String| m == n) {
            names.push(n.to_string());
        }
    }
    names
}

/// The part's decoded content. Text parts are decoded again from their raw
/// bytes, because mail-parser's text is after charset conversion, which
/// mangles binary content labelled `text/plain`.
fn decoded<'a>(
    msg: &'a Message<'_>,
    part: &'a MessagePart<'_>,
) -> Option<std::borrow::Cow<'a, [u8]>> {
    use std::borrow::Cow;
    match &part.body {
        PartType::Binary(b) | PartType::InlineBinary(b) => Some(Cow::Borrowed(b.as_ref())),
        PartType::Text(_) | PartType::Html(_) => {
            let raw = msg
                .raw_message
                .get(part.offset_body as usize..part.offset_end as usize)?;
            match part.encoding {
                Encoding::Base64 => base64_decode(raw).map(Cow::Owned),
                Encoding::QuotedPrintable => quoted_printable_decode(raw).map(Cow::Owned),
                Encoding::None => Some(Cow::Borrowed(raw)),
            }
        }
        PartType::Message(_) | PartType::Multipart(_) => None,
    }
}

/// The blocked extension of `name`, if any.
fn blocked_extension(name: &str, policy: &Attachments) -> Option<String> {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    // Windows drops trailing dots and spaces when it creates a file; the
    // invisible format characters (bidi overrides, zero-width spaces) only
    // disguise what the name ends in.
    let base = base.trim_end_matches(|c: char| {
        c == '.' || c.is_whitespace() || c.is_control() || is_format_char(c)
    });
    let (_, ext) = base.rsplit_once('.')?;
    let ext = ext.to_lowercase();
    policy
        .block_extensions
        .iter()
        .any(|b| b.trim_start_matches('.').eq_ignore_ascii_case(&ext))
        .then_some(ext)
}

fn is_format_char(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}')
}

/// What kind of executable `content` is, by its magic.
fn sniff(content: &[u8], attachment: bool) -> Option<&'static str> {
    if is_pe(content) {
        return Some("Windows PE");
    }
    if content.starts_with(b"\x7fELF") {
        return Some("ELF");
    }
    if content.len() >= 8 {
        let magic = [content[0], content[1], content[2], content[3]];
        match magic {
            [0xfe, 0xed, 0xfa, 0xce]
            | [0xfe, 0xed, 0xfa, 0xcf]
            | [0xce, 0xfa, 0xed, 0xfe]
            | [0xcf, 0xfa, 0xed, 0xfe] => return Some("Mach-O"),
            [0xca, 0xfe, 0xba, 0xbe] => {
                // A universal binary counts its architectures (a handful);
                // a Java class file, same magic, has its version (≥ 45)
                // there.
                let n = u32::from_be_bytes([content[4], content[5], content[6], content[7]]);
                if (1..20).contains(&n) {
                    return Some("Mach-O universal");
                }
            }
            _ => {}
        }
    }
    if attachment && (content.starts_with(b"#!/") || content.starts_with(b"#! /")) {
        return Some("script");
    }
    None
}

/// `MZ`, and the PE signature where the DOS header's `e_lfanew` points.
fn is_pe(c: &[u8]) -> bool {
    if !c.starts_with(b"MZ") || c.len() < 0x40 {
        return false;
    }
    let off = u32::from_le_bytes([c[0x3c], c[0x3d], c[0x3e], c[0x3f]]) as usize;
    c.get(off..off.saturating_add(4)) == Some(b"PE\0\0")
}

/// The entry names of a zip archive, from its central directory (APPNOTE
/// 4.3.12 and 4.3.16), or `None` when `data` is not a zip.
fn zip_names(data: &[u8]) -> Option<Vec<String>> {
    if !data.starts_with(b"PK\x03\x04") && !data.starts_with(b"PK\x05\x06") {
        return None;
    }
    // The end-of-central-directory record: 22 bytes plus a comment of at
    // most 65535, so it is in the last 65557 bytes.
    let tail_start = data.len().saturating_sub(22 + 65535);
    let eocd = (tail_start..=data.len().saturating_sub(22))
        .rev()
        .find(|&i| data[i..].starts_with(b"PK\x05\x06"))?;
    let u16_at = |i: usize| -> Option<usize> {
        Some(u16::from_le_bytes([*data.get(i)?, *data.get(i + 1)?]) as usize)
    };
    let u32_at = |i: usize| -> Option<usize> {
        let b = data.get(i..i + 4)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    };
    let count = u16_at(eocd + 10)?;
    let mut at = u32_at(eocd + 16)?;
    let mut names = Vec::new();
    for _ in 0..count.min(MAX_ZIP_ENTRIES) {
        if !data.get(at..)?.starts_with(b"PK\x01\x02") {
            break;
        }
        let name_len = u16_at(at + 28)?;
        let extra = u16_at(at + 30)?;
        let comment = u16_at(at + 32)?;
        let name = data.get(at + 46..at + 46 + name_len)?;
        names.push(String::from_utf8_lossy(name).into_owned());
        at += 46 + name_len + extra + comment;
    }
    Some(names)
}

/// A file name quoted for a reason: printable ASCII (others `?`, `"` and
/// `\` as `'` and `/`), at most 60 characters.
fn quote(name: &str) -> String {
    let mut s: String = name
        .chars()
        .take(MAX_QUOTED)
        .map(|c| match c {
            '"' => '\'',
            '\\' => '/',
            ' '..='~' => c,
            _ => '?',
        })
        .collect();
    if name.chars().count() > MAX_QUOTED {
        s.push_str("...");
    }
    format!("\"{s}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions() {
        let p = Attachments::default();
        for (name, want) in [
            ("x.exe", Some("exe")),
            ("X.EXE", Some("exe")),
            ("invoice.pdf.exe", Some("exe")),
            ("invoice.exe.", Some("exe")),
            ("invoice.exe . .", Some("exe")),
            ("C:\\temp\\x.scr", Some("scr")),
            ("x.exe\u{200B}", Some("exe")),
            ("x.pdf", None),
            ("exe", None),
            ("x.exe.pdf", None),
        ] {
            assert_eq!(blocked_extension(name, &p).as_deref(), want, "{name:?}");
        }
    }

    #[test]
    fn quoting() {
        assert_eq!(quote("a\"b\\c\u{e9}"), "\"a'b/c?\"");
        assert_eq!(quote(&"a".repeat(100)).len(), 60 + 3 + 2);
    }
}
