//! The kickstart state machine: commands at top level, `%sections` with
//! headers and bodies, after `%include`/`%ksappend` expansion.
//!
//! Mirrors pykickstart's `KickstartParser._stateMachine` and `_readSection`:
//! blank and comment lines are skipped (but kept inside scripts); a line in a
//! section starting with `%` only ends or interrupts the section if its first
//! whitespace-separated word is `%end` or a known section header, so script
//! text such as `%hello` stays script text; `%end` may be indented and carry a
//! comment; a section still open at a new section header or at end of input
//! is an error. Unlike pykickstart, parsing goes on after an error so that
//! one run reports every problem (up to [`MAX_ERRORS`]).

use std::collections::HashMap;

use crate::addon;
use crate::commands;
use crate::diag::{Diagnostic, Severity};
use crate::lex::{self, Word};
use crate::model::*;
use crate::opts::{Kind, Opt, opt, parse};
use crate::source::Line;

/// Parsing stops collecting errors after this many.
pub const MAX_ERRORS: usize = 100;

/// Every section header Outpost accepts.
pub const SECTIONS: &[&str] = &[
    "%packages",
    "%pre",
    "%pre-install",
    "%post",
    "%onerror",
    "%traceback",
    "%addon",
    "%anaconda",
];

const SCRIPT_OPTS: &[Opt] = &[
    opt(&["--interpreter"], "interpreter", Kind::Str),
    opt(&["--erroronfail"], "erroronfail", Kind::True),
    opt(&["--logfile", "--log"], "logfile", Kind::Str),
];
const POST_OPTS: &[Opt] = &[
    opt(&["--interpreter"], "interpreter", Kind::Str),
    opt(&["--erroronfail"], "erroronfail", Kind::True),
    opt(&["--logfile", "--log"], "logfile", Kind::Str),
    opt(&["--nochroot"], "nochroot", Kind::True),
];
const PACKAGES_OPTS: &[Opt] = &[
    opt(&["--default"], "default", Kind::True),
    opt(&["--excludedocs"], "excludedocs", Kind::True),
    opt(&["--ignoremissing"], "ignoremissing", Kind::True),
    opt(&["--ignorebroken"], "ignorebroken", Kind::True),
    opt(&["--inst-langs", "--instLangs"], "inst_langs", Kind::Str),
    opt(
        &["--exclude-weakdeps", "--excludeWeakdeps"],
        "exclude_weakdeps",
        Kind::True,
    ),
    opt(&["--nocore"], "nocore", Kind::True),
    opt(&["--multilib"], "multilib", Kind::True),
    opt(&["--retries"], "retries", Kind::Int),
    opt(&["--timeout"], "timeout", Kind::Int),
];

pub(crate) struct Parser<'a> {
    lines: &'a [Line],
    pub ks: Kickstart,
    pub diags: Vec<Diagnostic>,
    errors: usize,
    /// Single-instance command → line where it was last seen, and the
    /// [`commands::STICKY`] options its lines gave so far.
    seen: HashMap<String, Seen>,
    /// First storage commands, for the autopart conflict check.
    autopart_at: Option<(String, u32, u32, usize)>,
    manual_at: Option<(String, u32, u32, String, usize)>,
    /// Index of the line being handled (reading order).
    cur: usize,
}

/// Where a single-instance command was last seen.
#[derive(Clone)]
struct Seen {
    file: String,
    line: u32,
    sticky: Vec<(&'static str, &'static str)>,
}

fn is_blank_or_comment(text: &str) -> bool {
    let t = text.trim_start();
    t.is_empty() || t.starts_with('#')
}

const MULTI: &[&str] = &[
    "network",
    "user",
    "group",
    "sshkey",
    "part",
    "partition",
    "raid",
    "volgroup",
    "logvol",
];

impl<'a> Parser<'a> {
    pub fn new(lines: &'a [Line]) -> Self {
        Parser {
            lines,
            ks: Kickstart::default(),
            diags: Vec::new(),
            errors: 0,
            seen: HashMap::new(),
            autopart_at: None,
            manual_at: None,
            cur: 0,
        }
    }

    fn push(&mut self, line: &Line, col: u32, severity: Severity, message: String) {
        if severity == Severity::Error {
            self.errors += 1;
            if self.errors > MAX_ERRORS {
                return;
            }
        }
        self.diags.push(Diagnostic {
            path: line.file.to_string(),
            line: line.lineno,
            col,
            severity,
            message,
        });
    }

    fn error(&mut self, line: &Line, col: u32, message: String) {
        self.push(line, col, Severity::Error, message);
    }

