//! Outpost's kickstart library: parse, validate, print and render answer
//! files with Anaconda's pykickstart semantics.
//!
//! Answer files are Kickstart files, the format RHEL/Fedora admins already
//! know. [`parse_file`]/[`parse_str`] lex each line like Python's
//! `shlex.split(line, comments=True)`, expand `%include`/`%ksappend`, read
//! the sections and commands into a typed [`Kickstart`] (with Outpost's own
//! settings from `%addon org_outpost` in [`Kickstart::outpost`]) and report
//! problems as `PATH:LINE:COL: error: MESSAGE`. [`print::flatten`] prints
//! the canonical form (what `ksflatten` shows); [`render`] turns a site YAML
//! into an answer file through tera templates and validates the result.
//!
//! **API boundary:** this crate knows nothing about disks, partitions on real
//! hardware, or daemons; its only I/O is reading the answer files it is
//! given (and their includes).

#![deny(missing_docs)]

mod addon;
mod commands;
pub mod diag;
pub mod lex;
pub mod model;
mod opts;
mod parser;
pub mod passwords;
pub mod print;
pub mod render;
mod source;

use std::path::Path;

pub use addon::{format_size, parse_size};
pub use diag::{Diagnostic, Diagnostics, Severity};
pub use model::*;
pub use source::{MAX_INCLUDE_DEPTH, MAX_INPUT_BYTES, MAX_LINES};

/// A successfully parsed answer file and the warnings it produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    /// The typed model.
    pub kickstart: Kickstart,
    /// Warnings (never make the file invalid).
    pub warnings: Vec<Diagnostic>,
}

/// Parses and validates an answer file from disk (includes are resolved
/// relative to it).
pub fn parse_file(path: &Path) -> Result<Parsed, Diagnostics> {
    let mut loader = source::Loader::new();
    loader.load_file(path);
    finish(loader)
}

/// Parses and validates answer-file text; `name` is used in diagnostics and
/// relative `%include`s are resolved from its directory.
pub fn parse_str(name: &str, text: &str) -> Result<Parsed, Diagnostics> {
    let mut loader = source::Loader::new();
    loader.load_str(name, text);
    finish(loader)
}

fn finish(loader: source::Loader) -> Result<Parsed, Diagnostics> {
    let mut diags = loader.diags;
    let p = parser::Parser::new(&loader.lines).run();
    diags.extend(p.diags);
    // Report in reading order: files in the order they were first read,
    // lines in order within a file (a missing %include on line 9 comes
    // after an error on line 3). The sort is stable, so diagnostics on the
    // same line keep the order they were found in.
    let mut rank: Vec<&str> = Vec::new();
    for l in &loader.lines {
        if rank.last() != Some(&&*l.file) && !rank.contains(&&*l.file) {
            rank.push(&l.file);
        }
    }
    let key = |d: &Diagnostic| {
        (
            rank.iter().position(|f| *f == d.path).unwrap_or(usize::MAX),
            d.line,
        )
    };
    diags.sort_by_key(key);
    if diags.iter().any(Diagnostic::is_error) {
        Err(Diagnostics { items: diags })
    } else {
        Ok(Parsed {
            kickstart: p.ks,
            warnings: diags,
        })
    }
}
