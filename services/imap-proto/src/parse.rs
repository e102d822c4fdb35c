//! I/O-free, incremental IMAP command framing and tokenising.
//!
//! Bytes go in with [`Reader::feed`]; [`Reader::next_event`] returns a complete
//! command (all its lines and literals), a request to send a continuation
//! (`+ OK`, for a synchronising literal, RFC 9051 §4.3), a protocol error,
//! or nothing yet (`Incomplete` is normal). Lines and literals are bounded.
//!
//! Why hand-written instead of `imap-codec`: imapd interprets FETCH, SEARCH
//! and STORE arguments straight into the store's own types and needs a
//! framer that knows about LITERAL+/literal8 limits and AUTHENTICATE/IDLE
//! raw lines; a small generic tokenizer (atoms, strings, literals, lists,
//! bracketed section specs) plus per-command interpretation was smaller than
//! mapping imap-types' full model, and keeps parsing panic-free by design
//! (checked with proptest and a chunked replay test).

/// One token of a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tok {
    /// An atom (also numbers, sequence sets, `\Flags`, `BODY[...]<..>`).
    Atom(String),
    /// A quoted string or a literal.
    Str(Vec<u8>),
    /// A parenthesised list.
    List(Vec<Tok>),
}

impl Tok {
    /// The token as text (atoms and strings); lossy for non-UTF-8 strings.
    pub fn text(&self) -> Option<String> {
        match self {
            Tok::Atom(a) => Some(a.clone()),
            Tok::Str(s) => Some(String::from_utf8_lossy(s).into_owned()),
            Tok::List(_) => None,
        }
    }

    /// Whether this is the atom `name` (ASCII case-insensitive).
    pub fn is(&self, name: &str) -> bool {
        matches!(self, Tok::Atom(a) if a.eq_ignore_ascii_case(name))
    }
}

/// A parsed command line: tag, upper-cased command name, arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tokens {
    /// The client's tag.
    pub tag: String,
    /// The command name, upper case (`UID FETCH` is `UID` + args).
    pub name: String,
    /// The arguments.
    pub args: Vec<Tok>,
}

/// What the reader found.
#[derive(Debug, PartialEq, Eq)]
pub enum Event {
    /// A complete command frame (pass it to [`tokenize`]).
    Frame(Vec<u8>),
    /// Send `+ OK` now: the client waits before sending a literal.
    Continue,
    /// A synchronising literal over the limit: reply `tag NO [TOOBIG]`; the
    /// client will not send it, and the line was dropped.
    TooBig(String),
    /// Unrecoverable framing error (line too long, oversized non-synchronising
    /// literal): reply BYE and close.
    Fatal(String),
}

/// Incremental framer with line and literal limits.
#[derive(Debug)]
pub struct Reader {
    buf: Vec<u8>,
    max_line: usize,
    max_literal: u64,
    /// Largest whole command: every line and literal of one frame (#4: a
    /// literal may announce another, so without this a never-finished
    /// command grows without end).
    max_command: u64,
    /// Offset up to which the current frame is known complete.
    scanned: usize,
    /// Frame offset for which `+ OK` was already requested.
    continued: Option<usize>,
}

/// A literal announcement at the end of a line: `{n}`, `{n+}`, `~{n}`.
fn literal_at_end(line: &[u8]) -> Option<(u64, bool)> {
    let line = line.strip_suffix(b"}")?;
    let open = memchr::memrchr(b'{', line)?;
    let inner = &line[open + 1..];
    let (digits, plus) = match inner
        .strip_suffix(b"+")
        .or_else(|| inner.strip_suffix(b"-"))
    {
        Some(d) => (d, true),
        None => (inner, false),
    };
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some((n, plus))
}

impl Reader {
    /// A reader with the given limits: longest line, largest literal and
    /// largest command (lines and literals together).
    pub fn new(max_line: usize, max_literal: u64, max_command: u64) -> Reader {
        Reader {
            buf: Vec::new(),
            max_line,
            max_literal,
            max_command,
            scanned: 0,
            continued: None,
        }
    }

    /// New literal and command limits, from the next literal on (the
    /// session raises them once the client has logged in).
    pub fn set_limits(&mut self, max_literal: u64, max_command: u64) {
        self.max_literal = max_literal;
        self.max_command = max_command;
    }