    fn warn(&mut self, line: &Line, col: u32, message: String) {
        self.push(line, col, Severity::Warning, message);
    }

    pub fn run(mut self) -> Self {
        let mut i = 0;
        while i < self.lines.len() {
            if self.errors >= MAX_ERRORS {
                let line = &self.lines[i];
                self.diags.push(Diagnostic {
                    path: line.file.to_string(),
                    line: line.lineno,
                    col: 0,
                    severity: Severity::Error,
                    message: format!("too many errors ({MAX_ERRORS}); stopped checking here"),
                });
                break;
            }
            let line = &self.lines[i];
            self.cur = i;
            i += 1;
            if is_blank_or_comment(&line.text) {
                continue;
            }
            let words = match lex::split_words(&line.text, true) {
                Ok(w) => w,
                Err(e) => {
                    self.error(
                        line,
                        e.col,
                        format!("{}: {}", e.message, quote_hint(&line.text)),
                    );
                    continue;
                }
            };
            let Some(first) = words.first() else { continue };
            if first.text.starts_with('%') {
                i = self.section(i - 1, &words);
            } else {
                self.command(line, &words);
            }
        }
        self.check_conflicts();
        self
    }

    fn command(&mut self, line: &Line, words: &[Word]) {
        let origin = Origin {
            file: line.file.to_string(),
            line: line.lineno,
        };
        match commands::handle(&mut self.ks, words, &origin) {
            Ok(h) => {
                for (col, msg) in h.warnings {
                    self.warn(line, col, msg);
                }
                self.track(line, &words[0], h.sticky);
            }
            Err((col, msg)) => self.error(line, col, msg),
        }
    }

    /// Duplicate warnings for single commands and the autopart bookkeeping.
    fn track(&mut self, line: &Line, word: &Word, sticky: Vec<(&'static str, &'static str)>) {
        let name = word.text.as_str();
        let group = match name {
            "text" | "cmdline" | "graphical" => "text/cmdline/graphical",
            "reboot" | "poweroff" | "halt" | "shutdown" => "reboot/poweroff/halt/shutdown",
            n => n,
        };
        if !MULTI.contains(&name) {
            let mut sticky = sticky;
            if let Some(prev) = self.seen.get(group).cloned() {
                let where_ = if prev.file == *line.file {
                    format!("line {}", prev.line)
                } else {
                    format!("{}:{}", prev.file, prev.line)
                };
                // pykickstart would still apply an option of an earlier
                // line that this one leaves out (commands::STICKY).
                if let Some((_, opt)) = prev
                    .sticky
                    .iter()
                    .find(|(d, _)| !sticky.iter().any(|(e, _)| e == d))
                {
                    self.error(
                        line,
                        word.col,
                        format!(
                            "{name}: {name} is already given on {where_}, and this line leaves out its {opt}; Anaconda merges repeated {name} lines (so that {opt} still applies) while Outpost would use only this one: give one {name} line"
                        ),
                    );
                } else {
                    self.warn(
                        line,
                        word.col,
                        format!(
                            "{name}: {group} already given on {where_}; only the last one is used"
                        ),
                    );
                }
                for s in prev.sticky {
                    if !sticky.contains(&s) {
                        sticky.push(s);
                    }
                }
            }
            self.seen.insert(
                group.to_string(),
                Seen {
                    file: line.file.to_string(),
                    line: line.lineno,
                    sticky,
                },
            );
        }
        let (file, lineno, col, cur) = (line.file.to_string(), line.lineno, word.col, self.cur);
        match name {
            "autopart" if self.autopart_at.is_none() => {
                self.autopart_at = Some((file, lineno, col, cur));
            }
            "part" | "partition" | "raid" | "logvol" | "volgroup" | "reqpart"
                if self.manual_at.is_none() =>
            {
                self.manual_at = Some((file, lineno, col, name.to_string(), cur));
            }
            _ => {}
        }
    }

    fn check_conflicts(&mut self) {
        if let (Some(a), Some(m)) = (self.autopart_at.clone(), self.manual_at.clone()) {
            // Report on whichever came second in reading order, as
            // pykickstart does (it raises when it meets the second one).
            let (file, line, col) = if a.3 > m.4 {
                (a.0, a.1, a.2)
            } else {
                (m.0, m.1, m.2)
            };
            let msg = format!(
                "the {} and autopart commands can't be used at the same time; remove autopart to lay out disks by hand, or remove the {} lines",
                m.3, m.3
            );
            self.errors += 1;
            self.diags.push(Diagnostic {
                path: file,
                line,
                col,
                severity: Severity::Error,
                message: msg,
            });
        }
    }

