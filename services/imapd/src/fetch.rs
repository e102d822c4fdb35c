//! FETCH responses (RFC 9051 §6.4.5): rendering one message's items. The
//! attribute list is parsed in `outpost-imap-proto` ([`Att`]).

use crate::mime;
use crate::wire::{internal_date, literal, nstring};
pub use outpost_imap_proto::fetch::{Att, parse_atts};
use outpost_store::MessageMeta;

/// Appends the FLAGS list (with `\Recent` when recent in this session).
pub fn flags(out: &mut Vec<u8>, m: &MessageMeta, recent: bool) {
    out.extend_from_slice(b"FLAGS (");
    let mut first = true;
    for f in m.flags.imap_names() {
        if !first {
            out.push(b' ');
        }
        first = false;
        out.extend_from_slice(f.as_bytes());
    }
    if recent {
        if !first {
            out.push(b' ');
        }
        out.extend_from_slice(b"\\Recent");
    }
    out.push(b')');
}

/// Renders the items of one message (without `* n FETCH (` and `)`).
/// `raw` is the message when any item needs it.
pub fn render(
    out: &mut Vec<u8>,
    atts: &[Att],
    m: &MessageMeta,
    recent: bool,
    raw: Option<&[u8]>,
    envelope: Option<&[u8]>,
) {
    let parsed = match raw {
        Some(r)
            if atts
                .iter()
                .any(|a| matches!(a, Att::Structure(_)) || is_part_section(a)) =>
        {
            mime::parse(r)
        }
        _ => None,
    };
    let mut first = true;
    for a in atts {
        if !first {
            out.push(b' ');
        }
        first = false;
        match a {
            Att::Flags => flags(out, m, recent),
            Att::Uid => out.extend_from_slice(format!("UID {}", m.uid).as_bytes()),
            Att::InternalDate => {
                out.extend_from_slice(b"INTERNALDATE ");
                out.extend_from_slice(internal_date(m.internal_date).as_bytes());
            }
            Att::Size => out.extend_from_slice(format!("RFC822.SIZE {}", m.size).as_bytes()),
            Att::ModSeq => out.extend_from_slice(format!("MODSEQ ({})", m.modseq).as_bytes()),
            Att::Envelope => {
                out.extend_from_slice(b"ENVELOPE ");
                match envelope {
                    Some(e) if !e.is_empty() => out.extend_from_slice(e),
                    _ => out.extend_from_slice(b"(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)"),
                }
            }
            Att::Structure(ext) => {
                out.extend_from_slice(if *ext { b"BODYSTRUCTURE " } else { b"BODY " });
                match &parsed {
                    Some(p) => mime::bodystructure(out, p, *ext),
                    None => out.extend_from_slice(b"(\"TEXT\" \"PLAIN\" NIL NIL NIL \"7BIT\" 0 0)"),
                }
            }
            Att::Section {
                echo,
                section,
                partial,
                binary,
                size_only,
                ..
            } => {
                let raw = raw.unwrap_or_default();
                let data = if *binary {
                    mime::binary(raw, parsed.as_ref(), &section.path)
                } else {
                    mime::section(raw, parsed.as_ref(), section)
                };
                if *size_only {
                    let echo = echo.replacen("BINARY", "BINARY.SIZE", 1);
                    out.extend_from_slice(
                        format!("{echo} {}", data.map_or(0, |d| d.len())).as_bytes(),
                    );
                    continue;
                }
                out.extend_from_slice(echo.as_bytes());
                out.push(b' ');
                let Some(data) = data else {
                    nstring(out, None);
                    continue;
                };
                let slice = match partial {
                    Some((start, len)) => {
                        // Client-supplied numbers up to 2^64-1 (#11):
                        // saturate instead of overflowing.
                        let clamp = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
                        let s = clamp(*start).min(data.len());
                        let e =
                            len.map_or(data.len(), |l| s.saturating_add(clamp(l)).min(data.len()));
                        &data[s..e]
                    }
                    None => &data[..],
                };
                if *binary && slice.contains(&0) {
                    // literal8 (RFC 3516 §4.2) for data with NULs.
                    out.push(b'~');
                }
                literal(out, slice);
            }
        }
    }
}

fn is_part_section(a: &Att) -> bool {
    matches!(a, Att::Section { section, binary, .. } if !section.path.is_empty() || *binary)
}
