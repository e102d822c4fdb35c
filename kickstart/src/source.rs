//! Reading answer files and expanding `%include` and `%ksappend`.
//!
//! pykickstart expands `%ksappend URL` in a pre-pass and `%include PATH`
//! while parsing (at top level and inside sections, where a `%include` line
//! is the one `%`-line a script does not keep as text). Both end up splicing
//! the named file's lines in place of the directive, so this module does both
//! in one pass and keeps, for every line, the file and line number it came
//! from, so diagnostics point into the included file.
//!
//! Differences from pykickstart, on purpose: a relative path is resolved from
//! the directory of the including file (pykickstart uses the installer's
//! working directory, which is meaningless offline); only local paths are
//! read (no `http:`/`nfs:` fetches: this crate does no network I/O); depth
//! and total size are bounded, and an include cycle is an error.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::diag::{Diagnostic, Severity};
use crate::lex;

/// Deepest `%include`/`%ksappend` nesting accepted.
pub const MAX_INCLUDE_DEPTH: usize = 16;
/// Largest total input (all files together) accepted, in bytes.
pub const MAX_INPUT_BYTES: usize = 16 * 1024 * 1024;
/// Most lines accepted (all files together).
pub const MAX_LINES: usize = 1_000_000;

/// One physical line of input with where it came from.
#[derive(Debug, Clone)]
pub struct Line {
    /// Path of the file the line is in.
    pub file: Arc<str>,
    /// 1-based line number in that file.
    pub lineno: u32,
    /// The line without its line ending.
    pub text: String,
}

pub(crate) struct Loader {
    pub lines: Vec<Line>,
    pub diags: Vec<Diagnostic>,
    total: usize,
    stack: Vec<PathBuf>,
}

fn err(file: &str, line: u32, col: u32, message: String) -> Diagnostic {
    Diagnostic {
        path: file.to_string(),
        line,
        col,
        severity: Severity::Error,
        message,
    }
}

impl Loader {
    pub fn new() -> Self {
        Loader {
            lines: Vec::new(),
            diags: Vec::new(),
            total: 0,
            stack: Vec::new(),
        }
    }

    /// Reads a file from disk and expands it.
    pub fn load_file(&mut self, path: &Path) {
        let display: Arc<str> = path.display().to_string().into();
        match read_text(path) {
            Ok(text) => {
                let canon = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
                self.stack.push(canon);
                self.expand(&display, path, &text);
                self.stack.pop();
            }
            Err(msg) => self.diags.push(err(&display, 0, 0, msg)),
        }
    }

    /// Expands text that claims to come from `name`.
    pub fn load_str(&mut self, name: &str, text: &str) {
        let display: Arc<str> = name.into();
        if text.len() > MAX_INPUT_BYTES {
            self.diags.push(err(name, 0, 0, too_big()));
            return;
        }
        self.expand(&display, Path::new(name), text);
    }

    fn expand(&mut self, file: &Arc<str>, path: &Path, text: &str) {
        self.total += text.len();
        if self.total > MAX_INPUT_BYTES {
            self.diags.push(err(file, 0, 0, too_big()));
            return;
        }
        for (i, raw) in lex::split_lines(text).into_iter().enumerate() {
            let lineno = u32::try_from(i + 1).unwrap_or(u32::MAX);
            if self.lines.len() >= MAX_LINES {
                self.diags.push(err(
                    file,
                    lineno,
                    0,
                    format!("too many lines (limit {MAX_LINES})"),
                ));
                return;
            }
            let trimmed = raw.trim_start();
            let directive = ["%include", "%ksappend"].into_iter().find(|d| {
                trimmed.starts_with(d)
                    && trimmed[d.len()..]
                        .chars()
                        .next()
                        .is_none_or(|c| c.is_whitespace())
            });
            if let Some(directive) = directive {
                self.directive(file, path, lineno, raw, directive);
                continue;
            }
            self.lines.push(Line {
                file: file.clone(),
                lineno,
                text: raw.to_string(),
            });
        }
    }

    fn directive(&mut self, file: &Arc<str>, path: &Path, lineno: u32, raw: &str, directive: &str) {
        let words = match lex::split_words(raw, true) {
            Ok(w) => w,
            Err(e) => {
                self.diags.push(err(
                    file,
                    lineno,
                    e.col,
                    format!("{directive}: {}", e.message),
                ));
                return;
            }
        };
        let Some(target) = words.get(1).filter(|w| !w.text.is_empty()) else {
            let col = words.first().map_or(1, |w| w.col);
            self.diags.push(err(
                file,
                lineno,
                col,
                format!("{directive} needs a file name, e.g. `{directive} /path/to/part.ks`"),
            ));
            return;
        };
        if let Some(extra) = words.get(2) {
            self.diags.push(err(
                file,
                lineno,
                extra.col,
                format!(
                    "{directive} takes one file name; unexpected `{}`",
                    extra.text
                ),
            ));
            return;
        }
        let mut spec = target.text.as_str();
        if let Some(rest) = spec.strip_prefix("file://") {
            spec = rest;
        } else if spec.contains("://") {
            self.diags.push(err(
                file,
                lineno,
                target.col,
                format!(
                    "{directive} {spec}: only local files can be included (no network access \
                     during install); copy the file next to the answer file"
                ),
            ));
            return;
        }
        let resolved = if Path::new(spec).is_absolute() {
            PathBuf::from(spec)
        } else {
            path.parent().unwrap_or(Path::new("")).join(spec)
        };
        if self.stack.len() >= MAX_INCLUDE_DEPTH {
            self.diags.push(err(
                file,
                lineno,
                target.col,
                format!("{directive} {spec}: nested too deep (limit {MAX_INCLUDE_DEPTH} levels)"),
            ));
            return;
        }
        let canon = resolved.canonicalize().unwrap_or_else(|_| resolved.clone());
        if self.stack.contains(&canon) {
            self.diags.push(err(
                file,
                lineno,
                target.col,
                format!(
                    "{directive} {spec}: include cycle ({} includes itself)",
                    resolved.display()
                ),
            ));
            return;
        }
        let shown: Arc<str> = resolved.display().to_string().into();
        match read_text(&resolved) {
            Ok(text) => {
                self.stack.push(canon);
                self.expand(&shown, &resolved, &text);
                self.stack.pop();
            }
            Err(msg) => {
                self.diags
                    .push(err(file, lineno, target.col, format!("{directive}: {msg}")))
            }
        }
    }
}

fn too_big() -> String {
    format!(
        "input too large (limit {} MiB)",
        MAX_INPUT_BYTES / (1024 * 1024)
    )
}

/// Reads a whole file as UTF-8, bounded in size.
fn read_text(path: &Path) -> Result<String, String> {
    use std::io::Read;
    let file =
        std::fs::File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(MAX_INPUT_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if bytes.len() > MAX_INPUT_BYTES {
        return Err(format!("{}: {}", path.display(), too_big()));
    }
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "{} is not UTF-8 text (invalid byte at offset {})",
            path.display(),
            e.utf8_error().valid_up_to()
        )
    })
}