    /// Reads a section starting at `self.lines[start]`; returns the index of
    /// the next line to process.
    fn section(&mut self, start: usize, header: &[Word]) -> usize {
        let line = &self.lines[start];
        let name = header[0].text.as_str();
        if name == "%end" {
            self.error(
                line,
                header[0].col,
                "%end without a matching section header".into(),
            );
            return start + 1;
        }
        if !SECTIONS.contains(&name) {
            let hint = SECTIONS
                .iter()
                .map(|s| (commands::levenshtein(name, s), *s))
                .filter(|(d, _)| *d <= 2)
                .min()
                .map(|(_, s)| format!("; did you mean {s}?"))
                .unwrap_or_default();
            self.error(
                line,
                header[0].col,
                format!("unknown kickstart section: {}{hint}", commands::short(name)),
            );
            // Skip to its %end (if any) so its body is not read as commands.
        }
        let is_script = matches!(
            name,
            "%pre" | "%pre-install" | "%post" | "%onerror" | "%traceback"
        );
        // Collect the body.
        let mut body: Vec<&Line> = Vec::new();
        let mut i = start + 1;
        let mut closed = false;
        while i < self.lines.len() {
            let l = &self.lines[i];
            if !is_script && is_blank_or_comment(&l.text) {
                i += 1;
                continue;
            }
            let t = l.text.trim_start();
            if t.starts_with('%') {
                let first = t.split_whitespace().next().unwrap_or("");
                if first == "%end" || SECTIONS.contains(&first) {
                    match lex::split_words(&l.text, false) {
                        Ok(w) if w.first().is_some_and(|w| w.text == "%end") => {
                            closed = true;
                            i += 1;
                            break;
                        }
                        Ok(w)
                            if w.first()
                                .is_some_and(|w| SECTIONS.contains(&w.text.as_str())) =>
                        {
                            break;
                        }
                        Ok(_) => {}
                        Err(e) => {
                            self.error(l, e.col, format!("{}: {}", e.message, quote_hint(&l.text)));
                            i += 1;
                            continue;
                        }
                    }
                }
            }
            body.push(l);
            i += 1;
        }
        if !closed {
            self.error(
                line,
                header[0].col,
                format!(
                    "section {name} does not end with %end; add a line `%end` after its last line"
                ),
            );
        }
        if !SECTIONS.contains(&name) {
            return i;
        }
        let origin = Origin {
            file: line.file.to_string(),
            line: line.lineno,
        };
        let args = &header[1..];
        match name {
            "%packages" => self.packages(line, name, args, &body),
            "%addon" => self.addon(line, &header[0], args, &body),
            "%anaconda" => {
                if let Some(w) = args.first() {
                    self.error(
                        line,
                        w.col,
                        format!("%anaconda: unexpected argument `{}`", w.text),
                    );
                }
                self.ks.anaconda = Some(body.iter().map(|l| l.text.clone()).collect());
            }
            _ => {
                let kind = match name {
                    "%pre" => ScriptKind::Pre,
                    "%pre-install" => ScriptKind::PreInstall,
                    "%post" => ScriptKind::Post,
                    "%onerror" => ScriptKind::OnError,
                    _ => ScriptKind::Traceback,
                };
                let specs = if kind == ScriptKind::Post {
                    POST_OPTS
                } else {
                    SCRIPT_OPTS
                };
                match parse(name, specs, args) {
                    Ok(a) => {
                        if let Some(w) = a.pos.first() {
                            self.error(
                                line,
                                w.col,
                                format!("{name}: unexpected argument `{}`", w.text),
                            );
                        }
                        let mut text = String::new();
                        for l in &body {
                            text.push_str(&l.text);
                            text.push('\n');
                        }
                        let interpreter = a.str("interpreter").unwrap_or_else(|| "/bin/sh".into());
                        if interpreter.is_empty() {
                            self.error(line, a.col("interpreter").unwrap_or(1), format!("{name}: --interpreter needs a path, e.g. --interpreter=/bin/bash"));
                        }
                        self.ks.scripts.push(Script {
                            kind,
                            interpreter,
                            erroronfail: a.flag("erroronfail"),
                            logfile: a.str("logfile"),
                            nochroot: a.flag("nochroot"),
                            body: text,
                            origin,
                        });
                    }
                    Err((col, msg)) => {
                        let msg = if kind != ScriptKind::Post && msg.contains("--nochroot") {
                            format!("{msg} (--nochroot is only valid on %post)")
                        } else {
                            msg
                        };
                        self.error(line, col, msg);
                    }
                }
            }
        }
        i
    }

