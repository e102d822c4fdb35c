//! Encoding helpers for IMAP responses (RFC 9051 §4: strings, literals,
//! NIL) and the date formats IMAP uses.

/// Appends `s` as a quoted string when it can be one, else as a literal.
pub fn string(out: &mut Vec<u8>, s: &[u8]) {
    let quotable = s.len() < 1024 && s.iter().all(|&c| (0x20..0x7f).contains(&c));
    if quotable {
        out.push(b'"');
        for &c in s {
            if c == b'"' || c == b'\\' {
                out.push(b'\\');
            }
            out.push(c);
        }
        out.push(b'"');
    } else {
        literal(out, s);
    }
}

/// Appends a literal `{n}\r\n<bytes>`.
pub fn literal(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(format!("{{{}}}\r\n", s.len()).as_bytes());
    out.extend_from_slice(s);
}

/// Appends a string or NIL.
pub fn nstring(out: &mut Vec<u8>, s: Option<&[u8]>) {
    match s {
        Some(s) => string(out, s),
        None => out.extend_from_slice(b"NIL"),
    }
}

/// Appends a quoted string or NIL for optional text.
pub fn ntext(out: &mut Vec<u8>, s: Option<&str>) {
    nstring(out, s.map(str::as_bytes));
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// The calendar date of Unix seconds `t` (UTC; out of `time`'s range,
/// years beyond ±9999, the epoch: no mail store holds such a date).
fn utc(t: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp(t).unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

/// INTERNALDATE format `"dd-Mon-yyyy hh:mm:ss +0000"` (RFC 9051 date-time).
pub fn internal_date(t: i64) -> String {
    let dt = utc(t);
    format!(
        "\"{:02}-{}-{:04} {:02}:{:02}:{:02} +0000\"",
        dt.day(),
        MONTHS[usize::from(u8::from(dt.month())) - 1],
        dt.year(),
        dt.hour(),
        dt.minute(),
        dt.second()
    )
}

/// `s` as a number of 1 to `max_len` ASCII digits (client input: no sign,
/// no space, no overflow).
fn digits(s: &str, min_len: usize, max_len: usize) -> Option<i64> {
    ((min_len..=max_len).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// Parses `d-Mon-yyyy` (SEARCH dates) → days since the epoch. RFC 9051
/// `date-year` is four digits, `date-day` one or two (a longer year once
/// overflowed the day arithmetic; found by fuzzing).
pub fn parse_date(s: &str) -> Option<i64> {
    let mut p = s.split('-');
    let d = digits(p.next()?.trim(), 1, 2)? as u32;
    let mon = p.next()?;
    let m = MONTHS.iter().position(|x| x.eq_ignore_ascii_case(mon))? as u32 + 1;
    let y = digits(p.next()?, 4, 4)?;
    if p.next().is_some() {
        return None;
    }
    // A day the month does not have (31-Feb) is no date: refused.
    let month = time::Month::try_from(u8::try_from(m).ok()?).ok()?;
    let date = time::Date::from_calendar_date(i32::try_from(y).ok()?, month, u8::try_from(d).ok()?)
        .ok()?;
    Some(
        date.midnight()
            .assume_utc()
            .unix_timestamp()
            .div_euclid(86_400),
    )
}

/// Parses an APPEND date-time `dd-Mon-yyyy hh:mm:ss +zzzz` → Unix seconds.
pub fn parse_date_time(s: &str) -> Option<i64> {
    let s = s.trim();
    let (date, rest) = s.split_once(' ')?;
    let days = parse_date(date.trim())?;
    let (time, zone) = rest.trim().split_once(' ')?;
    let mut t = time.split(':').map(|x| digits(x, 2, 2));
    let (h, mi, se) = (t.next()??, t.next()??, t.next()??);
    if t.next().is_some() || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    if zone.len() != 5 || !zone.is_ascii() {
        return None;
    }
    let sign = match &zone[..1] {
        "+" => 1,
        "-" => -1,
        _ => return None,
    };
    let zh = digits(&zone[1..3], 2, 2)?;
    let zm = digits(&zone[3..5], 2, 2)?;
    Some(days * 86_400 + h * 3600 + mi * 60 + se - sign * (zh * 3600 + zm * 60))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_dates_are_refused_not_overflowed() {
        // Found by fuzzing: SEARCH SINCE 1-Jan-202111222222222232 overflowed.
        assert_eq!(parse_date("1-Jan-202111222222222232"), None);
        assert_eq!(parse_date("1-Jan-+2021"), None);
        assert_eq!(parse_date("001-Jan-2021"), None);
        assert_eq!(parse_date("1-Jan-2021"), Some(18_628));
        assert_eq!(
            parse_date_time("01-Jan-2021 99999999999999999:00:00 +0000"),
            None
        );
        assert_eq!(parse_date_time("01-Jan-2021 10:00:00 é123"), None);
        assert_eq!(parse_date_time("01-Jan-2021 24:00:00 +0000"), None);
        assert_eq!(
            parse_date_time("01-Jan-2021 10:00:00 +0100"),
            Some(18_628 * 86_400 + 9 * 3600)
        );
    }

    #[test]
    fn dates_round_trip() {
        assert_eq!(internal_date(0), "\"01-Jan-1970 00:00:00 +0000\"");
        assert_eq!(
            internal_date(1_700_000_000),
            "\"14-Nov-2023 22:13:20 +0000\""
        );
        assert_eq!(
            parse_date_time("14-Nov-2023 23:13:20 +0100"),
            Some(1_700_000_000)
        );
        assert_eq!(parse_date(" 1-Feb-2000"), Some(10_988));
        assert_eq!(parse_date("1-Foo-2000"), None);
        // Days the month does not have are no dates.
        assert_eq!(parse_date("29-Feb-2024"), Some(19_782));
        assert_eq!(parse_date("29-Feb-2023"), None);
        assert_eq!(parse_date("31-Apr-2026"), None);
        assert_eq!(parse_date("0-Jan-2026"), None);
    }

    #[test]
    fn strings_quote_or_literal() {
        let mut o = Vec::new();
        string(&mut o, b"a\"b");
        nstring(&mut o, None);
        string(&mut o, "é".as_bytes());
        assert_eq!(o, b"\"a\\\"b\"NIL{2}\r\n\xc3\xa9");
    }
}
