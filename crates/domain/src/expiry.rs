//! How long a pre-authentication key (or API token) stays usable.

use std::time::Duration;

/// Shortest lifetime, in days.
pub const MIN_DAYS: u32 = 1;
/// Longest lifetime, in days (Tailscale's limit).
pub const MAX_DAYS: u32 = 90;
/// Lifetime when none is asked for.
pub const DEFAULT_DAYS: u32 = 90;

const SECONDS_PER_DAY: u64 = 86_400;

/// Why a lifetime was refused. Every message states the allowed range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LifetimeError {
    #[error("expiry of {0} days is out of range: choose from {MIN_DAYS} to {MAX_DAYS} days")]
    DaysOutOfRange(i64),
    #[error(
        "expiry of {0} seconds is out of range: choose from {min} to {max} seconds ({MIN_DAYS} to {MAX_DAYS} days)",
        min = u64::from(MIN_DAYS) * SECONDS_PER_DAY,
        max = u64::from(MAX_DAYS) * SECONDS_PER_DAY
    )]
    SecondsOutOfRange(i64),
    #[error("cannot read expiry {0:?}: write a number of days such as 30d (from {MIN_DAYS} to {MAX_DAYS} days)")]
    Unreadable(String),
}

/// A validated key lifetime between [`MIN_DAYS`] and [`MAX_DAYS`] days inclusive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyLifetime(Duration);

impl KeyLifetime {
    /// A lifetime of `days` whole days.
    pub fn from_days(days: i64) -> Result<Self, LifetimeError> {
        if days < i64::from(MIN_DAYS) || days > i64::from(MAX_DAYS) {
            return Err(LifetimeError::DaysOutOfRange(days));
        }
        Ok(Self(Duration::from_secs(days as u64 * SECONDS_PER_DAY)))
    }

    /// A lifetime in seconds, as the REST API's `expirySeconds` carries it.
    pub fn from_seconds(seconds: i64) -> Result<Self, LifetimeError> {
        let min = i64::from(MIN_DAYS) * SECONDS_PER_DAY as i64;
        let max = i64::from(MAX_DAYS) * SECONDS_PER_DAY as i64;
        if !(min..=max).contains(&seconds) {
            return Err(LifetimeError::SecondsOutOfRange(seconds));
        }
        Ok(Self(Duration::from_secs(seconds as u64)))
    }

    /// Parses the CLI form: `30d`, `30` (days), or `720h` (whole days' worth of hours).
    pub fn parse(text: &str) -> Result<Self, LifetimeError> {
        let t = text.trim();
        let unreadable = || LifetimeError::Unreadable(text.to_owned());
        if let Some(h) = t.strip_suffix('h') {
            let hours: i64 = h.parse().map_err(|_| unreadable())?;
            if hours % 24 != 0 {
                return Err(unreadable());
            }
            return Self::from_days(hours / 24);
        }
        let days = t.strip_suffix('d').unwrap_or(t);
        let days: i64 = days.parse().map_err(|_| unreadable())?;
        Self::from_days(days)
    }

    /// The default lifetime (90 days).
    pub fn default_lifetime() -> Self {
        Self(Duration::from_secs(u64::from(DEFAULT_DAYS) * SECONDS_PER_DAY))
    }

    pub fn as_duration(self) -> Duration {
        self.0
    }

    pub fn as_seconds(self) -> u64 {
        self.0.as_secs()
    }
}

impl Default for KeyLifetime {
    fn default() -> Self {
        Self::default_lifetime()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_and_ninety_days_are_the_inclusive_bounds() {
        assert_eq!(KeyLifetime::from_days(1).unwrap().as_seconds(), 86_400);
        assert_eq!(KeyLifetime::from_days(90).unwrap().as_seconds(), 7_776_000);
        assert_eq!(KeyLifetime::from_days(0), Err(LifetimeError::DaysOutOfRange(0)));
        assert_eq!(KeyLifetime::from_days(91), Err(LifetimeError::DaysOutOfRange(91)));
    }

    #[test]
    fn refusals_name_the_range() {
        let msg = KeyLifetime::parse("0d").unwrap_err().to_string();
        assert!(msg.contains("1 to 90 days"), "{msg}");
        let msg = KeyLifetime::parse("91d").unwrap_err().to_string();
        assert!(msg.contains("1 to 90 days"), "{msg}");
        let msg = KeyLifetime::from_seconds(3600).unwrap_err().to_string();
        assert!(msg.contains("86400 to 7776000 seconds"), "{msg}");
    }

    #[test]
    fn parses_days_plain_numbers_and_whole_day_hours() {
        assert_eq!(KeyLifetime::parse("30d").unwrap().as_seconds(), 30 * 86_400);
        assert_eq!(KeyLifetime::parse("7").unwrap().as_seconds(), 7 * 86_400);
        assert_eq!(KeyLifetime::parse("48h").unwrap().as_seconds(), 2 * 86_400);
        assert!(matches!(KeyLifetime::parse("36h"), Err(LifetimeError::Unreadable(_))));
        assert!(matches!(KeyLifetime::parse("soon"), Err(LifetimeError::Unreadable(_))));
        assert!(matches!(KeyLifetime::parse("-3d"), Err(LifetimeError::DaysOutOfRange(-3))));
    }

    #[test]
    fn seconds_bounds_match_day_bounds() {
        assert!(KeyLifetime::from_seconds(86_400).is_ok());
        assert!(KeyLifetime::from_seconds(7_776_000).is_ok());
        assert!(KeyLifetime::from_seconds(86_399).is_err());
        assert!(KeyLifetime::from_seconds(7_776_001).is_err());
    }
}
