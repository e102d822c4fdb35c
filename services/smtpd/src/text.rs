//! Text from the client that smtpd writes into headers: DSN parameters and
//! addresses in bounces (RFC 3464), which must stay on one line.
//!
//! ENVID and ORCPT arrive as xtext (RFC 3461 §4), which can encode any
//! byte: `+0D+0A` decodes to CR LF. Their decoded values must be printable
//! US-ASCII (RFC 3461 §4.2, §4.4), which [`printable`] checks when the
//! command arrives (#20); [`one_line`] is the second line of defence where a
//! bounce is written, for entries queued before the check or edited on disk.

/// True if `s` is printable US-ASCII (space to `~`), as RFC 3461 requires
/// of a decoded ENVID or ORCPT.
pub(crate) fn printable(s: &str) -> bool {
    s.bytes().all(|b| (0x20..=0x7e).contains(&b))
}

/// `s` without control characters (C0, DEL, C1), so it cannot end a header
/// line or start another.
pub(crate) fn one_line(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn printable_and_one_line() {
        let cases = [
            ("QQ314159", true, "QQ314159"),
            ("George @Tax- ME .GOV", true, "George @Tax- ME .GOV"),
            ("x\r\nBcc: evil@x", false, "xBcc: evil@x"),
            ("tab\there", false, "tabhere"),
            ("del\u{7f}", false, "del"),
            ("c1\u{85}next", false, "c1next"),
            ("caf\u{e9}", false, "caf\u{e9}"),
        ];
        for (input, ok, line) in cases {
            assert_eq!(super::printable(input), ok, "{input:?}");
            assert_eq!(super::one_line(input), line, "{input:?}");
        }
    }
}