    fn packages(&mut self, line: &Line, name: &str, args: &[Word], body: &[&Line]) {
        let a = match parse(name, PACKAGES_OPTS, args) {
            Ok(a) => a,
            Err((col, msg)) => {
                self.error(line, col, msg);
                return;
            }
        };
        if let Some(w) = a.pos.first() {
            self.error(
                line,
                w.col,
                format!("%packages: unexpected argument `{}`", w.text),
            );
        }
        if a.flag("default") && a.flag("nocore") {
            self.error(
                line,
                a.col("nocore").unwrap_or(1),
                "%packages: --default and --nocore cannot be used together".into(),
            );
            return;
        }
        if self.ks.packages.is_some() {
            self.warn(line, 1, "%packages given more than once; the lists are merged and the last header's options are used".into());
        }
        let mut p = self.ks.packages.take().unwrap_or_default();
        p.default = a.flag("default");
        p.excludedocs = a.flag("excludedocs");
        p.ignoremissing = a.flag("ignoremissing");
        p.ignorebroken = a.flag("ignorebroken");
        p.nocore = a.flag("nocore");
        p.exclude_weakdeps = a.flag("exclude_weakdeps");
        p.inst_langs = a.str("inst_langs");
        p.multilib = a.flag("multilib");
        p.retries = a.int("retries").map(|v| v as u32);
        p.timeout = a.int("timeout").map(|v| v as u32);
        for l in body {
            // pykickstart's PackageSection.handleLine: strip a `#` comment
            // and surrounding blanks.
            let item = l.text.split('#').next().unwrap_or("").trim();
            if item.is_empty() {
                continue;
            }
            // `%end#`: pykickstart ends a section only at a first word of
            // exactly `%end`, so it takes this for the package `%end`, which
            // no repository has and which would print back as the end of
            // the section (found by `cargo xtask fuzz kickstart`). Refuse a
            // package that reads as `%end`, a section header or a
            // directive; the author meant the keyword.
            let first = item.split_whitespace().next().unwrap_or("");
            if first == "%end"
                || first == "%include"
                || first == "%ksappend"
                || SECTIONS.contains(&first)
            {
                let indent = l.text.chars().take_while(|c| c.is_whitespace()).count();
                let col = u32::try_from(indent + 1).unwrap_or(u32::MAX);
                self.error(
                    l,
                    col,
                    format!(
                        "%packages: `{}` is not a package; write `{first}` with a space before any `#` comment",
                        l.text.trim()
                    ),
                );
                continue;
            }
            if let Some(env) = item.strip_prefix("@^") {
                p.environment = Some(env.trim().to_string());
            } else if let Some(g) = item.strip_prefix("-@") {
                p.excluded_groups.push(g.trim().to_string());
            } else if let Some(g) = item.strip_prefix('@') {
                p.groups.push(g.trim().to_string());
            } else if let Some(n) = item.strip_prefix('-') {
                p.excluded_packages.push(n.trim().to_string());
            } else {
                p.packages.push(item.to_string());
            }
        }
        self.ks.packages = Some(p);
    }

    fn addon(&mut self, line: &Line, head: &Word, args: &[Word], body: &[&Line]) {
        let Some(name) = args.first() else {
            self.error(
                line,
                head.col,
                "%addon needs a name, e.g. `%addon org_outpost`".into(),
            );
            return;
        };
        if name.text == "org_outpost" {
            if self.ks.outpost.is_some() {
                self.error(
                    line,
                    name.col,
                    "%addon org_outpost given twice; merge the two sections".into(),
                );
                return;
            }
            if let Some(w) = args.get(1) {
                self.error(
                    line,
                    w.col,
                    format!(
                        "%addon org_outpost takes no header options; unexpected `{}`",
                        w.text
                    ),
                );
            }
            let (addon, diags) = addon::parse_addon(body);
            for d in diags {
                if d.is_error() {
                    self.errors += 1;
                    // The addon stops itself after MAX_ERRORS and says so in
                    // one more diagnostic, which is kept.
                    if self.errors > MAX_ERRORS + 1 {
                        continue;
                    }
                }
                self.diags.push(d);
            }
            self.ks.outpost = Some(addon);
        } else {
            self.ks.addons.push(Addon {
                name: name.text.clone(),
                args: args[1..].iter().map(|w| w.text.clone()).collect(),
                body: body.iter().map(|l| l.text.clone()).collect(),
            });
        }
    }
}

/// A hint for a line that does not lex (unclosed quote, trailing `\\`).
fn quote_hint(_text: &str) -> &'static str {
    "close the quote on the same line (kickstart has no line continuation)"
}
