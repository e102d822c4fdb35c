//! A small argparse work-alike for command and section-header options.
//!
//! pykickstart parses every command line with Python's `argparse`; admins
//! rely on its rules: `--opt=value` and `--opt value` are the same, a later
//! option overwrites an earlier one with the same destination (so
//! `clearpart --linux --all` means `--all`), an unambiguous prefix of a long
//! option is accepted (`--iscrypt`), and a value that looks like an option is
//! not taken as a value. Options are described by a static table per command.

use std::collections::HashMap;

use crate::lex::Word;

/// How an option stores its value.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    /// Flag storing `true`.
    True,
    /// Flag storing `false`.
    False,
    /// Flag storing a constant (exclusive choices sharing a destination).
    Const(&'static str),
    /// One string value.
    Str,
    /// One non-negative integer value.
    Int,
    /// pykickstart's `ksboolean` (`on/yes/true/1`, `off/no/false/0`).
    Bool,
    /// pykickstart's `commaSplit`: comma list, blanks dropped, last wins.
    List,
    /// One value from a fixed set.
    Choice(&'static [&'static str]),
    /// One value from a fixed set, in any case; stored lower-cased (a
    /// pykickstart type callback such as autopart's `_type_cb`).
    ChoiceNoCase(&'static [&'static str]),
    /// Repeatable comma list, concatenated.
    Extend,
    /// Flag appending a constant to a list destination.
    AppendConst(&'static str),
}

/// One option of a command.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Opt {
    /// Names including `--`, canonical first.
    pub names: &'static [&'static str],
    /// Destination (shared by exclusive flags and aliases).
    pub dest: &'static str,
    /// Storage kind.
    pub kind: Kind,
    /// Deprecated: accepted with a warning that it has no effect.
    pub deprecated: bool,
}

pub(crate) const fn opt(names: &'static [&'static str], dest: &'static str, kind: Kind) -> Opt {
    Opt {
        names,
        dest,
        kind,
        deprecated: false,
    }
}

pub(crate) const fn dep(names: &'static [&'static str], dest: &'static str, kind: Kind) -> Opt {
    Opt {
        names,
        dest,
        kind,
        deprecated: true,
    }
}

/// A stored value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Val {
    Bool(bool),
    Str(String),
    Int(u64),
    List(Vec<String>),
}

/// Result of parsing one line's arguments.
#[derive(Debug, Default)]
pub(crate) struct Args {
    /// dest → (value, canonical option name, column of the last occurrence).
    pub vals: HashMap<&'static str, (Val, &'static str, u32)>,
    /// Positional arguments in order.
    pub pos: Vec<Word>,
    /// Warnings (column, message).
    pub warnings: Vec<(u32, String)>,
    /// Column of a `--` end-of-options marker, if any. argparse drops it
    /// only when the command takes positional arguments; otherwise it is an
    /// unrecognized argument.
    pub dashdash: Option<u32>,
}

/// A parse failure: column and message.
pub(crate) type Fail = (u32, String);