    /// Adds received bytes.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes buffered but not yet consumed.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Takes one raw CRLF-terminated line (AUTHENTICATE responses, IDLE's
    /// DONE, POP3 commands), without the line ending. A line longer than
    /// the limit (its ending not counted) is an error whether or not its
    /// end has arrived: the bound does not depend on how the bytes were
    /// split into reads. After an error the input is dropped (the caller
    /// ends the connection).
    pub fn take_line(&mut self) -> Result<Option<Vec<u8>>, String> {
        match memchr::memchr(b'\n', &self.buf) {
            Some(i)
                if i.saturating_sub(usize::from(i > 0 && self.buf[i - 1] == b'\r'))
                    > self.max_line =>
            {
                self.buf.clear();
                self.scanned = 0;
                self.continued = None;
                Err("line too long".into())
            }
            Some(i) => {
                let mut line: Vec<u8> = self.buf.drain(..=i).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                self.scanned = 0;
                self.continued = None;
                Ok(Some(line))
            }
            None if self.buf.len() > self.max_line.saturating_add(1) => {
                self.buf.clear();
                self.scanned = 0;
                Err("line too long".into())
            }
            None => Ok(None),
        }
    }

    /// A fatal error: the connection ends, so the input is dropped.
    fn fatal(&mut self, m: &str) -> Event {
        self.buf.clear();
        self.scanned = 0;
        Event::Fatal(m.into())
    }

    /// The next event, or `None` when more bytes are needed.
    pub fn next_event(&mut self) -> Option<Event> {
        loop {
            let rest = &self.buf[self.scanned..];
            let Some(nl) = memchr::memchr(b'\n', rest) else {
                if rest.len() > self.max_line {
                    return Some(self.fatal("command line too long"));
                }
                return None;
            };
            if nl > self.max_line {
                return Some(self.fatal("command line too long"));
            }
            let mut line = &rest[..nl];
            if line.last() == Some(&b'\r') {
                line = &line[..line.len() - 1];
            }
            let line_end = self.scanned + nl + 1;
            if line_end as u64 > self.max_command {
                return Some(self.fatal("command too long"));
            }
            match literal_at_end(line) {
                None => {
                    let frame: Vec<u8> = self.buf.drain(..line_end).collect();
                    self.scanned = 0;
                    self.continued = None;
                    return Some(Event::Frame(frame));
                }
                Some((n, plus)) => {
                    let total = (line_end as u64).saturating_add(n);
                    if n > self.max_literal || total > self.max_command {
                        if plus {
                            return Some(self.fatal(if n > self.max_literal {
                                "literal too big"
                            } else {
                                "command too long"
                            }));
                        }
                        let frame: Vec<u8> = self.buf.drain(..line_end).collect();
                        self.scanned = 0;
                        self.continued = None;
                        let tag = frame.split(|b| *b == b' ').next().unwrap_or_default();
                        return Some(Event::TooBig(String::from_utf8_lossy(tag).into_owned()));
                    }
                    // Both fit in memory: n ≤ max_literal and the total ≤
                    // max_command were checked above.
                    let need = total as usize;
                    if self.buf.len() >= need {
                        self.scanned = need;
                        continue;
                    }
                    if !plus && self.continued != Some(line_end) {
                        self.continued = Some(line_end);
                        return Some(Event::Continue);
                    }
                    return None;
                }
            }
        }
    }
}

/// Splits a complete frame into tokens. Errors are BAD replies.
pub fn tokenize(frame: &[u8]) -> Result<Vec<Tok>, String> {
    let mut p = Lexer { s: frame, i: 0 };
    let mut stack: Vec<Vec<Tok>> = vec![Vec::new()];
    loop {
        p.skip_spaces();
        let Some(c) = p.peek() else { break };
        match c {
            b'\r' | b'\n' => {
                p.i += 1;
            }
            b'(' => {
                p.i += 1;
                if stack.len() > 32 {
                    return Err("lists nested too deeply".into());
                }
                stack.push(Vec::new());
            }
            b')' => {
                p.i += 1;
                if stack.len() < 2 {
                    return Err("unbalanced )".into());
                }
                let l = stack.pop().unwrap_or_default();
                if let Some(top) = stack.last_mut() {
                    top.push(Tok::List(l));
                }
            }
            b'"' => {
                let s = p.quoted()?;
                if let Some(top) = stack.last_mut() {
                    top.push(Tok::Str(s));
                }
            }
            b'{' | b'~' if p.literal_start() => {
                let s = p.literal()?;
                if let Some(top) = stack.last_mut() {
                    top.push(Tok::Str(s));
                }
            }
            _ => {
                let a = p.atom()?;
                if let Some(top) = stack.last_mut() {
                    top.push(Tok::Atom(a));
                }
            }
        }
    }
    if stack.len() != 1 {
        return Err("unbalanced (".into());
    }
    Ok(stack.pop().unwrap_or_default())
}

