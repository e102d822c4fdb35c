//! Wall-clock helpers: unix seconds and RFC 5322 §3.3 dates (always UTC,
//! `+0000`; the calendar is the `time` crate's, as everywhere in Outpost).

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `Thu, 26 Nov 2026 23:44:28 +0000`.
pub fn rfc5322(secs: u64) -> String {
    let dt = i64::try_from(secs)
        .ok()
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    // `Display` of weekday and month is the English name; RFC 5322 wants
    // its first three letters.
    let (wd, mon) = (dt.weekday().to_string(), dt.month().to_string());
    format!(
        "{}, {} {} {} {:02}:{:02}:{:02} +0000",
        &wd[..3],
        dt.day(),
        &mon[..3],
        dt.year(),
        dt.hour(),
        dt.minute(),
        dt.second()
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_known_dates() {
        assert_eq!(super::rfc5322(0), "Thu, 1 Jan 1970 00:00:00 +0000");
        assert_eq!(
            super::rfc5322(1_795_743_868),
            "Fri, 27 Nov 2026 01:44:28 +0000"
        );
        assert_eq!(
            super::rfc5322(951_782_400),
            "Tue, 29 Feb 2000 00:00:00 +0000"
        );
        // After 2038 (32-bit time_t) and on the last day of a leap year.
        assert_eq!(
            super::rfc5322(2_240_611_199),
            "Mon, 31 Dec 2040 23:59:59 +0000"
        );
    }
}