impl Args {
    pub fn flag(&self, dest: &str) -> bool {
        matches!(self.vals.get(dest), Some((Val::Bool(true), _, _)))
    }
    pub fn bool_opt(&self, dest: &str) -> Option<bool> {
        match self.vals.get(dest) {
            Some((Val::Bool(b), _, _)) => Some(*b),
            _ => None,
        }
    }
    pub fn str(&self, dest: &str) -> Option<String> {
        match self.vals.get(dest) {
            Some((Val::Str(s), _, _)) => Some(s.clone()),
            _ => None,
        }
    }
    pub fn int(&self, dest: &str) -> Option<u64> {
        match self.vals.get(dest) {
            Some((Val::Int(i), _, _)) => Some(*i),
            _ => None,
        }
    }
    pub fn list(&self, dest: &str) -> Vec<String> {
        match self.vals.get(dest) {
            Some((Val::List(l), _, _)) => l.clone(),
            _ => Vec::new(),
        }
    }
    /// Python truthiness of the stored value, which is what pykickstart's
    /// `parse()` checks test (`if retval.size:`): absent, `false`, `0`, an
    /// empty string and an empty list are all "not given".
    pub fn truthy(&self, dest: &str) -> bool {
        match self.vals.get(dest) {
            Some((Val::Bool(b), _, _)) => *b,
            Some((Val::Str(s), _, _)) => !s.is_empty(),
            Some((Val::Int(i), _, _)) => *i != 0,
            Some((Val::List(l), _, _)) => !l.is_empty(),
            None => false,
        }
    }
    pub fn col(&self, dest: &str) -> Option<u32> {
        self.vals.get(dest).map(|v| v.2)
    }
    /// Options present but not in `modelled`, as `name → printed value`, for
    /// the model's `extra` maps.
    pub fn extra(&self, modelled: &[&str]) -> crate::model::Extra {
        let mut out = crate::model::Extra::new();
        for (dest, (val, name, _)) in &self.vals {
            if modelled.contains(dest) {
                continue;
            }
            let name = name.trim_start_matches('-').to_string();
            let text = match val {
                Val::Bool(_) => String::new(),
                // An empty value is not kept: it would print as a bare
                // flag (pykickstart prints nothing for it either).
                Val::Str(s) if s.is_empty() => continue,
                Val::Str(s) => s.clone(),
                Val::Int(i) => i.to_string(),
                Val::List(l) if l.is_empty() => continue,
                Val::List(l) => l.join(","),
            };
            out.insert(name, text);
        }
        out
    }
}

/// pykickstart's `commaSplit`.
pub(crate) fn comma_split(v: &str) -> Vec<String> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

/// argparse's `_parse_optional`: whether a word is an option. It is if it
/// starts with `-`, is not just `-`, and either names an option (exactly,
/// before `=`, or as an unambiguous prefix), or does not look like a
/// negative number (`-5`, `-.5`) and contains no space (`"-a b"` is a value).
fn is_optional(specs: &[Opt], s: &str) -> bool {
    if !s.starts_with('-') || s.len() < 2 {
        return false;
    }
    let name = match s.split_once('=') {
        Some((n, _)) if n.starts_with("--") => n,
        _ => s,
    };
    if !matches!(find(specs, name), Ok(None)) {
        return true;
    }
    !negative_number(s) && !s.contains(' ')
}

/// `-5`, `-.5`, `-1.5`: argparse reads these as values.
fn negative_number(s: &str) -> bool {
    let rest = &s[1..];
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    digits(rest)
        || rest
            .split_once('.')
            .is_some_and(|(a, b)| (a.is_empty() || digits(a)) && digits(b))
}

/// Whether `is_optional` could call `s` an option for some command: the
/// printer puts `--` before positionals for which this holds. Option names
/// hold no space, so a word with a space is an option only as
/// `--name=value`.
pub(crate) fn may_read_as_option(s: &str) -> bool {
    if !s.starts_with('-') || s.len() < 2 || negative_number(s) {
        return false;
    }
    match s.split_once('=') {
        Some((n, _)) if n.starts_with("--") => !n.contains(' '),
        _ => !s.contains(' '),
    }
}

fn find<'a>(specs: &'a [Opt], name: &str) -> Result<Option<&'a Opt>, String> {
    if let Some(o) = specs.iter().find(|o| o.names.contains(&name)) {
        return Ok(Some(o));
    }
    // argparse accepts an unambiguous prefix of a long option (even the
    // bare prefix `--` in `--=value` when the command has one long option).
    if name.starts_with("--") {
        let hits: Vec<(&Opt, &str)> = specs
            .iter()
            .flat_map(|o| o.names.iter().map(move |n| (o, *n)))
            .filter(|(_, n)| n.starts_with(name))
            .collect();
        match hits.len() {
            0 => {}
            1 => return Ok(Some(hits[0].0)),
            _ => {
                let names: Vec<&str> = hits.iter().map(|h| h.1).collect();
                return Err(format!(
                    "ambiguous option {name} could match {}",
                    names.join(", ")
                ));
            }
        }
    }
    Ok(None)
}

