//! Line splitting and word splitting exactly as pykickstart does them.
//!
//! pykickstart reads a file with Python's `str.splitlines(True)` and splits
//! every line with `shlex.split(line, comments=True)` in POSIX mode. Both are
//! re-implemented here (rather than using a shell-words crate) because the
//! differences matter to admins: Python's `splitlines` also breaks on `\v`,
//! `\f`, `\x1c`–`\x1e`, `\x85`, U+2028 and U+2029; `shlex` treats only
//! space, tab, CR and LF as whitespace, starts a comment at an unquoted `#`
//! even in the middle of a word, keeps a backslash inside double quotes unless
//! it escapes `"` or `\`, and has no line continuation (kickstart never joins
//! lines). Columns are 1-based and count Unicode scalar values.
//!
//! One deliberate difference: pykickstart hands `shlex` each line *with* its
//! line ending, so a backslash at the end of a line escapes the newline and
//! the word silently gains a `\n`; here the line ending is not part of the
//! line and such a backslash is an error (`no escaped character`), because
//! no kickstart value can meaningfully contain a line break.

/// One word of a line, with the column (1-based, in characters) where it
/// starts in the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    /// The word after quote removal and escape processing.
    pub text: String,
    /// 1-based column of the word's first character in the line.
    pub col: u32,
}

/// A lexing error: what went wrong and at which column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LexError {
    /// 1-based column of the offending character (the opening quote or the
    /// trailing backslash).
    pub col: u32,
    /// Human-readable message, the same words as Python's `shlex`.
    pub message: String,
}

/// Splits text into lines like Python's `str.splitlines()` (line ends are
/// dropped). A final line ending does not produce an empty extra line.
pub fn split_lines(text: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut start = 0;
    let mut iter = text.char_indices().peekable();
    while let Some((i, c)) = iter.next() {
        let is_break = matches!(
            c,
            '\n' | '\r'
                | '\x0b'
                | '\x0c'
                | '\x1c'
                | '\x1d'
                | '\x1e'
                | '\u{85}'
                | '\u{2028}'
                | '\u{2029}'
        );
        if is_break {
            lines.push(&text[start..i]);
            let mut end = i + c.len_utf8();
            if c == '\r'
                && let Some(&(_, '\n')) = iter.peek()
            {
                iter.next();
                end += 1;
            }
            start = end;
        }
    }
    if start < text.len() {
        lines.push(&text[start..]);
    }
    lines
}

/// `shlex` whitespace in POSIX mode.
fn is_ws(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// Splits one line like `shlex.split(line, comments)` in POSIX mode.
pub fn split_words(line: &str, comments: bool) -> Result<Vec<Word>, LexError> {
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        Space,
        Word,
        Quote(char),
        Escape,
    }
    let mut words = Vec::new();
    let mut state = State::Space;
    // State to return to after a backslash escape, and the column of the
    // construct that is still open (for error messages).
    let mut escaped_from = State::Word;
    let mut open_col = 0u32;
    let mut token = String::new();
    let mut start_col = 0u32;
    let mut col = 0u32;
    for c in line.chars() {
        col += 1;
        match state {
            State::Space => {
                if is_ws(c) {
                    continue;
                }
                if comments && c == '#' {
                    break;
                }
                start_col = col;
                match c {
                    '\\' => {
                        escaped_from = State::Word;
                        open_col = col;
                        state = State::Escape;
                    }
                    '\'' | '"' => {
                        open_col = col;
                        state = State::Quote(c);
                    }
                    _ => {
                        token.push(c);
                        state = State::Word;
                    }
                }
            }
            State::Word => {
                if is_ws(c) {
                    words.push(Word {
                        text: std::mem::take(&mut token),
                        col: start_col,
                    });
                    state = State::Space;
                } else if comments && c == '#' {
                    // shlex discards the rest of the line and ends the word.
                    words.push(Word {
                        text: std::mem::take(&mut token),
                        col: start_col,
                    });
                    state = State::Space;
                    break;
                } else if c == '\'' || c == '"' {
                    open_col = col;
                    state = State::Quote(c);
                } else if c == '\\' {
                    escaped_from = State::Word;
                    open_col = col;
                    state = State::Escape;
                } else {
                    token.push(c);
                }
            }
            State::Quote(q) => {
                if c == q {
                    state = State::Word;
                } else if q == '"' && c == '\\' {
                    escaped_from = state;
                    state = State::Escape;
                } else {
                    token.push(c);
                }
            }
            State::Escape => {
                // Inside double quotes only the quote and the backslash itself
                // may be escaped; otherwise the backslash is kept.
                if let State::Quote(q) = escaped_from
                    && c != q
                    && c != '\\'
                {
                    token.push('\\');
                }
                token.push(c);
                state = escaped_from;
            }
        }
    }
    match state {
        State::Space => {}
        State::Word => words.push(Word {
            text: token,
            col: start_col,
        }),
        State::Quote(_) => {
            return Err(LexError {
                col: open_col,
                message: "no closing quotation".into(),
            });
        }
        State::Escape => {
            return Err(LexError {
                col: open_col,
                message: "no escaped character".into(),
            });
        }
    }
    Ok(words)
}

/// Quotes a word so that [`split_words`] gives it back unchanged (Python's
/// `shlex.quote`): safe words stay bare, anything else is single-quoted.
pub fn quote(word: &str) -> String {
    let safe = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "@%+=:,./-_".contains(c));
    if safe {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\"'\"'"))
    }
}

/// Quotes a value for a `--opt="value"` position the way pykickstart prints
/// it: inside double quotes, with `"` and `\` escaped so that `shlex` gives
/// the value back. A `#` inside quotes is not a comment.
pub fn dquote(value: &str) -> String {
    let mut s = String::with_capacity(value.len() + 2);
    s.push('"');
    for c in value.chars() {
        if c == '"' || c == '\\' {
            s.push('\\');
        }
        s.push(c);
    }
    s.push('"');
    s
}
