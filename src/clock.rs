//! Timestamps on the wire and in the database: RFC 3339, UTC, microseconds, trailing `Z`.
//! One fixed width means text order is time order, so the database can sort them as text.
//!
//! Time comes from a [`Clock`] held in `AppState` (never from a global): the real one in
//! `serve` and the command-line tools, a movable one in tests.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Duration, SecondsFormat, SubsecRound, Utc};

pub type Timestamp = DateTime<Utc>;

/// Where the time comes from. Cheap to clone (clones share one clock) and thread-safe.
///
/// A system clock reads the wall clock plus an offset (zero unless a test advances it); a
/// fixed clock stands still at a set instant until it is set or advanced.
#[derive(Clone, Debug)]
pub struct Clock {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    fixed: AtomicBool,
    /// Microseconds: the offset from the wall clock (system), or the instant since the epoch
    /// (fixed).
    micros: AtomicI64,
}

impl Clock {
    /// The wall clock.
    pub fn system() -> Clock {
        Clock::new(false, 0)
    }

    /// A clock standing still at `t` (truncated to microseconds).
    pub fn fixed(t: Timestamp) -> Clock {
        Clock::new(true, t.timestamp_micros())
    }

    fn new(fixed: bool, micros: i64) -> Clock {
        Clock {
            inner: Arc::new(Inner {
                fixed: AtomicBool::new(fixed),
                micros: AtomicI64::new(micros),
            }),
        }
    }

    /// The current time, at the microsecond precision it is stored with.
    pub fn now(&self) -> Timestamp {
        let micros = self.inner.micros.load(Ordering::SeqCst);
        if self.inner.fixed.load(Ordering::SeqCst) {
            DateTime::from_timestamp_micros(micros).expect("a fixed clock holds a valid instant")
        } else {
            Utc::now().trunc_subsecs(6) + Duration::microseconds(micros)
        }
    }

    /// [`Clock::now`], formatted.
    pub fn now_string(&self) -> String {
        format(self.now())
    }

    /// `now + delta`, formatted.
    pub fn from_now(&self, delta: Duration) -> String {
        format(self.now() + delta)
    }

    /// Moves this clock (and every clone of it) forward by `delta` (backward if negative).
    pub fn advance(&self, delta: Duration) {
        let micros = delta
            .num_microseconds()
            .expect("an advance fits in i64 microseconds");
        self.inner.micros.fetch_add(micros, Ordering::SeqCst);
    }

    /// Stops this clock (and every clone of it) at `t`.
    pub fn set(&self, t: Timestamp) {
        self.inner
            .micros
            .store(t.timestamp_micros(), Ordering::SeqCst);
        self.inner.fixed.store(true, Ordering::SeqCst);
    }
}

impl Default for Clock {
    fn default() -> Clock {
        Clock::system()
    }
}

pub fn format(t: Timestamp) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
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
        let a = Clock::system().now();
        let b = a + Duration::microseconds(1);
        assert!(format(a) < format(b));
        assert!(format(a).ends_with('Z'));
        assert_eq!(parse(&format(a)), Some(a));
    }

    #[test]
    fn a_fixed_clock_moves_only_when_told_and_clones_share_it() {
        let t = parse("2026-01-02T03:04:05.123456Z").unwrap();
        let clock = Clock::fixed(t);
        let clone = clock.clone();
        assert_eq!(clock.now(), t);
        clone.advance(Duration::hours(2));
        assert_eq!(clock.now_string(), "2026-01-02T05:04:05.123456Z");
        assert_eq!(
            clock.from_now(Duration::days(1)),
            "2026-01-03T05:04:05.123456Z"
        );
        clock.set(t);
        assert_eq!(clone.now(), t);
    }

    #[test]
    fn an_advanced_system_clock_runs_ahead_of_the_wall() {
        let clock = Clock::system();
        clock.advance(Duration::days(8));
        let ahead = clock.now() - Utc::now();
        assert!(
            ahead > Duration::days(7) && ahead <= Duration::days(8),
            "{ahead}"
        );
    }
}
