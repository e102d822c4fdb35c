//! Typed POP3 commands (RFC 1939, with CAPA/TOP/UIDL from RFC 2449, STLS
//! from RFC 2595 and AUTH from RFC 5034): one line, without its CRLF,
//! becomes a [`Pop3Command`] or a [`Pop3Error`], and the session in imapd
//! matches on the enum.
//!
//! The syntax is exactly what imapd's session has always accepted, so that
//! clients see no difference:
//!
//! - the line splits at single spaces (not tabs, not runs of spaces: `RETR
//!   ␣␣1` has an empty first argument), into the verb, a first argument and
//!   the rest of the line;
//! - the verb is matched without regard to ASCII case; an empty line and
//!   an unknown verb are [`Pop3Error::Unknown`];
//! - arguments nobody reads are ignored (`STAT junk` is `STAT`);
//! - a message number is ASCII digits only (RFC 1939 §3: `msg` is a
//!   number; no sign, so `RETR +1` is refused as Dovecot refuses it); one
//!   beyond `u64::MAX` is no number at all, and 0 or one beyond
//!   `u32::MAX` names no message;
//! - TOP's line count is the same kind of number, with ASCII spaces and
//!   tabs around it ignored (never Unicode whitespace).
//!
//! The state a command needs (AUTHORIZATION or TRANSACTION, RFC 1939 §3)
//! is the session's to check, and it checks it before it looks at a
//! [`Pop3Error`]: every error but [`Pop3Error::Unknown`] belongs to a
//! TRANSACTION-state command. The line's length is bounded by the framing
//! ([`crate::parse::Reader`]), not here.

use std::fmt;

/// One POP3 command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pop3Command {
    /// `CAPA` (RFC 2449 §5).
    Capa,
    /// `QUIT`: leaves, and in the TRANSACTION state enters UPDATE.
    Quit,
    /// `NOOP`.
    Noop,
    /// `STLS` (RFC 2595 §4).
    Stls,
    /// `USER name`: the first argument, `None` for a bare `USER` (which the
    /// session answers `+OK` and then refuses the PASS), `Some("")` for
    /// `USER ` with nothing after the space.
    User(Option<String>),
    /// `PASS password`: the rest of the line after the first space, spaces
    /// included (leading, inner and trailing); empty for a bare `PASS`.
    Pass(String),
    /// A bare `AUTH`: list the SASL mechanisms (the pre-RFC 5034 form that
    /// clients still probe with).
    AuthList,
    /// `AUTH mechanism [initial-response]` (RFC 5034 §4).
    Auth {
        /// The mechanism as sent (the session compares it without regard
        /// to case); empty for `AUTH ` with nothing after the space.
        mechanism: String,
        /// The rest of the line after the mechanism, as sent: `None` when
        /// the line ends after the mechanism (the session sends `+ ` and
        /// reads the response), `Some("")` when a space follows it.
        initial: Option<String>,
    },
    /// `STAT`.
    Stat,
    /// `LIST [msg]`.
    List(Option<u32>),
    /// `UIDL [msg]` (RFC 1939 §7).
    Uidl(Option<u32>),
    /// `RETR msg`.
    Retr(u32),
    /// `DELE msg`.
    Dele(u32),
    /// `TOP msg n` (RFC 1939 §7): the header and the first `lines` lines of
    /// the body.
    Top {
        /// The message number (1-based).
        msg: u32,
        /// How many body lines.
        lines: u64,
    },
    /// `RSET`.
    Rset,
}

/// Why a line is not a [`Pop3Command`]. Each kind maps to one `-ERR` reply
/// of imapd's session (named below), once the session has checked that
/// the command is allowed in its state at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pop3Error {
    /// An empty line or a verb this server does not implement
    /// (`-ERR unknown command or wrong state`).
    Unknown,
    /// `verb` (LIST, UIDL, RETR, DELE or TOP, upper case) has no message
    /// number where one is needed, or one that is not a number `usize`
    /// holds (`-ERR message number required`).
    NumberRequired {
        /// The command.
        verb: &'static str,
    },
    /// `verb` names a message that no maildrop has: 0, or a number beyond
    /// `u32::MAX` (`-ERR no such message`).
    NoSuchMessage {
        /// The command.
        verb: &'static str,
    },
    /// TOP with a good message number but no line count, or one that is
    /// not a number (`-ERR TOP msg lines`). The message number is kept
    /// because the session checks it against the maildrop first.
    LinesRequired {
        /// The message number.
        msg: u32,
    },
}

