//! Points in time, as whole milliseconds since the Unix epoch (UTC).
//!
//! Milliseconds in an `i64` are what both databases store portably, compare cheaply and
//! never lose precision across a round trip; conversion to RFC 3339 happens only at the edges.

use std::fmt;
use std::time::Duration;

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// A UTC instant with millisecond precision.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The instant `millis` milliseconds after 1970-01-01T00:00:00Z.
    pub const fn from_unix_millis(millis: i64) -> Self {
        Self(millis)
    }

    /// Milliseconds since the Unix epoch.
    pub const fn unix_millis(self) -> i64 {
        self.0
    }

    /// Whole seconds since the Unix epoch (rounded towards negative infinity).
    pub const fn unix_seconds(self) -> i64 {
        self.0.div_euclid(1000)
    }

    /// This instant plus `d`, saturating at the end of representable time.
    pub fn plus(self, d: Duration) -> Self {
        let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        Self(self.0.saturating_add(ms))
    }

    /// This instant minus `d`, saturating at the start of representable time.
    pub fn minus(self, d: Duration) -> Self {
        let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        Self(self.0.saturating_sub(ms))
    }

    /// The time from `earlier` to `self`, or zero when `earlier` is later.
    pub fn since(self, earlier: Timestamp) -> Duration {
        Duration::from_millis(u64::try_from(self.0.saturating_sub(earlier.0)).unwrap_or(0))
    }

    /// The instant as a `time` value (for formatting).
    pub fn to_offset_date_time(self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0) * 1_000_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    /// RFC 3339 in UTC with a `Z` suffix and whole seconds, as Tailscale's API renders times
    /// (`2021-12-09T23:22:39Z`).
    pub fn to_rfc3339(self) -> String {
        let t = self.to_offset_date_time();
        let t = t.replace_millisecond(0).unwrap_or(t);
        t.format(&Rfc3339).unwrap_or_default()
    }

    /// Parses an RFC 3339 time (any offset, optional fraction).
    pub fn parse_rfc3339(text: &str) -> Option<Self> {
        let t = OffsetDateTime::parse(text, &Rfc3339).ok()?;
        let ms = t.unix_timestamp_nanos() / 1_000_000;
        i64::try_from(ms).ok().map(Self)
    }
}

impl From<OffsetDateTime> for Timestamp {
    fn from(t: OffsetDateTime) -> Self {
        Self(i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX))
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_rfc3339())
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_rfc3339_in_whole_seconds() {
        let t = Timestamp::from_unix_millis(1_639_092_159_123);
        assert_eq!(t.to_rfc3339(), "2021-12-09T23:22:39Z");
    }

    #[test]
    fn parses_rfc3339_with_fraction_and_offset() {
        let t = Timestamp::parse_rfc3339("2021-12-10T00:22:39.5+01:00").unwrap();
        assert_eq!(t.unix_millis(), 1_639_092_159_500);
        assert!(Timestamp::parse_rfc3339("yesterday").is_none());
    }

    #[test]
    fn arithmetic_saturates_and_since_never_goes_negative() {
        let t = Timestamp::from_unix_millis(10_000);
        assert_eq!(t.plus(Duration::from_secs(1)).unix_millis(), 11_000);
        assert_eq!(t.minus(Duration::from_secs(1)).unix_millis(), 9_000);
        assert_eq!(
            Timestamp::from_unix_millis(i64::MAX).plus(Duration::from_secs(1)).unix_millis(),
            i64::MAX
        );
        assert_eq!(t.since(t.plus(Duration::from_secs(5))), Duration::ZERO);
        assert_eq!(t.plus(Duration::from_secs(5)).since(t), Duration::from_secs(5));
    }
}
