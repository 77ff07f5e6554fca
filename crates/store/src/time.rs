//! Times as the database holds them: RFC 3339 text in UTC with exactly six fractional digits,
//! so text order is time order. One function writes that text and one reads it back; the
//! program holds `jiff::Timestamp` everywhere else.
//!
//! It never reads the clock on its own except in [`now`], and never changes the stored format.

use jiff::Timestamp;

use crate::{Result, StoreError};

/// The stored text of a time: `2024-05-01T12:34:56.123456Z` (microseconds, UTC).
pub fn format_time(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// Read a time the store wrote (or any RFC 3339 time); anything else is
/// [`StoreError::Corrupt`] naming what was read.
pub fn parse_time(what: &str, text: &str) -> Result<Timestamp> {
    text.parse()
        .map_err(|e| StoreError::Corrupt(format!("{what} {text:?} is not an RFC 3339 time: {e}")))
}

/// The current time, to the microsecond the store keeps: a time held in memory equals the one
/// read back.
pub fn current_time() -> Timestamp {
    let now = Timestamp::now();
    let micros = now.as_microsecond();
    Timestamp::from_microsecond(micros).unwrap_or(now)
}

/// The current time as stored: RFC 3339 UTC with microseconds, so text order is time order.
pub fn now() -> String {
    format_time(current_time())
}

/// Read a time column.
pub(crate) fn read_time(row: &sqlx::any::AnyRow, column: &str) -> Result<Timestamp> {
    use sqlx::Row;
    let text: String = row.try_get(column)?;
    parse_time(column, &text)
}

/// Read a time column that may be NULL.
pub(crate) fn read_optional_time(
    row: &sqlx::any::AnyRow,
    column: &str,
) -> Result<Option<Timestamp>> {
    use sqlx::Row;
    let text: Option<String> = row.try_get(column)?;
    text.map(|t| parse_time(column, &t)).transpose()
}

/// Midnight UTC starting the day of `at`: where the per-day counts (deployments, durations,
/// lead times, components) cut a period into whole days and the parts at its ends.
pub(crate) fn midnight(at: Timestamp) -> Timestamp {
    let day = jiff::SignedDuration::from_hours(24).as_secs();
    Timestamp::from_second(at.as_second().div_euclid(day) * day).expect("a day of a valid time")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_time_reads_back_to_the_same_text() {
        let text = "2024-05-01T12:34:56.123456Z";
        let t = parse_time("created_at", text).unwrap();
        assert_eq!(format_time(t), text);
        let whole = "2024-05-01T12:34:56.000000Z";
        assert_eq!(format_time(parse_time("x", whole).unwrap()), whole);
    }

    #[test]
    fn the_stored_text_keeps_six_digits_and_utc_whatever_the_input() {
        let t = parse_time("x", "2024-05-01T14:34:56.5+02:00").unwrap();
        assert_eq!(format_time(t), "2024-05-01T12:34:56.500000Z");
    }

    #[test]
    fn text_that_is_not_a_time_is_refused_naming_the_column() {
        let err = parse_time("leased_until", "tomorrow").unwrap_err();
        assert!(matches!(err, StoreError::Corrupt(_)));
        assert!(
            err.to_string().contains("leased_until \"tomorrow\""),
            "{err}"
        );
    }

    #[test]
    fn the_current_time_survives_the_round_trip_through_its_text() {
        let t = current_time();
        assert_eq!(parse_time("now", &format_time(t)).unwrap(), t);
    }

    #[test]
    fn now_is_in_the_stored_format() {
        let text = now();
        assert_eq!(format_time(parse_time("now", &text).unwrap()), text);
    }
}