impl fmt::Display for Pop3Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pop3Error::Unknown => f.write_str("unknown command"),
            Pop3Error::NumberRequired { verb } => write!(f, "{verb}: message number required"),
            Pop3Error::NoSuchMessage { verb } => {
                write!(f, "{verb}: no such message (1 to {})", u32::MAX)
            }
            Pop3Error::LinesRequired { msg } => write!(f, "TOP {msg}: line count required"),
        }
    }
}

impl std::error::Error for Pop3Error {}

/// Parses one POP3 command line (without its CRLF). Never panics; the cost
/// is linear in the line's length.
pub fn parse_pop3(line: &str) -> Result<Pop3Command, Pop3Error> {
    let mut parts = line.splitn(3, ' ');
    let verb = parts.next().unwrap_or("");
    let a1 = parts.next();
    let a2 = parts.next();
    // Every verb has at most four letters: a longer one is unknown without
    // copying it.
    if verb.len() > 4 {
        return Err(Pop3Error::Unknown);
    }
    Ok(match verb.to_ascii_uppercase().as_str() {
        "CAPA" => Pop3Command::Capa,
        "QUIT" => Pop3Command::Quit,
        "NOOP" => Pop3Command::Noop,
        "STLS" => Pop3Command::Stls,
        "USER" => Pop3Command::User(a1.map(str::to_string)),
        // The verb is four ASCII letters, so the first space (if any) is
        // byte 4: the password is everything after it.
        "PASS" => Pop3Command::Pass(line.split_once(' ').map_or("", |(_, p)| p).to_string()),
        "AUTH" => match a1 {
            None => Pop3Command::AuthList,
            Some(m) => Pop3Command::Auth {
                mechanism: m.to_string(),
                initial: a2.map(str::to_string),
            },
        },
        "STAT" => Pop3Command::Stat,
        "LIST" => Pop3Command::List(a1.map(|a| number("LIST", Some(a))).transpose()?),
        "UIDL" => Pop3Command::Uidl(a1.map(|a| number("UIDL", Some(a))).transpose()?),
        "RETR" => Pop3Command::Retr(number("RETR", a1)?),
        "DELE" => Pop3Command::Dele(number("DELE", a1)?),
        "TOP" => {
            let msg = number("TOP", a1)?;
            // The rest of the line, trimmed: `TOP 1 5 ` and `TOP 1  5` ask
            // for five lines, `TOP 1 5 6` for none that parses.
            let lines = a2
                .and_then(|n| digits(n.trim_matches([' ', '\t'])))
                .ok_or(Pop3Error::LinesRequired { msg })?;
            Pop3Command::Top { msg, lines }
        }
        "RSET" => Pop3Command::Rset,
        _ => return Err(Pop3Error::Unknown),
    })
}

