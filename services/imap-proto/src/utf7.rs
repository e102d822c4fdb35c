//! Modified UTF-7 mailbox names (RFC 3501 §5.1.3), the form IMAP4rev1
//! clients use and the form names are stored in (as Dovecot's Maildir++
//! does). IMAP4rev2 sessions speak UTF-8 (RFC 9051 §5.1) and are converted
//! at the protocol edge. The base64 part uses the `base64` crate's
//! `IMAP_MUTF7` alphabet; the framing around it (`&…-`, UTF-16 and the
//! printable-ASCII rules) is the few lines below, too small for a crate.

use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

const B64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::IMAP_MUTF7,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::RequireNone),
);

/// Encodes a UTF-8 name: printable ASCII stays (with `&` as `&-`), every
/// other run becomes `&` + base64(UTF-16BE) + `-`.
pub fn encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut run: Vec<u16> = Vec::new();
    let flush = |run: &mut Vec<u16>, out: &mut String| {
        if !run.is_empty() {
            let bytes: Vec<u8> = run.iter().flat_map(|u| u.to_be_bytes()).collect();
            out.push('&');
            out.push_str(&B64.encode(bytes));
            out.push('-');
            run.clear();
        }
    };
    for c in name.chars() {
        if (' '..='~').contains(&c) {
            flush(&mut run, &mut out);
            out.push(c);
            if c == '&' {
                out.push('-');
            }
        } else {
            let mut buf = [0u16; 2];
            run.extend_from_slice(c.encode_utf16(&mut buf));
        }
    }
    flush(&mut run, &mut out);
    out
}

/// Decodes a modified UTF-7 name; `None` if it is not valid (8-bit
/// characters, bad base64, odd UTF-16, lone surrogates, a shift that
/// encodes printable ASCII, or a missing `-`).
pub fn decode(name: &str) -> Option<String> {
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(c) = rest.chars().next() {
        if !(' '..='~').contains(&c) {
            return None;
        }
        if c != '&' {
            out.push(c);
            rest = &rest[1..];
            continue;
        }
        let end = rest[1..].find('-')? + 1;
        let b64 = &rest[1..end];
        rest = &rest[end + 1..];
        if b64.is_empty() {
            out.push('&');
            continue;
        }
        let bytes = B64.decode(b64).ok()?;
        if bytes.len() % 2 != 0 {
            return None;
        }
        let units = bytes.chunks(2).map(|p| u16::from_be_bytes([p[0], p[1]]));
        for ch in char::decode_utf16(units) {
            let ch = ch.ok()?;
            if (' '..='~').contains(&ch) {
                return None;
            }
            out.push(ch);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3501_and_known_names() {
        for (utf8, mutf7) in [
            ("INBOX", "INBOX"),
            ("~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"),
            ("Entwürfe", "Entw&APw-rfe"),
            ("Отправленные", "&BB4EQgQ,BEAEMAQyBDsENQQ9BD0ESwQ1-"),
            ("Tom & Jerry", "Tom &- Jerry"),
            ("😀 mail", "&2D3eAA- mail"),
        ] {
            assert_eq!(encode(utf8), mutf7, "{utf8}");
            assert_eq!(decode(mutf7).as_deref(), Some(utf8), "{mutf7}");
        }
        for bad in ["&Jjo!", "&U,BTFw", "Entw\u{fc}rfe", "&AGE-", "&2D0-"] {
            assert_eq!(decode(bad), None, "{bad}");
        }
    }

    proptest::proptest! {
        #[test]
        fn round_trips(s in "\\PC{0,40}") {
            proptest::prop_assert_eq!(decode(&encode(&s)), Some(s));
        }
    }
}