/// Parses `words` (the command name excluded) against `specs`.
pub(crate) fn parse(cmd: &str, specs: &[Opt], words: &[Word]) -> Result<Args, Fail> {
    let mut args = Args::default();
    let mut i = 0;
    let mut only_positional = false;
    while i < words.len() {
        let w = &words[i];
        i += 1;
        if only_positional || !is_optional(specs, &w.text) {
            args.pos.push(w.clone());
            continue;
        }
        if w.text == "--" {
            only_positional = true;
            args.dashdash = Some(w.col);
            continue;
        }
        let (name, inline) = match w.text.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v.to_string())),
            _ => (w.text.as_str(), None),
        };
        let spec = match find(specs, name) {
            Ok(Some(s)) => s,
            Ok(None) => {
                return Err((
                    w.col,
                    format!(
                        "{cmd}: unknown option {}; see `{cmd}` in the kickstart reference for its options",
                        crate::commands::short(name)
                    ),
                ));
            }
            Err(msg) => return Err((w.col, format!("{cmd}: {msg}"))),
        };
        let canon = spec.names[0];
        if spec.deprecated {
            args.warnings.push((
                w.col,
                format!("{cmd}: option {name} is deprecated and has no effect; remove it"),
            ));
        }
        let takes_value = !matches!(
            spec.kind,
            Kind::True | Kind::False | Kind::Const(_) | Kind::AppendConst(_)
        );
        let value = if takes_value {
            match inline {
                Some(v) => Some(v),
                None => match words.get(i) {
                    Some(next) if !is_optional(specs, &next.text) => {
                        i += 1;
                        Some(next.text.clone())
                    }
                    _ => {
                        return Err((
                            w.col,
                            format!("{cmd}: option {canon} needs a value, e.g. {canon}=VALUE"),
                        ));
                    }
                },
            }
        } else {
            if inline.is_some() {
                return Err((w.col, format!("{cmd}: option {canon} takes no value")));
            }
            None
        };
        let value = value.unwrap_or_default();
        let val = match spec.kind {
            Kind::True => Val::Bool(true),
            Kind::False => Val::Bool(false),
            Kind::Const(c) => Val::Str(c.to_string()),
            Kind::Str => Val::Str(value),
            Kind::Int => match value.trim().parse::<u64>() {
                Ok(n) => Val::Int(n),
                Err(_) => {
                    return Err((
                        w.col,
                        format!(
                            "{cmd}: option {canon}: invalid number {value:?} (a whole number is expected{})",
                            if canon.contains("size") {
                                ", in MiB"
                            } else {
                                ""
                            }
                        ),
                    ));
                }
            },
            Kind::Bool => match value.to_ascii_lowercase().as_str() {
                "on" | "yes" | "true" | "1" => Val::Bool(true),
                "off" | "no" | "false" | "0" => Val::Bool(false),
                _ => {
                    return Err((
                        w.col,
                        format!(
                            "{cmd}: option {canon}: invalid boolean value {value:?} (use yes or no)"
                        ),
                    ));
                }
            },
            Kind::List => Val::List(comma_split(&value)),
            Kind::Choice(choices) | Kind::ChoiceNoCase(choices) => {
                let norm = match spec.kind {
                    Kind::ChoiceNoCase(_) => value.to_lowercase(),
                    _ => value.clone(),
                };
                if !choices.contains(&norm.as_str()) {
                    return Err((
                        w.col,
                        format!(
                            "{cmd}: option {canon}: invalid choice {value:?} (choose from {})",
                            choices.join(", ")
                        ),
                    ));
                }
                Val::Str(norm)
            }
            Kind::Extend | Kind::AppendConst(_) => {
                let mut l = match args.vals.remove(spec.dest) {
                    Some((Val::List(l), _, _)) => l,
                    _ => Vec::new(),
                };
                match spec.kind {
                    Kind::AppendConst(c) => l.push(c.to_string()),
                    _ => l.extend(comma_split(&value)),
                }
                Val::List(l)
            }
        };
        args.vals.insert(spec.dest, (val, canon, w.col));
    }
    Ok(args)
}
