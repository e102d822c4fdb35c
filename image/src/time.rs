//! Calendar arithmetic for stamping `SOURCE_DATE_EPOCH` into formats that
//! store broken-down dates (FAT directory entries, ISO 9660 volume dates),
//! with the `time` crate's calendar, never reading the clock.

/// Converts Unix seconds to `(year, month, day, hour, minute, second)` in
/// UTC (beyond the year 9999, which no `SOURCE_DATE_EPOCH` reaches: the
/// epoch).
pub fn civil_from_unix(secs: u64) -> (i64, u32, u32, u32, u32, u32) {
    let dt = i64::try_from(secs)
        .ok()
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    (
        i64::from(dt.year()),
        u32::from(u8::from(dt.month())),
        u32::from(dt.day()),
        u32::from(dt.hour()),
        u32::from(dt.minute()),
        u32::from(dt.second()),
    )
}

#[cfg(test)]
mod tests {
    use super::civil_from_unix;

    #[test]
    fn known_dates() {
        assert_eq!(civil_from_unix(0), (1970, 1, 1, 0, 0, 0));
        // `date -u -d @1700000000` = 2023-11-14 22:13:20.
        assert_eq!(civil_from_unix(1_700_000_000), (2023, 11, 14, 22, 13, 20));
        // Leap day.
        assert_eq!(civil_from_unix(951_782_400), (2000, 2, 29, 0, 0, 0));
    }
}
