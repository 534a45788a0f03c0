//! Timestamps on the wire and in the database: RFC 3339, UTC, microseconds, trailing `Z`.
//! One fixed width means text order is time order, so the database can sort them as text.

use chrono::{DateTime, Duration, SecondsFormat, SubsecRound, Utc};

pub type Timestamp = DateTime<Utc>;

/// The current time, at the microsecond precision it is stored with.
pub fn now() -> Timestamp {
    Utc::now().trunc_subsecs(6)
}

pub fn format(t: Timestamp) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

pub fn now_string() -> String {
    format(now())
}

/// `now + delta`, formatted.
pub fn from_now(delta: Duration) -> String {
    format(now() + delta)
}

/// Parses a stored or client-sent RFC 3339 timestamp.
pub fn parse(text: &str) -> Option<Timestamp> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_sort_as_text_and_round_trip() {
        let a = now();
        let b = a + Duration::microseconds(1);
        assert!(format(a) < format(b));
        assert!(format(a).ends_with('Z'));
        assert_eq!(parse(&format(a)), Some(a));
    }
}
