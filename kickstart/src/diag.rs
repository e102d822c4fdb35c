//! Diagnostics: errors and warnings pinned to a file, line and column.
//!
//! They print as `PATH:LINE:COL: error: MESSAGE` (or `warning:`), the format
//! compilers use, so editors jump to the spot. PATH is the file the problem
//! is in, which for an `%include`d file is the included file, not the top one.

use std::fmt;

/// How bad a diagnostic is. Warnings never make a file invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The file is invalid.
    Error,
    /// The file is valid but probably not what the admin meant.
    Warning,
}

/// One error or warning at a position in an answer file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    /// Path of the file the problem is in, as given (or as resolved for
    /// `%include`).
    pub path: String,
    /// 1-based line number (0 when the problem concerns the whole file).
    pub line: u32,
    /// 1-based column in characters (0 when not known).
    pub col: u32,
    /// Error or warning.
    pub severity: Severity,
    /// What is wrong, naming the command/option, and the fix where one exists.
    pub message: String,
}

impl Diagnostic {
    /// Whether this is an error (as opposed to a warning).
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(
            f,
            "{}:{}:{}: {}: {}",
            self.path, self.line, self.col, sev, self.message
        )
    }
}

/// All diagnostics of a failed parse: at least one error, plus any warnings,
/// in file order.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct Diagnostics {
    /// Every diagnostic, errors and warnings, in the order they were found.
    pub items: Vec<Diagnostic>,
}

impl Diagnostics {
    /// The errors only.
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items.iter().filter(|d| d.is_error())
    }

    /// The first error (a failed parse always has one).
    pub fn first_error(&self) -> Option<&Diagnostic> {
        self.errors().next()
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.items.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}