/// A decimal number of ASCII digits only (no sign, no spaces), if `u64`
/// holds it.
fn digits(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// A message number: [`digits`] (an overflow is "required", not "no
/// such"), then 0 and anything beyond `u32::MAX` name no message.
fn number(verb: &'static str, arg: Option<&str>) -> Result<u32, Pop3Error> {
    let n = arg
        .and_then(digits)
        .ok_or(Pop3Error::NumberRequired { verb })?;
    match u32::try_from(n) {
        Ok(n) if n != 0 => Ok(n),
        _ => Err(Pop3Error::NoSuchMessage { verb }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Pop3Command as C;
    use Pop3Error as E;

    fn s(x: &str) -> String {
        x.to_string()
    }

    #[test]
    fn accepted() {
        let long = "x".repeat(8192);
        let long_user = format!("USER {long}");
        let long_pass = format!("PASS {long} {long}");
        let cases: Vec<(&str, Pop3Command)> = vec![
            ("CAPA", C::Capa),
            ("capa", C::Capa),
            ("CaPa", C::Capa),
            ("CAPA junk after", C::Capa),
            ("QUIT", C::Quit),
            ("quit now", C::Quit),
            ("NOOP", C::Noop),
            ("NOOP x", C::Noop),
            ("STLS", C::Stls),
            ("stls", C::Stls),
            ("USER", C::User(None)),
            ("USER ", C::User(Some(s("")))),
            (
                "USER alice@outpost.lan",
                C::User(Some(s("alice@outpost.lan"))),
            ),
            ("user alice extra words", C::User(Some(s("alice")))),
            // A run of spaces: the first argument is empty.
            ("USER  alice", C::User(Some(s("")))),
            ("USER a\0b", C::User(Some(s("a\0b")))),
            ("USER Jürgen", C::User(Some(s("Jürgen")))),
            (&long_user, C::User(Some(long.clone()))),
            ("PASS", C::Pass(s(""))),
            ("PASS ", C::Pass(s(""))),
            ("PASS secret", C::Pass(s("secret"))),
            ("pass secret", C::Pass(s("secret"))),
            (
                "PASS correct horse battery",
                C::Pass(s("correct horse battery")),
            ),
            ("PASS  leading", C::Pass(s(" leading"))),
            ("PASS trailing ", C::Pass(s("trailing "))),
            ("PASS a\tb", C::Pass(s("a\tb"))),
            ("PASS \0", C::Pass(s("\0"))),
            ("PASS pässwörd", C::Pass(s("pässwörd"))),
            (&long_pass, C::Pass(format!("{long} {long}"))),
            ("AUTH", C::AuthList),
            ("auth", C::AuthList),
            (
                "AUTH ",
                C::Auth {
                    mechanism: s(""),
                    initial: None,
                },
            ),
            (
                "AUTH PLAIN",
                C::Auth {
                    mechanism: s("PLAIN"),
                    initial: None,
                },
            ),
            (
                "auth plain",
                C::Auth {
                    mechanism: s("plain"),
                    initial: None,
                },
            ),
            (
                "AUTH PLAIN ",
                C::Auth {
                    mechanism: s("PLAIN"),
                    initial: Some(s("")),
                },
            ),
            (
                "AUTH PLAIN AGFsaWNlAHNlY3JldA==",
                C::Auth {
                    mechanism: s("PLAIN"),
                    initial: Some(s("AGFsaWNlAHNlY3JldA==")),
                },
            ),
            (
                "AUTH PLAIN a b ",
                C::Auth {
                    mechanism: s("PLAIN"),
                    initial: Some(s("a b ")),
                },
            ),
            (
                "AUTH LOGIN =",
                C::Auth {
                    mechanism: s("LOGIN"),
                    initial: Some(s("=")),
                },
            ),
            ("STAT", C::Stat),
            ("stat x", C::Stat),
            ("LIST", C::List(None)),
            ("LIST 1", C::List(Some(1))),
            ("list 12 junk", C::List(Some(12))),
            ("LIST 4294967295", C::List(Some(u32::MAX))),
            ("UIDL", C::Uidl(None)),
            ("UIDL 3", C::Uidl(Some(3))),
            ("RETR 1", C::Retr(1)),
            ("retr 1", C::Retr(1)),
            ("RETR 007", C::Retr(7)),
            ("RETR 1 ignored", C::Retr(1)),
            ("DELE 2", C::Dele(2)),
            ("dele 2 x", C::Dele(2)),
            ("TOP 1 0", C::Top { msg: 1, lines: 0 }),
            ("top 1 10", C::Top { msg: 1, lines: 10 }),
            ("TOP 1 10 ", C::Top { msg: 1, lines: 10 }),
            ("TOP 1  10", C::Top { msg: 1, lines: 10 }),
            ("TOP 1 \t10\t", C::Top { msg: 1, lines: 10 }),
            (
                "TOP 1 18446744073709551615",
                C::Top {
                    msg: 1,
                    lines: u64::MAX,
                },
            ),
            ("RSET", C::Rset),
            ("rset now", C::Rset),
        ];
        for (line, want) in cases {
            let short: String = line.chars().take(40).collect();
            assert_eq!(parse_pop3(line), Ok(want), "{short:?}");
        }
    }

    #[test]
    fn rejected() {
        let long_digits = format!("RETR {}", "9".repeat(5000));
        let long_verb = "A".repeat(5000);
        let cases: Vec<(&str, Pop3Error)> = vec![
            ("", E::Unknown),
            (" ", E::Unknown),
            ("     ", E::Unknown),
            (" CAPA", E::Unknown),
            ("\tCAPA", E::Unknown),
            ("CAPA\t", E::Unknown),
            ("CAPA\0", E::Unknown),
            ("\0", E::Unknown),
            ("CAPAX", E::Unknown),
            ("CAP", E::Unknown),
            ("APOP alice 0123456789abcdef", E::Unknown),
            ("XTND XMIT", E::Unknown),
            ("STARTTLS", E::Unknown),
            // Only ASCII case folds: ſ (long s) is S only in Unicode.
            ("ſtat", E::Unknown),
            ("ＣＡＰＡ", E::Unknown),
            ("\u{fffd}", E::Unknown),
            (&long_verb, E::Unknown),
            ("RETR", E::NumberRequired { verb: "RETR" }),
            ("RETR ", E::NumberRequired { verb: "RETR" }),
            ("RETR  1", E::NumberRequired { verb: "RETR" }),
            ("RETR -1", E::NumberRequired { verb: "RETR" }),
            ("RETR -0", E::NumberRequired { verb: "RETR" }),
            ("RETR +", E::NumberRequired { verb: "RETR" }),
            // No sign: RFC 1939's numbers are digits (a `+` used to pass).
            ("RETR +1", E::NumberRequired { verb: "RETR" }),
            ("LIST +2", E::NumberRequired { verb: "LIST" }),
            ("TOP 1 +3", E::LinesRequired { msg: 1 }),
            // Only ASCII space and tab around TOP's count (U+3000 and
            // U+00A0 were trimmed away).
            ("TOP 1 \u{3000}3", E::LinesRequired { msg: 1 }),
            ("TOP 1 3\u{a0}", E::LinesRequired { msg: 1 }),
            ("RETR ++1", E::NumberRequired { verb: "RETR" }),
            ("RETR 1x", E::NumberRequired { verb: "RETR" }),
            ("RETR 0x10", E::NumberRequired { verb: "RETR" }),
            ("RETR 1.0", E::NumberRequired { verb: "RETR" }),
            ("RETR 1\0", E::NumberRequired { verb: "RETR" }),
            ("RETR 1\t", E::NumberRequired { verb: "RETR" }),
            ("RETR ١", E::NumberRequired { verb: "RETR" }),
            (
                "RETR 99999999999999999999",
                E::NumberRequired { verb: "RETR" },
            ),
            (
                "RETR 18446744073709551616",
                E::NumberRequired { verb: "RETR" },
            ),
            (&long_digits, E::NumberRequired { verb: "RETR" }),
            ("RETR 0", E::NoSuchMessage { verb: "RETR" }),
            ("RETR 000", E::NoSuchMessage { verb: "RETR" }),
            ("RETR 4294967296", E::NoSuchMessage { verb: "RETR" }),
            (
                "RETR 18446744073709551615",
                E::NoSuchMessage { verb: "RETR" },
            ),
            ("DELE", E::NumberRequired { verb: "DELE" }),
            ("DELE x", E::NumberRequired { verb: "DELE" }),
            ("DELE 0", E::NoSuchMessage { verb: "DELE" }),
            ("LIST ", E::NumberRequired { verb: "LIST" }),
            ("LIST x", E::NumberRequired { verb: "LIST" }),
            ("LIST 0", E::NoSuchMessage { verb: "LIST" }),
            ("UIDL -", E::NumberRequired { verb: "UIDL" }),
            ("uidl 0", E::NoSuchMessage { verb: "UIDL" }),
            ("TOP", E::NumberRequired { verb: "TOP" }),
            ("TOP x 1", E::NumberRequired { verb: "TOP" }),
            ("TOP 0 1", E::NoSuchMessage { verb: "TOP" }),
            // The message number comes first.
            ("TOP 0 x", E::NoSuchMessage { verb: "TOP" }),
            ("TOP 1", E::LinesRequired { msg: 1 }),
            ("TOP 1 ", E::LinesRequired { msg: 1 }),
            ("TOP 2 x", E::LinesRequired { msg: 2 }),
            ("TOP 1 -1", E::LinesRequired { msg: 1 }),
            ("TOP 1 1 2", E::LinesRequired { msg: 1 }),
            ("TOP 1 99999999999999999999", E::LinesRequired { msg: 1 }),
        ];
        for (line, want) in cases {
            let short: String = line.chars().take(40).collect();
            assert_eq!(parse_pop3(line), Err(want), "{short:?}");
        }
    }

    #[test]
    fn errors_name_the_command() {
        for (e, text) in [
            (E::Unknown, "unknown command"),
            (
                E::NumberRequired { verb: "RETR" },
                "RETR: message number required",
            ),
            (
                E::NoSuchMessage { verb: "DELE" },
                "DELE: no such message (1 to 4294967295)",
            ),
            (E::LinesRequired { msg: 3 }, "TOP 3: line count required"),
        ] {
            assert_eq!(e.to_string(), text);
        }
    }

    proptest::proptest! {
        #[test]
        fn never_panics(line in "(?s).{0,300}") {
            let _ = parse_pop3(&line);
        }

        #[test]
        fn never_panics_on_near_commands(
            line in "(?i)(capa|quit|noop|stls|user|pass|auth|stat|list|uidl|retr|dele|top|rset)\
                     ( {0,2}[-+0-9 \\t\\x00a-z\\x{e9}\\x{661}]{0,25}){0,3}"
        ) {
            let _ = parse_pop3(&line);
        }

        #[test]
        fn message_numbers_round_trip(n in 1u32.., lines in proptest::num::u64::ANY) {
            proptest::prop_assert_eq!(parse_pop3(&format!("RETR {n}")), Ok(C::Retr(n)));
            proptest::prop_assert_eq!(parse_pop3(&format!("list {n}")), Ok(C::List(Some(n))));
            proptest::prop_assert_eq!(
                parse_pop3(&format!("TOP {n} {lines}")),
                Ok(C::Top { msg: n, lines })
            );
        }
    }
}
