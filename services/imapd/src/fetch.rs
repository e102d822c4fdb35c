//! FETCH attributes (RFC 9051 §6.4.5): parsing the attribute list and
//! rendering one message's response items.

use crate::mime::{self, Section};
use crate::parse::Tok;
use crate::wire::{internal_date, literal, nstring};
use outpost_store::MessageMeta;

/// One requested item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Att {
    /// FLAGS.
    Flags,
    /// UID.
    Uid,
    /// INTERNALDATE.
    InternalDate,
    /// RFC822.SIZE.
    Size,
    /// ENVELOPE.
    Envelope,
    /// BODYSTRUCTURE (true) or BODY (false).
    Structure(bool),
    /// MODSEQ.
    ModSeq,
    /// BODY[...] / BODY.PEEK[...] / RFC822 / RFC822.HEADER / RFC822.TEXT,
    /// BINARY[...], BINARY.SIZE[...].
    Section {
        /// The name to echo (`BODY[1]<0>`, `RFC822`, ...).
        echo: String,
        /// The section.
        section: Section,
        /// Partial `<start.len>`.
        partial: Option<(u64, Option<u64>)>,
        /// Sets `\Seen` (not PEEK, not RFC822.HEADER).
        sets_seen: bool,
        /// BINARY (decoded) instead of BODY.
        binary: bool,
        /// BINARY.SIZE: only the size.
        size_only: bool,
    },
}

impl Att {
    /// Whether the item needs the message bytes.
    pub fn needs_body(&self) -> bool {
        matches!(self, Att::Structure(_) | Att::Section { .. })
    }
}

fn parse_att(a: &str) -> Result<Att, String> {
    let up = a.to_ascii_uppercase();
    Ok(match up.as_str() {
        "FLAGS" => Att::Flags,
        "UID" => Att::Uid,
        "INTERNALDATE" => Att::InternalDate,
        "RFC822.SIZE" => Att::Size,
        "ENVELOPE" => Att::Envelope,
        "BODYSTRUCTURE" => Att::Structure(true),
        "BODY" => Att::Structure(false),
        "MODSEQ" => Att::ModSeq,
        "RFC822" => section_att("RFC822", "", None, true, false, false)?,
        "RFC822.HEADER" => section_att("RFC822.HEADER", "HEADER", None, false, false, false)?,
        "RFC822.TEXT" => section_att("RFC822.TEXT", "TEXT", None, true, false, false)?,
        _ => {
            let open = up
                .find('[')
                .ok_or_else(|| format!("unknown fetch item {a}"))?;
            let close = up.rfind(']').filter(|c| *c > open).ok_or("missing ]")?;
            let name = &up[..open];
            let inner = &a[open + 1..close];
            let rest = &up[close + 1..];
            let partial = if rest.is_empty() {
                None
            } else {
                let p = rest
                    .strip_prefix('<')
                    .and_then(|r| r.strip_suffix('>'))
                    .ok_or("bad partial")?;
                let (s, l) = match p.split_once('.') {
                    Some((s, l)) => (s, Some(l.parse().map_err(|_| "bad partial")?)),
                    None => (p, None),
                };
                Some((s.parse().map_err(|_| "bad partial")?, l))
            };
            let (peek, binary, size_only) = match name {
                "BODY" => (false, false, false),
                "BODY.PEEK" => (true, false, false),
                "BINARY" => (false, true, false),
                "BINARY.PEEK" => (true, true, false),
                "BINARY.SIZE" => (true, true, true),
                _ => return Err(format!("unknown fetch item {a}")),
            };
            // The response names the item without .PEEK and with only the
            // partial's start (RFC 9051 §7.5.2).
            let echo_name = name.trim_end_matches(".PEEK");
            let echo = match partial {
                Some((s, _)) => format!("{echo_name}[{inner}]<{s}>"),
                None => format!("{echo_name}[{inner}]"),
            };
            let mut att = section_att(&echo, inner, partial, !peek, binary, size_only)?;
            if let Att::Section { echo: e, .. } = &mut att {
                *e = echo;
            }
            att
        }
    })
}

fn section_att(
    echo: &str,
    inner: &str,
    partial: Option<(u64, Option<u64>)>,
    sets_seen: bool,
    binary: bool,
    size_only: bool,
) -> Result<Att, String> {
    let section = Section::parse(inner).ok_or_else(|| format!("bad section [{inner}]"))?;
    if binary && section.text != mime::SectionText::All {
        return Err("BINARY takes only part numbers".into());
    }
    Ok(Att::Section {
        echo: echo.to_string(),
        section,
        partial,
        sets_seen,
        binary,
        size_only,
    })
}

/// Parses the FETCH item argument (macro, single item or list).
pub fn parse_atts(t: &Tok) -> Result<Vec<Att>, String> {
    match t {
        Tok::Atom(a) => match a.to_ascii_uppercase().as_str() {
            "ALL" => Ok(vec![
                Att::Flags,
                Att::InternalDate,
                Att::Size,
                Att::Envelope,
            ]),
            "FAST" => Ok(vec![Att::Flags, Att::InternalDate, Att::Size]),
            "FULL" => Ok(vec![
                Att::Flags,
                Att::InternalDate,
                Att::Size,
                Att::Envelope,
                Att::Structure(false),
            ]),
            _ => Ok(vec![parse_att(a)?]),
        },
        Tok::List(l) => l
            .iter()
            .map(|x| match x {
                Tok::Atom(a) => parse_att(a),
                _ => Err("bad fetch item".to_string()),
            })
            .collect(),
        Tok::Str(_) => Err("bad fetch item".into()),
    }
}

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