/// Tokenizes a frame into [`Tokens`]; on error returns the tag (if any)
/// and the message for a BAD reply.
pub fn parse_command(frame: &[u8]) -> Result<Tokens, (String, String)> {
    let tag = frame
        .split(|b| *b == b' ' || *b == b'\r' || *b == b'\n')
        .next()
        .map(|t| String::from_utf8_lossy(t).into_owned())
        .unwrap_or_default();
    let toks = tokenize(frame).map_err(|e| (tag.clone(), e))?;
    let mut it = toks.into_iter();
    let tag = match it.next() {
        Some(Tok::Atom(t)) if !t.contains(['+', '*']) => t,
        _ => return Err(("*".into(), "missing or invalid tag".into())),
    };
    let name = match it.next() {
        Some(Tok::Atom(n)) => n.to_ascii_uppercase(),
        _ => return Err((tag, "missing command".into())),
    };
    Ok(Tokens {
        tag,
        name,
        args: it.collect(),
    })
}

struct Lexer<'a> {
    s: &'a [u8],
    i: usize,
}

impl Lexer<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn skip_spaces(&mut self) {
        while self.peek() == Some(b' ') {
            self.i += 1;
        }
    }

    fn literal_start(&self) -> bool {
        let rest = &self.s[self.i..];
        rest.starts_with(b"{") || rest.starts_with(b"~{")
    }

    fn quoted(&mut self) -> Result<Vec<u8>, String> {
        self.i += 1;
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None | Some(b'\r') | Some(b'\n') => return Err("unterminated quoted string".into()),
                Some(b'"') => {
                    self.i += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.i += 1;
                    match self.peek() {
                        Some(c @ (b'\\' | b'"')) => {
                            out.push(c);
                            self.i += 1;
                        }
                        _ => return Err("bad escape in quoted string".into()),
                    }
                }
                Some(c) => {
                    out.push(c);
                    self.i += 1;
                }
            }
        }
    }

    fn literal(&mut self) -> Result<Vec<u8>, String> {
        if self.peek() == Some(b'~') {
            self.i += 1;
        }
        let close = memchr::memchr(b'}', &self.s[self.i..]).ok_or("bad literal")? + self.i;
        let inner = &self.s[self.i + 1..close];
        let digits = inner
            .strip_suffix(b"+")
            .or_else(|| inner.strip_suffix(b"-"))
            .unwrap_or(inner);
        let n: usize = std::str::from_utf8(digits)
            .ok()
            .and_then(|d| d.parse().ok())
            .ok_or("bad literal length")?;
        let mut j = close + 1;
        if self.s.get(j) == Some(&b'\r') {
            j += 1;
        }
        if self.s.get(j) != Some(&b'\n') {
            return Err("literal must end its line".into());
        }
        j += 1;
        let end = j
            .checked_add(n)
            .filter(|e| *e <= self.s.len())
            .ok_or("short literal")?;
        self.i = end;
        Ok(self.s[j..end].to_vec())
    }

    fn atom(&mut self) -> Result<String, String> {
        let start = self.i;
        let mut depth = 0usize;
        while let Some(c) = self.peek() {
            match c {
                b'[' => depth += 1,
                b']' if depth > 0 => depth -= 1,
                // Inside BODY[HEADER.FIELDS (A B)] spaces and parens belong
                // to the atom (RFC 9051 §6.4.5 section-spec).
                b' ' | b'(' | b')' if depth > 0 => {}
                b' ' | b'(' | b')' | b'"' | b'{' | b'\r' | b'\n' => break,
                c if c < 0x20 || c == 0x7f => return Err("control character in atom".into()),
                _ => {}
            }
            self.i += 1;
        }
        if self.i == start {
            return Err(format!(
                "unexpected character {:?}",
                self.peek().map(char::from)
            ));
        }
        String::from_utf8(self.s[start..self.i].to_vec()).map_err(|_| "atom is not UTF-8".into())
    }
}
