//! FETCH attributes (RFC 9051 §6.4.5) as the client names them: [`Att`]
//! and the section specs inside `BODY[...]` ([`Section`]). Rendering them
//! needs the message and stays in imapd.

use crate::parse::Tok;

/// The text part of a section spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SectionText {
    /// The whole part (or message).
    All,
    /// `HEADER`.
    Header,
    /// `HEADER.FIELDS (..)` / `HEADER.FIELDS.NOT (..)`.
    Fields(Vec<String>, bool),
    /// `TEXT`.
    Text,
    /// `MIME`.
    Mime,
}

/// A parsed `section` (RFC 9051 §6.4.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// Part numbers.
    pub path: Vec<u32>,
    /// What of that part.
    pub text: SectionText,
}

impl Section {
    /// Parses the inside of `[...]`.
    pub fn parse(s: &str) -> Option<Section> {
        let mut path = Vec::new();
        let mut rest = s.trim();
        loop {
            let end = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            if end == 0 {
                break;
            }
            path.push(rest[..end].parse().ok().filter(|n| *n > 0)?);
            rest = &rest[end..];
            match rest.strip_prefix('.') {
                Some(r) => rest = r,
                None => break,
            }
        }
        let up = rest.to_ascii_uppercase();
        let text = if up.is_empty() {
            SectionText::All
        } else if up == "HEADER" {
            SectionText::Header
        } else if up == "TEXT" {
            SectionText::Text
        } else if up == "MIME" && !path.is_empty() {
            SectionText::Mime
        } else if let Some(r) = up.strip_prefix("HEADER.FIELDS") {
            let (not, r) = match r.strip_prefix(".NOT") {
                Some(r) => (true, r),
                None => (false, r),
            };
            let r = r.trim().strip_prefix('(')?.strip_suffix(')')?;
            let names: Vec<String> = r
                .split_whitespace()
                .map(|n| n.trim_matches('"').to_string())
                .collect();
            if names.is_empty() {
                return None;
            }
            SectionText::Fields(names, not)
        } else {
            return None;
        };
        Some(Section { path, text })
    }
}

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
    if binary && section.text != SectionText::All {
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
